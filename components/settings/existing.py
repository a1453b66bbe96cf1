"""Settings of the `existing` target: a cluster reached through a kubeconfig file."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field

from .base import ExistingFile, StrictModel


def default_kubeconfig_path() -> Path:
    """What kubectl would read: the first entry of $KUBECONFIG, else ~/.kube/config."""
    env = os.environ.get("KUBECONFIG", "")
    first = next((p for p in env.split(os.pathsep) if p), None)
    return Path(first or "~/.kube/config").expanduser()


class ExistingSettings(StrictModel):
    """`hybrid-kube:existing`: both keys optional, like kubectl's defaults."""

    kubeconfig: ExistingFile | None = None
    context: str | None = None
    cluster_identifier: str | None = Field(
        default=None,
        description="The cluster's stable identity; default: the context's name. Objects are "
        "re-created only when it changes, never because the kubeconfig's content changed.",
    )

    def kubeconfig_path(self) -> Path:
        """The file to read: the configured path, else kubectl's default."""
        return Path(self.kubeconfig).expanduser() if self.kubeconfig else default_kubeconfig_path()
