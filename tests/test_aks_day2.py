"""Day 2 on AKS: what a `pulumi up` does with each everyday edit of `stacks/Pulumi.azure-dev.yaml`.

Each test records the real program before and after one edit and plans the update with the
transitions harness (tests/transitions.py): what is created, replaced (and why), updated,
refused in place by ARM, or refused by `protect` before anything changes.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from support import run_main
from transitions import Plan, plan, record

from components.aks import stand_ins
from components.settings.aks import AksSettings

STACK = "azure-dev"
CLUSTER = "aks-cluster"
APPS_POOL = "aks-pool-apps"
PROVIDER = "aks-provider"
AZURE = "azure-native:"

Aks = dict[str, Any]


def stack_aks() -> Aks:
    """The stack file's `hybrid-kube:aks` object, as written."""
    from components.stackfile import load_stack

    return json.loads(load_stack(STACK).config["hybrid-kube:aks"])


def edited(edit: Callable[[Aks], None], base: Aks | None = None) -> Aks:
    aks = copy.deepcopy(base if base is not None else stack_aks())
    edit(aks)
    return aks


def recorded(aks: Aks, version: str | None = None):
    overrides: dict[str, Any] = {"hybrid-kube:aks": aks}
    if version is not None:
        overrides["hybrid-kube:kubernetesVersion"] = version
    return record(STACK, overrides)


def transition(edit: Callable[[Aks], None], base: Aks | None = None) -> Plan:
    before = base if base is not None else stack_aks()
    return plan(recorded(before), recorded(edited(edit, before)))


def unprotected() -> Aks:
    return edited(lambda aks: aks.update(protectCluster=False))


def kubernetes_objects(p: Plan) -> set[str]:
    return {r.name for r in p.after.resources if r.type.startswith("kubernetes:")}


def azure_names(p: Plan) -> set[str]:
    return {r.name for r in p.after.resources if r.type.startswith(AZURE)}


def assert_no_object_touched(p: Plan) -> None:
    """The Kubernetes provider and everything created through it stay as they are."""
    touched = set(p.replaced) | set(p.updated) | set(p.created) | set(p.deleted)
    assert PROVIDER not in set(p.replaced), p.replaced
    assert not touched & kubernetes_objects(p), touched & kubernetes_objects(p)


# -- node counts ----------------------------------------------------------------------------------


def test_system_pool_autoscaler_bounds_update_the_cluster_in_place():
    def edit(aks: Aks) -> None:
        aks["systemPool"]["maxCount"] = 3

    p = transition(edit)
    assert p.updated == [CLUSTER]
    assert not (p.created or p.deleted or p.replaced or p.refused_in_place or p.refused)
    assert_no_object_touched(p)


def test_a_user_pool_count_updates_only_that_pool():
    def edit(aks: Aks) -> None:
        apps = aks["pools"][0]
        apps.pop("minCount")
        apps.pop("maxCount")
        apps["count"] = 0  # force the pool to zero nodes

    p = transition(edit)
    assert p.updated == [APPS_POOL]
    assert not (p.created or p.deleted or p.replaced or p.refused_in_place or p.refused)
    assert_no_object_touched(p)


def test_what_the_autoscaler_chose_is_never_reset():
    def edit(aks: Aks) -> None:
        aks["pools"][0]["count"] = 1  # the initial count of an autoscaled pool

    p = transition(edit)
    assert not p.changed  # `count` is ignored while the autoscaler owns it


