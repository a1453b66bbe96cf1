"""Registry logins (`hybrid-kube:registries`), the pull Secret built from them, and the example app
of docs/own-app.md."""

from __future__ import annotations

import base64
import json
import os
import re
import runpy
import socket
import subprocess
import sys
import time
import urllib.request

import pulumi
import pytest
import yaml
from support import manifest, pod_spec, restricted_violations, run_main, schema_errors
from transitions import plan, record

from apps import settings_catalog
from components.appspec import AppSpec
from components.recording import run_program
from components.registries import (
    docker_config_json,
    exempt_hosts,
    image_registry,
    registry_lines,
    unused_login_warnings,
)
from components.settings import SettingsError, load_settings
from components.settings.registries import RegistryLogin
from components.stackfile import PROJECT_ROOT, load_stack

CATALOG = settings_catalog()
HELLO = PROJECT_ROOT / "examples" / "hello"
TOKEN = "ghp_registry-token-sentinel"


def kubeadm_stack(registries=None) -> dict:
    raw = {
        "target": "kubeadm",
        "kubeadm": {
            "hosts": [{"name": "cp1", "address": "192.168.56.11", "role": "control-plane"}],
            "loadBalancerAddresses": ["192.168.56.200-192.168.56.220"],
        },
    }
    if registries is not None:
        raw["registries"] = registries
    return raw


def aks_stack(registries=None, container_registry: dict | None = None) -> dict:
    aks = {
        "location": "eastus",
        "systemPool": {"name": "system", "vmSize": "Standard_D2as_v5"},
    }
    if container_registry is not None:
        aks["containerRegistry"] = container_registry
    raw = {"target": "aks", "aks": aks}
    if registries is not None:
        raw["registries"] = registries
    return raw


def login(username="octocat", password=TOKEN) -> dict:
    return {"username": username, "password": password}


def problems_of(registries) -> list[tuple[str, str]]:
    with pytest.raises(SettingsError) as caught:
        load_settings(kubeadm_stack(registries), CATALOG)
    return caught.value.problems


# -- settings ------------------------------------------------------------------------------------


def test_valid_logins_parse_as_secrets():
    settings = load_settings(
        kubeadm_stack(
            {
                "ghcr.io": login(),
                "docker.io": login("me"),
                "myregistry.azurecr.io": login("00000000-0000-0000-0000-000000000000"),
                "registry.example.com:5000": login(),
                "localhost:5000": login(),
                "10.0.0.5:5000": login(),
            }
        ),
        CATALOG,
    )
    assert set(settings.registries) == {
        "ghcr.io",
        "docker.io",
        "myregistry.azurecr.io",
        "registry.example.com:5000",
        "localhost:5000",
        "10.0.0.5:5000",
    }
    ghcr = settings.registries["ghcr.io"]
    assert ghcr.username == "octocat"
    assert ghcr.password.get_secret_value() == TOKEN
    assert TOKEN not in repr(settings)


def test_registries_arrive_as_json_text_from_the_engine():
    raw = kubeadm_stack()
    raw["registries"] = json.dumps({"ghcr.io": login()})
    assert load_settings(raw, CATALOG).registries["ghcr.io"].username == "octocat"


def test_no_registries_is_the_default():
    assert load_settings(kubeadm_stack(), CATALOG).registries == {}


HUB = (
    "Docker Hub is written 'docker.io', the host image references resolve to "
    "(nginx:1.27.0 is docker.io/library/nginx); rename the key to 'docker.io'"
)
BAD_SERVERS = [
    ("https://index.docker.io/v1/", HUB),
    ("index.docker.io", HUB),
    ("registry-1.docker.io", HUB),
    ("docker.io/library", HUB),
    ("https://ghcr.io", "a registry is named by its host alone, without a scheme: write 'ghcr.io'"),
    (
        "ghcr.io/octocat",
        "a registry is named by its host[:port] alone, without a path (a login covers the whole "
        "registry): write 'ghcr.io'",
    ),
    ("GHCR.io", "registry hosts are lowercase in image references: write 'ghcr.io'"),
    (
        "a_b.example.com",
        "not a registry host: write a host[:port] such as ghcr.io, myregistry.azurecr.io or "
        "registry.example.com:5000",
    ),
    ("registry.example.com:70000", "port 70000 is outside 1-65535"),
    (
        "octocat",
        "'octocat' is not a registry host: an image's first name component is a registry only "
        "when it contains '.' or ':' or is 'localhost', otherwise it is a Docker Hub namespace "
        "(use 'docker.io' for Docker Hub)",
    ),
]


