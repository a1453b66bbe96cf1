"""Phase 4: the pod network, as a Helm release through the Kubernetes provider.

Why a Helm release rather than `kubectl apply` in a remote command: the chart and its values are
then part of the Pulumi model (diffed in previews, upgraded by bumping components/versions.py,
removed on destroy), exactly like the platform add-ons, and the only host-side dependency is the
API server. The release goes through the cluster's provider, whose kubeconfig waits for
`kubeadm init`; `KubeadmCluster.ready` lists the release so the platform layer, and the apps after
it, install nothing before pods can get addresses.

Every CNI is told the pod CIDR kubeadm uses (`podSubnet`): Calico's IP pool, Cilium's Kubernetes
IPAM (node podCIDRs allocated from podSubnet), Flannel's network.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from .. import helm, versions
from ..settings.kubeadm import KubeadmSettings
from ..versions import Chart

PRIVILEGED = {
    "pod-security.kubernetes.io/enforce": "privileged",
    "pod-security.kubernetes.io/audit": "privileged",
    "pod-security.kubernetes.io/warn": "privileged",
}


def calico_values(settings: KubeadmSettings) -> dict[str, Any]:
    return {
        "installation": {
            "cni": {"type": "Calico"},
            "calicoNetwork": {
                # VXLAN needs no BGP peering (one UDP port, 4789) and works on any L2/L3 lab.
                "bgp": "Disabled",
                "ipPools": [
                    {
                        "cidr": settings.pod_cidr,
                        "blockSize": 26,
                        "encapsulation": "VXLAN",
                        "natOutgoing": "Enabled",
                        "nodeSelector": "all()",
                    }
                ],
                # The node's InternalIP is the node-ip kubeadm registered, not the default route.
                "nodeAddressAutodetectionV4": {"kubernetes": "NodeInternalIP"},
            },
        }
    }


def cilium_values(settings: KubeadmSettings) -> dict[str, Any]:
    host, port = settings.endpoint
    return {
        "ipam": {"mode": "kubernetes"},
        "k8sServiceHost": host,
        "k8sServicePort": port,
        "kubeProxyReplacement": False,
        "operator": {"replicas": 1},
    }


def flannel_values(settings: KubeadmSettings) -> dict[str, Any]:
    return {"podCidr": settings.pod_cidr}


# cni -> (chart, namespace, values)
CNIS = {
    "calico": (versions.CALICO, "tigera-operator", calico_values),
    "cilium": (versions.CILIUM, "kube-system", cilium_values),
    "flannel": (versions.FLANNEL, "kube-flannel", flannel_values),
}


def cni_release_args(settings: KubeadmSettings) -> tuple[Chart, str, dict[str, Any]]:
    chart, namespace, values = CNIS[settings.cni]
    return chart, namespace, values(settings)


def install_cni(
    name: str,
    settings: KubeadmSettings,
    provider: k8s.Provider,
    parent: pulumi.Resource,
) -> k8s.helm.v3.Release:
    chart, namespace, values = cni_release_args(settings)
    opts = pulumi.ResourceOptions(parent=parent, provider=provider)
    depends_on: list[pulumi.Resource] = []
    if namespace != "kube-system":
        # A namespace of our own, so a destroy removes it, labelled privileged: the network
        # plugin's pods use host networking.
        depends_on.append(
            k8s.core.v1.Namespace(
                f"{name}-cni-namespace",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=namespace, labels=PRIVILEGED),
                opts=opts,
            )
        )
    if settings.cni == "calico":
        # The operator's custom resources (Installation, ...) need these CRDs to exist first.
        depends_on.append(
            helm.release(
                f"{name}-cni-crds",
                versions.CALICO_CRDS,
                name="calico-crds",
                namespace=namespace,
                opts=pulumi.ResourceOptions.merge(
                    opts, pulumi.ResourceOptions(depends_on=list(depends_on))
                ),
            )
        )
    return helm.release(
        f"{name}-cni",
        chart,
        name=settings.cni,
        namespace=namespace,
        values=values,
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=depends_on)),
    )
