"""Settings of the `existing` target: a cluster reached through a kubeconfig file."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, field_validator

from .base import Problem, StrictModel

NetworkPolicy = Literal["enforced", "not-enforced", "unknown"]


_OFFLINE = {"on": False}


@contextlib.contextmanager
def without_cluster() -> Iterator[None]:
    """`hybrid-kube check` and `render`: nothing contacts the cluster, so a missing default
    kubeconfig ($KUBECONFIG, ~/.kube/config) is no error; the program reads a stand-in
    (`stand_in_kubeconfig`) and the CLI says what it assumed. A path the stack names must exist,
    and a kubeconfig that exists is still parsed and must name the context."""
    before = _OFFLINE["on"]
    _OFFLINE["on"] = True
    try:
        yield
    finally:
        _OFFLINE["on"] = before


def offline() -> bool:
    """True inside `without_cluster()`."""
    return _OFFLINE["on"]


def default_kubeconfig_path() -> Path:
    """What kubectl would read: the first entry of $KUBECONFIG, else ~/.kube/config."""
    env = os.environ.get("KUBECONFIG", "")
    first = next((p for p in env.split(os.pathsep) if p), None)
    return Path(first or "~/.kube/config").expanduser()


class ExistingCapabilities(StrictModel):
    """`hybrid-kube:existing.capabilities`: what the cluster already has, as the stack declares.

    hybrid-kube cannot see inside a cluster it did not build, so it assumes what kind, minikube
    and Docker Desktop have by default (the defaults here) and the stack says where its cluster
    differs. The platform installs only what is declared missing; changing a value later
    installs or removes that add-on in the next `pulumi up` (stacks/Pulumi.local.yaml lists
    what common clusters have).
    """

    load_balancer: bool = False
    """Services of type LoadBalancer get an address (Docker Desktop: true; kind, minikube: no,
    unless cloud-provider-kind or `minikube tunnel` runs)."""
    default_storage_class: bool = True
    """A StorageClass is marked default (kind, minikube and Docker Desktop all ship one)."""
    metrics_server: bool = False
    """`metrics.k8s.io` is already served (minikube with `minikube addons enable
    metrics-server`): hybrid-kube then installs no second metrics-server."""
    network_policy: NetworkPolicy = "unknown"
    """Whether the pod network enforces NetworkPolicy objects: `enforced` (kind >= v0.24,
    Calico, Cilium), `not-enforced` (minikube's default bridge CNI, Docker Desktop, Flannel),
    or `unknown` (the default: `check`, `render` and `pulumi up` say the apps' policies may
    not hold)."""


class ExistingSettings(StrictModel):
    """`hybrid-kube:existing`: every key optional, like kubectl's defaults."""

    kubeconfig: str | None = None
    context: str | None = None
    cluster_identifier: str | None = Field(
        default=None,
        description="The cluster's stable identity; default: the context's name. Objects are "
        "re-created only when it changes, never because the kubeconfig's content changed.",
    )
    capabilities: ExistingCapabilities = ExistingCapabilities()

    @field_validator("kubeconfig")
    @classmethod
    def _kubeconfig_file(cls, value: str | None) -> str | None:
        # Even offline (check, render): a path written in the stack is meant to exist, so a
        # missing one is a typo. Only kubectl's default may be absent there (`assumption`).
        if value is not None and not Path(value).expanduser().is_file():
            raise ValueError(f"file {value!r} does not exist (a leading ~ is your home folder)")
        return value

    def kubeconfig_path(self) -> Path:
        """The file to read: the configured path, else kubectl's default."""
        return Path(self.kubeconfig).expanduser() if self.kubeconfig else default_kubeconfig_path()

    def kubeconfig_problems(self) -> Iterator[Problem]:
        """The kubeconfig, read before any resource is declared. Paths are below `existing`.

        It must exist; only kubectl's default may be missing for `check` and `render`
        (`without_cluster`), never a path the stack names. There, an existing
        one must also be YAML and hold the context the provider will use: offline nothing else
        would notice. Before a deploy, `hybrid-kube preflight` reads the same file and reports
        such problems as findings with their fix (tests/test_preflight_existing.py)."""
        path = self.kubeconfig_path()
        if not path.is_file():
            if not offline() and self.kubeconfig is None:
                yield Problem(
                    ("kubeconfig",),
                    f"no kubeconfig given and the default {path} does not exist; set "
                    "hybrid-kube:existing.kubeconfig or KUBECONFIG",
                )
            return
        if not offline():
            return
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as error:
            yield Problem(("kubeconfig",), f"{path} cannot be read: {error}")
            return
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(error, "problem", None) or "invalid syntax"
            yield Problem(
                ("kubeconfig",),
                f"{path} is not a kubeconfig: YAML error{where}: {problem} (`kubectl config "
                "view` shows what kubectl makes of it)",
            )
            return
        contexts = _context_names(document)
        if contexts is None:
            yield Problem(
                ("kubeconfig",),
                f"{path} is not a kubeconfig: expected a mapping with `contexts:` (as "
                "`kind get kubeconfig` or `minikube update-context` write it)",
            )
            return
        found = ", ".join(contexts) or "none"
        if self.context is not None:
            if self.context not in contexts:
                yield Problem(
                    ("context",),
                    f"{self.context!r} is not a context in {path}; it has: {found} "
                    f"(`kubectl config get-contexts`){self._first_file_only()}",
                )
            return
        current = document.get("current-context")
        if not current or current not in contexts:
            state = f"names {current!r}, which is not among its contexts" if current else "is unset"
            yield Problem(
                ("context",),
                f"not set, and the current-context of {path} {state}; "
                f"name one of its contexts: {found}{self._first_file_only()}",
            )

    def _first_file_only(self) -> str:
        """A note when KUBECONFIG lists several files: kubectl merges them, but the provider
        (and so this check) reads the first only."""
        if self.kubeconfig is not None:
            return ""
        files = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
        if len(files) < 2:
            return ""
        return (
            f"; KUBECONFIG lists {len(files)} files and hybrid-kube reads only the first (kubectl "
            "merges them): set existing.kubeconfig to the file that holds the context"
        )

    def assumption(self, done: str) -> str | None:
        """What `check` and `render` (`done`: "checked", "rendered") assume when kubectl's default
        kubeconfig does not exist, else None."""
        path = self.kubeconfig_path()
        if path.is_file() or self.kubeconfig is not None:
            return None
        context = (
            f"context {self.context!r}"
            if self.context
            else "the kubeconfig's current context (existing.context is not set)"
        )
        return (
            f"no kubeconfig at {_home_relative(path)}: {done} without contacting a cluster, "
            f"assuming {context}"
        )


def _context_names(document: Any) -> list[str] | None:
    """The context names of a parsed kubeconfig, or None when it is not shaped like one."""
    if not isinstance(document, dict):
        return None
    contexts = document.get("contexts") or []
    if not isinstance(contexts, list):
        return None
    return [str(c["name"]) for c in contexts if isinstance(c, dict) and "name" in c]


def _home_relative(path: Path) -> str:
    try:
        return "~/" + str(path.relative_to(Path.home()))
    except ValueError:
        return str(path)


def stand_in_kubeconfig(context: str | None) -> str:
    """A kubeconfig for offline runs: one context (the configured one) and nothing secret."""
    name = context or "stand-in"
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": {"server": "https://stand-in.invalid:6443"}}],
            "users": [{"name": name, "user": {}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
            "current-context": name,
        },
        sort_keys=False,
    )
