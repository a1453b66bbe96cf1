"""The host scripts: shellcheck-clean as files and as the exact stdin each command sends, their
shared helpers behave (run in bash here), and secret variables are only ever written to files."""

from __future__ import annotations

import base64
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import support

from components.kubeadm.commands import (
    LIBRARY,
    SCRIPTS_DIR,
    render_stdin,
    script_names,
    script_text,
)

PHASES = [name for name in script_names() if name != LIBRARY]
SECRET_VARIABLES = ("KUBEADM_CONFIG", "JOIN_CONFIG", "ADMIT_CONFIG", "CA_KEY", "ENCRYPTION_CONFIG")


def shellcheck(*paths: Path) -> subprocess.CompletedProcess:
    return support.shellcheck(*paths, shell="bash")


def test_the_expected_scripts_exist():
    assert set(PHASES) == {
        "prepare.sh",
        "init.sh",
        "admit.sh",
        "join.sh",
        "node.sh",
        "upgrade-control-plane.sh",
        "upgrade-drain.sh",
        "upgrade-node.sh",
        "upgrade-uncordon.sh",
    }


def test_every_script_file_is_shellcheck_clean():
    result = shellcheck(*sorted(SCRIPTS_DIR.glob("*.sh")))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_stdin_the_program_sends_is_shellcheck_clean(tmp_path):
    # The real composition: preamble (values from a mock run) + lib.sh + the step's script.
    from test_kubeadm_cluster import commands, ha_recording, lab_recording

    sent = {}
    for rec in (lab_recording(), ha_recording()):
        for resource in commands(rec).values():
            header = resource.inputs["stdin"].splitlines()[0]
            sent.setdefault(header, resource.inputs["stdin"])
    assert len(sent) == len(PHASES)
    paths = []
    for index, text in enumerate(sent.values()):
        path = tmp_path / f"stdin-{index}.sh"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    result = shellcheck(*paths)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", PHASES)
def test_phase_scripts_dispatch_last_with_stdin_closed_and_never_trace(name):
    text = script_text(name)
    lines = [line for line in text.splitlines() if line.strip()]
    # Everything before this line is definitions; nothing run afterwards can eat the script.
    assert lines[-1] == 'run_action "$@" </dev/null'
    assert re.search(r"^create\(\) \{", text, re.MULTILINE)
    assert "set -x" not in text and "xtrace" not in text
    assert "sudo " not in text  # the whole script already runs under sudo -n


def test_secret_variables_only_go_into_files():
    """Lines that read a secret variable write a file (root-only) or rewrite it in memory."""
    offending = []
    for name in script_names():
        for number, line in enumerate(script_text(name).splitlines(), 1):
            if line.lstrip().startswith("#"):
                continue
            for variable in SECRET_VARIABLES:
                if re.search(rf"\$\{{?{variable}\b", line):
                    allowed = line.lstrip().startswith(("write_file ", "config=${"))
                    if not allowed or re.search(r"\b(echo|log|warn|die|printf)\b", line):
                        offending.append(f"{name}:{number}: {line.strip()}")
    assert offending == []


def test_secret_files_are_written_root_only():
    init = script_text("init.sh") + script_text("join.sh") + script_text("lib.sh")
    for target in (
        '"$STATE_DIR/kubeadm-init.yaml" 0600',
        '"$STATE_DIR/kubeadm-join.yaml" 0600',
        "/etc/kubernetes/pki/ca.key 0600",
        '"$APISERVER_DIR/encryption-config.yaml" 0600',
    ):
        assert f"write_file {target}" in init, target


def test_render_stdin_quotes_every_value_and_rejects_bad_names():
    text = render_stdin("admit.sh", {"NODE_NAME": "w1", "ADMIT_CONFIG": "a'b $(rm -rf /)\n`x`"})
    assert "ADMIT_CONFIG='a'\"'\"'b $(rm -rf /)\n`x`'" in text
    assert (
        text.index("NODE_NAME=w1")
        < text.index(script_text(LIBRARY))
        < text.index(script_text("admit.sh"))
    )
    with pytest.raises(ValueError):
        render_stdin("admit.sh", {"lower": "x"})


