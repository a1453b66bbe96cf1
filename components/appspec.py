"""How an application is declared: plain, validated data, with secure defaults built in.

An app is an `AppSpec` (one namespace) holding one or more `WorkloadSpec`s (a Deployment, or a
StatefulSet when it declares storage). Every default is the secure one; a caller opts out
explicitly (`singleton=True`, `read_only_root_filesystem=False`, ...), so the opt-out is visible
in review. Specs are checked when they are built, so a bad declaration fails before any resource
is declared.
"""

from __future__ import annotations

import hashlib
import html
import re
import string
from collections.abc import Callable, Mapping
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    model_validator,
)

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_QUANTITY = re.compile(r"^\d+(\.\d+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$")
# A setting's name is one key of `appConfig.<app>`: letters and digits, so `pulumi config set
# --path 'appConfig.<app>.<name>'` addresses it without quoting.
_SETTING_NAME = re.compile(r"^[a-z][A-Za-z0-9]{0,62}$")


def _dns_label(value: str) -> str:
    if not _DNS_LABEL.match(value):
        raise ValueError(f"{value!r} is not a DNS-1123 label (lowercase letters, digits, '-')")
    return value


# Tags that name a channel or a branch: they move to a new build whenever upstream publishes one.
_MOVING_TAGS = frozenset(
    {"latest", "stable", "mainline", "main", "master", "edge", "nightly", "dev", "develop", "next"}
)
# An exact release: at least major.minor.patch, optionally `v` first and a variant after
# (`8.1.11-alpine`, `1.30.5`, `v1.2.3`, `1.30.5-alpine3.22`, `2.4.1_build.7`). No `+`: a tag
# cannot hold one (the reference grammar below), so semver build metadata is written `_` or `-`.
_EXACT_RELEASE = re.compile(r"^v?\d+\.\d+\.\d+(?:[-_.][0-9A-Za-z][0-9A-Za-z._-]*)?$")
# A build of one commit: 7 to 40 lowercase hex digits, alone or after a word and a dash
# (`3f2a9c1d`, `sha-3f2a9c1`, `main-3f2a9c1d`, as docker/metadata-action's `type=sha` writes them).
_COMMIT_TAG = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9._]*-)?[0-9a-f]{7,40}$")
# A release line: a bare major or major.minor, with or without a variant (`8`, `8.1`, `8.1-alpine`).
_RELEASE_LINE = re.compile(r"^v?\d+(?:\.\d+)?(?:[-_][0-9A-Za-z._-]*)?$")
_PIN_ADVICE = (
    "pin an exact release (e.g. valkey/valkey:8.1.11-alpine), a commit-SHA tag "
    "(e.g. :sha-3f2a9c1) or a digest (@sha256:...)"
)

# The image reference grammar the kubelet and containerd parse names with
# (distribution/reference@v0.6.0 reference.go, regexp.go; the kubelet calls
# ParseNormalizedNamed, normalize.go):
#   reference := name [":" tag] ["@" digest];  name := [domain "/"] path-component ["/" ...]
#   path-component := [a-z0-9]+ joined by one '.', one or two '_', or any number of '-'
#   domain := domain-component ["." domain-component]* | "[" IPv6 "]", then an optional ":port"
#   tag := [\w][\w.-]{0,127} (Go's \w is ASCII: letters, digits, '_'; no '+')
# The path is at most 255 characters. The digest here is the one the runtimes pull by,
# sha256:<64 lowercase hex> (go-digest's Validate). Beyond the grammar, the whole name must be
# lowercase: an uppercase first part would be taken for a registry host, and `registries`
# keys (settings/registries.py) are lowercase hosts.
_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*")
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(
    rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
)
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_MAX_PATH = 255
_EXAMPLE = "e.g. ghcr.io/me/hello:1.0.0"


class ImageReference(BaseModel):
    """An image reference split as the container runtime splits it."""

    model_config = ConfigDict(frozen=True)

    domain: str
    """The registry host (with its port), or "" for a Docker Hub name such as `nginx`."""
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """The repository: `ghcr.io/me/hello` for `ghcr.io/me/hello:1.0.0@sha256:...`."""
        return f"{self.domain}/{self.path}" if self.domain else self.path


