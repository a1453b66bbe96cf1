"""How `hybrid-kube preflight` prints findings: by subject for people, JSON for tools."""

from __future__ import annotations

import json
import sys
from collections import Counter
from typing import TextIO

from . import Finding

MARKS = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}


def text_lines(findings: list[Finding]) -> list[str]:
    """One block per subject (in first-seen order), one line per check, then the totals."""
    subjects: dict[str, list[Finding]] = {}
    for finding in findings:
        subjects.setdefault(finding.subject, []).append(finding)
    lines: list[str] = []
    for subject, items in subjects.items():
        lines.append(f"{subject}:")
        for item in items:
            lines.append(f"  {MARKS[item.status]}  {item.check}: {item.reason}")
            if item.fix and item.status != "ok":
                lines.append(f"        fix: {item.fix}")
    lines.append(summary(findings))
    return lines


def summary(findings: list[Finding]) -> str:
    counts = Counter(f.status for f in findings)
    verdict = "FAILED" if counts["fail"] else "passed"
    return f"preflight {verdict}: {counts['ok']} ok, {counts['warn']} warn, {counts['fail']} fail"


def as_json(findings: list[Finding]) -> str:
    return json.dumps([f.as_dict() for f in findings], indent=2)


def stderr_progress(stream: TextIO | None = None):
    """A `Progress` that writes each line to stderr as it comes (flushed: it is live)."""
    out = stream or sys.stderr

    def progress(line: str) -> None:
        print(f"  .. {line}", file=out, flush=True)

    return progress
