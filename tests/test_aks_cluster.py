"""`AksCluster` under the mock engine: what a real `pulumi up` would send to Azure.

The defaults are checked property by property; every option is then checked to change exactly the
properties (and add exactly the resources) it should, by diffing against the default recording.
"""

from __future__ import annotations

import base64
import functools
import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml
from support import shared_run

from components.aks import AKS_CAPABILITIES, AksCluster, AksClusterArgs
from components.aks.kubeconfig import decode, use_azure_cli_login
from components.cluster import Cluster
from components.recording import PLACEHOLDER_PREFIX, Recording, run_program
from components.settings.aks import AksSettings

CLUSTER = "azure-native:containerservice:ManagedCluster"
AGENT_POOL = "azure-native:containerservice:AgentPool"
ROLE = "azure-native:authorization:RoleAssignment"
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
NETWORK_CONTRIBUTOR = "4d97b98b-1d4f-4787-a291-c67834d212e7"
GROUP = "6f1e7b2c-0000-4000-8000-00000000abcd"


def settings(**changes: Any) -> AksSettings:
    return AksSettings.model_validate({"location": "westeurope", **changes})


def run(
    aks: AksSettings, version: str = "1.34", *, fresh: bool = False
) -> tuple[Recording, dict[str, Any]]:
    """Declare one AksCluster; return the recording and the component's attributes (`fresh`:
    a run of its own, so `seen` is filled; else it may be shared with an earlier equal run)."""
    seen: dict[str, Any] = {}

    def program():
        cluster = AksCluster("aks", AksClusterArgs(aks=aks, kubernetes_version=version))
        seen["cluster"] = cluster
        pulumi.export("kubeconfig", cluster.kubeconfig)
        for attr in (
            "resource_group_name",
            "cluster_name",
            "oidc_issuer_url",
            "kubelet_identity_object_id",
            "registry_login_server",
            "key_vault_secrets_provider_client_id",
        ):
            value = getattr(cluster, attr)
            if value is not None:
                pulumi.export(attr, value)

    if fresh:
        return run_program(program, stack="dev"), seen
    key = ("test_aks_cluster.run", type(aks).__name__, aks.model_dump_json(), version)
    return shared_run(key, lambda: run_program(program, stack="dev")), seen


@functools.cache
def default() -> Recording:
    return run(settings())[0]


def cluster_inputs(rec: Recording) -> dict[str, Any]:
    [cluster] = rec.of_type(CLUSTER)
    return cluster.inputs


