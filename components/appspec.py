"""How an application is declared: plain, validated data, with secure defaults built in.

An app is an `AppSpec` (one namespace) holding one or more `WorkloadSpec`s (a Deployment, or a
StatefulSet when it declares storage). Every default is the secure one; a caller opts out
explicitly (`singleton=True`, `read_only_root_filesystem=False`, ...), so the opt-out is visible
in review. Specs are checked when they are built, so a bad declaration fails before any resource
is declared.
"""

from __future__ import annotations

import re
import string
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


def _pinned_image(value: str) -> str:
    """`repo:tag` or `repo:tag@sha256:...`; never untagged, never `latest`."""
    reference, _, digest = value.partition("@")
    if digest and not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
        raise ValueError(f"image {value!r} has a malformed digest")
    last = reference.rsplit("/", 1)[-1]
    if ":" not in last:
        raise ValueError(f"image {value!r} has no tag; pin a version tag, e.g. nginx:1.30.5")
    tag = last.rsplit(":", 1)[1]
    if tag == "latest" or not re.search(r"\d", tag):
        raise ValueError(f"image {value!r} uses tag {tag!r}; pin a version tag, never 'latest'")
    return value


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
    """A persistent volume per replica (the workload becomes a StatefulSet)."""

    size: Quantity = "1Gi"
    mount_path: AbsolutePath = "/data"


class Exposure(Spec):
    """Reachable from outside the cluster through the platform's ingress controller."""

    host_prefix: Name | None = Field(
        default=None, description="Host is `<prefix>.<ingressDomain>`; default: the app name."
    )
    path: AbsolutePath = "/"


class SecretSpec(Spec):
    """A secret the app reads. Taken from `appSecrets.<app>.<name>`, else generated once."""

    length: int = Field(default=32, ge=16, le=128)
    description: str = ""


class SecretFile(Spec):
    """A file rendered from the app's secrets, e.g. a server config holding a password.

    `template` uses `{secretName}` placeholders; the result is stored in the app's Secret only.
    """

    template: str


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
    """Ceiling for the HorizontalPodAutoscaler; default: twice `replicas`."""
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
        if problems:
            raise ValueError(f"workload {self.name!r}: " + "; ".join(problems))
        return self

    @property
    def autoscaled(self) -> bool:
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
            fields = {f for _, f, _, _ in string.Formatter().parse(secret_file.template) if f}
            unknown = sorted(fields - set(self.secrets))
            if unknown:
                problems.append(f"secret file {file_name!r} uses unknown secrets {unknown}")
        overlap = set(self.secrets) & set(self.secret_files)
        if overlap:
            problems.append(f"{sorted(overlap)} are both secrets and secret files")
        if problems:
            raise ValueError(f"app {self.name!r}: " + "; ".join(problems))
        return self

    @property
    def secret_names(self) -> frozenset[str]:
        return frozenset(self.secrets)

    def workload(self, name: str) -> WorkloadSpec:
        return next(w for w in self.workloads if w.name == name)
