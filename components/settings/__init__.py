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
from .apps import (
    CatalogEntry,
    check_config,
    check_images,
    declarations,
    encrypted_plain_keys,
    encrypted_plain_settings,
    secret_catalog,
)
from .base import (
    NAMESPACE,
    SECRET_KEYS,
    Problem,
    SettingsError,
    StrictModel,
    check,
    format_path,
    misspelled_namespace,
    namespace_problem,
)
from .base import problems_from_validation_error as _problems_from
from .existing import ExistingSettings
from .kubeadm import KubeadmSettings
from .kubeadm import salvaged_problems as kubeadm_salvaged_problems
from .platform import PlatformSettings
from .registries import Registries, acr_login_server, registry_warnings
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
_STRUCTURED_KEYS = frozenset(
    {
        "aks",
        "kubeadm",
        "existing",
        "platform",
        "apps",
        "appSecrets",
        "registries",
        "appConfig",
        "appImages",
    }
)

# SECRET_KEYS typed into the stack file in plain text are refused. A nested
# object counts as encrypted when any value in it is (`pulumi config set --secret --path`), the
# granularity at which the engine marks config secret (pulumi sdk/go/common/resource/config).
_ENCRYPT_COMMANDS = {
    "sshPrivateKey": "pulumi config set --secret sshPrivateKey < <key file>",
    "appSecrets": "pulumi config set --secret --path 'appSecrets.<app>.<name>' <value>",
    "registries": "pulumi config set --secret --path 'registries[\"<host>\"].password' <token>",
}

