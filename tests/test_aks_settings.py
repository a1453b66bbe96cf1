"""`hybrid-kube:aks` validation: each rule reports its key path and a message saying what to do."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components.settings import SettingsError, load_settings
from components.settings.aks import AksSettings

BASE: dict[str, Any] = {"location": "westeurope"}


def load(aks: dict[str, Any]):
    return load_settings({"target": "aks", "aks": aks}, {})


def problems(aks: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(SettingsError) as caught:
        load(aks)
    return dict(caught.value.problems)


def with_(**changes: Any) -> dict[str, Any]:
    aks = copy.deepcopy(BASE)
    aks.update(changes)
    return aks


def test_defaults_are_the_cheap_secure_setup():
    aks = load(BASE).aks
    assert aks.tier == "Free"
    assert aks.protect_cluster is True
    assert aks.upgrade_channel == "patch"
    assert aks.node_os_upgrade_channel == "NodeImage"
    pool = aks.system_pool
    assert (pool.name, pool.vm_size, pool.initial_count, pool.autoscaling) == (
        "system",
        "Standard_D2as_v5",
        1,
        False,
    )
    assert (pool.max_pods, pool.os_disk_type, pool.os_disk_size_gb) == (110, "Managed", 64)
    assert aks.pools == []
    net = aks.network
    assert (net.pod_cidr, net.service_cidr, net.dns_service_ip, net.vnet) == (
        "10.244.0.0/16",
        "10.0.0.0/16",
        "10.0.0.10",
        None,
    )
    assert aks.authorized_ip_ranges == []
    assert (aks.entra, aks.key_vault_secrets_provider, aks.container_registry) == (None,) * 3


def test_values_are_normalised():
    aks = load(
        with_(
            authorizedIpRanges=["203.0.113.7", "198.51.100.0/24"],
            entra={"adminGroupObjectIds": ["6F1E7B2C-0000-4000-8000-00000000ABCD"]},
            systemPool={"availabilityZones": [1, "2"]},
            pools=[{"name": "apps", "minCount": 0, "maxCount": 3}],
        )
    ).aks
    assert aks.authorized_ip_ranges == ["203.0.113.7/32", "198.51.100.0/24"]
    assert aks.entra.admin_group_object_ids == ["6f1e7b2c-0000-4000-8000-00000000abcd"]
    assert aks.system_pool.availability_zones == ["1", "2"]
    assert aks.pools[0].initial_count == 0 and aks.pools[0].autoscaling


def test_edges_that_aks_accepts_are_accepted():
    aks = load(
        with_(
            systemPool={
                "name": "system123456",
                "maxPods": 250,
                "count": 2,
                "minCount": 1,
                "maxCount": 3,
                "vmSize": "Standard_E4-2ds_v4",
            },
            pools=[
                {
                    "name": "gpu12345",
                    "count": 0,
                    "maxPods": 50,
                    "osDiskType": "Ephemeral",
                    "vmSize": "Standard_NC24ads_A100_v4",
                    "nodeTaints": ["sku=gpu:NoSchedule"],
                },
                {"name": "small", "vmSize": "Standard_B2s"},  # B-series: fine outside system
            ],
            network={"vnet": {}},
            containerRegistry={"name": "HybridKube01"},
            keyVaultSecretsProvider={"rotationPollInterval": "1h30m"},
            upgradeChannel="rapid",
            protectCluster=False,
            tier="Standard",
        )
    ).aks
    assert aks.system_pool.initial_count == 2
    assert aks.system_pool.arm_name == "system123456"  # 12 characters, no suffix
    assert len(aks.pools[0].arm_name) == 12
    assert aks.network.vnet.node_subnet == "10.224.0.0/16"


CASES = [
    # (aks settings, key path, text the message must contain)
    ({}, "aks.location", "required key is missing"),
    (with_(location="West Europe"), "aks.location", "'West Europe' is not an Azure location name"),
    (with_(resourceGroupName="rg."), "aks.resourceGroupName", "not ending in '.'"),
    (with_(clusterName="-aks"), "aks.clusterName", "is not a cluster name"),
    (with_(dnsPrefix="a" * 55), "aks.dnsPrefix", "1-54 letters"),
    (with_(tier="Premium"), "aks.tier", "'Free' or 'Standard'"),
    (with_(systemPool={"vmSize": "B2s"}), "aks.systemPool.vmSize", "is not an Azure VM size"),
    (with_(systemPool={"vmSize": "standard_d2as_v5"}), "aks.systemPool.vmSize", "Standard_D2as_v5"),
    (
        with_(systemPool={"vmSize": "Standard_A1_v2"}),
        "aks.systemPool.vmSize",
        "Standard_A1_v2 has 1 vCPU; AKS refuses a system pool under 2 vCPUs and 4 GB",
    ),
    (
        with_(systemPool={"vmSize": "Standard_B1ms"}),  # burstable and under 2 vCPUs: refused
        "aks.systemPool.vmSize",
        "(SystemPoolSkuTooLow)",
    ),
    (
        with_(systemPool={"vmSize": "Standard_E4-1ds_v4"}),
        "aks.systemPool.vmSize",
        "has 1 vCPU",
    ),
    (
        with_(systemPool={"vmsize": "Standard_B2s"}),
        "aks.systemPool.vmsize",
        "did you mean 'vmSize'?",
    ),
    (with_(systemPool={"maxPods": 30}), "aks.systemPool.maxPods", "greater than or equal to 50"),
    (with_(systemPool={"maxPods": 251}), "aks.systemPool.maxPods", "less than or equal to 250"),
    (with_(systemPool={"count": 0}), "aks.systemPool.count", "needs at least 1"),
    (
        with_(systemPool={"minCount": 0, "maxCount": 2}),
        "aks.systemPool.minCount",
        "needs at least 1",
    ),
    (
        with_(systemPool={"osDiskType": "Temp"}),
        "aks.systemPool.osDiskType",
        "'Managed' or 'Ephemeral'",
    ),
    (
        with_(systemPool={"osDiskSizeGb": 16}),
        "aks.systemPool.osDiskSizeGb",
        "greater than or equal to 30",
    ),
    (
        with_(systemPool={"availabilityZones": [4]}),
        "aks.systemPool.availabilityZones[0]",
        "'1', '2' or '3'",
    ),
    (with_(pools=[{"name": "System"}]), "aks.pools[0].name", "1-12 lowercase letters or digits"),
    (with_(pools=[{"name": "applications1"}]), "aks.pools[0].name", "1-12 lowercase"),
    (
        with_(pools=[{"name": "frontend1"}]),
        "aks.pools[0].name",
        "'frontend1' is too long for a pool of `pools`: at most 8 characters",
    ),
    (with_(pools=[{"name": "1apps"}]), "aks.pools[0].name", "starting with a letter"),
    (with_(pools=[{"vmSize": "Standard_B2s"}]), "aks.pools[0].name", "required key is missing"),
    (
        with_(pools=[{"name": "system"}]),
        "aks.pools[0].name",
        "duplicate pool name 'system' (the system pool's name)",
    ),
    (
        with_(pools=[{"name": "apps"}, {"name": "apps"}]),
        "aks.pools[1].name",
        "duplicate pool name 'apps'",
    ),
    (
        with_(pools=[{"name": "apps", "minCount": 1}]),
        "aks.pools[0].maxCount",
        "set minCount and maxCount together",
    ),
    (
        with_(pools=[{"name": "apps", "maxCount": 1}]),
        "aks.pools[0].minCount",
        "set minCount and maxCount together",
    ),
    (
        with_(pools=[{"name": "apps", "minCount": 3, "maxCount": 2}]),
        "aks.pools[0].minCount",
        "minCount 3 is greater than maxCount 2",
    ),
    (
        with_(pools=[{"name": "apps", "count": 5, "minCount": 1, "maxCount": 2}]),
        "aks.pools[0].count",
        "initial count 5 is outside minCount..maxCount (1..2)",
    ),
    (
        with_(pools=[{"name": "apps", "count": -1}]),
        "aks.pools[0].count",
        "greater than or equal to 0",
    ),
    (
        with_(pools=[{"name": "apps", "nodeTaints": ["dedicated"]}]),
        "aks.pools[0].nodeTaints[0]",
        "is not a taint",
    ),
    (with_(network={"podCidr": "10.244.0.0/33"}), "aks.network.podCidr", "is not a CIDR"),
    (with_(network={"podCidr": "10.244.0.1/16"}), "aks.network.podCidr", "has host bits set"),
    (with_(network={"podCidr": "fd00::/48"}), "aks.network.podCidr", "IPv6"),
    (
        with_(network={"podCidr": "10.0.0.0/8"}),
        "aks.network.serviceCidr",
        "10.0.0.0/16 overlaps podCidr 10.0.0.0/8",
    ),
    (
        with_(network={"serviceCidr": "10.0.0.0/8", "dnsServiceIp": "10.0.0.10"}),
        "aks.network.serviceCidr",
        "larger than AKS allows",
    ),
    (
        with_(network={"serviceCidr": "172.30.0.0/16", "dnsServiceIp": "172.30.0.10"}),
        "aks.network.serviceCidr",
        "overlaps 172.30.0.0/16, which AKS reserves",
    ),
    (
        with_(network={"dnsServiceIp": "10.1.0.10"}),
        "aks.network.dnsServiceIp",
        "10.1.0.10 is outside serviceCidr 10.0.0.0/16",
    ),
    (with_(network={"dnsServiceIp": "10.0.0.1"}), "aks.network.dnsServiceIp", "is reserved"),
    (
        with_(network={"dnsServiceIp": "10.0.0.300"}),
        "aks.network.dnsServiceIp",
        "not an IPv4 or IPv6 address",
    ),
    (
        with_(network={"vnet": {"nodeSubnet": "10.100.0.0/24"}}),
        "aks.network.vnet.nodeSubnet",
        "10.100.0.0/24 is not inside addressSpace 10.224.0.0/12",
    ),
    (
        with_(network={"podCidr": "10.224.0.0/16", "vnet": {"addressSpace": "10.224.0.0/12"}}),
        "aks.network.podCidr",
        "overlaps the VNet addressSpace 10.224.0.0/12",
    ),
    (
        with_(authorizedIpRanges=["0.0.0.0/0"]),
        "aks.authorizedIpRanges[0]",
        "leave authorizedIpRanges empty instead",
    ),
    (with_(authorizedIpRanges=["2001:db8::/32"]), "aks.authorizedIpRanges[0]", "IPv4 only"),
    (
        with_(authorizedIpRanges=["my laptop"]),
        "aks.authorizedIpRanges[0]",
        "is not an IPv4 address or CIDR",
    ),
    (
        with_(authorizedIpRanges=[f"203.0.{i // 250}.{i % 250}" for i in range(201)]),
        "aks.authorizedIpRanges",
        "AKS accepts at most 200",
    ),
    (with_(entra={"adminGroupObjectIds": []}), "aks.entra.adminGroupObjectIds", "at least 1 item"),
    (
        with_(entra={"adminGroupObjectIds": ["aks-admins"]}),
        "aks.entra.adminGroupObjectIds[0]",
        "is not an object id",
    ),
    (
        with_(keyVaultSecretsProvider={"rotationPollInterval": "2 minutes"}),
        "aks.keyVaultSecretsProvider.rotationPollInterval",
        "is not a duration",
    ),
    (
        with_(containerRegistry={"name": "my-registry"}),
        "aks.containerRegistry.name",
        "5-50 letters or digits",
    ),
    (with_(containerRegistry={"name": "acr"}), "aks.containerRegistry.name", "5-50"),
    (
        with_(containerRegistry={"name": "hybridkube01", "sku": "Free"}),
        "aks.containerRegistry.sku",
        "'Basic', 'Standard' or 'Premium'",
    ),
    (
        with_(upgradeChannel="weekly"),
        "aks.upgradeChannel",
        "'patch', 'stable', 'rapid' or 'none'",
    ),
    (with_(protectCluster="maybe"), "aks.protectCluster", "valid boolean"),
    (with_(nodeOsUpgradeChannel="Weekly"), "aks.nodeOsUpgradeChannel", "'NodeImage'"),
    (with_(tags={"cost/center": "x"}), "aks.tags.cost/center", "without any of"),
    (with_(tags={"owner": "x" * 257}), "aks.tags.owner", "max 256"),
    (with_(tags={f"t{i}": "x" for i in range(48)}), "aks.tags", "at most 47"),
]


@pytest.mark.parametrize(("aks", "path", "text"), CASES, ids=[c[1] + "|" + c[2] for c in CASES])
def test_each_rule_names_its_key_path(aks, path, text):
    found = problems(aks)
    key = f"hybrid-kube:{path}"
    assert key in found, found
    assert text in found[key]


def test_every_independent_problem_is_reported_at_once():
    found = problems(
        with_(
            location="West Europe",
            tier="Premium",
            systemPool={"vmSize": "B2s"},
            pools=[{"name": "apps", "minCount": 3, "maxCount": 2}],
            network={"dnsServiceIp": "10.1.0.10"},
            authorizedIpRanges=["0.0.0.0/0"],
            containerRegistry={"name": "a-b"},
        )
    )
    assert set(found) == {
        "hybrid-kube:aks.location",
        "hybrid-kube:aks.tier",
        "hybrid-kube:aks.systemPool.vmSize",
        "hybrid-kube:aks.pools[0].minCount",
        "hybrid-kube:aks.network.dnsServiceIp",
        "hybrid-kube:aks.authorizedIpRanges[0]",
        "hybrid-kube:aks.containerRegistry.name",
    }


def test_replacement_fields_say_so_in_their_descriptions():
    def description(model, field):
        return model.model_fields[field].description or ""

    from components.settings.aks import NetworkSettings, PoolSettings, VnetSettings

    for field in ("pod_cidr", "service_cidr", "dns_service_ip", "vnet"):
        assert "Forces replacement" in description(NetworkSettings, field)
    for field in ("address_space", "node_subnet"):
        # The VNet's ranges are updated in place; only adding or removing `vnet` replaces.
        assert "Forces replacement" not in description(VnetSettings, field)
        assert "in place (no new cluster)" in description(VnetSettings, field)
    for field in ("dns_prefix", "location", "cluster_name", "resource_group_name"):
        assert "Forces replacement" in description(AksSettings, field)
    from components.settings.aks import IMMUTABLE_POOL_FIELDS, SystemPoolSettings

    for field, _ in IMMUTABLE_POOL_FIELDS:
        assert "Immutable" in description(PoolSettings, field), field
    assert "Immutable" in description(SystemPoolSettings, "name")
    assert "suffix" in description(PoolSettings, "name")


# -- what AKS only advises against: warnings, never refusals ------------------------------------


def test_a_b_series_system_pool_is_accepted_with_a_warning():
    """AKS creates a B-series system pool; its docs say B-series "aren't supported" there. A
    cluster deployed with the previous default (Standard_B2s) must keep loading: refusing it
    would force a size change, i.e. a new cluster."""
    aks = load(with_(systemPool={"vmSize": "Standard_B2s"})).aks
    [(path, message)] = aks.warnings
    assert path == ("systemPool", "vmSize")
    assert message.startswith("Standard_B2s is a burstable B-series size")
    assert "aren't supported for system node pools" in message


@pytest.mark.parametrize(
    "aks",
    [
        BASE,  # the default, Standard_D2as_v5
        with_(systemPool={"vmSize": "Standard_D4as_v5"}),
        with_(pools=[{"name": "small", "vmSize": "Standard_B2s"}]),  # B-series outside system
    ],
    ids=["default", "4 vCPUs", "B-series user pool"],
)
def test_sizes_the_docs_do_not_advise_against_draw_no_warning(aks):
    assert load(aks).aks.warnings == []


# -- the AKS name of a pool ----------------------------------------------------------------------

POOL = {"name": "apps", "minCount": 0, "maxCount": 2}
IMMUTABLE_EDITS = {
    "vmSize": "Standard_D4as_v5",
    "osDiskType": "Ephemeral",
    "osDiskSizeGb": 128,
    "maxPods": 60,
    "availabilityZones": [1],
    "encryptionAtHost": True,
}
MUTABLE_EDITS = {
    "minCount": 1,
    "maxCount": 5,
    "nodeLabels": {"tier": "apps"},
    "nodeTaints": ["dedicated=apps:NoSchedule"],
    "osSku": "AzureLinux",
}


def arm_name(pool: dict[str, Any]) -> str:
    return load(with_(pools=[pool])).aks.pools[0].arm_name


def test_every_immutable_field_has_an_edit_below():
    from components.settings.aks import IMMUTABLE_POOL_FIELDS

    assert {prop for _, prop in IMMUTABLE_POOL_FIELDS} == {
        "vmSize",
        "osDiskType",
        "osDiskSizeGB",
        "maxPods",
        "availabilityZones",
        "enableEncryptionAtHost",
    }
    assert len(IMMUTABLE_EDITS) == len(IMMUTABLE_POOL_FIELDS)


@pytest.mark.parametrize(("key", "value"), IMMUTABLE_EDITS.items(), ids=list(IMMUTABLE_EDITS))
def test_an_immutable_field_gives_the_pool_a_new_aks_name(key, value):
    before, after = arm_name(POOL), arm_name({**POOL, key: value})
    assert after != before
    assert after.startswith("apps") and len(after) == len(before) == 8


@pytest.mark.parametrize(("key", "value"), MUTABLE_EDITS.items(), ids=list(MUTABLE_EDITS))
def test_an_in_place_field_keeps_the_aks_name(key, value):
    assert arm_name({**POOL, key: value}) == arm_name(POOL)


def test_zone_order_does_not_change_the_aks_name():
    assert arm_name({**POOL, "availabilityZones": [3, 1]}) == arm_name(
        {**POOL, "availabilityZones": ["1", 3]}
    )


def test_the_suffix_of_the_shipped_pool_is_stable_across_releases():
    # Pinned on purpose: a change of the suffix rule renames, and so rolls, every pool of every
    # deployed stack on its next `pulumi up`. Change it only with a note in docs/aks.md.
    assert arm_name(POOL) == "appsqjpt"


def test_a_pool_whose_aks_name_collides_is_refused():
    taken = arm_name(POOL)
    found = problems(with_(systemPool={"name": taken}, pools=[POOL]))
    assert "already used by the system pool" in found["hybrid-kube:aks.pools[0].name"]
