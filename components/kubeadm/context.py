"""What every phase needs: names, settings, connections, credentials and the shared files."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
from pulumi_command import remote

from ..settings.kubeadm import HostSettings, KubeadmSettings
from . import documents
from .connection import Connections
from .credentials import ClusterCredentials


@dataclass(frozen=True)
class Context:
    name: str
    settings: KubeadmSettings
    version: str
    """"1.34" or "1.34.2", as the stack says."""
    parent: pulumi.Resource
    connections: Connections
    credentials: ClusterCredentials
    encryption_config: pulumi.Output[str] = field(init=False)
    """EncryptionConfiguration YAML (secret): every control plane's API server reads it."""
    audit_policy: str = field(init=False)

    def __post_init__(self) -> None:
        encryption = self.credentials.encryption_key.apply(
            lambda key: documents.to_yaml([documents.encryption_configuration(key)])
        )
        object.__setattr__(self, "encryption_config", pulumi.Output.secret(encryption))
        object.__setattr__(self, "audit_policy", documents.to_yaml([documents.audit_policy()]))

    def resource_name(self, host: HostSettings, step: str) -> str:
        """Named by the host's stable name, never its position: `onprem-w1-join`."""
        return f"{self.name}-{host.name}-{step}"

    def connection(self, host: HostSettings) -> remote.ConnectionArgs:
        return self.connections(host)

    @property
    def bootstrap(self) -> HostSettings:
        """The control plane `kubeadm init` ran on (settings.bootstrap_control_plane)."""
        return self.settings.bootstrap_control_plane

    def kube_vip_manifest(self, *, kubeconfig: str) -> str:
        """The kube-vip static pod YAML, or "" when the endpoint needs no kube-vip."""
        address = self.settings.kube_vip_address
        if address is None:
            return ""
        return documents.to_yaml([documents.kube_vip_manifest(address, kubeconfig=kubeconfig)])
