"""Settings of the platform layer: which add-ons hybrid-kube may install where they are missing."""

from __future__ import annotations

import re

from pydantic import field_validator

from .base import StrictModel

_DOMAIN = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)*[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
)


class PlatformSettings(StrictModel):
    """`hybrid-kube:platform`: every add-on is on by default and installed only where missing."""

    ingress: bool = True
    """Traefik as the ingress controller, the same on every target."""
    load_balancer: bool = True
    """MetalLB where the cluster cannot answer Services of type LoadBalancer (bare metal)."""
    metrics_server: bool = True
    """metrics-server where the cluster lacks it (HorizontalPodAutoscalers need it)."""
    storage: bool = True
    """A default StorageClass on local disks where the cluster has none."""
    ingress_domain: str = "localtest.me"
    """Apps are served at `<app>.<ingressDomain>`; `*.localtest.me` resolves to 127.0.0.1."""

    @field_validator("ingress_domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        if not _DOMAIN.match(value):
            raise ValueError(
                f"{value!r} is not a DNS domain such as apps.example.com (lowercase, no scheme)"
            )
        return value
