"""`AksCluster`: an Azure Kubernetes Service cluster and everything it needs, in one component.

Children (all `parent=self`, named `<name>-<role>`): resource group; optionally a VNet with the
node subnet and Network Contributor for the cluster identity on it; the ManagedCluster with the
system pool inline; one AgentPool per further pool; optionally an ACR with AcrPull for the
kubelet identity; the Kubernetes provider built from the cluster's kubeconfig.

Day 2 (docs/aks.md): the cluster is protected, and an edit that would replace it (including the
system pool's immutable fields, marked replace-on-change) is refused at preview. A further pool
whose immutable fields change is rolled: a new AKS pool under a new suffixed name first, the old
one drained and deleted at the end. Kubernetes versions are sent only on create (`upgrades.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from pulumi_azure_native import authorization, containerregistry, network, resources
from pulumi_azure_native import containerservice as cs

from ..cluster import Capabilities, kubernetes_provider
from ..settings.aks import AksSettings
from . import profiles, upgrades
from .kubeconfig import fetch_kubeconfig

# AKS serves LoadBalancer Services (Azure Standard LB), marks `managed-csi` as the default
# StorageClass and runs metrics-server itself: the platform layer adds none of them. The cluster
# is always Azure CNI powered by Cilium with `networkPolicy: cilium` (profiles.py), and "Cilium
# enforces network policies" (learn.microsoft.com/azure/aks/azure-cni-powered-by-cilium).
AKS_CAPABILITIES = Capabilities(
    load_balancer=True,
    default_storage_class=True,
    metrics_server=True,
    kubelet_serving_certificates="signed",
    network_policy="enforced",
)


def _keyword_args(args: cs.ManagedClusterArgs | cs.AgentPoolArgs) -> dict:
    """Typed Args as constructor keywords.

    The SDK cannot take these Args objects whole: their `resource_name` (the cluster's name)
    collides with the constructor's own first parameter, so the keyword is `resource_name_`.
    """
    values = dict(vars(args))
    values["resource_name_"] = values.pop("resource_name")
    return values


def _cluster_options(settings: AksSettings) -> pulumi.ResourceOptions:
    """Protection, and the changes Pulumi must not send to the cluster.

    - `protect`: preview fails rather than replace or delete the cluster (opt-out:
      `aks.protectCluster`).
    - replace-on-change for the inline system pool's immutable fields: without it, such an edit
      plans an update that AKS refuses minutes into `pulumi up`; with it, a replacement that
      `protect` refuses at once.
    - ignore `kubernetesVersion` and the system pool's `orchestratorVersion` (see `upgrades.py`):
      the program never sends either after creation, and once a refresh has read the versions an
      `az aks upgrade` (or an auto-upgrade channel) set, the update sends those back unchanged
      instead of dropping or lowering them; when autoscaled, the system pool's count, which the
      autoscaler owns.
    """
    ignore = ["kubernetesVersion", "agentPoolProfiles[0].orchestratorVersion"]
    if settings.system_pool.autoscaling:
        ignore.append("agentPoolProfiles[0].count")
    return pulumi.ResourceOptions(
        protect=settings.protect_cluster,
        replace_on_changes=list(profiles.SYSTEM_POOL_REPLACE_ON),
        ignore_changes=ignore,
    )


@dataclass(frozen=True)
class AksClusterArgs:
    aks: AksSettings
    kubernetes_version: str
    """A minor ("1.34": AKS picks the newest patch) or a patch ("1.34.2")."""


class AksCluster(pulumi.ComponentResource):
    """An AKS cluster reached through a secret kubeconfig; see the module docstring."""

    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider
    capabilities: Capabilities

    def __init__(self, name: str, args: AksClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("hybrid-kube:aks:AksCluster", name, None, opts)
        settings, version = args.aks, args.kubernetes_version
        project, stack = pulumi.get_project(), pulumi.get_stack()
        base_name = profiles.default_name(project, stack)
        tags = profiles.tags(settings, project, stack)
        self.capabilities = AKS_CAPABILITIES
        # The provider itself waits for the cluster, its pools and role assignments.
        self.ready: list[pulumi.Resource] = []

        pinned = upgrades.pinned_patch_warning(version, settings.upgrade_channel)
        if pinned is not None:
            pulumi.log.warn(pinned, resource=self)

        # Names are explicit (predictable for `az aks get-credentials`), so a replacement must
        # delete the old resource first: Azure will not hold two of the same name.
        delete_first = pulumi.ResourceOptions(parent=self, delete_before_replace=True)
        rg_plain = settings.resource_group_name or base_name
        self.resource_group = resources.ResourceGroup(
            f"{name}-rg",
            resources.ResourceGroupArgs(
                resource_group_name=rg_plain,
                location=settings.location,
                tags=tags,
            ),
            opts=delete_first,
        )
        rg_name = self.resource_group.name
        cluster_name = settings.cluster_name or base_name
        dns_prefix = settings.dns_prefix or profiles.dns_prefix_for(cluster_name)

        self.vnet: network.VirtualNetwork | None = None
        subnet_id = self._network(name, settings, rg_name, cluster_name, tags)

        self.cluster = cs.ManagedCluster(
            f"{name}-cluster",
            **_keyword_args(
                profiles.managed_cluster_args(
                    settings,
                    version,
                    resource_group_name=rg_name,
                    cluster_name=cluster_name,
                    dns_prefix=dns_prefix,
                    subnet_id=subnet_id,
                    cluster_tags=tags,
                )
            ),
            opts=pulumi.ResourceOptions.merge(delete_first, _cluster_options(settings)),
        )
        self.cluster_name = self.cluster.name
        self.resource_group_name = rg_name
        self.oidc_issuer_url = self.cluster.oidc_issuer_profile.apply(
            lambda p: p.issuer_url if p else None
        )
        self.kubelet_identity_object_id = self.cluster.identity_profile.apply(
            lambda p: p["kubeletidentity"].object_id
        )
        self.principal_id = self.cluster.identity.apply(lambda i: i.principal_id if i else None)

        after_cluster: list[pulumi.Resource] = [self.cluster]
        if subnet_id is not None:
            # The cluster identity manages load balancers and IPs in the subnet it does not own.
            after_cluster.append(
                self._role_assignment(
                    f"{name}-subnet-network-contributor",
                    principal_id=self.principal_id,
                    role=profiles.NETWORK_CONTRIBUTOR_ROLE,
                    scope=subnet_id,
                )
            )

        # Named after the stable pool name: an immutable field change replaces the AgentPool
        # under the same URN, create-before-delete, since its AKS name (suffix) changes too.
        self.pools = [
            cs.AgentPool(
                f"{name}-pool-{pool.name}",
                **_keyword_args(
                    profiles.agent_pool_args(pool, rg_name, self.cluster.name, subnet_id, tags)
                ),
                opts=pulumi.ResourceOptions(
                    parent=self,
                    replace_on_changes=list(profiles.AGENT_POOL_REPLACE_ON),
                    ignore_changes=["count"] if pool.autoscaling else [],
                ),
            )
            for pool in settings.pools
        ]
        after_cluster.extend(self.pools)

        self.registry: containerregistry.Registry | None = None
        self.registry_login_server: pulumi.Output[str] | None = None
        if settings.container_registry is not None:
            after_cluster.append(self._registry(name, settings, rg_name, tags))

        self.key_vault_secrets_provider_client_id: pulumi.Output[str] | None = None
        if settings.key_vault_secrets_provider is not None:
            self.key_vault_secrets_provider_client_id = self.cluster.addon_profiles.apply(
                lambda addons: addons[profiles.KEYVAULT_ADDON].identity.client_id
            )

        self.kubeconfig = fetch_kubeconfig(
            rg_name, self.cluster.name, entra=settings.entra is not None, parent=self
        )
        self.cluster.current_kubernetes_version.apply(
            lambda running: self._warn_version_drift(
                settings, version, running, rg_plain, cluster_name
            )
        )
        # A new identity exactly when the cluster would be replaced; a kubeconfig change
        # (rotated certificates) is no new cluster. Apps start once every pool exists and the
        # nodes may pull from the registry.
        self.cluster_identifier = profiles.cluster_identity(
            settings, resource_group_name=rg_plain, cluster_name=cluster_name, dns_prefix=dns_prefix
        )
        self.provider = kubernetes_provider(
            f"{name}-provider",
            self.kubeconfig,
            parent=self,
            cluster_identifier=self.cluster_identifier,
            depends_on=after_cluster,
        )
        outputs = {
            "kubeconfig": self.kubeconfig,
            "resourceGroupName": self.resource_group_name,
            "clusterName": self.cluster_name,
            "oidcIssuerUrl": self.oidc_issuer_url,
            "kubeletIdentityObjectId": self.kubelet_identity_object_id,
        }
        if self.registry_login_server is not None:
            outputs["registryLoginServer"] = self.registry_login_server
        if self.key_vault_secrets_provider_client_id is not None:
            outputs["keyVaultSecretsProviderClientId"] = self.key_vault_secrets_provider_client_id
        self.register_outputs(outputs)

    def _warn_version_drift(
        self, settings: AksSettings, wanted: str, running: str | None, rg: str, cluster: str
    ) -> None:
        warning = upgrades.drift_warning(
            wanted=wanted,
            running=running,
            channel=settings.upgrade_channel,
            resource_group=rg,
            cluster=cluster,
        )
        if warning is not None:
            pulumi.log.warn(warning, resource=self)

    # -- optional parts ------------------------------------------------------------------------

    def _network(
        self,
        name: str,
        settings: AksSettings,
        rg_name: pulumi.Output[str],
        cluster_name: str,
        tags: dict[str, str],
    ) -> pulumi.Output[str] | None:
        """The VNet and node subnet, when the stack brings its own; else AKS makes one."""
        vnet_settings = settings.network.vnet
        if vnet_settings is None:
            return None
        # The subnet is declared inside the VNet, so no update of the VNet can drop it.
        self.vnet = network.VirtualNetwork(
            f"{name}-vnet",
            network.VirtualNetworkInitArgs(
                resource_group_name=rg_name,
                virtual_network_name=f"{cluster_name}-vnet",
                location=settings.location,
                address_space=network.AddressSpaceArgs(
                    address_prefixes=[vnet_settings.address_space]
                ),
                subnets=[
                    network.SubnetArgs(
                        name=profiles.NODE_SUBNET, address_prefix=vnet_settings.node_subnet
                    )
                ],
                tags=tags,
            ),
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )
        # An Azure subnet id is always its VNet's id plus /subnets/<name>.
        return self.vnet.id.apply(lambda vnet_id: f"{vnet_id}/subnets/{profiles.NODE_SUBNET}")

    def _registry(
        self, name: str, settings: AksSettings, rg_name: pulumi.Output[str], tags: dict[str, str]
    ) -> authorization.RoleAssignment:
        """An ACR without the admin user; the kubelet identity pulls with AcrPull on it."""
        assert settings.container_registry is not None
        self.registry = containerregistry.Registry(
            f"{name}-registry",
            containerregistry.RegistryArgs(
                resource_group_name=rg_name,
                registry_name=settings.container_registry.name,
                location=settings.location,
                sku=containerregistry.SkuArgs(name=settings.container_registry.sku),
                admin_user_enabled=False,
                tags=tags,
            ),
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )
        self.registry_login_server = self.registry.login_server
        return self._role_assignment(
            f"{name}-acr-pull",
            principal_id=self.kubelet_identity_object_id,
            role=profiles.ACR_PULL_ROLE,
            scope=self.registry.id,
        )

    def _role_assignment(
        self,
        resource_name: str,
        *,
        principal_id: pulumi.Input[str],
        role: str,
        scope: pulumi.Input[str],
    ) -> authorization.RoleAssignment:
        subscription = authorization.get_client_config_output(
            opts=pulumi.InvokeOutputOptions(parent=self)
        ).subscription_id
        return authorization.RoleAssignment(
            resource_name,
            authorization.RoleAssignmentArgs(
                principal_id=principal_id,
                # A managed identity: skips the Entra lookup that fails right after creation.
                principal_type="ServicePrincipal",
                role_definition_id=subscription.apply(
                    lambda sub: (
                        f"/subscriptions/{sub}/providers/Microsoft.Authorization/"
                        f"roleDefinitions/{role}"
                    )
                ),
                scope=scope,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
