"""The docs stay true to the project.

- README.ko.md shows only commands that README.md (or a docs/ page it links to) shows, byte for
  byte, and both start with the same two set-up commands;
- every relative link in README.md, README.ko.md and docs/*.md reaches a file that exists, and
  every `#anchor` into a Markdown file names one of its headings;
- the Azure for Students preset at the end of stacks/Pulumi.azure-dev.yaml, uncommented the way
  docs/aks.md tells a user to, is a valid stack whose system pool matches the shipped one, and the
  vCPU figures docs/aks.md gives for it and for the shipped file are the ones preflight computes;
- every object docs/desired-state.md names in a kubectl command (namespace, kind/name, label) is
  one the `local` stack declares.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from components.preflight.aks import max_nodes, surge_nodes
from components.settings import NAMESPACE, load_settings
from components.settings.aks import vm_size_cpus
from components.stackfile import load_stack

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
README_KO = ROOT / "README.ko.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
SETUP = (
    "python3 -m venv .venv && .venv/bin/pip install -e '.[test]'",
    ".venv/bin/pytest",
)
SHELL_LANGUAGES = {"bash", "sh", "shell", "console", "zsh"}
AZURE_STACK = ROOT / "stacks" / "Pulumi.azure-dev.yaml"
PRESET_BEGIN = "  # BEGIN preset azure-for-students"
PRESET_END = "  # END preset azure-for-students"


# -- Markdown helpers ------------------------------------------------------------------------------

_FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)")


def code_blocks(text: str) -> Iterator[tuple[str, list[str]]]:
    """(language, lines) of every fenced block, its lines dedented by the fence's indentation."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence, language = opening.groups()
        body: list[str] = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            line = lines[i]
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            i += 1
        yield language.lower(), body
        i += 1


def _strip_comment(line: str) -> str:
    """The line without a trailing shell comment (a `#` after whitespace, outside quotes)."""
    quote = ""
    for index, char in enumerate(line):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index].rstrip()
    return line.rstrip()


def shell_commands(text: str) -> list[str]:
    """Every command in the shell code blocks, in order: comments dropped, `\\` lines joined,
    and in `console` blocks only the `$ ` lines (the rest is output)."""
    commands: list[str] = []
    for language, lines in code_blocks(text):
        if language not in SHELL_LANGUAGES:
            continue
        pending = ""
        for raw in lines:
            line = raw.strip()
            if language == "console":
                if pending:
                    pass
                elif line.startswith("$ "):
                    line = line[2:]
                else:
                    continue
            line = _strip_comment(line)
            if not line and not pending:
                continue
            if line.endswith("\\"):
                pending += line[:-1].rstrip() + " "
                continue
            commands.append(pending + line)
            pending = ""
    return commands


def without_code(text: str) -> str:
    """The text with fenced blocks and inline code spans blanked (links there are not links)."""
    lines = without_code_blocks(text).splitlines()
    return "\n".join(re.sub(r"`[^`]*`", "", line) for line in lines)


_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def relative_links(text: str) -> list[str]:
    """The targets of inline links that stay inside the repository (no scheme)."""
    return [
        target
        for target in _LINK.findall(without_code(text))
        if not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target)
    ]


def heading_anchors(text: str) -> set[str]:
    """The anchors GitHub gives a file's headings: lowercase, punctuation dropped, spaces to
    hyphens, a repeated anchor numbered `-1`, `-2`, ..."""
    anchors: set[str] = set()
    for line in without_code_blocks(text).splitlines():
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", match.group(1))
        slug = re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")
        candidate, n = slug, 0
        while candidate in anchors:
            n += 1
            candidate = f"{slug}-{n}"
        anchors.add(candidate)
    return anchors


def without_code_blocks(text: str) -> str:
    """The text without its fenced blocks (inline code kept: headings may hold some)."""
    kept: list[str] = []
    inside = ""
    for line in text.splitlines():
        opening = _FENCE.match(line)
        if inside:
            if line.strip().startswith(inside):
                inside = ""
            continue
        if opening:
            inside = opening.group(2)
            continue
        kept.append(line)
    return "\n".join(kept)


def broken_links(path: Path) -> list[str]:
    """Each relative link of `path` whose file, or whose heading anchor, does not exist."""
    problems = []
    for target in relative_links(path.read_text(encoding="utf-8")):
        file_part, _, anchor = target.partition("#")
        destination = (path.parent / file_part).resolve() if file_part else path
        if not destination.exists():
            problems.append(f"{target}: no file {destination.relative_to(ROOT)}")
            continue
        is_markdown = destination.suffix == ".md"
        if anchor and is_markdown and anchor not in heading_anchors(destination.read_text()):
            problems.append(f"{target}: no heading with anchor #{anchor}")
    return problems


