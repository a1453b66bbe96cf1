"""Per-stack app settings (`appConfig`) and image versions (`appImages`), checked against what
each app declares in `apps/`.

`hybrid-kube:appConfig: {<app>: {<setting>: value}}` sets an app's plain settings
(`AppSpec.config`); `hybrid-kube:appImages: {<app>: {<workload>: tag | digest | reference}}`
chooses which build of a workload's image the stack runs, so promoting a version from one stack to
another is a one-line edit. Both are validated here, every problem reported with its key path.

The catalog `load_settings` receives maps an app name to its `AppSpec` (what `apps.CATALOG`
holds), to an `AppDeclaration`, or, as older callers pass it, to the names of the app's secrets
alone (such an app declares no settings).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

from ..appspec import AppSpec, ConfigSetting, _pinned_image, parse_image, tag_problem
from .base import NAMESPACE, Problem

if TYPE_CHECKING:
    from . import Settings

_DIGEST_PREFIX = "sha256:"


@dataclass(frozen=True)
class AppDeclaration:
    """What the settings need to know about one app."""

    secrets: frozenset[str] = frozenset()
    config: Mapping[str, ConfigSetting] = field(default_factory=dict)
    images: Mapping[str, str] = field(default_factory=dict)
    """Workload name -> the image its spec declares."""

    @classmethod
    def of(cls, spec: AppSpec) -> AppDeclaration:
        return cls(
            secrets=spec.secret_names,
            config=dict(spec.config),
            images={w.name: w.image for w in spec.workloads},
        )


CatalogEntry = Union[AppSpec, AppDeclaration, Collection[str]]  # noqa: UP007 (a runtime alias)


def declarations(catalog: Mapping[str, CatalogEntry]) -> dict[str, AppDeclaration]:
    """Every catalog entry as an `AppDeclaration`, whichever form the caller passed."""
    found = {}
    for name, entry in catalog.items():
        if isinstance(entry, AppDeclaration):
            found[name] = entry
        elif isinstance(entry, AppSpec):
            found[name] = AppDeclaration.of(entry)
        else:
            found[name] = AppDeclaration(secrets=frozenset(entry))
    return found


def secret_catalog(catalog: Mapping[str, CatalogEntry]) -> dict[str, frozenset[str]]:
    """App name -> the names of the secrets it reads (what `appSecrets` is checked against)."""
    return {name: d.secrets for name, d in declarations(catalog).items()}


# Keys whose values land in plain Kubernetes objects (ConfigMaps, pod templates).
_PLAIN_KEYS = ("appConfig", "appImages")


def encrypted_plain_keys(raw: Collection[str], secret_keys: Collection[str]) -> list[str]:
    """The `appConfig`/`appImages` keys the engine holds encrypted. Their values are reported
    by `encrypted_plain_settings` alone and never validated, so no message echoes them."""
    return [key for key in _PLAIN_KEYS if key in raw and key in secret_keys]


def encrypted_plain_settings(
    raw: Collection[str], secret_keys: Collection[str]
) -> list[tuple[str, str]]:
    """A problem for `appConfig`/`appImages` holding an encrypted value: their values are
    written in plain text into ConfigMaps and pod templates, where a secret must never go. (The
    engine marks a whole key secret when any value under it is, so the key is named.)"""
    return [
        (
            f"{NAMESPACE}:{key}",
            "holds an encrypted value, but these values are written in plain text into "
            "ConfigMaps and pod templates; set them without --secret, and keep secrets in "
            "appSecrets (the app's declared `secrets`)",
        )
        for key in encrypted_plain_keys(raw, secret_keys)
    ]


def _shape_problems(
    key: str, value: Any, catalog: Mapping[str, AppDeclaration], what: str
) -> tuple[dict[str, Mapping[str, Any]], list[Problem]]:
    """The `{app: {name: value}}` entries of `value` that have that shape, and a problem for
    each that does not (in words, instead of pydantic's "Input should be a valid dictionary")."""
    if not isinstance(value, Mapping):
        return {}, [
            Problem(
                (),
                f"expected an object: app -> {what}; e.g. {key}: {{web: {{...}}}} in the stack "
                f"file, or pulumi config set --path '{key}.<app>.<name>' <value>",
            )
        ]
    found: dict[str, Mapping[str, Any]] = {}
    problems: list[Problem] = []
    for app, values in value.items():
        if isinstance(values, Mapping):
            found[str(app)] = values
        elif app not in catalog:
            problems.append(_unknown_app(str(app), catalog))
        else:
            problems.append(Problem((app,), _shape_message(key, str(app), catalog[app], what)))
    return found, problems


def _shape_message(key: str, app: str, declared: AppDeclaration, what: str) -> str:
    if key == "appImages":
        names = ", ".join(declared.images) or "none"
        return f"{key}.<app> maps {what}; {app}'s workloads: {names}"
    names = ", ".join(declared.config) or "none"
    return f"{key}.<app> maps {what}; {app}'s settings: {names}"


def _no_value(example: str) -> str:
    """The message for a null value: an unquoted `#...` (a YAML comment) or nothing at all."""
    return (
        f"has no value: in a stack file, # starts a YAML comment: quote it ({example}), or "
        "write a value after the colon"
    )


# -- appConfig ------------------------------------------------------------------------------------


def check_config(
    value: Any, catalog: Mapping[str, AppDeclaration]
) -> tuple[dict[str, dict[str, str | int | bool]], list[Problem]]:
    """`appConfig` with each value as its setting's type, and every problem (path below
    `appConfig`): a wrong shape, unknown apps and settings, wrong types, values outside what is
    allowed."""
    parsed: dict[str, dict[str, str | int | bool]] = {}
    shaped, problems = _shape_problems("appConfig", value, catalog, "setting -> value")
    for app, values in shaped.items():
        if app not in catalog:
            problems.append(_unknown_app(app, catalog))
            continue
        declared = catalog[app].config
        parsed[app] = {}
        for key, raw in values.items():
            if key not in declared:
                problems.append(Problem((app, key), _unknown_setting(app, key, declared)))
                continue
            if raw is None:
                problems.append(Problem((app, key), _no_value(f'{key}: "#..."')))
                continue
            try:
                parsed[app][key] = declared[key].parse(raw)
            except ValueError as error:
                problems.append(Problem((app, key), str(error)))
    return parsed, problems


def _unknown_setting(app: str, key: str, declared: Mapping[str, ConfigSetting]) -> str:
    if not declared:
        return f"app {app!r} declares no settings"
    return (
        f"app {app!r} has no setting {key!r}{_did_you_mean(key, declared)}; "
        f"its settings: {', '.join(declared)}"
    )


# -- appImages ------------------------------------------------------------------------------------


def check_images(
    value: Any, catalog: Mapping[str, AppDeclaration]
) -> tuple[dict[str, dict[str, str]], list[Problem]]:
    """`appImages` resolved to whole image references, and every problem (path below
    `appImages`): a wrong shape, unknown apps and workloads, and references that are not valid
    or not pinned."""
    resolved: dict[str, dict[str, str]] = {}
    shaped, problems = _shape_problems("appImages", value, catalog, "workload -> tag or reference")
    for app, images in shaped.items():
        if app not in catalog:
            problems.append(_unknown_app(app, catalog))
            continue
        declared = catalog[app].images
        resolved[app] = {}
        for workload, raw in images.items():
            if workload not in declared:
                problems.append(
                    Problem(
                        (app, workload),
                        f"app {app!r} has no workload {workload!r}"
                        f"{_did_you_mean(workload, declared)}; its workloads: "
                        f"{', '.join(declared)}",
                    )
                )
                continue
            if raw is None:
                problems.append(Problem((app, workload), _no_value(f'{workload}: "1.0.0"')))
                continue
            try:
                resolved[app][workload] = resolve_image(declared[workload], raw)
            except ValueError as error:
                problems.append(Problem((app, workload), str(error)))
    return resolved, problems


def resolve_image(declared: str, value: Any) -> str:
    """The image a stack's `appImages` value names, checked like a declared image.

    A tag (`6.9.3`, `sha-3f2a9c1`) replaces the tag of the declared repository; a digest
    (`sha256:<hex>`) pins the declared repository to those bytes; anything holding `/`, `:` or `@`
    is a whole reference (`ghcr.io/me/hello:1.3.0`, `...@sha256:<hex>`) and replaces it.
    """
    if value is None:
        raise ValueError(_no_value('"1.0.0"'))
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # a tag of digits, which `pulumi config set --path` stores as a number
    if not isinstance(value, str):
        raise ValueError(
            f"expected a tag, a digest or an image reference as text, got {value!r}; quote it in "
            "the stack file so it stays text (YAML reads 6.10 as the number 6.1)"
        )
    value = value.strip()
    repository = parse_image(declared).name
    if value.startswith(_DIGEST_PREFIX):
        reference = f"{repository}@{value}"
    elif any(c in value for c in "/:@"):
        reference = value
    else:
        why = tag_problem(value)
        if why:
            raise ValueError(
                f"{value!r} is not an image tag ({why}), a digest (sha256:<64 hex>) or an image "
                "reference (registry/name:tag)"
            )
        reference = f"{repository}:{value}"
    return _pinned_image(reference)


# -- shared ---------------------------------------------------------------------------------------


def _unknown_app(app: str, catalog: Mapping[str, object]) -> Problem:
    return Problem((app,), f"unknown app {app!r}; allowed: {', '.join(catalog) or 'none'}")


def _did_you_mean(name: str, choices: Collection[str]) -> str:
    hint = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {hint[0]!r}?)" if hint else ""