def changed_keys(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


def added(rec: Recording) -> list[tuple[str, str]]:
    before = {(r.type, r.name) for r in default().resources}
    return sorted((r.type, r.name) for r in rec.resources if (r.type, r.name) not in before)


def kubeconfig_of(rec: Recording) -> dict[str, Any]:
    return yaml.safe_load(rec.outputs["kubeconfig"].value)


# -- defaults ------------------------------------------------------------------------------------


def test_default_declares_the_component_and_its_children():
    rec = default()
    [component] = rec.of_type("hybrid-kube:aks:AksCluster")
    assert component.name == "aks"
    assert sorted((r.type, r.name) for r in rec.children(component)) == [
        ("azure-native:containerservice:ManagedCluster", "aks-cluster"),
        ("azure-native:resources:ResourceGroup", "aks-rg"),
        ("pulumi:providers:kubernetes", "aks-provider"),
    ]
    assert len(rec.resources) == 4  # nothing outside the component


def test_default_cluster_is_secure_and_cheap():
    inputs = cluster_inputs(default())
    assert inputs["resourceGroupName"] == "hybrid-kube-dev"
    assert inputs["resourceName"] == "hybrid-kube-dev"
    assert inputs["dnsPrefix"] == "hybrid-kube-dev"
    assert inputs["location"] == "westeurope"
    assert inputs["kubernetesVersion"] == "1.34"
    assert inputs["sku"] == {"name": "Base", "tier": "Free"}
    assert inputs["identity"] == {"type": "SystemAssigned"}
    assert inputs["enableRBAC"] is True
    assert inputs["disableLocalAccounts"] is False
    assert inputs["oidcIssuerProfile"] == {"enabled": True}
    assert inputs["securityProfile"] == {"workloadIdentity": {"enabled": True}}
    assert inputs["autoUpgradeProfile"] == {
        "upgradeChannel": "patch",
        "nodeOSUpgradeChannel": "NodeImage",
    }
    assert inputs["networkProfile"] == {
        "networkPlugin": "azure",
        "networkPluginMode": "overlay",
        "networkDataplane": "cilium",
        "networkPolicy": "cilium",
        "podCidr": "10.244.0.0/16",
        "serviceCidr": "10.0.0.0/16",
        "dnsServiceIP": "10.0.0.10",
        "loadBalancerSku": "standard",
        "outboundType": "loadBalancer",
    }
    # Optional features stay off, and no add-on at all: in particular no kube-dashboard.
    for key in ("aadProfile", "apiServerAccessProfile", "addonProfiles"):
        assert key not in inputs
    assert inputs["tags"] == {"project": "hybrid-kube", "stack": "dev", "managed-by": "pulumi"}


def test_default_system_pool_is_one_vmss_node():
    [pool] = cluster_inputs(default())["agentPoolProfiles"]
    assert pool == {
        "name": "system",
        "mode": "System",
        "type": "VirtualMachineScaleSets",
        "osType": "Linux",
        "osSKU": "Ubuntu",
        "vmSize": "Standard_D2as_v5",
        "count": 1.0,
        "enableAutoScaling": False,
        "maxPods": 110.0,
        "osDiskType": "Managed",
        "osDiskSizeGB": 64.0,
        "enableEncryptionAtHost": False,
        "enableNodePublicIP": False,
        "tags": {"project": "hybrid-kube", "stack": "dev", "managed-by": "pulumi"},
    }
    # No orchestratorVersion: the pool takes the control plane's version when created, and no
    # update can send a pool version ARM would refuse next to a cluster version change.


def test_resource_options_protect_names_and_the_autoscaler():
    rec = default()
    cluster = rec.named("aks-cluster")
    rg = rec.named("aks-rg")
    assert rg.inputs == {
        "resourceGroupName": "hybrid-kube-dev",
        "location": "westeurope",
        "tags": {"project": "hybrid-kube", "stack": "dev", "managed-by": "pulumi"},
    }
    # Explicit names: a replacement must delete first, Azure will not hold two of a name.
    assert cluster.delete_before_replace and rg.delete_before_replace
    # Fixed count: Pulumi owns it. The version is sent on create only (upgrades.py).
    # Versions are never sent after creation; refreshed ones go back unchanged (upgrades.py).
    assert cluster.ignore_changes == (
        "kubernetesVersion",
        "agentPoolProfiles[0].orchestratorVersion",
    )
    assert cluster.protect and not rg.protect
    assert cluster.replace_on_changes == tuple(
        f"agentPoolProfiles[0].{key}"
        for key in (
            "name",
            "vmSize",
            "osDiskType",
            "osDiskSizeGB",
            "maxPods",
            "availabilityZones",
            "enableEncryptionAtHost",
            "vnetSubnetID",
        )
    )
    assert rg.urn in cluster.dependencies


def test_protection_can_be_turned_off():
    rec, _ = run(settings(protectCluster=False))
    assert rec.named("aks-cluster").protect is False
    assert changed_keys(cluster_inputs(default()), cluster_inputs(rec)) == set()


def test_contract_attributes():
    _, seen = run(settings(), fresh=True)
    cluster = seen["cluster"]
    assert isinstance(cluster, Cluster)
    assert isinstance(cluster.provider, k8s.Provider)
    assert cluster.capabilities == AKS_CAPABILITIES
    assert (
        AKS_CAPABILITIES.load_balancer,
        AKS_CAPABILITIES.default_storage_class,
        AKS_CAPABILITIES.metrics_server,
    ) == (True, True, True)
    # Azure CNI powered by Cilium with Cilium network policy, always (networkProfile above).
    assert AKS_CAPABILITIES.network_policy == "enforced"
    assert cluster_inputs(default())["networkProfile"]["networkPolicy"] == "cilium"


def test_outputs_of_what_azure_computes():
    rec = default()
    outputs = {k: v.value for k, v in rec.outputs.items()}
    assert outputs["resource_group_name"] == "hybrid-kube-dev"
    assert outputs["cluster_name"] == "hybrid-kube-dev"
    assert outputs["oidc_issuer_url"].startswith(PLACEHOLDER_PREFIX)
    assert "kubelet identity object id" in outputs["kubelet_identity_object_id"]
    assert "registry_login_server" not in outputs
    assert "key_vault_secrets_provider_client_id" not in outputs


# -- kubeconfig and provider ---------------------------------------------------------------------


def test_kubeconfig_is_the_decoded_admin_credential_and_secret():
    rec = default()
    output = rec.outputs["kubeconfig"]
    assert output.secret and output.known
    config = yaml.safe_load(output.value)  # decoded text, not base64
    [user] = config["users"]
    assert user["name"].startswith("clusterAdmin_")  # admin credentials: local accounts are on
    assert "client key of hybrid-kube-dev" in user["user"]["client-key-data"]


def test_provider_takes_the_kubeconfig_as_a_secret_and_waits_for_the_cluster():
    rec = default()
    provider = rec.named("aks-provider")
    assert provider.inputs["kubeconfig"] == rec.outputs["kubeconfig"].value
    assert provider.secret_inputs == {"kubeconfig"}
    assert "deleteUnreachable" not in provider.inputs
    assert rec.named("aks-cluster").urn in provider.dependencies
    assert provider.parent == rec.named("aks").urn


def identifier(rec: Recording) -> str:
    return rec.named("aks-provider").inputs["clusterIdentifier"]


def test_the_cluster_identifier_names_the_cluster_and_is_plain():
    rec = default()
    value = identifier(rec)
    assert value.startswith("aks:westeurope/hybrid-kube-dev/hybrid-kube-dev/hybrid-kube-dev#")
    assert "clusterIdentifier" not in rec.named("aks-provider").secret_inputs


# Edits AKS applies to the same cluster: the provider, and every object, must stay.
IN_PLACE = [
    {"tier": "Standard"},
    {"authorizedIpRanges": ["203.0.113.7"]},
    {"tags": {"owner": "alice"}},
    {"entra": {"adminGroupObjectIds": [GROUP]}},
    {"keyVaultSecretsProvider": {}},
    {"containerRegistry": {"name": "hybridkube01"}},
    {"upgradeChannel": "none"},
    {"protectCluster": False},
    {"systemPool": {"minCount": 1, "maxCount": 3}},
    {"systemPool": {"count": 2, "nodeLabels": {"a": "b"}, "osSku": "AzureLinux"}},
    {"pools": [{"name": "apps", "vmSize": "Standard_D4as_v5"}]},
]
# Edits that replace the cluster (an empty, new API server): the provider must be replaced.
REPLACING = [
    {"location": "northeurope"},
    {"resourceGroupName": "rg-lab"},
    {"clusterName": "lab"},
    {"dnsPrefix": "lab"},
    {"network": {"podCidr": "192.168.0.0/16"}},
    {"network": {"serviceCidr": "10.96.0.0/16", "dnsServiceIp": "10.96.0.10"}},
    {"network": {"vnet": {}}},
    {"systemPool": {"name": "sys"}},
    {"systemPool": {"vmSize": "Standard_D4as_v5"}},
    {"systemPool": {"osDiskSizeGb": 128}},
    {"systemPool": {"osDiskType": "Ephemeral"}},
    {"systemPool": {"maxPods": 60}},
    {"systemPool": {"availabilityZones": [1, 2, 3]}},
    {"systemPool": {"encryptionAtHost": True}},
]


@pytest.mark.parametrize("change", IN_PLACE, ids=[next(iter(c)) for c in IN_PLACE])
def test_an_in_place_edit_keeps_the_cluster_identifier(change):
    assert identifier(run(settings(**change))[0]) == identifier(default())


def test_a_kubernetes_version_change_keeps_the_cluster_identifier():
    assert identifier(run(settings(), version="1.35")[0]) == identifier(default())


# Edits of the stack's own VNet that Azure makes in place, on the VNet: the pools' subnet id
# (`<clusterName>-vnet/subnets/nodes`) stays, so the cluster and every object stay.
VNET = {"addressSpace": "10.224.0.0/12", "nodeSubnet": "10.224.0.0/16"}
VNET_IN_PLACE = [
    {"addressSpace": "10.224.0.0/13"},
    {"nodeSubnet": "10.224.0.0/17"},
    {"addressSpace": "10.232.0.0/13", "nodeSubnet": "10.232.0.0/16"},
]


@pytest.mark.parametrize("change", VNET_IN_PLACE, ids=[str(c) for c in VNET_IN_PLACE])
def test_a_vnet_range_edit_keeps_the_cluster_identifier(change):
    base, _ = run(settings(network={"vnet": VNET}))
    rec, _ = run(settings(network={"vnet": {**VNET, **change}}))
    assert rec.named("aks-vnet").inputs != base.named("aks-vnet").inputs  # the VNet changes
    assert cluster_inputs(rec) == cluster_inputs(base)  # the cluster does not
    assert identifier(rec) == identifier(base)


@pytest.mark.parametrize("change", REPLACING, ids=[str(c) for c in REPLACING])
def test_an_edit_that_replaces_the_cluster_changes_the_identifier(change):
    assert identifier(run(settings(**change))[0]) != identifier(default())


def test_the_replacing_edits_are_exactly_the_replace_forcing_inputs():
    """Each REPLACING edit changes a path the engine replaces the cluster on (the provider's
    force-new inputs or the component's replaceOnChanges); no IN_PLACE edit touches one."""
    from transitions import ARM_FORCE_NEW, _get

    base = default().named("aks-cluster")
    paths = (*ARM_FORCE_NEW[CLUSTER], *base.replace_on_changes)

    def forcing(rec: Recording) -> set[str]:
        cluster = rec.named("aks-cluster")
        return {p for p in paths if _get(cluster.inputs, p) != _get(base.inputs, p)}

    for change in REPLACING:
        assert forcing(run(settings(**change))[0]), change
    for change in IN_PLACE:
        assert not forcing(run(settings(**change))[0]), change


def test_a_cluster_behind_the_stack_gets_the_upgrade_commands(monkeypatch):
    from components.aks import stand_ins

    real = stand_ins.managed_cluster

    def running_1_34(args):
        return {**real(args), "currentKubernetesVersion": "1.34.9"}

    monkeypatch.setattr(stand_ins, "managed_cluster", running_1_34)
    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda msg, *a, **k: warnings.append(msg))
    run(settings(), version="1.35")
    [warning] = warnings
    assert "kubernetesVersion is 1.35 but AKS cluster hybrid-kube-dev runs 1.34.9" in warning
    assert "az aks upgrade --resource-group hybrid-kube-dev --name hybrid-kube-dev" in warning
    warnings.clear()
    run(settings(), version="1.34")
    assert warnings == []