# -- immutable fields of a user pool: the pool rolls ---------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("vmSize", "Standard_D4as_v5"),
        ("osDiskSizeGb", 128),
        ("maxPods", 60),
        ("availabilityZones", [1, 2, 3]),
    ],
)
def test_an_immutable_field_of_a_user_pool_rolls_it_new_pool_first(key, value):
    def edit(aks: Aks) -> None:
        aks["pools"][0][key] = value

    p = transition(edit)
    # Replaced, not updated in place: nothing that ARM would refuse minutes into `pulumi up`.
    assert set(p.replaced) == {APPS_POOL}
    assert not p.refused_in_place and not p.refused
    assert not (p.created or p.deleted or p.updated)
    old, new = p.before.named(APPS_POOL), p.after.named(APPS_POOL)
    assert old.inputs["agentPoolName"] != new.inputs["agentPoolName"]
    assert new.inputs["agentPoolName"].startswith("apps")
    # Create-before-delete: the new AKS pool exists before the old one is deleted (at the end
    # of the update, when AKS cordons and drains its nodes onto the others).
    assert not new.delete_before_replace
    # The cluster, its identity and every Kubernetes object stay.
    assert CLUSTER not in p.updated
    assert_no_object_touched(p)


def test_reordering_zones_changes_nothing():
    def zones(order: list[int]) -> Callable[[Aks], None]:
        def edit(aks: Aks) -> None:
            aks["pools"][0]["availabilityZones"] = order

        return edit

    base = edited(zones([1, 2, 3]))
    assert not transition(zones([3, 1, 2]), base).changed


def test_adding_and_removing_a_user_pool_touch_only_that_pool():
    def add(aks: Aks) -> None:
        aks["pools"].append({"name": "batch", "count": 1})

    p = transition(add)
    assert p.created == ["aks-pool-batch"]
    assert not (p.deleted or p.replaced or p.updated)
    with_batch = edited(add)
    p = transition(lambda aks: aks["pools"].pop(), with_batch)
    assert p.deleted == ["aks-pool-batch"]
    assert not (p.created or p.replaced or p.updated or p.refused)


# -- immutable fields of the system pool: a new cluster, refused unless asked for ---------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("vmSize", "Standard_D4as_v5"),
        ("name", "sys"),
        ("osDiskSizeGb", 128),
        ("availabilityZones", [1, 2, 3]),
    ],
)
def test_an_immutable_field_of_the_system_pool_is_refused_before_anything_changes(key, value):
    def edit(aks: Aks) -> None:
        aks["systemPool"][key] = value

    p = transition(edit)
    # Today's code sent this as an in-place update that AKS refuses mid-deploy; now the plan
    # is a replacement of a protected cluster, which the preview refuses at once.
    assert CLUSTER in p.replaced and "replaceOnChanges" in p.replaced[CLUSTER]
    assert p.protected == [CLUSTER] and p.refused
    assert not p.refused_in_place


def test_with_protection_off_the_system_pool_change_is_an_explicit_new_cluster():
    def edit(aks: Aks) -> None:
        aks["systemPool"]["vmSize"] = "Standard_D4as_v5"

    p = transition(edit, unprotected())
    assert CLUSTER in p.replaced and not p.refused and not p.refused_in_place
    assert p.after.named(CLUSTER).delete_before_replace  # same name: the old one goes first
    # A new, empty cluster: the provider has a new identity, so every object is created on it.
    assert PROVIDER in p.replaced
    assert kubernetes_objects(p) <= set(p.replaced)


# -- fields that replace the cluster --------------------------------------------------------------


@pytest.mark.parametrize(
    "edit",
    [
        lambda aks: aks["network"].update(podCidr="192.168.0.0/16"),
        lambda aks: aks.update(location="westeurope"),
        lambda aks: aks.update(dnsPrefix="mylab"),
        lambda aks: aks.update(clusterName="mylab"),
    ],
    ids=["podCidr", "location", "dnsPrefix", "clusterName"],
)
def test_a_replace_forcing_field_is_refused_while_the_cluster_is_protected(edit):
    p = transition(edit)
    assert CLUSTER in p.protected and p.refused


def test_with_protection_off_a_network_change_replaces_cluster_and_objects():
    p = transition(lambda aks: aks["network"].update(podCidr="192.168.0.0/16"), unprotected())
    assert CLUSTER in p.replaced and not p.refused
    assert PROVIDER in p.replaced and kubernetes_objects(p) <= set(p.replaced)


def test_switching_protection_off_changes_no_resource_input():
    p = plan(recorded(stack_aks()), recorded(unprotected()))
    assert not p.changed  # only the `protect` flag in the state changes