def parse_image(value: str) -> ImageReference:
    """`value` split into registry, path, tag and digest; ValueError naming what is wrong and
    how to write it when the kubelet would refuse it (see the grammar above)."""
    scheme = _SCHEME.match(value)
    if scheme:
        rest = value[scheme.end() :]
        raise ValueError(
            f"image {value!r}: drop {scheme.group()}: an image reference starts with the "
            f"registry host; write {rest}"
        )
    if not value or any(c.isspace() for c in value):
        raise ValueError(
            f"image {value!r} is empty or holds a space; write one reference, {_EXAMPLE}"
        )
    name, at, digest = value.partition("@")
    if at and not _DIGEST.fullmatch(digest):
        raise ValueError(f"image {value!r} has a malformed digest; expected sha256:<64 hex>")
    tag = None
    if name.rfind(":") > name.rfind("/"):
        name, _, tag = name.rpartition(":")
    suffix = value[len(name) :]
    why = _name_problem(name.lower())
    if why:
        raise ValueError(f"image {value!r} {why}")
    if name.lower() != name:
        raise ValueError(
            f"image {value!r}: repository names must be lowercase: write {name.lower()}{suffix}"
        )
    if tag is not None:
        why = tag_problem(tag)
        if why:
            raise ValueError(f"image {value!r}: {why}")
    domain, path = _split_domain(name)
    return ImageReference(domain=domain, path=path, tag=tag, digest=digest or None)


def _split_domain(name: str) -> tuple[str, str]:
    """(registry, path) as distribution/reference normalize.go `splitDockerDomain` splits a
    name: the first part is the registry when it is `localhost` or holds a `.` or a `:`."""
    first, slash, rest = name.partition("/")
    if slash and (first == "localhost" or any(c in first for c in ".:")):
        return first, rest
    return "", name


def _name_problem(name: str) -> str | None:
    """What is wrong with a (lowercased) repository name, or None."""
    if not name:
        return f"has no repository name; write registry/name:tag, {_EXAMPLE}"
    domain, path = _split_domain(name)
    if domain and not _DOMAIN.fullmatch(domain):
        return (
            f"has registry host {domain!r}, which is not a host name or an IP address "
            "(with an optional :port)"
        )
    parts = path.split("/")
    if "" in parts:
        return f"has an empty path part ('//', or '/' at the start or end); {_EXAMPLE}"
    bad = [part for part in parts if not _PATH_COMPONENT.fullmatch(part)]
    if bad:
        return (
            f"has path part {bad[0]!r}, which is not allowed: path parts are lowercase letters "
            "and digits, joined by '.', '_', '__' or '-' (not at the start or end)"
        )
    if len(path) > _MAX_PATH:
        return f"has a repository path of {len(path)} characters; at most {_MAX_PATH} are allowed"
    return None


def tag_problem(tag: str) -> str | None:
    """Why `tag` is not an image tag, or None."""
    if _TAG.fullmatch(tag):
        return None
    allowed = (
        "a tag is letters, digits, '_', '.' and '-', at most 128, not starting with '.' or '-'"
    )
    if not tag:
        return f"the ':' is followed by no tag; {allowed}"
    if "+" in tag:
        fixed = tag.replace("+", "_")
        return f"tag {tag!r} holds '+', which tags cannot; {allowed}: e.g. {fixed}"
    return f"tag {tag!r} is not allowed; {allowed}"


def _pinned_image(value: str) -> str:
    """An image whose reference names one build: an exact release tag, a commit-SHA tag or a digest.

    The reference must first be one the kubelet accepts (`parse_image`). Moving tags are refused:
    a channel (`latest`, `stable`, `main`, `edge`, ...) or a release line (`8`, `8.1`,
    `8.1-alpine`) is re-pointed at every upstream build, so two nodes (or two days) may run
    different code under the same spec, and a rollback has nothing fixed to return to.
    A digest pins the bytes whatever the tag says.
    """
    reference = parse_image(value)
    if reference.digest:
        return value
    tag = reference.tag
    if tag is None:
        raise ValueError(f"image {value!r} has no tag; {_PIN_ADVICE}")
    if _EXACT_RELEASE.match(tag) or _COMMIT_TAG.match(tag):
        return value
    if tag.lower() in _MOVING_TAGS or tag.split("-", 1)[0].lower() in _MOVING_TAGS:
        why = f"tag {tag!r} names a channel or branch, which moves with every upstream build"
    elif _RELEASE_LINE.match(tag):
        why = f"tag {tag!r} names a release line, which moves with every patch release"
    else:
        why = f"tag {tag!r} is neither an exact release (x.y.z) nor a commit SHA"
    raise ValueError(f"image {value!r}: {why}; {_PIN_ADVICE}")


