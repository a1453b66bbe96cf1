"""`hybrid-kube:registries`: logins for private container registries, kept as stack secrets.

    hybrid-kube:registries:
      ghcr.io:
        username: octocat
        password:
          secure: v1:...      # pulumi config set --secret --path 'registries["ghcr.io"].password'

The key is the registry host exactly as image references name it: `ghcr.io`, `docker.io` (Docker
Hub), `<name>.azurecr.io`, `registry.example.com:5000`. A dotted host must be quoted in a
`--path` key (`registries["ghcr.io"]`): Pulumi splits an unquoted path at every dot, so
`registries.ghcr.io.password` would store `{ghcr: {io: {password: ...}}}` (pulumi
sdk/go/common/resource/properties_path.go, `parsePropertyPath`); that shape is recognised and
the quoted command is suggested.

Names that are not the image's host are refused rather than rewritten, because a pull Secret is
matched by host: Docker Hub must be `docker.io` (not `index.docker.io`, `registry-1.docker.io` or
`https://index.docker.io/v1/`), and no scheme or path is allowed. Values never appear in an error.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Annotated, Any

from pydantic import PlainValidator, SecretStr

from .base import Problem, StrictModel, check

DOCKER_HUB = "docker.io"
"""Docker Hub's registry host in normalised image names (distribution/reference normalize.go)."""

# Other names people copy for Docker Hub: the legacy index (docker CLI's config key), the real API
# host, and the web site.
_DOCKER_HUB_ALIASES = frozenset(
    {"index.docker.io", "registry-1.docker.io", "registry.hub.docker.com", "hub.docker.com"}
)
# distribution/reference@v0.6.0 reference.go grammar: domain := host [":" port-number],
# host := domain-name | IPv4address | "[" IPv6address "]", domain-name := domain-component
# ["." domain-component]*, domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9];
# lowercase only here, as image references write registry hosts.
_COMPONENT = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_HOST = re.compile(rf"^(?:{_COMPONENT}(?:\.{_COMPONENT})*|\[[0-9a-f:.]+\])(?::(?P<port>\d+))?$")
_FIELDS = ("username", "password")
_FIELD_HINTS = {"token": "password", "pass": "password", "user": "username", "login": "username"}


class RegistryLogin(StrictModel):
    """A login for one registry: a user name and a password or access token (read-only scope)."""

    username: str
    password: SecretStr


def _set_command(server: str, field: str, value: str) -> str:
    secret = "--secret " if field == "password" else ""
    return f"pulumi config set {secret}--path 'registries[\"{server}\"].{field}' {value}"


def parse_registries(value: Any) -> dict[str, RegistryLogin]:
    """Validate the whole `registries` object; raise every problem at once, values redacted."""
    if not isinstance(value, Mapping):
        raise ValueError(
            "expected an object: registry host -> {username, password}; set each login with "
            + _set_command("ghcr.io", "password", "<token>")
        )
    problems: list[Problem] = []
    result: dict[str, RegistryLogin] = {}
    stand_ins = _read_with_stand_ins(value)
    for server, login in value.items():
        found = [*_server_problems(str(server), login), *_login_problems(str(server), login)]
        if stand_ins and not found and not _is_stand_in(login["password"]):
            found.append(_plain_text(str(server)))
        problems += found
        if not found:
            result[server] = RegistryLogin(
                username=login["username"], password=SecretStr(login["password"])
            )
    check(problems)
    return result


Registries = Annotated[dict[str, RegistryLogin], PlainValidator(parse_registries)]

# How `hybrid-kube check` and `render` stand in for an encrypted value they cannot decrypt
# (components/stackfile.py, `_stand_in`).
_STAND_IN_PREFIX = "(secret: "


