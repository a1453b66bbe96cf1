"""The App component on its own: secure defaults, derived policies, rolling on change, opt-outs."""

from __future__ import annotations

import hashlib

import pulumi
import pulumi_kubernetes as k8s
import pytest
from pydantic import SecretStr, ValidationError
from support import manifest, pod_spec, restricted_violations, schema_errors

from apps import CATALOG
from components.appspec import (
    AppSpec,
    ExposedPath,
    Exposure,
    SecretFile,
    SecretSpec,
    Storage,
    WorkloadSpec,
)
from components.recording import Recording, run_program
from components.secrets import render_secret_file
from components.workload import CHECKSUM_CONFIG, CHECKSUM_SECRETS, App, AppArgs, IngressInfo

INGRESS = IngressInfo(class_name="traefik", namespace="traefik", domain="apps.example.test")


def deploy(spec: AppSpec, secrets: dict[str, str] | None = None, ingress=INGRESS) -> Recording:
    def program():
        provider = k8s.Provider("test-provider", kubeconfig=pulumi.Output.secret("{}"))
        App(
            spec.name,
            AppArgs(
                spec=spec,
                secrets={k: SecretStr(v) for k, v in (secrets or {}).items()},
                ingress=ingress,
            ),
            opts=pulumi.ResourceOptions(providers=[provider]),
        )

    return run_program(program)


def objects(rec: Recording, kind: str | None = None) -> list[dict]:
    found = [manifest(r) for r in rec.kubernetes_objects()]
    return [o for o in found if kind is None or o["kind"] == kind]


def one(rec: Recording, kind: str, name: str, namespace: str | None = None) -> dict:
    """The one `kind` object called `name` (in `namespace`, when given: two apps may each have a
    workload of the same name, e.g. an added app's `web` beside the shipped one)."""
    found = [
        o
        for o in objects(rec, kind)
        if o["metadata"]["name"] == name and namespace in (None, o["metadata"].get("namespace"))
    ]
    where = sorted(str(o["metadata"].get("namespace")) for o in found)
    assert len(found) == 1, f"{len(found)} {kind} objects named {name!r} (namespaces {where})"
    return found[0]


PODINFO = CATALOG["podinfo"]
WEB = CATALOG["web"]


def test_third_app_is_one_spec_and_gets_every_default():
    spec = AppSpec(
        name="echo",
        workloads=(WorkloadSpec(name="echo", image="ghcr.io/example/echo:1.2.3", port=8080),),
    )
    rec = deploy(spec)
    kinds = sorted(o["kind"] for o in objects(rec))
    assert kinds == [
        "Deployment",
        "HorizontalPodAutoscaler",
        "Namespace",
        "NetworkPolicy",
        "NetworkPolicy",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Service",
        "ServiceAccount",
    ]
    for obj in objects(rec):
        assert schema_errors(obj, "1.34") is None
    deployment = one(rec, "Deployment", "echo")
    assert restricted_violations(pod_spec(deployment)) == []
    assert deployment["spec"]["replicas"] == 2


def test_every_object_goes_through_the_given_provider_and_is_parented():
    rec = deploy(PODINFO)
    provider = rec.named("test-provider")
    app = rec.named("podinfo")
    assert {r.provider_urn for r in rec.kubernetes_objects()} == {provider.urn}
    owned = {r.urn for r in rec.descendants(app)}
    assert {r.urn for r in rec.kubernetes_objects()} <= owned


def test_service_account_has_no_token():
    rec = deploy(WEB)
    account = one(rec, "ServiceAccount", "web")
    assert account["automountServiceAccountToken"] is False
    assert pod_spec(one(rec, "Deployment", "web"))["automountServiceAccountToken"] is False


