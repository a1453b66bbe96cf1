"""Day 2 for apps: what a `pulumi up` does when an app is removed or added back, its secret, its
replica count, its storage size, one of its settings or its image version changes. Recorded
before and after with the transitions harness.

App objects are identical on every target (test_parity), so the `local` stack stands for all.
"""

from __future__ import annotations

import copy
import json

import pytest
from support import run_main
from test_workload import STORE, deploy
from transitions import plan, record

import apps
from components.appspec import AppSpec, Storage
from components.recording import Recording
from components.stackfile import load_stack

STACK = "local"
# The shipped apps, named: what "before" deploys even when you add an app to the catalog.
BOTH = {"hybrid-kube:apps": ["web", "podinfo"]}
PODINFO = apps.CATALOG["podinfo"]
WEB = apps.CATALOG["web"]


def with_workload(spec: AppSpec, name: str, **changes) -> AppSpec:
    workloads = tuple(w.model_copy(update=changes) if w.name == name else w for w in spec.workloads)
    return spec.model_copy(update={"workloads": workloads})


@pytest.fixture
def stack_with(monkeypatch):
    """Record the stack with one app's spec replaced (never cached: the catalog is patched)."""

    def run(spec: AppSpec) -> Recording:
        with monkeypatch.context() as patched:
            patched.setitem(apps.CATALOG, spec.name, spec)
            return run_main(STACK)

    return run


def of_app(recording: Recording, app: str) -> set[str]:
    root = recording.named(app)
    return {r.name for r in recording.descendants(root)} | {app}


# -- remove / add back --------------------------------------------------------------------------


