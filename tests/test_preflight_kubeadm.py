"""`hybrid-kube preflight` on kubeadm stacks: real sshd servers on 127.0.0.1, nothing else.

Two session-scoped sshd instances (own config, host keys, authorized keys, pid file, all in a
temporary folder) stand in for hosts: `good`, whose `sudo` works, and `nosudo`, whose `sudo` says
that a password is required (a stub `sudo` first on PATH through sshd's `SetEnv`, since the
tests log in as root where no real sudo is installed). A closed port is a free port nobody
listens on. Every server is stopped at the end.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from components.cli import main
from components.preflight import Finding, kubeadm
from components.preflight.kubeadm import (
    PROBES,
    REMOTE_SCRIPT,
    SUPPORTED_OS,
    HostFacts,
    cross_host_findings,
    fingerprint,
    host_findings,
    listening_ports,
    parse_probes,
    pin_host_keys,
)
from components.settings.kubeadm import HostSettings
from components.stackfile import PROJECT_ROOT

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_sshd(folder: Path, sudo_stub: str) -> tuple[subprocess.Popen, int, str]:
    folder.mkdir()
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / "host_ed25519")],
        check=True,
    )
    stubs = folder / "bin"
    stubs.mkdir()
    (stubs / "sudo").write_text(sudo_stub, encoding="utf-8")
    (stubs / "sudo").chmod(0o755)
    port = _free_port()
    (folder / "sshd_config").write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {folder / 'host_ed25519'}\n"
        f"PidFile {folder / 'sshd.pid'}\nAuthorizedKeysFile {folder.parent / 'authorized_keys'}\n"
        "UsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        f"SetEnv PATH={stubs}:/usr/sbin:/usr/bin:/sbin:/bin\n",
        encoding="utf-8",
    )
    server = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(folder / "sshd_config")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 5
    while time.time() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"sshd exited: {server.stderr.read().decode()[-500:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    else:
        server.kill()
        raise RuntimeError("sshd did not listen within 5s")
    key = (folder / "host_ed25519.pub").read_text(encoding="utf-8").split()
    return server, port, f"{key[0]} {key[1]}"


GOOD_SUDO = '#!/bin/sh\n[ "$1" = -n ] && shift\nexec "$@"\n'
NO_SUDO = "#!/bin/sh\necho 'sudo: a password is required' >&2\nexit 1\n"


@pytest.fixture(scope="session")
def sshd(tmp_path_factory):
    """{'key': client key path, 'good': (port, host key), 'nosudo': (port, host key)}."""
    if not Path(SSHD).exists() or shutil.which("ssh") is None:
        pytest.skip("openssh-server/client not installed (.ci/run installs openssh-server)")
    root = tmp_path_factory.mktemp("sshd")
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / "client")], check=True
    )
    shutil.copy(root / "client.pub", root / "authorized_keys")
    Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory
    servers = []
    try:
        found = {"key": root / "client"}
        for name, stub in (("good", GOOD_SUDO), ("nosudo", NO_SUDO)):
            server, port, host_key = _start_sshd(root / name, stub)
            servers.append(server)
            found[name] = (port, host_key)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as error:
        for server in servers:
            server.kill()
        pytest.skip(f"cannot start sshd on 127.0.0.1: {error}")
    yield found
    for server in servers:
        server.terminate()
        server.wait(timeout=5)


def project(tmp_path: Path, hosts: list[dict], key: Path, port: int, **ssh) -> Path:
    """A project folder with one stack `lab` whose hosts are on 127.0.0.1."""
    (tmp_path / "stacks").mkdir()
    shutil.copy(PROJECT_ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    lines = [
        "# the lab",
        "config:",
        "  hybrid-kube:target: kubeadm",
        '  hybrid-kube:kubernetesVersion: "1.35"',
        "  hybrid-kube:kubeadm:",
        "    ssh:",
        "      user: root",
        f"      port: {port}",
        f"      privateKeyPath: {key}",
        *(f"      {k}: {json.dumps(v)}" for k, v in ssh.items()),
        "    hosts:  # the machines",
        *(f"      - {json.dumps(h)}  # host {h['name']}" for h in hosts),
        "  hybrid-kube:platform: {loadBalancer: false}",
    ]
    (tmp_path / "stacks" / "Pulumi.lab.yaml").write_text("\n".join(lines) + "\n", "utf-8")
    return tmp_path


def preflight(project_dir: Path, capsys, *extra: str) -> tuple[int, list[dict], str]:
    code = main(["--project", str(project_dir), "preflight", "lab", "--json", *extra])
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def by_check(findings: list[dict], subject: str) -> dict[str, dict]:
    return {f["check"]: f for f in findings if f["subject"] == subject}


CP = {"name": "cp1", "address": "127.0.0.1", "role": "control-plane"}


# -- loopback hosts --------------------------------------------------------------------------------


def test_a_good_host_is_reached_and_checked(sshd, tmp_path, capsys):
    port, host_key = sshd["good"]
    code, findings, err = preflight(project(tmp_path, [CP], sshd["key"], port), capsys)
    checks = by_check(findings, "cp1")
    assert checks["ssh.reachable"]["status"] == "ok"
    assert checks["host.sudo"]["status"] == "ok"
    assert checks["ssh.host_key"]["status"] == "warn"  # not pinned
    assert fingerprint(host_key) in checks["ssh.host_key"]["reason"]
    assert "--pin-host-keys" in checks["ssh.host_key"]["fix"]
    # This machine is the host: its real OS, CPUs and memory are what the checks saw.
    release = Path("/etc/os-release").read_text(encoding="utf-8")
    os_id = re.search(r"^ID=(.*)$", release, re.M).group(1).strip('"')
    version = re.search(r"^VERSION_ID=(.*)$", release, re.M).group(1).strip('"')
    assert checks["host.os"]["status"] == ("ok" if (os_id, version) in SUPPORTED_OS else "fail")
    import os

    assert checks["host.cpus"]["reason"].startswith(f"{os.cpu_count()} CPUs")
    assert {"host.memory", "host.swap", "host.cgroup", "host.ports"} <= set(checks)
    assert "cp1: connecting to root@127.0.0.1" in err
    assert code == (1 if any(f["status"] == "fail" for f in findings) else 0)


def test_a_host_without_passwordless_sudo_fails_with_the_fix(sshd, tmp_path, capsys):
    port, _ = sshd["nosudo"]
    code, findings, _ = preflight(project(tmp_path, [CP], sshd["key"], port), capsys)
    sudo = by_check(findings, "cp1")["host.sudo"]
    assert code == 1
    assert sudo["status"] == "fail"
    assert "a password is required" in sudo["reason"]
    assert "NOPASSWD" in sudo["fix"]


def test_a_pinned_key_that_differs_fails_before_logging_in(sshd, tmp_path, capsys):
    port, _ = sshd["good"]
    _, other_key = sshd["nosudo"]  # another server's real key
    host = {**CP, "hostKey": other_key}
    code, findings, _ = preflight(project(tmp_path, [host], sshd["key"], port), capsys)
    checks = by_check(findings, "cp1")
    assert code == 1
    assert checks["ssh.host_key"]["status"] == "fail"
    assert fingerprint(other_key) in checks["ssh.host_key"]["reason"]
    assert "host.sudo" not in checks  # nothing ran there


def test_a_pinned_key_that_matches_is_ok(sshd, tmp_path, capsys):
    port, host_key = sshd["good"]
    _, findings, _ = preflight(
        project(tmp_path, [{**CP, "hostKey": host_key}], sshd["key"], port), capsys
    )
    assert by_check(findings, "cp1")["ssh.host_key"]["status"] == "ok"


def test_a_closed_port_fails_as_unreachable(sshd, tmp_path, capsys):
    code, findings, _ = preflight(project(tmp_path, [CP], sshd["key"], _free_port()), capsys)
    reachable = by_check(findings, "cp1")["ssh.reachable"]
    assert code == 1
    assert reachable["status"] == "fail"
    assert "Connection refused" in reachable["reason"]
    assert "kubeadm.ssh.port" in reachable["fix"]


def test_hosts_behind_a_bastion_go_through_it(sshd, tmp_path, capsys):
    port, _ = sshd["good"]
    jump_port, jump_key = sshd["nosudo"]  # ssh refuses a jump to the same host and port
    bastion = {"host": "127.0.0.1", "user": "root", "port": jump_port}
    _, findings, _ = preflight(project(tmp_path, [CP], sshd["key"], port, bastion=bastion), capsys)
    assert by_check(findings, "cp1")["host.sudo"]["status"] == "ok"  # the good server's sudo
    assert fingerprint(jump_key) in by_check(findings, "bastion")["ssh.host_key"]["reason"]


def test_pin_host_keys_writes_the_keys_and_keeps_comments(sshd, tmp_path, capsys):
    port, host_key = sshd["good"]
    folder = project(tmp_path, [CP], sshd["key"], port)
    path = folder / "stacks" / "Pulumi.lab.yaml"
    before = path.read_text(encoding="utf-8")
    preflight(folder, capsys, "--pin-host-keys")
    after = path.read_text(encoding="utf-8")
    assert "# the lab" in after and "# host cp1" in after and "# the machines" in after
    pinned = yaml.safe_load(after)["config"]["hybrid-kube:kubeadm"]["hosts"][0]
    assert pinned["hostKey"] == host_key
    assert after.count("\n") == before.count("\n")  # flow entry edited in place
    _, findings, _ = preflight(folder, capsys)
    assert by_check(findings, "cp1")["ssh.host_key"]["status"] == "ok"


# -- the stack-file edit ---------------------------------------------------------------------------

BLOCK_STACK = """\
config:
  hybrid-kube:target: kubeadm
  hybrid-kube:kubeadm:
    ssh:
      bastion:
        host: 10.0.0.1   # the jump host
    hosts:
      # control plane
      - name: cp1
        address: 10.0.0.11
        role: control-plane  # first
      - {name: w1, address: 10.0.0.21, role: worker, hostKey: "ssh-ed25519 OLD"}
      - name: w2
        address: 10.0.0.22
        role: worker
    cni: calico