def _is_stand_in(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(_STAND_IN_PREFIX)


def _read_with_stand_ins(value: Mapping) -> bool:
    """True when the stack file was read with stand-ins for its encrypted values (check, render).

    The engine marks config secret per top-level key: once one password is set with `--secret`,
    the whole `registries` object is secret, and `pulumi up` cannot tell that another password
    was typed in plain text. Read from the stack file, it can: every encrypted password is a
    stand-in, so a password that is not one is stored in plain text.
    """
    return any(
        isinstance(login, Mapping) and _is_stand_in(login.get("password"))
        for login in value.values()
    )


def _plain_text(server: str) -> Problem:
    return Problem(
        (server, "password"),
        "stored in plain text in the stack file; set it encrypted: "
        + _set_command(server, "password", "<token>"),
    )


def _server_problems(server: str, login: Any) -> Iterator[Problem]:
    where = (server,)
    host = server.split("://", 1)[-1].split("/", 1)[0]
    if host.lower() in _DOCKER_HUB_ALIASES or (host.lower() == DOCKER_HUB and host != server):
        yield Problem(
            where,
            f"Docker Hub is written {DOCKER_HUB!r}, the host image references resolve to "
            f"(nginx:1.27.0 is {DOCKER_HUB}/library/nginx); rename the key to {DOCKER_HUB!r}",
        )
        return
    if "://" in server:
        yield Problem(
            where,
            f"a registry is named by its host alone, without a scheme: write {host!r}",
        )
        return
    if "/" in server:
        yield Problem(
            where,
            f"a registry is named by its host[:port] alone, without a path (a login covers the "
            f"whole registry): write {host!r}",
        )
        return
    if server.lower() != server:
        yield Problem(
            where, f"registry hosts are lowercase in image references: write {host.lower()!r}"
        )
        return
    match = _HOST.match(server)
    if not match:
        yield Problem(
            where,
            "not a registry host: write a host[:port] such as ghcr.io, myregistry.azurecr.io or "
            "registry.example.com:5000",
        )
        return
    if match["port"] is not None and not 1 <= int(match["port"]) <= 65535:
        yield Problem(where, f"port {match['port']} is outside 1-65535")
        return
    if not any(c in server for c in ".:") and server != "localhost":
        dotted = _split_path_host(server, login)
        if dotted:
            yield Problem(
                where,
                f"Pulumi split {dotted!r} at its dots because the --path key was not quoted; "
                f"remove it (pulumi config rm --path 'registries.{server}') and set it again "
                f"as {_set_command(dotted, 'password', '<token>')} (and .username likewise)",
            )
        else:
            yield Problem(
                where,
                f"{server!r} is not a registry host: an image's first name component is a "
                "registry only when it contains '.' or ':' or is 'localhost', otherwise it is a "
                f"Docker Hub namespace (use {DOCKER_HUB!r} for Docker Hub)",
            )


def _split_path_host(server: str, login: Any) -> str | None:
    """`ghcr.io` when `login` is `{io: {...}}`, the shape an unquoted `--path` key leaves."""
    parts = [server]
    while isinstance(login, Mapping) and len(login) == 1:
        ((key, inner),) = login.items()
        if key in _FIELDS:
            break
        parts.append(str(key))
        login = inner
    if len(parts) > 1 and isinstance(login, Mapping) and set(login) & set(_FIELDS):
        return ".".join(parts)
    return None


def _login_problems(server: str, login: Any) -> Iterator[Problem]:
    if not isinstance(login, Mapping):
        yield Problem(
            (server,),
            "expected an object with username and password; set them with "
            + _set_command(server, "username", "<user>")
            + " and "
            + _set_command(server, "password", "<token>"),
        )
        return
    if _split_path_host(server, login):
        return  # reported with the server name
    for key in login:
        if key not in _FIELDS:
            hint = _FIELD_HINTS.get(str(key).lower())
            suggestion = f" (did you mean {hint!r}? a token goes in password)" if hint else ""
            yield Problem(
                (server, str(key)), f"unknown key{suggestion}; allowed keys: {', '.join(_FIELDS)}"
            )
    for field in _FIELDS:
        placeholder = "<token>" if field == "password" else "<user>"
        if field not in login:
            yield Problem(
                (server, field),
                f"required key is missing; set it with {_set_command(server, field, placeholder)}",
            )
            continue
        text = login[field]
        if not isinstance(text, str):
            yield Problem(
                (server, field),
                "must be text; Pulumi stored a number or true/false: set it again with "
                + (
                    _set_command(server, field, placeholder)
                    if field == "password"
                    else f"pulumi config set --type string --path "
                    f"'registries[\"{server}\"].username' <user>"
                ),
            )
        elif not text.strip():
            yield Problem((server, field), "is empty")
        elif field == "username" and ":" in text:
            yield Problem(
                (server, field),
                "must not contain ':': the pull Secret's auth field is base64(username:password) "
                "and the kubelet splits it at the first ':'",
            )
        elif text != text.strip():
            yield Problem((server, field), "starts or ends with whitespace; set it without")


ACR_SUFFIX = ".azurecr.io"


def acr_login_server(name: str) -> str:
    """`<name>.azurecr.io`: an Azure Container Registry's login server in the public cloud,
    lowercase as Azure reports it (`az acr show --query loginServer`)."""
    return f"{name.lower()}{ACR_SUFFIX}"


def registry_warnings(
    registries: Mapping[str, RegistryLogin], own_acr: str | None
) -> Iterator[tuple[tuple[str, ...], str]]:
    """Valid but pointless: a login for the stack's own ACR on AKS, which the nodes pull from
    with their kubelet identity (AcrPull, components/aks/component.py), so no pull Secret is
    made for it."""
    if own_acr is not None and own_acr in registries:
        yield (
            (own_acr,),
            "not used: this stack's own registry (aks.containerRegistry) is pulled by the "
            "cluster's kubelet identity, which holds AcrPull on it, so images there get no pull "
            "Secret; remove this login (pulumi config rm --path "
            f"'registries[\"{own_acr}\"]')",
        )