@pytest.mark.parametrize("option", ["default", "entra"])
def test_no_credential_in_any_plain_input_or_output(option):
    aks = settings() if option == "default" else settings(entra={"adminGroupObjectIds": [GROUP]})
    rec, _ = run(aks)
    kubeconfig = rec.outputs["kubeconfig"].value
    marker = "server-id" if option == "entra" else "client key of"
    assert marker in kubeconfig
    for resource in rec.resources:
        for key, value in resource.inputs.items():
            if key in resource.secret_inputs:
                continue
            text = json.dumps(value)
            assert "client key of" not in text and "token of" not in text, (resource.name, key)
            assert "kubelogin" not in text, (resource.name, key)
    for name, output in rec.outputs.items():
        if not output.secret:
            assert "client key of" not in str(output.value) and "kubelogin" not in str(
                output.value
            ), name


# -- each option changes exactly what it should --------------------------------------------------


def test_authorized_ip_ranges_only_restrict_the_api_server():
    rec, _ = run(settings(authorizedIpRanges=["203.0.113.7", "198.51.100.0/24"]))
    inputs = cluster_inputs(rec)
    assert changed_keys(cluster_inputs(default()), inputs) == {"apiServerAccessProfile"}
    assert inputs["apiServerAccessProfile"] == {
        "authorizedIPRanges": ["198.51.100.0/24", "203.0.113.7/32"]  # in address order
    }
    assert added(rec) == []