# -- lib.sh behaviour, run in bash ------------------------------------------------------------


# Defined after lib.sh, before a snippet (which may redefine it): these functions run on the test
# machine, whose systemd must never be driven. The kubelet "runs" as this bash (a current
# executable, so restart_stale_kubelet restarts nothing); any other call fails loudly.
SYSTEMCTL_GUARD = """
systemctl() {
  case "$*" in
    "show --property MainPID --value kubelet") echo "$$" ;;
    *) echo "test: unexpected systemctl $*" >&2; return 1 ;;
  esac
}
"""


def bash(snippet: str, tmp_path: Path | None = None) -> subprocess.CompletedProcess:
    """Run `snippet` after lib.sh, as the scripts do (errexit, nounset, pipefail)."""
    program = script_text(LIBRARY) + "\n" + SYSTEMCTL_GUARD + "\n" + snippet
    return subprocess.run(
        ["bash", "-c", program],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )


def out(snippet: str) -> str:
    result = bash(snippet)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_version_helpers():
    assert out("minor_of 1.34.2; minor_of v1.35.0; minor_of 1.34") == "1.34\n1.35\n1.34"
    assert out("package_glob 1.34; package_glob 1.34.2") == "1.34.*\n1.34.2-*"
    cases = {
        ("v1.34.2", "1.34"): 0,
        ("v1.34.2", "1.34.2"): 0,
        ("1.34.2-1.1", "1.34.2"): 0,
        ("v1.34.2", "1.34.3"): 1,
        ("v1.34.2", "1.35"): 1,
    }
    for (installed, target), expected in cases.items():
        result = bash(f"version_satisfies {installed} {target}")
        assert result.returncode == expected, (installed, target)


def test_upgrade_steps_are_one_minor_at_a_time_and_never_down():
    assert bash("check_upgrade_step v1.34.2 1.34").returncode == 0
    assert bash("check_upgrade_step v1.34.2 1.35").returncode == 0
    assert bash("check_upgrade_step v1.34.2 1.35.1").returncode == 0
    skipped = bash("check_upgrade_step v1.34.2 1.36")
    assert skipped.returncode == 1 and "one minor at a time" in skipped.stderr
    down = bash("check_upgrade_step v1.34.2 1.33")
    assert down.returncode == 1 and "downgrades" in down.stderr


def test_write_file_is_idempotent_and_keeps_secrets_private(tmp_path):
    target = tmp_path / "etc" / "secret.yaml"
    snippet = f"""
write_file {target} 0600 'token: abc'; printf '%s\\n' "$FILE_CHANGED"
write_file {target} 0600 'token: abc'; printf '%s\\n' "$FILE_CHANGED"
write_file {target} 0600 'token: xyz'; printf '%s\\n' "$FILE_CHANGED"
"""
    assert out(snippet) == "true\nfalse\ntrue"
    assert target.read_text() == "token: xyz\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in target.parent.iterdir()) == ["secret.yaml"]  # no temp files


def test_run_logged_keeps_redacted_output_in_a_root_only_log_and_shows_it_on_failure(tmp_path):
    token = "abcdef.0123456789abcdef"
    key = "ab" * 32
    snippet = f"""
LOG_DIR={tmp_path}/log
run_logged ok printf 'token {token}\\n'
run_logged bad sh -c 'echo "join with {token} --certificate-key {key}"; exit 3' || echo "status $?"
"""
    result = bash(snippet)
    assert result.returncode == 0, result.stderr
    assert token not in result.stdout + result.stderr
    assert key not in result.stdout + result.stderr
    assert "<redacted-token>" in result.stderr and "<redacted-key>" in result.stderr
    assert "status 3" in result.stdout
    log = tmp_path / "log" / "ok.log"
    assert log.read_text() == "token <redacted-token>\n"  # not even the root-only log keeps it
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert key not in (tmp_path / "log" / "bad.log").read_text()


