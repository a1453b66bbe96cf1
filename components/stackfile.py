"""Read `stacks/Pulumi.<stack>.yaml` the way the Pulumi engine hands config to the program.

The engine passes every value as a string (objects and lists as JSON) under its full key
(`hybrid-kube:target`), after applying the project's defaults from Pulumi.yaml. Encrypted
(`secure:`) values cannot be read without the stack's key: they are listed in `encrypted` and
left out, and the caller may supply stand-ins through `overrides`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class StackConfig:
    project: str
    stack: str
    config: dict[str, str] = field(default_factory=dict)
    secret_keys: list[str] = field(default_factory=list)
    encrypted: list[str] = field(default_factory=list)


def stack_names(root: Path = PROJECT_ROOT) -> list[str]:
    """The stacks that ship in `stacks/`, by name."""
    return sorted(
        p.name.removeprefix("Pulumi.").removesuffix(".yaml")
        for p in (root / _stack_dir(root)).glob("Pulumi.*.yaml")
    )


def load_stack(
    stack: str,
    root: Path = PROJECT_ROOT,
    overrides: Mapping[str, Any] | None = None,
    secrets: Mapping[str, Any] | None = None,
    stand_in_encrypted: bool = False,
) -> StackConfig:
    """Engine-style config for `stack`. `overrides` win over the file; `secrets` too, and are
    marked secret as `pulumi config set --secret` would (keys with or without namespace).

    With `stand_in_encrypted`, each encrypted value is replaced by `(secret: <key path>)` and its
    key marked secret, so the program can run without the stack's key (render, check).
    """
    project_file = yaml.safe_load((root / "Pulumi.yaml").read_text(encoding="utf-8"))
    project = project_file["name"]
    path = root / _stack_dir(root) / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = ", ".join(stack_names(root)) or "none"
        raise FileNotFoundError(f"no stack file {path} (stacks here: {known})")
    stack_file = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    result = StackConfig(project=project, stack=stack)

    for key, declaration in (project_file.get("config") or {}).items():
        if isinstance(declaration, dict) and "default" in declaration:
            result.config[_full_key(key, project)] = _engine_value(declaration["default"])
    for key, value in (stack_file.get("config") or {}).items():
        full = _full_key(key, project)
        if _has_secure(value):
            result.encrypted.append(full)
            result.config.pop(full, None)
            if stand_in_encrypted:
                result.config[full] = _engine_value(_stand_in(value, key.split(":")[-1]))
                result.secret_keys.append(full)
            continue
        result.config[full] = _engine_value(value)
    for key, value in {**(overrides or {}), **(secrets or {})}.items():
        full = _full_key(key, project)
        result.config[full] = _engine_value(value)
        was_encrypted = full in result.encrypted
        if was_encrypted:
            result.encrypted.remove(full)
        if (key in (secrets or {}) or was_encrypted) and full not in result.secret_keys:
            result.secret_keys.append(full)
    return result


def _stack_dir(root: Path) -> str:
    project_file = yaml.safe_load((root / "Pulumi.yaml").read_text(encoding="utf-8"))
    return project_file.get("stackConfigDir", ".")


def _full_key(key: str, project: str) -> str:
    return key if ":" in key else f"{project}:{key}"


def _has_secure(value: Any) -> bool:
    if isinstance(value, dict):
        return set(value) == {"secure"} or any(_has_secure(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_secure(v) for v in value)
    return False


def _stand_in(value: Any, path: str) -> Any:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return f"(secret: {path})"
        return {k: _stand_in(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_stand_in(v, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def _engine_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)