def test_authorized_ip_ranges_are_sent_as_a_set_in_address_order():
    """Like the zones: the order (or a repeat) in the stack file is not a change of the cluster."""
    written = ["203.0.113.7", "10.1.0.0/16", "198.51.100.0/24", "203.0.113.7/32", "10.1.0.0/24"]
    rec, _ = run(settings(authorizedIpRanges=written))
    sent = cluster_inputs(rec)["apiServerAccessProfile"]["authorizedIPRanges"]
    assert sent == ["10.1.0.0/16", "10.1.0.0/24", "198.51.100.0/24", "203.0.113.7/32"]
    rec, _ = run(settings(authorizedIpRanges=list(reversed(written))))
    assert cluster_inputs(rec)["apiServerAccessProfile"]["authorizedIPRanges"] == sent


def test_entra_disables_local_accounts_and_uses_kubelogin_with_the_azure_cli():
    rec, _ = run(settings(entra={"adminGroupObjectIds": [GROUP]}))
    inputs = cluster_inputs(rec)
    assert changed_keys(cluster_inputs(default()), inputs) == {"aadProfile", "disableLocalAccounts"}
    assert inputs["aadProfile"] == {
        "managed": True,
        "enableAzureRBAC": True,
        "adminGroupObjectIDs": [GROUP],
    }
    assert inputs["disableLocalAccounts"] is True
    assert added(rec) == []
    # User credentials (admin ones fail without local accounts), non-interactive login.
    [user] = kubeconfig_of(rec)["users"]
    assert user["name"].startswith("clusterUser_")
    exec_ = user["user"]["exec"]
    assert exec_["command"] == "kubelogin"
    assert exec_["args"][:3] == ["get-token", "--login", "azurecli"]
    assert exec_["args"][3] == "--server-id" and "server application id" in exec_["args"][4]
    assert "devicecode" not in exec_["args"] and "--client-id" not in exec_["args"]
    assert rec.outputs["kubeconfig"].secret