def test_configmap_serves_files_and_changing_it_rolls_pods():
    rec = deploy(WEB)
    config = one(rec, "ConfigMap", "web")
    assert "Hello from hybrid-kube" in config["data"]["index.html"]
    spec = pod_spec(one(rec, "Deployment", "web"))
    mount = next(m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "files")
    assert mount == {"name": "files", "mountPath": "/usr/share/nginx/html", "readOnly": True}

    changed_workload = WEB.workloads[0].model_copy(update={"files": {"index.html": "<p>new</p>"}})
    changed = WEB.model_copy(update={"workloads": (changed_workload,)})
    before = one(rec, "Deployment", "web")["spec"]["template"]["metadata"]["annotations"]
    after = one(deploy(changed), "Deployment", "web")["spec"]["template"]["metadata"]["annotations"]
    assert before[CHECKSUM_CONFIG] != after[CHECKSUM_CONFIG]


def test_changing_a_secret_rolls_its_pods_without_revealing_it():
    first = deploy(PODINFO, {"valkeyPassword": "first-password-0123456789abcdef"})
    second = deploy(PODINFO, {"valkeyPassword": "second-password-0123456789abcde"})
    a = one(first, "StatefulSet", "valkey")["spec"]["template"]["metadata"]["annotations"]
    b = one(second, "StatefulSet", "valkey")["spec"]["template"]["metadata"]["annotations"]
    assert a[CHECKSUM_SECRETS] != b[CHECKSUM_SECRETS]
    assert "password" not in a[CHECKSUM_SECRETS]
    # The checksum is an HMAC under a random key, so it may be a plain input.
    assert "spec" not in first.named("podinfo-valkey-statefulset").secret_inputs
    # The front end reads no secret, so a new password does not restart it.
    front = [one(rec, "Deployment", "frontend") for rec in (first, second)]
    assert front[0] == front[1]
    assert CHECKSUM_SECRETS not in front[0]["spec"]["template"]["metadata"]["annotations"]


def test_secret_reaches_pods_only_as_secret_references():
    rec = deploy(PODINFO, {"valkeyPassword": "configured-password-0123456789ab"})
    secret = rec.named("podinfo-secrets-secret")
    assert secret.secret_inputs == {"stringData"}
    data = secret.inputs["stringData"]
    # The plaintext under its own key, for the operator; the config file carries only its hash.
    assert data["valkeyPassword"] == "configured-password-0123456789ab"
    digest = hashlib.sha256(b"configured-password-0123456789ab").hexdigest()
    assert f"user admin on #{digest} " in data["valkey.conf"]
    assert "configured-password" not in data["valkey.conf"]
    # podinfo logs its cache URL when the cache is down: the URL must carry no credential.
    frontend = pod_spec(one(rec, "Deployment", "frontend"))["containers"][0]
    assert "--cache-server=tcp://valkey:6379" in frontend["args"]
    assert "configured-password" not in str(frontend)
    valkey = pod_spec(one(rec, "StatefulSet", "valkey"))
    # Nothing in Valkey's environment: its probe needs no password.
    assert "env" not in valkey["containers"][0]
    volume = next(v for v in valkey["volumes"] if v["name"] == "secret-files")
    assert volume["secret"]["secretName"] == "podinfo-secrets"
    # No password generated when one is configured.
    assert rec.of_type("random:index/randomPassword:RandomPassword") == []


def test_secret_file_transforms_are_applied_and_checked():
    values = {"pw": 'a b\n"c'}
    rendered = render_secret_file("raw={pw} hashed={pw:sha256}", values)
    digest = hashlib.sha256(values["pw"].encode()).hexdigest()
    assert rendered == f"raw={values['pw']} hashed={digest}"
    workloads = ({"name": "a", "image": "x:1.0.0", "port": 1},)
    secrets = {"pw": SecretSpec()}
    with pytest.raises(ValidationError) as caught:
        AppSpec(
            name="bad",
            workloads=workloads,
            secrets=secrets,
            secret_files={"f": SecretFile(template="{pw:md5} {pw!r}")},
        )
    message = str(caught.value)
    assert "{pw:md5} uses unknown transform 'md5'; allowed: sha256" in message
    assert "{pw!r} is not allowed" in message