def test_a_system_pool_built_as_b_series_keeps_taking_in_place_edits():
    """Standard_B2s, the previous default, is advised against by the AKS docs, not refused by
    AKS: a deployed stack keeps its size (changing it would take a new cluster) and its edits."""
    b2s = edited(lambda aks: aks["systemPool"].update(vmSize="Standard_B2s"))
    p = transition(lambda aks: aks["systemPool"].update(maxCount=3), b2s)
    assert p.updated == [CLUSTER]
    assert not (p.created or p.deleted or p.replaced or p.refused_in_place or p.refused)


def test_a_replacement_is_refused_only_once_the_state_is_protected():
    """Why docs/aks.md has an upgraded stack run `pulumi state protect` before its first `up`:
    the engine refuses a replacement only when the state holds `protect` too."""

    def resize(aks: Aks) -> None:
        aks["systemPool"]["vmSize"] = "Standard_D4as_v5"

    first_up = plan(recorded(unprotected()), recorded(edited(resize)))
    assert CLUSTER in first_up.replaced and not first_up.refused
    protected_first = plan(recorded(stack_aks()), recorded(edited(resize)))
    assert protected_first.protected == [CLUSTER] and protected_first.refused


# -- the API server's authorized ranges -------------------------------------------------------


def test_reordering_authorized_ip_ranges_changes_nothing():
    def ranges(order: list[str]) -> Callable[[Aks], None]:
        def edit(aks: Aks) -> None:
            aks["authorizedIpRanges"] = order

        return edit

    base = edited(ranges(["203.0.113.7/32", "198.51.100.0/24", "192.0.2.0/28"]))
    assert not transition(ranges(["192.0.2.0/28", "203.0.113.7", "198.51.100.0/24"]), base).changed
    p = transition(ranges(["192.0.2.0/28", "203.0.113.7"]), base)  # one range removed
    assert p.updated == [CLUSTER] and not (p.replaced or p.refused)


# -- the stack's own VNet ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "vnet",
    [
        {"addressSpace": "10.224.0.0/13", "nodeSubnet": "10.224.0.0/16"},
        {"addressSpace": "10.224.0.0/12", "nodeSubnet": "10.224.0.0/17"},
    ],
    ids=["addressSpace", "nodeSubnet"],
)
def test_a_vnet_range_edit_updates_the_vnet_and_touches_no_object(vnet):
    """The ranges are the VNet's properties; the pools' subnet id is fixed by its name. Azure
    changes a subnet's range only while nothing is deployed in it, so the nodeSubnet edit fails
    at deploy time on a running cluster, but it never plans a new cluster or new objects."""
    base = edited(
        lambda aks: aks["network"].update(
            vnet={"addressSpace": "10.224.0.0/12", "nodeSubnet": "10.224.0.0/16"}
        )
    )
    p = transition(lambda aks: aks["network"].update(vnet=vnet), base)
    assert p.updated == ["aks-vnet"]
    assert not (p.created or p.deleted or p.replaced or p.refused)
    assert_no_object_touched(p)


# -- Kubernetes version -------------------------------------------------------------------------