def test_entra_without_azure_rbac():
    rec, _ = run(settings(entra={"adminGroupObjectIds": [GROUP], "azureRbac": False}))
    assert cluster_inputs(rec)["aadProfile"]["enableAzureRBAC"] is False


def test_key_vault_secrets_provider_adds_only_the_addon_with_rotation():
    rec, _ = run(settings(keyVaultSecretsProvider={"rotationPollInterval": "5m"}))
    inputs = cluster_inputs(rec)
    assert changed_keys(cluster_inputs(default()), inputs) == {"addonProfiles"}
    assert inputs["addonProfiles"] == {
        "azureKeyvaultSecretsProvider": {
            "enabled": True,
            "config": {"enableSecretRotation": "true", "rotationPollInterval": "5m"},
        }
    }
    assert added(rec) == []
    assert "client id of add-on azureKeyvaultSecretsProvider" in (
        rec.outputs["key_vault_secrets_provider_client_id"].value
    )


def test_container_registry_adds_a_registry_and_acr_pull_for_the_kubelet():
    rec, _ = run(settings(containerRegistry={"name": "hybridkube01"}))
    assert changed_keys(cluster_inputs(default()), cluster_inputs(rec)) == set()
    assert added(rec) == [
        ("azure-native:authorization:RoleAssignment", "aks-acr-pull"),
        ("azure-native:containerregistry:Registry", "aks-registry"),
    ]
    registry = rec.named("aks-registry")
    assert (
        registry.inputs
        | {
            "resourceGroupName": "hybrid-kube-dev",
            "registryName": "hybridkube01",
            "location": "westeurope",
            "sku": {"name": "Basic"},
            "adminUserEnabled": False,  # no shared password: pulls go through the kubelet identity
            "anonymousPullEnabled": False,  # the SDK's default, asserted all the same
            "tags": {"project": "hybrid-kube", "stack": "dev", "managed-by": "pulumi"},
        }
        == registry.inputs
    )
    role = rec.named("aks-acr-pull")
    assert role.inputs["scope"] == "aks-registry-id"  # the registry's id, not the group's
    assert role.inputs["roleDefinitionId"].endswith(
        f"/providers/Microsoft.Authorization/roleDefinitions/{ACR_PULL}"
    )
    assert role.inputs["roleDefinitionId"].startswith("/subscriptions/")
    assert "kubelet identity object id" in role.inputs["principalId"]
    assert role.inputs["principalType"] == "ServicePrincipal"
    assert {registry.urn, rec.named("aks-cluster").urn} <= role.dependencies
    # Apps start only once the nodes may pull.
    assert role.urn in rec.named("aks-provider").dependencies
    assert "login server of aks-registry" in rec.outputs["registry_login_server"].value