def test_missing_secret_is_generated_url_safe():
    rec = deploy(PODINFO)
    (password,) = rec.of_type("random:index/randomPassword:RandomPassword")
    assert password.inputs["special"] is False
    assert password.inputs["length"] == 32
    secret = rec.named("podinfo-secrets-secret")
    assert "stringData" in secret.secret_inputs
    assert password.urn in secret.dependencies


def test_storage_makes_a_statefulset_with_a_claim():
    rec = deploy(PODINFO)
    statefulset = one(rec, "StatefulSet", "valkey")
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert "storageClassName" not in claim["spec"]  # the cluster's default class, on every target
    mounts = pod_spec(statefulset)["containers"][0]["volumeMounts"]
    assert {"name": "data", "mountPath": "/data"} in mounts


def test_claims_outlive_the_statefulset_and_its_scale_down():
    rec = deploy(PODINFO)
    policy = one(rec, "StatefulSet", "valkey")["spec"]["persistentVolumeClaimRetentionPolicy"]
    assert policy == {"whenDeleted": "Retain", "whenScaled": "Retain"}


STORE = AppSpec(
    name="store",
    workloads=(
        WorkloadSpec(
            name="db",
            image="ghcr.io/example/db:1.2.3",
            port=5432,
            replicas=3,
            storage=Storage(size="5Gi"),
        ),
    ),
)


def test_claim_size_is_applied_to_each_replica_claim_not_the_template():
    rec = deploy(STORE)
    statefulset = rec.named("store-db-statefulset")
    # Changing the template would replace the StatefulSet and still leave the claims as they are.
    assert "spec.volumeClaimTemplates[0].spec.resources.requests.storage" in (
        statefulset.ignore_changes
    )
    # Exactly `replicas`, each with a sized claim: no autoscaler adds replicas nobody sized.
    assert "spec.replicas" not in statefulset.ignore_changes
    kinds = {o["kind"] for o in objects(rec)}
    assert "HorizontalPodAutoscaler" not in kinds and "PodDisruptionBudget" in kinds
    patches = sorted(
        rec.of_type("kubernetes:core/v1:PersistentVolumeClaimPatch"), key=lambda p: p.name
    )
    assert [p.name for p in patches] == [f"store-db-data-db-{i}" for i in range(3)]
    for ordinal, patch in enumerate(patches):
        obj = manifest(patch)
        assert obj["metadata"]["name"] == f"data-db-{ordinal}"  # <template>-<statefulset>-<i>
        assert obj["metadata"]["namespace"] == "store"
        assert obj["spec"]["resources"]["requests"]["storage"] == "5Gi"
        assert obj["spec"]["accessModes"] == ["ReadWriteOnce"]
        assert obj["metadata"]["annotations"]["pulumi.com/patchForce"] == "true"
        assert schema_errors(obj, "1.34") is None
        # After the StatefulSet's rollout (its claims exist); forgotten, never deleted.
        assert statefulset.urn in patch.dependencies
        assert patch.retain_on_delete


def test_an_app_with_data_keeps_its_namespace_and_one_without_does_not():
    rec = deploy(PODINFO)
    namespace = rec.named("podinfo-namespace")
    assert namespace.type == "kubernetes:core/v1:NamespacePatch"
    assert namespace.retain_on_delete
    assert manifest(namespace)["kind"] == "Namespace"
    assert schema_errors(manifest(namespace), "1.34") is None
    stateless = deploy(WEB).named("web-namespace")
    assert stateless.type == "kubernetes:core/v1:Namespace"
    assert not stateless.retain_on_delete


def test_a_stack_deployed_with_a_plain_namespace_adopts_it_instead_of_deleting_it():
    aliases: list[str] = []

    def program():
        provider = k8s.Provider("test-provider", kubeconfig=pulumi.Output.secret("{}"))
        app = App(
            "podinfo", AppArgs(spec=PODINFO), opts=pulumi.ResourceOptions(providers=[provider])
        )
        # The alias URNs the SDK sends with the registration (pulumi Resource._aliases).
        pulumi.Output.all(*app.namespace._aliases).apply(aliases.extend)

    run_program(program)
    (alias,) = aliases
    assert alias.endswith(
        "hybrid-kube:workload:App$kubernetes:core/v1:Namespace::podinfo-namespace"
    )