def _quantity(value: str) -> str:
    if not _QUANTITY.match(value):
        raise ValueError(f"{value!r} is not a Kubernetes quantity such as 100m, 128Mi or 1Gi")
    return value


def _absolute(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"{value!r} is not an absolute path")
    return value


Name = Annotated[str, AfterValidator(_dns_label)]
Image = Annotated[str, AfterValidator(_pinned_image)]
Quantity = Annotated[str, AfterValidator(_quantity)]
AbsolutePath = Annotated[str, AfterValidator(_absolute)]
ConfigKey = Annotated[str, Field(pattern=_CONFIG_KEY.pattern)]
SettingName = Annotated[str, Field(pattern=_SETTING_NAME.pattern)]
EnvName = Annotated[str, Field(pattern=_ENV_NAME.pattern)]


class Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HttpProbe(Spec):
    """GET `path` on the workload's port."""

    kind: Literal["http"] = "http"
    path: str = "/"


class TcpProbe(Spec):
    """Open a TCP connection to the workload's port."""

    kind: Literal["tcp"] = "tcp"


class ExecProbe(Spec):
    """Run `command` in the container; exit 0 means healthy."""

    kind: Literal["exec"] = "exec"
    command: tuple[str, ...] = Field(min_length=1)


Probe = Annotated[HttpProbe | TcpProbe | ExecProbe, Field(discriminator="kind")]


class Resources(Spec):
    """Requests are what the scheduler reserves; limits cap the container."""

    cpu_request: Quantity = "50m"
    memory_request: Quantity = "64Mi"
    cpu_limit: Quantity = "500m"
    memory_limit: Quantity = "256Mi"


class Storage(Spec):
    """A persistent volume per replica (the workload becomes a StatefulSet).

    Raising `size` later expands each replica's existing claim in place (the StatefulSet's claim
    template is immutable and is left as first created); the cluster's StorageClass must allow
    expansion (AKS's default `managed-csi` does; OpenEBS hostpath on kubeadm and kind's
    `standard` do not). Lowering it is refused: volumes do not shrink. Both refusals come from
    the API server during `pulumi preview`, before anything changes.
    """

    size: Quantity = "1Gi"
    mount_path: AbsolutePath = "/data"


# Kubernetes refuses these in an Exact or Prefix Ingress path (pkg/apis/networking/validation).
_INVALID_PATH_SEQUENCES = ("//", "/./", "/../", "%2f", "%2F")
_INVALID_PATH_SUFFIXES = ("/..", "/.")


class ExposedPath(Spec):
    """One path routed from the ingress controller to the workload.

    `Exact` matches the path alone; `Prefix` matches it and everything below it, element by
    element (`/api` matches `/api` and `/api/x`, not `/apix`). Expose only what users need.
    """

    path: AbsolutePath
    path_type: Literal["Exact", "Prefix"] = "Prefix"

    @model_validator(mode="after")
    def _valid_ingress_path(self) -> ExposedPath:
        bad = [s for s in _INVALID_PATH_SEQUENCES if s in self.path]
        bad += [s for s in _INVALID_PATH_SUFFIXES if self.path.endswith(s)]
        if bad:
            raise ValueError(
                f"path {self.path!r} contains {bad}, which Kubernetes refuses in an Ingress path"
            )
        return self


class Exposure(Spec):
    """Reachable from outside the cluster through the platform's ingress controller."""

    host_prefix: Name | None = Field(
        default=None, description="Host is `<prefix>.<ingressDomain>`; default: the app name."
    )
    paths: tuple[ExposedPath, ...] = Field(
        default=(ExposedPath(path="/"),),
        min_length=1,
        description="Exactly the paths routed to the workload; default: everything (`/` Prefix).",
    )

    @model_validator(mode="after")
    def _distinct_paths(self) -> Exposure:
        seen = [p.path for p in self.paths]
        repeated = sorted({p for p in seen if seen.count(p) > 1})
        if repeated:
            raise ValueError(f"paths {repeated} are listed more than once")
        return self