def test_own_vnet_puts_every_pool_in_its_subnet_and_grants_network_contributor():
    rec, _ = run(
        settings(
            network={"vnet": {"addressSpace": "10.224.0.0/12", "nodeSubnet": "10.224.0.0/16"}},
            pools=[{"name": "apps"}],
        )
    )
    before, after = cluster_inputs(default()), cluster_inputs(rec)
    assert changed_keys(before, after) == {"agentPoolProfiles"}
    assert changed_keys(before["agentPoolProfiles"][0], after["agentPoolProfiles"][0]) == {
        "vnetSubnetID"
    }
    subnet_id = "aks-vnet-id/subnets/nodes"
    assert after["agentPoolProfiles"][0]["vnetSubnetID"] == subnet_id
    assert rec.named("aks-pool-apps").inputs["vnetSubnetID"] == subnet_id
    vnet = rec.named("aks-vnet")
    assert vnet.inputs["addressSpace"] == {"addressPrefixes": ["10.224.0.0/12"]}
    [subnet] = vnet.inputs["subnets"]
    assert (subnet["name"], subnet["addressPrefix"]) == ("nodes", "10.224.0.0/16")
    assert vnet.inputs["virtualNetworkName"] == "hybrid-kube-dev-vnet"
    role = rec.named("aks-subnet-network-contributor")
    assert role.inputs["scope"] == subnet_id
    assert role.inputs["roleDefinitionId"].endswith(NETWORK_CONTRIBUTOR)
    assert "principal id of aks-cluster" in role.inputs["principalId"]


@pytest.mark.parametrize(
    ("change", "key", "value"),
    [
        ({"tier": "Standard"}, "sku", {"name": "Base", "tier": "Standard"}),
        (
            {"upgradeChannel": "none"},
            "autoUpgradeProfile",
            {"upgradeChannel": "none", "nodeOSUpgradeChannel": "NodeImage"},
        ),
        (
            {"nodeOsUpgradeChannel": "SecurityPatch"},
            "autoUpgradeProfile",
            {"upgradeChannel": "patch", "nodeOSUpgradeChannel": "SecurityPatch"},
        ),
        ({"dnsPrefix": "mylab"}, "dnsPrefix", "mylab"),
    ],
)
def test_scalar_options_change_one_property(change, key, value):
    rec, _ = run(settings(**change))
    inputs = cluster_inputs(rec)
    assert changed_keys(cluster_inputs(default()), inputs) == {key}
    assert inputs[key] == value


def test_cluster_and_group_names_and_the_derived_dns_prefix():
    rec, _ = run(settings(clusterName="lab_cluster", resourceGroupName="rg-lab"))
    inputs = cluster_inputs(rec)
    assert changed_keys(cluster_inputs(default()), inputs) == {
        "resourceName",
        "dnsPrefix",
        "resourceGroupName",
    }
    assert (inputs["resourceName"], inputs["dnsPrefix"], inputs["resourceGroupName"]) == (
        "lab_cluster",
        "lab-cluster",
        "rg-lab",  # '_' is fine in a name, not in a DNS prefix
    )
    assert rec.named("aks-rg").inputs["resourceGroupName"] == "rg-lab"


