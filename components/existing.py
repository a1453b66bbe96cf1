"""`ExistingCluster`: a cluster somebody else runs (kind, minikube, Docker Desktop, ...)."""

from __future__ import annotations

import pulumi

from .cluster import Capabilities, kubernetes_provider, secret_kubeconfig
from .settings import ExistingSettings

# kind, minikube and Docker Desktop all ship a default StorageClass; none serves metrics, and only
# Docker Desktop answers LoadBalancer Services, so the platform adds the other two.
EXISTING_CAPABILITIES = Capabilities(
    load_balancer=False, default_storage_class=True, metrics_server=False
)


class ExistingCluster(pulumi.ComponentResource):
    """Reach a running cluster through a kubeconfig file and one of its contexts."""

    def __init__(
        self, name: str, args: ExistingSettings, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("hybrid-kube:existing:ExistingCluster", name, None, opts)
        path = args.kubeconfig_path()
        self.kubeconfig = secret_kubeconfig(path.read_text(encoding="utf-8"))
        self.capabilities = EXISTING_CAPABILITIES
        self.ready: list[pulumi.Resource] = []
        self.provider = kubernetes_provider(
            f"{name}-provider", self.kubeconfig, parent=self, context=args.context
        )
        self.register_outputs({"kubeconfig": self.kubeconfig})
