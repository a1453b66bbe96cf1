"""Whether the apps' NetworkPolicies hold on a target, and how to say so when they may not.

The apps declare the same policies everywhere (default deny, then exactly their declared peers).
No add-on can make a pod network enforce them, so where it does not, or where that is unknown
(an existing cluster that does not declare it), the program, `check` and `render` say so instead
of staying silent (`Capabilities.network_policy`).
"""

from __future__ import annotations

from .settings import ExistingSettings, Settings


def describe_target(settings: Settings) -> str:
    """The target and what decides its pod network, as notices name it."""
    if settings.target == "kubeadm" and settings.kubeadm is not None:
        return f"kubeadm cluster with kubeadm.cni: {settings.kubeadm.cni}"
    if settings.target == "aks":
        return "AKS cluster"
    existing = settings.existing or ExistingSettings()
    context = existing.context or "the kubeconfig's current context"
    return (
        f"existing cluster ({context}) with existing.capabilities.networkPolicy: "
        f"{existing.capabilities.network_policy}"
    )


def network_policy_notice(network_policy: str, target: str) -> str | None:
    """What to tell the user when the apps' NetworkPolicies may not hold; None when enforced.

    The apps declare the same policies on every target (default deny, then only their declared
    peers); a pod network that ignores them stores them and lets all traffic through.
    """
    if network_policy == "enforced":
        return None
    if network_policy == "not-enforced":
        return (
            f"NetworkPolicies are declared but not enforced on this target: {target}. Traffic "
            "they deny still flows (any pod can reach every app's Services, data stores "
            "included); use a pod network that enforces them (Calico, Cilium, kind >= v0.24) "
            "before relying on them."
        )
    return (
        f"NetworkPolicies are declared but enforcement is unknown on this target: {target}. "
        "Treat them as not enforced until it is known; for an existing cluster, declare it in "
        "hybrid-kube:existing.capabilities.networkPolicy (stacks/Pulumi.local.yaml lists "
        "common clusters)."
    )
