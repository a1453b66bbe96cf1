"""Every shipped stack runs the real `__main__.py` under the mock engine, and what it declares is
what a reviewer would accept: strict schema, restricted pods, policies, secrets kept secret."""

from __future__ import annotations

import functools
import json

import pytest
from support import manifest, pod_spec, restricted_violations, run_main, schema_errors

from apps import CATALOG
from components.recording import Recording
from components.stackfile import load_stack, stack_names
from components.workload import CHECKSUM_CONFIG

STACKS = stack_names()
APP_NAMESPACES = tuple(CATALOG)  # every app gets the namespace named after it

PASSWORD_SENTINEL = "valkeyPasswordSentinel0123456789"
SSH_KEY_SENTINEL = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nsshKeySentinel\n-----END OPENSSH PRIVATE KEY-----\n"
)
KUBECONFIG_SENTINEL = "kubeconfig-token-sentinel"  # in the test kubeconfig (conftest)


@functools.cache
def recording(stack: str) -> Recording:
    return run_main(stack)


@functools.cache
def recording_with_secrets(stack: str) -> Recording:
    return run_main(
        stack,
        secrets={
            "appSecrets": {"podinfo": {"valkeyPassword": PASSWORD_SENTINEL}},
            "sshPrivateKey": SSH_KEY_SENTINEL,
        },
    )


def minor_version(stack: str) -> str:
    version = load_stack(stack).config["hybrid-kube:kubernetesVersion"]
    return ".".join(version.split(".")[:2])


def built_in(resource) -> bool:
    """Objects of Kubernetes' own API groups (custom resources are checked against their CRDs)."""
    group = resource.inputs["apiVersion"].rpartition("/")[0]
    return group == "" or group.endswith(".k8s.io") or "." not in group


def app_objects(rec: Recording) -> list[dict]:
    return [
        manifest(r)
        for r in rec.kubernetes_objects()
        if r.inputs.get("metadata", {}).get("namespace") in APP_NAMESPACES
        or (r.inputs.get("kind") == "Namespace" and r.inputs["metadata"]["name"] in APP_NAMESPACES)
    ]


def test_the_three_documented_stacks_ship():
    assert set(STACKS) == {"local", "azure-dev", "onprem-lab"}


@pytest.mark.parametrize("stack", STACKS)
def test_stack_declares_both_apps_and_exports_a_secret_kubeconfig(stack):
    rec = recording(stack)
    kinds = {
        (o["kind"], o["metadata"]["name"], o["metadata"].get("namespace")) for o in app_objects(rec)
    }
    assert ("Deployment", "web", "web") in kinds
    assert ("Deployment", "frontend", "podinfo") in kinds
    assert ("StatefulSet", "valkey", "podinfo") in kinds
    assert rec.outputs["kubeconfig"].secret
    assert rec.outputs["target"].value in ("aks", "kubeadm", "existing")


@pytest.mark.parametrize("stack", STACKS)
def test_every_kubernetes_object_passes_the_strict_schema(stack):
    objects = [manifest(r) for r in recording(stack).kubernetes_objects() if built_in(r)]
    assert len(objects) > 20
    errors = [e for e in (schema_errors(o, minor_version(stack)) for o in objects) if e]
    assert errors == []


@pytest.mark.parametrize("stack", STACKS)
def test_app_objects_go_through_the_cluster_provider(stack):
    rec = recording(stack)
    providers = rec.of_type("pulumi:providers:kubernetes")
    assert len(providers) == 1
    provider = providers[0]
    app_resources = [
        r
        for r in rec.kubernetes_objects()
        if r.inputs.get("metadata", {}).get("namespace") in APP_NAMESPACES
    ]
    assert app_resources
    assert {r.provider_urn for r in app_resources} == {provider.urn}
    assert "kubeconfig" in provider.secret_inputs


def test_local_uses_the_existing_cluster_provider():
    rec = recording("local")
    provider = rec.of_type("pulumi:providers:kubernetes")[0]
    assert provider.name == "existing-provider"
    assert provider.inputs["context"] == "kind-kind"
    assert KUBECONFIG_SENTINEL in provider.inputs["kubeconfig"]


@pytest.mark.parametrize("stack", STACKS)
def test_app_pods_meet_restricted_standard_and_secure_defaults(stack):
    controllers = [
        o for o in app_objects(recording(stack)) if o["kind"] in ("Deployment", "StatefulSet")
    ]
    assert len(controllers) == sum(len(spec.workloads) for spec in CATALOG.values())
    for obj in controllers:
        spec = pod_spec(obj)
        assert restricted_violations(spec) == [], obj["metadata"]["name"]
        assert spec["automountServiceAccountToken"] is False
        assert spec["securityContext"]["runAsUser"] > 10000
        (container,) = spec["containers"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        assert {"cpu", "memory"} <= set(container["resources"]["limits"])
        assert "readinessProbe" in container and "livenessProbe" in container
        tag = container["image"].rsplit(":", 1)[1]
        assert tag != "latest" and any(ch.isdigit() for ch in tag)
        assert CHECKSUM_CONFIG in obj["spec"]["template"]["metadata"]["annotations"]
        if obj["kind"] == "Deployment":
            assert obj["spec"]["replicas"] >= 2
            assert obj["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
            spread = spec["topologySpreadConstraints"][0]
            assert spread["topologyKey"] == "kubernetes.io/hostname"


@pytest.mark.parametrize("stack", STACKS)
def test_every_app_namespace_denies_by_default(stack):
    objects = app_objects(recording(stack))
    for namespace in APP_NAMESPACES:
        ns = next(
            o for o in objects if o["kind"] == "Namespace" and o["metadata"]["name"] == namespace
        )
        assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
        deny = [
            o
            for o in objects
            if o["kind"] == "NetworkPolicy"
            and o["metadata"]["namespace"] == namespace
            and o["metadata"]["name"] == "default-deny"
        ]
        assert len(deny) == 1
        assert deny[0]["spec"]["podSelector"] == {}
        assert deny[0]["spec"]["policyTypes"] == ["Ingress", "Egress"]


@pytest.mark.parametrize("stack", STACKS)
def test_no_secret_value_in_plain_inputs_or_outputs(stack):
    rec = recording_with_secrets(stack)
    sentinels = (PASSWORD_SENTINEL, "sshKeySentinel", KUBECONFIG_SENTINEL)
    seen_in_secret = set()
    for resource in rec.resources:
        for key, value in resource.inputs.items():
            text = json.dumps(value, default=str)
            for sentinel in sentinels:
                if sentinel in text:
                    assert key in resource.secret_inputs, (resource.name, key, sentinel)
                    seen_in_secret.add(sentinel)
    for name, output in rec.outputs.items():
        text = json.dumps(output.value, default=str)
        for sentinel in sentinels:
            if sentinel in text:
                assert output.secret, (name, sentinel)
    assert rec.component_outputs  # every component registers its outputs
    for urn, (outputs, secret) in rec.component_outputs.items():
        for key, value in outputs.items():
            text = json.dumps(value, default=str)
            for sentinel in sentinels:
                if sentinel in text:
                    assert key in secret, (urn, key, sentinel)
    # Each credential this stack uses really reached a resource (as a secret input), so the scan
    # above looked at the right values.
    expected = {
        "local": {PASSWORD_SENTINEL, KUBECONFIG_SENTINEL},
        "azure-dev": {PASSWORD_SENTINEL},
        "onprem-lab": {PASSWORD_SENTINEL, "sshKeySentinel"},
    }[stack]
    assert seen_in_secret == expected
