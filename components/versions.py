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
METRICS_SERVER = Chart("https://kubernetes-sigs.github.io/metrics-server/", "metrics-server", "3.14.0")
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

CALICO = Chart(repo="https://docs.tigera.io/calico/charts", name="tigera-operator", version="v3.32.2")
CILIUM = Chart(repo="https://helm.cilium.io/", name="cilium", version="1.19.6")
FLANNEL = Chart(repo="https://flannel-io.github.io/flannel/", name="flannel", version="v0.28.4")

KUBE_VIP_IMAGE = "ghcr.io/kube-vip/kube-vip:v1.2.2"
"""Static pod that holds the control-plane virtual IP (ARP mode) when there are several."""

CONTAINERD_IO = "2.2.*"
"""Docker's `containerd.io` package (apt version glob): containerd 2.x, which Kubernetes 1.36 needs."""

SANDBOX_IMAGE = "registry.k8s.io/pause:3.10.1"
"""The pause image kubeadm 1.34 expects; pinned in containerd so it is never garbage-collected."""