# -- check ----------------------------------------------------------------------------------------


def config_lines(settings: Settings, catalog: Mapping[str, CatalogEntry]) -> list[str]:
    """`check`'s view of every deployed app's settings: the value this stack runs, and the
    default beside it."""
    found = declarations(catalog)
    lines = []
    for app in settings.selected_apps(catalog):
        configured = settings.app_config.get(app, {})
        for key, setting in found[app].config.items():
            default = _shown(setting.default)
            if key in configured:
                lines.append(f"    {app}.{key}: {_shown(configured[key])} (default {default})")
            else:
                lines.append(f"    {app}.{key}: {default} (default)")
    return ["  app settings:", *(lines or ["    none"])]


def image_lines(settings: Settings, catalog: Mapping[str, CatalogEntry]) -> list[str]:
    """`check`'s view of which image each deployed workload runs on this stack."""
    found = declarations(catalog)
    lines = []
    for app in settings.selected_apps(catalog):
        chosen = settings.app_images.get(app, {})
        for workload, declared in found[app].images.items():
            if workload in chosen:
                lines.append(
                    f"    {app}/{workload}: {chosen[workload]} "
                    f"({NAMESPACE}:appImages; declared {declared})"
                )
            else:
                lines.append(f"    {app}/{workload}: {declared}")
    return ["  images:", *lines]


def _shown(value: str | int | bool) -> str:
    return json.dumps(value, ensure_ascii=False)
