"""Helm releases the one way this project installs them: pinned, named, atomic."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from .versions import Chart


def release(
    resource_name: str,
    chart: Chart,
    *,
    name: str,
    namespace: pulumi.Input[str],
    values: dict[str, Any] | None = None,
    opts: pulumi.ResourceOptions | None = None,
) -> k8s.helm.v3.Release:
    """`chart` at its pinned version as Helm release `name` (fixed, so names never drift).

    Atomic: a failed install or upgrade is rolled back instead of leaving half a release.
    """
    return k8s.helm.v3.Release(
        resource_name,
        k8s.helm.v3.ReleaseArgs(
            name=name,
            chart=chart.name,
            version=chart.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repo),
            namespace=namespace,
            # Namespaces are resources of their own (labelled, removed on destroy).
            create_namespace=False,
            values=values or {},
            atomic=True,
            cleanup_on_fail=True,
            timeout=600,
        ),
        opts=opts,
    )