def linked_docs(path: Path) -> list[Path]:
    """The docs/ pages `path` links to."""
    pages = []
    for target in relative_links(path.read_text(encoding="utf-8")):
        file_part = target.partition("#")[0]
        if file_part.startswith("docs/") and file_part.endswith(".md"):
            page = ROOT / file_part
            if page.exists() and page not in pages:
                pages.append(page)
    return pages


# -- the helpers catch what they are for -----------------------------------------------------------


def test_commands_are_read_the_way_a_reader_types_them():
    text = """
```bash
source .venv/bin/activate
pulumi up -s local                   # a comment
pulumi config set --path 'x.color' '#34577c'   # a colour, not a comment
az policy assignment list --disable-scope-strict-match \\
  --query "[?a]" --output json
```

```console
$ .venv/bin/hybrid-kube render onprem-lab
checking stacks/Pulumi.onprem-lab.yaml ...
$ .venv/bin/hybrid-kube preflight local     # the kubeconfig
                                            # and more comment
```

```yaml
not: a command
```
"""
    assert shell_commands(text) == [
        "source .venv/bin/activate",
        "pulumi up -s local",
        "pulumi config set --path 'x.color' '#34577c'",
        'az policy assignment list --disable-scope-strict-match --query "[?a]" --output json',
        ".venv/bin/hybrid-kube render onprem-lab",
        ".venv/bin/hybrid-kube preflight local",
    ]


def test_a_missing_file_or_heading_is_reported(tmp_path, monkeypatch):
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    (tmp_path / "other.md").write_text("# Other\n\n## Azure for Students: regions, sizes\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#azure-for-students-regions-sizes) [gone](missing.md) "
        "[bad anchor](other.md#nowhere) [web](https://example.org/x) `[code](nowhere.md)`\n"
        "```\n[in a block](nowhere.md)\n```\n"
    )
    assert broken_links(page) == [
        "missing.md: no file missing.md",
        "other.md#nowhere: no heading with anchor #nowhere",
    ]


def test_anchors_follow_github():
    text = (
        "# Title\n## 1. Sign in to Azure\n## Pause: `az aks stop` and more\n"
        "## 용어 정리\n## 용어 정리\n"
    )
    assert heading_anchors(text) == {
        "title",
        "1-sign-in-to-azure",
        "pause-az-aks-stop-and-more",
        "용어-정리",
        "용어-정리-1",
    }


# -- README.ko.md follows README.md ----------------------------------------------------------------


def test_the_korean_readme_shows_only_the_readmes_commands():
    known = set(shell_commands(README.read_text(encoding="utf-8")))
    for page in linked_docs(README):
        known |= set(shell_commands(page.read_text(encoding="utf-8")))
    korean = shell_commands(README_KO.read_text(encoding="utf-8"))
    assert korean, "README.ko.md has no commands"
    assert [c for c in korean if c not in known] == []


@pytest.mark.parametrize("path", [README, README_KO], ids=lambda p: p.name)
def test_the_two_set_up_commands_come_first(path):
    assert tuple(shell_commands(path.read_text(encoding="utf-8"))[:2]) == SETUP


def test_the_korean_readme_is_linked_from_the_top_of_the_readme():
    text = README.read_text(encoding="utf-8")
    first_block_end = text.index("```", text.index("```") + 3)
    next_heading = text.index("\n## ")
    link = text.index("(README.ko.md)")
    assert first_block_end < link < next_heading


def test_the_korean_readme_keeps_a_place_for_the_own_app_walk_through():
    text = README_KO.read_text(encoding="utf-8")
    assert "## 6. 내 앱 배포하기 (Your own app)" in text
    assert "(docs/own-app.md)" in text


GLOSSARY = (
    "CNI",
    "VIP",
    "PDB",
    "HPA",
    "ARP",
    "ingress",
    "Pulumi stack",
    "Pulumi secret",
    "preview",
    "refresh",
    "kubeconfig",
    "context",
    "namespace",
    "Deployment / StatefulSet",
    "PVC",
)


def test_the_korean_glossary_explains_every_term_the_issue_names():
    text = README_KO.read_text(encoding="utf-8")
    glossary = text[text.index("## 용어 정리") :]
    rows = [line.split("|")[1] for line in glossary.splitlines() if line.startswith("| **")]
    assert [term for term in GLOSSARY if not any(term in row for row in rows)] == []


