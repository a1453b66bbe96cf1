"""An app's data: the namespace that outlives the app, the StatefulSet whose claims outlive it,
and the claim patches that grow its volumes in place.

Everything here answers one day-2 question: what happens to the data when the stack changes.
Removing an app forgets its namespace and claims instead of deleting them; a larger
`Storage.size` expands the existing claims; nothing here ever replaces a StatefulSet
(docs/day2.md, "App data, per target").
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.apps.v1 import (
    StatefulSetPersistentVolumeClaimRetentionPolicyArgs,
    StatefulSetSpecArgs,
)
from pulumi_kubernetes.core.v1 import (
    PersistentVolumeClaimArgs,
    PersistentVolumeClaimSpecArgs,
    PersistentVolumeClaimSpecPatchArgs,
    PodTemplateSpecArgs,
    VolumeResourceRequirementsArgs,
    VolumeResourceRequirementsPatchArgs,
)
from pulumi_kubernetes.meta.v1 import LabelSelectorArgs, ObjectMetaArgs, ObjectMetaPatchArgs

from .appspec import AppSpec, WorkloadSpec


def app_namespace(
    name: str, spec: AppSpec, labels: Mapping[str, str], parent: pulumi.Resource
) -> k8s.core.v1.Namespace | k8s.core.v1.NamespacePatch:
    """The app's namespace, restricted Pod Security Standard enforced.

    An app that keeps data (a workload with storage) gets a NamespacePatch that Pulumi never
    deletes (`retain_on_delete`): removing the app from the stack, or `pulumi destroy`, leaves the
    namespace and the StatefulSet's claims (kept by their Retain policy) in the cluster. A Patch,
    not a Namespace, because adding the app back must adopt that namespace: pulumi-kubernetes
    >= 4.29 creates a Namespace with a client-side create, which fails with AlreadyExists, while a
    Patch is a server-side apply, which creates the namespace or updates the one it finds. The
    alias keeps stacks deployed as a Namespace from planning a delete of it. Deleting the data is
    the user's explicit step: `kubectl delete namespace <app>` (docs/day2.md).
    """
    labels = {
        **labels,
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
    }
    if not spec.keeps_data:
        return k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=ObjectMetaArgs(name=spec.name, labels=labels),
            opts=pulumi.ResourceOptions(parent=parent),
        )
    return k8s.core.v1.NamespacePatch(
        f"{name}-namespace",
        metadata=ObjectMetaPatchArgs(name=spec.name, labels=labels),
        opts=pulumi.ResourceOptions(
            parent=parent,
            retain_on_delete=True,
            aliases=[pulumi.Alias(type_="kubernetes:core/v1:Namespace")],
        ),
    )


# -- volumes --------------------------------------------------------------------------------------

CLAIM_TEMPLATE = "data"
_CLAIM_SIZE_PATH = "spec.volumeClaimTemplates[0].spec.resources.requests.storage"


def stateful_set(
    name: str,
    spec: WorkloadSpec,
    metadata: ObjectMetaArgs,
    selector: dict[str, str],
    labels: dict[str, str],
    template: PodTemplateSpecArgs,
    opts: pulumi.ResourceOptions,
) -> k8s.apps.v1.StatefulSet:
    """A StatefulSet whose claims outlive it, and whose claim size is only set at creation.

    `volumeClaimTemplates` cannot change on a live StatefulSet (pulumi-kubernetes replaces the
    whole StatefulSet when they do), and the claims it already made would keep their size anyway.
    So the size in the template is ignored after creation; `claim_patches` resizes the claims.
    Both retention policies are Retain (the default, made explicit): deleting or scaling down the
    StatefulSet never deletes a claim. Its replica count is the declared one (no autoscaler).
    """
    assert spec.storage is not None
    return k8s.apps.v1.StatefulSet(
        f"{name}-statefulset",
        metadata=metadata,
        spec=StatefulSetSpecArgs(
            replicas=spec.replicas,
            service_name=spec.name,
            selector=LabelSelectorArgs(match_labels=selector),
            template=template,
            volume_claim_templates=[
                PersistentVolumeClaimArgs(
                    metadata=ObjectMetaArgs(name=CLAIM_TEMPLATE, labels=labels),
                    spec=PersistentVolumeClaimSpecArgs(
                        access_modes=["ReadWriteOnce"],
                        resources=VolumeResourceRequirementsArgs(
                            requests={"storage": spec.storage.size}
                        ),
                    ),
                )
            ],
            persistent_volume_claim_retention_policy=(
                StatefulSetPersistentVolumeClaimRetentionPolicyArgs(
                    when_deleted="Retain", when_scaled="Retain"
                )
            ),
            revision_history_limit=5,
        ),
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(ignore_changes=[_CLAIM_SIZE_PATH])
        ),
    )


def claim_name(spec: WorkloadSpec, ordinal: int) -> str:
    """The claim the StatefulSet controller makes for replica `ordinal`: `<template>-<set>-<i>`."""
    return f"{CLAIM_TEMPLATE}-{spec.name}-{ordinal}"


def claim_patches(
    name: str,
    spec: WorkloadSpec,
    namespace: pulumi.Input[str],
    statefulset: k8s.apps.v1.StatefulSet,
    child: pulumi.ResourceOptions,
) -> list[k8s.core.v1.PersistentVolumeClaimPatch]:
    """One server-side apply of the declared size per replica's claim: a larger `Storage.size`
    expands the existing volumes in place.

    Created after the StatefulSet is ready (pulumi-kubernetes waits for its rollout), when its
    claims exist. Its replica count is the declared one (nothing autoscales a workload with
    storage), so every claim it makes has a patch. Access modes are sent too, so the apply is a
    valid claim even if it ever runs first. `patchForce`: the StatefulSet controller co-owns the
    size it first wrote, and taking the field over must not be a conflict. During `pulumi
    preview` (a server-side dry run in pulumi-kubernetes) the API server refuses a smaller size
    ("can not be less than status.capacity") and a larger one on a StorageClass without
    `allowVolumeExpansion` (PersistentVolumeClaimResize admission). `retain_on_delete`: removing
    a patch (scale down, app removed) must neither delete the claim nor hand back its size field.
    """
    assert spec.storage is not None
    return [
        k8s.core.v1.PersistentVolumeClaimPatch(
            f"{name}-{claim_name(spec, ordinal)}",
            metadata=ObjectMetaPatchArgs(
                name=claim_name(spec, ordinal),
                namespace=namespace,
                annotations={"pulumi.com/patchForce": "true"},
            ),
            spec=PersistentVolumeClaimSpecPatchArgs(
                access_modes=["ReadWriteOnce"],
                resources=VolumeResourceRequirementsPatchArgs(
                    requests={"storage": spec.storage.size}
                ),
            ),
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(depends_on=[statefulset], retain_on_delete=True)
            ),
        )
        for ordinal in range(spec.replicas)
    ]
