"""Phase 5: in-place upgrades when `kubernetesVersion` goes up (one minor, or a patch).

Each step is a command whose stdin holds the target version, so it runs on creation (a no-op: the
host already has that version) and again whenever the version changes; the scripts decide from
what is installed whether there is anything to do and refuse downgrades and skipped minors.

- control planes, one after another in join order (the bootstrap host first, `kubeadm upgrade
  apply`; the others by name, `kubeadm upgrade node`), then drain, the new minor's pause image
  pinned in containerd (restarting containerd only if the pin changed), kubelet and kubectl,
  uncordon (upgrade-control-plane.sh);
- then every worker: drain (on the bootstrap control plane), upgrade (on the worker, the same
  pause pin and packages), uncordon (on the bootstrap control plane). The worker chains are
  declared in parallel so that the bring-up critical path does not grow with the worker count;
  "one worker at a time" is enforced on the cluster by a lock the drain step takes and the
  uncordon step releases (see lib.sh).

The pause pin lives here rather than in prepare (which also re-runs when the version changes, but
on every host at once): a containerd restart leaves running containers alone (its unit has
`KillMode=process`), yet new pods cannot start while it is down, so it happens where the node is
drained or cordoned, one node at a time.
"""

from __future__ import annotations

from collections.abc import Mapping

from pulumi_command import remote

from .. import versions
from .commands import host_command
from .context import Context


def upgrade_steps(ctx: Context, nodes: Mapping[str, remote.Command]) -> list[remote.Command]:
    steps: list[remote.Command] = []
    bootstrap = ctx.bootstrap
    sandbox = versions.sandbox_image(ctx.version)
    previous: remote.Command | None = None
    for host in [bootstrap, *ctx.settings.joining_control_planes]:
        previous = host_command(
            ctx.resource_name(host, "upgrade"),
            connection=ctx.connection(host),
            script="upgrade-control-plane.sh",
            variables={
                "NODE_NAME": host.name,
                "K8S_VERSION": ctx.version,
                "BOOTSTRAP_HOST": bootstrap.name,
                "SANDBOX_IMAGE": sandbox,
            },
            parent=ctx.parent,
            depends_on=[nodes[host.name], *([previous] if previous else [])],
        )
        steps.append(previous)
    control_planes_done = previous
    assert control_planes_done is not None  # settings require a control plane
    for host in ctx.settings.workers:
        variables = {"NODE_NAME": host.name, "K8S_VERSION": ctx.version}
        drain = host_command(
            ctx.resource_name(host, "upgrade-drain"),
            connection=ctx.connection(bootstrap),
            script="upgrade-drain.sh",
            variables=variables,
            parent=ctx.parent,
            depends_on=[control_planes_done, nodes[host.name]],
        )
        upgrade = host_command(
            ctx.resource_name(host, "upgrade"),
            connection=ctx.connection(host),
            script="upgrade-node.sh",
            variables={**variables, "SANDBOX_IMAGE": sandbox},
            parent=ctx.parent,
            depends_on=[drain],
        )
        uncordon = host_command(
            ctx.resource_name(host, "upgrade-uncordon"),
            connection=ctx.connection(bootstrap),
            script="upgrade-uncordon.sh",
            variables=variables,
            parent=ctx.parent,
            depends_on=[upgrade],
        )
        steps.extend([drain, upgrade, uncordon])
    return steps
