"""`hybrid-kube render` through its command line: configured secret values that reach a
non-secret input are masked in every file it writes, and a program that fails makes it exit
non-zero without writing anything."""

from __future__ import annotations

from pathlib import Path

from components.cli import main
from components.stackfile import PROJECT_ROOT

USER = "maskedUserSentinel"
# A stack with a key (of another namespace, read by the program) that holds an encrypted token
# and a plain user name: the engine treats the whole value as secret, and so does render.
STACK = f"""\
config:
  hybrid-kube:target: existing
  lab:login:
    user: {USER}
    token:
      secure: v1:c2VjcmV0
"""
# A program that copies that user name into a ConfigMap (a non-secret input).
LEAKING_PROGRAM = """\
import json

import pulumi
import pulumi_kubernetes as k8s

login = json.loads(pulumi.Config("lab").get("login"))
k8s.core.v1.ConfigMap(
    "plain", metadata={"name": "plain"}, data={"user": login["user"], "note": "visibleSentinel"}
)
"""
FAILING_PROGRAM = """\
import pulumi

raise pulumi.RunError("the program refused the stack: renderFailureSentinel")
"""


def project(tmp_path: Path, program: str) -> Path:
    root = tmp_path / "project"
    (root / "stacks").mkdir(parents=True)
    (root / "Pulumi.yaml").write_text((PROJECT_ROOT / "Pulumi.yaml").read_text())
    (root / "stacks" / "Pulumi.lab.yaml").write_text(STACK)
    (root / "__main__.py").write_text(program)
    return root


def test_a_configured_secret_value_in_a_non_secret_input_is_masked(tmp_path, capsys):
    root = project(tmp_path, LEAKING_PROGRAM)
    out = tmp_path / "out"
    assert main(["--project", str(root), "render", "lab", "--out", str(out)]) == 0
    files = [p for p in out.rglob("*") if p.is_file()]
    texts = {p: p.read_text() for p in files}
    configmaps = [t for p, t in texts.items() if "configmap-plain" in p.name]
    assert configmaps, sorted(texts)  # the object was rendered...
    assert "visibleSentinel" in configmaps[0]  # ...with its other values
    assert not [p for p, t in texts.items() if USER in t]  # ...and the user name masked
    printed = capsys.readouterr()
    assert USER not in printed.out + printed.err


def test_render_exits_non_zero_when_the_program_fails(tmp_path, capsys):
    root = project(tmp_path, FAILING_PROGRAM)
    out = tmp_path / "out"
    assert main(["--project", str(root), "render", "lab", "--out", str(out)]) == 1
    assert "renderFailureSentinel" in capsys.readouterr().err
    assert not out.exists()
