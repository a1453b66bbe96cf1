"""Per-stack image versions (`hybrid-kube:appImages`) and registry logins reaching the pods: the
stack's choice in the Deployment, checked like a declared image, and a pull Secret exactly where
an image needs a login."""

from __future__ import annotations

import base64
import json

import pulumi
import pulumi_kubernetes as k8s
import pytest
from support import pod_spec, restricted_violations, run_main, schema_errors
from test_workload import one

from apps import CATALOG, settings_catalog
from components.recording import Recording, run_program
from components.settings import SettingsError, load_settings
from components.settings.apps import image_lines, resolve_image
from components.workload import PULL_SECRET, App, AppArgs

EXISTING = {"target": "existing", "existing": {"context": "kind-kind"}}
# Every app in the catalog, in its order (web, podinfo, and any app you add).
ALLOWED = ", ".join(CATALOG)
PODINFO = CATALOG["podinfo"]
FRONTEND = "ghcr.io/stefanprodan/podinfo:6.9.2"
DIGEST = "sha256:" + "ab" * 32


def image_of(rec: Recording, kind: str, name: str, namespace: str) -> str:
    (container,) = pod_spec(one(rec, kind, name, namespace))["containers"]
    return container["image"]


# -- what a stack may write ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("declared", "value", "expected"),
    [
        (FRONTEND, "6.9.3", "ghcr.io/stefanprodan/podinfo:6.9.3"),
        (FRONTEND, "sha-3f2a9c1", "ghcr.io/stefanprodan/podinfo:sha-3f2a9c1"),
        (FRONTEND, DIGEST, f"ghcr.io/stefanprodan/podinfo@{DIGEST}"),
        (FRONTEND, "ghcr.io/me/podinfo:1.0.0", "ghcr.io/me/podinfo:1.0.0"),
        (FRONTEND, f"ghcr.io/me/podinfo@{DIGEST}", f"ghcr.io/me/podinfo@{DIGEST}"),
        ("valkey/valkey:8.1.11-alpine", "8.1.12-alpine", "valkey/valkey:8.1.12-alpine"),
        ("localhost:5000/hello:1.0.0", "1.1.0", "localhost:5000/hello:1.1.0"),
        # `pulumi config set --path` stores a tag of digits as a number.
        ("ghcr.io/me/hello:1.0.0", 3141592, "ghcr.io/me/hello:3141592"),
        (f"nginx:1.30.5@{DIGEST}", "1.30.6", "nginx:1.30.6"),
    ],
)
def test_a_tag_keeps_the_declared_repository_and_a_reference_replaces_it(declared, value, expected):
    assert resolve_image(declared, value) == expected


def problems(app_images, apps=None) -> list[tuple[str, str]]:
    raw = {**EXISTING, "appImages": app_images, **({"apps": apps} if apps else {})}
    with pytest.raises(SettingsError) as caught:
        load_settings(raw, settings_catalog())
    return caught.value.problems


def test_bad_image_settings_are_all_reported_with_the_key_path_and_the_reason():
    assert problems(
        {
            "podinfo": {"frontend": "latest", "valkey": 8.1, "front": "6.9.3"},
            "web": {"web": "nginx"},
            "shop": {"api": "1.0.0"},
        }
    ) == [
        (
            "hybrid-kube:appImages.podinfo.frontend",
            "image 'ghcr.io/stefanprodan/podinfo:latest': tag 'latest' names a channel or "
            "branch, which moves with every upstream build; pin an exact release (e.g. "
            "valkey/valkey:8.1.11-alpine), a commit-SHA tag (e.g. :sha-3f2a9c1) or a digest "
            "(@sha256:...)",
        ),
        (
            "hybrid-kube:appImages.podinfo.valkey",
            "expected a tag, a digest or an image reference as text, got 8.1; quote it in the "
            "stack file so it stays text (YAML reads 6.10 as the number 6.1)",
        ),
        (
            "hybrid-kube:appImages.podinfo.front",
            "app 'podinfo' has no workload 'front' (did you mean 'frontend'?); its workloads: "
            "frontend, valkey",
        ),
        (
            "hybrid-kube:appImages.web.web",
            "image 'nginxinc/nginx-unprivileged:nginx': tag 'nginx' is neither an exact release "
            "(x.y.z) nor a commit SHA; pin an exact release (e.g. valkey/valkey:8.1.11-alpine), "
            "a commit-SHA tag (e.g. :sha-3f2a9c1) or a digest (@sha256:...)",
        ),
        ("hybrid-kube:appImages.shop", f"unknown app 'shop'; allowed: {ALLOWED}"),
    ]


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("ghcr.io/me/hello", "has no tag"),
        ("ghcr.io/me/hello:main", "names a channel or branch"),
        ("ghcr.io/me/hello:1.3", "names a release line"),
        ("sha256:abc", "malformed digest"),
        ("v1 .2", "is not an image tag"),
    ],
)
def test_unpinned_references_are_refused_with_the_reason(value, why):
    ((path, message),) = problems({"podinfo": {"frontend": value}})
    assert path == "hybrid-kube:appImages.podinfo.frontend"
    assert why in message


