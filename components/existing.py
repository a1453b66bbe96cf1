"""`ExistingCluster`: a cluster somebody else runs (kind, minikube, Docker Desktop, ...)."""

from __future__ import annotations

import pulumi
import yaml

from .cluster import Capabilities, kubernetes_provider, secret_kubeconfig
from .settings import ExistingSettings
from .settings.existing import ExistingCapabilities, offline, stand_in_kubeconfig


def existing_capabilities(declared: ExistingCapabilities) -> Capabilities:
    """What the stack declares its cluster has (`hybrid-kube:existing.capabilities`).

    Kubelets of kind, minikube and Docker Desktop serve self-signed certificates, so a
    metrics-server added here skips their verification.
    """
    return Capabilities(
        load_balancer=declared.load_balancer,
        default_storage_class=declared.default_storage_class,
        metrics_server=declared.metrics_server,
        kubelet_serving_certificates="self-signed",
        network_policy=declared.network_policy,
    )


class ExistingCluster(pulumi.ComponentResource):
    """Reach a running cluster through a kubeconfig file and one of its contexts."""

    def __init__(
        self, name: str, args: ExistingSettings, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("hybrid-kube:existing:ExistingCluster", name, None, opts)
        path = args.kubeconfig_path()
        # The settings refuse a missing file unless it is kubectl's default and nothing will
        # contact the cluster (check, render): those read a stand-in naming the context.
        if offline() and args.kubeconfig is None and not path.is_file():
            text = stand_in_kubeconfig(args.context)
        else:
            text = path.read_text(encoding="utf-8")
        self.kubeconfig = secret_kubeconfig(text)
        self.cluster_identifier = args.cluster_identifier or f"existing:{_context(text, args)}"
        self.capabilities = existing_capabilities(args.capabilities)
        self.ready: list[pulumi.Resource] = []
        self.provider = kubernetes_provider(
            f"{name}-provider",
            self.kubeconfig,
            parent=self,
            context=args.context,
            cluster_identifier=self.cluster_identifier,
        )
        self.register_outputs({"kubeconfig": self.kubeconfig})


def _context(kubeconfig: str, args: ExistingSettings) -> str:
    """The context the provider uses: the configured one, else the file's current-context.

    It names the cluster's identity, so kubeconfig edits that keep the context (a new token or
    CA, another server port) update the provider instead of replacing every object.
    """
    if args.context:
        return args.context
    try:
        config = yaml.safe_load(kubeconfig)
    except yaml.YAMLError:
        config = None
    current = config.get("current-context") if isinstance(config, dict) else None
    return str(current) if current else "current-context"
