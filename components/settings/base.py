"""Shared machinery for the stack settings: strict camelCase models and readable errors.

Every section model derives from `StrictModel`, so a typo in any object is an error that names the
allowed keys. Cross-field checks return `Problem`s through `problems_error`, so one bad stack
reports every problem with its full key path in a single `SettingsError`.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import pydantic
from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

NAMESPACE = "hybrid-kube"

# Keys whose values must never be echoed in an error message.
# Settings that hold credentials: never echoed in a message, refused when typed in plain text.
SECRET_KEYS = frozenset({"sshPrivateKey", "appSecrets", "registries"})

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class StrictModel(BaseModel):
    """Settings section: camelCase keys in the stack file, snake_case in Python, no unknown keys."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        str_strip_whitespace=True,
    )


@dataclass(frozen=True)
class Problem:
    """One semantic problem, located relative to the model that found it."""

    path: tuple[str | int, ...]
    message: str


def problems_error(problems: Sequence[Problem]) -> PydanticCustomError:
    """Wrap cross-field problems so `SettingsError` can list each under its own key path."""
    return PydanticCustomError(
        "hybrid_kube_problems", "{count} problems", {"count": len(problems), "problems": problems}
    )


def check(problems: Iterable[Problem]) -> None:
    """Raise the collected problems, if any, from inside a model validator."""
    found = list(problems)
    if found:
        raise problems_error(found)


# -- reusable field types ----------------------------------------------------------------------


def _dns_label(value: str) -> str:
    if not _DNS_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a DNS-1123 label; allowed: 1-63 lowercase letters, digits or '-', "
            "starting and ending with a letter or digit"
        )
    return value


def _ip_address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 or IPv6 address") from None


def _cidr(value: str) -> str:
    if "/" not in value:
        # ipaddress would take a bare address as a network of one (/32): never what was meant.
        try:  # the /16 holding the address, host bits cleared, so the example is valid as given
            example = ipaddress.ip_network(f"{value}/16", strict=False)
        except ValueError:
            raise ValueError(f"{value!r} is not a CIDR network such as 10.244.0.0/16") from None
        raise ValueError(
            f"{value!r} has no prefix length; write the network with its size, "
            f"e.g. {example} (how many addresses it holds)"
        )
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a CIDR network such as 10.244.0.0/16 ({exc})") from None


def _existing_file(value: str) -> str:
    if not Path(value).expanduser().is_file():
        raise ValueError(f"file {value!r} does not exist (a leading ~ is your home folder)")
    return value


ExistingFile = Annotated[str, AfterValidator(_existing_file)]
DnsLabel = Annotated[str, AfterValidator(_dns_label)]
IpAddress = Annotated[str, AfterValidator(_ip_address)]
Cidr = Annotated[str, AfterValidator(_cidr)]
Port = Annotated[int, pydantic.Field(ge=1, le=65535)]


# -- namespaces and the app catalog ------------------------------------------------------------


def misspelled_namespace(key: str) -> bool:
    """True for a full config key whose namespace looks like a typo of ours (`hybrid_kube:`,
    `Hybrid-Kube:`, `hybridkube:`); other namespaces (`kubernetes:`, `azure-native:`) belong
    to providers and are left alone."""
    namespace, sep, _ = key.partition(":")
    if not sep or namespace == NAMESPACE:
        return False
    squashed = re.sub(r"[^a-z0-9]", "", namespace.lower())
    return squashed == re.sub(r"[^a-z0-9]", "", NAMESPACE) or bool(
        difflib.get_close_matches(namespace.lower(), [NAMESPACE], n=1, cutoff=0.8)
    )


def namespace_problem(key: str) -> tuple[str, str]:
    """The (key, message) for a key under a misspelled namespace."""
    namespace, _, name = key.partition(":")
    return (
        key,
        f"unknown namespace {namespace!r} (did you mean {NAMESPACE}:?): this key and every "
        f"other {namespace}: key are ignored; write it as {NAMESPACE}:{name}",
    )


