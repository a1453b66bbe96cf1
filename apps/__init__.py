"""The applications: declared once as data, deployed unchanged to whichever cluster a stack picks.

To add an app: write `apps/<name>.py` with a `SPEC = AppSpec(...)` and add its module to the list
below; two modules declaring one app name are refused.
Its plain settings (`config=`) are set per stack in `hybrid-kube:appConfig.<app>`, its image
version per stack in `hybrid-kube:appImages.<app>.<workload>` (components/settings/apps.py).
"""

from __future__ import annotations

from collections.abc import Mapping

from components.appspec import AppSpec
from components.settings.base import unique_app_names

from . import podinfo, web

CATALOG: Mapping[str, AppSpec] = unique_app_names([web, podinfo])


def settings_catalog() -> dict[str, AppSpec]:
    """App name -> spec: what the settings validate `appSecrets`, `appConfig` and `appImages`
    against (`load_settings` reads each app's secret names, settings and workload images)."""
    return dict(CATALOG)
