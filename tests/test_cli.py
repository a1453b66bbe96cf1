"""`hybrid-kube check` and `hybrid-kube render`: offline, with meaningful output and exit codes."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support import schema_errors, shellcheck

from components.cli import _secret_strings, main
from components.recording import run_program
from components.render import render
from components.stackfile import PROJECT_ROOT, load_stack, stack_names

STACKS = stack_names()


@pytest.mark.parametrize("stack", STACKS)
def test_check_accepts_every_shipped_stack(stack, capsys):
    assert main(["check", stack]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"stack {stack}: valid")
    assert "appSecrets.podinfo.valkeyPassword: not set, generated on first deploy" in out
    assert (
        f"pulumi config set -s {stack} --secret --path 'appSecrets.podinfo.valkeyPassword'" in out
    )


def broken_project(tmp_path: Path) -> Path:
    (tmp_path / "stacks").mkdir()
    (tmp_path / "Pulumi.yaml").write_text(
        (PROJECT_ROOT / "Pulumi.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    (tmp_path / "stacks" / "Pulumi.broken.yaml").write_text(
        "config:\n"
        "  hybrid-kube:target: kubeadm\n"
        "  hybrid-kube:kubeadm:\n"
        "    hosts:\n"
        "      - {name: cp1, address: 10.0.0.300, role: control-plane}\n"
        "    cni: weave\n",
        encoding="utf-8",
    )
    return tmp_path


def test_check_on_a_broken_stack_exits_1_listing_every_problem(tmp_path, capsys):
    project = broken_project(tmp_path)
    assert main(["--project", str(project), "check", "broken"]) == 1
    err = capsys.readouterr().err
    assert "invalid stack configuration (3 problems)" in err
    assert (
        "hybrid-kube:kubeadm.hosts[0].address: '10.0.0.300' is not an IPv4 or IPv6 address" in err
    )
    assert "hybrid-kube:kubeadm.cni" in err
    # A rule across sections, reported beside the field errors rather than after they are fixed.
    assert "hybrid-kube:kubeadm.loadBalancerAddresses: required while platform.loadBalancer" in err
    assert "Traceback" not in err


def test_render_refuses_a_broken_stack_before_running_anything(tmp_path, capsys):
    project = broken_project(tmp_path)
    out = tmp_path / "out"
    assert main(["--project", str(project), "render", "broken", "--out", str(out)]) == 1
    assert not out.exists()


def test_unknown_stack_is_a_usage_error(capsys):
    assert main(["check", "no-such-stack"]) == 2
    assert "no stack file" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("value", "code", "stream", "expected"),
    [
        # Encrypted: no key needed to check the stack.
        (
            "\n        secure: v1:c2VjcmV0",
            0,
            "out",
            "appSecrets.podinfo.valkeyPassword: set (encrypted)",
        ),
        # Typed in plain text: refused, and the value is not repeated.
        (" hunter2hunter2hunter2", 1, "err", "hybrid-kube:appSecrets: stored in plain text"),
    ],
    ids=["encrypted", "plain-text"],
)
def test_check_reads_secrets_without_the_key_and_refuses_plain_text(
    tmp_path, capsys, value, code, stream, expected
):
    project = broken_project(tmp_path)
    (project / "stacks" / "Pulumi.secrets.yaml").write_text(
        "config:\n  hybrid-kube:target: existing\n  hybrid-kube:appSecrets:\n    podinfo:\n"
        f"      valkeyPassword:{value}\n",
        encoding="utf-8",
    )
    assert main(["--project", str(project), "check", "secrets"]) == code
    printed = capsys.readouterr()
    assert expected in getattr(printed, stream)
    assert "hunter2" not in printed.out + printed.err


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "hybrid-kube"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert "render" in result.stdout and "check" in result.stdout


@pytest.mark.parametrize("stack", STACKS)
def test_render_writes_valid_files(stack, tmp_path, capsys):
    out = tmp_path / stack
    assert main(["render", stack, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "resources declared" in printed and "summary.md" in printed

    manifests = sorted((out / "kubernetes").rglob("*.yaml"))
    assert len(manifests) > 20
    version = load_stack(stack).config["hybrid-kube:kubernetesVersion"]
    minor = ".".join(version.split(".")[:2])
    for path in manifests:
        obj = yaml.safe_load(path.read_text(encoding="utf-8"))
        group = obj["apiVersion"].rpartition("/")[0]
        if "." not in group or group.endswith(".k8s.io"):
            assert schema_errors(obj, minor) is None, path
        namespace = obj["metadata"].get("namespace", "cluster-scoped")
        assert path.parent.name == namespace
    for path in (out / "helm").glob("*.yaml"):
        release = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert release["chart"] and release["version"] and release["repository"]
    for path in (out / "azure").glob("*.json"):
        assert json.loads(path.read_text(encoding="utf-8"))["type"].startswith("azure-native:")
    scripts = sorted((out / "hosts").rglob("*.sh"))
    if scripts:
        result = shellcheck(*scripts)
        assert result.returncode == 0, result.stdout
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "```mermaid" in summary and "| **total** |" in summary
    assert "`kubeconfig`: (secret)" in summary


@pytest.mark.parametrize("stack", STACKS)
def test_no_secret_value_reaches_a_rendered_file(stack, tmp_path):
    sentinels = {
        "sshPrivateKey": "-----BEGIN OPENSSH PRIVATE KEY-----\nrenderKeySentinel\n-----END-----\n",
        "appSecrets": {"podinfo": {"valkeyPassword": "renderPasswordSentinel12345678"}},
        # web's image is on Docker Hub: this login becomes a pull Secret in web's namespace.
        "registries": {"docker.io": {"username": "someone", "password": "renderRegistrySentinel"}},
    }
    config = load_stack(stack, secrets=sentinels)
    recording = run_program(
        lambda: runpy.run_path(str(PROJECT_ROOT / "__main__.py"), run_name="__main__"),
        config.config,
        config.secret_keys,
        stack=stack,
    )
    # No mask: the redaction of secret inputs alone must keep every credential out.
    result = render(recording, tmp_path, title=stack)
    assert result.files
    for path in result.files:
        text = path.read_text(encoding="utf-8")
        for needle in (
            "renderKeySentinel",
            "renderPasswordSentinel",
            "renderRegistrySentinel",
            "kubeconfig-token-sentinel",
        ):
            assert needle not in text, (path, needle)
    # ...though the login did reach the program: a pull Secret holds it.
    kinds = [o.manifest().get("type") for o in recording.kubernetes_objects()]
    assert "kubernetes.io/dockerconfigjson" in kinds


def test_render_masks_named_strings_wherever_they_appear(tmp_path):
    recording = run_program(
        lambda: runpy.run_path(str(PROJECT_ROOT / "__main__.py"), run_name="__main__"),
        load_stack("azure-dev").config,
        stack="azure-dev",
    )
    # "Hello from hybrid-kube" stands in the web app's ConfigMap and podinfo's settings.
    result = render(recording, tmp_path, title="t", mask={"Hello from hybrid-kube"})
    texts = [path.read_text(encoding="utf-8") for path in result.files]
    assert not any("Hello from hybrid-kube" in text for text in texts)
    assert any("(secret)" in text for text in texts if "configmap" in text.lower())


def test_render_masks_registry_passwords_but_not_the_user_names_in_image_references():
    login = {"ghcr.io": {"username": "stefanprodan", "password": "registryTokenSentinel"}}
    masked = _secret_strings(load_stack("local", secrets={"registries": login}))
    # podinfo's image is ghcr.io/stefanprodan/podinfo: masking the user would garble it.
    assert "registryTokenSentinel" in masked
    assert "stefanprodan" not in masked and "ghcr.io" not in masked


def test_render_outside_a_project_is_a_usage_error(tmp_path, capsys):
    project = broken_project(tmp_path)
    (project / "stacks" / "Pulumi.ok.yaml").write_text(
        "config:\n  hybrid-kube:target: existing\n", encoding="utf-8"
    )
    assert main(["--project", str(project), "render", "ok", "--out", str(tmp_path / "o")]) == 2
    assert "has no __main__.py" in capsys.readouterr().err


# -- NetworkPolicy enforcement: `check` and `render` say where the apps' policies may not hold --

NOT_ENFORCED = "NetworkPolicies are declared but not enforced on this target:"
UNKNOWN = "NetworkPolicies are declared but enforcement is unknown on this target:"


def project_with(tmp_path: Path, name: str, base: str, edit) -> Path:
    """A project whose stack `name` is shipped stack `base` with `edit(config)` applied."""
    project = broken_project(tmp_path)
    document = yaml.safe_load(
        (PROJECT_ROOT / "stacks" / f"Pulumi.{base}.yaml").read_text(encoding="utf-8")
    )
    edit(document["config"])
    (project / "stacks" / f"Pulumi.{name}.yaml").write_text(
        yaml.safe_dump(document), encoding="utf-8"
    )
    return project


def warnings_printed(out: str) -> list[str]:
    _, _, tail = out.partition("\nwarnings:\n")
    return [line.removeprefix("  - ") for line in tail.splitlines() if line.startswith("  - ")]


def test_check_on_a_flannel_stack_says_policies_are_not_enforced(tmp_path, capsys):
    def flannel(config):
        config["hybrid-kube:kubeadm"]["cni"] = "flannel"

    project = project_with(tmp_path, "flannel", "onprem-lab", flannel)
    assert main(["--project", str(project), "check", "flannel"]) == 0
    out = capsys.readouterr().out
    assert "  NetworkPolicy:      not-enforced" in out
    [notice] = [w for w in warnings_printed(out) if "NetworkPolicies" in w]
    assert notice.startswith(f"{NOT_ENFORCED} kubeadm cluster with kubeadm.cni: flannel.")


def test_check_on_a_calico_stack_has_no_policy_warning(capsys):
    assert main(["check", "onprem-lab"]) == 0
    out = capsys.readouterr().out
    assert "  NetworkPolicy:      enforced" in out
    assert "NetworkPolicies" not in out


def test_check_on_the_local_stack_says_enforcement_is_unknown(capsys):
    assert main(["check", "local"]) == 0
    out = capsys.readouterr().out
    assert "  NetworkPolicy:      unknown" in out
    [notice] = [w for w in warnings_printed(out) if "NetworkPolicies" in w]
    assert notice.startswith(f"{UNKNOWN} existing cluster (kind-kind)")
    assert "hybrid-kube:existing.capabilities.networkPolicy" in notice


@pytest.mark.parametrize(
    ("declared", "expected"), [("enforced", None), ("not-enforced", NOT_ENFORCED)]
)
def test_check_follows_what_the_local_stack_declares(tmp_path, capsys, declared, expected):
    def declare(config):
        config["hybrid-kube:existing"]["capabilities"]["networkPolicy"] = declared

    project = project_with(tmp_path, "declared", "local", declare)
    assert main(["--project", str(project), "check", "declared"]) == 0
    notices = [w for w in warnings_printed(capsys.readouterr().out) if "NetworkPolicies" in w]
    if expected is None:
        assert notices == []
    else:
        assert len(notices) == 1 and notices[0].startswith(expected)


def test_render_says_where_policies_may_not_hold(tmp_path, capsys):
    out = tmp_path / "local"
    assert main(["render", "local", "--out", str(out)]) == 0
    printed = capsys.readouterr()
    [notice] = [w for w in warnings_printed(printed.out) if "NetworkPolicies" in w]
    assert notice.startswith(UNKNOWN)
    # Said once, by render; the program's own log line is collected, not printed twice.
    assert "NetworkPolicies" not in printed.err
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert summary.index("## Warnings") < summary.index("## Files")
    assert f"- {notice}" in summary


def test_check_lists_each_apps_settings_and_images(capsys):
    assert main(["check", "local"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "  app settings:" in out and "  images:" in out
    assert any(line.startswith("    web.") for line in out)
    assert any(line.startswith("    podinfo/") for line in out)


def test_check_lists_registry_logins_and_warns_of_an_unused_one():
    from apps import settings_catalog
    from components.cli import summary_lines
    from components.settings import load_settings

    logins = {
        "ghcr.io": {"username": "someone", "password": "checkTokenSentinel"},
        "registry.example.com": {"username": "other", "password": "otherTokenSentinel"},
    }
    # Pinned to the sample apps, so an app added to apps/ does not change the lines below.
    apps = {"hybrid-kube:apps": ["web", "podinfo"]}
    stack = load_stack("local", overrides=apps, secrets={"registries": logins})
    raw = {k.removeprefix("hybrid-kube:"): v for k, v in stack.config.items()}
    settings = load_settings(raw, settings_catalog(), secret_keys={"registries"})
    lines = summary_lines(stack, settings)
    text = "\n".join(lines)
    assert "checkTokenSentinel" not in text and "otherTokenSentinel" not in text
    assert (
        '    registries["ghcr.io"]: user someone, password set (encrypted); pull Secret for podinfo'
        in lines
    )
    assert (
        "  - hybrid-kube:registries.registry.example.com: not used: no image of the selected apps "
        "is on registry.example.com (they come from docker.io, ghcr.io); remove the login with "
        "pulumi config rm --path 'registries[\"registry.example.com\"]', or check the apps' images"
    ) in lines
