"""Phase 2, the bootstrap control plane: `kubeadm init` from the generated v1beta4 documents.

Before init the script places the program's CA (so join discovery hashes are known up front), the
Secrets encryption configuration, the audit policy and, when the endpoint is a kube-vip VIP, the
kube-vip static pod (with super-admin.conf until init is done). It records, on the host, that this
host initialised the cluster and which pod network it was given; later runs refuse a host that
joined instead, and a changed `kubeadm.cni`. Deleting this step resets the host.

The bootstrap host never changes for a cluster, and two protected resources make Pulumi refuse,
in the preview, any edit that would change it:

- the init step itself (`protect=True`): removing the bootstrap host, renaming it, or choosing
  another one (`bootstrapHost`, or a new control plane whose name sorts first) deletes it;
- the bootstrap identity, a `RandomId` whose `keepers` are the host's name and address: changing
  the address is only an update of the init step (it would run `kubeadm init` on whatever answers
  at the new address), but it replaces the identity.

`pulumi destroy` needs both unprotected first (docs/onprem.md, "Tearing down").
"""

from __future__ import annotations

import pulumi
import pulumi_random as random
from pulumi_command import remote

from ..settings.kubeadm import HostSettings
from . import documents
from .commands import host_command
from .context import Context


def init_config(ctx: Context) -> pulumi.Output[str]:
    """The `kubeadm init --config` YAML (secret: it holds the token and certificate key)."""
    creds = ctx.credentials
    text = pulumi.Output.all(creds.token, creds.certificate_key).apply(
        lambda values: documents.to_yaml(
            documents.init_documents(
                ctx.settings, ctx.version, token=values[0], certificate_key=values[1]
            )
        )
    )
    return pulumi.Output.secret(text)


def bootstrap_identity(ctx: Context, host: HostSettings) -> random.RandomId:
    """Which host the cluster was initialised on, as state Pulumi refuses to replace.

    `replace_on_changes` states what pulumi-random does anyway (any change of `keepers` replaces
    a RandomId), so the intent is visible in the program and in the recorded registration."""
    return random.RandomId(
        f"{ctx.name}-bootstrap-identity",
        byte_length=8,
        keepers={"host": host.name, "address": host.address},
        opts=pulumi.ResourceOptions(
            parent=ctx.parent, protect=True, replace_on_changes=["keepers"]
        ),
    )


def init_bootstrap_control_plane(
    ctx: Context, prepared: remote.Command, identity: random.RandomId
) -> remote.Command:
    host = ctx.bootstrap
    creds = ctx.credentials
    return host_command(
        ctx.resource_name(host, "init"),
        connection=ctx.connection(host),
        script="init.sh",
        variables={
            "NODE_NAME": host.name,
            "NODE_IP": host.address,
            "K8S_VERSION": ctx.version,
            "CNI": ctx.settings.cni,
            "KUBEADM_CONFIG": init_config(ctx),
            "CA_CERT": creds.ca_cert_pem,
            "CA_KEY": creds.ca_key_pem,
            "ENCRYPTION_CONFIG": ctx.encryption_config,
            "AUDIT_POLICY": ctx.audit_policy,
            "KUBE_VIP_MANIFEST": ctx.kube_vip_manifest(kubeconfig=documents.SUPER_ADMIN_KUBECONFIG),
        },
        parent=ctx.parent,
        depends_on=[prepared, identity],
        destructive=True,
        carries_secrets=True,
        protect=True,
    )
