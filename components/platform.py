"""`Platform`: give every target the same capabilities, adding only what the cluster lacks.

| capability            | how hybrid-kube provides it where missing                          |
| --------------------- | ------------------------------------------------------------------ |
| ingress               | Traefik on every target (one controller, the same objects)         |
| LoadBalancer Services | MetalLB in L2 mode with the stack's `loadBalancerAddresses`        |
| metrics.k8s.io        | metrics-server (+ kubelet serving-CSR approver on kubeadm)         |
| default StorageClass  | a local-path provisioner on the nodes' disks                       |
| NetworkPolicy         | cannot be added: where the pod network does not enforce it (or it  |
|                       | is unknown), the program, `check` and `render` say so              |

Apps never see which of these were added: they get an `IngressInfo` and a cluster that answers
the same APIs. Chart versions, and the upstream files every values key below was checked in,
live in `components/versions.py`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from . import helm, versions
from .cluster import Capabilities, Cluster
from .network_policy import describe_target, network_policy_notice
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
    target_description: str = "this cluster"
    """How notices name the target and what decides its pod network (`describe_target`)."""

    @classmethod
    def for_cluster(cls, cluster: Cluster, settings: Settings) -> PlatformArgs:
        kubeadm = settings.kubeadm if settings.target == "kubeadm" else None
        return cls(
            capabilities=cluster.capabilities,
            settings=settings.platform,
            load_balancer_addresses=tuple(kubeadm.load_balancer_addresses) if kubeadm else (),
            nodes=tuple(Node(h.name, h.address) for h in kubeadm.hosts) if kubeadm else (),
            depends_on=tuple(cluster.ready),
            target_description=describe_target(settings),
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
        # What the platform cannot add, said once per run; `render` reads `notices` back.
        notice = network_policy_notice(has.network_policy, args.target_description)
        self.notices = [notice] if notice else []
        for notice in self.notices:
            pulumi.log.warn(notice, resource=self)
        self.register_outputs(
            {
                "releases": {k: r.name for k, r in self.releases.items()},
                "networkPolicy": has.network_policy,
                "notices": self.notices,
            }
        )

    # -- building blocks ---------------------------------------------------------------------

    def _namespace(self, name: str, pod_security: str) -> k8s.core.v1.Namespace:
        """A namespace whose Pod Security level is enforced, audited and warned alike.

        One level for all three modes: a `warn` stricter than `enforce` would print a warning
        on every pod of a privileged add-on (MetalLB's speaker, the hostpath provisioner).
        """
        return k8s.core.v1.Namespace(
            f"{self._name}-{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=name,
                labels={
                    **pod_security_labels(pod_security),
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
        skip_crds: bool = False,
    ) -> k8s.helm.v3.Release:
        release = helm.release(
            f"{self._name}-{key}",
            chart,
            name=key,
            namespace=namespace,
            values=values,
            skip_crds=skip_crds,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*self._depends_on, *depends_on]),
        )
        self.releases[key] = release
        return release

    def _metallb(self, addresses: Sequence[str]) -> list[pulumi.Resource]:
        # The speaker needs host networking to answer ARP: privileged namespace.
        namespace = self._namespace("metallb-system", "privileged")
        release = self._release(
            "metallb", versions.METALLB, namespace.metadata.name, METALLB_VALUES
        )
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
            traefik_values(service_type),
            depends_on=after,
            # The apps use only `Ingress`, and the IngressRoute provider is off (below): the
            # chart's `crds/` (Traefik's and Traefik Hub's CRDs), which Helm installs once and
            # never upgrades, are not installed at all. The chart's own traefik-crds chart is
            # deprecated since v38.0.2 (README at v41.3.0), so skipping them is the supported
            # way when no CRD is used.
            skip_crds=True,
        )


# MetalLB in L2 mode only: the chart's default BGP backend, the frr-k8s subchart (a DaemonSet
# with FRR on every node, `frrk8s.enabled: true` in values.yaml at v0.16.1), is not needed for
# ARP announcements. Turning it off on a running cluster removes frr-k8s in the next upgrade;
# the speakers restart once (L2 announcements move briefly).
METALLB_VALUES: dict = {"frrk8s": {"enabled": False}}


def traefik_values(service_type: str) -> dict:
    """Values for the Traefik chart (keys as in traefik/values.yaml at the pinned chart)."""
    return {
        "deployment": {"replicas": 2},
        "podDisruptionBudget": {"enabled": True, "maxUnavailable": 1},
        "ingressClass": {"enabled": True, "isDefaultClass": True, "name": INGRESS_CLASS},
        "providers": {
            "kubernetesIngress": {"enabled": True},
            # IngressRoute & co: unused (apps declare plain Ingress); off, so Traefik neither
            # watches nor needs the CRDs that are not installed (`skip_crds`).
            "kubernetesCRD": {"enabled": False},
        },
        # Since chart v40 the Service type lives under `service.spec` (templates/_service.tpl
        # renders `.service.spec` and nothing else); a `service.type` is ignored silently.
        "service": {"spec": {"type": service_type}},
        # Set explicitly, so the restricted namespace admits the pods whatever the chart's
        # defaults of the day are.
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
    }


def pod_security_labels(level: str) -> dict[str, str]:
    """The Pod Security Admission labels of a namespace: one level for every mode."""
    return {f"pod-security.kubernetes.io/{mode}": level for mode in ("enforce", "audit", "warn")}


def csr_approver_values(nodes: Sequence[Node]) -> dict:
    """Approve kubelet serving certificates for exactly the known nodes and their addresses.

    Sorted by name, so that reordering the stack's hosts changes nothing in the release.
    """
    nodes = sorted(nodes, key=lambda n: n.name)
    names = "|".join(re.escape(n.name) for n in nodes) or "a^"  # "a^" matches nothing
    return {
        "providerRegex": f"^({names})$",
        "providerIpPrefixes": [f"{n.address}/{32 if ':' not in n.address else 128}" for n in nodes],
        # Lab hosts are rarely in DNS; the name and IP checks above still apply.
        "bypassDnsResolution": True,
    }