# What the kubelet refuses (distribution/reference@v0.6.0 grammar), as a stack would write it.
REFUSED_REFERENCES = [
    (
        "ghcr.io/Me/hello:1.0.0",
        "image 'ghcr.io/Me/hello:1.0.0': repository names must be lowercase: write "
        "ghcr.io/me/hello:1.0.0",
    ),
    (
        "https://ghcr.io/me/hello:1.0.0",
        "image 'https://ghcr.io/me/hello:1.0.0': drop https://: an image reference starts with "
        "the registry host; write ghcr.io/me/hello:1.0.0",
    ),
    (
        ":1.0.0",
        "image ':1.0.0' has no repository name; write registry/name:tag, e.g. "
        "ghcr.io/me/hello:1.0.0",
    ),
    (
        "ghcr.io//hello:1.0.0",
        "image 'ghcr.io//hello:1.0.0' has an empty path part ('//', or '/' at the start or end); "
        "e.g. ghcr.io/me/hello:1.0.0",
    ),
    (
        "ghcr.io/me/hello:2.4.1+build.7",
        "image 'ghcr.io/me/hello:2.4.1+build.7': tag '2.4.1+build.7' holds '+', which tags "
        "cannot; a tag is letters, digits, '_', '.' and '-', at most 128, not starting with '.' "
        "or '-': e.g. 2.4.1_build.7",
    ),
]


@pytest.mark.parametrize(("value", "message"), REFUSED_REFERENCES)
def test_references_the_kubelet_refuses_are_refused_with_the_fix(value, message):
    assert problems({"podinfo": {"frontend": value}}) == [
        ("hybrid-kube:appImages.podinfo.frontend", message)
    ]


def test_a_tag_with_a_plus_is_refused_with_the_fix():
    ((path, message),) = problems({"podinfo": {"frontend": "2.4.1+build.7"}})
    assert path == "hybrid-kube:appImages.podinfo.frontend"
    assert message.startswith("'2.4.1+build.7' is not an image tag (tag '2.4.1+build.7' holds '+'")
    assert "e.g. 2.4.1_build.7" in message


@pytest.mark.parametrize(
    ("app_images", "path", "message"),
    [
        (
            {"web": "1.0.0"},
            "hybrid-kube:appImages.web",
            "appImages.<app> maps workload -> tag or reference; web's workloads: web",
        ),
        (
            {"podinfo": {"frontend": None}},
            "hybrid-kube:appImages.podinfo.frontend",
            "has no value: in a stack file, # starts a YAML comment: quote it (frontend: "
            '"1.0.0"), or write a value after the colon',
        ),
    ],
)
def test_a_wrong_shape_or_a_missing_value_says_what_to_write(app_images, path, message):
    assert problems(app_images) == [(path, message)]


def test_check_shows_which_image_each_workload_runs():
    raw = {**EXISTING, "apps": ["web", "podinfo"], "appImages": {"podinfo": {"frontend": "6.9.3"}}}
    settings = load_settings(raw, settings_catalog())
    assert image_lines(settings, settings_catalog()) == [
        "  images:",
        "    web/web: nginxinc/nginx-unprivileged:1.30.5-alpine",
        "    podinfo/frontend: ghcr.io/stefanprodan/podinfo:6.9.3 "
        "(hybrid-kube:appImages; declared ghcr.io/stefanprodan/podinfo:6.9.2)",
        "    podinfo/valkey: valkey/valkey:8.1.11-alpine",
    ]


# -- the stack's choice in the Deployment ----------------------------------------------------------


@pytest.mark.parametrize("stack", ["local", "onprem-lab", "azure-dev"])
def test_the_stack_image_reaches_the_deployment_on_every_target(stack):
    rec = run_main(stack, overrides={"hybrid-kube:appImages": {"podinfo": {"frontend": DIGEST}}})
    assert (
        image_of(rec, "Deployment", "frontend", "podinfo")
        == f"ghcr.io/stefanprodan/podinfo@{DIGEST}"
    )
    # Only that workload: the others run what apps/ declares.
    assert image_of(rec, "StatefulSet", "valkey", "podinfo") == PODINFO.workload("valkey").image
    assert image_of(rec, "Deployment", "web", "web") == CATALOG["web"].workload("web").image


