"""Write what a recorded program run would deploy as files a reviewer can read.

Layout under the output folder:

    kubernetes/<namespace>/<kind>-<name>.yaml   every Kubernetes object (`cluster-scoped`: none)
    hosts/<host>/<NN>-<step>.sh                 each host's remote commands, in run order
    helm/<release>.yaml                         chart, repository, version, namespace, values
    azure/<resource>.json                       every Azure resource's inputs
    summary.md                                  notices, counts by type, outputs, dependency graph

Secret inputs are written as `(secret)`; values only a deploy knows are the recorder's
`(known after deploy: ...)` placeholders. `mask` names further strings (e.g. the stack's secret
config values) that must never reach a file, wherever they appear.

Notices are what components register as a `notices` output: things the program warns about
that no resource shows (e.g. NetworkPolicies a target does not enforce). They head summary.md.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .recording import SECRET_PLACEHOLDER, RecordedResource, Recording

_OWNED = ("kubernetes", "hosts", "helm", "azure", "summary.md")
_COMMAND = "command:remote:Command"
_RELEASE = "kubernetes:helm.sh/v3:Release"


@dataclass
class RenderResult:
    out: Path
    files: list[Path] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)


class _Writer:
    def __init__(self, out: Path, mask: Iterable[str]):
        self.out = out
        # Longest first, so a secret that contains another is masked whole.
        self.mask = sorted({m for m in mask if len(m) >= 4}, key=len, reverse=True)
        self.files: list[Path] = []

    def write(self, relative: str, text: str) -> None:
        for secret in self.mask:
            text = text.replace(secret, SECRET_PLACEHOLDER)
        path = self.out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        self.files.append(path)


def render(
    recording: Recording,
    out: Path,
    *,
    title: str,
    mask: Iterable[str] = (),
    warnings: Iterable[str] = (),
) -> RenderResult:
    """Write `recording` under `out`, replacing what an earlier render wrote there.

    `warnings` are what the program logged while it ran; with the components' recorded
    `notices` they head summary.md and come back in `RenderResult.notices`.
    """
    out.mkdir(parents=True, exist_ok=True)
    for name in _OWNED:
        target = out / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    writer = _Writer(out, mask)
    counts = {
        "kubernetes objects": _kubernetes(recording, writer),
        "helm releases": _helm(recording, writer),
        "azure resources": _azure(recording, writer),
        "host commands": _hosts(recording, writer),
    }
    notices = list(dict.fromkeys([*warnings, *recorded_notices(recording)]))
    writer.write("summary.md", _summary(recording, title, counts, notices))
    return RenderResult(out=out, files=writer.files, counts=counts, notices=notices)


def recorded_notices(recording: Recording) -> list[str]:
    """Every component's registered `notices`, in registration order, each once."""
    found: list[str] = []
    for resource in recording.resources:
        outputs, _ = recording.component_outputs.get(resource.urn, ({}, frozenset()))
        for notice in outputs.get("notices") or []:
            if isinstance(notice, str) and notice not in found:
                found.append(notice)
    return found


def redacted_inputs(resource: RecordedResource) -> dict[str, Any]:
    """The resource's inputs with every secret property's values replaced by `(secret)`."""
    inputs = resource.manifest()
    for key in resource.secret_inputs:
        inputs[key] = _redact(inputs[key])
    return inputs


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return SECRET_PLACEHOLDER


def _kubernetes(recording: Recording, writer: _Writer) -> int:
    objects = [r for r in recording.kubernetes_objects() if not r.type.startswith("pulumi:")]
    for resource in objects:
        inputs = redacted_inputs(resource)
        # Conventional order: apiVersion, kind, metadata, then the rest as declared.
        obj = {k: inputs[k] for k in ("apiVersion", "kind", "metadata") if k in inputs}
        obj.update(inputs)
        metadata = obj.get("metadata", {})
        folder = metadata.get("namespace") or "cluster-scoped"
        name = metadata.get("name") or resource.name
        writer.write(
            f"kubernetes/{_safe(folder)}/{obj['kind'].lower()}-{_safe(name)}.yaml",
            f"# {resource.urn}\n" + yaml.safe_dump(obj, sort_keys=False),
        )
    return len(objects)


def _helm(recording: Recording, writer: _Writer) -> int:
    releases = recording.of_type(_RELEASE)
    for resource in releases:
        inputs = redacted_inputs(resource)
        document = {
            "release": inputs.get("name", resource.name),
            "namespace": inputs.get("namespace"),
            "chart": inputs.get("chart"),
            "repository": inputs.get("repositoryOpts", {}).get("repo"),
            "version": inputs.get("version"),
            "values": inputs.get("values", {}),
        }
        if inputs.get("skipCrds"):
            document["skipCrds"] = True  # the chart's crds/ folder is not installed
        writer.write(
            f"helm/{_safe(document['release'])}.yaml",
            f"# {resource.urn}\n" + yaml.safe_dump(document, sort_keys=False),
        )
    return len(releases)


