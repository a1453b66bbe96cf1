"""The platform adds exactly what a target lacks, with pinned charts and schema-checked objects."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import jsonschema
import pulumi
import pulumi_kubernetes as k8s
import pytest
from support import manifest, restricted_violations, schema_errors

from components import versions
from components.cluster import Capabilities
from components.network_policy import network_policy_notice
from components.platform import (
    Node,
    Platform,
    PlatformArgs,
    csr_approver_values,
)
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
    network_policy="enforced",
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
            "serviceSelectors": _LABEL_SELECTORS,
        },
    },
}

# Every values key this project may set, as read in each chart's values.yaml at the source named
# in `Chart.checked_against` (components/versions.py). Helm ignores unknown keys, so a renamed or
# misspelt key deploys silently with the chart's default: only keys listed here may be sent. A
# path ending in `.*` is a Kubernetes object the chart copies whole (`toYaml`), checked by the
# schema and Pod Security tests instead. Add a key only after reading it upstream.
UPSTREAM_KEYS: dict[str, frozenset[str]] = {
    # traefik/traefik-helm-chart@v41.3.0 traefik/values.yaml
    "traefik": frozenset(
        {
            "deployment.replicas",
            "podDisruptionBudget.enabled",
            "podDisruptionBudget.maxUnavailable",
            "ingressClass.enabled",
            "ingressClass.isDefaultClass",
            "ingressClass.name",
            "providers.kubernetesIngress.enabled",
            "providers.kubernetesCRD.enabled",
            "service.spec.*",  # templates/_service.tpl: `toYaml .service.spec`
            "podSecurityContext.*",
            "securityContext.*",
            "resources.*",
        }
    ),
    # metallb/metallb@v0.16.1 charts/metallb/values.yaml
    "metallb": frozenset({"frrk8s.enabled"}),
    # kubernetes-sigs/metrics-server@metrics-server-helm-chart-3.13.1 charts/.../values.yaml
    "metrics-server": frozenset(
        {"args", "replicas", "podDisruptionBudget.enabled", "podDisruptionBudget.maxUnavailable"}
    ),
    # postfinance/kubelet-csr-approver@v1.2.12 charts/kubelet-csr-approver/values.yaml
    "kubelet-csr-approver": frozenset(
        {"providerRegex", "providerIpPrefixes", "bypassDnsResolution"}
    ),
    # openebs/dynamic-localpv-provisioner (chart 4.0.0-4.1.1) deploy/helm/charts/values.yaml
    "local-storage": frozenset(
        {
            "hostpathClass.enabled",
            "hostpathClass.name",
            "hostpathClass.isDefaultClass",
            "hostpathClass.basePath",
            "analytics.enabled",
        }
    ),
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


def service_type(rec: Recording) -> str:
    return releases(rec)["traefik"]["values"]["service"]["spec"]["type"]


def leaf_paths(values: dict, prefix: str = "") -> Iterator[str]:
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from leaf_paths(value, f"{path}.")
        else:
            yield path


def unchecked_keys(release: str, values: dict) -> list[str]:
    """The keys of `values` not read in the chart's upstream values.yaml (UPSTREAM_KEYS)."""
    known = UPSTREAM_KEYS[release]
    objects = tuple(k.removesuffix("*") for k in known if k.endswith(".*"))
    return [p for p in leaf_paths(values) if p not in known and not p.startswith(objects)]


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
    assert service_type(rec) == "NodePort"


def test_ingress_controller_waits_for_the_address_pool():
    rec = build(BARE_METAL, load_balancer_addresses=ADDRESSES, nodes=NODES)
    traefik = rec.named("platform-traefik")
    assert service_type(rec) == "LoadBalancer"
    for resource in metallb_resources(rec):
        assert resource.urn in traefik.dependencies


def test_bare_metal_without_metallb_gets_a_node_port():
    rec = build(BARE_METAL, PlatformSettings(load_balancer=False), nodes=NODES)
    assert service_type(rec) == "NodePort"


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