def all_values(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def test_a_minor_version_up_sends_no_version_change_arm_could_refuse():
    before = recorded(stack_aks(), version="1.35")
    after = recorded(stack_aks(), version="1.36")
    p = plan(before, after)
    # No Azure resource is updated, replaced or refused: no request can mix a new control plane
    # version with the pools' (NotAllAgentPoolOrchestratorVersionSpecifiedAndUnchanged).
    changed_azure = (set(p.updated) | set(p.replaced) | set(p.refused_in_place)) & azure_names(p)
    assert changed_azure == set()
    assert not p.refused
    assert_no_object_touched(p)
    # The program never sends a pool version at all; the cluster's is sent on create only.
    for r in after.resources:
        if r.type.startswith(AZURE):
            assert "orchestratorVersion" not in all_values(r.inputs), r.name
    cluster = after.named(CLUSTER)
    assert cluster.inputs["kubernetesVersion"] == "1.36"
    assert "kubernetesVersion" in cluster.ignore_changes


# -- the Kubernetes provider's identity --------------------------------------------------------


def test_rotated_certificates_update_the_provider_and_replace_nothing(monkeypatch):
    """`az aks rotate-certs`: same cluster, new CA and client certificate in the kubeconfig."""
    config = {"hybrid-kube:aks": stack_aks()}  # as record() passes it
    before = run_main(STACK, overrides=config)
    real = stand_ins.credentials

    def rotated(args, kind):
        result = real(args, kind)
        import base64

        text = base64.b64decode(result["kubeconfigs"][0]["value"]).decode()
        text = text.replace("cluster CA of", "rotated cluster CA of")
        text = text.replace("client certificate of", "rotated client certificate of")
        result["kubeconfigs"][0]["value"] = base64.b64encode(text.encode()).decode()
        return result

    monkeypatch.setattr(stand_ins, "credentials", rotated)
    after = run_main(STACK, overrides=config)
    assert before.named(PROVIDER).inputs["kubeconfig"] != after.named(PROVIDER).inputs["kubeconfig"]
    p = plan(before, after)
    assert p.updated == [PROVIDER]
    assert not (p.replaced or p.created or p.deleted)


def test_the_identity_changes_exactly_when_the_cluster_is_replaced():
    """Every edit the engine replaces the cluster for gives the provider a new identity."""
    base = unprotected()
    edits: list[Callable[[Aks], None]] = [
        lambda aks: aks["network"].update(serviceCidr="10.96.0.0/16", dnsServiceIp="10.96.0.10"),
        lambda aks: aks["network"].update(vnet={}),
        lambda aks: aks["systemPool"].update(vmSize="Standard_D4as_v5"),
        lambda aks: aks["systemPool"].update(name="sys"),
        lambda aks: aks.update(location="westeurope"),
        lambda aks: aks.update(clusterName="mylab"),
        lambda aks: aks.update(dnsPrefix="mylab"),
        lambda aks: aks["systemPool"].update(maxPods=60),
        lambda aks: aks.update(resourceGroupName="rg-lab"),
    ]
    for edit in edits:
        p = transition(edit, base)
        assert CLUSTER in p.replaced
        assert PROVIDER in p.replaced and "clusterIdentifier" in p.replaced[PROVIDER]


def test_the_stack_validates_to_what_the_plans_above_assume():
    aks = AksSettings.model_validate(stack_aks())
    assert aks.protect_cluster and aks.system_pool.autoscaling
    assert [pool.name for pool in aks.pools] == ["apps"] and aks.pools[0].autoscaling


# -- the docs say what the code does ------------------------------------------------------------


def test_the_docs_unprotect_command_names_the_cluster_urn():
    from components.stackfile import PROJECT_ROOT

    text = (PROJECT_ROOT / "docs" / "aks.md").read_text(encoding="utf-8")
    urn = recorded(stack_aks()).named(CLUSTER).urn
    assert f"pulumi state unprotect -s {STACK} \\\n  '{urn}'" in text


def test_the_docs_protect_command_for_an_upgraded_stack_names_the_cluster_urn():
    from components.stackfile import PROJECT_ROOT

    text = (PROJECT_ROOT / "docs" / "aks.md").read_text(encoding="utf-8")
    urn = recorded(stack_aks()).named(CLUSTER).urn
    assert f"pulumi state protect -s {STACK} \\\n     '{urn}'" in text


def test_the_docs_day2_table_lists_every_field_a_pool_roll_covers():
    from components.settings.aks import IMMUTABLE_POOL_FIELDS, PoolSettings
    from components.stackfile import PROJECT_ROOT

    text = (PROJECT_ROOT / "docs" / "aks.md").read_text(encoding="utf-8")
    [row] = [line for line in text.splitlines() if "**rolls the pool**" in line]
    for field, _ in IMMUTABLE_POOL_FIELDS:
        alias = PoolSettings.model_fields[field].alias or field
        assert f"`{alias}`" in row, alias