@pytest.mark.parametrize(("server", "message"), BAD_SERVERS, ids=[s for s, _ in BAD_SERVERS])
def test_bad_server_names_are_refused_with_the_fix(server, message):
    assert problems_of({server: login()}) == [(f"hybrid-kube:registries.{server}", message)]


def test_an_unquoted_path_key_is_recognised_and_the_quoted_command_given():
    # `pulumi config set --secret --path registries.ghcr.io.password` stores this shape.
    found = problems_of({"ghcr": {"io": {"password": TOKEN}}})
    assert found == [
        (
            "hybrid-kube:registries.ghcr",
            "Pulumi split 'ghcr.io' at its dots because the --path key was not quoted; remove "
            "it (pulumi config rm --path 'registries.ghcr') and set it again as pulumi config "
            "set --secret --path 'registries[\"ghcr.io\"].password' <token> (and .username "
            "likewise)",
        )
    ]


SET_USER = "pulumi config set --path 'registries[\"quay.io\"].username' <user>"
SET_TOKEN = "pulumi config set --secret --path 'registries[\"quay.io\"].password' <token>"
BAD_LOGINS = [
    (
        "token instead of password",
        {"username": "me", "token": TOKEN},
        [
            (
                "quay.io.token",
                "unknown key (did you mean 'password'? a token goes in password); allowed keys: "
                "username, password",
            ),
            ("quay.io.password", f"required key is missing; set it with {SET_TOKEN}"),
        ],
    ),
    (
        "unknown key",
        {**login(), "email": "me@example.com"},
        [("quay.io.email", "unknown key; allowed keys: username, password")],
    ),
    (
        "username missing",
        {"password": TOKEN},
        [("quay.io.username", f"required key is missing; set it with {SET_USER}")],
    ),
    (
        "a bare token",
        TOKEN,
        [
            (
                "quay.io",
                f"expected an object with username and password; set them with {SET_USER} and "
                f"{SET_TOKEN}",
            )
        ],
    ),
    (
        "numeric username",
        login(username=12345),
        [
            (
                "quay.io.username",
                "must be text; Pulumi stored a number or true/false: set it again with pulumi "
                "config set --type string --path 'registries[\"quay.io\"].username' <user>",
            )
        ],
    ),
    (
        "numeric password",
        login(password=12345678),
        [
            (
                "quay.io.password",
                "must be text; Pulumi stored a number or true/false: set it again with "
                + SET_TOKEN,
            )
        ],
    ),
    ("empty password", login(password=""), [("quay.io.password", "is empty")]),
    (
        "password with a newline",
        login(password=TOKEN + "\n"),
        [("quay.io.password", "starts or ends with whitespace; set it without")],
    ),
    (
        "colon in username",
        login(username="me:admin"),
        [
            (
                "quay.io.username",
                "must not contain ':': the pull Secret's auth field is base64(username:password) "
                "and the kubelet splits it at the first ':'",
            )
        ],
    ),
]


@pytest.mark.parametrize(("what", "value", "expected"), BAD_LOGINS, ids=[b[0] for b in BAD_LOGINS])
def test_bad_logins_are_refused_with_the_fix(what, value, expected):
    found = problems_of({"quay.io": value})
    assert found == [(f"hybrid-kube:registries.{path}", message) for path, message in expected]


def test_not_an_object():
    assert problems_of(["ghcr.io"]) == [
        (
            "hybrid-kube:registries",
            "expected an object: registry host -> {username, password}; set each login with "
            "pulumi config set --secret --path 'registries[\"ghcr.io\"].password' <token>",
        )
    ]


def test_every_problem_is_reported_at_once_and_no_value_leaks():
    registries = {
        "https://ghcr.io": login(),
        "quay.io": {"token": TOKEN},
        "docker.io": TOKEN,
        "ok.example.com": login(),
        "x.io": login(password=12345678),
    }
    with pytest.raises(SettingsError) as caught:
        load_settings(kubeadm_stack(registries), CATALOG)
    paths = [path for path, _ in caught.value.problems]
    assert paths == [
        "hybrid-kube:registries.https://ghcr.io",
        "hybrid-kube:registries.quay.io.token",
        "hybrid-kube:registries.quay.io.username",
        "hybrid-kube:registries.quay.io.password",
        "hybrid-kube:registries.docker.io",
        "hybrid-kube:registries.x.io.password",
    ]
    assert TOKEN not in str(caught.value)
    assert "12345678" not in str(caught.value)