def test_network_cidrs_reach_the_network_profile():
    net = {"podCidr": "192.168.0.0/16", "serviceCidr": "10.96.0.0/16", "dnsServiceIp": "10.96.0.10"}
    rec, _ = run(settings(network=net))
    profile = cluster_inputs(rec)["networkProfile"]
    assert (profile["podCidr"], profile["serviceCidr"], profile["dnsServiceIP"]) == (
        "192.168.0.0/16",
        "10.96.0.0/16",
        "10.96.0.10",
    )
    assert changed_keys(cluster_inputs(default()), cluster_inputs(rec)) == {"networkProfile"}


def test_tags_reach_every_taggable_resource():
    rec, _ = run(
        settings(
            tags={"owner": "alice", "stack": "mine"},
            pools=[{"name": "apps"}],
            containerRegistry={"name": "hybridkube01"},
            network={"vnet": {}},
        )
    )
    expected = {"project": "hybrid-kube", "stack": "mine", "managed-by": "pulumi", "owner": "alice"}
    taggable = [r for r in rec.resources if r.type.startswith("azure-native:") and r.type != ROLE]
    assert len(taggable) == 5
    for resource in taggable:
        assert resource.inputs["tags"] == expected, resource.name
    assert cluster_inputs(rec)["agentPoolProfiles"][0]["tags"] == expected


def test_system_pool_autoscaler_owns_the_count():
    rec, _ = run(settings(systemPool={"minCount": 1, "maxCount": 3, "vmSize": "Standard_D2as_v5"}))
    cluster = rec.named("aks-cluster")
    assert cluster.ignore_changes == (
        "kubernetesVersion",
        "agentPoolProfiles[0].orchestratorVersion",
        "agentPoolProfiles[0].count",
    )
    pool = cluster.inputs["agentPoolProfiles"][0]
    assert (pool["enableAutoScaling"], pool["minCount"], pool["maxCount"], pool["count"]) == (
        True,
        1.0,
        3.0,
        1.0,
    )
    assert pool["vmSize"] == "Standard_D2as_v5"


def test_user_pools_are_separate_agent_pools():
    aks = settings(
        pools=[
            {
                "name": "apps",
                "minCount": 0,
                "maxCount": 3,
                "vmSize": "Standard_D2as_v5",
                "nodeLabels": {"tier": "apps"},
                "nodeTaints": ["dedicated=apps:NoSchedule"],
                "availabilityZones": [1, 2],
                "osSku": "AzureLinux",
                "encryptionAtHost": True,
            },
            {"name": "batch", "count": 2, "maxPods": 50, "osDiskType": "Ephemeral"},
        ]
    )
    rec, _ = run(aks)
    assert changed_keys(cluster_inputs(default()), cluster_inputs(rec)) == set()
    assert added(rec) == [(AGENT_POOL, "aks-pool-apps"), (AGENT_POOL, "aks-pool-batch")]
    apps, batch = rec.named("aks-pool-apps"), rec.named("aks-pool-batch")
    assert apps.inputs["mode"] == "User" and apps.inputs["type"] == "VirtualMachineScaleSets"
    assert apps.inputs["resourceName"] == "hybrid-kube-dev"
    assert apps.inputs["resourceGroupName"] == "hybrid-kube-dev"
    # The AKS name carries the suffix of the immutable fields; the URN keeps the stable name.
    assert apps.inputs["agentPoolName"] == aks.pools[0].arm_name
    assert batch.inputs["agentPoolName"] == aks.pools[1].arm_name
    assert (
        apps.inputs["agentPoolName"].startswith("apps") and len(apps.inputs["agentPoolName"]) == 8
    )
    assert (
        apps.inputs["enableAutoScaling"],
        apps.inputs["minCount"],
        apps.inputs["maxCount"],
        apps.inputs["count"],
    ) == (True, 0.0, 3.0, 0.0)
    assert apps.inputs["nodeLabels"] == {"tier": "apps"}
    assert apps.inputs["nodeTaints"] == ["dedicated=apps:NoSchedule"]
    assert apps.inputs["availabilityZones"] == ["1", "2"]
    assert apps.inputs["osSKU"] == "AzureLinux"
    assert apps.inputs["enableEncryptionAtHost"] is True
    assert "orchestratorVersion" not in apps.inputs  # takes the control plane's on create
    assert apps.ignore_changes == ("count",)  # the autoscaler owns it
    assert (batch.inputs["count"], batch.inputs["enableAutoScaling"]) == (2.0, False)
    assert "minCount" not in batch.inputs and "maxCount" not in batch.inputs
    assert (batch.inputs["maxPods"], batch.inputs["osDiskType"]) == (50.0, "Ephemeral")
    assert batch.ignore_changes == ()
    cluster, provider = rec.named("aks-cluster"), rec.named("aks-provider")
    for pool in (apps, batch):
        # A roll creates the new AKS pool (new name) before the old one goes.
        assert not pool.delete_before_replace
        assert pool.replace_on_changes == (
            "agentPoolName",
            "vmSize",
            "osDiskType",
            "osDiskSizeGB",
            "maxPods",
            "availabilityZones",
            "enableEncryptionAtHost",
        )
        assert cluster.urn in pool.dependencies
        assert pool.urn in provider.dependencies  # apps wait for every pool


