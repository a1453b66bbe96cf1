"""Pure translations of `AksSettings` into pulumi-azure-native Args (no resources declared here).

Argument names are those of pulumi-azure-native 3.x (Azure API 2025-09-01); every choice the
settings do not expose is a fixed, secure default explained where it is made.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re

import pulumi
from pulumi_azure_native import containerservice as cs

from ..settings.aks import IMMUTABLE_POOL_FIELDS, AksSettings, PoolSettings

# Built-in Azure role definition ids (the same GUID in every subscription).
ACR_PULL_ROLE = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
NETWORK_CONTRIBUTOR_ROLE = "4d97b98b-1d4f-4787-a291-c67834d212e7"

KEYVAULT_ADDON = "azureKeyvaultSecretsProvider"

NODE_SUBNET = "nodes"
"""The name of the nodes' subnet in a stack's own VNet (`<clusterName>-vnet`): its id, which the
pools carry as `vnetSubnetID`, depends only on the group, the cluster name and this name."""

_IMMUTABLE_PROPERTIES = tuple(prop for _, prop in IMMUTABLE_POOL_FIELDS)

AGENT_POOL_REPLACE_ON = ("agentPoolName", *_IMMUTABLE_PROPERTIES)
"""An AgentPool is replaced (create-before-delete) when these change. Its `agentPoolName`
carries a suffix derived from the immutable properties, so they change together: the new pool
is created beside the old one, which AKS drains and deletes at the end of `pulumi up`."""

SYSTEM_POOL_REPLACE_ON = tuple(
    f"agentPoolProfiles[0].{prop}" for prop in ("name", *_IMMUTABLE_PROPERTIES, "vnetSubnetID")
)
"""Inline system pool properties AKS cannot change: pulumi-azure-native plans an edit of one as
an in-place update of the cluster (its docs: the inline profile "cannot be updated"), which AKS
refuses minutes into `pulumi up`. Marked replace-on-change, the edit plans a new cluster, which
`protect` refuses at preview, before anything changes."""


def default_name(project: str, stack: str) -> str:
    """`hybrid-kube-<stack>`, reduced to what resource groups, clusters and DNS prefixes accept."""
    name = re.sub(r"[^a-zA-Z0-9-]+", "-", f"{project}-{stack}").strip("-")
    return name[:54].rstrip("-") or "hybrid-kube"


def dns_prefix_for(cluster_name: str) -> str:
    """A DNS prefix from a cluster name: letters, digits and '-', at most 54 characters."""
    prefix = re.sub(r"[^a-zA-Z0-9-]+", "-", cluster_name)[:54].strip("-")
    return prefix or "aks"


def tags(settings: AksSettings, project: str, stack: str) -> dict[str, str]:
    """Tags on every taggable resource; the stack's own tags win."""
    return {"project": project, "stack": stack, "managed-by": "pulumi", **settings.tags}


def _pool_common(pool: PoolSettings) -> dict:
    """Arguments a system profile and an AgentPool share, by their identical SDK names.

    No `orchestrator_version`: a pool created without one gets the control plane's version
    (AKS "upgrade-node-pools": "If nothing is set, it falls back to the control plane
    version"), and no update ever sends one, so no update can mix pool and cluster versions,
    which ARM refuses (NotAllAgentPoolOrchestratorVersionSpecifiedAndUnchanged). Upgrades are
    `az aks upgrade` (docs/aks.md, Upgrades).
    """
    autoscale = pool.autoscaling
    return {
        "type": "VirtualMachineScaleSets",
        "os_type": "Linux",
        "os_sku": pool.os_sku,
        "vm_size": pool.vm_size,
        "count": pool.initial_count,
        "enable_auto_scaling": autoscale,
        "min_count": pool.min_count if autoscale else None,
        "max_count": pool.max_count if autoscale else None,
        "max_pods": pool.max_pods,
        "os_disk_type": pool.os_disk_type,
        "os_disk_size_gb": pool.os_disk_size_gb,
        # Sorted, like the suffix of the pool's name: reordering zones changes nothing.
        "availability_zones": sorted(pool.availability_zones) or None,
        "node_labels": dict(pool.node_labels) or None,
        "node_taints": list(pool.node_taints) or None,
        "enable_encryption_at_host": pool.encryption_at_host,
        # No public IP per node: nodes leave through the cluster's load balancer.
        "enable_node_public_ip": False,
    }


def system_pool_profile(
    settings: AksSettings,
    subnet_id: pulumi.Input[str] | None,
    pool_tags: dict[str, str],
) -> cs.ManagedClusterAgentPoolProfileArgs:
    pool = settings.system_pool
    return cs.ManagedClusterAgentPoolProfileArgs(
        name=pool.arm_name,
        mode="System",
        vnet_subnet_id=subnet_id,
        tags=pool_tags,
        **_pool_common(pool),
    )


def agent_pool_args(
    pool: PoolSettings,
    resource_group_name: pulumi.Input[str],
    cluster_name: pulumi.Input[str],
    subnet_id: pulumi.Input[str] | None,
    pool_tags: dict[str, str],
) -> cs.AgentPoolArgs:
    return cs.AgentPoolArgs(
        resource_group_name=resource_group_name,
        resource_name=cluster_name,
        agent_pool_name=pool.arm_name,
        mode="User",
        vnet_subnet_id=subnet_id,
        tags=pool_tags,
        **_pool_common(pool),
    )


