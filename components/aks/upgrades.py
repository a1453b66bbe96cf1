"""Kubernetes version upgrades of an AKS cluster: why `pulumi up` never sends one, what to run.

ARM refuses a cluster update that changes the control plane's version while the pools' versions
in the same request are neither all unchanged nor all equal to the new control plane version
(`NotAllAgentPoolOrchestratorVersionSpecifiedAndUnchanged`; pulumi-azure-native#2094,
terraform-provider-azurerm#23436, Azure/AKS#4765). The cluster resource carries only the inline
system pool, and with an auto-upgrade channel on, AKS refuses control-plane-only upgrades as well
(learn.microsoft.com/azure/aks/auto-upgrade-cluster, "Control plane upgrade constraints").
So the program sends `kubernetesVersion` only when it creates the cluster, sends no pool version
at all, and ignores version changes afterwards; the upgrade itself is `az aks upgrade`, which
upgrades the control plane first and then each pool (AKS "upgrade-aks-control-plane"). What the
program does instead is compare the version the stack asks for with the one the cluster runs
and say, before anything else happens, which command brings them together.
"""

from __future__ import annotations

import re

_VERSION = re.compile(r"^(?P<major>\d+)\.(?P<minor>\d+)(\.(?P<patch>\d+))?$")

# Channels under which AKS moves to new patches of the running minor by itself.
PATCHING_CHANNELS = frozenset({"patch", "stable", "rapid"})
# Channels under which AKS also moves to new minors by itself.
MINOR_CHANNELS = frozenset({"stable", "rapid"})


def _parse(version: str | None) -> tuple[int, int, int | None] | None:
    match = _VERSION.match(version or "")
    if match is None:
        return None
    patch = match["patch"]
    return int(match["major"]), int(match["minor"]), int(patch) if patch is not None else None


def pinned_patch_warning(wanted: str, channel: str) -> str | None:
    """A patch version under a channel that moves patches: AKS will not stay on it."""
    parsed = _parse(wanted)
    if parsed is None or parsed[2] is None or channel not in PATCHING_CHANNELS:
        return None
    minor = f"{parsed[0]}.{parsed[1]}"
    return (
        f"kubernetesVersion {wanted} names a patch, but aks.upgradeChannel '{channel}' lets AKS "
        f"move to newer patches; write the minor ({minor}) to follow them, or set "
        "upgradeChannel 'none' to stay on this patch"
    )


def drift_warning(
    *, wanted: str, running: str | None, channel: str, resource_group: str, cluster: str
) -> str | None:
    """What to run when the cluster's version differs from `kubernetesVersion`, else None.

    `running` is the cluster's `currentKubernetesVersion` (always a full patch version);
    `wanted` the stack's `kubernetesVersion` (a minor or a patch).
    """
    want, have = _parse(wanted), _parse(running)
    if want is None or have is None:
        return None
    names = f"--resource-group {resource_group} --name {cluster}"
    if have[:2] < want[:2]:
        next_minor = f"{have[0]}.{have[1] + 1}"
        one_at_a_time = (
            ""
            if next_minor == f"{want[0]}.{want[1]}"
            else f" one minor at a time (first to {next_minor})"
        )
        return (
            f"kubernetesVersion is {wanted} but AKS cluster {cluster} runs {running}: "
            "`pulumi up` does not upgrade AKS (ARM refuses the version changes it could send; "
            f"docs/aks.md, Upgrades). Upgrade{one_at_a_time}, control plane first and then each "
            f"pool, with `az aks get-upgrades {names} --output table` and then "
            f"`az aks upgrade {names} --kubernetes-version <a {next_minor} version it lists>`"
        )
    if have[:2] > want[:2]:
        if channel in MINOR_CHANNELS:
            return None  # AKS moved on by itself, as the channel asks.
        return (
            f"AKS cluster {cluster} runs {running}, newer than kubernetesVersion {wanted}, and "
            f"AKS never downgrades: set kubernetesVersion to {have[0]}.{have[1]} so the stack "
            "says what the cluster runs"
        )
    if want[2] is not None and have[2] is not None and have[2] < want[2]:
        return (
            f"kubernetesVersion is {wanted} but AKS cluster {cluster} runs {running}: "
            "`pulumi up` does not upgrade AKS (docs/aks.md, Upgrades); run "
            f"`az aks upgrade {names} --kubernetes-version {wanted}`"
        )
    return None
