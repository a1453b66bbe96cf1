"""Phase 1, every host in parallel: kernel modules and sysctls, swap off, a cgroup v2 check,
containerd 2.x with a written config, kubeadm/kubelet/kubectl for the configured version, held.
Waits for nothing.

Its stdin carries the Kubernetes version and the pause image of that minor, so raising
`kubernetesVersion` re-runs it on every host at once. It is written to be harmless then:
installed packages (containerd 2.x, kubeadm, kubelet) are left alone, and on a host that is
already a node the pause image pinned in containerd's configuration is kept, so containerd is not
restarted everywhere at the same time. The upgrade steps move the pin, one drained node at a time
(upgrade.py)."""

from __future__ import annotations

from pulumi_command import remote

from .. import versions
from ..settings.kubeadm import HostSettings
from .commands import host_command
from .context import Context


def prepare_host(ctx: Context, host: HostSettings) -> remote.Command:
    return host_command(
        ctx.resource_name(host, "prepare"),
        connection=ctx.connection(host),
        script="prepare.sh",
        variables={
            "NODE_NAME": host.name,
            "K8S_VERSION": ctx.version,
            "CONTAINERD_IO_VERSION": versions.CONTAINERD_IO,
            "SANDBOX_IMAGE": versions.sandbox_image(ctx.version),
        },
        parent=ctx.parent,
    )
