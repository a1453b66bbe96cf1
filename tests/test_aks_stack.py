"""The shipped `azure-dev` stack: it loads, validates, and under mocks the real `__main__.py` builds
the AKS cluster the issue's "done when" describes and deploys everything through its provider."""

from __future__ import annotations

import functools

from support import run_main

from apps import settings_catalog
from components import versions
from components.recording import Recording
from components.settings import load_settings
from components.stackfile import PROJECT_ROOT, load_stack

STACK = "azure-dev"


def raw_settings() -> dict[str, str]:
    config = load_stack(STACK)
    assert config.encrypted == []  # nothing that needs the Pulumi CLI to decrypt
    prefix = "hybrid-kube:"
    return {k.removeprefix(prefix): v for k, v in config.config.items() if k.startswith(prefix)}


@functools.cache
def recording() -> Recording:
    return run_main(STACK)


def test_stack_file_validates_to_the_documented_defaults():
    settings = load_settings(raw_settings(), settings_catalog())
    assert settings.target == "aks"
    assert settings.kubernetes_version == "1.35"
    aks = settings.aks
    assert aks.location == "eastus"
    assert aks.tier == "Free"
    assert aks.protect_cluster is True
    assert aks.upgrade_channel == "patch" and aks.node_os_upgrade_channel == "NodeImage"
    assert (aks.system_pool.vm_size, aks.system_pool.min_count, aks.system_pool.max_count) == (
        "Standard_D2as_v5",
        1,
        2,
    )
    [apps] = aks.pools
    assert (apps.name, apps.vm_size, apps.min_count, apps.max_count) == (
        "apps",
        "Standard_D2as_v5",
        0,
        2,
    )
    # Options that need the user's own ids or addresses stay off in the shipped file.
    assert aks.entra is None and aks.container_registry is None
    assert aks.authorized_ip_ranges == []


def test_one_managed_cluster_as_the_issue_requires():
    rec = recording()
    [cluster] = rec.of_type("azure-native:containerservice:ManagedCluster")
    inputs = cluster.inputs
    assert inputs["enableRBAC"] is True
    assert inputs["networkProfile"]["networkPolicy"] not in (None, "none")
    assert inputs["autoUpgradeProfile"]["upgradeChannel"] not in (None, "none")
    assert inputs["oidcIssuerProfile"]["enabled"] is True
    assert inputs["securityProfile"]["workloadIdentity"]["enabled"] is True
    assert inputs["identity"]["type"] == "SystemAssigned"
    assert "kubeDashboard" not in (inputs.get("addonProfiles") or {})
    assert inputs["kubernetesVersion"] == "1.35"
    pools = inputs["agentPoolProfiles"] + [
        p.inputs for p in rec.of_type("azure-native:containerservice:AgentPool")
    ]
    assert len(pools) == 2
    for pool in pools:
        assert pool["type"] == "VirtualMachineScaleSets"
        assert pool["maxPods"] >= 50
        assert pool["enableAutoScaling"] is True
    [agent_pool] = rec.of_type("azure-native:containerservice:AgentPool")
    assert agent_pool.ignore_changes == ("count",)
    assert cluster.ignore_changes == (
        "kubernetesVersion",
        "agentPoolProfiles[0].orchestratorVersion",
        "agentPoolProfiles[0].count",
    )
    assert cluster.protect


def test_the_stack_file_comments_match_what_it_sets():
    """The comments a student reads beside the keys say what the code does."""
    text = (PROJECT_ROOT / "stacks" / f"Pulumi.{STACK}.yaml").read_text(encoding="utf-8")
    assert "smallest size a system pool accepts" not in text  # it was never true of B2s
    assert "Standard_B" not in text
    assert "protectCluster: true" in text


def test_everything_kubernetes_goes_through_the_aks_provider():
    rec = recording()
    [provider] = rec.of_type("pulumi:providers:kubernetes")
    assert provider.name == "aks-provider"
    assert "kubeconfig" in provider.secret_inputs
    assert provider.inputs["kubeconfig"] == rec.outputs["kubeconfig"].value
    assert rec.outputs["kubeconfig"].secret
    kubernetes = [
        r
        for r in rec.resources
        if r.type.startswith("kubernetes:") and r.type != "pulumi:providers:kubernetes"
    ]
    namespaces = {r.inputs.get("metadata", {}).get("namespace") for r in kubernetes}
    assert {"web", "podinfo"} <= namespaces  # the apps are there
    assert {r.provider_urn for r in kubernetes} == {provider.urn}


def test_platform_adds_only_what_aks_lacks():
    charts = {r.inputs["chart"] for r in recording().of_type("kubernetes:helm.sh/v3:Release")}
    # AKS serves LoadBalancer Services, runs metrics-server and has managed-csi as the default
    # StorageClass: only the ingress controller, which every target gets, is added.
    assert charts == {versions.TRAEFIK.name}
