"""The shipped apps as an SRE would ship them: podinfo exposes only its UI, Valkey is a bounded
cache whose config no password can break, probes need no secret, images are pinned exactly."""

from __future__ import annotations

import functools
import hashlib
import re

import pytest
from support import manifest, pod_spec, schema_errors
from test_workload import deploy, one

from apps import CATALOG, podinfo
from components.secrets import render_secret_file

PODINFO = CATALOG["podinfo"]


@functools.cache
def podinfo_recording():
    return deploy(PODINFO)


# -- Valkey's own config parser, rebuilt to read what we render ---------------------------------


def split_args(line: str) -> list[str]:
    """valkey src/sds.c `sdssplitargs`: whitespace-separated words, "..." with escapes, '...'.

    Raises ValueError where Valkey reports "Unbalanced quotes in configuration line".
    """
    args: list[str] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i].isspace():
            i += 1
        if i >= n:
            return args
        word, in_double, in_single = "", False, False
        while True:
            c = line[i] if i < n else ""
            if in_double:
                if c == "\\" and i + 1 < n:
                    i += 1
                    word += {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "a": "\a"}.get(
                        line[i], line[i]
                    )
                elif c == '"':
                    if i + 1 < n and not line[i + 1].isspace():
                        raise ValueError("closing quote must be followed by a space")
                    i += 1
                    break
                elif not c:
                    raise ValueError("unbalanced quotes")
                else:
                    word += c
            elif in_single:
                if c == "\\" and i + 1 < n and line[i + 1] == "'":
                    i += 1
                    word += "'"
                elif c == "'":
                    if i + 1 < n and not line[i + 1].isspace():
                        raise ValueError("closing quote must be followed by a space")
                    i += 1
                    break
                elif not c:
                    raise ValueError("unbalanced quotes")
                else:
                    word += c
            elif not c or c in " \n\r\t\0":
                break
            elif c == '"':
                in_double = True
            elif c == "'":
                in_single = True
            else:
                word += c
            i += 1
        args.append(word)


def parse_config(text: str) -> list[list[str]]:
    """valkey src/config.c `loadServerConfigFromString`: one directive per line, `#` comments."""
    directives = []
    for raw in text.split("\n"):
        line = raw.strip(" \t\r\n")
        if not line or line.startswith("#"):
            continue
        directives.append(split_args(line))
    return directives


def valkey_conf(password: str) -> str:
    return render_secret_file(
        PODINFO.secret_files["valkey.conf"].template, {"valkeyPassword": password}
    )


def directive(conf: list[list[str]], name: str) -> list[str]:
    (found,) = [d[1:] for d in conf if d[0] == name]
    return found


def memory_bytes(value: str) -> int:
    """valkey src/util.c `memtoull`: k/kb/m/mb/g/gb, case-insensitive."""
    number, unit = re.fullmatch(r"(\d+)([a-z]*)", value.lower()).groups()
    scale = {"": 1, "k": 1000, "kb": 1024, "m": 10**6, "mb": 1024**2, "g": 10**9, "gb": 1024**3}
    return int(number) * scale[unit]


