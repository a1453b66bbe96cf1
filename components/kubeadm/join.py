"""Phase 3, every other host: admit (on the bootstrap control plane), join (on the host),
register (on the bootstrap control plane). Removal is the same chain run backwards by the engine.

- admit: refreshes the bootstrap token, and for a control plane re-uploads the certificates under
  the certificate key, right before this host joins, so a host added long after `kubeadm init`
  (token TTL, two-hour certificate expiry) still joins. It has the join's triggers and carries a
  hash of the join's inputs, so it runs again whenever the join does;
- join: `kubeadm join` with a JoinConfiguration whose discovery pins the CA hash computed in
  credentials.py; its delete runs `kubeadm reset` plus cleanup on the host;
- node: waits for the Node, labels workers, approves the kubelet serving certificate; its delete
  drains the node, for a control plane removes its etcd member (from the bootstrap host's etcd,
  refusing when that would cost etcd its quorum), and deletes the Node. Because it depends on the
  join, the engine deletes it first: the member leaves and the Node goes while the host is still
  intact, then the join's delete resets the host.

Extra control planes join one after another, by name (each admit waits for the previous join);
their node steps form the same chain, so the engine, which deletes in reverse dependency order,
removes control planes one at a time, last joined first. Workers join in parallel and wait only
for the init and their own preparation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import pulumi
from pulumi_command import remote

from ..settings.kubeadm import HostSettings
from . import documents
from .commands import host_command, script_stdin
from .context import Context


def _is_control_plane(host: HostSettings) -> bool:
    return host.role == "control-plane"


def join_config(ctx: Context, host: HostSettings) -> pulumi.Output[str]:
    creds = ctx.credentials
    text = pulumi.Output.all(creds.token, creds.ca_cert_hash, creds.certificate_key).apply(
        lambda values: documents.to_yaml(
            [
                documents.join_configuration(
                    ctx.settings,
                    host,
                    token=values[0],
                    ca_cert_hash=values[1],
                    certificate_key=values[2] if _is_control_plane(host) else None,
                )
            ]
        )
    )
    return pulumi.Output.secret(text)


def join_variables(ctx: Context, host: HostSettings) -> dict[str, pulumi.Input[str]]:
    """What join.sh receives (without ADMIT_URN, which names the admit step that depends on it)."""
    control_plane = _is_control_plane(host)
    return {
        "NODE_NAME": host.name,
        "NODE_IP": host.address,
        "ROLE": host.role,
        "JOIN_CONFIG": join_config(ctx, host),
        "ENCRYPTION_CONFIG": ctx.encryption_config if control_plane else "",
        "AUDIT_POLICY": ctx.audit_policy if control_plane else "",
        "KUBE_VIP_MANIFEST": (
            ctx.kube_vip_manifest(kubeconfig=documents.ADMIN_KUBECONFIG) if control_plane else ""
        ),
    }


def join_inputs_digest(variables: Mapping[str, pulumi.Input[str]]) -> pulumi.Output[str]:
    """sha256 of what the join step runs (script and values), computed inside the Output so the
    secrets never leave it. Any change that re-runs the join changes this, and so re-runs admit."""
    return script_stdin("join.sh", variables).apply(
        lambda text: hashlib.sha256(text.encode("utf-8")).hexdigest()
    )


def admit_host(
    ctx: Context,
    host: HostSettings,
    prepared: remote.Command,
    after: pulumi.Resource,
    join_digest: pulumi.Input[str],
) -> remote.Command:
    """Refresh the join credentials on the bootstrap control plane. Same triggers as the join, and
    the join's input hash in its stdin: whenever the join runs again, fresh credentials precede it
    (the token and uploaded certificates live two hours)."""
    creds = ctx.credentials
    config = pulumi.Output.all(creds.token, creds.certificate_key).apply(
        lambda values: documents.to_yaml(
            [
                documents.admit_configuration(
                    ctx.settings, token=values[0], certificate_key=values[1]
                )
            ]
        )
    )
    return host_command(
        ctx.resource_name(host, "admit"),
        connection=ctx.connection(ctx.bootstrap),
        script="admit.sh",
        variables={
            "NODE_NAME": host.name,
            "NODE_IP": host.address,
            "ROLE": host.role,
            "JOIN_INPUTS_SHA256": join_digest,
            "ADMIT_CONFIG": pulumi.Output.secret(config),
        },
        parent=ctx.parent,
        depends_on=[after, prepared],
        carries_secrets=True,
        triggers=[host.address, host.role],
    )


def join_host(
    ctx: Context, host: HostSettings, prepared: remote.Command, after: pulumi.Resource
) -> remote.Command:
    """Admit, then join `host`; returns the join step."""
    variables = join_variables(ctx, host)
    admitted = admit_host(ctx, host, prepared, after, join_inputs_digest(variables))
    return host_command(
        ctx.resource_name(host, "join"),
        connection=ctx.connection(host),
        script="join.sh",
        variables={**variables, "ADMIT_URN": admitted.urn},
        parent=ctx.parent,
        depends_on=[prepared, admitted],
        destructive=True,
        carries_secrets=True,
        # A host that changes address or role is a different machine to kubeadm: reset the old
        # one (delete first) and join again.
        triggers=[host.address, host.role],
    )


def register_node(
    ctx: Context,
    host: HostSettings,
    joined: remote.Command,
    after: remote.Command | None = None,
) -> remote.Command:
    """The node step of `host`, run on the bootstrap control plane. `after`: the previous
    control plane's node step, so control-plane removals (the engine deletes dependents first)
    run one at a time and each sees the etcd membership the previous one left.

    Its triggers are the join's (address, role), taken through the join's id. The value is the
    same; the property dependency is what matters: when the join is replaced delete-before-replace
    (a new address or role), the engine first deletes every dependent whose replace-forcing input
    depends on it (pulumi/pulumi pkg/resource/deploy/step_generator.go,
    calculateDependentReplacements), so this node step is drained, leaves etcd and deletes the Node
    *before* the old host is reset, not after the host has rejoined under the same name."""
    return host_command(
        ctx.resource_name(host, "node"),
        connection=ctx.connection(ctx.bootstrap),
        script="node.sh",
        variables={
            "NODE_NAME": host.name,
            "NODE_IP": host.address,
            "ROLE": host.role,
            "BOOTSTRAP_HOST": ctx.bootstrap.name,
        },
        parent=ctx.parent,
        depends_on=[joined, *([after] if after is not None else [])],
        destructive=True,
        triggers=joined.id.apply(lambda _: [host.address, host.role]),
    )
