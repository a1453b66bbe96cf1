"""The existing-cluster target: a secret kubeconfig from a file and a provider built from it."""

from __future__ import annotations

import pulumi
import pytest
import yaml
from support import run_main
from transitions import plan, record

from apps import settings_catalog
from components.existing import ExistingCluster, existing_capabilities
from components.recording import run_program
from components.settings import ExistingSettings, SettingsError, load_settings
from components.settings.existing import ExistingCapabilities
from components.stackfile import PROJECT_ROOT


def test_kubeconfig_file_becomes_a_secret_provider_input(kubeconfig, tmp_path):
    other = tmp_path / "other-kubeconfig"
    other.write_text(kubeconfig.read_text().replace("kind-kind", "dev"), encoding="utf-8")

    def program():
        cluster = ExistingCluster(
            "existing", ExistingSettings(kubeconfig=str(other), context="dev")
        )
        pulumi.export("kubeconfig", cluster.kubeconfig)

    rec = run_program(program)
    provider = rec.named("existing-provider")
    assert provider.inputs["context"] == "dev"
    assert provider.inputs["kubeconfig"] == other.read_text()
    assert provider.secret_inputs == {"kubeconfig"}
    assert provider.parent == rec.named("existing").urn
    assert rec.outputs["kubeconfig"].secret


def test_default_is_what_kubectl_would_read(kubeconfig):
    rec = run_program(lambda: ExistingCluster("existing", ExistingSettings()))
    provider = rec.named("existing-provider")
    assert provider.inputs["kubeconfig"] == kubeconfig.read_text()
    assert "context" not in provider.inputs  # the kubeconfig's current context


UNDECLARED = existing_capabilities(ExistingCapabilities())


def test_undeclared_capabilities_are_those_of_a_laptop_cluster():
    assert UNDECLARED.default_storage_class
    assert not UNDECLARED.load_balancer
    assert not UNDECLARED.metrics_server
    assert UNDECLARED.kubelet_serving_certificates == "self-signed"


# -- declared capabilities (hybrid-kube:existing.capabilities) ----------------------------------


def test_undeclared_network_policy_is_unknown():
    assert UNDECLARED.network_policy == "unknown"


def test_declared_capabilities_reach_the_cluster_contract(kubeconfig):
    declared = ExistingCapabilities(
        load_balancer=True, metrics_server=True, network_policy="enforced"
    )
    seen = {}

    def program():
        seen["cluster"] = ExistingCluster("existing", ExistingSettings(capabilities=declared))

    run_program(program)
    caps = seen["cluster"].capabilities
    assert (caps.load_balancer, caps.default_storage_class, caps.metrics_server) == (
        True,
        True,
        True,
    )
    assert caps.network_policy == "enforced"
    assert caps.kubelet_serving_certificates == "self-signed"


def local_with(**capabilities) -> dict:
    """The local stack's `existing` section with these capabilities declared (camelCase keys)."""
    section = yaml.safe_load(
        (PROJECT_ROOT / "stacks" / "Pulumi.local.yaml").read_text(encoding="utf-8")
    )["config"]["hybrid-kube:existing"]
    return {"hybrid-kube:existing": {**section, "capabilities": capabilities}}


def release_names(rec) -> set[str]:
    return {r.inputs["name"] for r in rec.of_type("kubernetes:helm.sh/v3:Release")}


def test_minikube_with_its_metrics_server_addon_gets_no_second_one():
    assert "metrics-server" in release_names(run_main("local"))
    rec = run_main("local", overrides=local_with(metricsServer=True))
    assert "metrics-server" not in release_names(rec)
    assert "traefik" in release_names(rec)


def test_a_load_balancer_gives_traefik_a_load_balancer_service():
    rec = run_main("local", overrides=local_with(loadBalancer=True))
    traefik = rec.named("platform-traefik").inputs["values"]
    assert traefik["service"]["spec"]["type"] == "LoadBalancer"


def test_declaring_the_metrics_addon_later_removes_only_hybrid_kubes_metrics_server():
    before = record("local")
    after = record("local", overrides=local_with(metricsServer=True))
    step = plan(before, after)
    assert set(step.deleted) == {"platform-metrics-server"}
    assert not step.created and not step.replaced


def test_declaring_network_policy_changes_no_resource():
    step = plan(record("local"), record("local", overrides=local_with(networkPolicy="enforced")))
    assert not (step.created or step.deleted or step.replaced or step.updated)


@pytest.mark.parametrize(
    ("capabilities", "path", "expected"),
    [
        (
            {"networkPolicy": "yes"},
            "hybrid-kube:existing.capabilities.networkPolicy",
            "'enforced', 'not-enforced' or 'unknown'",
        ),
        (
            {"metricServer": True},
            "hybrid-kube:existing.capabilities.metricServer",
            "did you mean 'metricsServer'?",
        ),
        (
            {"loadBalancer": "sometimes"},
            "hybrid-kube:existing.capabilities.loadBalancer",
            "valid boolean",
        ),
    ],
)
def test_bad_capabilities_name_the_key_and_what_is_allowed(capabilities, path, expected):
    raw = {"target": "existing", "existing": {"capabilities": capabilities}}
    with pytest.raises(SettingsError) as error:
        load_settings(raw, settings_catalog())
    [(where, message)] = error.value.problems
    assert where == path
    assert expected in message


def test_a_stack_without_a_named_context_is_warned_that_use_context_would_move_it():
    from components.settings import load_settings

    unpinned = load_settings({"target": "existing"}, {})
    assert any("existing.context: not set" in w for w in unpinned.warnings)
    for pinned in ({"context": "kind-kind"}, {"clusterIdentifier": "lab"}):
        settings = load_settings({"target": "existing", "existing": pinned}, {})
        assert not any("existing.context" in w for w in settings.warnings)


def test_offline_a_missing_kubeconfig_is_a_stand_in_naming_the_context(tmp_path, monkeypatch):
    from components.settings.existing import without_cluster

    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    with without_cluster():
        rec = run_program(lambda: ExistingCluster("existing", ExistingSettings(context="minikube")))
    provider = rec.named("existing-provider")
    assert provider.inputs["context"] == "minikube"
    assert provider.inputs["clusterIdentifier"] == "existing:minikube"
    stand_in = yaml.safe_load(provider.inputs["kubeconfig"])
    assert stand_in["current-context"] == "minikube"
    assert provider.secret_inputs == {"kubeconfig"}
    # Outside check and render, the same missing file is an error, never a stand-in.
    with pytest.raises(FileNotFoundError):
        run_program(lambda: ExistingCluster("existing", ExistingSettings(context="minikube")))
