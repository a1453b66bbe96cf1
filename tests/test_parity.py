"""Apps do not know where they run: their Kubernetes objects are identical on every target."""

from __future__ import annotations

import functools

import pytest
from support import run_main

from components.recording import Recording
from components.stackfile import stack_names
from components.workload import MANAGED_BY

TARGET_STACKS = [s for s in ("local", "azure-dev", "onprem-lab") if s in stack_names()]

# Differences allowed between targets in the apps' objects, with the reason. The goal is none.
ALLOWED_DIFFERENCES: dict[str, str] = {}


@functools.cache
def app_objects(stack: str) -> dict[tuple[str, str, str], dict]:
    """(kind, namespace, name) -> object, for every object an app declares."""
    recording: Recording = run_main(stack)
    objects = {}
    for resource in recording.kubernetes_objects():
        obj = resource.manifest()
        labels = obj.get("metadata", {}).get("labels", {})
        if labels.get("app.kubernetes.io/managed-by") != MANAGED_BY:
            continue
        if "app.kubernetes.io/part-of" not in labels:
            continue  # platform namespaces
        key = (obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        objects[key] = obj
    return objects


def test_there_are_targets_to_compare():
    assert len(TARGET_STACKS) >= 2


@pytest.mark.parametrize("stack", TARGET_STACKS[1:])
def test_app_objects_are_identical_across_targets(stack):
    reference = app_objects(TARGET_STACKS[0])
    other = app_objects(stack)
    assert len(reference) >= 25
    assert set(other) == set(reference), "kinds, namespaces or names differ"
    for key, obj in reference.items():
        assert other[key] == obj, f"{key} differs between {TARGET_STACKS[0]} and {stack}"
    assert ALLOWED_DIFFERENCES == {}