class SecretSpec(Spec):
    """A secret the app reads. Taken from `appSecrets.<app>.<name>`, else generated once."""

    length: int = Field(default=32, ge=16, le=128)
    description: str = ""


def _sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


SECRET_TRANSFORMS: Mapping[str, Callable[[str], str]] = {"sha256": _sha256_hex}
"""Transforms a `SecretFile` template may apply to a secret, as `{secretName:transform}`.

`sha256`: the lowercase hex SHA-256 of the value's UTF-8 bytes, the form Valkey's ACL takes as
`#<hash>` (valkey src/acl.c: ACLSetUser, ACLCheckPasswordHash). The file then carries only hex
digits, whatever characters the secret holds: no quoting, nothing a newline could inject.
"""


def _placeholders(template: str) -> list[tuple[str, str, str | None]]:
    """(name, transform or "", conversion) for every `{...}` in a `str.format` template."""
    return [
        (name, spec or "", conversion)
        for _, name, spec, conversion in string.Formatter().parse(template)
        if name is not None
    ]


class SecretFile(Spec):
    """A file rendered from the app's secrets, e.g. a server config holding a password.

    `template` uses `{secretName}` placeholders, which insert the value verbatim (fine for
    generated values, which are letters and digits only), or `{secretName:transform}` with a
    transform from `SECRET_TRANSFORMS`, e.g. `{adminPassword:sha256}`, so a config holds a hash
    rather than the password. The result is stored in the app's Secret only.
    """

    template: str

    def placeholders(self) -> list[tuple[str, str, str | None]]:
        """(secret name, transform or "", conversion) for every `{...}` in the template."""
        return _placeholders(self.template)


# -- plain per-stack settings ---------------------------------------------------------------------

SettingValue = StrictStr | StrictInt | StrictBool
_TYPE_WORDS = {"str": "text", "int": "a whole number", "bool": "true or false"}


class ConfigSetting(Spec):
    """A plain (non-secret) setting a stack may set as `appConfig.<app>.<name>`.

    Workloads read it as an environment variable (`WorkloadSpec.config_env`) or inside a file
    rendered from a `ConfigFile` template; either way through the workload's ConfigMap, whose
    checksum is on the pod template, so a new value rolls the pods and an unchanged one touches
    nothing. Never put a credential here: use `secrets`.
    """

    type: Literal["str", "int", "bool"] = "str"
    default: SettingValue
    description: str = ""
    allowed: tuple[StrictStr | StrictInt, ...] = ()
    """When given, the only values accepted (an enumeration), for `str` and `int` settings."""
    pattern: str | None = None
    """`str` only: a regular expression the whole value must match, e.g. `^#[0-9a-f]{6}$`."""

    @model_validator(mode="after")
    def _consistent(self) -> ConfigSetting:
        problems = []
        if self.allowed and self.type == "bool":
            problems.append("allowed: a bool setting is already true or false")
        if self.pattern is not None and self.type != "str":
            problems.append("pattern applies to str settings only")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as error:
                problems.append(f"pattern {self.pattern!r} is not a regular expression ({error})")
        wrong = [v for v in self.allowed if not _has_type(v, self.type)]
        if wrong:
            problems.append(f"allowed values {wrong} are not of type {self.type}")
        if not problems:
            try:
                self.parse(self.default, strict=True)
            except ValueError as error:
                problems.append(f"default: {error}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def parse(self, value: object, *, strict: bool = False) -> str | int | bool:
        """`value` as this setting's type, or ValueError saying what is expected.

        Unless `strict`, "42" is taken for an int and "true"/"false" for a bool, and an integer
        or a bool for text (`pulumi config set --path` stores `42` and `true` typed, as a number
        and a bool): each converts without loss. A fraction is never taken for text: YAML reads
        `1.10` as 1.1, which should be quoted, not silently shortened.
        """
        if not _has_type(value, self.type):
            if not strict and self.type == "str" and isinstance(value, int):
                value = setting_text(value)
            elif strict or not isinstance(value, str):
                raise ValueError(f"expected {self.expected()}, got {value!r}{_quote_hint(self)}")
            else:
                value = _from_text(value, self.type, self.expected())
        if self.allowed and value not in self.allowed:
            raise ValueError(f"{value!r} is not allowed; allowed: {self.expected()}")
        if self.pattern is not None and not re.fullmatch(self.pattern, str(value)):
            about = f" ({self.description.rstrip('.')})" if self.description else ""
            raise ValueError(f"{value!r} is not allowed; allowed: {self.expected()}{about}")
        return value

    def expected(self) -> str:
        """What the setting accepts, in words, for messages and `check`."""
        if self.allowed:
            return ", ".join(str(v) for v in self.allowed)
        if self.pattern is not None:
            return f"text matching {self.pattern}"
        return _TYPE_WORDS[self.type]


def _has_type(value: object, kind: str) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, str)