def test_logins_typed_into_the_stack_file_are_refused():
    raw = kubeadm_stack({"ghcr.io": login()})
    with pytest.raises(SettingsError) as caught:
        load_settings(raw, CATALOG, secret_keys=set())
    assert caught.value.problems == [
        (
            "hybrid-kube:registries",
            "stored in plain text; remove it from the stack file and set it encrypted: pulumi "
            "config set --secret --path 'registries[\"<host>\"].password' <token>",
        )
    ]
    # Set with --secret --path, the engine marks the whole key secret: accepted.
    assert load_settings(raw, CATALOG, secret_keys={"registries"}).registries


def test_a_login_for_the_stacks_own_acr_is_pointless_on_aks():
    settings = load_settings(
        aks_stack({"hybridkubedemo.azurecr.io": login()}, {"name": "HybridKubeDemo"}), CATALOG
    )
    assert exempt_hosts(settings) == {"hybridkubedemo.azurecr.io"}
    assert (
        "hybrid-kube:registries.hybridkubedemo.azurecr.io: not used: this stack's own registry "
        "(aks.containerRegistry) is pulled by the cluster's kubelet identity, which holds "
        "AcrPull on it, so images there get no pull Secret; remove this login (pulumi config rm "
        "--path 'registries[\"hybridkubedemo.azurecr.io\"]')"
    ) in settings.warnings


def test_no_exemption_without_an_acr_or_off_aks():
    assert exempt_hosts(load_settings(aks_stack({"other.azurecr.io": login()}), CATALOG)) == set()
    assert exempt_hosts(load_settings(kubeadm_stack(), CATALOG)) == set()
    settings = load_settings(
        aks_stack({"other.azurecr.io": login()}, {"name": "hybridkubedemo"}), CATALOG
    )
    assert not [w for w in settings.warnings if "registries" in w]


def test_logins_no_image_needs_are_named():
    settings = load_settings(
        kubeadm_stack({"ghcr.io": login(), "quay.io": login(), "docker.io": login()}), CATALOG
    )
    images = ["ghcr.io/octocat/hello:1.0.0", "nginxinc/nginx-unprivileged:1.30.5-alpine"]
    assert unused_login_warnings(settings, images) == [
        "hybrid-kube:registries.quay.io: not used: no image of the selected apps is on quay.io "
        "(they come from docker.io, ghcr.io); remove the login with pulumi config rm --path "
        "'registries[\"quay.io\"]', or check the apps' images"
    ]


def test_the_own_acr_login_is_not_reported_twice():
    settings = load_settings(
        aks_stack({"hybridkubedemo.azurecr.io": login()}, {"name": "hybridkubedemo"}), CATALOG
    )
    assert unused_login_warnings(settings, ["ghcr.io/a/b:1.0.0"]) == []


# -- image references ------------------------------------------------------------------------------

REFERENCES = [
    ("nginx", "docker.io"),
    ("nginx:1.27.0", "docker.io"),
    ("library/nginx:1.27.0", "docker.io"),
    ("nginxinc/nginx-unprivileged:1.30.5-alpine", "docker.io"),
    ("docker.io/library/nginx:1.27.0", "docker.io"),
    ("docker.io/octocat/hello:1.0.0", "docker.io"),
    ("index.docker.io/octocat/hello:1.0.0", "docker.io"),
    ("nginx@sha256:" + "a" * 64, "docker.io"),
    ("octocat/hello:1.0.0@sha256:" + "b" * 64, "docker.io"),
    ("ghcr.io/octocat/hello:1.0.0", "ghcr.io"),
    ("ghcr.io/octocat/hello@sha256:" + "c" * 64, "ghcr.io"),
    ("myregistry.azurecr.io/hello:sha-3f2a9c1", "myregistry.azurecr.io"),
    ("registry.example.com:5000/team/app:2.0.0", "registry.example.com:5000"),
    ("localhost/hello:1.0.0", "localhost"),
    ("localhost:5000/hello:1.0.0", "localhost:5000"),
    ("10.0.0.5:5000/hello:1.0.0", "10.0.0.5:5000"),
    ("[::1]:5000/hello:1.0.0", "[::1]:5000"),
    ("registry:5000/hello:1.0.0", "registry:5000"),
    ("quay.io/prometheus/node-exporter:v1.9.1", "quay.io"),
]


