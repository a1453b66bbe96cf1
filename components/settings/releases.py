"""Kubernetes minors this project deploys, and when upstream stops supporting each.

Source: the release pages on kubernetes.io (https://kubernetes.io/releases/1.NN/, "End Of Life
Date"), read 2026-12-01. After that date a minor gets no security fixes; AKS drops it from its
standard support around the same time (its own calendar: `az aks get-versions -l <location>`).

The range starts at 1.31 because the kubeadm target writes `kubeadm.k8s.io/v1beta4` documents
(new in 1.31) and ends at the newest minor whose add-ons, kubeadm documents and schemas this
project has checked. End-of-life minors stay accepted, with a warning, so that a cluster running
one can still be managed and upgraded one minor at a time; new stacks should use the default.
"""

from __future__ import annotations

import datetime

END_OF_LIFE: dict[str, datetime.date] = {
    "1.31": datetime.date(2025, 10, 28),
    "1.32": datetime.date(2026, 2, 28),
    "1.33": datetime.date(2026, 6, 28),
    "1.34": datetime.date(2026, 10, 27),
    "1.35": datetime.date(2027, 2, 28),
    "1.36": datetime.date(2027, 6, 28),
}

SUPPORTED_MINORS = tuple(END_OF_LIFE)

DEFAULT_VERSION = "1.35"
"""Supported upstream until 2027-02-28 and offered by AKS (standard support) as of 2026-12."""


def end_of_life_warning(minor: str, today: datetime.date | None = None) -> str | None:
    """A sentence for `check` and the program when `minor` is past its end of life, else None."""
    eol = END_OF_LIFE.get(minor)
    today = today or datetime.date.today()
    if eol is None or today <= eol:
        return None
    newer = [m for m in SUPPORTED_MINORS if END_OF_LIFE[m] >= today]
    advice = (
        f"raise kubernetesVersion one minor at a time (next: {_next(minor)}) to a supported "
        f"minor ({', '.join(newer)})"
        if newer
        else "this project has no newer minor checked yet"
    )
    return (
        f"Kubernetes {minor} reached its upstream end of life on {eol.isoformat()} and gets no "
        f"more security fixes (kubernetes.io/releases); {advice}"
    )


def _next(minor: str) -> str:
    major, number = minor.split(".")
    return f"{major}.{int(number) + 1}"
