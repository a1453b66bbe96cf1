"""The applications: declared once as data, deployed unchanged to whichever cluster a stack picks.

To add an app: write `apps/<name>.py` with a `SPEC = AppSpec(...)` and add it to `_SPECS` below.
"""

from __future__ import annotations

from collections.abc import Mapping

from components.appspec import AppSpec

from . import podinfo, web

_SPECS: tuple[AppSpec, ...] = (web.SPEC, podinfo.SPEC)

CATALOG: Mapping[str, AppSpec] = {spec.name: spec for spec in _SPECS}


def secret_catalog() -> dict[str, frozenset[str]]:
    """App name -> the secret names it reads; what the settings validate `appSecrets` against."""
    return {name: spec.secret_names for name, spec in CATALOG.items()}