def unique_app_names(modules: Iterable[types.ModuleType]) -> dict[str, Any]:
    """App name -> the `SPEC` of each app module, refusing two modules that declare one name.

    A copied app file that keeps `name="web"` would otherwise replace the real `web` app without
    a word (and the next deploy would delete the real one's objects).
    """
    found: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for module in modules:
        spec = module.SPEC
        where = _module_file(module)
        if spec.name in found:
            raise ValueError(
                f"{where} and {origin[spec.name]} both declare an app named {spec.name!r}; app "
                f"names must be unique: give the copy its own name (name=... in {where})"
            )
        found[spec.name] = spec
        origin[spec.name] = where
    return found


def _module_file(module: types.ModuleType) -> str:
    path = Path(getattr(module, "__file__", None) or module.__name__)
    try:
        return str(path.resolve().relative_to(Path(__file__).resolve().parents[2]))
    except ValueError:
        return str(path)


# -- error reporting ---------------------------------------------------------------------------


class SettingsError(ValueError):
    """The stack configuration is invalid; `problems` lists each (key path, message)."""

    def __init__(self, problems: Sequence[tuple[str, str]]):
        self.problems = list(problems)
        lines = [f"  - {path}: {message}" for path, message in self.problems]
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"invalid stack configuration ({count} {noun}):\n" + "\n".join(lines))


def format_path(loc: Sequence[str | int]) -> str:
    """`("kubeadm", "hosts", 1, "name")` -> `hybrid-kube:kubeadm.hosts[1].name`."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return f"{NAMESPACE}:{text}"


def problems_from_validation_error(
    error: pydantic.ValidationError, root: type[BaseModel]
) -> list[tuple[str, str]]:
    """Turn pydantic's errors into (key path, readable message) pairs, secrets redacted."""
    found: list[tuple[str, str]] = []
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        if item["type"] == "hybrid_kube_problems":
            for problem in item["ctx"]["problems"]:
                found.append((format_path(loc + problem.path), problem.message))
            continue
        found.append((format_path(loc), _describe(item, loc, root)))
    return found


def _describe(item: dict[str, Any], loc: tuple, root: type[BaseModel]) -> str:
    kind = item["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(root, loc[:-1])
        by_lower = {key.lower(): key for key in allowed}
        hint = difflib.get_close_matches(str(loc[-1]).lower(), list(by_lower), n=1)
        suggestion = f" (did you mean {by_lower[hint[0]]!r}?)" if hint else ""
        return f"unknown key{suggestion}; allowed keys: {', '.join(allowed)}"
    if kind == "missing":
        return "required key is missing"
    message = item["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    secret = bool(loc) and loc[0] in SECRET_KEYS
    if (
        kind.startswith(
            (
                "string_",
                "int_",
                "float_",
                "bool_",
                "list_",
                "dict_",
                "model_",
                "literal_",
                "greater_",
                "less_",
                "too_",
                "enum",
            )
        )
        and not secret
    ):
        return f"{message} (got {item['input']!r})"
    return message


def _allowed_keys(root: type[BaseModel], loc: tuple) -> list[str]:
    """The camelCase keys the model found at `loc` accepts."""
    model = _model_at(root, loc)
    if model is None:
        return []
    return [field.alias or name for name, field in model.model_fields.items()]


def _model_at(model: Any, loc: tuple) -> type[BaseModel] | None:
    for part in loc:
        model = _unwrap(model)
        if isinstance(part, int) or not _is_model(model):
            continue  # a list index, or a dict key: the element type is already unwrapped
        field = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
        if field is None:
            return None
        model = field.annotation
    model = _unwrap(model)
    return model if _is_model(model) else None


def _is_model(candidate: Any) -> bool:
    return isinstance(candidate, type) and issubclass(candidate, BaseModel)


def _unwrap(annotation: Any) -> Any:
    """Strip Optional, Annotated, list[...] and dict[..., ...] down to the element type."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            models = [a for a in members if _is_model(_unwrap(a))]
            annotation = (models or members)[0]
        elif origin in (list, tuple, set, frozenset, Sequence):
            annotation = typing.get_args(annotation)[0]
        elif origin in (dict, typing.Mapping):
            annotation = typing.get_args(annotation)[1]
        else:
            return annotation