def test_singleton_opts_out_of_pdb_and_autoscaler_only():
    rec = deploy(PODINFO)
    names = {(o["kind"], o["metadata"]["name"]) for o in objects(rec)}
    assert ("PodDisruptionBudget", "frontend") in names
    assert ("HorizontalPodAutoscaler", "frontend") in names
    assert ("PodDisruptionBudget", "valkey") not in names
    assert ("HorizontalPodAutoscaler", "valkey") not in names
    assert restricted_violations(pod_spec(one(rec, "StatefulSet", "valkey"))) == []


def test_autoscaler_owns_the_replica_count():
    rec = deploy(WEB)
    hpa = one(rec, "HorizontalPodAutoscaler", "web")
    assert hpa["spec"]["minReplicas"] == 2
    assert hpa["spec"]["maxReplicas"] == 4
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "web",
    }
    assert rec.named("web-web-deployment").ignore_changes == ("spec.replicas",)
    pdb = one(rec, "PodDisruptionBudget", "web")
    assert pdb["spec"]["maxUnavailable"] == 1


def test_network_policies_allow_exactly_what_is_declared():
    rec = deploy(PODINFO)
    valkey = one(rec, "NetworkPolicy", "valkey")["spec"]
    (rule,) = valkey["ingress"]
    assert rule["from"] == [
        {
            "podSelector": {
                "matchLabels": {
                    "app.kubernetes.io/name": "frontend",
                    "app.kubernetes.io/part-of": "podinfo",
                }
            }
        }
    ]
    assert rule["ports"] == [{"protocol": "TCP", "port": 6379}]
    assert "egress" not in valkey  # valkey calls nobody

    frontend = one(rec, "NetworkPolicy", "frontend")["spec"]
    (egress,) = frontend["egress"]
    assert egress["ports"] == [{"protocol": "TCP", "port": 6379}]
    (admit,) = frontend["ingress"]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "traefik"}}} in (
        admit["from"]
    )
    dns = one(rec, "NetworkPolicy", "allow-dns")["spec"]
    assert dns["egress"][0]["ports"] == [
        {"protocol": "UDP", "port": 53},
        {"protocol": "TCP", "port": 53},
    ]


def test_exposure_routes_through_the_platform_ingress_class():
    rec = deploy(WEB)
    ingress = one(rec, "Ingress", "web")
    assert ingress["spec"]["ingressClassName"] == "traefik"
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "web.apps.example.test"
    (path,) = rule["http"]["paths"]
    assert path["path"] == "/" and path["pathType"] == "Prefix"  # a simple app: everything
    assert path["backend"]["service"] == {"name": "web", "port": {"name": "http"}}


def test_exposure_routes_exactly_the_declared_paths():
    exposure = Exposure(
        paths=(
            ExposedPath(path="/", path_type="Exact"),
            ExposedPath(path="/api/info", path_type="Exact"),
            ExposedPath(path="/static"),
        )
    )
    echo = WorkloadSpec(
        name="echo", image="ghcr.io/example/echo:1.2.3", port=8080, exposure=exposure
    )
    rec = deploy(AppSpec(name="echo", workloads=(echo,)))
    ingress = one(rec, "Ingress", "echo")
    assert schema_errors(ingress, "1.34") is None
    (rule,) = ingress["spec"]["rules"]
    assert [(p["path"], p["pathType"]) for p in rule["http"]["paths"]] == [
        ("/", "Exact"),
        ("/api/info", "Exact"),
        ("/static", "Prefix"),
    ]


