"""Read `stacks/Pulumi.<stack>.yaml` the way the Pulumi engine hands config to the program.

The engine passes every value as a string (objects and lists as JSON) under its full key
(`hybrid-kube:target`), after applying the project's defaults from Pulumi.yaml. Encrypted
(`secure:`) values cannot be read without the stack's key: they are listed in `encrypted` and
left out, and the caller may supply stand-ins through `overrides`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class StackFileError(ValueError):
    """A stack or project file that is not readable YAML; the message is one line,
    `stacks/Pulumi.x.yaml:34:1: <what is wrong>`, as compilers print it."""


@dataclass
class StackConfig:
    project: str
    stack: str
    config: dict[str, str] = field(default_factory=dict)
    secret_keys: list[str] = field(default_factory=list)
    encrypted: list[str] = field(default_factory=list)
    file_keys: list[str] = field(default_factory=list)
    """The full keys the stack file itself sets (not the project's defaults): empty for the
    file `pulumi stack init` writes (at most an `encryptionsalt`)."""


def stack_names(root: Path = PROJECT_ROOT, *, with_config: bool = True) -> list[str]:
    """The stacks in `stacks/`, by name.

    By default only those whose file sets configuration: the file `pulumi stack init` writes
    (empty, or only `encryptionsalt`) has nothing to check, render or test until keys are set,
    and `hybrid-kube check` says so. `with_config=False` lists every stack file.
    """
    paths = sorted((root / _stack_dir(root)).glob("Pulumi.*.yaml"))
    return [
        p.name.removeprefix("Pulumi.").removesuffix(".yaml")
        for p in paths
        if not with_config or _has_config(p, root)
    ]


def _has_config(path: Path, root: Path) -> bool:
    try:
        document = read_yaml(path, root)
    except StackFileError:
        return True  # listed, so that `check` reports the syntax error
    return isinstance(document, dict) and bool(document.get("config"))


def read_yaml(path: Path, root: Path = PROJECT_ROOT) -> Any:
    """`path` parsed, or `StackFileError` naming the file, line and column of a syntax error."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        # Notepad's "Unicode" is UTF-16, a Korean editor may save CP949: say so in one line.
        raise StackFileError(
            f"{_shown(path, root)}: not UTF-8 text (byte 0x{error.object[error.start]:02x} at "
            f"offset {error.start}); save it as UTF-8"
        ) from None
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        raise StackFileError(_syntax_error(error, _shown(path, root))) from None
    except yaml.YAMLError as error:
        raise StackFileError(f"{_shown(path, root)}: {error}") from None


# Errors found far from their cause (often at the end of the file): the cause is where the
# context opened, so that is the position shown.
_UNCLOSED = {
    "while scanning a quoted scalar": "this quoted text is never closed",
    "while parsing a flow sequence": "this [ list is never closed with ]",
    "while parsing a flow mapping": "this { mapping is never closed with }",
}


def _syntax_error(error: yaml.MarkedYAMLError, shown: str) -> str:
    """`file:line:column: what is wrong` for a YAML syntax error, as compilers print it."""
    problem = error.problem or error.context or "not valid YAML"
    mark = error.problem_mark or error.context_mark
    unclosed = _UNCLOSED.get(error.context or "")
    if unclosed and error.context_mark and error.problem_mark:
        found = error.problem_mark
        problem = f"{unclosed} ({problem} at line {found.line + 1}, column {found.column + 1})"
        mark = error.context_mark
    elif error.context and error.problem and error.context not in problem:
        problem = f"{problem} ({error.context})"
    if "expected <block end>" in problem:
        problem += "; check this line's indentation against the lines above"
    if "'\\t'" in problem:
        problem += "; YAML indents with spaces, not tabs"
    where = f"{shown}:{mark.line + 1}:{mark.column + 1}" if mark else shown
    return f"{where}: {problem}"


def _shown(path: Path, root: Path) -> str:
    """The path as the user knows it: relative to the project, else as given."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


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
    project_file = read_yaml(root / "Pulumi.yaml", root)
    project = project_file["name"]
    path = root / _stack_dir(root) / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = ", ".join(stack_names(root, with_config=False)) or "none"
        raise FileNotFoundError(f"no stack file {path} (stacks here: {known})")
    stack_file = read_yaml(path, root) or {}
    if not isinstance(stack_file, dict):
        raise StackFileError(f"{_shown(path, root)}: not a mapping with a `config:` section")
    config = _config_section(stack_file, path, root)
    result = StackConfig(project=project, stack=stack)

    for key, declaration in (project_file.get("config") or {}).items():
        if isinstance(declaration, dict) and "default" in declaration:
            result.config[_full_key(key, project)] = _engine_value(declaration["default"])
    for key, value in config.items():
        full = _full_key(key, project)
        result.file_keys.append(full)
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


def _config_section(stack_file: dict[Any, Any], path: Path, root: Path) -> dict[str, Any]:
    """The stack file's `config:` mapping, its keys checked: text, as the engine requires."""
    config = stack_file.get("config") or {}
    if not isinstance(config, dict):
        raise StackFileError(
            f"{_shown(path, root)}: config must be a mapping of key: value (one "
            f"`hybrid-kube:<key>: <value>` per line), got {_kind(config)}"
        )
    for key in config:
        if not isinstance(key, str):
            raise StackFileError(
                f"{_shown(path, root)}: config key {key!r} is {_kind(key)}, not a name; keys are "
                "text such as hybrid-kube:target"
            )
    return config


def _kind(value: Any) -> str:
    """`a list`, `a number`, ... for messages."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "plain text"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def config_strings(text: str) -> Iterator[str]:
    """Every string in one engine config value: the value itself, or, when it is JSON (objects
    and lists are handed over that way), every string inside it."""
    try:
        value = json.loads(text)
    except ValueError:
        value = text
    yield from nested_strings(value)


def nested_strings(value: Any) -> Iterator[str]:
    """Every string in a value built of dicts (their values) and lists."""
    if isinstance(value, dict):
        for item in value.values():
            yield from nested_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from nested_strings(item)
    elif isinstance(value, str):
        yield value


def _stack_dir(root: Path) -> str:
    project_file = read_yaml(root / "Pulumi.yaml", root)
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
        return json.dumps(_json_ready(value))
    return str(value)


def _json_ready(value: Any) -> Any:
    """YAML allows what JSON does not (`42:` or a date as a key, a date as a value): keys
    become text and such values their YAML text, so the settings can name them."""
    if isinstance(value, dict):
        return {
            _engine_value(k) if not isinstance(k, str) else k: _json_ready(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
