"""`hybrid-kube preflight <stack>`: read-only checks of the environment a stack deploys to.

Each target has a module of its own (`kubeadm.py`: the hosts over SSH; `aks.py`: the Azure
subscription through the user's `az` session; `existing.py`: the cluster behind the kubeconfig).
Each exposes `run(settings, stack, progress) -> list[Finding]` (`stack`: the stack's name; the
kubeadm module takes the whole `StackConfig`, whose encrypted keys it needs); `cli.py` prints
them (or `--json`) and exits 1 on any `fail`. Nothing here changes anything anywhere: every
remote or `az` command a check may run is listed in its module and tested to be read-only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Literal

Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class Finding:
    """One check's verdict about one subject (a host, the subscription, the cluster)."""

    check: str
    """Stable id, e.g. `ssh.sudo`, `aks.location.allowed`, `existing.api.version`."""
    subject: str
    """What was checked: a host name, `subscription`, a pool name, `cluster`."""
    status: Status
    reason: str
    """What was found, in one sentence."""
    fix: str = ""
    """What to do about a `warn` or `fail` (empty for `ok`)."""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


Progress = Callable[[str], None]
"""Receives one short line per check as it starts or finishes (a live progress line)."""


def failed(findings: list[Finding]) -> bool:
    return any(f.status == "fail" for f in findings)