def _network_values(settings: AksSettings) -> dict[str, str]:
    """Azure CNI overlay powered by Cilium: pod IPs outside the VNet, Cilium network policy."""
    net = settings.network
    return {
        "network_plugin": "azure",
        "network_plugin_mode": "overlay",
        "network_dataplane": "cilium",
        "network_policy": "cilium",
        "pod_cidr": net.pod_cidr,
        "service_cidr": net.service_cidr,
        "dns_service_ip": net.dns_service_ip,
        "load_balancer_sku": "standard",
        "outbound_type": "loadBalancer",
    }


def network_profile(settings: AksSettings) -> cs.ContainerServiceNetworkProfileArgs:
    return cs.ContainerServiceNetworkProfileArgs(**_network_values(settings))


def replace_forcing_inputs(settings: AksSettings) -> dict:
    """The cluster's inputs, besides its names and location, whose change builds a new cluster.

    - the network profile (pulumi-azure-native marks its CIDRs, plugin, mode, dataplane, policy
      and outbound type force-new; the load balancer SKU, also sent, is a constant);
    - the inline system pool's `SYSTEM_POOL_REPLACE_ON`: its name and immutable fields (zones
      sorted, as sent) and `vnetSubnetID`. The subnet id is fixed by the group, the cluster name
      and `NODE_SUBNET`, so of the VNet only its presence counts: its ranges are properties of
      the VNet, updated in place.
    """
    pool = settings.system_pool
    return {
        "network": _network_values(settings),
        "vnet": {"subnet": NODE_SUBNET} if settings.network.vnet is not None else None,
        "systemPool": {"name": pool.arm_name} | pool.immutable_values(),
    }


def cluster_identity(
    settings: AksSettings, *, resource_group_name: str, cluster_name: str, dns_prefix: str
) -> str:
    """The Kubernetes provider's `clusterIdentifier`: it changes exactly when the cluster would.

    The cluster is replaced (a new API server, empty) only when its location, group, name, DNS
    prefix or one of `replace_forcing_inputs` changes. The identity is those values, read from
    the settings so it is known at preview. Certificates (`az aks rotate-certs`), tokens and
    every in-place edit (the VNet's ranges included) leave it, and so every object, untouched.
    """
    canonical = json.dumps(replace_forcing_inputs(settings), sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:12]
    return f"aks:{settings.location}/{resource_group_name}/{cluster_name}/{dns_prefix}#{digest}"


def aad_profile(settings: AksSettings) -> cs.ManagedClusterAADProfileArgs | None:
    if settings.entra is None:
        return None
    return cs.ManagedClusterAADProfileArgs(
        managed=True,
        enable_azure_rbac=settings.entra.azure_rbac,
        admin_group_object_ids=list(settings.entra.admin_group_object_ids),
    )


def api_server_access_profile(
    settings: AksSettings,
) -> cs.ManagedClusterAPIServerAccessProfileArgs | None:
    if not settings.authorized_ip_ranges:
        return None
    return cs.ManagedClusterAPIServerAccessProfileArgs(
        authorized_ip_ranges=sorted_ranges(settings.authorized_ip_ranges)
    )


def sorted_ranges(ranges: list[str]) -> list[str]:
    """The ranges as a set, in address order: reordering (or repeating) one changes nothing."""
    networks = {ipaddress.ip_network(r) for r in ranges}
    return [str(n) for n in sorted(networks, key=lambda n: (n.network_address, n.prefixlen))]


def addon_profiles(settings: AksSettings) -> dict[str, cs.ManagedClusterAddonProfileArgs] | None:
    """Only add-ons the stack asks for; never the (retired) Kubernetes dashboard."""
    addons: dict[str, cs.ManagedClusterAddonProfileArgs] = {}
    if settings.key_vault_secrets_provider is not None:
        addons[KEYVAULT_ADDON] = cs.ManagedClusterAddonProfileArgs(
            enabled=True,
            config={
                "enableSecretRotation": "true",
                "rotationPollInterval": settings.key_vault_secrets_provider.rotation_poll_interval,
            },
        )
    return addons or None


def managed_cluster_args(
    settings: AksSettings,
    kubernetes_version: str,
    *,
    resource_group_name: pulumi.Input[str],
    cluster_name: str,
    dns_prefix: str,
    subnet_id: pulumi.Input[str] | None,
    cluster_tags: dict[str, str],
) -> cs.ManagedClusterArgs:
    return cs.ManagedClusterArgs(
        resource_group_name=resource_group_name,
        resource_name=cluster_name,
        location=settings.location,
        dns_prefix=dns_prefix,
        # Sent on create; afterwards ignored (component.py), since AKS upgrades are
        # `az aks upgrade` (docs/aks.md, Upgrades).
        kubernetes_version=kubernetes_version,
        sku=cs.ManagedClusterSKUArgs(name="Base", tier=settings.tier),
        identity=cs.ManagedClusterIdentityArgs(type="SystemAssigned"),
        enable_rbac=True,
        disable_local_accounts=settings.entra is not None,
        aad_profile=aad_profile(settings),
        api_server_access_profile=api_server_access_profile(settings),
        agent_pool_profiles=[system_pool_profile(settings, subnet_id, cluster_tags)],
        network_profile=network_profile(settings),
        oidc_issuer_profile=cs.ManagedClusterOIDCIssuerProfileArgs(enabled=True),
        security_profile=cs.ManagedClusterSecurityProfileArgs(
            workload_identity=cs.ManagedClusterSecurityProfileWorkloadIdentityArgs(enabled=True)
        ),
        auto_upgrade_profile=cs.ManagedClusterAutoUpgradeProfileArgs(
            upgrade_channel=settings.upgrade_channel,
            node_os_upgrade_channel=settings.node_os_upgrade_channel,
        ),
        addon_profiles=addon_profiles(settings),
        tags=cluster_tags,
    )