@pytest.mark.parametrize(
    ("paths", "message"),
    [
        ((), "at least 1 item"),
        (({"path": "api"},), "not an absolute path"),
        (({"path": "/a//b"},), "which Kubernetes refuses"),
        (({"path": "/a/.."},), "which Kubernetes refuses"),
        (({"path": "/a%2Fb"},), "which Kubernetes refuses"),
        (({"path": "/a", "path_type": "Regex"},), "'Exact' or 'Prefix'"),
        (({"path": "/a"}, {"path": "/a", "path_type": "Exact"}), "listed more than once"),
    ],
)
def test_bad_exposures_fail_when_declared(paths, message):
    with pytest.raises(ValidationError) as caught:
        Exposure(paths=paths)
    assert message in str(caught.value)


def test_without_an_ingress_controller_nothing_is_exposed():
    rec = deploy(PODINFO, ingress=None)
    assert objects(rec, "Ingress") == []
    frontend = one(rec, "NetworkPolicy", "frontend")["spec"]
    assert "ingress" not in frontend


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"image": "nginx"}, "has no tag"),
        ({"image": "registry:5000/nginx"}, "has no tag"),
        ({"image": "nginx:1.2@sha256:abc"}, "malformed digest"),
        ({"replicas": 1}, "set singleton=True to opt out explicitly"),
        ({"run_as_user": 1000}, "above 10000"),
        ({"name": "Web"}, "not a DNS-1123 label"),
        ({"port": 0}, "greater than or equal to 1"),
        ({"files": {"index.html": "x"}}, "files need files_path"),
        ({"resources": {"cpu_request": "lots"}}, "not a Kubernetes quantity"),
        ({"storage": {}, "max_replicas": 4}, "nothing autoscales it"),
    ],
)
def test_bad_workload_declarations_fail_when_declared(change, message):
    base = {"name": "web", "image": "nginx:1.30.5", "port": 8080}
    with pytest.raises(ValidationError) as caught:
        WorkloadSpec(**{**base, **change})
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("image", "why"),
    [
        ("ghcr.io/Me/hello:1.0.0", "repository names must be lowercase: write ghcr.io/me/hello"),
        ("Me/hello:1.0.0", "repository names must be lowercase: write me/hello:1.0.0"),
        ("https://ghcr.io/me/hello:1.0.0", "drop https://: "),
        ("http://localhost:5000/hello:1.0.0", "drop http://: "),
        (":1.0.0", "has no repository name"),
        ("ghcr.io//hello:1.0.0", "has an empty path part"),
        ("ghcr.io/me/hello/:1.0.0", "has an empty path part"),
        ("ghcr.io/me/hello:2.4.1+build.7", "holds '+', which tags cannot"),
        ("ghcr.io/me/hello:", "the ':' is followed by no tag"),
        ("ghcr.io/me/hello:.1.0.0", "tag '.1.0.0' is not allowed"),
        ("ghcr.io/me/hel!o:1.0.0", "path part 'hel!o', which is not allowed"),
        ("ghcr.io/me/a___b:1.0.0", "path part 'a___b', which is not allowed"),
        ("ghcr.io/me/-hello:1.0.0", "path part '-hello', which is not allowed"),
        ("bad_host.io/hello:1.0.0", "registry host 'bad_host.io'"),
        ("ghcr.io/me/hello 1.0.0", "holds a space"),
        ("ghcr.io/" + "a" * 256 + ":1.0.0", "at most 255"),
    ],
)
def test_references_the_kubelet_refuses_fail_when_declared(image, why):
    """distribution/reference@v0.6.0's grammar, which the kubelet parses image names with."""
    with pytest.raises(ValidationError) as caught:
        WorkloadSpec(name="w", image=image, port=80)
    assert why in str(caught.value)


@pytest.mark.parametrize(
    "image",
    [
        "localhost:5000/x:1.0.0",
        "[::1]:5000/hello:1.0.0",
        "registry.example.com:5000/team/app:2.0.0",
        "ghcr.io/me/hello:sha-3f2a9c1",
        "ghcr.io/me/hello:2.4.1_build.7",
        "ex--ample.com/a__b/c---d.e_f:1.0.0",
        "ghcr.io/me/hello@sha256:" + "ab" * 32,
        "ghcr.io/me/hello:1.0.0@sha256:" + "ab" * 32,
        *(w.image for spec in CATALOG.values() for w in spec.workloads),
    ],
)
def test_valid_references_are_accepted_unchanged(image):
    assert WorkloadSpec(name="w", image=image, port=80).image == image


