"""Stack settings: every invalid configuration fails with one readable error naming the key,
before any resource is declared."""

from __future__ import annotations

import copy
import json
import runpy

import pulumi
import pytest
from support import MAIN

from apps import settings_catalog
from components.recording import run_program
from components.settings import SettingsError, load_settings
from components.stackfile import load_stack

CATALOG = settings_catalog()


def kubeadm_stack() -> dict:
    return {
        "target": "kubeadm",
        "kubernetesVersion": "1.34",
        "kubeadm": {
            "hosts": [
                {"name": "cp1", "address": "192.168.56.11", "role": "control-plane"},
                {"name": "w1", "address": "192.168.56.21", "role": "worker"},
            ],
            "loadBalancerAddresses": ["192.168.56.200-192.168.56.220"],
        },
    }


def problems(raw: dict) -> list[tuple[str, str]]:
    with pytest.raises(SettingsError) as caught:
        load_settings(raw, CATALOG)
    return caught.value.problems


def edit(path: str, value, base: dict | None = None) -> dict:
    """A copy of `base` (default: a valid kubeadm stack) with `path` (a.b[1].c) set to `value`."""
    raw = copy.deepcopy(base or kubeadm_stack())
    parts = path.replace("[", ".").replace("]", "").split(".")
    node = raw
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node[part]
    last = parts[-1]
    if last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return raw


def test_valid_stack_parses_with_defaults():
    settings = load_settings(kubeadm_stack(), CATALOG)
    assert settings.kubernetes_minor == "1.34"
    assert settings.kubeadm.pod_cidr == "10.244.0.0/16"
    assert settings.kubeadm.endpoint == ("192.168.56.11", 6443)
    assert settings.selected_apps({"web": 0, "podinfo": 0}) == ["web", "podinfo"]


def test_engine_passes_objects_as_json_text():
    raw = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in kubeadm_stack().items()}
    assert load_settings(raw, CATALOG).kubeadm.hosts[1].name == "w1"


