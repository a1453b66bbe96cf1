"""The documents the hosts receive: kubeadm v1beta4 shapes, Secrets encryption, audit policy,
kube-vip's static pod, and the CA discovery hash (checked against kubeadm's documented openssl
pipeline)."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import kubernetes_validate
import pytest
import yaml

from components.kubeadm import documents
from components.kubeadm.commands import script_text
from components.kubeadm.credentials import ca_cert_hash
from components.settings import KubeadmSettings

TOKEN = "abcdef.0123456789abcdef"
KEY = "0f" * 32


def settings(**extra: Any) -> KubeadmSettings:
    raw = {
        "hosts": [
            {"name": "cp1", "address": "192.168.56.11", "role": "control-plane"},
            {"name": "cp2", "address": "192.168.56.12", "role": "control-plane"},
            {"name": "cp3", "address": "192.168.56.13", "role": "control-plane"},
            {"name": "w1", "address": "192.168.56.21", "role": "worker"},
        ],
        "controlPlaneEndpoint": "192.168.56.10",
        "podCidr": "10.32.0.0/16",
        "serviceCidr": "10.96.0.0/12",
    }
    raw.update(extra)
    return KubeadmSettings.model_validate(raw)


def walk(node: Any, path: str = ""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield f"{path}.{key}", key, value
            yield from walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{path}[{index}]")


def v1beta4_problems(docs: list[dict]) -> list[str]:
    """What a v1beta3 habit would get wrong in v1beta4."""
    found = []
    for doc in docs:
        for where, key, value in walk(doc):
            well_formed = isinstance(value, list) and all(
                isinstance(a, dict) and set(a) == {"name", "value"} and isinstance(a["value"], str)
                for a in value
            )
            if key in ("extraArgs", "kubeletExtraArgs") and not well_formed:
                found.append(f"{where} is not a list of {{name, value}} strings")
            if key == "timeoutForControlPlane":
                found.append(f"{where}: moved to InitConfiguration.timeouts in v1beta4")
    return found


def test_init_documents_round_trip_and_use_v1beta4_shapes():
    text = documents.to_yaml(
        documents.init_documents(settings(), "1.34.2", token=TOKEN, certificate_key=KEY)
    )
    docs = list(yaml.safe_load_all(text))
    assert [d["kind"] for d in docs] == [
        "InitConfiguration",
        "ClusterConfiguration",
        "KubeletConfiguration",
        "KubeProxyConfiguration",
    ]
    assert v1beta4_problems(docs) == []
    init, cluster, _, proxy = docs
    assert init["bootstrapTokens"][0]["token"] == TOKEN
    assert init["certificateKey"] == KEY
    assert init["timeouts"]["controlPlaneComponentHealthCheck"] == "4m0s"
    assert init["localAPIEndpoint"] == {"advertiseAddress": "192.168.56.11", "bindPort": 6443}
    assert cluster["kubernetesVersion"] == "v1.34.2"
    assert cluster["controlPlaneEndpoint"] == "192.168.56.10:6443"
    assert cluster["networking"]["podSubnet"] == proxy["clusterCIDR"] == "10.32.0.0/16"
    args = {a["name"]: a["value"] for a in cluster["apiServer"]["extraArgs"]}
    assert args["encryption-provider-config"] == documents.ENCRYPTION_CONFIG_PATH
    assert args["audit-policy-file"] == documents.AUDIT_POLICY_PATH
    mounts = {v["hostPath"]: v for v in cluster["apiServer"]["extraVolumes"]}
    assert mounts[documents.APISERVER_DIR]["readOnly"] is True
    assert mounts[documents.AUDIT_LOG_DIR]["readOnly"] is False
    # With a worker, the control planes keep kubeadm's default NoSchedule taint.
    assert "taints" not in init["nodeRegistration"]


def test_a_minor_version_is_filled_in_from_the_installed_kubeadm():
    cluster = documents.cluster_configuration(settings(), "1.34")
    assert cluster["kubernetesVersion"] == documents.INSTALLED_VERSION_MARKER
    assert documents.INSTALLED_VERSION_MARKER in script_text("init.sh")


def test_a_cluster_without_workers_lets_the_control_plane_run_workloads():
    lone = KubeadmSettings.model_validate(
        {"hosts": [{"name": "cp1", "address": "192.168.56.11", "role": "control-plane"}]}
    )
    init = documents.init_configuration(lone, token=TOKEN, certificate_key=KEY)
    assert init["nodeRegistration"]["taints"] == []


def test_join_documents():
    s = settings()
    worker = documents.join_configuration(
        s, s.workers[0], token=TOKEN, ca_cert_hash="sha256:" + "a" * 64, certificate_key=None
    )
    assert v1beta4_problems([worker]) == []
    assert worker["nodeRegistration"]["name"] == "w1"
    assert "controlPlane" not in worker
    with pytest.raises(ValueError):
        documents.join_configuration(
            s, s.control_planes[1], token=TOKEN, ca_cert_hash="sha256:x", certificate_key=None
        )
    admit = documents.admit_configuration(s, token=TOKEN, certificate_key=KEY)
    assert admit["kind"] == "InitConfiguration" and admit["bootstrapTokens"][0]["ttl"] == "2h0m0s"


def test_admit_configuration_names_the_bootstrap_hosts_endpoint_and_registration():
    # `kubeadm init phase` would otherwise default both from the default route and the hostname.
    s = settings()
    admit = documents.admit_configuration(s, token=TOKEN, certificate_key=KEY)
    init = documents.init_configuration(s, token=TOKEN, certificate_key=KEY)
    assert admit["localAPIEndpoint"] == {"advertiseAddress": "192.168.56.11", "bindPort": 6443}
    assert admit["nodeRegistration"]["name"] == "cp1"
    assert {"name": "node-ip", "value": "192.168.56.11"} in admit["nodeRegistration"][
        "kubeletExtraArgs"
    ]
    assert admit["nodeRegistration"] == init["nodeRegistration"]
    assert v1beta4_problems([admit]) == []


def test_admit_configuration_does_not_change_with_the_first_worker():
    # kubeadm init needs the taint decision (no worker: the control plane runs workloads); the
    # admit step's `init phase bootstrap-token/upload-certs` does not, so adding the first worker
    # (or removing the last) must not re-run every admit step.
    alone = settings(hosts=[{"name": "cp1", "address": "192.168.56.11", "role": "control-plane"}])
    assert documents.admit_configuration(
        alone, token=TOKEN, certificate_key=KEY
    ) == documents.admit_configuration(settings(), token=TOKEN, certificate_key=KEY)
    init = documents.init_configuration(alone, token=TOKEN, certificate_key=KEY)
    assert init["nodeRegistration"]["taints"] == []


def test_ipv6_endpoint_is_bracketed():
    # Hosts are IPv4-only (see the settings); an external balancer's address may still be IPv6.
    s = settings(controlPlaneEndpoint="[fd00::10]:6443", apiLoadBalancer="external")
    assert documents.endpoint(s) == "[fd00::10]:6443"


def test_encryption_configuration_and_audit_policy():
    config = documents.encryption_configuration("c2VjcmV0")
    (resource,) = config["resources"]
    assert resource["resources"] == ["secrets"]
    assert resource["providers"][0]["secretbox"]["keys"][0]["secret"] == "c2VjcmV0"
    assert resource["providers"][-1] == {"identity": {}}  # reads Secrets written before
    policy = documents.audit_policy()
    assert policy["apiVersion"] == "audit.k8s.io/v1"
    levels = [rule["level"] for rule in policy["rules"]]
    secrets_rule = next(
        i
        for i, rule in enumerate(policy["rules"])
        if any("secrets" in r.get("resources", []) for r in rule.get("resources", []))
    )
    # First match wins: Secrets are logged at Metadata before any rule that logs bodies.
    assert levels[secrets_rule] == "Metadata"
    assert secrets_rule < levels.index("Request")


def audit_level(
    policy: dict, *, user: str, groups: list[str], verb: str, group: str, resource: str
) -> str:
    """The level the API server gives a request: the first rule that matches it (audit.k8s.io)."""
    for rule in policy["rules"]:
        if "nonResourceURLs" in rule:
            continue
        if "users" in rule and user not in rule["users"]:
            continue
        if "userGroups" in rule and not set(groups) & set(rule["userGroups"]):
            continue
        if "verbs" in rule and verb not in rule["verbs"]:
            continue
        if "resources" in rule and not any(
            kinds.get("group", "") == group
            and ("resources" not in kinds or resource in kinds["resources"])
            for kinds in rule["resources"]
        ):
            continue
        return rule["level"]
    return "None"


def test_audit_policy_drops_lease_heartbeats_and_node_reads_but_keeps_what_matters():
    policy = documents.audit_policy()
    node = {"user": "system:node:w1", "groups": ["system:nodes", "system:authenticated"]}
    admin = {"user": "alice", "groups": ["kubeadm:cluster-admins"]}
    controller = {"user": "system:kube-controller-manager", "groups": []}
    cases = [
        # Heartbeats and leader election: several writes per second, no audit value.
        (node, "update", "coordination.k8s.io", "leases", "None"),
        (controller, "update", "coordination.k8s.io", "leases", "None"),
        # The kubelets' routine reads are noise; their reads of Secrets are not.
        (node, "watch", "", "pods", "None"),
        (node, "get", "", "nodes", "None"),
        (node, "list", "", "services", "None"),
        (node, "get", "", "secrets", "Metadata"),
        (node, "watch", "", "configmaps", "Metadata"),
        (node, "patch", "", "nodes", "Request"),  # node writes stay audited
        (admin, "get", "", "secrets", "Metadata"),
        (admin, "create", "", "secrets", "Metadata"),  # never a Secret's body
        (admin, "create", "apps", "deployments", "Request"),
        (admin, "get", "apps", "deployments", "Metadata"),
    ]
    for who, verb, group, resource, level in cases:
        got = audit_level(policy, verb=verb, group=group, resource=resource, **who)
        assert got == level, (who["user"], verb, group, resource)


@pytest.mark.parametrize(
    "kubeconfig", [documents.SUPER_ADMIN_KUBECONFIG, documents.ADMIN_KUBECONFIG]
)
def test_kube_vip_static_pod_passes_the_strict_schema(kubeconfig):
    pod = documents.kube_vip_manifest("192.168.56.10", kubeconfig=kubeconfig)
    text = documents.to_yaml([pod]).replace(documents.VIP_INTERFACE_MARKER, "eth1")
    obj = yaml.safe_load(text)
    kubernetes_validate.validate(obj, "1.34", strict=True)
    assert obj["spec"]["hostNetwork"] is True
    assert obj["spec"]["volumes"][0]["hostPath"] == {"path": kubeconfig, "type": "File"}
    container = obj["spec"]["containers"][0]
    assert container["volumeMounts"][0]["mountPath"] == documents.ADMIN_KUBECONFIG
    assert set(container["securityContext"]["capabilities"]["add"]) == {"NET_ADMIN", "NET_RAW"}


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_ca_hash_matches_kubeadms_documented_openssl_pipeline(tmp_path):
    key = tmp_path / "ca.key"
    cert = tmp_path / "ca.crt"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-new",
            "-key",
            str(key),
            "-subj",
            "/CN=kubernetes",
            "-days",
            "1",
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    pipeline = (
        f"openssl x509 -pubkey -in {cert} | openssl rsa -pubin -outform der 2>/dev/null"
        " | openssl dgst -sha256 -hex | sed 's/^.* //'"
    )
    expected = subprocess.run(
        ["bash", "-c", pipeline], check=True, capture_output=True, text=True
    ).stdout.strip()
    public_pem = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout"], check=True, capture_output=True, text=True
    ).stdout
    assert len(expected) == 64
    assert ca_cert_hash(public_pem) == f"sha256:{expected}"


def test_ca_hash_rejects_what_is_not_a_public_key():
    with pytest.raises(ValueError):
        ca_cert_hash("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(ValueError):
        ca_cert_hash("-----BEGIN PUBLIC KEY-----\nnot base64!\n-----END PUBLIC KEY-----\n")