def quantity_bytes(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", value).groups()
    return int(number) * {"Mi": 1024**2, "Gi": 1024**3}[unit]


# -- password in the config ---------------------------------------------------------------------

HOSTILE_PASSWORDS = [
    "two words here",
    "line\nmaxmemory 0",
    'double"quote',
    "single'quote",
    "tab\tand\\backslash #not-a-comment",
]


@pytest.mark.parametrize("password", HOSTILE_PASSWORDS)
def test_any_password_renders_one_admin_line_valkey_parses(password):
    text = valkey_conf(password)
    conf = parse_config(text)  # raises where Valkey would refuse to start
    digest = hashlib.sha256(password.encode()).hexdigest()
    users = [d for d in conf if d[0] == "user"]
    assert [u[1] for u in users] == ["default", "admin"]
    assert users[1] == ["user", "admin", "on", f"#{digest}", "~*", "&*", "+@all"]
    # Valkey takes `#` plus exactly 64 lowercase hex digits (src/acl.c ACLCheckPasswordHash).
    assert re.fullmatch(r"#[0-9a-f]{64}", users[1][3])
    # Nothing injected: the same directives as with a plain password, and no trace of this one.
    assert [d[0] for d in conf] == [d[0] for d in parse_config(valkey_conf("plain0123"))]
    assert password not in text


# -- Valkey as a bounded cache ------------------------------------------------------------------

# Directives checked in valkey-io/valkey valkey.conf and src/config.c (8.0.1 and unstable).
CHECKED_DIRECTIVES = {
    "bind",
    "port",
    "protected-mode",
    "dir",
    "maxmemory",
    "maxmemory-policy",
    "proto-max-bulk-len",
    "client-query-buffer-limit",
    "appendonly",
    "save",
    "stop-writes-on-bgsave-error",
    "user",
}


def valkey_container() -> dict:
    rec = podinfo_recording()
    return pod_spec(one(rec, "StatefulSet", "valkey"))["containers"][0]


def test_valkey_config_uses_only_checked_directives():
    conf = parse_config(valkey_conf("x"))
    assert {d[0] for d in conf} <= CHECKED_DIRECTIVES


def test_valkey_memory_stays_below_the_container_limit_and_evicts():
    conf = parse_config(valkey_conf("x"))
    limit = quantity_bytes(valkey_container()["resources"]["limits"]["memory"])
    request = quantity_bytes(valkey_container()["resources"]["requests"]["memory"])
    (maxmemory,) = directive(conf, "maxmemory")
    # Half the limit at most: the rest is client buffers, allocator overhead and the pages a
    # snapshot's fork copies; the scheduler reserves at least the data set.
    assert 0 < memory_bytes(maxmemory) <= limit // 2
    assert request >= memory_bytes(maxmemory)
    assert directive(conf, "maxmemory-policy") == ["allkeys-lru"]


def test_valkey_refuses_big_requests():
    conf = parse_config(valkey_conf("x"))
    (bulk,) = directive(conf, "proto-max-bulk-len")
    (query,) = directive(conf, "client-query-buffer-limit")
    (maxmemory,) = directive(conf, "maxmemory")
    # src/config.c: both limits accept 1mb at least; one value must stay a small share of the cache.
    assert 1024**2 <= memory_bytes(bulk) <= memory_bytes(maxmemory) // 64
    assert memory_bytes(bulk) <= memory_bytes(query) <= memory_bytes(maxmemory) // 32


def test_valkey_restarts_from_one_bounded_snapshot_not_a_write_log():
    conf = parse_config(valkey_conf("x"))
    assert directive(conf, "appendonly") == ["no"]
    save = directive(conf, "save")
    assert save and save != [""]  # snapshots on (an empty `save ""` turns them off)
    (maxmemory,) = directive(conf, "maxmemory")
    claim = one(podinfo_recording(), "StatefulSet", "valkey")["spec"]["volumeClaimTemplates"][0]
    size = quantity_bytes(claim["spec"]["resources"]["requests"]["storage"])
    # A new snapshot is written beside the previous one before it replaces it.
    assert size >= 2 * memory_bytes(maxmemory)
    assert directive(conf, "dir") == [podinfo.SPEC.workload("valkey").storage.mount_path]


# -- probe without a secret ---------------------------------------------------------------------


def test_valkey_readiness_needs_no_password():
    container = valkey_container()
    assert "env" not in container and "envFrom" not in container
    command = container["readinessProbe"]["exec"]["command"]
    script = command[-1]
    assert "valkey-cli" in script and "ping" in script
    assert not re.search(r"--user|--pass|-a\b|AUTH", script)
    # It connects as `default`, which may PING and nothing beyond the cache's commands.
    conf = parse_config(valkey_conf("x"))
    default = next(d for d in conf if d[:2] == ["user", "default"])
    assert {"on", "nopass", "-@all", "+ping"} <= set(default)
    assert {a for a in default if a.startswith("+")} == {"+ping", "+get", "+set", "+exists", "+del"}


# -- podinfo exposed as its UI only -------------------------------------------------------------

# pkg/api/http/server.go at podinfo 6.9.2 (registerHandlers): everything but the UI's own calls.
NOT_FOR_THE_PUBLIC = [
    "/panic",
    "/readyz/disable",
    "/readyz/enable",
    "/debug/pprof/",
    "/debug/pprof/heap",
    "/store",
    "/store/0a1b",
    "/cache/key",
    "/env",
    "/configs",
    "/token",
    "/token/validate",
    "/echo",
    "/echo/x",
    "/headers",
    "/status/500",
    "/delay/5",
    "/chunked",
    "/chunked/5",
    "/ws/echo",
    "/metrics",
    "/swagger/index.html",
    "/swagger.json",
    "/version",
    "/healthz",
    "/readyz",
    "/api/echo",  # the Ping button: reads any body whole into memory (echo.go)
    "/api/echo/x",
    "/api/infox",
    "/api/info/x",
]
# ui/vue.html at 6.9.2: the page itself and `GET api/info`, polled every 3 s.
THE_UI_NEEDS = ["/", "/api/info"]


def routes(paths: list[dict], request: str) -> bool:
    """Ingress path matching (networking/v1 HTTPIngressPath): Exact, or Prefix by path element."""
    for p in paths:
        if p["pathType"] == "Exact" and request == p["path"]:
            return True
        if p["pathType"] == "Prefix":
            prefix = [e for e in p["path"].split("/") if e]
            if [e for e in request.split("/") if e][: len(prefix)] == prefix:
                return True
    return False


def podinfo_paths() -> list[dict]:
    ingress = one(podinfo_recording(), "Ingress", "frontend")
    assert schema_errors(ingress, "1.34") is None
    (rule,) = ingress["spec"]["rules"]
    return rule["http"]["paths"]


@pytest.mark.parametrize("request_path", NOT_FOR_THE_PUBLIC)
def test_podinfo_internals_are_not_routed(request_path):
    assert not routes(podinfo_paths(), request_path)


def test_podinfo_ui_and_its_calls_are_routed():
    paths = podinfo_paths()
    assert all(routes(paths, p) for p in THE_UI_NEEDS)
    assert {p["pathType"] for p in paths} == {"Exact"}


# -- images -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "workload", [w for spec in CATALOG.values() for w in spec.workloads], ids=lambda w: w.name
)
def test_shipped_images_name_an_exact_release(workload):
    reference, _, digest = workload.image.partition("@")
    tag = reference.rsplit(":", 1)[1]
    assert digest or re.match(r"^v?\d+\.\d+\.\d+", tag), workload.image


