"""Kubernetes versions: the supported range, end-of-life warnings and the default."""

from __future__ import annotations

import datetime
from pathlib import Path

import kubernetes_validate
import pytest

from components.settings import load_settings
from components.settings.releases import (
    DEFAULT_VERSION,
    END_OF_LIFE,
    SUPPORTED_MINORS,
    end_of_life_warning,
)

DAY_OF_WRITING = datetime.date(2026, 12, 1)


def test_the_default_is_supported_upstream_on_the_day_it_was_chosen():
    assert DEFAULT_VERSION in SUPPORTED_MINORS
    assert end_of_life_warning(DEFAULT_VERSION, today=DAY_OF_WRITING) is None
    assert END_OF_LIFE[DEFAULT_VERSION] > DAY_OF_WRITING


def test_end_of_life_minors_warn_with_the_date_and_the_next_step():
    warning = end_of_life_warning("1.34", today=DAY_OF_WRITING)
    assert warning is not None
    assert "2026-10-27" in warning and "next: 1.35" in warning
    assert "1.35, 1.36" in warning
    assert end_of_life_warning("1.34", today=datetime.date(2026, 10, 27)) is None


@pytest.mark.parametrize("minor", SUPPORTED_MINORS)
def test_every_supported_minor_has_bundled_strict_schemas(minor):
    # The tests validate every object against the strict schema of the stack's version.
    schemas = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    assert (schemas / f"v{minor}.0-local-strict").is_dir()


def test_an_end_of_life_version_is_accepted_with_a_warning_and_a_current_one_without():
    old = load_settings(
        {"target": "existing", "kubernetesVersion": "1.31", "existing": {"context": "k"}}, {}
    )
    assert old.kubernetes_version == "1.31"
    assert any("kubernetesVersion" in w and "2025-10-28" in w for w in old.warnings)
    current = load_settings({"target": "existing", "existing": {"context": "kind-kind"}}, {})
    assert current.kubernetes_version == DEFAULT_VERSION
    assert current.warnings == [] or END_OF_LIFE[DEFAULT_VERSION] < datetime.date.today()
