"""Shared fixtures. Every test that declares resources goes through
`components.recording.run_program`, which resets the Pulumi runtime and event loop per run."""

from __future__ import annotations

import pytest

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: kind-hybrid
  cluster: {server: "https://127.0.0.1:6443"}
contexts:
- name: kind-kind
  context: {cluster: kind-hybrid, user: kind-hybrid}
current-context: kind-kind
users:
- name: kind-hybrid
  user: {token: kubeconfig-token-sentinel}
"""


@pytest.fixture(autouse=True)
def kubeconfig(tmp_path, monkeypatch):
    """A kubeconfig where kubectl would look for one, so the `local` stack resolves its default.

    Its token is a sentinel the secrecy tests search for in everything the program declares.
    """
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG, encoding="utf-8")
    monkeypatch.setenv("KUBECONFIG", str(path))
    monkeypatch.delenv("PULUMI_CONFIG", raising=False)
    return path
