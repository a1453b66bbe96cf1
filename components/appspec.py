"""How an application is declared: plain, validated data, with secure defaults built in.

An app is an `AppSpec` (one namespace) holding one or more `WorkloadSpec`s (a Deployment, or a
StatefulSet when it declares storage). Every default is the secure one; a caller opts out
explicitly (`singleton=True`, `read_only_root_filesystem=False`, ...), so the opt-out is visible
in review. Specs are checked when they are built, so a bad declaration fails before any resource
is declared.
"""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Callable, Mapping
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_QUANTITY = re.compile(r"^\d+(\.\d+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$")


def _dns_label(value: str) -> str:
    if not _DNS_LABEL.match(value):
        raise ValueError(f"{value!r} is not a DNS-1123 label (lowercase letters, digits, '-')")
    return value


# Tags that name a channel or a branch: they move to a new build whenever upstream publishes one.
_MOVING_TAGS = frozenset(
    {"latest", "stable", "mainline", "main", "master", "edge", "nightly", "dev", "develop", "next"}
)
# An exact release: at least major.minor.patch, optionally `v` first and a variant after
# (`8.1.11-alpine`, `1.30.5`, `v1.2.3`, `1.30.5-alpine3.22`, `2.4.1+build.7`).
_EXACT_RELEASE = re.compile(r"^v?\d+\.\d+\.\d+(?:[-+_.][0-9A-Za-z][0-9A-Za-z._+-]*)?$")
# A build of one commit: 7 to 40 lowercase hex digits, alone or after a word and a dash
# (`3f2a9c1d`, `sha-3f2a9c1`, `main-3f2a9c1d`, as docker/metadata-action's `type=sha` writes them).
_COMMIT_TAG = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9._]*-)?[0-9a-f]{7,40}$")
# A release line: a bare major or major.minor, with or without a variant (`8`, `8.1`, `8.1-alpine`).
_RELEASE_LINE = re.compile(r"^v?\d+(?:\.\d+)?(?:[-+_][0-9A-Za-z._+-]*)?$")
_PIN_ADVICE = (
    "pin an exact release (e.g. valkey/valkey:8.1.11-alpine), a commit-SHA tag "
    "(e.g. :sha-3f2a9c1) or a digest (@sha256:...)"
)


def _pinned_image(value: str) -> str:
    """An image whose reference names one build: an exact release tag, a commit-SHA tag or a digest.

    Moving tags are refused: a channel (`latest`, `stable`, `main`, `edge`, ...) or a release line
    (`8`, `8.1`, `8.1-alpine`) is re-pointed at every upstream build, so two nodes (or two days)
    may run different code under the same spec, and a rollback has nothing fixed to return to.
    A digest pins the bytes whatever the tag says.
    """
    reference, _, digest = value.partition("@")
    if digest:
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
            raise ValueError(f"image {value!r} has a malformed digest; expected sha256:<64 hex>")
        return value
    last = reference.rsplit("/", 1)[-1]
    if ":" not in last:
        raise ValueError(f"image {value!r} has no tag; {_PIN_ADVICE}")
    tag = last.rsplit(":", 1)[1]
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
        return [
            (name, spec or "", conversion)
            for _, name, spec, conversion in string.Formatter().parse(self.template)
            if name is not None
        ]


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
        if self.secret_files and not self.secret_files_path:
            problems.append("secret_files need secret_files_path")
        if set(self.env) & set(self.secret_env):
            problems.append(f"{sorted(set(self.env) & set(self.secret_env))} in env and secret_env")
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

    @model_validator(mode="after")
    def _references(self) -> AppSpec:
        names = [w.name for w in self.workloads]
        problems = []
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

    @property
    def secret_names(self) -> frozenset[str]:
        return frozenset(self.secrets)

    @property
    def keeps_data(self) -> bool:
        """True when a workload stores data on a volume: the app's namespace outlives the app."""
        return any(w.storage is not None for w in self.workloads)

    def workload(self, name: str) -> WorkloadSpec:
        return next(w for w in self.workloads if w.name == name)


def _template_problems(
    file_name: str, secret_file: SecretFile, secrets: Mapping[str, SecretSpec]
) -> list[str]:
    problems = []
    placeholders = secret_file.placeholders()
    unknown = sorted({name for name, _, _ in placeholders} - set(secrets))
    if unknown:
        problems.append(f"secret file {file_name!r} uses unknown secrets {unknown}")
    for name, transform, conversion in placeholders:
        if conversion is not None:
            problems.append(f"secret file {file_name!r}: {{{name}!{conversion}}} is not allowed")
        if transform and transform not in SECRET_TRANSFORMS:
            problems.append(
                f"secret file {file_name!r}: {{{name}:{transform}}} uses unknown transform "
                f"{transform!r}; allowed: {', '.join(sorted(SECRET_TRANSFORMS))}"
            )
    return problems
