"""Typed, validated stack settings (namespace `hybrid-kube`).

`load_settings(raw, catalog)` turns the raw stack configuration into `Settings` or raises one
`SettingsError` naming every bad key, before any resource is declared. `read_stack_config()` reads
the raw values the Pulumi engine hands the program; the render and check commands build the same
mapping from a stack file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator, Mapping
from typing import Any, Literal

import pydantic
from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from .aks import AksSettings
from .base import (
    NAMESPACE,
    SECRET_KEYS,
    Problem,
    SettingsError,
    StrictModel,
    check,
    format_path,
)
from .base import problems_from_validation_error as _problems_from
from .existing import ExistingSettings
from .kubeadm import KubeadmSettings
from .platform import PlatformSettings
from .releases import DEFAULT_VERSION, SUPPORTED_MINORS, end_of_life_warning

__all__ = [
    "NAMESPACE",
    "SUPPORTED_MINORS",
    "AksSettings",
    "AppCatalog",
    "ExistingSettings",
    "KubeadmSettings",
    "PlatformSettings",
    "Settings",
    "SettingsError",
    "load_settings",
    "read_secret_keys",
    "read_stack_config",
]

Target = Literal["aks", "kubeadm", "existing"]


_VERSION = re.compile(r"^v?(?P<minor>1\.\d{1,2})(?:\.(?P<patch>\d{1,3}))?$")

# Keys the engine hands over as JSON text because they hold objects or lists.
_STRUCTURED_KEYS = frozenset({"aks", "kubeadm", "existing", "platform", "apps", "appSecrets"})

# app name -> names of the secrets the app reads (from `appSecrets.<app>.<name>`).
AppCatalog = Mapping[str, frozenset[str]]


class Settings(StrictModel):
    """The whole stack configuration. Section models live beside this module."""

    target: Target
    kubernetes_version: str = DEFAULT_VERSION
    apps: list[str] | None = Field(default=None, description="App names; default: every app.")
    aks: AksSettings | None = None
    kubeadm: KubeadmSettings | None = None
    existing: ExistingSettings | None = None
    platform: PlatformSettings = PlatformSettings()
    ssh_private_key: SecretStr | None = None
    app_secrets: dict[str, dict[str, SecretStr]] = {}

    @field_validator("kubernetes_version", mode="before")
    @classmethod
    def _version(cls, value: Any) -> str:
        match = _VERSION.match(str(value).strip())
        if not match:
            raise ValueError(
                f'{value!r} is not a Kubernetes version; write a minor like "1.34" or a '
                'patch like "1.34.2" (quote it in YAML so it stays a string)'
            )
        if match["minor"] not in SUPPORTED_MINORS:
            raise ValueError(
                f"{value!r} is outside the supported range "
                f"{SUPPORTED_MINORS[0]}-{SUPPORTED_MINORS[-1]}"
            )
        return str(value).strip().removeprefix("v")

    @field_validator("apps")
    @classmethod
    def _known_apps(cls, names: list[str] | None, info: ValidationInfo) -> list[str] | None:
        catalog: AppCatalog = (info.context or {}).get("catalog", {})
        if names is None:
            return None
        check(_unknown_names(names, catalog, ()))
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"listed more than once: {', '.join(duplicates)}")
        return names

    @field_validator("app_secrets")
    @classmethod
    def _known_secrets(
        cls, value: dict[str, dict[str, SecretStr]], info: ValidationInfo
    ) -> dict[str, dict[str, SecretStr]]:
        catalog: AppCatalog = (info.context or {}).get("catalog", {})
        problems = []
        for app, secrets in value.items():
            if app not in catalog:
                problems.extend(_unknown_names([app], catalog, (app,), index=False))
                continue
            for key in secrets:
                if key not in catalog[app]:
                    allowed = ", ".join(sorted(catalog[app])) or "none"
                    problems.append(
                        Problem(
                            (app, key), f"app {app!r} reads no secret {key!r}; it reads: {allowed}"
                        )
                    )
        check(problems)
        return value

    @model_validator(mode="after")
    def _target_section(self) -> Settings:
        check(self._target_problems())
        return self

    def _target_problems(self) -> Iterator[Problem]:
        if self.target in ("aks", "kubeadm") and getattr(self, self.target) is None:
            yield Problem(
                (self.target,),
                f"required when target is {self.target!r}; see stacks/ for a complete example",
            )
        if (
            self.target == "kubeadm"
            and self.kubeadm is not None
            and self.platform.load_balancer
            and not self.kubeadm.load_balancer_addresses
        ):
            yield Problem(
                ("kubeadm", "loadBalancerAddresses"),
                "required while platform.loadBalancer is on: MetalLB hands these addresses to "
                "LoadBalancer Services (the ingress controller's first); list a free range of "
                "the hosts' network, or set platform.loadBalancer to false",
            )
        if self.target == "existing":
            existing = self.existing or ExistingSettings()
            path = existing.kubeconfig_path()
            if existing.kubeconfig is None and not path.is_file():
                yield Problem(
                    ("existing", "kubeconfig"),
                    f"no kubeconfig given and the default {path} does not exist; set "
                    f"{NAMESPACE}:existing.kubeconfig or KUBECONFIG",
                )

    # -- derived views -------------------------------------------------------------------------

    @property
    def warnings(self) -> list[str]:
        """Valid but worth saying: `check` prints these and the program logs them."""
        found = []
        eol = end_of_life_warning(self.kubernetes_minor)
        if eol:
            found.append(f"{NAMESPACE}:kubernetesVersion: {eol}")
        if self.target == "aks" and self.aks is not None:
            found += [f"{format_path(('aks', *path))}: {text}" for path, text in self.aks.warnings]
        if self.target == "kubeadm" and self.kubeadm is not None:
            found += [
                f"{format_path(('kubeadm', *path))}: {text}" for path, text in self.kubeadm.warnings
            ]
        existing = self.existing or ExistingSettings()
        if self.target == "existing" and not (existing.context or existing.cluster_identifier):
            found.append(
                f"{NAMESPACE}:existing.context: not set, so the kubeconfig's current context "
                "is used and its name is this stack's cluster identity: after `kubectl config "
                "use-context`, the next `pulumi up` would move every object to that cluster. "
                "Name the context (or set existing.clusterIdentifier) to pin the stack to one "
                "cluster"
            )
        return found

    @property
    def kubernetes_minor(self) -> str:
        """ "1.34" for both "1.34" and "1.34.2"."""
        match = _VERSION.match(self.kubernetes_version)
        assert match is not None  # validated above
        return match["minor"]

    def selected_apps(self, catalog: Mapping[str, object]) -> list[str]:
        """The apps to deploy, in catalog order when the stack does not list them."""
        return list(self.apps) if self.apps is not None else list(catalog)

    @property
    def target_settings(self) -> AksSettings | KubeadmSettings | ExistingSettings:
        return getattr(self, self.target) or ExistingSettings()


def _unknown_names(
    names: list[str], catalog: AppCatalog, path: tuple, *, index: bool = True
) -> Iterator[Problem]:
    allowed = ", ".join(catalog) or "none"
    for position, name in enumerate(names):
        if name not in catalog:
            where = (*path, position) if index else path
            yield Problem(where, f"unknown app {name!r}; allowed: {allowed}")


def load_settings(
    raw: Mapping[str, Any], catalog: AppCatalog, *, secret_keys: Collection[str] | None = None
) -> Settings:
    """Validate the raw `hybrid-kube:*` values; raise one `SettingsError` listing every problem.

    `secret_keys` are the keys the engine holds encrypted (`pulumi config set --secret`); when
    given, a credential key outside it (typed into the stack file in plain text) is a problem.
    """
    values: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    if secret_keys is not None:
        for key in sorted(SECRET_KEYS & set(raw) - set(secret_keys)):
            problems.append(
                (
                    format_path((key,)),
                    "stored in plain text; remove it from the stack file and set it encrypted: "
                    + (
                        "pulumi config set --secret sshPrivateKey < <key file>"
                        if key == "sshPrivateKey"
                        else "pulumi config set --secret --path 'appSecrets.<app>.<name>' <value>"
                    ),
                )
            )
    for key, value in raw.items():
        if key in _STRUCTURED_KEYS and isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                problems.append((format_path((key,)), "expected an object or list, got text"))
                continue
        values[key] = value
    try:
        settings = Settings.model_validate(values, context={"catalog": catalog})
    except pydantic.ValidationError as error:
        problems.extend(_problems_from(error, Settings))
    if problems:
        raise SettingsError(problems)
    return settings


def read_secret_keys() -> set[str]:
    """The `hybrid-kube:*` keys the engine handed over as secrets (short names)."""
    from pulumi.runtime import config as runtime_config

    prefix = f"{NAMESPACE}:"
    keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    return {
        key.removeprefix(prefix)
        for key in keys
        if key.startswith(prefix) and runtime_config.is_config_secret(key)
    }


def read_stack_config() -> dict[str, Any]:
    """The program's raw `hybrid-kube:*` config as the engine passed it (secrets included).

    The runtime's getters are used instead of `pulumi.Config` so that reading a secret key for
    validation does not warn; the values leave this module only inside `SecretStr` and, in the
    components, `pulumi.Output.secret`.
    """
    from pulumi.runtime import config as runtime_config

    prefix = f"{NAMESPACE}:"
    keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    return {
        key.removeprefix(prefix): runtime_config.get_config(key)
        for key in sorted(keys)
        if key.startswith(prefix)
    }