# app name -> its AppSpec (apps.CATALOG), an AppDeclaration, or only the names of the secrets
# it reads (from `appSecrets.<app>.<name>`), as older callers pass it: see settings/apps.py.
AppCatalog = Mapping[str, CatalogEntry]


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
    app_config: dict[str, dict[str, Any]] = Field(
        default={}, description="App -> setting -> value (settings/apps.py); typed once validated."
    )
    app_images: dict[str, dict[str, Any]] = Field(
        default={}, description="App -> workload -> tag, digest or reference; resolved once valid."
    )
    registries: Registries = Field(
        default={}, description="Registry host -> login (username, password) for private images."
    )

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
            supported = f"{SUPPORTED_MINORS[0]}-{SUPPORTED_MINORS[-1]}"
            text = str(value).strip()
            if re.fullmatch(r"1\.[1-9]", text):
                # `kubernetesVersion: 1.30` unquoted is the number 1.3 to YAML (and the engine):
                # no one means minor 3, so say what happened and how to write it.
                meant = f"{text}0"
                advice = (
                    f'quote it, "{meant}"'
                    if meant in SUPPORTED_MINORS
                    else f"{meant} is not supported either; quote a supported one, e.g. "
                    f'"{DEFAULT_VERSION}"'
                )
                raise ValueError(
                    f"{value!r} is outside the supported range {supported}; YAML reads an "
                    f"unquoted {meant} as the number {text}: {advice}"
                )
            raise ValueError(f"{value!r} is outside the supported range {supported}")
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

    @field_validator("app_config", mode="before")
    @classmethod
    def _known_config(
        cls, value: Any, info: ValidationInfo
    ) -> dict[str, dict[str, str | int | bool]]:
        parsed, problems = check_config(value, (info.context or {}).get("declarations", {}))
        check(problems)
        return parsed

    @field_validator("app_images", mode="before")
    @classmethod
    def _known_images(cls, value: Any, info: ValidationInfo) -> dict[str, dict[str, str]]:
        resolved, problems = check_images(value, (info.context or {}).get("declarations", {}))
        check(problems)
        return resolved

    @model_validator(mode="after")
    def _target_section(self) -> Settings:
        check(self._target_problems())
        return self

    def _target_problems(self) -> Iterator[Problem]:
        yield from _target_rules(
            self.target,
            section_set=getattr(self, self.target, None) is not None,
            platform=self.platform,
            pool=None if self.kubeadm is None else self.kubeadm.load_balancer_addresses,
            existing=self.existing or ExistingSettings(),
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
        found += [
            f"{format_path(('registries', *path))}: {text}"
            for path, text in registry_warnings(self.registries, self.own_registry)
        ]
        found += self._settings_of_unselected_apps()
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
    def own_registry(self) -> str | None:
        """The login server of the ACR this stack creates on AKS (its nodes pull with AcrPull)."""
        if self.target != "aks" or self.aks is None or self.aks.container_registry is None:
            return None
        return acr_login_server(self.aks.container_registry.name)

    @property
    def kubernetes_minor(self) -> str:
        """ "1.34" for both "1.34" and "1.34.2"."""
        match = _VERSION.match(self.kubernetes_version)
        assert match is not None  # validated above
        return match["minor"]

    def selected_apps(self, catalog: Mapping[str, object]) -> list[str]:
        """The apps to deploy, in catalog order when the stack does not list them."""
        return list(self.apps) if self.apps is not None else list(catalog)

    def _settings_of_unselected_apps(self) -> list[str]:
        """Values set for an app the stack's `apps` list leaves out: harmless, but most likely
        a forgotten entry in that list (or a leftover after removing the app)."""
        if self.apps is None:
            return []
        sections = {
            "appConfig": self.app_config,
            "appImages": self.app_images,
            "appSecrets": self.app_secrets,
        }
        return [
            f"{NAMESPACE}:{key}.{app}: set, but {app!r} is not in this stack's apps "
            f"({', '.join(self.apps) or 'none'}); it is not deployed, so these values are unused"
            for key, values in sections.items()
            for app in sorted(values)
            if app not in self.apps
        ]

    def deployed_apps(self, catalog: Mapping[str, Any]) -> dict[str, Any]:
        """Each selected app's spec as this stack runs it: its images after `appImages`."""
        return {
            name: catalog[name].with_images(self.app_images.get(name, {}))
            for name in self.selected_apps(catalog)
        }

    @property
    def target_settings(self) -> AksSettings | KubeadmSettings | ExistingSettings:
        return getattr(self, self.target) or ExistingSettings()


def _target_rules(
    target: str,
    *,
    section_set: bool,
    platform: PlatformSettings | None,
    pool: list[Any] | None,
    existing: ExistingSettings | None,
) -> Iterator[Problem]:
    """The rules tying `target` to the sections. A None argument is unknown (it failed
    validation): the rules reading it are skipped. `pool` is kubeadm.loadBalancerAddresses."""
    if target in ("aks", "kubeadm") and not section_set:
        yield Problem(
            (target,), f"required when target is {target!r}; see stacks/ for a complete example"
        )
    if target == "kubeadm" and pool == [] and platform is not None and platform.load_balancer:
        yield Problem(
            ("kubeadm", "loadBalancerAddresses"),
            "required while platform.loadBalancer is on: MetalLB hands these addresses to "
            "LoadBalancer Services (the ingress controller's first); list a free range of "
            "the hosts' network, or set platform.loadBalancer to false",
        )
    if target == "existing" and existing is not None:
        for problem in existing.kubeconfig_problems():
            yield Problem(("existing", *problem.path), problem.message)


def _salvaged_target_problems(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """`_target_rules` for a configuration with field errors (which stop the model's own
    rules), fed only with the parts that validate on their own."""
    target = values.get("target")
    if target not in ("aks", "kubeadm", "existing"):
        return []
    kubeadm = values.get("kubeadm")
    pool = kubeadm.get("loadBalancerAddresses", []) if isinstance(kubeadm, dict) else None
    found = _target_rules(
        target,
        section_set=values.get(target) is not None,
        platform=_valid_or_none(PlatformSettings, values.get("platform", {})),
        pool=pool if isinstance(pool, list) else None,
        existing=_valid_or_none(ExistingSettings, values.get("existing") or {}),
    )
    return [(format_path(p.path), p.message) for p in found]


def _valid_or_none(model: type[StrictModel], raw: Any) -> Any:
    try:
        return model.model_validate(raw)
    except pydantic.ValidationError:
        return None


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
    withheld: list[str] = []  # encrypted appConfig/appImages: reported, never validated or echoed
    if secret_keys is not None:
        for key in sorted(SECRET_KEYS & set(raw) - set(secret_keys)):
            problems.append(
                (
                    format_path((key,)),
                    "stored in plain text; remove it from the stack file and set it encrypted: "
                    + _ENCRYPT_COMMANDS.get(key, f"pulumi config set --secret {key} <value>"),
                )
            )
        problems += encrypted_plain_settings(raw, secret_keys)
        withheld = encrypted_plain_keys(raw, secret_keys)
    for key, value in raw.items():
        if key in withheld:
            continue
        if misspelled_namespace(key):  # `hybrid_kube:target`, passed whole by read_stack_config
            problems.append(namespace_problem(key))
            continue
        if key in _STRUCTURED_KEYS and isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                problems.append((format_path((key,)), "expected an object or list, got text"))
                continue
        values[key] = value
    try:
        settings = Settings.model_validate(
            values,
            context={"catalog": secret_catalog(catalog), "declarations": declarations(catalog)},
        )
    except pydantic.ValidationError as error:
        problems.extend(_problems_from(error, Settings))
        # Field errors stop the models' cross-field rules; run those that read only parts that
        # validated (the target's section, the kubeadm section's rules), so one run names every
        # problem.
        salvaged = _salvaged_target_problems(values)
        salvaged += kubeadm_salvaged_problems(values.get("kubeadm"))
        problems += [p for p in salvaged if p not in problems]
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
    from pulumi.runtime.settings import get_monitor

    if get_monitor() is None:
        # `python __main__.py`: no engine, so no stack and no config (not a missing `target`).
        # SystemExit prints this line alone, without a traceback.
        raise SystemExit(OUTSIDE_THE_ENGINE)
    prefix = f"{NAMESPACE}:"
    keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    return {
        key.removeprefix(prefix): runtime_config.get_config(key)
        for key in sorted(keys)
        if key.startswith(prefix) or misspelled_namespace(key)
    }


OUTSIDE_THE_ENGINE = (
    "error: this is a Pulumi program: the Pulumi engine runs it and hands it the stack's "
    "configuration. Run it with `pulumi up -s <stack>`, or `hybrid-kube render <stack>` to see "
    "what it would do"
)