def _azure(recording: Recording, writer: _Writer) -> int:
    resources = [r for r in recording.resources if r.type.startswith("azure-native:")]
    for resource in resources:
        document = {
            "type": resource.type,
            "name": resource.name,
            "urn": resource.urn,
            "inputs": redacted_inputs(resource),
        }
        writer.write(f"azure/{_safe(resource.name)}.json", json.dumps(document, indent=2) + "\n")
    return len(resources)


def _hosts(recording: Recording, writer: _Writer) -> int:
    commands = recording.of_type(_COMMAND)
    order = {r.urn: i for i, r in enumerate(_topological(commands))}
    by_host: dict[str, list[RecordedResource]] = {}
    for command in commands:
        host = command.inputs.get("connection", {}).get("host", "unknown-host")
        by_host.setdefault(str(host), []).append(command)
    for host, steps in by_host.items():
        steps.sort(key=lambda r: order[r.urn])
        for number, step in enumerate(steps, start=1):
            stem = f"hosts/{_safe(host)}/{number:02d}-{_safe(step.name)}"
            writer.write(f"{stem}.sh", _command_text(step, "create"))
            if step.inputs.get("delete"):
                writer.write(f"{stem}.delete.sh", _command_text(step, "delete"))
    return len(commands)


def _command_text(step: RecordedResource, phase: str) -> str:
    inputs = step.inputs
    lines = [
        "#!/usr/bin/env bash",
        f"# {step.urn}",
        f"# {phase}: {inputs.get(phase, '')}",
    ]
    if inputs.get("triggers"):
        lines.append(f"# re-runs when its triggers change: {json.dumps(inputs['triggers'])[:200]}")
    if inputs.get("update") and phase == "create":
        lines.append(f"# update: {inputs['update']}")
    stdin = inputs.get("stdin")
    if stdin and phase == "create":
        lines.append("# --- script sent on stdin ---")
        lines.append(str(stdin))
    return "\n".join(lines) + "\n"


def _topological(resources: list[RecordedResource]) -> list[RecordedResource]:
    """Resources in an order that respects their dependencies (stable for independent ones)."""
    urns = {r.urn for r in resources}
    done: set[str] = set()
    ordered: list[RecordedResource] = []
    by_urn = {r.urn: r for r in resources}

    def visit(resource: RecordedResource, stack: tuple[str, ...] = ()) -> None:
        if resource.urn in done or resource.urn in stack:
            return
        for dependency in sorted(resource.dependencies & urns):
            visit(by_urn[dependency], (*stack, resource.urn))
        done.add(resource.urn)
        ordered.append(resource)

    for resource in resources:
        visit(resource)
    return ordered


def _summary(recording: Recording, title: str, counts: dict[str, int], notices: list[str]) -> str:
    by_type = Counter(r.type for r in recording.resources)
    lines = [f"# {title}", ""]
    if notices:
        lines += ["## Warnings", ""] + [f"- {notice}" for notice in notices] + [""]
    lines += ["## Files", ""]
    lines += [f"- {what}: {count}" for what, count in counts.items()]
    lines += ["", "## Resources by type", "", "| type | count |", "| --- | ---: |"]
    lines += [f"| `{t}` | {n} |" for t, n in sorted(by_type.items())]
    lines += [f"| **total** | **{sum(by_type.values())}** |", "", "## Outputs", ""]
    for name, output in recording.outputs.items():
        value = SECRET_PLACEHOLDER if output.secret else json.dumps(output.value, default=str)
        lines.append(f"- `{name}`: {value}")
    lines += [
        "",
        "Placeholders: `(secret)` hides a secret; `(known after deploy: ...)` stands for a value",
        "only a real deploy produces. Random bytes appear as zero bytes of the right length.",
        "",
        "## Dependency graph",
        "",
        "```mermaid",
        "graph LR",
    ]
    custom = [r for r in recording.resources if r.custom]
    ids = {r.urn: f"r{i}" for i, r in enumerate(custom)}
    lines += [f'  {ids[r.urn]}["{r.name}<br/><small>{r.type}</small>"]' for r in custom]
    for resource in custom:
        for dependency in sorted(resource.dependencies):
            if dependency in ids:
                lines.append(f"  {ids[dependency]} --> {ids[resource.urn]}")
    lines += ["```", ""]
    return "\n".join(lines)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("_") or "unnamed"