def _from_text(value: str, kind: str, expected: str) -> int | bool | str:
    if kind == "int" and re.fullmatch(r"[-+]?\d+", value.strip()):
        return int(value)
    if kind == "bool" and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError(f"expected {expected}, got {value!r}")


def _quote_hint(setting: ConfigSetting) -> str:
    if setting.type != "str":
        return ""
    return (
        "; quote it in the stack file so it stays text, or set it with "
        "`pulumi config set --type string --path ...`"
    )


def setting_text(value: str | int | bool) -> str:
    """How a value is written into a ConfigMap: bools as `true`/`false`, numbers in decimal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


CONFIG_TRANSFORMS: Mapping[str, Callable[[str], str]] = {
    "html": lambda text: html.escape(text, quote=True),
}
"""Transforms a `ConfigFile` template may apply to a setting, as `{setting:transform}`.

`html`: `&`, `<`, `>`, `"` and `'` escaped, so a value set in a stack shows as text in a page
and never becomes markup or a script.
"""


class ConfigFile(Spec):
    """A plain file rendered from the app's settings, e.g. a page showing a configured message.

    `template` uses `{setting}` (the value as text) or `{setting:transform}` placeholders, with a
    transform from `CONFIG_TRANSFORMS`; a literal brace is written `{{` or `}}`.
    """

    template: str

    def placeholders(self) -> list[tuple[str, str, str | None]]:
        return _placeholders(self.template)

    def render(self, values: Mapping[str, str]) -> str:
        return _ConfigFormatter().vformat(self.template, (), dict(values))


class _ConfigFormatter(string.Formatter):
    def format_field(self, value: object, format_spec: str) -> str:
        text = str(value)
        return CONFIG_TRANSFORMS[format_spec](text) if format_spec else text


class WorkloadSpec(Spec):
    """One container image run as a Deployment (or a StatefulSet with `storage`)."""

    name: Name
    image: Image
    port: int = Field(ge=1, le=65535)
    port_name: Name = "http"
    args: tuple[str, ...] = ()
    env: dict[EnvName, str] = {}
    """Plain settings: stored in the workload's ConfigMap, injected as environment variables."""
    files: dict[ConfigKey, str] = {}
    """Plain files: stored in the ConfigMap, mounted read-only under `files_path`."""
    files_path: AbsolutePath | None = None
    config_env: dict[EnvName, str] = {}
    """Environment variable -> name of one of the app's `config` settings (set per stack)."""
    config_files: dict[ConfigKey, str] = {}
    """File name -> name of one of the app's `ConfigFile`s, mounted with `files` in `files_path`."""
    secret_env: dict[EnvName, str] = {}
    """Environment variable -> name of one of the app's secrets."""
    secret_files: dict[ConfigKey, str] = {}
    """File name -> name of one of the app's `SecretFile`s, mounted under `secret_files_path`."""
    secret_files_path: AbsolutePath | None = None
    writable_paths: tuple[AbsolutePath, ...] = ("/tmp",)
    """emptyDir volumes: the only writable places, since the root filesystem is read-only."""
    storage: Storage | None = None
    readiness: Probe = HttpProbe()
    liveness: Probe = TcpProbe()
    startup: Probe | None = None
    """Set for slow starters; liveness waits until it passes."""
    resources: Resources = Resources()
    replicas: int = Field(default=2, ge=1)
    max_replicas: int | None = None
    """Ceiling for the HorizontalPodAutoscaler; default: twice `replicas`. Not with `storage`."""
    singleton: bool = False
    """Opt out of the two-replica minimum (for a single-writer store); no PDB, no autoscaler."""
    talks_to: tuple[Name, ...] = ()
    """Workloads of the same app this one connects to: the NetworkPolicies allow exactly these."""
    exposure: Exposure | None = None
    run_as_user: int = Field(default=10001, ge=1)
    read_only_root_filesystem: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> WorkloadSpec:
        problems = []
        if self.replicas < 2 and not self.singleton:
            problems.append(
                f"replicas={self.replicas}: at least 2 keep the app up while a node drains; "
                "set singleton=True to opt out explicitly"
            )
        if self.singleton and self.replicas != 1:
            problems.append("singleton=True runs exactly one replica; drop replicas")
        if self.run_as_user <= 10000:
            problems.append(
                f"run_as_user={self.run_as_user}: use a UID above 10000 so it matches no host user"
            )
        if self.files and not self.files_path:
            problems.append("files need files_path, the directory to mount them in")
        if self.config_files and not self.files_path:
            problems.append("config_files need files_path, the directory to mount them in")
        if self.secret_files and not self.secret_files_path:
            problems.append("secret_files need secret_files_path")
        # Names in one container's environment, then keys of the one ConfigMap.
        problems += _repeated_keys(
            {"env": self.env, "config_env": self.config_env, "secret_env": self.secret_env}
        )
        problems += _repeated_keys(
            {
                "env": self.env,
                "config_env": self.config_env,
                "files": self.files,
                "config_files": self.config_files,
            }
        )
        if self.max_replicas is not None and self.max_replicas < self.replicas:
            problems.append("max_replicas is below replicas")
        if self.max_replicas is not None and self.storage is not None:
            problems.append(
                "max_replicas: a workload with storage runs exactly `replicas` (each replica's "
                "volume is sized and resized by the program), so nothing autoscales it"
            )
        if problems:
            raise ValueError(f"workload {self.name!r}: " + "; ".join(problems))
        return self

    @property
    def autoscaled(self) -> bool:
        """A HorizontalPodAutoscaler owns the replica count of stateless workloads. One with
        storage keeps the declared count: replicas beyond it would get volumes nobody sized."""
        return not self.singleton and self.storage is None

    @property
    def disruption_budget(self) -> bool:
        return not self.singleton

    @property
    def replica_ceiling(self) -> int:
        return self.max_replicas or 2 * self.replicas