INVALID = [
    # (description, raw config, key path, fragment of the message)
    (
        "unknown target",
        edit("target", "gke"),
        "hybrid-kube:target",
        "'aks', 'kubeadm' or 'existing'",
    ),
    (
        "missing kubeadm section",
        {"target": "kubeadm"},
        "hybrid-kube:kubeadm",
        "required when target is 'kubeadm'",
    ),
    ("missing aks section", {"target": "aks"}, "hybrid-kube:aks", "required when target is 'aks'"),
    (
        "version not a version",
        edit("kubernetesVersion", "latest"),
        "hybrid-kube:kubernetesVersion",
        "is not a Kubernetes version",
    ),
    (
        "version out of range",
        edit("kubernetesVersion", "1.29"),
        "hybrid-kube:kubernetesVersion",
        "outside the supported range 1.31-1.36",
    ),
    (
        "version as a YAML float",
        edit("kubernetesVersion", 1.3),
        "hybrid-kube:kubernetesVersion",
        "outside the supported range",
    ),
    (
        "duplicate host name",
        edit("kubeadm.hosts[1].name", "cp1"),
        "hybrid-kube:kubeadm.hosts[1].name",
        "duplicate name 'cp1' (also hosts[0])",
    ),
    (
        "duplicate host address",
        edit("kubeadm.hosts[1].address", "192.168.56.11"),
        "hybrid-kube:kubeadm.hosts[1].address",
        "duplicate address '192.168.56.11'",
    ),
    (
        "invalid IP",
        edit("kubeadm.hosts[0].address", "192.168.56.300"),
        "hybrid-kube:kubeadm.hosts[0].address",
        "not an IPv4 or IPv6 address",
    ),
    (
        "invalid CIDR",
        edit("kubeadm.podCidr", "10.244.0.1/16"),
        "hybrid-kube:kubeadm.podCidr",
        "not a CIDR network",
    ),
    (
        "pod and service CIDRs overlap",
        edit("kubeadm.serviceCidr", "10.244.128.0/17"),
        "hybrid-kube:kubeadm.serviceCidr",
        "overlaps podCidr 10.244.0.0/16",
    ),
    (
        "pod CIDR contains a host",
        edit("kubeadm.podCidr", "192.168.0.0/16"),
        "hybrid-kube:kubeadm.hosts[0].address",
        "lies inside podCidr 192.168.0.0/16",
    ),
    (
        "service CIDR contains a host",
        edit("kubeadm.serviceCidr", "192.168.56.0/24"),
        "hybrid-kube:kubeadm.hosts[1].address",
        "lies inside serviceCidr",
    ),
    (
        "no control plane",
        edit("kubeadm.hosts[0].role", "worker"),
        "hybrid-kube:kubeadm.hosts",
        "no host has role 'control-plane'",
    ),
    (
        "host name not DNS-1123",
        edit("kubeadm.hosts[1].name", "Worker_1"),
        "hybrid-kube:kubeadm.hosts[1].name",
        "not a DNS-1123 label",
    ),
    (
        "unknown role",
        edit("kubeadm.hosts[1].role", "master"),
        "hybrid-kube:kubeadm.hosts[1].role",
        "'control-plane' or 'worker'",
    ),
    (
        "unknown CNI",
        edit("kubeadm.cni", "weave"),
        "hybrid-kube:kubeadm.cni",
        "'calico', 'cilium' or 'flannel'",
    ),
    (
        "reversed LB range",
        edit("kubeadm.loadBalancerAddresses", ["192.168.56.220-192.168.56.200"]),
        "hybrid-kube:kubeadm.loadBalancerAddresses[0]",
        "is reversed",
    ),
    (
        "invalid LB range",
        edit("kubeadm.loadBalancerAddresses", ["192.168.56.200-300"]),
        "hybrid-kube:kubeadm.loadBalancerAddresses[0]",
        "not a range of two IP addresses",
    ),
    (
        "LB range over a host",
        edit("kubeadm.loadBalancerAddresses", ["192.168.56.0/24"]),
        "hybrid-kube:kubeadm.loadBalancerAddresses[0]",
        "contains the address 192.168.56.11",
    ),
    (
        "endpoint as URL",
        edit("kubeadm.controlPlaneEndpoint", "https://192.168.56.10:6443"),
        "hybrid-kube:kubeadm.controlPlaneEndpoint",
        "looks like a URL; write host or host:port",
    ),
    (
        "endpoint port out of range",
        edit("kubeadm.controlPlaneEndpoint", "192.168.56.10:70000"),
        "hybrid-kube:kubeadm.controlPlaneEndpoint",
        "allowed: 1-65535",
    ),
    (
        "ssh port out of range",
        edit("kubeadm.ssh", {"port": 0}),
        "hybrid-kube:kubeadm.ssh.port",
        "greater than or equal to 1",
    ),
    (
        "bastion port out of range",
        edit("kubeadm.ssh", {"bastion": {"host": "jump", "port": 65536}}),
        "hybrid-kube:kubeadm.ssh.bastion.port",
        "less than or equal to 65535",
    ),
    (
        "unknown app",
        edit("apps", ["web", "wordpress"]),
        "hybrid-kube:apps[1]",
        "unknown app 'wordpress'; allowed: web, podinfo",
    ),
    (
        "typo at top level",
        edit("kubernetesVersoin", "1.34"),
        "hybrid-kube:kubernetesVersoin",
        "unknown key (did you mean 'kubernetesVersion'?)",
    ),
    (
        "typo in kubeadm",
        edit("kubeadm.podCIDR", "10.244.0.0/16"),
        "hybrid-kube:kubeadm.podCIDR",
        "did you mean 'podCidr'?",
    ),
    (
        "typo in a host",
        edit("kubeadm.hosts[0].adress", "192.168.56.11"),
        "hybrid-kube:kubeadm.hosts[0].adress",
        "allowed keys: name, address, role, hostKey",
    ),
    (
        "typo in ssh",
        edit("kubeadm.ssh", {"usr": "ubuntu"}),
        "hybrid-kube:kubeadm.ssh.usr",
        "did you mean 'user'?",
    ),
    (
        "typo in platform",
        edit("platform", {"metricServer": False}),
        "hybrid-kube:platform.metricServer",
        "did you mean 'metricsServer'?",
    ),
    (
        "typo in existing",
        {"target": "existing", "existing": {"contxt": "kind"}},
        "hybrid-kube:existing.contxt",
        "did you mean 'context'?",
    ),
    (
        "kubeconfig missing",
        {"target": "existing", "existing": {"kubeconfig": "/nonexistent/kc"}},
        "hybrid-kube:existing.kubeconfig",
        "file '/nonexistent/kc' does not exist",
    ),
    (
        "private key file missing",
        edit("kubeadm.ssh", {"privateKeyPath": "/nonexistent/id"}),
        "hybrid-kube:kubeadm.ssh.privateKeyPath",
        "does not exist",
    ),
    (
        "even control planes",
        edit(
            "kubeadm.hosts",
            [
                {"name": "cp1", "address": "192.168.56.11", "role": "control-plane"},
                {"name": "cp2", "address": "192.168.56.12", "role": "control-plane"},
            ],
        ),
        "hybrid-kube:kubeadm.hosts",
        "etcd needs an odd number",
    ),
    (
        "unknown app secret",
        edit("appSecrets", {"podinfo": {"password": "x"}}),
        "hybrid-kube:appSecrets.podinfo.password",
        "reads: valkeyPassword",
    ),
    (
        "bare metal LB without addresses",
        edit("kubeadm.loadBalancerAddresses", []),
        "hybrid-kube:kubeadm.loadBalancerAddresses",
        "required while platform.loadBalancer is on",
    ),
    (
        "object given as text",
        edit("kubeadm", "hosts: cp1"),
        "hybrid-kube:kubeadm",
        "expected an object or list",
    ),
]