def test_run_action_dispatches_and_refuses_unknown_actions():
    define = "id() { echo 0; }\ncreate() { echo created; }\n"
    assert out(define + "run_action create") == "created"
    assert out(define + "run_action") == "created"
    missing = bash(define + "run_action delete")
    assert missing.returncode == 1 and "no 'delete' action" in missing.stderr
    unknown = bash(define + "run_action explode")
    assert unknown.returncode == 1 and "unknown action" in unknown.stderr
    not_root = bash("id() { echo 1000; }\ncreate() { :; }\nrun_action create")
    assert not_root.returncode == 1 and "sudo -n" in not_root.stderr


def test_die_prints_the_error_then_each_hint_on_a_line_of_its_own():
    result = bash("die 'it broke' 'do this' 'then that'")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "[hybrid-kube] error: it broke",
        "[hybrid-kube]   do this",
        "[hybrid-kube]   then that",
    ]
    assert bash("die 'alone'").stderr == "[hybrid-kube] error: alone\n"


def test_kube_vip_manifest_gets_the_interface_that_holds_the_node_address(tmp_path):
    manifest = tmp_path / "kube-vip.yaml"
    interfaces = (
        "2: eth0    inet 10.0.2.15/24 brd 10.0.2.255 scope global eth0\\n"
        "3: eth1    inet 192.168.56.11/24 brd 192.168.56.255 scope global eth1\\n"
    )
    snippet = f"""
ip() {{ printf '{interfaces}'; }}
install() {{ :; }}
KUBE_VIP_MANIFEST_PATH={manifest}
NODE_IP=192.168.56.11
write_kube_vip_manifest 'vip_interface: @VIP_INTERFACE@'
"""
    result = bash(snippet)
    assert result.returncode == 0, result.stderr
    assert manifest.read_text() == "vip_interface: eth1\n"
    missing = bash(snippet.replace("NODE_IP=192.168.56.11", "NODE_IP=192.168.56.99"))
    assert missing.returncode == 1 and "no network interface holds" in missing.stderr


# -- node.sh: serving certificates are approved only for the node's own address ---------------


def script_functions(name: str) -> str:
    """A phase script without its final dispatch line, so its functions can be called one by one."""
    lines = script_text(name).rstrip().splitlines()
    assert lines[-1] == 'run_action "$@" </dev/null'
    return "\n".join(lines[:-1])


def node_functions() -> str:
    return script_functions("node.sh")


def csr_request(tmp_path: Path, sans: str) -> str:
    """A real PKCS#10 request with these SANs, base64-encoded as Kubernetes stores it."""
    pem = subprocess.run(
        [
            "openssl",
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(tmp_path / "key.pem"),
            "-subj",
            "/O=system:nodes/CN=system:node:w1",
            "-addext",
            f"subjectAltName={sans}",
        ],
        check=True,
        capture_output=True,
    ).stdout
    return base64.b64encode(pem).decode()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
@pytest.mark.parametrize(
    ("sans", "approved"),
    [
        ("DNS:w1,IP:192.168.56.21", True),
        ("IP:192.168.56.21", True),
        ("DNS:w1", True),
        ("DNS:w1,IP:10.9.9.9", False),  # another address
        ("DNS:w1,IP:192.168.56.21,IP:192.168.56.22", False),
        ("DNS:evil.example.com,IP:192.168.56.21", False),  # a DNS name that is not the node
        ("DNS:w1,DNS:kubernetes.default,IP:192.168.56.21", False),
        ("DNS:w1,IP:192.168.56.21,URI:spiffe://cluster.local/ns/x/sa/y", False),
        ("DNS:w1,IP:192.168.56.21,email:admin@example.com", False),
        ("DNS:w1,IP:fd00::21", False),  # IPv6 is not compared (the target is IPv4-only)
    ],
)
def test_node_step_approves_only_csrs_for_the_nodes_own_names(tmp_path, sans, approved):
    marker = tmp_path / "approved"
    stub = f"""
NODE_NAME=w1
NODE_IP=192.168.56.21
sleep() {{ :; }}
kc() {{
  case "$*" in
    "get --raw /api/v1/nodes/w1/proxy/healthz") [ -f {marker} ] ;;
    "get csr -o go-template="*) printf 'csr-a system:node:w1\\ncsr-b system:node:w2\\n' ;;
    "get csr csr-a -o jsonpath={{.spec.request}}") printf '%s' '{csr_request(tmp_path, sans)}' ;;
    "certificate approve csr-a") touch {marker} ;;
    *) echo "unexpected: kc $*" >&2; return 1 ;;
  esac
}}
approve_serving_csrs
"""
    result = bash(node_functions() + "\n" + stub)
    assert result.returncode == 0, result.stderr
    assert "unexpected" not in result.stderr
    assert marker.exists() is approved
    if approved:
        assert "approved kubelet serving certificate request csr-a" in result.stdout
    else:
        assert "not approving csr-a" in result.stderr


