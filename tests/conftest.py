"""Shared fixtures. Every test that declares resources goes through
`components.recording.run_program`, which resets the Pulumi runtime and event loop per run."""

from __future__ import annotations

import gc
import os

import pytest
import support

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


def pytest_configure(config):
    """Fewer garbage collections: each program run allocates hundreds of thousands of small
    objects (futures, tasks, outputs), and with the default threshold (700) the collector
    runs thousands of times per run, about a fifth of the run's time."""
    gc.set_threshold(10_000, 10, 10)


def pytest_collection_finish(session):
    """What collection built (modules, test items) lives until the end: keep it out of every
    later collection."""
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def kubeconfig(tmp_path):
    """A kubeconfig where kubectl would look for one, so the `local` stack resolves its default.

    Its token is a sentinel the secrecy tests search for in everything the program declares.
    Set without `monkeypatch`, so that a test using `monkeypatch` is one that patches something
    itself (see `program_runs_shared`).
    """
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG, encoding="utf-8")
    saved = {name: os.environ.get(name) for name in ("KUBECONFIG", "PULUMI_CONFIG")}
    os.environ["KUBECONFIG"] = str(path)
    os.environ.pop("PULUMI_CONFIG", None)
    yield path
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(autouse=True)
def program_runs_shared(request):
    """`support.run_main` shares one run among calls with the same inputs, except in a test that
    uses `monkeypatch` (directly or through a fixture): it may have patched the code or the
    environment the program reads, which the cache key does not see."""
    support.CACHE_RUNS = "monkeypatch" not in request.fixturenames
    yield
    support.CACHE_RUNS = True