@pytest.mark.parametrize(("image", "host"), REFERENCES, ids=[r for r, _ in REFERENCES])
def test_image_registry_follows_the_reference_grammar(image, host):
    assert image_registry(image) == host


@pytest.mark.parametrize(
    ("image", "why"),
    [
        ("https://ghcr.io/me/hello:1.0.0", "drop https://: "),
        ("Registry/hello:1.0.0", "repository names must be lowercase: write registry/hello:1.0.0"),
        ("ghcr.io//hello:1.0.0", "has an empty path part"),
        (":1.0.0", "has no repository name"),
    ],
)
def test_image_registry_refuses_what_the_kubelet_would(image, why):
    """No made-up host (`https:`, `Registry`) is taken for a registry: the reference is refused
    with the way to write it."""
    with pytest.raises(ValueError, match=re.escape(why)):
        image_registry(image)


# -- the pull Secret's document ------------------------------------------------------------------


def resolved(hosts: list[str]) -> tuple[str, bool]:
    """The document for `hosts` and whether it is secret, resolved under the mock engine."""
    recording = run_program(lambda: pulumi.export("doc", docker_config_json(hosts, logins())))
    doc = recording.outputs["doc"]
    return doc.value, doc.secret


def logins() -> dict[str, RegistryLogin]:
    from pydantic import SecretStr

    return {
        "ghcr.io": RegistryLogin(username="octocat", password=SecretStr(TOKEN)),
        "docker.io": RegistryLogin(username="me", password=SecretStr("dckr_pat_x:y")),
        "quay.io": RegistryLogin(username="q", password=SecretStr("unused")),
    }


def test_docker_config_json_holds_exactly_the_needed_logins_as_a_secret():
    text, secret = resolved(["ghcr.io", "docker.io", "gcr.io"])
    assert secret
    document = json.loads(text)
    assert document == {
        "auths": {
            "docker.io": {
                "auth": base64.b64encode(b"me:dckr_pat_x:y").decode(),
                "password": "dckr_pat_x:y",
                "username": "me",
            },
            "ghcr.io": {
                "auth": base64.b64encode(f"octocat:{TOKEN}".encode()).decode(),
                "password": TOKEN,
                "username": "octocat",
            },
        }
    }
    # Sorted keys: the same logins always give the same text, whatever the order of the hosts.
    again, _ = resolved(["gcr.io", "docker.io", "ghcr.io", "docker.io"])
    assert again == text
    assert list(document["auths"]) == ["docker.io", "ghcr.io"]


def test_no_document_when_no_host_has_a_login():
    assert docker_config_json(["gcr.io", "registry.k8s.io"], logins()) is None
    assert docker_config_json([], logins()) is None
    assert docker_config_json(["ghcr.io"], {}) is None


# -- the example app (examples/hello) ------------------------------------------------------------


def hello_spec() -> AppSpec:
    return runpy.run_path(str(HELLO / "app.py"))["SPEC"]