def test_csr_approver_values_do_not_depend_on_host_order():
    # Reordering the stack's hosts must not update the release (Day 2: reorder changes nothing).
    assert csr_approver_values(NODES[::-1]) == csr_approver_values(NODES)


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
    assert service_type(rec) == "LoadBalancer"
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
    levels = {}
    for name, namespace in namespaces.items():
        assert schema_errors(namespace, "1.34") is None
        labels = namespace["metadata"]["labels"]
        modes = {
            mode: labels.get(f"pod-security.kubernetes.io/{mode}")
            for mode in ("enforce", "audit", "warn")
        }
        # One level for every mode: a stricter `warn` than `enforce` prints a warning for every
        # pod a privileged add-on creates, on every rollout.
        assert len(set(modes.values())) == 1, (name, modes)
        levels[name] = modes["enforce"]
    # MetalLB's speaker and the hostpath provisioner need host access; Traefik does not.
    assert levels == {
        "traefik": "restricted",
        "metallb-system": "privileged",
        "local-storage": "privileged",
    }


def test_every_key_sent_to_a_chart_was_read_in_its_upstream_values():
    rec = build(BARE_METAL, load_balancer_addresses=ADDRESSES, nodes=NODES)
    found = releases(rec)
    assert set(found) == set(UPSTREAM_KEYS)
    for name, inputs in found.items():
        assert unchecked_keys(name, inputs["values"]) == [], name


def test_the_upstream_key_check_catches_a_key_the_chart_ignores():
    # The pre-v40 spelling, which chart v41 ignores (every Service became a LoadBalancer).
    assert unchecked_keys("traefik", {"service": {"type": "NodePort"}}) == ["service.type"]
    assert unchecked_keys("traefik", {"service": {"spec": {"type": "NodePort"}}}) == []


def test_every_platform_chart_names_the_upstream_source_its_keys_were_checked_in():
    rec = build(BARE_METAL, load_balancer_addresses=ADDRESSES, nodes=NODES)
    by_name = {c.name: c for c in vars(versions).values() if isinstance(c, versions.Chart)}
    for inputs in releases(rec).values():
        chart = by_name[inputs["chart"]]
        assert re.match(r"^[\w.-]+/[\w.-]+@\S+", chart.checked_against), chart


def test_traefik_watches_only_ingress_and_installs_no_crds():
    rec = build(BARE_METAL, load_balancer_addresses=ADDRESSES, nodes=NODES)
    found = releases(rec)
    providers = found["traefik"]["values"]["providers"]
    assert providers["kubernetesIngress"]["enabled"] is True
    assert providers["kubernetesCRD"]["enabled"] is False
    # The chart's crds/ folder: installed once by Helm, never upgraded; unused here.
    assert found["traefik"]["skipCrds"] is True
    # MetalLB's CRDs are chart templates the address pool needs: they must be installed.
    assert "skipCrds" not in found["metallb"]


def test_metallb_runs_without_the_bgp_backend():
    values = releases(build(BARE_METAL, load_balancer_addresses=ADDRESSES, nodes=NODES))
    assert values["metallb"]["values"]["frrk8s"]["enabled"] is False


def warnings_of(capabilities: Capabilities, caplog, **extra) -> tuple[list[str], Recording]:
    """The warnings a program with this platform logs (the mock engine logs to `logging`)."""
    with caplog.at_level(logging.WARNING):
        caplog.clear()
        rec = build(capabilities, **extra)
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING], rec


@pytest.mark.parametrize(
    ("network_policy", "expected"),
    [
        ("not-enforced", "NetworkPolicies are declared but not enforced on this target: lab"),
        ("unknown", "NetworkPolicies are declared but enforcement is unknown on this target: lab"),
    ],
)
def test_the_program_warns_once_where_network_policies_may_not_hold(
    network_policy, expected, caplog
):
    caps = Capabilities(
        load_balancer=True,
        default_storage_class=True,
        metrics_server=True,
        network_policy=network_policy,
    )
    warnings, rec = warnings_of(caps, caplog, target_description="lab")
    assert [w for w in warnings if "NetworkPolicies" in w] == [
        network_policy_notice(network_policy, "lab")
    ]
    assert warnings[0].startswith(expected)
    # `render` reads it back from the component's outputs.
    outputs, _ = rec.component_outputs[rec.named("platform").urn]
    assert outputs["notices"] == warnings
    assert outputs["networkPolicy"] == network_policy


def test_no_warning_where_network_policies_are_enforced(caplog):
    warnings, rec = warnings_of(CLOUD, caplog, target_description="lab")
    assert CLOUD.network_policy == "enforced"
    assert warnings == []
    assert rec.component_outputs[rec.named("platform").urn][0]["notices"] == []
