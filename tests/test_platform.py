"""The platform adds exactly what a target lacks, with pinned charts and schema-checked objects."""

from __future__ import annotations

import re

import jsonschema
import pulumi
import pulumi_kubernetes as k8s
import pytest
from support import manifest, restricted_violations, schema_errors

from components import versions
from components.cluster import Capabilities
from components.platform import Node, Platform, PlatformArgs, csr_approver_values
from components.recording import Recording, run_program
from components.settings import PlatformSettings

BARE_METAL = Capabilities(
    load_balancer=False,
    default_storage_class=False,
    metrics_server=False,
    kubelet_serving_certificates="bootstrap",
)
CLOUD = Capabilities(
    load_balancer=True,
    default_storage_class=True,
    metrics_server=True,
    kubelet_serving_certificates="signed",
)
LAPTOP = Capabilities(load_balancer=False, default_storage_class=True, metrics_server=False)
NODES = (Node("cp1", "192.168.56.11"), Node("w1", "192.168.56.21"))
ADDRESSES = ("192.168.56.200-192.168.56.220",)

# The spec shapes of MetalLB's CRDs (metallb.io/v1beta1, api/v1beta1 types): what the custom
# resources must match. Unknown fields are rejected, as the API server's structural schema would.
_LABEL_SELECTORS = {"type": "array", "items": {"type": "object"}}
CRD_SPECS = {
    "IPAddressPool": {
        "type": "object",
        "required": ["addresses"],
        "additionalProperties": False,
        "properties": {
            "addresses": {"type": "array", "items": {"type": "string"}},
            "autoAssign": {"type": "boolean"},
            "avoidBuggyIPs": {"type": "boolean"},
            "serviceAllocation": {"type": "object"},
        },
    },
    "L2Advertisement": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "ipAddressPools": {"type": "array", "items": {"type": "string"}},
            "ipAddressPoolSelectors": _LABEL_SELECTORS,
            "nodeSelectors": _LABEL_SELECTORS,
            "interfaces": {"type": "array", "items": {"type": "string"}},
        },
    },
}


def build(
    capabilities: Capabilities, settings: PlatformSettings | None = None, **extra
) -> Recording:
    def program():
        provider = k8s.Provider("test-provider", kubeconfig=pulumi.Output.secret("{}"))
        Platform(
            "platform",
            PlatformArgs(
                capabilities=capabilities, settings=settings or PlatformSettings(), **extra
            ),
            opts=pulumi.ResourceOptions(providers=[provider]),
        )

    return run_program(program)


def releases(rec: Recording) -> dict[str, dict]:
    return {r.inputs["name"]: r.inputs for r in rec.of_type("kubernetes:helm.sh/v3:Release")}


def metallb_resources(rec: Recording):
    return [r for r in rec.resources if r.type.startswith("kubernetes:metallb.io/")]


def test_cloud_gets_only_the_ingress_controller():
    rec = build(CLOUD)
    assert set(releases(rec)) == {"traefik"}
    assert metallb_resources(rec) == []


def test_laptop_cluster_gets_ingress_and_metrics_without_verification():
    rec = build(LAPTOP)
    found = releases(rec)
    assert set(found) == {"traefik", "metrics-server"}
    assert "--kubelet-insecure-tls" in found["metrics-server"]["values"]["args"]
    # Nothing would give a LoadBalancer Service an address: Helm's wait would never end.
    assert found["traefik"]["values"]["service"]["type"] == "NodePort"


def test_ingress_controller_waits_for_the_address_pool():
    rec = build(BARE_METAL, load_balancer_addresses=ADDRESSES, nodes=NODES)
    traefik = rec.named("platform-traefik")
    assert traefik.inputs["values"]["service"]["type"] == "LoadBalancer"
    for resource in metallb_resources(rec):
        assert resource.urn in traefik.dependencies


def test_bare_metal_without_metallb_gets_a_node_port():
    rec = build(BARE_METAL, PlatformSettings(load_balancer=False), nodes=NODES)
    assert releases(rec)["traefik"]["values"]["service"]["type"] == "NodePort"


def test_bare_metal_gets_every_capability():
    rec = build(BARE_METAL, load_balancer_addresses=ADDRESSES, nodes=NODES)
    found = releases(rec)
    assert set(found) == {
        "traefik",
        "metallb",
        "local-storage",
        "metrics-server",
        "kubelet-csr-approver",
    }
    # Serving certificates are approved, so metrics-server verifies kubelets.
    assert "--kubelet-insecure-tls" not in found["metrics-server"]["values"]["args"]
    storage = found["local-storage"]["values"]["hostpathClass"]
    assert storage["isDefaultClass"] is True
    assert found["local-storage"]["values"]["analytics"]["enabled"] is False


