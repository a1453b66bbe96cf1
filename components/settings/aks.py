"""Settings of the `aks` target: where the Azure cluster lives, its node pools, network and access.

Every key is camelCase in the stack file. Defaults are the cheap, still secure student setup of
`stacks/Pulumi.azure-dev.yaml`. Fields whose change needs a new cluster say "Forces replacement"
in their description, pool fields AKS cannot change say "Immutable"; docs/aks.md (Day 2) says
what `pulumi up` does with each. What AKS refuses is an error here; what its docs only advise
against is a warning (`AksSettings.warnings`), so a cluster built with it keeps working.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from collections import Counter
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from .base import Cidr, IpAddress, Problem, StrictModel, check

# -- name and format rules (Azure's, as documented for each resource type) -----------------------

_LOCATION = re.compile(r"^[a-z][a-z0-9]{1,39}$")
# Standard_<family letters><vCPUs>[-<constrained vCPUs>]<features>[_<suffix>...], e.g.
# Standard_B2s, Standard_D2as_v5, Standard_E4-2ds_v4, Standard_NC24ads_A100_v4.
_VM_SIZE = re.compile(r"^Standard_[A-Z]+[0-9]+(-[0-9]+)?[a-z]*(_[A-Za-z0-9]+)*$")
# AKS: Linux pool names are 1-12 lowercase letters or digits and start with a letter.
_POOL_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")
# The vCPU count inside a VM size name: Standard_D2as_v5 -> 2, Standard_E4-2ds_v4 -> 2 (active).
_VM_CPUS = re.compile(r"^Standard_[A-Z]+(?P<cpus>[0-9]+)(-(?P<active>[0-9]+))?")
# Resource groups: 1-90 letters, digits, '-', '_', '.', '(' or ')'; not ending in '.'.
_RESOURCE_GROUP = re.compile(r"^[-\w.()]{0,89}[-\w()]$")
# Managed clusters: 1-63 letters, digits, '-' or '_', starting and ending with a letter or digit.
_CLUSTER_NAME = re.compile(r"^[a-zA-Z0-9]([-_a-zA-Z0-9]{0,61}[a-zA-Z0-9])?$")
# DNS prefix: 1-54 letters, digits or '-', starting and ending with a letter or digit.
_DNS_PREFIX = re.compile(r"^[a-zA-Z0-9]([-a-zA-Z0-9]{0,52}[a-zA-Z0-9])?$")
# Container registries: 5-50 letters or digits (globally unique, becomes <name>.azurecr.io).
_REGISTRY_NAME = re.compile(r"^[a-zA-Z0-9]{5,50}$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
# A Go duration as the secrets-store CSI driver reads it: 2m, 30s, 1h30m.
_DURATION = re.compile(r"^(?=\d)(\d+h)?(\d+m)?(\d+s)?$")
_TAINT = re.compile(
    r"^(?P<key>([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)"
    r"(=(?P<value>[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?)?"
    r":(?P<effect>NoSchedule|PreferNoSchedule|NoExecute)$"
)
_TAG_NAME_FORBIDDEN = set("<>%&\\?/")

# Address ranges AKS reserves; the service CIDR must not overlap them (AKS networking docs).
RESERVED_RANGES = tuple(
    ipaddress.ip_network(n)
    for n in ("169.254.0.0/16", "172.30.0.0/16", "172.31.0.0/16", "192.0.2.0/24")
)
MAX_AUTHORIZED_RANGES = 200
# Azure allows 50 tags per resource; hybrid-kube adds `project`, `stack` and `managed-by`.
MAX_USER_TAGS = 47


def _location(value: str) -> str:
    if not _LOCATION.match(value):
        raise ValueError(
            f"{value!r} is not an Azure location name; write the short name such as "
            "'westeurope' or 'eastus2' (see `az account list-locations -o table`, column Name)"
        )
    return value


def _vm_size(value: str) -> str:
    if not _VM_SIZE.match(value):
        raise ValueError(
            f"{value!r} is not an Azure VM size; write it like Standard_D2as_v5 "
            "(see `az vm list-sizes --location <location> -o table`)"
        )
    return value


def vm_size_cpus(value: str) -> int | None:
    """The vCPUs a size name promises (the active ones of a constrained size), if it says."""
    match = _VM_CPUS.match(value)
    if match is None:
        return None
    return int(match["active"] or match["cpus"])


def _pool_name(value: str) -> str:
    if not _POOL_NAME.match(value):
        raise ValueError(
            f"{value!r} is not a valid AKS Linux pool name: 1-12 lowercase letters or digits, "
            "starting with a letter"
        )
    return value


def _user_pool_name(value: str) -> str:
    _pool_name(value)
    if len(value) > USER_POOL_NAME_MAX:
        raise ValueError(
            f"{value!r} is too long for a pool of `pools`: at most {USER_POOL_NAME_MAX} "
            f"characters, because hybrid-kube appends a {POOL_SUFFIX_LENGTH}-character suffix "
            "(AKS allows 12) that changes when an immutable field changes"
        )
    return value


def _guid(value: str) -> str:
    if not _GUID.match(value):
        raise ValueError(
            f"{value!r} is not an object id (a GUID such as 00000000-0000-0000-0000-000000000000; "
            "`az ad group show --group <name> --query id -o tsv` prints it)"
        )
    return value.lower()


def _zone(value: Any) -> Any:
    return str(value) if isinstance(value, int) else value


def _authorized_range(value: str) -> str:
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise ValueError(
            f"{value!r} is not an IPv4 address or CIDR such as 203.0.113.7 or 203.0.113.0/24 "
            f"({exc})"
        ) from None
    if network.version != 4:
        raise ValueError(f"{value!r} is IPv6; AKS authorized IP ranges are IPv4 only")
    if network.prefixlen == 0:
        raise ValueError(
            f"{value!r} authorizes every address; leave authorizedIpRanges empty instead"
        )
    return str(network)


def _taint(value: str) -> str:
    if not _TAINT.match(value):
        raise ValueError(
            f"{value!r} is not a taint; write key=value:Effect or key:Effect with Effect one of "
            "NoSchedule, PreferNoSchedule, NoExecute"
        )
    return value


VmSize = Annotated[str, AfterValidator(_vm_size)]
PoolName = Annotated[str, AfterValidator(_pool_name)]
UserPoolName = Annotated[str, AfterValidator(_user_pool_name)]
Guid = Annotated[str, AfterValidator(_guid)]
Zone = Annotated[Literal["1", "2", "3"], BeforeValidator(_zone)]
AuthorizedRange = Annotated[str, AfterValidator(_authorized_range)]
Taint = Annotated[str, AfterValidator(_taint)]

# Pool properties AKS cannot change on an existing pool (ARM: "Changing property ... is not
# allowed"), as (settings field, ARM property). Checked against the providers that work around
# them: terraform-provider-azurerm rotates a pool through a temporary one when one of these
# changes (internal/services/containers/kubernetes_cluster_node_pool_resource.go,
# `cycleNodePoolProperties`), and AKS documents that a pool's VM size cannot change after
# creation (learn.microsoft.com/azure/aks/manage-node-pools, "Limitations").
IMMUTABLE_POOL_FIELDS: tuple[tuple[str, str], ...] = (
    ("vm_size", "vmSize"),
    ("os_disk_type", "osDiskType"),
    ("os_disk_size_gb", "osDiskSizeGB"),
    ("max_pods", "maxPods"),
    ("availability_zones", "availabilityZones"),
    ("encryption_at_host", "enableEncryptionAtHost"),
)
POOL_SUFFIX_LENGTH = 4
DEFAULT_VM_SIZE = "Standard_D2as_v5"
USER_POOL_NAME_MAX = 12 - POOL_SUFFIX_LENGTH
_SUFFIX_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"

_IMMUTABLE = (
    "Immutable in AKS. On an entry of `pools`, a change rolls the pool: `pulumi up` creates a new "
    "AKS pool (new suffix), then deletes the old one, which AKS drains onto the others. On the "
    "system pool it takes a new cluster, which protectCluster refuses (docs/aks.md)."
)


class PoolSettings(StrictModel):
    """One node pool: a VM scale set. Fixed size with `count`, or autoscaled with min/max."""

    name: UserPoolName = Field(
        description="Pool name, 1-8 lowercase letters/digits; the AKS pool is this name plus a "
        "4-character suffix derived from the immutable fields. Renaming creates a new pool and "
        "deletes the old one."
    )
    vm_size: VmSize = Field(
        default=DEFAULT_VM_SIZE,
        description="Azure VM size; default Standard_D2as_v5 (2 vCPUs, 8 GiB, not burstable). "
        + _IMMUTABLE,
    )
    count: int | None = Field(
        default=None,
        ge=0,
        le=1000,
        description="Fixed node count; with minCount/maxCount, the initial count. Default 1, or "
        "minCount when autoscaled.",
    )
    min_count: int | None = Field(default=None, ge=0, le=1000, description="Autoscaler minimum.")
    max_count: int | None = Field(default=None, ge=1, le=1000, description="Autoscaler maximum.")
    max_pods: int = Field(
        default=110,
        ge=50,
        le=250,
        description="Pods per node, 50-250 (fewer than 50 starves system pods). " + _IMMUTABLE,
    )
    os_disk_type: Literal["Managed", "Ephemeral"] = Field(
        default="Managed",
        description="Managed disk, or Ephemeral (needs a VM size whose cache/temp disk holds "
        "osDiskSizeGb). " + _IMMUTABLE,
    )
    os_disk_size_gb: int = Field(
        default=64, ge=30, le=2048, description="OS disk size in GB. " + _IMMUTABLE
    )
    os_sku: Literal["Ubuntu", "AzureLinux"] = Field(default="Ubuntu", description="Node image OS.")
    availability_zones: list[Zone] = Field(
        default=[],
        description="Zones to spread nodes over, e.g. [1, 2, 3]; empty: no zones. " + _IMMUTABLE,
    )
    node_labels: dict[str, str] = {}
    node_taints: list[Taint] = []
    encryption_at_host: bool = Field(
        default=False,
        description="Encrypt temp and cache disks on the host; the subscription must have the "
        "Microsoft.Compute/EncryptionAtHost feature registered. " + _IMMUTABLE,
    )

    @model_validator(mode="after")
    def _counts(self) -> PoolSettings:
        check(self._count_problems(minimum=0))
        return self

    @property
    def autoscaling(self) -> bool:
        return self.min_count is not None and self.max_count is not None

    @property
    def initial_count(self) -> int:
        """The node count the pool starts with."""
        if self.count is not None:
            return self.count
        return self.min_count if self.autoscaling and self.min_count is not None else 1

    def immutable_values(self) -> dict[str, Any]:
        """The immutable fields by ARM property name, zones in a canonical (sorted) order."""
        values = {prop: getattr(self, field) for field, prop in IMMUTABLE_POOL_FIELDS}
        values["availabilityZones"] = sorted(self.availability_zones)
        return values

    @property
    def arm_name(self) -> str:
        """The AKS pool name: `name` plus a suffix that changes exactly when an immutable field
        does, so such a change is a new pool beside the old one, never an update AKS refuses."""
        canonical = json.dumps(self.immutable_values(), sort_keys=True, separators=(",", ":"))
        number = int.from_bytes(hashlib.sha256(canonical.encode()).digest()[:8], "big")
        suffix = ""
        for _ in range(POOL_SUFFIX_LENGTH):
            number, digit = divmod(number, len(_SUFFIX_ALPHABET))
            suffix += _SUFFIX_ALPHABET[digit]
        return self.name + suffix

    def _count_problems(self, minimum: int) -> Iterator[Problem]:
        if (self.min_count is None) != (self.max_count is None):
            missing = "minCount" if self.min_count is None else "maxCount"
            yield Problem((missing,), "set minCount and maxCount together to autoscale, or neither")
        if self.autoscaling:
            assert self.min_count is not None and self.max_count is not None
            if self.min_count > self.max_count:
                yield Problem(
                    ("minCount",),
                    f"minCount {self.min_count} is greater than maxCount {self.max_count}",
                )
            elif self.count is not None and not self.min_count <= self.count <= self.max_count:
                yield Problem(
                    ("count",),
                    f"initial count {self.count} is outside minCount..maxCount "
                    f"({self.min_count}..{self.max_count})",
                )
        if minimum:
            for key, value in (("count", self.count), ("minCount", self.min_count)):
                if value is not None and value < minimum:
                    yield Problem(
                        (key,),
                        f"{value} nodes: the system pool runs CoreDNS and other system pods and "
                        f"needs at least {minimum}",
                    )


class SystemPoolSettings(PoolSettings):
    """The pool declared inside the cluster (mode System). At least one node, always.

    Its name carries no suffix: AKS cannot add or remove pools through the cluster resource, so
    any change of its name or immutable fields takes a new cluster (docs/aks.md).
    """

    name: PoolName = Field(
        default="system", description="Pool name, 1-12 lowercase letters/digits. " + _IMMUTABLE
    )
    vm_size: VmSize = Field(
        default=DEFAULT_VM_SIZE,
        description="Azure VM size; default Standard_D2as_v5 (2 vCPUs, 8 GiB, not burstable). "
        "AKS refuses a system pool under 2 vCPUs / 4 GB (SystemPoolSkuTooLow): an error here. "
        'Its docs also say system pools "require a VM SKU of at least 4 vCPUs" and that B-series '
        'VMs "aren\'t supported", yet AKS creates both: Standard_D2as_v5 is below that 4-vCPU '
        "line on purpose (cost), and a B-series size draws a warning (docs/aks.md, System pool "
        "size). " + _IMMUTABLE,
    )

    @model_validator(mode="after")
    def _counts(self) -> SystemPoolSettings:
        check([*self._count_problems(minimum=1), *self._size_problems()])
        return self

    @property
    def arm_name(self) -> str:
        return self.name

    @property
    def burstable(self) -> bool:
        """A B-series size: CPU credits, then only a fraction of each vCPU."""
        return self.vm_size.startswith("Standard_B")

    def _size_problems(self) -> Iterator[Problem]:
        """What AKS refuses for a system pool: fewer than 2 vCPUs (or 4 GB, which a size name
        does not tell), error `SystemPoolSkuTooLow` ("System node pool must use VM sku with more
        than 2 cores and 4GB memory"; Standard_DS1_v2 refused, Standard_DS2_v2 accepted)."""
        cpus = vm_size_cpus(self.vm_size)
        if cpus is not None and cpus < 2:
            yield Problem(
                ("vmSize",),
                f"{self.vm_size} has {cpus} vCPU; AKS refuses a system pool under 2 vCPUs and "
                "4 GB of memory (SystemPoolSkuTooLow); use e.g. Standard_D2as_v5 (2 vCPUs, "
                "8 GiB) or, as the AKS docs ask, a 4-vCPU size such as Standard_D4as_v5",
            )

    def advice(self) -> Iterator[Problem]:
        """What the AKS docs advise against but AKS accepts: said, not refused, so a cluster
        built with it (a new size would mean a new cluster) keeps deploying."""
        if self.burstable:
            yield Problem(
                ("vmSize",),
                f"{self.vm_size} is a burstable B-series size; the AKS docs say B-series VMs "
                '"aren\'t supported for system node pools" (AKS creates it anyway): once its CPU '
                "credits run out, CoreDNS and the other system pods get only a fraction of each "
                "vCPU. Changing it takes a new cluster; for one, prefer Standard_D2as_v5 or a "
                "4-vCPU size (docs/aks.md, System pool size)",
            )


class VnetSettings(StrictModel):
    """Your own virtual network for the nodes (otherwise AKS makes one in its node resource group).

    Adding or removing it moves every pool to another subnet: a new cluster. Its ranges are
    properties of the VNet, updated in place; the cluster sees only the subnet's id, which its
    name fixes (`<clusterName>-vnet/subnets/nodes`).
    """

    address_space: Cidr = Field(
        default="10.224.0.0/12",
        description="The VNet's range. A change updates the VNet in place (no new cluster); "
        "it must keep holding nodeSubnet.",
    )
    node_subnet: Cidr = Field(
        default="10.224.0.0/16",
        description="The nodes' subnet, inside addressSpace. A change updates the VNet in place "
        "(no new cluster), but Azure changes a subnet's range only while nothing is deployed in "
        "it, so with nodes in it the update fails at deploy time: pick it up front.",
    )


class NetworkSettings(StrictModel):
    """Azure CNI overlay with the Cilium dataplane and network policy. Forces replacement.

    The CIDRs are part of the cluster's network profile: changing one makes Azure build a new
    cluster, as does adding or removing `vnet` (not its ranges). Pods get addresses from
    `podCidr` (not from the VNet).
    """

    pod_cidr: Cidr = Field(default="10.244.0.0/16", description="Pod range. Forces replacement.")
    service_cidr: Cidr = Field(
        default="10.0.0.0/16", description="ClusterIP range. Forces replacement."
    )
    dns_service_ip: IpAddress = Field(
        default="10.0.0.10",
        description="CoreDNS ClusterIP, inside serviceCidr. Forces replacement.",
    )
    vnet: VnetSettings | None = Field(
        default=None,
        description="Bring the nodes into a VNet of this stack. Forces replacement when added "
        "or removed; its ranges are updated in place.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> NetworkSettings:
        check(self._problems())
        return self

    def _problems(self) -> Iterator[Problem]:
        pod = ipaddress.ip_network(self.pod_cidr)
        service = ipaddress.ip_network(self.service_cidr)
        for key, network in (("podCidr", pod), ("serviceCidr", service)):
            if network.version != 4:
                yield Problem((key,), f"{network} is IPv6; this stack builds IPv4 clusters")
        if pod.version != 4 or service.version != 4:
            return
        if pod.overlaps(service):
            yield Problem(("serviceCidr",), f"{service} overlaps podCidr {pod}")
        if service.prefixlen < 12:
            yield Problem(("serviceCidr",), f"{service} is larger than AKS allows (/12 at most)")
        for reserved in RESERVED_RANGES:
            if service.overlaps(reserved):
                yield Problem(
                    ("serviceCidr",), f"{service} overlaps {reserved}, which AKS reserves"
                )
        dns = ipaddress.ip_address(self.dns_service_ip)
        if dns not in service:
            yield Problem(("dnsServiceIp",), f"{dns} is outside serviceCidr {service}")
        elif dns in (
            service.network_address,
            service.network_address + 1,
            service.broadcast_address,
        ):
            yield Problem(
                ("dnsServiceIp",),
                f"{dns} is reserved in {service} (network, broadcast, or the first address, "
                "which the kubernetes Service takes); use e.g. the .10 address",
            )
        if self.vnet is None:
            return
        space = ipaddress.ip_network(self.vnet.address_space)
        subnet = ipaddress.ip_network(self.vnet.node_subnet)
        if subnet.version != space.version or not subnet.subnet_of(space):  # type: ignore[arg-type]
            yield Problem(("vnet", "nodeSubnet"), f"{subnet} is not inside addressSpace {space}")
        for key, network in (("podCidr", pod), ("serviceCidr", service)):
            if network.overlaps(space):
                yield Problem((key,), f"{network} overlaps the VNet addressSpace {space}")


class EntraSettings(StrictModel):
    """Sign-in with Microsoft Entra ID: local accounts are disabled, kubectl needs kubelogin."""

    admin_group_object_ids: list[Guid] = Field(
        min_length=1,
        description="Entra group object ids whose members are cluster admins. Whoever runs "
        "`pulumi up` must be in one of them, or the Kubernetes provider is locked out.",
    )
    azure_rbac: bool = Field(
        default=True, description="Authorize Kubernetes requests with Azure role assignments too."
    )


class KeyVaultSecretsProviderSettings(StrictModel):
    """The Azure Key Vault provider for the Secrets Store CSI driver (AKS add-on)."""

    rotation_poll_interval: str = Field(
        default="2m", description="How often mounted secrets are re-read (rotation is always on)."
    )

    @field_validator("rotation_poll_interval")
    @classmethod
    def _duration(cls, value: str) -> str:
        if not _DURATION.match(value):
            raise ValueError(f"{value!r} is not a duration such as 2m, 30s or 1h30m")
        return value


class ContainerRegistrySettings(StrictModel):
    """An Azure Container Registry the cluster's kubelet identity may pull from (AcrPull)."""

    name: str = Field(
        description="Globally unique, 5-50 letters or digits; images are <name>.azurecr.io/..."
    )
    sku: Literal["Basic", "Standard", "Premium"] = Field(
        default="Basic", description="Basic is the cheapest (list price about $5 a month)."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _REGISTRY_NAME.match(value):
            raise ValueError(
                f"{value!r} is not a valid registry name: 5-50 letters or digits, no '-' or '.'"
            )
        return value


class AksSettings(StrictModel):
    """`hybrid-kube:aks`: where and how big the Azure cluster is, and who may reach it."""

    location: Annotated[str, AfterValidator(_location)] = Field(
        description="Azure region short name, e.g. westeurope. Forces replacement of everything."
    )
    resource_group_name: str | None = Field(
        default=None,
        description="Resource group to create; default hybrid-kube-<stack>. Forces replacement.",
    )
    cluster_name: str | None = Field(
        default=None, description="Cluster name; default hybrid-kube-<stack>. Forces replacement."
    )
    dns_prefix: str | None = Field(
        default=None,
        description="Prefix of the API server's FQDN; default derived from the cluster name. "
        "Forces replacement.",
    )
    tier: Literal["Free", "Standard"] = Field(
        default="Free",
        description="Free: no control-plane charge, no SLA (fine for < 10 nodes). Standard: SLA, "
        "billed per cluster hour.",
    )
    system_pool: SystemPoolSettings = SystemPoolSettings()
    pools: list[PoolSettings] = Field(
        default=[], description="Further pools (mode User), each its own AgentPool resource."
    )
    network: NetworkSettings = NetworkSettings()
    authorized_ip_ranges: list[AuthorizedRange] = Field(
        default=[],
        description="IPv4 addresses/CIDRs allowed to reach the API server; empty: any address "
        "(still authenticated).",
    )
    entra: EntraSettings | None = Field(
        default=None, description="Entra ID sign-in with admin groups; disables local accounts."
    )
    key_vault_secrets_provider: KeyVaultSecretsProviderSettings | None = Field(
        default=None, description="Enable the Key Vault secrets-store add-on, with rotation."
    )
    container_registry: ContainerRegistrySettings | None = Field(
        default=None, description="Create an ACR and let the nodes pull from it."
    )
    upgrade_channel: Literal["patch", "stable", "rapid", "none"] = Field(
        default="patch",
        description="AKS cluster auto-upgrade. patch: new patches of the running minor (write "
        'kubernetesVersion as a minor, "1.35"). stable / rapid: AKS also moves to new minors '
        "(N-1 / the newest), control plane first, then each pool; kubernetesVersion is then only "
        "the version a new cluster starts with. none: versions change only when you upgrade "
        "(docs/aks.md, Upgrades).",
    )
    protect_cluster: bool = Field(
        default=True,
        description="Pulumi `protect` on the cluster: an edit that would replace or delete it "
        "(location, names, network, system pool sizes, a target switch, `pulumi destroy`) is "
        "refused before anything changes. Set false, then `pulumi up`, to allow it (docs/aks.md).",
    )
    node_os_upgrade_channel: Literal["NodeImage", "SecurityPatch", "Unmanaged", "None"] = Field(
        default="NodeImage", description="How node OS security fixes arrive; NodeImage is weekly."
    )
    tags: dict[str, str] = Field(
        default={}, description="Extra Azure tags on every taggable resource."
    )

    @field_validator("resource_group_name")
    @classmethod
    def _resource_group(cls, value: str | None) -> str | None:
        if value is not None and not _RESOURCE_GROUP.match(value):
            raise ValueError(
                f"{value!r} is not a resource group name: 1-90 letters, digits, '-', '_', '.', "
                "'(' or ')', not ending in '.'"
            )
        return value

    @field_validator("cluster_name")
    @classmethod
    def _cluster(cls, value: str | None) -> str | None:
        if value is not None and not _CLUSTER_NAME.match(value):
            raise ValueError(
                f"{value!r} is not a cluster name: 1-63 letters, digits, '-' or '_', starting "
                "and ending with a letter or digit"
            )
        return value

    @field_validator("dns_prefix")
    @classmethod
    def _dns_prefix(cls, value: str | None) -> str | None:
        if value is not None and not _DNS_PREFIX.match(value):
            raise ValueError(
                f"{value!r} is not a DNS prefix: 1-54 letters, digits or '-', starting and "
                "ending with a letter or digit"
            )
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        problems = []
        if len(value) > MAX_USER_TAGS:
            problems.append(
                Problem(
                    (),
                    f"{len(value)} tags; Azure allows 50 per resource and hybrid-kube adds 3, "
                    f"so at most {MAX_USER_TAGS}",
                )
            )
        for key, text in value.items():
            bad = sorted(_TAG_NAME_FORBIDDEN & set(key))
            if not key or len(key) > 512 or bad:
                problems.append(
                    Problem(
                        (key,),
                        "tag names are 1-512 characters without any of < > % & \\ ? /"
                        + (f" (found {' '.join(bad)})" if bad else ""),
                    )
                )
            if len(text) > 256:
                problems.append(Problem((key,), f"tag value is {len(text)} characters; max 256"))
        check(problems)
        return value

    @field_validator("authorized_ip_ranges")
    @classmethod
    def _ranges(cls, value: list[str]) -> list[str]:
        if len(value) > MAX_AUTHORIZED_RANGES:
            raise ValueError(f"{len(value)} ranges; AKS accepts at most {MAX_AUTHORIZED_RANGES}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> AksSettings:
        check(self._problems())
        return self

    @property
    def warnings(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Valid but advised against by AKS, as (key path below `aks`, message).

        `Settings.warnings` prefixes the paths with `hybrid-kube:aks`; `check` prints them and
        the program logs them. Nothing here is refused: a deployed cluster may carry it.
        """
        return [(("systemPool", *p.path), p.message) for p in self.system_pool.advice()]

    def _problems(self) -> Iterator[Problem]:
        counts = Counter([self.system_pool.name, *(p.name for p in self.pools)])
        if counts[self.system_pool.name] > 1:
            first = next(i for i, p in enumerate(self.pools) if p.name == self.system_pool.name)
            yield Problem(
                ("pools", first, "name"),
                f"duplicate pool name {self.system_pool.name!r} (the system pool's name)",
            )
        seen: set[str] = set()
        for index, pool in enumerate(self.pools):
            if pool.name in seen:
                yield Problem(("pools", index, "name"), f"duplicate pool name {pool.name!r}")
            seen.add(pool.name)
        yield from self._arm_name_problems()

    def _arm_name_problems(self) -> Iterator[Problem]:
        """A suffixed name can, by chance, equal another pool's AKS name (e.g. 'sy' + 'stem').
        Duplicate names are reported above, not here."""
        owners = {self.system_pool.arm_name: (self.system_pool.name, "the system pool")}
        for index, pool in enumerate(self.pools):
            owner = owners.setdefault(pool.arm_name, (pool.name, f"pool {pool.name!r}"))
            if owner[0] != pool.name:
                yield Problem(
                    ("pools", index, "name"),
                    f"pool {pool.name!r} gets the AKS name {pool.arm_name!r}, already used by "
                    f"{owner[1]}; choose another name",
                )
