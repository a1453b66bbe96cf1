"""The contract every target fulfils, so the platform and the apps never ask which target it is.

A target component (`ExistingCluster`, `AksCluster`, `KubeadmCluster`) is a ComponentResource with
four public attributes:

- `kubeconfig`: `pulumi.Output[str]`, always a secret;
- `provider`: a `pulumi_kubernetes.Provider` built from that kubeconfig;
- `capabilities`: a `Capabilities` saying what the cluster offers natively, so the platform layer
  adds only what is missing;
- `ready`: resources that must exist before any workload is created (kubeadm: the pod network),
  empty where the cluster is usable as soon as the provider is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import pulumi
import pulumi_kubernetes as k8s


@dataclass(frozen=True)
class Capabilities:
    """What a cluster provides before hybrid-kube adds anything."""

    load_balancer: bool
    """Services of type LoadBalancer get an external address (cloud LB, Docker Desktop, ...)."""
    default_storage_class: bool
    """A StorageClass is marked default, so a PVC without a class binds."""
    metrics_server: bool
    """`metrics.k8s.io` is served, so HorizontalPodAutoscalers work."""
    kubelet_serving_certificates: Literal["signed", "bootstrap", "self-signed"] = "self-signed"
    """How kubelets prove themselves to metrics-server: `signed` by the cluster CA already,
    `bootstrap` (kubelet `serverTLSBootstrap: true`: the platform approves their CSRs), or
    `self-signed` (kind, minikube: metrics-server must skip verification)."""
    network_policy: Literal["enforced", "not-enforced", "unknown"] = "unknown"
    """Whether the pod network enforces NetworkPolicy objects. The apps always declare them
    (identical everywhere); where they are not enforced, `check`, `render` and the program
    say so."""


@runtime_checkable
class Cluster(Protocol):
    """What every target yields; see the module docstring."""

    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider
    capabilities: Capabilities
    ready: Sequence[pulumi.Resource]


def secret_kubeconfig(value: pulumi.Input[str]) -> pulumi.Output[str]:
    """Every kubeconfig leaves a target through here: it carries credentials."""
    return pulumi.Output.secret(value)


def kubernetes_provider(
    name: str,
    kubeconfig: pulumi.Output[str],
    parent: pulumi.Resource,
    *,
    cluster_identifier: pulumi.Input[str],
    context: str | None = None,
    depends_on: list[pulumi.Resource] | None = None,
) -> k8s.Provider:
    """The Kubernetes provider every platform and app resource is created through.

    `cluster_identifier` is the cluster's stable identity. With it, pulumi-kubernetes replaces
    the provider (and so every object created through it) only when the identity changes; any
    other change of the kubeconfig (a rotated CA or token, a renamed context, kind rewriting
    the file) is an update of the provider that touches no object.

    Server-side apply is on (the provider's default since v4). `delete_unreachable` stays off:
    with it, a `pulumi refresh` while the cluster is merely stopped (`az aks stop`, a laptop
    asleep) would drop every object from the state. To finish a destroy of a cluster that is
    really gone, run `PULUMI_K8S_DELETE_UNREACHABLE=true pulumi destroy` (docs/day2.md).
    """
    return k8s.Provider(
        name,
        k8s.ProviderArgs(
            kubeconfig=kubeconfig,
            context=context,
            cluster_identifier=cluster_identifier,
        ),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=depends_on or []),
    )
