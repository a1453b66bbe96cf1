"""AKS Kubernetes upgrades: the program never sends a version change ARM would refuse, and it
says which `az aks` command brings the cluster to the version the stack asks for."""

from __future__ import annotations

import pytest

from components.aks.upgrades import drift_warning, pinned_patch_warning

NAMES = {"resource_group": "hybrid-kube-azure-dev", "cluster": "hybrid-kube-azure-dev"}


def drift(wanted: str, running: str | None, channel: str = "patch") -> str | None:
    return drift_warning(wanted=wanted, running=running, channel=channel, **NAMES)


@pytest.mark.parametrize(
    ("wanted", "running", "channel"),
    [
        ("1.35", "1.35.7", "patch"),  # the channel keeps the newest patch of the minor
        ("1.35", "1.35.0", "none"),
        ("1.35.2", "1.35.2", "none"),
        ("1.35.2", "1.35.9", "patch"),  # moved past a pinned patch: warned at startup instead
        ("1.35", "1.36.1", "stable"),  # AKS moved to a new minor, as the channel asks
        ("1.35", "1.37.0", "rapid"),
        ("1.35", None, "patch"),  # a new cluster: nothing runs yet
        ("1.35", "(known after deploy: version)", "patch"),
    ],
)
def test_no_advice_when_the_cluster_runs_what_the_stack_asks(wanted, running, channel):
    assert drift(wanted, running, channel) is None


def test_a_minor_up_names_the_commands_that_upgrade_control_plane_then_pools():
    text = drift("1.36", "1.35.7")
    assert text is not None
    assert "kubernetesVersion is 1.36 but AKS cluster hybrid-kube-azure-dev runs 1.35.7" in text
    assert "`pulumi up` does not upgrade AKS" in text
    assert "control plane first and then each pool" in text
    assert (
        "`az aks get-upgrades --resource-group hybrid-kube-azure-dev "
        "--name hybrid-kube-azure-dev --output table`" in text
    )
    assert (
        "`az aks upgrade --resource-group hybrid-kube-azure-dev --name hybrid-kube-azure-dev "
        "--kubernetes-version <a 1.36 version it lists>`" in text
    )
    assert "one minor at a time" not in text


def test_two_minors_up_go_one_at_a_time():
    text = drift("1.37", "1.35.7")
    assert text is not None and "one minor at a time (first to 1.36)" in text
    assert "<a 1.36 version it lists>" in text


def test_a_patch_up_names_the_patch():
    text = drift("1.35.9", "1.35.2", "none")
    assert text is not None
    assert text.endswith(
        "`az aks upgrade --resource-group hybrid-kube-azure-dev --name hybrid-kube-azure-dev "
        "--kubernetes-version 1.35.9`"
    )


@pytest.mark.parametrize("channel", ["patch", "none"])
def test_a_cluster_ahead_of_the_stack_asks_to_raise_the_stack(channel):
    text = drift("1.35", "1.36.2", channel)
    assert text is not None
    assert "AKS never downgrades: set kubernetesVersion to 1.36" in text


@pytest.mark.parametrize(
    ("wanted", "channel", "warns"),
    [
        ("1.35.2", "patch", True),
        ("1.35.2", "stable", True),
        ("1.35.2", "rapid", True),
        ("1.35.2", "none", False),
        ("1.35", "patch", False),
    ],
)
def test_a_pinned_patch_under_a_patching_channel_warns(wanted, channel, warns):
    text = pinned_patch_warning(wanted, channel)
    assert (text is not None) == warns
    if warns:
        assert f"upgradeChannel '{channel}'" in text and "write the minor (1.35)" in text
