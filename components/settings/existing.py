"""Settings of the `existing` target: a cluster reached through a kubeconfig file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field

from .base import ExistingFile, StrictModel

NetworkPolicy = Literal["enforced", "not-enforced", "unknown"]


def default_kubeconfig_path() -> Path:
    """What kubectl would read: the first entry of $KUBECONFIG, else ~/.kube/config."""
    env = os.environ.get("KUBECONFIG", "")
    first = next((p for p in env.split(os.pathsep) if p), None)
    return Path(first or "~/.kube/config").expanduser()


class ExistingCapabilities(StrictModel):
    """`hybrid-kube:existing.capabilities`: what the cluster already has, as the stack declares.

    hybrid-kube cannot see inside a cluster it did not build, so it assumes what kind, minikube
    and Docker Desktop have by default (the defaults here) and the stack says where its cluster
    differs. The platform installs only what is declared missing; changing a value later
    installs or removes that add-on in the next `pulumi up` (stacks/Pulumi.local.yaml lists
    what common clusters have).
    """

    load_balancer: bool = False
    """Services of type LoadBalancer get an address (Docker Desktop: true; kind, minikube: no,
    unless cloud-provider-kind or `minikube tunnel` runs)."""
    default_storage_class: bool = True
    """A StorageClass is marked default (kind, minikube and Docker Desktop all ship one)."""
    metrics_server: bool = False
    """`metrics.k8s.io` is already served (minikube with `minikube addons enable
    metrics-server`): hybrid-kube then installs no second metrics-server."""
    network_policy: NetworkPolicy = "unknown"
    """Whether the pod network enforces NetworkPolicy objects: `enforced` (kind >= v0.24,
    Calico, Cilium), `not-enforced` (minikube's default bridge CNI, Docker Desktop, Flannel),
    or `unknown` (the default: `check`, `render` and `pulumi up` say the apps' policies may
    not hold)."""


class ExistingSettings(StrictModel):
    """`hybrid-kube:existing`: every key optional, like kubectl's defaults."""

    kubeconfig: ExistingFile | None = None
    context: str | None = None
    cluster_identifier: str | None = Field(
        default=None,
        description="The cluster's stable identity; default: the context's name. Objects are "
        "re-created only when it changes, never because the kubeconfig's content changed.",
    )
    capabilities: ExistingCapabilities = ExistingCapabilities()

    def kubeconfig_path(self) -> Path:
        """The file to read: the configured path, else kubectl's default."""
        return Path(self.kubeconfig).expanduser() if self.kubeconfig else default_kubeconfig_path()
