"""Reading stack files the way the engine passes config, and the recorder's faithfulness."""

from __future__ import annotations

import json

import pulumi
import pulumi_random as random

from components.recording import placeholder, run_program
from components.stackfile import load_stack


def write_project(root, stack_config: str) -> None:
    (root / "stacks").mkdir()
    (root / "Pulumi.yaml").write_text(
        "name: demo\nruntime: python\nstackConfigDir: stacks\n"
        "config:\n  demo:kubernetesVersion:\n    type: string\n    default: '1.33'\n",
        encoding="utf-8",
    )
    (root / "stacks" / "Pulumi.dev.yaml").write_text(stack_config, encoding="utf-8")


def test_engine_style_values_defaults_and_encrypted_keys(tmp_path):
    write_project(
        tmp_path,
        "config:\n"
        "  demo:target: kubeadm\n"
        "  demo:kubeadm:\n    hosts: [{name: a, port: 22}]\n"
        "  demo:flag: true\n"
        "  demo:sshPrivateKey:\n    secure: v1:AAAA\n"
        "  aws:region: eu-west-1\n",
    )
    stack = load_stack("dev", root=tmp_path)
    assert stack.config["demo:kubernetesVersion"] == "1.33"  # the project default
    assert stack.config["demo:target"] == "kubeadm"
    assert json.loads(stack.config["demo:kubeadm"]) == {"hosts": [{"name": "a", "port": 22}]}
    assert stack.config["demo:flag"] == "true"
    assert stack.config["aws:region"] == "eu-west-1"
    assert stack.encrypted == ["demo:sshPrivateKey"]
    assert "demo:sshPrivateKey" not in stack.config


def test_secret_stand_ins_are_marked_secret(tmp_path):
    write_project(tmp_path, "config:\n  demo:sshPrivateKey:\n    secure: v1:AAAA\n")
    stack = load_stack("dev", root=tmp_path, secrets={"sshPrivateKey": "stand-in"})
    assert stack.config["demo:sshPrivateKey"] == "stand-in"
    assert stack.secret_keys == ["demo:sshPrivateKey"]
    assert stack.encrypted == []


def test_recorder_marks_outputs_secret_as_the_engine_does():
    def program():
        password = random.RandomPassword("password", length=20)
        pulumi.export("password", password.result)
        pulumi.export("plain", "value")

    rec = run_program(program)
    assert rec.outputs["password"].secret
    assert rec.outputs["password"].value == placeholder("random password password")
    assert not rec.outputs["plain"].secret
    (resource,) = rec.resources
    assert "result" in resource.additional_secret_outputs


def test_each_run_starts_from_a_clean_runtime():
    first = run_program(lambda: random.RandomId("a", byte_length=4))
    second = run_program(lambda: random.RandomId("b", byte_length=4))
    assert [r.name for r in first.resources] == ["a"]
    assert [r.name for r in second.resources] == ["b"]


def test_encrypted_leaves_get_named_stand_ins(tmp_path):
    write_project(
        tmp_path,
        "config:\n  demo:appSecrets:\n    web:\n      token:\n        secure: v1:AAAA\n"
        "      plain: x\n",
    )
    stack = load_stack("dev", root=tmp_path, stand_in_encrypted=True)
    assert json.loads(stack.config["demo:appSecrets"]) == {
        "web": {"token": "(secret: appSecrets.web.token)", "plain": "x"}
    }
    assert stack.secret_keys == ["demo:appSecrets"]
    assert stack.encrypted == ["demo:appSecrets"]