def test_removing_an_app_with_data_keeps_its_namespace_and_claims():
    before = record(STACK, overrides=BOTH)
    step = plan(before, record(STACK, overrides={"hybrid-kube:apps": ["web"]}))
    assert set(step.deleted) == of_app(before, "podinfo")
    assert not (step.created or step.replaced or step.updated)  # web is untouched
    gone = {name: before.named(name) for name in step.deleted}
    # The state says "forget, do not delete" (Pulumi deletes with the options in the state):
    # the namespace survives, and with it the StatefulSet's claims.
    forgotten = {name for name, r in gone.items() if r.retain_on_delete}
    assert forgotten == {"podinfo-namespace", "podinfo-valkey-data-valkey-0"}
    deleted_kinds = {r.inputs.get("kind") for r in gone.values() if not r.retain_on_delete}
    assert not deleted_kinds & {"Namespace", "PersistentVolumeClaim"}
    statefulset = gone["podinfo-valkey-statefulset"].inputs["spec"]
    assert statefulset["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Retain"


def test_adding_the_app_back_adopts_its_namespace():
    without = record(STACK, overrides={"hybrid-kube:apps": ["web"]})
    everything = record(STACK, overrides=BOTH)
    step = plan(without, everything)
    assert set(step.created) == of_app(everything, "podinfo")
    assert not (step.deleted or step.replaced or step.updated)
    # A server-side apply: it creates the namespace, or takes over the one left behind (a plain
    # Namespace would fail with AlreadyExists on pulumi-kubernetes >= 4.29).
    assert everything.named("podinfo-namespace").type == "kubernetes:core/v1:NamespacePatch"
    # The new StatefulSet finds its claim by name (data-valkey-0) and mounts the old data.
    (claim,) = everything.named("podinfo-valkey-statefulset").inputs["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "data"


def test_removing_an_app_without_data_deletes_its_namespace():
    before = record(STACK, overrides=BOTH)
    step = plan(before, record(STACK, overrides={"hybrid-kube:apps": ["podinfo"]}))
    assert set(step.deleted) == of_app(before, "web")
    namespace = before.named("web-namespace")
    assert namespace.type == "kubernetes:core/v1:Namespace" and not namespace.retain_on_delete


# -- secret -------------------------------------------------------------------------------------


def test_changing_an_app_secret_replaces_the_secret_and_rolls_only_its_readers():
    def password(value: str) -> dict:
        return {"appSecrets": {"podinfo": {"valkeyPassword": value}}}

    before = record(STACK, secrets=password("first-password-0123456789abcdef"))
    after = record(STACK, secrets=password("second-password-0123456789abcde"))
    step = plan(before, after)
    # Secrets are immutable to the provider: a named one is deleted, then created again.
    assert step.replaced == {"podinfo-secrets-secret": "stringData changed"}
    assert step.updated == ["podinfo-valkey-statefulset"]  # the checksum annotation rolls Valkey
    assert not (step.created or step.deleted)


# -- replicas -----------------------------------------------------------------------------------


def test_changing_replicas_moves_the_autoscaler_floor_not_the_deployment(stack_with):
    before = record(STACK)
    after = stack_with(with_workload(WEB, "web", replicas=3))
    step = plan(before, after)
    assert step.updated == ["web-web-hpa"]
    assert not (step.created or step.deleted or step.replaced)
    hpa = after.named("web-web-hpa").inputs["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 6)


def test_more_replicas_with_storage_size_each_new_claim_and_fewer_keep_them():
    bigger = AppSpec(
        name="store", workloads=(STORE.workloads[0].model_copy(update={"replicas": 4}),)
    )
    up = plan(deploy(STORE), deploy(bigger))
    assert up.updated == ["store-db-statefulset"]  # spec.replicas 3 -> 4
    assert up.created == ["store-db-data-db-3"]  # applied once the new replica's claim exists
    assert not (up.deleted or up.replaced)
    assert up.created_before("store-db-statefulset", "store-db-data-db-3")
    down = plan(deploy(bigger), deploy(STORE))
    assert down.updated == ["store-db-statefulset"]
    assert down.deleted == ["store-db-data-db-3"]
    assert deploy(bigger).named("store-db-data-db-3").retain_on_delete  # the claim stays


# -- storage size -------------------------------------------------------------------------------


def test_a_larger_volume_expands_the_claim_in_place(stack_with):
    before = record(STACK)
    after = stack_with(with_workload(PODINFO, "valkey", storage=Storage(size="2Gi")))
    step = plan(before, after)
    assert step.replaced == {}  # the StatefulSet stays: its claim template's size is ignored
    assert step.updated == ["podinfo-valkey-data-valkey-0"]
    assert not (step.created or step.deleted)
    claim = after.named("podinfo-valkey-data-valkey-0").inputs
    assert claim["spec"]["resources"]["requests"]["storage"] == "2Gi"
    assert claim["metadata"]["name"] == "data-valkey-0"


def test_a_smaller_volume_is_sent_to_the_api_server_as_a_claim_update(stack_with):
    # Never a silent no-op and never a new StatefulSet: the claim update is sent. That the API
    # server then refuses a size below the volume's capacity (during `pulumi preview`'s dry run)
    # is Kubernetes' own rule (docs/upstream-contracts.md), which no test here can run.
    before = stack_with(with_workload(PODINFO, "valkey", storage=Storage(size="2Gi")))
    step = plan(before, record(STACK))
    assert step.replaced == {}
    assert step.updated == ["podinfo-valkey-data-valkey-0"]


# -- settings and image versions ------------------------------------------------------------------


def stack_config_with(app: str, key: str, value) -> dict:
    """The stack's own `appConfig` with one value edited, as a one-line edit of the file."""
    config = copy.deepcopy(load_stack(STACK).config["hybrid-kube:appConfig"])
    config = json.loads(config) if isinstance(config, str) else config
    config.setdefault(app, {})[key] = value
    return {"hybrid-kube:appConfig": config}


def before_value(app: str, key: str):
    config = load_stack(STACK).config["hybrid-kube:appConfig"]
    config = json.loads(config) if isinstance(config, str) else config
    return config[app][key]


def test_editing_one_setting_rebuilds_that_configmap_and_rolls_only_its_deployment():
    before = record(STACK)
    step = plan(before, record(STACK, overrides=stack_config_with("web", "message", "Edited")))
    # The provider treats a ConfigMap's data as immutable: the named one is deleted, then
    # created again; the Deployment waits for it, and its checksum annotation rolls the pods.
    assert step.replaced == {"web-web-configmap": "data changed"}
    assert step.updated == ["web-web-deployment"]
    assert not (step.created or step.deleted)


def test_an_unchanged_setting_changes_nothing():
    before = record(STACK)
    same = stack_config_with("podinfo", "logLevel", before_value("podinfo", "logLevel"))
    step = plan(before, record(STACK, overrides=same))
    assert not (step.created or step.deleted or step.replaced or step.updated)


def test_promoting_an_image_version_updates_only_that_deployment():
    before = record(STACK)
    after = record(STACK, overrides={"hybrid-kube:appImages": {"podinfo": {"frontend": "6.9.3"}}})
    step = plan(before, after)
    assert step.updated == ["podinfo-frontend-deployment"]
    assert not (step.created or step.deleted or step.replaced)
    (container,) = after.named("podinfo-frontend-deployment").inputs["spec"]["template"]["spec"][
        "containers"
    ]
    assert container["image"] == "ghcr.io/stefanprodan/podinfo:6.9.3"


def test_a_docker_hub_login_rolls_every_app_pulling_from_docker_hub():
    """What docs/own-app.md step 4 says: a `docker.io` login is not only for your app. `web`
    (nginxinc/nginx-unprivileged) and podinfo's Valkey (valkey/valkey) are on Docker Hub, so
    each app gets a pull Secret and its pod templates change: the single-replica Valkey
    StatefulSet restarts its one pod."""
    login = {"registries": {"docker.io": {"username": "u", "password": "dockerHubToken"}}}
    step = plan(record(STACK), record(STACK, secrets=login))
    assert sorted(step.created) == ["podinfo-registry-credentials", "web-registry-credentials"]
    assert sorted(step.updated) == [
        "podinfo-frontend-deployment",
        "podinfo-valkey-statefulset",
        "web-web-deployment",
    ]
    assert not (step.deleted or step.replaced)