class AppSpec(Spec):
    """An application: its own namespace, its workloads, and the secrets they share."""

    name: Name
    description: str = ""
    workloads: tuple[WorkloadSpec, ...] = Field(min_length=1)
    secrets: dict[ConfigKey, SecretSpec] = {}
    secret_files: dict[ConfigKey, SecretFile] = {}
    config: dict[SettingName, ConfigSetting] = {}
    """Plain settings a stack sets as `appConfig.<app>.<name>`; see `ConfigSetting`."""
    config_files: dict[ConfigKey, ConfigFile] = {}

    @model_validator(mode="after")
    def _references(self) -> AppSpec:
        names = [w.name for w in self.workloads]
        problems = self._config_problems()
        if len(set(names)) != len(names):
            problems.append(f"duplicate workload names in {names}")
        for workload in self.workloads:
            for target in workload.talks_to:
                if target not in names or target == workload.name:
                    problems.append(f"{workload.name}.talks_to names unknown workload {target!r}")
            for env, secret in workload.secret_env.items():
                if secret not in self.secrets:
                    problems.append(
                        f"{workload.name}.secret_env[{env}] names unknown secret {secret!r}"
                    )
            for file, secret_file in workload.secret_files.items():
                if secret_file not in self.secret_files:
                    problems.append(
                        f"{workload.name}.secret_files[{file}] names unknown secret file "
                        f"{secret_file!r}"
                    )
        for file_name, secret_file in self.secret_files.items():
            problems.extend(_template_problems(file_name, secret_file, self.secrets))
        overlap = set(self.secrets) & set(self.secret_files)
        if overlap:
            problems.append(f"{sorted(overlap)} are both secrets and secret files")
        if problems:
            raise ValueError(f"app {self.name!r}: " + "; ".join(problems))
        return self

    def _config_problems(self) -> list[str]:
        problems = []
        read: set[str] = set()
        files_used: set[str] = set()
        for workload in self.workloads:
            for env, setting in workload.config_env.items():
                read.add(setting)
                if setting not in self.config:
                    problems.append(
                        f"{workload.name}.config_env[{env}] names unknown setting {setting!r}"
                    )
            for file, config_file in workload.config_files.items():
                files_used.add(config_file)
                if config_file not in self.config_files:
                    problems.append(
                        f"{workload.name}.config_files[{file}] names unknown config file "
                        f"{config_file!r}"
                    )
        for file_name, config_file in self.config_files.items():
            placeholders = config_file.placeholders()
            if file_name in files_used:
                read.update(name for name, _, _ in placeholders)
            problems.extend(
                _placeholder_problems(
                    f"config file {file_name!r}", placeholders, self.config, CONFIG_TRANSFORMS
                )
            )
        unread = sorted(set(self.config) - read)
        if unread:
            problems.append(
                f"settings {unread} reach no pod; name them in a workload's config_env or in a "
                "config file the workload mounts"
            )
        unused = sorted(set(self.config_files) - files_used)
        if unused:
            problems.append(f"config files {unused} are mounted by no workload (config_files)")
        return problems

    @property
    def secret_names(self) -> frozenset[str]:
        return frozenset(self.secrets)

    def config_values(self, configured: Mapping[str, str | int | bool]) -> dict[str, str]:
        """Every setting as ConfigMap text: the stack's value (already validated), else the
        declared default."""
        return {
            name: setting_text(configured.get(name, setting.default))
            for name, setting in self.config.items()
        }

    def config_data(self, workload: WorkloadSpec, values: Mapping[str, str]) -> dict[str, str]:
        """The workload's ConfigMap: fixed env and files, then the settings it reads."""
        return {
            **workload.env,
            **{env: values[setting] for env, setting in workload.config_env.items()},
            **{
                file: self.config_files[source].render(values)
                for file, source in workload.config_files.items()
            },
            **workload.files,
        }

    def with_images(self, images: Mapping[str, str]) -> AppSpec:
        """The same app with some workloads' images replaced (workload name -> reference),
        each checked by the same pinning rule as a declared image."""
        unknown = sorted(set(images) - {w.name for w in self.workloads})
        if unknown:
            raise ValueError(f"app {self.name!r} has no workloads {unknown}")
        workloads = tuple(
            w.model_copy(update={"image": _pinned_image(images[w.name])}) if w.name in images else w
            for w in self.workloads
        )
        return self.model_copy(update={"workloads": workloads})

    @property
    def keeps_data(self) -> bool:
        """True when a workload stores data on a volume: the app's namespace outlives the app."""
        return any(w.storage is not None for w in self.workloads)

    def workload(self, name: str) -> WorkloadSpec:
        return next(w for w in self.workloads if w.name == name)


