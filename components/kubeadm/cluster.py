"""`KubeadmCluster`: a kubeadm cluster on the user's own SSH-reachable hosts.

The bring-up pipeline, in one place (each phase is a small module beside this one):

1. credentials  token, certificate key, Secrets key (pulumi-random), cluster CA (pulumi-tls)
2. prepare      every host, in parallel, waiting for nothing
3. init         the bootstrap control plane (`bootstrapHost`, else the control plane whose name
                sorts first), after its own preparation; protected (bootstrap.py)
4. join         extra control planes one at a time by name, workers in parallel
                (admit -> join -> node); the control planes' node steps form a chain too
5. upgrade      per-host upgrade steps, no-ops unless kubernetesVersion went up
6. kubeconfig   issued from the CA, usable once init is done; the provider built from it
7. network      the CNI as a Helm release through that provider; `ready` lists it, so the
                platform layer (and through it the apps) installs nothing before pods get IPs

Nothing depends on the order of `hosts`: every list is taken by name.

Removing a host from the stack deletes its steps in reverse: on the bootstrap control plane,
drain, (a control plane) leave etcd, delete the Node; then `kubeadm reset` and cleanup on the
host. Control planes leave one at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import pulumi
from pydantic import SecretStr

from ..cluster import Capabilities, kubernetes_provider, secret_kubeconfig
from ..settings import KubeadmSettings
from ..settings.releases import DEFAULT_VERSION
from . import documents
from .bootstrap import bootstrap_identity, init_bootstrap_control_plane
from .cni import install_cni
from .connection import Connections, private_key
from .context import Context
from .credentials import create_credentials
from .join import join_host, register_node
from .kubeconfig import admin_kubeconfig
from .prepare import prepare_host
from .upgrade import upgrade_steps

# Bare metal: no cloud load balancer, no StorageClass, no metrics API. The platform layer adds
# MetalLB (from `load_balancer_addresses`), a local-path provisioner and metrics-server; kubelets
# request serving certificates (`serverTLSBootstrap`), which the platform's approver signs off.
# Whether NetworkPolicy is enforced depends on the CNI: see `kubeadm_capabilities`.
KUBEADM_CAPABILITIES = Capabilities(
    load_balancer=False,
    default_storage_class=False,
    metrics_server=False,
    kubelet_serving_certificates="bootstrap",
)

NETWORK_POLICY: dict[str, Literal["enforced", "not-enforced"]] = {
    "calico": "enforced",
    "cilium": "enforced",
    "flannel": "not-enforced",  # flannel only routes pod traffic; it has no policy engine
}
"""`kubeadm.cni` -> `Capabilities.network_policy` (REFERENCES.md, "NetworkPolicy enforcement")."""


def kubeadm_capabilities(cni: str) -> Capabilities:
    """What a kubeadm cluster with this pod network guarantees (a pure function of the
    settings: the component, and through it `check` and `render`, report the same)."""
    return replace(KUBEADM_CAPABILITIES, network_policy=NETWORK_POLICY[cni])


@dataclass(frozen=True)
class KubeadmClusterArgs:
    kubeadm: KubeadmSettings
    kubernetes_version: str = DEFAULT_VERSION
    """"1.35" (newest patch of that minor at install time) or "1.35.2" (exact)."""
    ssh_private_key: SecretStr | None = None
    """`hybrid-kube:sshPrivateKey`; else `kubeadm.ssh.privateKeyPath`; else the SSH agent."""


def _after(value: pulumi.Output[str], *resources: pulumi.CustomResource) -> pulumi.Output[str]:
    """`value`, carrying a dependency on `resources` (their ids stay known across updates, so a
    re-run step does not make the kubeconfig unknown in a preview)."""
    return pulumi.Output.all(value, *(r.id for r in resources)).apply(lambda values: values[0])


class KubeadmCluster(pulumi.ComponentResource):
    """See the module docstring. Public attributes are the `Cluster` contract plus what the
    platform layer needs on bare metal."""

    kubeconfig: pulumi.Output[str]
    provider: pulumi.ProviderResource
    capabilities: Capabilities
    load_balancer_addresses: list[str]
    """`kubeadm.loadBalancerAddresses`, for MetalLB's IPAddressPool."""
    api_endpoint: str
    """`https://host:port` every node and the kubeconfig use."""
    network: pulumi.Resource
    """The CNI's Helm release."""
    ready: list[pulumi.Resource]
    """What must exist before add-ons install: the CNI and every node's registration.

    Kubelets run with `serverTLSBootstrap`: node.sh approves each node's first serving
    certificate when it joins; renewals need the in-cluster approver the platform deploys."""

    def __init__(
        self, name: str, args: KubeadmClusterArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("hybrid-kube:kubeadm:KubeadmCluster", name, None, opts)
        settings = args.kubeadm
        ctx = Context(
            name=name,
            settings=settings,
            version=args.kubernetes_version,
            parent=self,
            connections=Connections(settings.ssh, private_key(settings.ssh, args.ssh_private_key)),
            credentials=create_credentials(name, self),
        )

        prepared = {host.name: prepare_host(ctx, host) for host in settings.hosts}

        bootstrap = ctx.bootstrap
        identity = bootstrap_identity(ctx, bootstrap)
        init = init_bootstrap_control_plane(ctx, prepared[bootstrap.name], identity)

        node = register_node(ctx, bootstrap, init)
        nodes = {bootstrap.name: node}
        joined: pulumi.Resource = init
        for host in settings.joining_control_planes:  # one at a time, by name
            joined = join_host(ctx, host, prepared[host.name], after=joined)
            # Chained: the engine deletes the last joined control plane's node step first, and
            # the next one only after it (one etcd member leaves at a time).
            node = register_node(ctx, host, joined, after=node)
            nodes[host.name] = node
        for host in settings.workers:  # in parallel
            worker_joined = join_host(ctx, host, prepared[host.name], after=init)
            nodes[host.name] = register_node(ctx, host, worker_joined)

        upgrade_steps(ctx, nodes)

        self.api_endpoint = f"https://{documents.endpoint(settings)}"
        admin = admin_kubeconfig(name, self.api_endpoint, ctx.credentials, self)
        self.kubeconfig = secret_kubeconfig(_after(admin, init))
        # The cluster is its CA: the provider is replaced only if the CA (so the cluster) is.
        self.cluster_identifier = ctx.credentials.ca_cert_hash.apply(lambda h: f"kubeadm:{h}")
        self.provider = kubernetes_provider(
            f"{name}-provider",
            self.kubeconfig,
            parent=self,
            cluster_identifier=self.cluster_identifier,
        )
        self.network = install_cni(name, settings, self.provider, self)
        # Add-ons schedule on workers (a lone control plane is tainted): wait for every node
        # to be registered too, not only for the network.
        self.ready = [self.network, *nodes.values()]
        self.capabilities = kubeadm_capabilities(settings.cni)
        self.load_balancer_addresses = list(settings.load_balancer_addresses)
        self.register_outputs({"kubeconfig": self.kubeconfig, "apiEndpoint": self.api_endpoint})
