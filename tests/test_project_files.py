"""The project's own YAML (Pulumi.yaml, every stack file) is well-formed: yamllint catches what
`yaml.safe_load` silently accepts, such as a key written twice (the second wins)."""

from __future__ import annotations

import pytest
from yamllint import linter
from yamllint.config import YamlLintConfig

from components.stackfile import PROJECT_ROOT

# Errors only: syntax, duplicate keys, bad indentation. Long comment lines are fine here.
CONFIG = YamlLintConfig(
    "extends: default\n"
    "rules:\n"
    "  line-length: disable\n"
    "  document-start: disable\n"
    "  comments: {min-spaces-from-content: 1}\n"
    "  comments-indentation: disable\n"
    "  truthy: {check-keys: false}\n"
    "  braces: {max-spaces-inside: 1}\n"
)
FILES = [PROJECT_ROOT / "Pulumi.yaml", *sorted((PROJECT_ROOT / "stacks").glob("*.yaml"))]


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_yaml_file_is_clean(path):
    problems = list(linter.run(path.read_text(encoding="utf-8"), CONFIG, str(path)))
    assert [f"{p.line}:{p.column} {p.message}" for p in problems] == []


def test_a_duplicate_key_is_caught():
    problems = list(linter.run("a: 1\na: 2\n", CONFIG))
    assert any("duplication of key" in p.message for p in problems)


def test_every_operation_refreshes_first():
    # The plan must be made against the live state (docs/day2.md): with `ignoreChanges` on the AKS
    # version, a stale stored version would otherwise be sent back to a cluster already upgraded.
    import yaml

    project = yaml.safe_load((PROJECT_ROOT / "Pulumi.yaml").read_text(encoding="utf-8"))
    assert project["options"]["refresh"] == "always"
