"""Apps do not know where they run: their Kubernetes objects are identical on every target."""

from __future__ import annotations

import functools

import pytest
from support import run_main

from components.workload import MANAGED_BY

TARGET_STACKS = ("local", "azure-dev", "onprem-lab")

# (kind, namespace, name) of app objects allowed to differ between targets, with the reason.
# The goal is none; an entry here must say why the difference is unavoidable.
ALLOWED_DIFFERENCES: dict[tuple[str, str, str], str] = {}

# App settings differ per stack on purpose (tests/test_app_config.py checks that each stack's own
# values reach its pods); given the same values, every target must declare the same objects.
SAME_APP_CONFIG = {"hybrid-kube:appConfig": {}}


@functools.cache
def app_objects(stack: str) -> dict[tuple[str, str, str], dict]:
    """(kind, namespace, name) -> object, for every object an app declares."""
    objects = {}
    for resource in run_main(stack, overrides=SAME_APP_CONFIG).kubernetes_objects():
        obj = resource.manifest()
        labels = obj.get("metadata", {}).get("labels", {})
        if labels.get("app.kubernetes.io/managed-by") != MANAGED_BY:
            continue
        if "app.kubernetes.io/part-of" not in labels:
            continue  # the platform's namespaces
        key = (obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        objects[key] = obj
    return objects


@pytest.mark.parametrize("stack", TARGET_STACKS[1:])
def test_app_objects_are_identical_across_targets(stack):
    reference = app_objects(TARGET_STACKS[0])
    other = app_objects(stack)
    assert len(reference) >= 25
    assert set(other) == set(reference), "kinds, namespaces or names differ"
    differing = {key for key, obj in reference.items() if other[key] != obj}
    assert differing <= set(ALLOWED_DIFFERENCES), sorted(differing - set(ALLOWED_DIFFERENCES))