def test_example_declaration_is_valid_and_matches_its_dockerfile():
    spec = hello_spec()
    assert isinstance(spec, AppSpec)
    web = spec.workload("hello")
    dockerfile = (HELLO / "Dockerfile").read_text(encoding="utf-8")
    instructions = [
        line.split(None, 1) for line in dockerfile.splitlines() if line and line[0] != "#"
    ]
    values = {}
    for word, *rest in instructions:
        values.setdefault(word, []).append(rest[0] if rest else "")
    # One exact base image: name:<major.minor.patch>-<variant>, no moving tag, no "latest".
    (base,) = values["FROM"]
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-alpine\d+\.\d+", base), base
    assert values["USER"] == [f"{web.run_as_user}:{web.run_as_user}"]
    assert values["EXPOSE"] == [str(web.port)]
    assert image_registry(web.image) == "ghcr.io"
    assert (HELLO / ".dockerignore").read_text().splitlines()[1:] == ["*", "!hello.py"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_example_server_answers_and_stops_on_sigterm():
    port = free_port()
    env = {**os.environ, "PORT": str(port), "APP_VERSION": "1.2.3", "HOSTNAME": "pod-a"}
    process = subprocess.Popen(
        [sys.executable, str(HELLO / "hello.py")],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        body = None
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    body = json.loads(response.read())
                break
            except OSError:
                time.sleep(0.05)
        assert body == {"message": "Hello from hybrid-kube", "version": "1.2.3", "pod": "pod-a"}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            assert response.read() == b"ok\n"
        process.terminate()
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# -- the whole program: pull Secret, its secrecy, the pods' reference ----------------------------


def run_with_hello(monkeypatch, stack: str, image: str, registries: dict, overrides=None):
    """`__main__.py` on `stack` with the example app in the catalog (its image set to `image`)
    and `registries` set as `pulumi config set --secret --path` would."""
    import apps

    spec = hello_spec()
    hello = spec.workload("hello").model_copy(update={"image": image})
    spec = spec.model_copy(update={"workloads": (hello,)})
    monkeypatch.setattr(apps, "CATALOG", {**apps.CATALOG, "hello": spec})
    return run_main(
        stack,
        overrides={"apps": ["hello", "web"], **(overrides or {})},
        secrets={"registries": registries},
    )


def pull_secrets(recording) -> list:
    return [
        r
        for r in recording.of_type("kubernetes:core/v1:Secret")
        if r.inputs.get("type") == "kubernetes.io/dockerconfigjson"
    ]


def workload_pods(recording, namespace: str) -> list[dict]:
    return [
        pod_spec(manifest(r))
        for r in recording.kubernetes_objects()
        if r.inputs.get("kind") in ("Deployment", "StatefulSet")
        and r.inputs["metadata"].get("namespace") == namespace
    ]


def test_a_private_image_gets_a_secret_pull_secret_in_its_namespace(monkeypatch):
    rec = run_with_hello(
        monkeypatch,
        "local",
        "ghcr.io/octocat/hello:1.0.0",
        {"ghcr.io": login(), "quay.io": login(password="unused-quay-token")},
    )
    (secret,) = pull_secrets(rec)  # web's image (Docker Hub) has no login: no Secret there
    obj = manifest(secret)
    assert obj["metadata"]["namespace"] == "hello"
    assert "stringData" in secret.secret_inputs
    document = json.loads(obj["stringData"][".dockerconfigjson"])
    assert document == {
        "auths": {
            "ghcr.io": {
                "auth": base64.b64encode(f"octocat:{TOKEN}".encode()).decode(),
                "password": TOKEN,
                "username": "octocat",
            }
        }
    }
    name = obj["metadata"]["name"]
    (hello,) = workload_pods(rec, "hello")
    assert hello["imagePullSecrets"] == [{"name": name}]
    assert restricted_violations(hello) == []
    assert all("imagePullSecrets" not in pod for pod in workload_pods(rec, "web"))
    # The token is nowhere outside secret inputs and outputs.
    for resource in rec.resources:
        for key, value in resource.inputs.items():
            if TOKEN in json.dumps(value, default=str):
                assert key in resource.secret_inputs, (resource.name, key)
    for output_name, output in rec.outputs.items():
        if TOKEN in json.dumps(output.value, default=str):
            assert output.secret, output_name
    for resource in rec.kubernetes_objects():
        assert schema_errors(manifest(resource), "1.35") is None


def azure_dev_with_registry(name: str) -> dict:
    """azure-dev's `aks` section, as shipped, with its own container registry."""
    stack_file = PROJECT_ROOT / "stacks" / "Pulumi.azure-dev.yaml"
    aks = yaml.safe_load(stack_file.read_text(encoding="utf-8"))["config"]["hybrid-kube:aks"]
    return {**aks, "containerRegistry": {"name": name, "sku": "Basic"}}


def test_on_aks_the_stacks_own_acr_needs_no_pull_secret(monkeypatch):
    aks = azure_dev_with_registry("hybridkubedemo")
    rec = run_with_hello(
        monkeypatch,
        "azure-dev",
        "hybridkubedemo.azurecr.io/hello:1.0.0",
        {"hybridkubedemo.azurecr.io": login("00000000-0000-0000-0000-000000000000")},
        overrides={"aks": aks},
    )
    assert pull_secrets(rec) == []
    (hello,) = workload_pods(rec, "hello")
    assert "imagePullSecrets" not in hello
    assert hello["containers"][0]["image"] == "hybridkubedemo.azurecr.io/hello:1.0.0"


def test_on_aks_an_image_elsewhere_still_gets_its_pull_secret(monkeypatch):
    aks = azure_dev_with_registry("hybridkubedemo")
    rec = run_with_hello(
        monkeypatch,
        "azure-dev",
        "docker.io/octocat/hello:1.0.0",
        {"docker.io": login()},
        overrides={"aks": aks},
    )
    # Both apps pull from Docker Hub (web's nginxinc/nginx-unprivileged too): one Secret each, in
    # its own namespace, each holding the Docker Hub login alone.
    found = {manifest(s)["metadata"]["namespace"]: manifest(s) for s in pull_secrets(rec)}
    assert set(found) == {"hello", "web"}
    for obj in found.values():
        assert list(json.loads(obj["stringData"][".dockerconfigjson"])["auths"]) == ["docker.io"]
    for namespace in found:
        for pod in workload_pods(rec, namespace):
            assert pod["imagePullSecrets"] == [{"name": found[namespace]["metadata"]["name"]}]


def test_check_lists_each_registry_its_login_and_who_uses_it():
    settings = load_settings(
        aks_stack(
            {"ghcr.io": login(), "quay.io": login(), "hybridkubedemo.azurecr.io": login()},
            {"name": "hybridkubedemo"},
        ),
        CATALOG,
    )
    lines = registry_lines(
        settings,
        {
            "hello": ["ghcr.io/octocat/hello:1.0.0"],
            "api": ["hybridkubedemo.azurecr.io/api:2.0.0", "ghcr.io/octocat/worker:2.0.0"],
            "web": ["nginxinc/nginx-unprivileged:1.30.5-alpine"],
        },
        stack="azure-dev",
    )
    assert lines == [
        'registries["docker.io"]: no login, images pulled anonymously (web); for a private '
        "image: pulumi config set -s azure-dev --secret --path "
        "'registries[\"docker.io\"].password' <token> (and .username)",
        'registries["ghcr.io"]: user octocat, password set (encrypted); pull Secret for api, hello',
        'registries["hybridkubedemo.azurecr.io"]: this stack\'s ACR, pulled with AcrPull, no login '
        "needed (api)",
        'registries["quay.io"]: user octocat, password set (encrypted); not used by any '
        "selected app",
    ]
    assert not any(TOKEN in line for line in lines)


def test_check_finds_a_plain_password_beside_an_encrypted_one(tmp_path):
    # The engine marks the whole key secret once one value in it is encrypted; read from the
    # stack file (as `check` and `render` do), the plain one still shows.
    (tmp_path / "stacks").mkdir()
    (tmp_path / "Pulumi.yaml").write_text(
        (PROJECT_ROOT / "Pulumi.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    stack = kubeadm_stack(
        {
            "ghcr.io": {"username": "octocat", "password": {"secure": "v1:AAAA"}},
            "quay.io": {"username": "me", "password": TOKEN},
        }
    )
    document = {"config": {f"hybrid-kube:{k}": v for k, v in stack.items()}}
    (tmp_path / "stacks" / "Pulumi.t.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    config = load_stack("t", root=tmp_path, stand_in_encrypted=True)
    raw = {key.split(":", 1)[1]: value for key, value in config.config.items()}
    secret_keys = {key.split(":", 1)[1] for key in config.secret_keys}
    assert "registries" in secret_keys
    with pytest.raises(SettingsError) as caught:
        load_settings(raw, CATALOG, secret_keys=secret_keys)
    assert caught.value.problems == [
        (
            "hybrid-kube:registries.quay.io.password",
            "stored in plain text in the stack file; set it encrypted: pulumi config set "
            "--secret --path 'registries[\"quay.io\"].password' <token>",
        )
    ]
    assert TOKEN not in str(caught.value)


def test_login_edits_on_a_running_stack(monkeypatch):
    """What docs/own-app.md says each edit does: adding or removing a login rolls the app's pods
    once; a new token replaces only the pull Secret."""
    import apps

    monkeypatch.setattr(apps, "CATALOG", {**apps.CATALOG, "hello": hello_spec()})
    base = {"apps": ["hello"]}
    without = record("local", overrides=base)
    first = record("local", overrides=base, secrets={"registries": {"ghcr.io": login()}})
    rotated = record(
        "local", overrides=base, secrets={"registries": {"ghcr.io": login(password="new-token")}}
    )
    added = plan(without, first)
    assert (added.created, added.updated, added.replaced) == (
        ["hello-registry-credentials"],
        ["hello-hello-deployment"],
        {},
    )
    rotation = plan(first, rotated)
    assert (list(rotation.replaced), rotation.updated, rotation.created) == (
        ["hello-registry-credentials"],
        [],
        [],
    )
    removed = plan(first, without)
    assert (removed.deleted, removed.updated) == (
        ["hello-registry-credentials"],
        ["hello-hello-deployment"],
    )
