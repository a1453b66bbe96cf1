"""Every pinned third-party version in one place: Helm charts, manifests, images, packages.

Bump here, run the tests, read the upstream release notes. Nothing else in the code names a
version of something it does not own.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chart:
    """A Helm chart pinned by repository, name and exact version.

    `checked_against` names the upstream file(s), as `owner/repo@tag:path`, in which every
    values key this project sets for the chart was read: Helm ignores unknown keys silently,
    and keys are renamed between chart majors, so a key is only trusted once it has been seen
    at its source at the pinned version (or, where that tag was not readable, the nearest one,
    said so here). Bump `version` and this field together.
    """

    repo: str
    name: str
    version: str
    checked_against: str = ""


# --- platform ---
# The keys each chart is given live in components/platform.py; tests/test_platform.py holds the
# upstream key paths read in `checked_against` and fails on any key outside them.
TRAEFIK = Chart(
    "https://traefik.github.io/charts",
    "traefik",
    "41.5.0",
    checked_against=(
        "traefik/traefik-helm-chart@v41.3.0:traefik/values.yaml, "
        "traefik/templates/_service.tpl, _podtemplate.tpl, deployment.yaml, "
        "poddisruptionbudget.yaml, ingressclass.yaml (the v41.5.0 tag of 2026-09-07 was not "
        "readable here; the v41.4.0 and v41.5.0 release notes, traefik-helm-chart#1985 and "
        "#1997, change no key set here)"
    ),
)
METALLB = Chart(
    "https://metallb.github.io/metallb",
    "metallb",
    "0.16.1",
    checked_against="metallb/metallb@v0.16.1:charts/metallb/values.yaml, templates/speaker.yaml",
)
METRICS_SERVER = Chart(
    "https://kubernetes-sigs.github.io/metrics-server/",
    "metrics-server",
    "3.14.0",
    checked_against=(
        "kubernetes-sigs/metrics-server@metrics-server-helm-chart-3.13.1 and @master 5ed5d3a "
        "(2026-08-04; the 3.14.0 tag of 2026-08-19 was not readable here):"
        "charts/metrics-server/values.yaml, templates/deployment.yaml, templates/pdb.yaml"
    ),
)
KUBELET_CSR_APPROVER = Chart(
    "https://postfinance.github.io/kubelet-csr-approver",
    "kubelet-csr-approver",
    "1.2.12",
    checked_against=(
        "postfinance/kubelet-csr-approver@v1.2.12:charts/kubelet-csr-approver/values.yaml, "
        "templates/deployment.yaml"
    ),
)
LOCAL_STORAGE = Chart(
    "https://openebs.github.io/dynamic-localpv-provisioner",
    "localpv-provisioner",
    "4.4.0",
    checked_against=(
        "openebs/dynamic-localpv-provisioner@develop dc85e2f (chart 4.0.0) and 0055650 "
        "(chart 4.1.1):deploy/helm/charts/values.yaml, templates/hostpath-class.yaml, "
        "templates/deployment.yaml; the 4.4.0 tag was not readable here (keys unchanged "
        "from 2.9.0 to 4.1.1)"
    ),
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

_CALICO_CHECKED = (
    "projectcalico/calico@v3.32.1:charts/tigera-operator/values.yaml, "
    "charts/crd.projectcalico.org.v1/templates/operator.tigera.io_installations.yaml "
    "(docs/upstream-contracts.md)"
)
CALICO = Chart(
    "https://docs.tigera.io/calico/charts",
    "tigera-operator",
    "v3.32.1",
    checked_against=_CALICO_CHECKED,
)
CALICO_CRDS = Chart(
    "https://docs.tigera.io/calico/charts",
    "crd.projectcalico.org.v1",
    "v3.32.1",
    checked_against=_CALICO_CHECKED,
)
"""Since v3.32 the operator chart no longer carries Calico's CRDs: this one, same version, first.
v3.32.1 is the newest tag readable here (2026-06-24); an earlier pin, v3.32.2, was never seen."""
CILIUM = Chart(
    "https://helm.cilium.io/",
    "cilium",
    "1.19.3",
    checked_against="cilium/charts@master:cilium-1.19.3.tgz (cilium/values.yaml, "
    "values.schema.json)",
)
FLANNEL = Chart(
    "https://flannel-io.github.io/flannel/",
    "flannel",
    "v0.28.4",
    checked_against="flannel-io/flannel@v0.28.4:chart/kube-flannel/values.yaml",
)

KUBE_VIP_IMAGE = "ghcr.io/kube-vip/kube-vip:v1.2.2"
"""Static pod that holds the control-plane virtual IP (ARP mode) when there are several.
Environment names checked at kube-vip/kube-vip@v1.2.2:pkg/kubevip/config_envvar.go."""

CONTAINERD_IO = "2.3.*"
"""Docker's `containerd.io` package (apt version glob) for new hosts: containerd 2.3, the LTS
release (supported to 2028-04-30; 2.2 ended 2026-11-06), which containerd's RELEASES.md lists for
Kubernetes 1.35 ("2.2.0+") and 1.36 ("2.3.0+"). Kubernetes 1.36 needs containerd 2.x.

Only hosts without containerd 2.x get it (prepare.sh): bumping this pin never upgrades, and so
never restarts, containerd on running nodes. Those move one node at a time by hand
(docs/onprem.md, "containerd updates")."""

_SANDBOX_IMAGES = {
    "1.36": "registry.k8s.io/pause:3.10.2",
}
_DEFAULT_SANDBOX_IMAGE = "registry.k8s.io/pause:3.10.1"


def sandbox_image(kubernetes_version: str) -> str:
    """The pause image kubeadm of this minor expects (`kubeadm config images list`): 3.10.1 up to
    1.35, 3.10.2 from 1.36 (kubespray's and minikube's generated tables). containerd pins it so
    it is never garbage-collected, and uses it for every new pod sandbox.

    prepare.sh pins it on hosts that are not nodes yet; on a node, the upgrade step moves the pin
    while the node is drained (one node at a time), not prepare on every host at once."""
    minor = ".".join(kubernetes_version.removeprefix("v").split(".")[:2])
    return _SANDBOX_IMAGES.get(minor, _DEFAULT_SANDBOX_IMAGE)