@pytest.mark.parametrize("path", [README, README_KO, *DOCS], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(path):
    assert broken_links(path) == []


# -- the Azure for Students preset --------------------------------------------------------------


def preset_lines(text: str) -> list[str]:
    lines = text.splitlines()
    begin, end = lines.index(PRESET_BEGIN), lines.index(PRESET_END)
    return lines[begin + 1 : end]


def uncomment(line: str) -> str:
    """What an editor's toggle-comment does to a line commented at two spaces: drop `# `."""
    assert line == "  #" or line.startswith("  # "), f"not a commented preset line: {line!r}"
    return "  " + line[4:]


def with_preset(text: str) -> str:
    """The stack file as docs/aks.md tells a student to edit it: the shipped `hybrid-kube:aks`
    block deleted, the preset's lines uncommented in place."""
    lines = text.splitlines()
    start = lines.index("  hybrid-kube:aks:")
    stop = start + 1
    while stop < len(lines) and (not lines[stop].strip() or _indent(lines[stop]) > 2):
        stop += 1
    lines = lines[:start] + lines[stop:]
    begin, end = lines.index(PRESET_BEGIN), lines.index(PRESET_END)
    lines[begin + 1 : end] = [uncomment(line) for line in lines[begin + 1 : end]]
    return "\n".join(lines) + "\n"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def load_azure_dev(root: Path):
    """The stack's settings, read and validated the way `hybrid-kube check` does."""
    from apps import settings_catalog

    stack = load_stack("azure-dev", root=root)
    prefix = f"{NAMESPACE}:"
    raw = {k.removeprefix(prefix): v for k, v in stack.config.items() if k.startswith(prefix)}
    return load_settings(raw, settings_catalog())


@pytest.fixture(scope="module")
def preset_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("preset")
    shutil.copy(ROOT / "Pulumi.yaml", root / "Pulumi.yaml")
    (root / "stacks").mkdir()
    edited = with_preset(AZURE_STACK.read_text(encoding="utf-8"))
    (root / "stacks" / "Pulumi.azure-dev.yaml").write_text(edited, encoding="utf-8")
    return root


def test_the_preset_is_one_aks_block():
    text = AZURE_STACK.read_text(encoding="utf-8")
    block = yaml.safe_load("\n".join(uncomment(line) for line in preset_lines(text)))
    assert list(block) == ["hybrid-kube:aks"]


def test_the_uncommented_preset_is_a_valid_stack(preset_root):
    edited = yaml.safe_load((preset_root / "stacks" / "Pulumi.azure-dev.yaml").read_text())
    assert "hybrid-kube:aks" in edited["config"]
    settings = load_azure_dev(preset_root)
    assert settings.target == "aks"
    assert settings.aks.pools == []
    assert not settings.aks.system_pool.autoscaling
    assert max_nodes(settings.aks.system_pool) == 1


def test_the_preset_never_needs_a_new_cluster(preset_root):
    """Same system pool name and immutable fields as the shipped file: adopting the preset on a
    running cluster changes node counts and removes a pool, never replaces the cluster."""
    shipped = load_azure_dev(ROOT).aks
    preset = load_azure_dev(preset_root).aks
    assert preset.system_pool.name == shipped.system_pool.name
    assert preset.system_pool.immutable_values() == shipped.system_pool.immutable_values()
    assert preset.network == shipped.network
    assert preset.location == shipped.location


def test_adopting_the_preset_on_a_running_cluster_keeps_the_cluster():
    """What `pulumi up` does when a deployed shipped stack switches to the preset: the node
    counts change in place and the `apps` pool goes (drained by AKS); nothing is replaced."""
    from transitions import plan, record

    text = AZURE_STACK.read_text(encoding="utf-8")
    preset = yaml.safe_load("\n".join(uncomment(line) for line in preset_lines(text)))
    step = plan(
        record("azure-dev"), record("azure-dev", {"hybrid-kube:aks": preset["hybrid-kube:aks"]})
    )
    assert step.replaced == {}
    assert not step.refused
    assert step.refused_in_place == {}
    assert step.deleted == ["aks-pool-apps"]
    assert "aks-cluster" in step.updated
    assert step.created == []


def quota_need(aks) -> int:
    """vCPUs at every pool's largest size plus AKS's default upgrade surge, as preflight counts."""
    pools = [aks.system_pool, *aks.pools]
    return sum(vm_size_cpus(p.vm_size) * (max_nodes(p) + surge_nodes(p)) for p in pools)


def test_the_quota_figures_in_the_aks_guide_are_computed_ones(preset_root):
    guide = (ROOT / "docs" / "aks.md").read_text(encoding="utf-8")
    shipped = quota_need(load_azure_dev(ROOT).aks)
    preset = quota_need(load_azure_dev(preset_root).aks)
    assert f"`azure-dev` as shipped: {shipped} vCPUs" in guide
    assert f"the preset: {preset} vCPUs" in guide
    assert f"needs {preset} vCPUs of quota" in guide
    assert f"{preset} vCPUs of quota with the upgrade surge" in AZURE_STACK.read_text()


# -- docs/desired-state.md names what the local stack declares ----------------------------------

_KINDS = {
    "deployment": "Deployment",
    "deploy": "Deployment",
    "statefulset": "StatefulSet",
    "sts": "StatefulSet",
    "pdb": "PodDisruptionBudget",
    "hpa": "HorizontalPodAutoscaler",
    "svc": "Service",
    "service": "Service",
    "configmap": "ConfigMap",
    "cm": "ConfigMap",
}


@pytest.fixture
def local_objects() -> list[dict]:
    from support import manifest, run_main

    return [manifest(r) for r in run_main("local").kubernetes_objects()]


def kubectl_references(text: str) -> Iterator[tuple[str, str, str]]:
    """(namespace, what, value) for each `-n`, `kind/name` and `-l key=value` of every kubectl
    command; `what` is a Kind, `pod` or `label`."""
    for command in shell_commands(text):
        if not command.startswith("kubectl "):
            continue
        namespace = re.search(r"(?:-n|--namespace)[ =](\S+)", command)
        ns = namespace.group(1) if namespace else ""
        if ns:
            yield ns, "namespace", ns
        for kind, name in re.findall(r"\b([a-z]+)/([\w.-]+)", command):
            if kind in _KINDS:
                yield ns, _KINDS[kind], name
            elif kind == "pod":
                yield ns, "pod", name
        for selector in re.findall(r"(?:-l|--selector|--pod-selector)[ =](\S+)", command):
            for pair in selector.split(","):
                yield ns, "label", pair


def test_the_desired_state_guide_names_real_objects(local_objects):
    text = (ROOT / "docs" / "desired-state.md").read_text(encoding="utf-8")
    names = {
        (o["metadata"].get("namespace", ""), o["kind"], o["metadata"]["name"])
        for o in local_objects
    }
    namespaces = {name for _, kind, name in names if kind in ("Namespace", "NamespacePatch")}
    namespaces |= {ns for ns, _, _ in names if ns}
    labels: dict[str, set[str]] = {}
    for o in local_objects:
        ns = o["metadata"].get("namespace", "")
        template = ((o.get("spec") or {}).get("template") or {}).get("metadata") or {}
        for key, value in {**o["metadata"].get("labels", {}), **template.get("labels", {})}.items():
            labels.setdefault(ns, set()).add(f"{key}={value}")
    statefulsets = {(ns, name) for ns, kind, name in names if kind == "StatefulSet"}
    references = list(kubectl_references(text))
    assert references, "no kubectl command found"
    unknown = []
    for ns, what, value in references:
        if what == "namespace":
            ok = value in namespaces
        elif what == "label" and value.startswith("kubernetes.io/service-name="):
            ok = (ns, "Service", value.partition("=")[2]) in names
        elif what == "label":
            ok = value in labels.get(ns, set()) if ns else any(value in s for s in labels.values())
        elif what == "pod":
            base, _, ordinal = value.rpartition("-")
            ok = value.startswith("<") or ((ns, base) in statefulsets and ordinal.isdigit())
        else:
            ok = (ns, what, value) in names
        if not ok:
            unknown.append((ns, what, value))
    assert unknown == []


def _hello_spec():
    import importlib.util

    path = ROOT / "examples" / "hello" / "app.py"
    spec = importlib.util.spec_from_file_location("hello_example_app", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SPEC


@pytest.mark.parametrize("path", ["README.md", "README.ko.md", "docs/own-app.md"])
def test_every_app_images_example_is_valid_for_the_hello_app(path):
    """The `appImages` snippets a reader copies name the example's real app and workload."""
    from apps import settings_catalog
    from components.settings.existing import without_cluster

    catalog = {**settings_catalog(), "hello": _hello_spec()}
    snippets = [
        # A placeholder such as <acr> is filled in as a reader would.
        yaml.safe_load(re.sub(r"<([a-z-]+)>", r"my\1", "\n".join(lines)))
        for language, lines in code_blocks((ROOT / path).read_text(encoding="utf-8"))
        if language == "yaml" and any("hybrid-kube:appImages:" in line for line in lines)
    ]
    assert snippets, f"{path} shows no appImages example"
    for snippet in snippets:
        raw = {"target": "existing", "appImages": snippet[f"{NAMESPACE}:appImages"]}
        with without_cluster():
            load_settings(raw, catalog)  # raises SettingsError naming the wrong key