def test_podinfo_objects_pass_the_strict_schema():
    for resource in podinfo_recording().kubernetes_objects():
        assert schema_errors(manifest(resource), "1.34") is None, resource.name


# -- settings the apps read -----------------------------------------------------------------------

# podinfo 6.9.2 cmd/podinfo/main.go: every flag is also read from PODINFO_<FLAG> (viper
# SetEnvPrefix("PODINFO"), SetEnvKeyReplacer "-" -> "_", AutomaticEnv); these are its flags.
PODINFO_FLAGS = frozenset(
    {"host", "port", "level", "data-path", "config-path", "ui-path", "ui-logo", "ui-color"}
    | {"ui-message", "h2c", "random-delay", "random-error", "unhealthy", "unready", "version"}
)
# initZap in the same file: the levels it knows; any other value silently logs at info.
PODINFO_LEVELS = frozenset({"debug", "info", "warn", "error", "fatal", "panic"})


def test_podinfo_settings_reach_flags_podinfo_reads():
    frontend = PODINFO.workload("frontend")
    flags = {env.removeprefix("PODINFO_").lower().replace("_", "-") for env in frontend.config_env}
    assert all(env.startswith("PODINFO_") for env in frontend.config_env)
    assert flags == {"ui-message", "ui-color", "level"} <= PODINFO_FLAGS
    assert set(PODINFO.config["logLevel"].allowed) <= PODINFO_LEVELS


@pytest.mark.parametrize("colour", ["#34577c", "#ABCDEF"])
def test_podinfo_colour_is_a_css_colour_and_nothing_else(colour):
    setting = PODINFO.config["color"]
    assert setting.parse(colour) == colour
    for hostile in ("red; background: url(x)", "#1234567", "expression(alert(1))"):
        with pytest.raises(ValueError, match="is not allowed"):
            setting.parse(hostile)
