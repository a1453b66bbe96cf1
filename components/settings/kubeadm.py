"""Settings of the `kubeadm` target: the user's SSH-reachable hosts and the cluster's networks."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Annotated, Any, Literal

import pydantic
from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from .base import (
    Cidr,
    DnsLabel,
    ExistingFile,
    IpAddress,
    Port,
    Problem,
    StrictModel,
    check,
    format_path,
)

# kubeadm's own bounds for podSubnet (ValidatePodSubnetNodeMask in kubernetes/kubernetes
# cmd/kubeadm/app/apis/kubeadm/validation/validation.go): the pod mask may not be longer than the
# node mask kube-controller-manager uses (`--node-cidr-mask-size`, 24 for IPv4, which we leave
# alone), nor more than `PodSubnetNodeMaskMaxDiff` (16) shorter: a /8 to a /24.
NODE_CIDR_MASK_SIZE = 24
POD_SUBNET_NODE_MASK_MAX_DIFF = 16
# CNIs whose pods get addresses from the node's podCIDR (node.spec.podCIDR, a /24 of podCidr per
# node): Flannel, and Cilium in `ipam.mode: kubernetes` (components/kubeadm/cni.py). Calico
# allocates from its own IP pool in /26 blocks and never reads it; kube-controller-manager only
# records a CIDRNotAvailable event for the nodes it cannot give a range.
NODE_PODCIDR_CNIS = frozenset({"flannel", "cilium"})
# kubeadm refuses a serviceSubnet larger than a /12 ("the mask must be >= 12") and gives the
# cluster DNS Service the 10th address of it, so the network must hold at least 16 (a /28).
SERVICE_PREFIX_LARGEST, SERVICE_PREFIX_SMALLEST = 12, 28
# Without `hostNetwork`, the hosts' network is taken as the smallest one holding every host, and
# at least this /24 (what a lab or home network usually is).
DERIVED_HOST_PREFIX = 24

Role = Literal["control-plane", "worker"]
Cni = Literal["calico", "cilium", "flannel"]
ApiLoadBalancer = Literal["kube-vip", "external"]

# Key types OpenSSH and pulumi-command (golang.org/x/crypto/ssh) accept as host keys.
_HOST_KEY_TYPES = frozenset(
    {
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    }
)
_SSH_USER = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}$")


def _host_key(value: str) -> str:
    """A public key as `ssh-keyscan` or /etc/ssh/ssh_host_*_key.pub print it: `<type> <base64>`
    (a comment may follow). Checked whole, because a malformed pin would not pin anything: ssh
    would skip the line and accept whatever key answers."""
    parts = value.split()
    if "\n" in value or "\r" in value or len(parts) < 2:
        raise ValueError(
            "is not a public key on one line such as 'ssh-ed25519 AAAAC3Nza...' (from "
            "`ssh-keyscan -t ed25519 <address>` or `hybrid-kube preflight <stack> --pin-host-keys`)"
        )
    kind, blob = parts[0], parts[1]
    if kind not in _HOST_KEY_TYPES:
        raise ValueError(f"has key type {kind!r}; allowed: {', '.join(sorted(_HOST_KEY_TYPES))}")
    try:
        raw = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{kind} key data is not base64") from None
    # The blob starts with the key type again, as a length-prefixed string (RFC 4253, 6.6).
    length = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else -1
    if raw[4 : 4 + length].decode("ascii", "replace") != kind:
        raise ValueError(f"key data does not hold a {kind} key (a truncated or mixed-up copy?)")
    return f"{kind} {blob}"


def _ssh_user(value: str) -> str:
    if not _SSH_USER.match(value):
        raise ValueError(
            f"{value!r} is not a user name; allowed: up to 32 letters, digits, '_', '.' or '-', "
            "starting with a letter or '_'"
        )
    return value


HostKey = Annotated[str, AfterValidator(_host_key)]
SshUser = Annotated[str, AfterValidator(_ssh_user)]

_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)


def _host_or_ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    if not _HOSTNAME.match(value.lower()):
        raise ValueError(f"{value!r} is neither an IP address nor a DNS name")
    return value.lower()


def split_endpoint(value: str) -> tuple[str, int | None]:
    """`"10.0.0.5:6443"` -> ("10.0.0.5", 6443); `"[fd00::5]:6443"` and bare hosts work too."""
    if "://" in value or "/" in value:
        raise ValueError(
            f"{value!r} looks like a URL; write host or host:port, e.g. 192.168.56.10 or "
            "k8s.lab.internal:6443 (no scheme, no path)"
        )
    host, port = value, None
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port = rest.removeprefix(":") or None
    elif value.count(":") == 1:
        host, port = value.split(":")
    if port is not None and not (port.isdigit() and 1 <= int(port) <= 65535):
        raise ValueError(f"{value!r} has port {port!r}; allowed: 1-65535")
    return _host_or_ip(host), int(port) if port else None


class BastionSettings(StrictModel):
    """A jump host the SSH connections go through (pulumi-command `connection.proxy`)."""

    host: str
    user: SshUser | None = None
    port: Port = 22
    host_key: HostKey | None = Field(
        default=None,
        description="The bastion's public SSH key (e.g. 'ssh-ed25519 AAAA...'); pins it when set.",
    )

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        return _host_or_ip(value)


class SshSettings(StrictModel):
    """How to reach the hosts.

    The key is `hybrid-kube:sshPrivateKey` (secret), else `privateKeyPath`, else the SSH agent.
    """

    user: SshUser = "ubuntu"
    port: Port = 22
    private_key_path: ExistingFile | None = None
    bastion: BastionSettings | None = None


class HostSettings(StrictModel):
    """One machine. `name` is its stable key: resources are named after it, never a position."""

    name: DnsLabel
    address: IpAddress
    role: Role
    host_key: HostKey | None = Field(
        default=None,
        description="The host's public SSH key (e.g. 'ssh-ed25519 AAAA...'); pins it when set.",
    )


class AddressRange(StrictModel):
    """Parsed form of a `loadBalancerAddresses` entry."""

    first: ipaddress.IPv4Address | ipaddress.IPv6Address
    last: ipaddress.IPv4Address | ipaddress.IPv6Address

    def contains(self, address: str) -> bool:
        ip = ipaddress.ip_address(address)
        return ip.version == self.first.version and self.first <= ip <= self.last

    def overlaps(self, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
        if network.version != self.first.version:
            return False
        return not (self.last < network.network_address or self.first > network.broadcast_address)


def parse_address_range(value: str) -> AddressRange:
    """`"192.168.56.200-192.168.56.220"` or `"192.168.56.240/28"`, as MetalLB accepts them."""
    if "-" in value:
        start, _, end = (part.strip() for part in value.partition("-"))
        try:
            first, last = ipaddress.ip_address(start), ipaddress.ip_address(end)
        except ValueError:
            raise ValueError(
                f"{value!r} is not a range of two IP addresses such as "
                "192.168.56.200-192.168.56.220"
            ) from None
        if first.version != last.version:
            raise ValueError(f"{value!r} mixes IPv4 and IPv6")
        if first > last:
            raise ValueError(f"{value!r} is reversed: the first address is after the last")
        return AddressRange(first=first, last=last)
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise ValueError(
            f"{value!r} is neither a CIDR (192.168.56.240/28) nor a range "
            "(192.168.56.200-192.168.56.220)"
        ) from None
    return AddressRange(first=network.network_address, last=network.broadcast_address)


def _address_range(value: str) -> str:
    parse_address_range(value)
    return value


class KubeadmSettings(StrictModel):
    """`hybrid-kube:kubeadm`: the hosts, how to reach them, and the cluster's networks."""

    control_plane_endpoint: str | None = None
    ssh: SshSettings = SshSettings()
    hosts: list[HostSettings] = Field(min_length=1)
    bootstrap_host: DnsLabel | None = Field(
        default=None,
        description=(
            "The control plane `kubeadm init` runs on, by name. Default: the control plane whose "
            "name sorts first. It can never change for a cluster: write it down."
        ),
    )
    host_network: Cidr | None = Field(
        default=None,
        description=(
            "The hosts' own (layer-2) network, e.g. 192.168.56.0/24. Declared, the hosts, "
            "MetalLB's and kube-vip's addresses must lie in it (they answer ARP there). Left out, "
            "it is guessed as the smallest network holding every host, at least a /24, and "
            "addresses outside the guess are only warnings."
        ),
    )
    pod_cidr: Cidr = "10.244.0.0/16"
    service_cidr: Cidr = "10.96.0.0/12"
    cni: Cni = "calico"
    load_balancer_addresses: list[Annotated[str, AfterValidator(_address_range)]] = []
    api_load_balancer: ApiLoadBalancer = Field(
        default="kube-vip",
        description=(
            "Who answers on controlPlaneEndpoint when it is not a host's own address: 'kube-vip' "
            "(a virtual IP held by the control planes, ARP mode) or 'external' (your load balancer "
            "or DNS name, already forwarding port 6443 to every control plane)."
        ),
    )

    @field_validator("control_plane_endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None:
            split_endpoint(value)
        return value

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> KubeadmSettings:
        if not (info.context or {}).get(_UNCHECKED):  # `salvaged_problems` runs them itself
            check(self._problems())
        return self

    # -- derived views used by the components --------------------------------------------------

    # Every view below is sorted by name, never by position in `hosts`: reordering the list
    # changes no resource, no input and no dependency.

    @property
    def control_planes(self) -> list[HostSettings]:
        """Control planes, by name."""
        return sorted((h for h in self.hosts if h.role == "control-plane"), key=_by_name)

    @property
    def workers(self) -> list[HostSettings]:
        """Workers, by name."""
        return sorted((h for h in self.hosts if h.role == "worker"), key=_by_name)

    @property
    def endpoint(self) -> tuple[str, int]:
        """The API server endpoint every node and kubeconfig uses (host, port)."""
        if self.control_plane_endpoint:
            host, port = split_endpoint(self.control_plane_endpoint)
            return host, port or 6443
        return self.bootstrap_control_plane.address, 6443

    @property
    def bootstrap_control_plane(self) -> HostSettings:
        """The host `kubeadm init` runs on: `bootstrapHost`, else the control plane whose name
        sorts first. Every other host joins through the endpoint; admit and node steps run here."""
        if self.bootstrap_host is not None:
            return next(h for h in self.hosts if h.name == self.bootstrap_host)
        return self.control_planes[0]

    @property
    def joining_control_planes(self) -> list[HostSettings]:
        """The other control planes, in the order they join (by name), one at a time."""
        bootstrap = self.bootstrap_control_plane.name
        return [h for h in self.control_planes if h.name != bootstrap]

    @property
    def kube_vip_address(self) -> str | None:
        """The virtual IP kube-vip announces, or None when no kube-vip is deployed."""
        if self.control_plane_endpoint is None or self.api_load_balancer != "kube-vip":
            return None
        host, _ = split_endpoint(self.control_plane_endpoint)
        if any(h.address == host for h in self.hosts):
            return None  # the endpoint is a host's own address: nothing to announce
        return host

    @property
    def warnings(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Valid but unsafe, as (key path below `kubeadm`, message): hosts whose SSH key is not
        pinned (pulumi-command accepts any host key where `hostKey` is not set, and every step's
        standard input, CA key, join token, certificate key, goes to whoever answers there), and
        addresses outside the guessed hosts' network (`_guessed_network_warnings`)."""
        unpinned = [h.name for h in sorted(self.hosts, key=_by_name) if not h.host_key]
        bastion = self.ssh.bastion
        found: list[tuple[tuple[str | int, ...], str]] = []
        if unpinned:
            found.append(
                (
                    ("hosts",),
                    f"no hostKey pinned for {', '.join(unpinned)}: any machine answering at "
                    "their addresses would be trusted and sent the cluster's secrets; pin the "
                    "keys with `hybrid-kube preflight <stack> --pin-host-keys` (docs/onprem.md)",
                )
            )
        if bastion is not None and not bastion.host_key:
            found.append(
                (
                    ("ssh", "bastion", "hostKey"),
                    f"not pinned: any machine answering at {bastion.host} would be trusted as the "
                    "jump host; pin it with `hybrid-kube preflight <stack> --pin-host-keys`",
                )
            )
        return found + self._guessed_network_warnings()

    @property
    def address_ranges(self) -> list[AddressRange]:
        return [parse_address_range(v) for v in self.load_balancer_addresses]

    # -- cross-field checks --------------------------------------------------------------------

    @property
    def hosts_network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        """`hostNetwork`, else the smallest network holding every host, at least a /24."""
        if self.host_network:
            return ipaddress.ip_network(self.host_network)
        addresses = [ipaddress.ip_address(h.address) for h in self.hosts]
        first = addresses[0]
        prefix = min(DERIVED_HOST_PREFIX, first.max_prefixlen)
        while True:
            network = ipaddress.ip_network(f"{first}/{prefix}", strict=False)
            if all(a in network for a in addresses if a.version == first.version):
                return network
            prefix -= 1

    def _problems(self, skip: frozenset[str] = frozenset()) -> Iterator[Problem]:
        """Every cross-field problem, leaving out the rules that read a field in `skip` (fields
        that failed validation: `salvaged_problems`)."""
        for fields, rule in self._rules():
            if not fields & skip:
                yield from rule()

    def _rules(self) -> list[tuple[frozenset[str], Callable[[], Iterator[Problem]]]]:
        """The cross-field rules with the fields each reads."""
        networks = {"pod_cidr", "service_cidr", "hosts", "load_balancer_addresses"}
        endpoint = {"control_plane_endpoint", "api_load_balancer"}
        return [
            (frozenset({"hosts"}), self._duplicate_problems),
            (frozenset({"pod_cidr"}), self._pod_size_problems),
            (frozenset({"pod_cidr", "hosts", "cni"}), self._node_pod_cidr_problems),
            (frozenset({"service_cidr"}), self._service_size_problems),
            (
                frozenset({"hosts", "host_network", "load_balancer_addresses", *endpoint}),
                self._host_network_problems,
            ),
            (frozenset({"hosts", "control_plane_endpoint"}), self._control_plane_problems),
            (frozenset({"hosts", "bootstrap_host"}), self._bootstrap_problems),
            (frozenset({"hosts", "pod_cidr", "service_cidr"}), self._ipv4_only_problems),
            (frozenset(networks), self._overlap_problems),
            (frozenset(networks | endpoint), self._endpoint_problems),
            (frozenset({"hosts", "control_plane_endpoint"}), self._endpoint_owner_problems),
        ]

    def _duplicate_problems(self) -> Iterator[Problem]:
        yield from _duplicates(list(enumerate(self.hosts)), "name")
        yield from _duplicates(list(enumerate(self.hosts)), "address")

    def _control_plane_problems(self) -> Iterator[Problem]:
        control_planes = self.control_planes
        if not control_planes:
            yield Problem(("hosts",), "no host has role 'control-plane'; at least one is required")
        elif len(control_planes) > 1:
            if len(control_planes) % 2 == 0:
                yield Problem(
                    ("hosts",),
                    f"{len(control_planes)} control-plane hosts: etcd needs an odd number "
                    "(1, 3 or 5) to keep quorum",
                )
            if self.control_plane_endpoint is None:
                yield Problem(
                    ("controlPlaneEndpoint",),
                    "required with more than one control-plane host: a virtual IP (kube-vip) "
                    "or a load balancer address in front of them",
                )

    def _overlap_problems(self) -> Iterator[Problem]:
        pod = ipaddress.ip_network(self.pod_cidr)
        service = ipaddress.ip_network(self.service_cidr)
        if pod.overlaps(service):
            yield Problem(("serviceCidr",), f"{service} overlaps podCidr {pod}")
        for index, host in enumerate(self.hosts):
            ip = ipaddress.ip_address(host.address)
            for key, network in (("podCidr", pod), ("serviceCidr", service)):
                if ip in network:
                    yield Problem(
                        ("hosts", index, "address"),
                        f"{ip} (host {host.name!r}) lies inside {key} {network}; "
                        f"choose a {key} that does not contain the hosts' network",
                    )
        for index, address_range in enumerate(self.address_ranges):
            for key, network in (("podCidr", pod), ("serviceCidr", service)):
                if address_range.overlaps(network):
                    yield Problem(("loadBalancerAddresses", index), f"overlaps {key} {network}")
            for host in self.hosts:
                if address_range.contains(host.address):
                    yield Problem(
                        ("loadBalancerAddresses", index),
                        f"contains the address {host.address} of host {host.name!r}",
                    )

    def _pod_size_problems(self) -> Iterator[Problem]:
        """podCidr within kubeadm's bounds, whatever the CNI."""
        pod = ipaddress.ip_network(self.pod_cidr)
        largest = NODE_CIDR_MASK_SIZE - POD_SUBNET_NODE_MASK_MAX_DIFF
        if pod.version == 4 and pod.prefixlen > NODE_CIDR_MASK_SIZE:
            yield Problem(
                ("podCidr",),
                f"{pod} is too small: kubeadm refuses a podCidr smaller than the "
                f"/{NODE_CIDR_MASK_SIZE} each node's pod range has (kube-controller-manager "
                f"--node-cidr-mask-size, {NODE_CIDR_MASK_SIZE} for IPv4); allowed: /{largest} to "
                f"/{NODE_CIDR_MASK_SIZE}, the default is 10.244.0.0/16",
            )
        elif pod.version == 4 and pod.prefixlen < largest:
            yield Problem(
                ("podCidr",),
                f"{pod} is too large: kubeadm accepts a podCidr at most "
                f"{POD_SUBNET_NODE_MASK_MAX_DIFF} bits larger than the /{NODE_CIDR_MASK_SIZE} of a "
                f"node; allowed: /{largest} to /{NODE_CIDR_MASK_SIZE}, the default is "
                "10.244.0.0/16",
            )

    def _node_pod_cidr_problems(self) -> Iterator[Problem]:
        """A /24 of podCidr per host, for the CNIs that use the node's podCIDR."""
        pod = ipaddress.ip_network(self.pod_cidr)
        largest = NODE_CIDR_MASK_SIZE - POD_SUBNET_NODE_MASK_MAX_DIFF
        within = largest <= pod.prefixlen <= NODE_CIDR_MASK_SIZE  # else `_pod_size_problems`
        if self.cni in NODE_PODCIDR_CNIS and pod.version == 4 and within:
            hosts = len(self.hosts)
            needed = NODE_CIDR_MASK_SIZE - (hosts - 1).bit_length()
            if pod.prefixlen > needed:
                yield Problem(
                    ("podCidr",),
                    f"{pod} is too small for {hosts} hosts: {self.cni} gives each node's pods "
                    f"that node's /{NODE_CIDR_MASK_SIZE} of podCidr (its podCIDR, from "
                    "kube-controller-manager --node-cidr-mask-size), so podCidr must be "
                    f"/{needed} or larger (calico allocates from its own pool and needs only a "
                    f"/{NODE_CIDR_MASK_SIZE}); the default is 10.244.0.0/16",
                )

    def _service_size_problems(self) -> Iterator[Problem]:
        """serviceCidr must be a size kubeadm accepts."""
        service = ipaddress.ip_network(self.service_cidr)
        if service.version == 4 and service.prefixlen < SERVICE_PREFIX_LARGEST:
            yield Problem(
                ("serviceCidr",),
                f"{service} is too large: kubeadm accepts at most a /{SERVICE_PREFIX_LARGEST} "
                "(the API server's limit); the default is 10.96.0.0/12",
            )
        elif service.version == 4 and service.prefixlen > SERVICE_PREFIX_SMALLEST:
            yield Problem(
                ("serviceCidr",),
                f"{service} is too small: kubeadm gives the cluster DNS Service the 10th address "
                f"of serviceCidr, so it must be /{SERVICE_PREFIX_SMALLEST} or larger (a /16 or "
                "more leaves room for Services); the default is 10.96.0.0/12",
            )

    def _host_network_problems(self) -> Iterator[Problem]:
        """A declared `hostNetwork` must hold the hosts, the MetalLB pool and kube-vip's address.

        Without the declaration only a guess exists (`hosts_network`); addresses outside it are
        `warnings`, not errors: MetalLB's L2 mode answers on every interface and over VLANs
        (metallb.universe.tf/faq), so a pool need not sit in the hosts' own subnet."""
        if not self.host_network:
            return
        network = ipaddress.ip_network(self.host_network)
        for index, host in enumerate(self.hosts):
            ip = ipaddress.ip_address(host.address)
            if not ip.is_loopback and ip not in network:
                yield Problem(
                    ("hosts", index, "address"),
                    f"{host.address} (host {host.name!r}) is outside hostNetwork {network}",
                )
        for path, subject, why in self._off_host_network():
            yield Problem(
                path,
                f"{subject} is not on the hosts' network {network} (kubeadm.hostNetwork): {why}",
            )

    def _off_host_network(self) -> Iterator[tuple[tuple[str | int, ...], str, str]]:
        """The MetalLB ranges and the kube-vip address outside `hosts_network`, as (path, value,
        why they belong on it)."""
        addresses = [ipaddress.ip_address(h.address) for h in self.hosts]
        if any(a.version != 4 for a in addresses):
            return  # refused by `_ipv4_only_problems`
        if not self.host_network and any(a.is_loopback for a in addresses):
            return  # reached through forwarded ports (Vagrant NAT): their network is not known
        network = self.hosts_network
        for index, value in enumerate(self.load_balancer_addresses):
            address_range = parse_address_range(value)
            if not (address_range.first in network and address_range.last in network):
                yield (
                    ("loadBalancerAddresses", index),
                    value,
                    "MetalLB in L2 mode answers ARP for these addresses, so they must be free "
                    "addresses of the hosts' own network",
                )
        vip = self.kube_vip_address
        if vip is not None and _is_ip(vip) and ipaddress.ip_address(vip) not in network:
            yield (
                ("controlPlaneEndpoint",),
                vip,
                "kube-vip answers ARP for the virtual IP, so it must be a free address of the "
                "hosts' own network",
            )

    def _guessed_network_warnings(self) -> list[tuple[tuple[str | int, ...], str]]:
        """`_off_host_network` when `hostNetwork` is not declared: the guess may be too small (a
        /16 lab, hosts over several /24s, a VLAN the hosts are on), so this is not an error."""
        if self.host_network:
            return []
        network = self.hosts_network
        return [
            (
                path,
                f"{subject} is outside {network}, the hosts' network as guessed from their "
                f"addresses: {why}. Fine if the hosts' layer-2 network is larger (or the hosts "
                "are on that VLAN); declare kubeadm.hostNetwork to have this checked as an error",
            )
            for path, subject, why in self._off_host_network()
        ]

    def _bootstrap_problems(self) -> Iterator[Problem]:
        """`bootstrapHost` must name a control plane of `hosts`: the cluster lives there."""
        name = self.bootstrap_host
        if name is None:
            return
        control_planes = ", ".join(repr(h.name) for h in self.control_planes) or "none"
        why = (
            "it must name the control plane `kubeadm init` ran on, which can never leave the "
            "cluster or change role (control planes: "
            f"{control_planes})"
        )
        host = next((h for h in self.hosts if h.name == name), None)
        if host is None:
            yield Problem(("bootstrapHost",), f"{name!r} is not one of the hosts; {why}")
        elif host.role != "control-plane":
            yield Problem(("bootstrapHost",), f"{name!r} is a {host.role}; {why}")

    def _ipv4_only_problems(self) -> Iterator[Problem]:
        """The target is IPv4-only: Calico's IP pool is configured for IPv4, and node.sh approves a
        kubelet serving certificate only for the node's IPv4 address (it cannot compare IPv6)."""
        why = (
            "the kubeadm target is IPv4-only (Calico's IP pool and the approval of kubelet "
            "serving certificates handle IPv4 addresses only)"
        )
        for index, host in enumerate(self.hosts):
            if ipaddress.ip_address(host.address).version == 6:
                yield Problem(
                    ("hosts", index, "address"),
                    f"{host.address} (host {host.name!r}) is an IPv6 address, but {why}; "
                    "use the host's IPv4 address",
                )
        for key, value in (("podCidr", self.pod_cidr), ("serviceCidr", self.service_cidr)):
            if ipaddress.ip_network(value).version == 6:
                yield Problem((key,), f"{value} is an IPv6 network, but {why}; use an IPv4 CIDR")

    def _endpoint_owner_problems(self) -> Iterator[Problem]:
        if self.control_plane_endpoint is None or len(self.control_planes) < 2:
            return
        host, _ = split_endpoint(self.control_plane_endpoint)
        owner = next((h.name for h in self.hosts if h.address == host), None)
        if owner:
            yield Problem(
                ("controlPlaneEndpoint",),
                f"{host} is host {owner!r}'s own address; with several control planes the "
                "endpoint must be a virtual IP or load balancer that survives any one host",
            )

    def _endpoint_problems(self) -> Iterator[Problem]:
        if self.control_plane_endpoint is None:
            return
        pod = ipaddress.ip_network(self.pod_cidr)
        service = ipaddress.ip_network(self.service_cidr)
        host, port = split_endpoint(self.control_plane_endpoint)
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            ip = None
        if (
            self.api_load_balancer == "kube-vip"
            and port not in (None, 6443)
            and not any(h.address == host for h in self.hosts)
        ):
            yield Problem(
                ("controlPlaneEndpoint",),
                f"port {port}: kube-vip only moves the address, the API servers listen on 6443; "
                "leave the port out, or set apiLoadBalancer: external for a load balancer that "
                "forwards another port",
            )
        if ip is None:
            if self.api_load_balancer == "kube-vip":
                yield Problem(
                    ("controlPlaneEndpoint",),
                    f"{host!r} is a DNS name, but kube-vip announces an IP address; write the "
                    "virtual IP, or set apiLoadBalancer: external if that name points at your "
                    "own load balancer",
                )
            return
        for key, network in (("podCidr", pod), ("serviceCidr", service)):
            if ip in network:
                yield Problem(
                    ("controlPlaneEndpoint",),
                    f"{ip} lies inside {key} {network}; the endpoint must be on the hosts' network",
                )
        for index, address_range in enumerate(self.address_ranges):
            if address_range.contains(str(ip)):
                yield Problem(
                    ("controlPlaneEndpoint",),
                    f"{ip} is inside loadBalancerAddresses[{index}]; MetalLB would hand the API "
                    "server's address to a Service",
                )


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _by_name(host: HostSettings) -> str:
    return host.name


def _duplicates(hosts: list[tuple[int, HostSettings]], key: str) -> Iterator[Problem]:
    """Hosts (index in `hosts`, host) sharing `key` with an earlier one."""
    counts = Counter(getattr(h, key) for _, h in hosts)
    for index, host in hosts:
        value = getattr(host, key)
        if counts[value] > 1:
            first = next(i for i, h in hosts if getattr(h, key) == value)
            if first != index:
                yield Problem(
                    ("hosts", index, key),
                    f"duplicate {key} {value!r} (also hosts[{first}]); every host needs its own",
                )


_UNCHECKED = "hybrid-kube: kubeadm rules run by salvaged_problems"
# A stand-in host for a `hosts` list that failed validation: the rules reading `hosts` are
# skipped, and the model needs one host to be built at all.
_PLACEHOLDER_HOST = {"name": "placeholder", "address": "192.0.2.1", "role": "control-plane"}


def salvaged_problems(section: Any) -> list[tuple[str, str]]:
    """The cross-field problems of a kubeadm section some of whose fields failed validation.

    Field errors stop `KubeadmSettings`' own cross-field rules. Here the section is validated
    again without the failed fields, and only the rules that read none of them run (`_rules`),
    plus duplicate names and addresses among the hosts that validate. So one run reports both a
    typo in `cni` and a MetalLB pool off the declared `hostNetwork`. (key path, message) pairs,
    as `SettingsError` lists them.
    """
    if not isinstance(section, dict):
        return []
    try:
        KubeadmSettings.model_validate(section, context={_UNCHECKED: True})
        return []  # the fields are valid: the rules ran in the caller's validation
    except pydantic.ValidationError as error:
        failed = {_field_name(item["loc"][0]) for item in error.errors() if item["loc"]}
    found = _hosts_duplicates(section) if "hosts" in failed else []
    partial = {
        key: value
        for key, value in section.items()
        if isinstance(key, str) and _field_name(key) not in failed
    }
    partial.setdefault("hosts", [_PLACEHOLDER_HOST])
    try:
        settings = KubeadmSettings.model_validate(partial, context={_UNCHECKED: True})
    except pydantic.ValidationError:
        return [(format_path(("kubeadm", *p.path)), p.message) for p in found]
    found += settings._problems(skip=frozenset(failed))
    return [(format_path(("kubeadm", *p.path)), p.message) for p in found]


def _field_name(key: Any) -> str:
    """The field a stack key (camelCase alias or snake_case name) sets; else the key itself."""
    for name, field in KubeadmSettings.model_fields.items():
        if key in (name, field.alias):
            return name
    return str(key)


def _hosts_duplicates(section: dict[str, Any]) -> list[Problem]:
    """Duplicate host names and addresses among the hosts that validate."""
    if not isinstance(section.get("hosts"), list):
        return []
    valid = []
    for index, raw in enumerate(section["hosts"]):
        try:
            valid.append((index, HostSettings.model_validate(raw)))
        except pydantic.ValidationError:
            continue
    return [*_duplicates(valid, "name"), *_duplicates(valid, "address")]