"""


def test_pin_host_keys_edits_block_and_flow_entries_textually(tmp_path):
    path = tmp_path / "Pulumi.lab.yaml"
    path.write_text(BLOCK_STACK, encoding="utf-8")
    keys = {"cp1": "ssh-ed25519 AAAA1", "w1": "ssh-ed25519 AAAA2", kubeadm.BASTION: "ssh-rsa B"}
    assert sorted(pin_host_keys(path, keys)) == sorted(["cp1", "w1", kubeadm.BASTION])
    text = path.read_text(encoding="utf-8")
    for comment in ("# the jump host", "# control plane", "# first"):
        assert comment in text
    data = yaml.safe_load(text)["config"]["hybrid-kube:kubeadm"]
    assert [h.get("hostKey") for h in data["hosts"]] == [
        "ssh-ed25519 AAAA1",
        "ssh-ed25519 AAAA2",
        None,
    ]
    assert data["ssh"]["bastion"]["hostKey"] == "ssh-rsa B"
    assert pin_host_keys(path, keys) == []  # idempotent


def test_pin_host_keys_refuses_a_file_it_cannot_edit_safely(tmp_path):
    path = tmp_path / "Pulumi.lab.yaml"
    text = "config:\n  hybrid-kube:target: kubeadm\n"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(kubeadm.PinError, match="hybrid-kube:kubeadm"):
        pin_host_keys(path, {"cp1": "ssh-ed25519 A"})
    nested = BLOCK_STACK.replace(
        "role: worker\n    cni", "role: worker\n        labels: [a]\n    cni"
    )
    path.write_text(nested, encoding="utf-8")
    with pytest.raises(kubeadm.PinError, match="by hand"):
        pin_host_keys(path, {"w2": "ssh-ed25519 A"})
    assert path.read_text(encoding="utf-8") == nested


# -- read-only, and the pure checks ----------------------------------------------------------------

FORBIDDEN = re.compile(
    r"\brm\b|\bmv\b|\bcp\b|\btee\b|\bdd\b|\bsed\b|\bapt(-get)?\b|\bdpkg\b|\bsystemctl\b|"
    r"\bservice\b|\bkubeadm\b|\bkubectl\b|\bmkdir\b|\btouch\b|\bchmod\b|\bchown\b|\bkill\b|"
    r"\breboot\b|\bshutdown\b|\bswapoff\b|\bmodprobe\b|\bsysctl\b|\bln\b|\binstall\b|\bbash\b|"
    r"\bsh\b|\beval\b|\bexec\b|`|\$\(|[;&|<]|>"
)


def test_every_remote_command_only_reads():
    assert len({name for name, _ in PROBES}) == len(PROBES)
    for name, command in PROBES:
        assert not FORBIDDEN.search(command), (name, command)
    # The script is the probes plus echo markers, `2>&1` and `$?`, nothing else.
    glue = REMOTE_SCRIPT
    for _, command in PROBES:
        glue = glue.replace(command, "", 1)
    glue = glue.replace("2>&1", "").replace('"$?"', "").replace("$?", "")
    words = set(re.findall(r"[A-Za-z_][\w-]*", glue)) - {"export", "LC_ALL", "C", "echo", "rc"}
    assert words <= {n for n, _ in PROBES} | {"hybrid-kube-preflight"}, words
    assert ">" not in glue.replace("2>&1", "")


def test_supported_os_matches_prepare_sh():
    script = (PROJECT_ROOT / "components/kubeadm/scripts/prepare.sh").read_text(encoding="utf-8")
    case = re.search(r"case \"\$\{ID:-\}:\$\{VERSION_ID:-\}\" in\n\s*(.*?)\)", script)
    listed = {tuple(item.strip().split(":")) for item in case.group(1).split("|")}
    assert listed == SUPPORTED_OS


def facts(name, role="worker", **probes) -> HostFacts:
    item = HostFacts(HostSettings(name=name, address="10.0.0.1", role=role))
    item.probes = {k: (0, v) for k, v in probes.items()}
    return item


def statuses(findings: list[Finding]) -> dict[str, str]:
    return {f.check: f.status for f in findings}


def test_size_swap_cgroup_and_ports_against_kubeadm_minimums():
    small = facts(
        "cp1", "control-plane", cpus="1", memory="MemTotal:  1024000 kB",
        swap="Filename Type\n/swap.img file 100 0 -2", cgroup="tmpfs",
        listening="LISTEN 0 4096 0.0.0.0:6443 0.0.0.0:*\nLISTEN 0 4096 [::]:22 [::]:*",
        os='ID=centos\nVERSION_ID="9"\nPRETTY_NAME="CentOS Stream 9"',
    )  # fmt: skip
    found = statuses(host_findings(small, minor=35))
    assert found == {
        "host.sudo": "fail",
        "host.os": "fail",
        "host.cpus": "fail",
        "host.memory": "fail",
        "host.swap": "warn",
        "host.cgroup": "fail",
        "host.ports": "fail",
    }
    assert statuses(host_findings(small, minor=34))["host.cgroup"] == "warn"
    worker = facts(
        "w1", cpus="1", memory="MemTotal: 1024000 kB", swap="Filename Type\n", sudo="",
        cgroup="cgroup2fs", listening="LISTEN 0 4096 0.0.0.0:6443 0.0.0.0:*",
        os='ID=ubuntu\nVERSION_ID="24.04"\nPRETTY_NAME="Ubuntu 24.04 LTS"',
    )  # fmt: skip
    assert set(statuses(host_findings(worker, minor=35)).values()) == {"ok"}
    assert listening_ports("LISTEN 0 4096 [::1]:10250 [::]:*") == {10250}


def test_identities_must_be_unique_and_clocks_close():
    a = facts("a", hostname="node", macs="00:00:00:00:00:00\n52:54:00:aa", product_uuid="U1")
    b = facts("b", hostname="node", macs="00:00:00:00:00:00\n52:54:00:bb", product_uuid="u1")
    a.offset, b.offset = 0.1, 4.0
    found = cross_host_findings([a, b])
    failures = [f.reason for f in found if f.status == "fail"]
    assert failures == ["same hostname node on a, b", "same product_uuid u1 on a, b"]
    assert statuses(found)["hosts.clock"] == "warn"
    b.offset = 1.0
    assert statuses(cross_host_findings([a, b]))["hosts.clock"] == "ok"


def test_probe_output_is_split_by_marker():
    mark = kubeadm.MARK
    out = f"{mark}os\nID=debian\n{mark}rc=0\n{mark}sudo\nsudo: no\n{mark}rc=1\n"
    assert parse_probes(out) == {"os": (0, "ID=debian"), "sudo": (1, "sudo: no")}