def test_ipv4_addresses_are_compared_in_canonical_form():
    snippet = node_functions() + "\nnormalize_ipv4 192.168.056.021; normalize_ipv4 10.0.0.1"
    assert out(snippet) == "192.168.56.21\n10.0.0.1"
    for bad in ("fd00::21", "256.1.1.1", "1.2.3", "192.168.56.21x"):
        assert bash(node_functions() + f"\nnormalize_ipv4 {bad}").returncode == 1, bad


# -- the upgrade lock: one worker at a time ----------------------------------------------------


def lock_stub(lock: Path, created: str) -> str:
    name = "hybrid-kube-upgrade-lock"
    return f"""
NODE_NAME=w1
SLEPT=0
sleep() {{ SLEPT=$((SLEPT + 1)); if [ "$SLEPT" -ge 3 ]; then rm -f {lock}; fi; }}
kc() {{
  case "$*" in
    "-n kube-system create configmap {name} --from-literal=holder=w1")
      [ ! -f {lock} ] && echo w1 >{lock} ;;
    "-n kube-system get configmap {name} -o jsonpath={{.data.holder}}") cat {lock} 2>/dev/null ;;
    "-n kube-system get configmap {name} -o jsonpath={{.metadata.creationTimestamp}}")
      [ -f {lock} ] && printf '%s' '{created}' ;;
    "-n kube-system delete configmap {name} --ignore-not-found") rm -f {lock} ;;
    *) echo "unexpected: kc $*" >&2; return 1 ;;
  esac
}}
"""


def test_upgrade_lock_waits_for_the_holder_then_takes_it(tmp_path):
    lock = tmp_path / "lock"
    lock.write_text("w2\n")
    now = subprocess.run(
        ["date", "-u", "+%Y-%m-%dT%H:%M:%SZ"], capture_output=True, text=True, check=True
    ).stdout.strip()
    result = bash(lock_stub(lock, now) + 'acquire_upgrade_lock\necho "slept $SLEPT"')
    assert result.returncode == 0, result.stderr
    assert "slept 3" in result.stdout  # waited while w2 held it
    assert lock.read_text() == "w1\n"


def test_a_stale_upgrade_lock_is_taken_over_and_only_the_holder_releases(tmp_path):
    lock = tmp_path / "lock"
    lock.write_text("w2\n")
    result = bash(
        lock_stub(lock, "2000-01-01T00:00:00Z") + 'acquire_upgrade_lock\necho "slept $SLEPT"'
    )
    assert result.returncode == 0, result.stderr
    assert "taking over the upgrade lock from w2" in result.stderr
    assert "slept 0" in result.stdout and lock.read_text() == "w1\n"
    lock.write_text("w2\n")
    assert bash(lock_stub(lock, "2000-01-01T00:00:00Z") + "release_upgrade_lock").returncode == 0
    assert lock.read_text() == "w2\n"  # not ours: left alone
    lock.write_text("w1\n")
    assert bash(lock_stub(lock, "2000-01-01T00:00:00Z") + "release_upgrade_lock").returncode == 0
    assert not lock.exists()
