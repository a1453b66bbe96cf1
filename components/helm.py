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
    skip_crds: bool = False,
    opts: pulumi.ResourceOptions | None = None,
) -> k8s.helm.v3.Release:
    """`chart` at its pinned version as Helm release `name` (fixed, so names never drift).

    Atomic: a failed install or upgrade is rolled back instead of leaving half a release.
    `skip_crds` leaves out the chart's `crds/` folder, which Helm installs once and never
    upgrades: for charts whose custom resources this project does not use. (A change of it is
    an in-place update; CRDs already installed stay, since Helm never deletes them.)
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
            # Sent only when set, so the other releases' inputs (and plans) stay as they were.
            skip_crds=True if skip_crds else None,
            atomic=True,
            cleanup_on_fail=True,
            timeout=600,
        ),
        opts=opts,
    )