@pytest.mark.parametrize(
    ("image", "why"),
    [
        ("valkey/valkey:8.1-alpine", "names a release line, which moves with every patch release"),
        ("valkey/valkey:8", "names a release line"),
        ("valkey/valkey:8.1", "names a release line"),
        ("nginxinc/nginx-unprivileged:1.30-alpine", "names a release line"),
        ("nginxinc/nginx-unprivileged:1.30-alpine3.22", "names a release line"),
        ("nginx:stable", "names a channel or branch, which moves with every upstream build"),
        ("nginx:stable-alpine", "names a channel or branch"),
        ("nginx:mainline", "names a channel or branch"),
        ("ghcr.io/example/app:main", "names a channel or branch"),
        ("ghcr.io/example/app:master", "names a channel or branch"),
        ("alpine:edge", "names a channel or branch"),
        ("nginx:latest", "names a channel or branch"),
        ("nginx:alpine", "neither an exact release (x.y.z) nor a commit SHA"),
        ("ghcr.io/example/app:sha-3f2a9c", "neither an exact release"),  # 6 hex: too short
    ],
)
def test_moving_image_tags_are_refused_with_the_reason(image, why):
    with pytest.raises(ValidationError) as caught:
        WorkloadSpec(name="w", image=image, port=80)
    message = str(caught.value)
    assert why in message
    assert "pin an exact release" in message and "a commit-SHA tag" in message


@pytest.mark.parametrize(
    "image",
    [
        "valkey/valkey:8.1.4-alpine",
        "valkey/valkey:8.1.11-alpine3.22",
        "nginxinc/nginx-unprivileged:1.30.5",
        "ghcr.io/example/app:v1.2.3",
        "ghcr.io/example/app:sha-3f2a9c1",
        "ghcr.io/example/app:3f2a9c1d",
        "ghcr.io/example/app:main-3f2a9c1d",
        "ghcr.io/example/app:" + "a" * 40,
        "registry.example:5000/team/app:2.0.1",
        "nginx:1.30@sha256:" + "a" * 64,
        "nginx:stable@sha256:" + "b" * 64,  # the digest pins it, whatever the tag says
        "nginx@sha256:" + "c" * 64,
    ],
)
def test_exact_releases_commit_tags_and_digests_are_accepted(image):
    assert WorkloadSpec(name="w", image=image, port=80).image == image


@pytest.mark.parametrize(
    ("app", "message"),
    [
        (
            {"workloads": ({"name": "a", "image": "x:1.0.0", "port": 1, "talks_to": ("b",)},)},
            "talks_to names unknown workload 'b'",
        ),
        (
            {
                "workloads": (
                    {"name": "a", "image": "x:1.0.0", "port": 1, "secret_env": {"P": "pw"}},
                )
            },
            "names unknown secret 'pw'",
        ),
        (
            {
                "workloads": ({"name": "a", "image": "x:1.0.0", "port": 1},),
                "secret_files": {"f.conf": SecretFile(template="pass {nope}")},
            },
            "uses unknown secrets ['nope']",
        ),
        (
            {
                "workloads": (
                    {"name": "a", "image": "x:1.0.0", "port": 1},
                    {"name": "a", "image": "x:1.0.0", "port": 2},
                )
            },
            "duplicate workload names",
        ),
    ],
)
def test_bad_app_declarations_fail_when_declared(app, message):
    with pytest.raises(ValidationError) as caught:
        AppSpec(name="bad", **app)
    assert message in str(caught.value)


def test_secret_spec_refuses_short_passwords():
    with pytest.raises(ValidationError):
        SecretSpec(length=8)


def test_exposure_and_storage_defaults():
    assert Exposure().paths == (ExposedPath(path="/", path_type="Prefix"),)
    assert Storage().size == "1Gi"
