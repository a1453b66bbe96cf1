"""Every pinned third-party version in one place: Helm charts, manifests, images, packages.

Bump here, run the tests, read the upstream release notes. Nothing else in the code names a
version of something it does not own.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chart:
    """A Helm chart pinned by repository, name and exact version."""

    repo: str
    name: str
    version: str


# --- platform ---
TRAEFIK = Chart("https://traefik.github.io/charts", "traefik", "41.5.0")
METALLB = Chart("https://metallb.github.io/metallb", "metallb", "0.16.1")
METRICS_SERVER = Chart(
    "https://kubernetes-sigs.github.io/metrics-server/", "metrics-server", "3.14.0"
)
KUBELET_CSR_APPROVER = Chart(
    "https://postfinance.github.io/kubelet-csr-approver", "kubelet-csr-approver", "1.2.12"
)
LOCAL_STORAGE = Chart(
    "https://openebs.github.io/dynamic-localpv-provisioner", "localpv-provisioner", "4.4.0"
)
LOCAL_STORAGE_CLASS = "local-hostpath"


def local_storage_values(default_class: bool) -> dict:
    """Values for LOCAL_STORAGE: one hostpath StorageClass, nothing else, no phoning home."""
    return {
        "hostpathClass": {
            "enabled": True,
            "name": LOCAL_STORAGE_CLASS,
            "isDefaultClass": default_class,
            "basePath": "/var/local-hostpath",
        },
        "analytics": {"enabled": False},
    }


# --- kubeadm ---
# The on-prem target (components/kubeadm). Charts are installed through pulumi_kubernetes Helm
# Releases; the rest is written onto the hosts by the scripts in components/kubeadm/scripts.

CALICO = Chart("https://docs.tigera.io/calico/charts", "tigera-operator", "v3.32.2")
CALICO_CRDS = Chart("https://docs.tigera.io/calico/charts", "crd.projectcalico.org.v1", "v3.32.2")
"""Since v3.32 the operator chart no longer carries Calico's CRDs: this one, same version, first."""
CILIUM = Chart("https://helm.cilium.io/", "cilium", "1.19.3")
FLANNEL = Chart("https://flannel-io.github.io/flannel/", "flannel", "v0.28.4")

KUBE_VIP_IMAGE = "ghcr.io/kube-vip/kube-vip:v1.2.2"
"""Static pod that holds the control-plane virtual IP (ARP mode) when there are several."""

CONTAINERD_IO = "2.2.*"
"""Docker's `containerd.io` package (apt version glob): containerd 2.x, required from 1.36."""

SANDBOX_IMAGE = "registry.k8s.io/pause:3.10.1"
"""The pause image kubeadm 1.34 expects; pinned in containerd so it is never garbage-collected."""