def _template_problems(
    file_name: str, secret_file: SecretFile, secrets: Mapping[str, SecretSpec]
) -> list[str]:
    return _placeholder_problems(
        f"secret file {file_name!r}", secret_file.placeholders(), secrets, SECRET_TRANSFORMS
    )


def _placeholder_problems(
    what: str,
    placeholders: list[tuple[str, str, str | None]],
    known: Mapping[str, object],
    transforms: Mapping[str, object],
) -> list[str]:
    problems = []
    unknown = sorted({name for name, _, _ in placeholders} - set(known))
    if unknown:
        noun = "secrets" if what.startswith("secret") else "settings"
        problems.append(f"{what} uses unknown {noun} {unknown}")
    for name, transform, conversion in placeholders:
        if conversion is not None:
            problems.append(f"{what}: {{{name}!{conversion}}} is not allowed")
        if transform and transform not in transforms:
            problems.append(
                f"{what}: {{{name}:{transform}}} uses unknown transform "
                f"{transform!r}; allowed: {', '.join(sorted(transforms))}"
            )
    return problems


def _repeated_keys(groups: Mapping[str, Mapping[str, str]]) -> list[str]:
    """Names used by two of `groups`, which must be distinct (one container's environment, or
    the keys of the workload's one ConfigMap)."""
    owners: dict[str, list[str]] = {}
    for group, names in groups.items():
        for name in names:
            owners.setdefault(name, []).append(group)
    return [
        f"{name!r} is in both {' and '.join(where)}"
        for name, where in sorted(owners.items())
        if len(where) > 1
    ]
