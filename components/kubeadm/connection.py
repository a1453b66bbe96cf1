"""How the program reaches each host: `pulumi_command.remote.ConnectionArgs` from the settings.

The private key comes from `hybrid-kube:sshPrivateKey` (a secret config value), else from
`kubeadm.ssh.privateKeyPath` (read once), else the user's SSH agent (`SSH_AUTH_SOCK`). Either key
is wrapped in `Output.secret`, which makes every command's `connection` input secret in the state.
Host keys are verified only when pinned (`hosts[].hostKey`, `ssh.bastion.hostKey`): pulumi-command
accepts any host key otherwise, so `Settings.warnings` names every unpinned host, and
`hybrid-kube preflight <stack> --pin-host-keys` records the keys (components/preflight/kubeadm.py
reaches the hosts with the same user, port, bastion and key as here).
"""

from __future__ import annotations

from pathlib import Path

import pulumi
from pulumi_command import remote
from pydantic import SecretStr

from ..settings.kubeadm import HostSettings, SshSettings


def private_key(ssh: SshSettings, config_key: SecretStr | None) -> pulumi.Output[str] | None:
    """The SSH private key as a secret Output, or None to use the SSH agent."""
    if config_key is not None:
        if ssh.private_key_path is not None:
            pulumi.log.warn(
                "both hybrid-kube:sshPrivateKey and kubeadm.ssh.privateKeyPath are set; "
                "using sshPrivateKey"
            )
        return pulumi.Output.secret(config_key.get_secret_value())
    if ssh.private_key_path is not None:
        text = Path(ssh.private_key_path).expanduser().read_text(encoding="utf-8")
        return pulumi.Output.secret(text)
    return None


class Connections:
    """One `ConnectionArgs` per host name, built once and shared by all of that host's commands."""

    def __init__(self, ssh: SshSettings, key: pulumi.Output[str] | None):
        self._ssh = ssh
        self._key = key
        self._proxy = (
            remote.ProxyConnectionArgs(
                host=ssh.bastion.host,
                port=ssh.bastion.port,
                user=ssh.bastion.user or ssh.user,
                private_key=key,
                host_key=ssh.bastion.host_key,
            )
            if ssh.bastion is not None
            else None
        )
        self._cache: dict[str, remote.ConnectionArgs] = {}

    def __call__(self, host: HostSettings) -> remote.ConnectionArgs:
        connection = self._cache.get(host.name)
        if connection is None:
            connection = remote.ConnectionArgs(
                host=host.address,
                port=self._ssh.port,
                user=self._ssh.user,
                private_key=self._key,
                host_key=host.host_key,
                proxy=self._proxy,
            )
            self._cache[host.name] = connection
        return connection
