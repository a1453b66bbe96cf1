"""`hybrid-kube preflight`: dispatch by target, the text and JSON reports, exit codes."""

from __future__ import annotations

import json
import sys
import types

import pytest
from test_cli import broken_project

from components.cli import main
from components.preflight import Finding
from components.preflight.report import text_lines
from components.settings.kubeadm import KubeadmSettings

FINDINGS = [
    Finding("existing.api", "cluster", "ok", "the API answers"),
    Finding("existing.version", "cluster", "fail", "1.20 is too old", "upgrade the cluster"),
    Finding("existing.storage", "storage", "warn", "two default classes", "keep one"),
]

# A well-formed ed25519 public key (the settings check the key data).
PINNED_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIC"


def existing_project(tmp_path):
    project = broken_project(tmp_path)
    (project / "stacks" / "Pulumi.ex.yaml").write_text(
        "config:\n  hybrid-kube:target: existing\n", encoding="utf-8"
    )
    return project


@pytest.fixture
def fake_existing(monkeypatch):
    """A stand-in `components.preflight.existing` returning FINDINGS (minus any the test drops)."""
    module = types.ModuleType("components.preflight.existing")
    module.findings = list(FINDINGS)

    def run(settings, stack, progress):
        progress("cluster: checking")
        assert settings.target == "existing" and stack == "ex"  # the name, as aks/existing take it
        return module.findings

    module.run = run
    monkeypatch.setitem(sys.modules, "components.preflight.existing", module)
    return module


def test_json_lists_every_finding_and_a_fail_exits_1(tmp_path, capsys, fake_existing):
    assert main(["--project", str(existing_project(tmp_path)), "preflight", "ex", "--json"]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out) == [f.as_dict() for f in FINDINGS]
    assert "cluster: checking" in err


def test_warnings_alone_exit_0_and_text_groups_by_subject(tmp_path, capsys, fake_existing):
    fake_existing.findings = [f for f in FINDINGS if f.status != "fail"]
    assert main(["--project", str(existing_project(tmp_path)), "preflight", "ex"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "cluster:",
        "  ok    existing.api: the API answers",
        "storage:",
        "  WARN  existing.storage: two default classes",
        "        fix: keep one",
        "preflight passed: 1 ok, 1 warn, 0 fail",
    ]


def test_a_target_without_preflight_module_is_reported_not_available(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "components.preflight.existing", None)
    assert main(["--project", str(existing_project(tmp_path)), "preflight", "ex", "--json"]) == 1
    (finding,) = json.loads(capsys.readouterr().out)
    assert finding["check"] == "existing.available" and finding["status"] == "fail"


def test_pin_host_keys_is_for_kubeadm_stacks_only(tmp_path, capsys, fake_existing):
    project = existing_project(tmp_path)
    assert main(["--project", str(project), "preflight", "ex", "--pin-host-keys"]) == 2
    assert "kubeadm stacks only" in capsys.readouterr().err


def test_an_invalid_stack_is_refused_before_any_check(tmp_path, capsys):
    assert main(["--project", str(broken_project(tmp_path)), "preflight", "broken"]) == 1
    assert "invalid stack configuration" in capsys.readouterr().err


def test_text_report_totals_say_failed():
    assert text_lines(FINDINGS)[-1] == "preflight FAILED: 1 ok, 1 warn, 1 fail"


def test_unpinned_hosts_and_bastion_are_warned_about():
    hosts = [
        {"name": "w1", "address": "10.0.0.21", "role": "worker"},
        {
            "name": "cp1",
            "address": "10.0.0.11",
            "role": "control-plane",
            "hostKey": PINNED_KEY,
        },
        {"name": "w2", "address": "10.0.0.22", "role": "worker"},
    ]
    settings = KubeadmSettings.model_validate(
        {"hosts": hosts, "ssh": {"bastion": {"host": "10.0.0.1"}}}
    )
    (path, message), (bastion_path, _) = settings.warnings
    assert path == ("hosts",)
    assert "no hostKey pinned for w1, w2:" in message
    assert "hybrid-kube preflight <stack> --pin-host-keys" in message
    assert bastion_path == ("ssh", "bastion", "hostKey")
    for host in hosts:
        host["hostKey"] = PINNED_KEY
    assert KubeadmSettings.model_validate({"hosts": hosts}).warnings == []
