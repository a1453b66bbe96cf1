"""Every row of the day-2 table keeps its promise, and docs/day2.md shows exactly that table."""

from __future__ import annotations

import pytest
from day2 import BEGIN, CASES, DOC, END, Case, table


@pytest.mark.parametrize("case", CASES, ids=[f"{c.stack}: {c.edit}" for c in CASES])
def test_each_edit_does_what_the_table_promises(case: Case):
    p = case.plan()
    assert case.check(p), f"{case.edit}: {case.outcome}\n{p.summary()}"


def test_docs_show_the_generated_table():
    text = DOC.read_text(encoding="utf-8")
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    assert text[start:end].strip() == table().strip(), (
        "docs/day2.md is out of date: run `.venv/bin/python tests/day2.py`"
    )
