"""The existing-cluster target: a secret kubeconfig from a file and a provider built from it."""

from __future__ import annotations

import pulumi

from components.existing import EXISTING_CAPABILITIES, ExistingCluster
from components.recording import run_program
from components.settings import ExistingSettings


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


def test_capabilities_are_those_of_a_laptop_cluster():
    assert EXISTING_CAPABILITIES.default_storage_class
    assert not EXISTING_CAPABILITIES.load_balancer
    assert not EXISTING_CAPABILITIES.metrics_server
    assert EXISTING_CAPABILITIES.kubelet_serving_certificates == "self-signed"
