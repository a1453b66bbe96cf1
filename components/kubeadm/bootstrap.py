"""Phase 2, first control plane: `kubeadm init` from the generated v1beta4 documents.

Before init the script places the program's CA (so join discovery hashes are known up front), the
Secrets encryption configuration, the audit policy and, when the endpoint is a kube-vip VIP, the
kube-vip static pod (with super-admin.conf until init is done). Deleting this step resets the host.
"""

from __future__ import annotations

import pulumi
from pulumi_command import remote

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


def init_first_control_plane(ctx: Context, prepared: remote.Command) -> remote.Command:
    host = ctx.first_control_plane
    creds = ctx.credentials
    return host_command(
        ctx.resource_name(host, "init"),
        connection=ctx.connection(host),
        script="init.sh",
        variables={
            "NODE_NAME": host.name,
            "NODE_IP": host.address,
            "K8S_VERSION": ctx.version,
            "KUBEADM_CONFIG": init_config(ctx),
            "CA_CERT": creds.ca_cert_pem,
            "CA_KEY": creds.ca_key_pem,
            "ENCRYPTION_CONFIG": ctx.encryption_config,
            "AUDIT_POLICY": ctx.audit_policy,
            "KUBE_VIP_MANIFEST": ctx.kube_vip_manifest(kubeconfig=documents.SUPER_ADMIN_KUBECONFIG),
        },
        parent=ctx.parent,
        depends_on=[prepared],
        destructive=True,
        carries_secrets=True,
    )
