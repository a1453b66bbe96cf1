"""Pick the target the stack names and build its cluster; the only place that knows all three."""

from __future__ import annotations

import pulumi

from .cluster import Cluster
from .settings import Settings


def create_cluster(settings: Settings, opts: pulumi.ResourceOptions | None = None) -> Cluster:
    """The cluster for `settings.target`, named after the target so each keeps stable URNs."""
    if settings.target == "aks":
        from .aks import AksCluster, AksClusterArgs

        return AksCluster(
            "aks",
            AksClusterArgs(aks=settings.aks, kubernetes_version=settings.kubernetes_version),
            opts,
        )
    if settings.target == "kubeadm":
        from .kubeadm import KubeadmCluster, KubeadmClusterArgs

        return KubeadmCluster(
            "onprem",
            KubeadmClusterArgs(
                kubeadm=settings.kubeadm,
                kubernetes_version=settings.kubernetes_version,
                ssh_private_key=settings.ssh_private_key,
            ),
            opts,
        )
    from .existing import ExistingCluster

    return ExistingCluster("existing", settings.existing or _default_existing(), opts)


def _default_existing():
    from .settings import ExistingSettings

    return ExistingSettings()
