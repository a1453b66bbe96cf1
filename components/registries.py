"""Which registry an image comes from, and the pull credentials an app's pods need for it.

Pure functions, shared by the App component (components/workload.py) and the settings' warnings:

- `image_registry(image)`: the registry host of an image reference, the way the container runtime
  and the kubelet resolve it (short Docker Hub names included).
- `docker_config_json(hosts, registries)`: the `.dockerconfigjson` document of a
  `kubernetes.io/dockerconfigjson` Secret holding the logins for those hosts, as a secret Output.
- `exempt_hosts(settings)`: hosts that need no pull Secret because the nodes may already pull from
  them (the stack's own ACR on AKS: the kubelet identity holds AcrPull on it).
- `unused_login_warnings(settings, images)`: logins no deployed image needs.
- `registry_lines(settings, images, stack=...)`: `check`'s summary of the logins and who uses them.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import pulumi

from .appspec import parse_image
from .settings.base import NAMESPACE
from .settings.registries import DOCKER_HUB, RegistryLogin

if TYPE_CHECKING:
    from .settings import Settings

_LEGACY_DOCKER_HUB = "index.docker.io"


def image_registry(image: str) -> str:
    """The registry host of `image`, e.g. `ghcr.io`, `localhost:5000`, or `docker.io`.

    Follows distribution/reference@v0.6.0 normalize.go `splitDockerDomain`, the function behind
    `ParseNormalizedNamed` (which the kubelet uses to pick pull credentials,
    pkg/util/parsers.ParseImageName): a reference without `/` is a Docker Hub short name
    (`nginx:1.27.0` is `docker.io/library/nginx`); otherwise the first path component is the
    registry when it is `localhost` or contains a `.` or a `:` (a domain, an IP address, or a
    host:port); the legacy `index.docker.io` is Docker Hub; anything else (`bitnami/redis`) is a
    Docker Hub namespace. A reference the kubelet would refuse (a scheme, an uppercase name, an
    empty path part, ...) raises ValueError saying how to write it (`appspec.parse_image`), so no
    made-up host such as `https:` is ever taken for a registry.
    """
    domain = parse_image(image).domain
    if not domain or domain == _LEGACY_DOCKER_HUB:
        return DOCKER_HUB
    return domain


def docker_config_json(
    hosts: Iterable[str], registries: Mapping[str, RegistryLogin]
) -> pulumi.Output[str] | None:
    """The `.dockerconfigjson` for the `hosts` that have a login in `registries`, as a secret.

    `{"auths": {<host>: {"username", "password", "auth": base64("<username>:<password>")}}}`,
    keys sorted, so the same logins always give the same text (no spurious update). The key is
    the registry host as the stack names it; Docker Hub's is `docker.io`: the kubelet matches a
    key against the normalised image name (`docker.io/library/nginx`) host by host, so
    `docker.io` matches every Docker Hub image (kubernetes pkg/credentialprovider/keyring.go,
    `BasicDockerKeyring.Add`/`Lookup`/`URLsMatch`; the legacy `https://index.docker.io/v1/` key
    would match too, only through its Docker Hub fallback). `auth` repeats the login because
    the kubelet, when it is present, reads the username and password from it alone
    (config.go, `DockerConfigEntry.UnmarshalJSON`).

    None when no host has a login: the app then gets no pull Secret at all.
    """
    wanted = sorted({host for host in hosts if host in registries})
    if not wanted:
        return None
    auths = {}
    for host in wanted:
        login = registries[host]
        username = login.username
        password = login.password.get_secret_value()
        auths[host] = {
            "username": username,
            "password": password,
            "auth": base64.b64encode(f"{username}:{password}".encode()).decode("ascii"),
        }
    return pulumi.Output.secret(json.dumps({"auths": auths}, sort_keys=True))


def exempt_hosts(settings: Settings) -> set[str]:
    """Registry hosts the nodes already pull from without a pull Secret.

    On AKS with `aks.containerRegistry`, the program grants the cluster's kubelet identity AcrPull
    on that registry (components/aks/component.py), so images on `<name>.azurecr.io` pull with
    the node's identity. Empty on every other target, and on AKS without a registry.
    """
    return {settings.own_registry} if settings.own_registry else set()


def unused_login_warnings(settings: Settings, images: Iterable[str]) -> list[str]:
    """A warning for each login in `registries` that no deployed image needs.

    `images` are the references of every workload the stack deploys (its selected apps, after
    any per-stack image override). A login for the stack's own ACR is reported by
    `Settings.warnings` instead.
    """
    used = {image_registry(image) for image in images}
    return [
        f"{NAMESPACE}:registries.{host}: not used: no image of the selected apps is on {host} "
        f"(they come from {', '.join(sorted(used)) or 'no registry'}); remove the login with "
        f"pulumi config rm --path 'registries[\"{host}\"]', or check the apps' images"
        for host in sorted(settings.registries)
        if host not in used and host != settings.own_registry
    ]


def registry_lines(
    settings: Settings, images: Mapping[str, Iterable[str]], *, stack: str
) -> list[str]:
    """`check`'s view of the registry logins: for each registry the selected apps pull from, the
    login the stack holds (never the password) and which apps get a pull Secret for it.

    `images` maps each selected app to its workloads' images, as this stack runs them; `stack`
    names the stack in the suggested command, as the other `check` lines do.
    """
    users: dict[str, set[str]] = {}
    for app, refs in images.items():
        for ref in refs:
            users.setdefault(image_registry(ref), set()).add(app)
    lines = []
    for host in sorted(set(users) | set(settings.registries)):
        apps = ", ".join(sorted(users.get(host, ()))) or "no selected app"
        key = f'registries["{host}"]'
        if host == settings.own_registry:
            lines.append(f"{key}: this stack's ACR, pulled with AcrPull, no login needed ({apps})")
        elif host in settings.registries:
            user = settings.registries[host].username
            use = f"pull Secret for {apps}" if host in users else "not used by any selected app"
            lines.append(f"{key}: user {user}, password set (encrypted); {use}")
        else:
            lines.append(
                f"{key}: no login, images pulled anonymously ({apps}); for a private image: "
                f"pulumi config set -s {stack} --secret --path '{key}.password' <token> "
                "(and .username)"
            )
    return lines