def test_with_images_refuses_what_the_settings_would():
    with pytest.raises(ValueError, match="names a channel or branch"):
        PODINFO.with_images({"frontend": "ghcr.io/stefanprodan/podinfo:latest"})
    with pytest.raises(ValueError, match=r"has no workloads \['nope'\]"):
        PODINFO.with_images({"nope": "x:1.0.0"})


# -- pull Secret -----------------------------------------------------------------------------------

AUTHS = json.dumps({"auths": {"ghcr.io": {"username": "u", "password": "pullTokenSentinel"}}})


def deploy(registry_auths: str | None) -> Recording:
    def program():
        provider = k8s.Provider("test-provider", kubeconfig=pulumi.Output.secret("{}"))
        auths = pulumi.Output.secret(registry_auths) if registry_auths is not None else None
        App(
            "podinfo",
            AppArgs(spec=PODINFO, registry_auths=auths),
            opts=pulumi.ResourceOptions(providers=[provider]),
        )

    return run_program(program)


def test_registry_auths_make_a_pull_secret_every_pod_names():
    rec = deploy(AUTHS)
    secret = rec.named("podinfo-registry-credentials")
    obj = secret.manifest()
    assert obj["type"] == "kubernetes.io/dockerconfigjson"
    assert obj["metadata"]["name"] == PULL_SECRET == "registry-credentials"
    assert obj["metadata"]["namespace"] == "podinfo"
    assert obj["stringData"] == {".dockerconfigjson": AUTHS}
    assert "stringData" in secret.secret_inputs
    assert secret.parent == rec.named("podinfo").urn
    assert schema_errors(obj, "1.34") is None
    for kind, name in (("Deployment", "frontend"), ("StatefulSet", "valkey")):
        spec = pod_spec(one(rec, kind, name))
        assert spec["imagePullSecrets"] == [{"name": "registry-credentials"}]
        assert restricted_violations(spec) == []
        assert secret.urn in rec.named(f"podinfo-{name}-{kind.lower()}").dependencies
    # The login is in the Secret alone: no other input carries it.
    others = [r for r in rec.resources if r is not secret]
    assert not any("pullTokenSentinel" in json.dumps(r.inputs) for r in others)


def test_without_registry_auths_there_is_no_pull_secret():
    rec = deploy(None)
    assert [r for r in rec.resources if "registry-credentials" in r.name] == []
    for kind, name in (("Deployment", "frontend"), ("StatefulSet", "valkey")):
        assert "imagePullSecrets" not in pod_spec(one(rec, kind, name))


LOGIN = {"registries": {"ghcr.io": {"username": "octocat", "password": "ghcrTokenSentinel"}}}


def test_a_login_in_the_stack_reaches_only_the_apps_pulling_from_that_registry():
    rec = run_main("local", secrets=LOGIN)
    secret = rec.named("podinfo-registry-credentials")
    document = json.loads(secret.inputs["stringData"][".dockerconfigjson"])
    entry = document["auths"]["ghcr.io"]
    assert (entry["username"], entry["password"]) == ("octocat", "ghcrTokenSentinel")
    assert base64.b64decode(entry["auth"]).decode() == "octocat:ghcrTokenSentinel"
    assert "stringData" in secret.secret_inputs
    assert pod_spec(one(rec, "Deployment", "frontend", "podinfo"))["imagePullSecrets"] == [
        {"name": "registry-credentials"}
    ]
    # web (Docker Hub) needs no login: no Secret, no reference.
    assert not [r for r in rec.resources if r.name == "web-registry-credentials"]
    assert "imagePullSecrets" not in pod_spec(one(rec, "Deployment", "web", "web"))


def test_an_image_on_the_stacks_own_acr_needs_no_pull_secret_on_aks():
    acr = "hybridkubetest.azurecr.io"
    overrides = {"hybrid-kube:appImages": {"podinfo": {"frontend": f"{acr}/podinfo:6.9.2"}}}
    aks = run_main("azure-dev", overrides=overrides | acr_stack_override())
    assert image_of(aks, "Deployment", "frontend", "podinfo") == f"{acr}/podinfo:6.9.2"
    secrets = {"registries": {acr: {"username": "u", "password": "acrTokenSentinel"}}}
    aks = run_main("azure-dev", overrides=overrides | acr_stack_override(), secrets=secrets)
    assert not [r for r in aks.resources if r.name.endswith("registry-credentials")]
    assert "imagePullSecrets" not in pod_spec(one(aks, "Deployment", "frontend", "podinfo"))


def acr_stack_override() -> dict:
    from components.stackfile import load_stack

    aks = load_stack("azure-dev").config["hybrid-kube:aks"]
    aks = json.loads(aks) if isinstance(aks, str) else dict(aks)
    aks["containerRegistry"] = {"name": "hybridkubetest", "sku": "Basic"}
    return {"hybrid-kube:aks": aks}
