"""Settings of the `kubeadm` target: the user's SSH-reachable hosts and the cluster's networks."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections import Counter
from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from .base import Cidr, DnsLabel, ExistingFile, IpAddress, Port, Problem, StrictModel, check

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
    def _consistent(self) -> KubeadmSettings:
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
        pinned. pulumi-command accepts any host key where `hostKey` is not set, and every step's
        standard input (CA key, join token, certificate key) goes to whoever answers there."""
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
        return found

    @property
    def address_ranges(self) -> list[AddressRange]:
        return [parse_address_range(v) for v in self.load_balancer_addresses]

    # -- cross-field checks --------------------------------------------------------------------

    def _problems(self) -> Iterator[Problem]:
        yield from _duplicates(self.hosts, "name")
        yield from _duplicates(self.hosts, "address")
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
        yield from self._bootstrap_problems()
        yield from self._ipv4_only_problems()
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
        yield from self._endpoint_problems(pod, service)
        if self.control_plane_endpoint and len(control_planes) > 1:
            host, _ = split_endpoint(self.control_plane_endpoint)
            owner = next((h.name for h in self.hosts if h.address == host), None)
            if owner:
                yield Problem(
                    ("controlPlaneEndpoint",),
                    f"{host} is host {owner!r}'s own address; with several control planes the "
                    "endpoint must be a virtual IP or load balancer that survives any one host",
                )

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

    def _endpoint_problems(
        self,
        pod: ipaddress.IPv4Network | ipaddress.IPv6Network,
        service: ipaddress.IPv4Network | ipaddress.IPv6Network,
    ) -> Iterator[Problem]:
        if self.control_plane_endpoint is None:
            return
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


def _by_name(host: HostSettings) -> str:
    return host.name


def _duplicates(hosts: list[HostSettings], key: str) -> Iterator[Problem]:
    counts = Counter(getattr(h, key) for h in hosts)
    for index, host in enumerate(hosts):
        value = getattr(host, key)
        if counts[value] > 1:
            first = next(i for i, h in enumerate(hosts) if getattr(h, key) == value)
            if first != index:
                yield Problem(
                    ("hosts", index, key),
                    f"duplicate {key} {value!r} (also hosts[{first}]); every host needs its own",
                )
