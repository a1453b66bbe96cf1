"""Phase 1, every host in parallel: kernel modules and sysctls, swap off, containerd 2.x with a
written config, kubeadm/kubelet/kubectl for the configured version, held. Waits for nothing."""

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
            "SANDBOX_IMAGE": versions.SANDBOX_IMAGE,
        },
        parent=ctx.parent,
    )