def test_patch_version_is_passed_through_and_warns_with_the_patch_channel(monkeypatch):
    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda msg, *a, **k: warnings.append(msg))
    rec, _ = run(settings(), version="1.34.2")
    assert cluster_inputs(rec)["kubernetesVersion"] == "1.34.2"
    assert "orchestratorVersion" not in cluster_inputs(rec)["agentPoolProfiles"][0]
    assert len(warnings) == 1 and "write the minor (1.34)" in warnings[0]
    warnings.clear()
    run(settings(upgradeChannel="stable"), version="1.34.2")
    assert len(warnings) == 1 and "'stable' lets AKS move to newer patches" in warnings[0]
    warnings.clear()
    run(settings(upgradeChannel="none"), version="1.34.2")
    run(settings(), version="1.34")
    assert warnings == []


# -- kubeconfig helpers --------------------------------------------------------------------------

DEVICE_CODE_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://c.hcp.example.invalid:443"}
contexts:
- name: c
  context: {cluster: c, user: u}
current-context: c
users:
- name: u
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: kubelogin
      args: [get-token, --environment, AzurePublicCloud, --server-id, SERVER,
             --client-id, CLIENT, --tenant-id, TENANT, --login, devicecode]
- name: other
  user: {token: untouched}
"""


def test_use_azure_cli_login_rewrites_only_kubelogin_users():
    config = yaml.safe_load(use_azure_cli_login(DEVICE_CODE_KUBECONFIG))
    users = {u["name"]: u["user"] for u in config["users"]}
    assert users["u"]["exec"]["args"] == [
        "get-token",
        "--login",
        "azurecli",
        "--server-id",
        "SERVER",
    ]
    assert users["u"]["exec"]["command"] == "kubelogin"
    assert users["other"] == {"token": "untouched"}
    assert config["clusters"] == yaml.safe_load(DEVICE_CODE_KUBECONFIG)["clusters"]


def test_use_azure_cli_login_refuses_what_it_cannot_convert():
    broken = DEVICE_CODE_KUBECONFIG.replace("--server-id, SERVER,", "")
    with pytest.raises(ValueError, match="has no --server-id"):
        use_azure_cli_login(broken)
    with pytest.raises(ValueError, match="not a YAML mapping"):
        use_azure_cli_login("just text")


def test_decode_takes_the_first_kubeconfig():
    encoded = base64.b64encode(DEVICE_CODE_KUBECONFIG.encode()).decode()
    assert decode([{"name": "clusterUser", "value": encoded}], azure_cli=False) == (
        DEVICE_CODE_KUBECONFIG
    )
    assert "azurecli" in decode([{"name": "clusterUser", "value": encoded}], azure_cli=True)
    with pytest.raises(ValueError, match="no kubeconfig"):
        decode([], azure_cli=False)
