"""bench/mutate.py's list stays applicable: each mutation's `old` text occurs exactly once.

The mutation run itself is not part of the default run (it takes minutes); this check is, so a
refactoring that moves code under a mutation fails here rather than at the next mutation run.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest

from components.stackfile import PROJECT_ROOT


def _mutations():
    spec = importlib.util.spec_from_file_location("mutate", PROJECT_ROOT / "bench" / "mutate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("mutate", module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module.MUTATIONS


MUTATIONS = _mutations()


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.id for m in MUTATIONS])
def test_each_mutation_still_applies_exactly_once(mutation):
    text = (PROJECT_ROOT / mutation.file).read_text(encoding="utf-8")
    assert text.count(mutation.old) == 1
    assert mutation.new != mutation.old