def test_metrics_server_waits_for_the_csr_approver():
    rec = build(BARE_METAL, load_balancer_addresses=ADDRESSES, nodes=NODES)
    approver = rec.named("platform-kubelet-csr-approver")
    assert approver.urn in rec.named("platform-metrics-server").dependencies


def test_csr_approver_trusts_only_the_known_nodes():
    values = csr_approver_values(NODES)
    pattern = re.compile(values["providerRegex"])
    assert pattern.match("cp1") and pattern.match("w1")
    assert not pattern.match("w10") and not pattern.match("evil-cp1")
    assert values["providerIpPrefixes"] == ["192.168.56.11/32", "192.168.56.21/32"]
    assert not re.compile(csr_approver_values(())["providerRegex"]).match("")


def test_metallb_pool_matches_its_crd_and_waits_for_the_chart():
    rec = build(BARE_METAL, load_balancer_addresses=ADDRESSES, nodes=NODES)
    release = rec.named("platform-metallb")
    custom = metallb_resources(rec)
    assert {r.inputs["kind"] for r in custom} == {"IPAddressPool", "L2Advertisement"}
    for resource in custom:
        obj = manifest(resource)
        assert obj["apiVersion"] == "metallb.io/v1beta1"
        jsonschema.validate(obj["spec"], CRD_SPECS[obj["kind"]])
        assert obj["metadata"]["namespace"] == "metallb-system"
        assert release.urn in resource.dependencies
    pool = next(manifest(r) for r in custom if r.inputs["kind"] == "IPAddressPool")
    assert pool["spec"]["addresses"] == list(ADDRESSES)


def test_crd_shapes_reject_a_typo():
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"adresses": ["10.0.0.1/32"]}, CRD_SPECS["IPAddressPool"])


def test_no_load_balancer_without_addresses():
    assert "metallb" not in releases(build(BARE_METAL, nodes=NODES))


def test_every_add_on_can_be_switched_off():
    off = PlatformSettings(ingress=False, load_balancer=False, metrics_server=False, storage=False)
    rec = build(BARE_METAL, off, load_balancer_addresses=ADDRESSES, nodes=NODES)
    assert releases(rec) == {}
    assert rec.kubernetes_objects() == []


def test_charts_are_pinned_exactly_in_one_place():
    rec = build(BARE_METAL, load_balancer_addresses=ADDRESSES, nodes=NODES)
    pinned = {
        (c.repo, c.name, c.version)
        for c in vars(versions).values()
        if isinstance(c, versions.Chart)
    }
    for inputs in releases(rec).values():
        key = (inputs["repositoryOpts"]["repo"], inputs["chart"], inputs["version"])
        assert key in pinned
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", inputs["version"])
        assert inputs["repositoryOpts"]["repo"].startswith("https://")


def test_release_names_are_fixed_and_atomic():
    rec = build(BARE_METAL, load_balancer_addresses=ADDRESSES, nodes=NODES)
    for name, inputs in releases(rec).items():
        assert inputs["atomic"] is True
        assert rec.named(f"platform-{name}").inputs["name"] == name


def test_traefik_serves_the_ingress_class_apps_use():
    rec = build(CLOUD)
    values = releases(rec)["traefik"]["values"]
    assert values["ingressClass"]["name"] == "traefik"
    assert values["deployment"]["replicas"] >= 2
    assert values["service"]["type"] == "LoadBalancer"
    # Its namespace enforces the restricted standard: the pod must declare what it needs.
    pod = {
        "securityContext": values["podSecurityContext"],
        "containers": [{"name": "traefik", "securityContext": values["securityContext"]}],
    }
    assert restricted_violations(pod) == []


def test_add_on_namespaces_pass_the_schema_and_set_pod_security():
    rec = build(BARE_METAL, load_balancer_addresses=ADDRESSES, nodes=NODES)
    namespaces = {
        o["metadata"]["name"]: o
        for o in map(manifest, rec.kubernetes_objects())
        if o["kind"] == "Namespace"
    }
    assert namespaces["traefik"]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == (
        "restricted"
    )
    # MetalLB's speaker and the hostpath provisioner need host access.
    assert (
        namespaces["metallb-system"]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
        == "privileged"
    )
    for namespace in namespaces.values():
        assert schema_errors(namespace, "1.34") is None