@pytest.mark.parametrize(
    ("raw", "path", "fragment"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_invalid_configuration_names_key_and_problem(raw, path, fragment):
    if isinstance(raw.get("kubeadm"), str):
        raw = {**raw, "kubeadm": "{not json"}
    found = problems(raw)
    assert any(p == path and fragment in m for p, m in found), found


def test_every_problem_is_reported_at_once():
    raw = kubeadm_stack()
    raw["target"] = "gke"
    raw["kubernetesVersion"] = "2.0"
    raw["kubeadm"]["cni"] = "weave"
    raw["kubeadm"]["hosts"][1]["name"] = "W1"
    raw["apps"] = ["nope"]
    paths = {path for path, _ in problems(raw)}
    assert {
        "hybrid-kube:target",
        "hybrid-kube:kubernetesVersion",
        "hybrid-kube:kubeadm.cni",
        "hybrid-kube:kubeadm.hosts[1].name",
        "hybrid-kube:apps[0]",
    } <= paths


def test_secret_values_never_appear_in_errors():
    raw = kubeadm_stack()
    raw["sshPrivateKey"] = {"pem": "-----BEGIN OPENSSH PRIVATE KEY----- sentinel"}
    raw["appSecrets"] = {"podinfo": {"valkeyPassword": ["hunter2-sentinel"]}}
    with pytest.raises(SettingsError) as caught:
        load_settings(raw, CATALOG)
    message = str(caught.value)
    assert "hybrid-kube:sshPrivateKey" in message
    assert "hybrid-kube:appSecrets.podinfo.valkeyPassword" in message
    assert "sentinel" not in message


def test_error_message_lists_each_problem_on_its_own_line():
    message = str(SettingsError([("hybrid-kube:a", "x"), ("hybrid-kube:b", "y")]))
    assert message.splitlines() == [
        "invalid stack configuration (2 problems):",
        "  - hybrid-kube:a: x",
        "  - hybrid-kube:b: y",
    ]


def test_program_stops_before_declaring_anything():
    """`pulumi up` on a broken stack: a RunError (no traceback) and not one resource declared."""
    config = load_stack(
        "local", overrides={"hybrid-kube:kubeadm": {"hosts": []}, "hybrid-kube:target": "kubeadm"}
    )
    caught: list[BaseException] = []

    def program():
        try:
            runpy.run_path(str(MAIN), run_name="__main__")
        except pulumi.RunError as error:
            caught.append(error)

    recording = run_program(program, config.config, config.secret_keys)
    assert recording.resources == []
    assert len(caught) == 1
    assert "hybrid-kube:kubeadm.hosts: List should have at least 1 item" in str(caught[0])


def test_credentials_typed_into_the_stack_file_in_plain_text_are_refused():
    raw = kubeadm_stack()
    raw["sshPrivateKey"] = "-----BEGIN OPENSSH PRIVATE KEY-----"
    raw["appSecrets"] = {"podinfo": {"valkeyPassword": "plain-text-password"}}
    found = dict(problems_with_secret_keys(raw, secret_keys=set()))
    assert "pulumi config set --secret sshPrivateKey" in found["hybrid-kube:sshPrivateKey"]
    assert "stored in plain text" in found["hybrid-kube:appSecrets"]
    assert "plain-text-password" not in str(found)
    # Set with --secret, the same values are accepted.
    settings = load_settings(raw, CATALOG, secret_keys={"sshPrivateKey", "appSecrets"})
    assert settings.ssh_private_key is not None


def problems_with_secret_keys(raw: dict, secret_keys: set[str]) -> list[tuple[str, str]]:
    with pytest.raises(SettingsError) as caught:
        load_settings(raw, CATALOG, secret_keys=secret_keys)
    return caught.value.problems


def test_aks_advice_reaches_the_stack_warnings_with_its_key_path():
    from components.settings import load_settings

    burstable = load_settings(
        {
            "target": "aks",
            "aks": {"location": "eastus", "systemPool": {"vmSize": "Standard_B2s"}},
        },
        {},
    )
    assert any(w.startswith("hybrid-kube:aks.systemPool.vmSize: ") for w in burstable.warnings)
    default = load_settings({"target": "aks", "aks": {"location": "eastus"}}, {})
    assert not any(w.startswith("hybrid-kube:aks.") for w in default.warnings)
