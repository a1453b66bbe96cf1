"""`Platform`: give every target the same capabilities, adding only what the cluster lacks.

| capability            | how hybrid-kube provides it where missing                          |
| --------------------- | ------------------------------------------------------------------ |
| ingress               | Traefik on every target (one controller, the same objects)         |
| LoadBalancer Services | MetalLB in L2 mode with the stack's `loadBalancerAddresses`        |
| metrics.k8s.io        | metrics-server (+ kubelet serving-CSR approver on kubeadm)         |
| default StorageClass  | a local-path provisioner on the nodes' disks                       |

Apps never see which of these were added: they get an `IngressInfo` and a cluster that answers
the same APIs. Chart versions live in `components/versions.py`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from . import helm, versions
from .cluster import Capabilities, Cluster
from .settings import PlatformSettings, Settings
from .versions import Chart
from .workload import IngressInfo

INGRESS_NAMESPACE = "traefik"
INGRESS_CLASS = "traefik"


@dataclass(frozen=True)
class Node:
    name: str
    address: str


@dataclass(frozen=True)
class PlatformArgs:
    capabilities: Capabilities
    settings: PlatformSettings
    load_balancer_addresses: Sequence[str] = ()
    nodes: Sequence[Node] = ()
    """Known node names and addresses (kubeadm), so serving CSRs are approved for them only."""
    depends_on: Sequence[pulumi.Resource] = ()
    """What must exist before any add-on installs (e.g. the kubeadm cluster's network plugin)."""

    @classmethod
    def for_cluster(cls, cluster: Cluster, settings: Settings) -> PlatformArgs:
        kubeadm = settings.kubeadm if settings.target == "kubeadm" else None
        return cls(
            capabilities=cluster.capabilities,
            settings=settings.platform,
            load_balancer_addresses=tuple(kubeadm.load_balancer_addresses) if kubeadm else (),
            nodes=tuple(Node(h.name, h.address) for h in kubeadm.hosts) if kubeadm else (),
            depends_on=tuple(cluster.ready),
        )


class Platform(pulumi.ComponentResource):
    """The add-ons a target lacks; `ingress` tells apps where the ingress controller is."""

    def __init__(self, name: str, args: PlatformArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("hybrid-kube:platform:Platform", name, None, opts)
        self._name = name
        self._depends_on = list(args.depends_on)
        wanted, has = args.settings, args.capabilities
        self.releases: dict[str, k8s.helm.v3.Release] = {}

        # Whatever hands out LoadBalancer addresses; the ingress controller waits for it.
        load_balancer: list[pulumi.Resource] = []
        if wanted.load_balancer and not has.load_balancer and args.load_balancer_addresses:
            load_balancer = self._metallb(args.load_balancer_addresses)
        if wanted.storage and not has.default_storage_class:
            self._local_storage()
        if wanted.metrics_server and not has.metrics_server:
            self._metrics_server(has, args.nodes)
        self.ingress: IngressInfo | None = None
        if wanted.ingress:
            self._ingress_controller(
                service_type="LoadBalancer" if has.load_balancer or load_balancer else "NodePort",
                after=load_balancer,
            )
            self.ingress = IngressInfo(INGRESS_CLASS, INGRESS_NAMESPACE, wanted.ingress_domain)
        self.register_outputs({"releases": {k: r.name for k, r in self.releases.items()}})

    # -- building blocks ---------------------------------------------------------------------

    def _namespace(self, name: str, pod_security: str) -> k8s.core.v1.Namespace:
        return k8s.core.v1.Namespace(
            f"{self._name}-{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=name,
                labels={
                    "pod-security.kubernetes.io/enforce": pod_security,
                    "pod-security.kubernetes.io/warn": "restricted",
                    "app.kubernetes.io/managed-by": "hybrid-kube",
                },
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=self._depends_on),
        )

    def _release(
        self,
        key: str,
        chart: Chart,
        namespace: pulumi.Input[str],
        values: dict,
        depends_on: Sequence[pulumi.Resource] = (),
    ) -> k8s.helm.v3.Release:
        release = helm.release(
            f"{self._name}-{key}",
            chart,
            name=key,
            namespace=namespace,
            values=values,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*self._depends_on, *depends_on]),
        )
        self.releases[key] = release
        return release

    def _metallb(self, addresses: Sequence[str]) -> list[pulumi.Resource]:
        # The speaker needs host networking to answer ARP: privileged namespace.
        namespace = self._namespace("metallb-system", "privileged")
        release = self._release("metallb", versions.METALLB, namespace.metadata.name, {})
        # The custom resources need the chart's CRDs and webhook: the Release awaits both.
        after = pulumi.ResourceOptions(parent=self, depends_on=[release])
        meta = k8s.meta.v1.ObjectMetaArgs(name="default", namespace=namespace.metadata.name)
        pool = k8s.apiextensions.CustomResource(
            f"{self._name}-address-pool",
            api_version="metallb.io/v1beta1",
            kind="IPAddressPool",
            metadata=meta,
            spec={"addresses": list(addresses), "autoAssign": True},
            opts=after,
        )
        advertisement = k8s.apiextensions.CustomResource(
            f"{self._name}-l2-advertisement",
            api_version="metallb.io/v1beta1",
            kind="L2Advertisement",
            metadata=meta,
            spec={"ipAddressPools": ["default"]},
            opts=after,
        )
        return [pool, advertisement]

    def _local_storage(self) -> None:
        # The provisioner creates hostPath volumes on the nodes: privileged namespace.
        namespace = self._namespace("local-storage", "privileged")
        self._release(
            "local-storage",
            versions.LOCAL_STORAGE,
            namespace.metadata.name,
            versions.local_storage_values(default_class=True),
        )

    def _metrics_server(self, has: Capabilities, nodes: Sequence[Node]) -> None:
        args: list[str] = []
        if has.kubelet_serving_certificates == "self-signed":
            # kind and minikube kubelets serve self-signed certificates; nothing can verify them.
            args.append("--kubelet-insecure-tls")
        depends_on: list[pulumi.Resource] = []
        if has.kubelet_serving_certificates == "bootstrap":
            depends_on.append(
                self._release(
                    "kubelet-csr-approver",
                    versions.KUBELET_CSR_APPROVER,
                    "kube-system",
                    csr_approver_values(nodes),
                )
            )
        self._release(
            "metrics-server",
            versions.METRICS_SERVER,
            "kube-system",
            {
                "args": args,
                "replicas": 2,
                "podDisruptionBudget": {"enabled": True, "maxUnavailable": 1},
            },
            depends_on=depends_on,
        )

    def _ingress_controller(self, service_type: str, after: Sequence[pulumi.Resource]) -> None:
        """Traefik behind a LoadBalancer Service where the cluster can give it an address.

        Elsewhere (kind, minikube, bare metal without MetalLB) a NodePort Service: Helm's wait
        would otherwise hold the release until it times out and rolls back, waiting for an
        address that never comes.
        """
        namespace = self._namespace(INGRESS_NAMESPACE, "restricted")
        self._release(
            "traefik",
            versions.TRAEFIK,
            namespace.metadata.name,
            {
                "deployment": {"replicas": 2},
                "podDisruptionBudget": {"enabled": True, "maxUnavailable": 1},
                "ingressClass": {"enabled": True, "isDefaultClass": True, "name": INGRESS_CLASS},
                "providers": {
                    "kubernetesIngress": {"enabled": True},
                    "kubernetesCRD": {"enabled": True},
                },
                "service": {"type": service_type},
                # Set explicitly, so the restricted namespace admits the pods whatever the
                # chart's defaults of the day are.
                "podSecurityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": 65532,
                    "runAsGroup": 65532,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"]},
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "resources": {
                    "requests": {"cpu": "100m", "memory": "64Mi"},
                    "limits": {"cpu": "500m", "memory": "256Mi"},
                },
            },
            depends_on=after,
        )


def csr_approver_values(nodes: Sequence[Node]) -> dict:
    """Approve kubelet serving certificates for exactly the known nodes and their addresses."""
    names = "|".join(re.escape(n.name) for n in nodes) or "a^"  # "a^" matches nothing
    return {
        "providerRegex": f"^({names})$",
        "providerIpPrefixes": [f"{n.address}/{32 if ':' not in n.address else 128}" for n in nodes],
        # Lab hosts are rarely in DNS; the name and IP checks above still apply.
        "bypassDnsResolution": True,
    }
