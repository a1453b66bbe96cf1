"""`hybrid-kube preflight` on kubeadm stacks: real sshd servers on 127.0.0.1, nothing else.

Two session-scoped sshd instances (own config, host keys, authorized keys, pid file, all in a
temporary folder) stand in for hosts: `good`, whose `sudo` works, and `nosudo`, whose `sudo` says
that a password is required (a stub `sudo` first on PATH through sshd's `SetEnv`, since the
tests log in as whoever runs them, where no real sudo may be installed). `ping`, `ip` and `curl`
are stubs on both
(no packet leaves loopback; the addresses and answers they give are TEST-NET-1, 192.0.2.0/24):
on `good` they answer as described at `NETWORK_STUBS`, on `nosudo` they are missing (the
shell's "not found", exit 127). The TCP probes between hosts are real, to the servers' ports on
127.0.0.1. A closed port is a free port nobody listens on. Every server is stopped at the end.
"""

from __future__ import annotations

import base64
import contextlib
import getpass
import json
import os
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
    NetworkPlan,
    Target,
    address_finding,
    answers,
    cross_host_findings,
    fingerprint,
    host_findings,
    listening_ports,
    parse_curl,
    parse_neigh,
    parse_probes,
    pin_host_keys,
    reach_finding,
    run_network,
)
from components.settings.kubeadm import HostSettings, KubeadmSettings
from components.stackfile import PROJECT_ROOT, StackConfig

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


USER = getpass.getuser()
"""The tests log in as whoever runs them (sshd runs as that user too)."""


@contextlib.contextmanager
def closed_port():
    """A port on 127.0.0.1 that refuses connections: bound (so nothing else can take it while
    the test runs, not even another pytest-xdist worker's sshd) but not listening."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_sshd(folder: Path, stubs_text: dict[str, str]) -> tuple[subprocess.Popen, int, str]:
    folder.mkdir()
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / "host_ed25519")],
        check=True,
    )
    stubs = folder / "bin"
    stubs.mkdir()
    for name, text in stubs_text.items():
        (stubs / name).write_text(text, encoding="utf-8")
        (stubs / name).chmod(0o755)
    for _ in range(10):  # another process may take the free port before sshd binds it
        started = _try_sshd(folder, stubs, _free_port())
        if started is not None:
            key = (folder / "host_ed25519.pub").read_text(encoding="utf-8").split()
            return *started, f"{key[0]} {key[1]}"
    raise RuntimeError("sshd found no free port in 10 tries")


def _try_sshd(folder: Path, stubs: Path, port: int) -> tuple[subprocess.Popen, int] | None:
    """sshd on `port`, once it listens: it writes its PidFile only after binding, and exits
    when it cannot bind (None: the port was taken; retry with another)."""
    pid_file, log = folder / "sshd.pid", folder / "sshd.log"
    pid_file.unlink(missing_ok=True)
    (folder / "sshd_config").write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {folder / 'host_ed25519'}\n"
        f"PidFile {pid_file}\nAuthorizedKeysFile {folder.parent / 'authorized_keys'}\n"
        "UsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        f"SetEnv PATH={stubs}:/usr/sbin:/usr/bin:/sbin:/bin\n",
        encoding="utf-8",
    )
    server = subprocess.Popen(
        [SSHD, "-D", "-E", str(log), "-f", str(folder / "sshd_config")],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 5
    while time.time() < deadline:
        if server.poll() is not None:
            text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
            if "Address already in use" in text:
                return None
            raise RuntimeError(f"sshd exited: {text[-500:]}")
        if pid_file.exists() and pid_file.read_text(encoding="utf-8").strip() == str(server.pid):
            return server, port
        time.sleep(0.05)
    server.kill()
    server.wait()
    raise RuntimeError("sshd did not listen within 5s")


GOOD_SUDO = '#!/bin/sh\n[ "$1" = -n ] && shift\nexec "$@"\n'
NO_SUDO = "#!/bin/sh\necho 'sudo: a password is required' >&2\nexit 1\n"
MISSING = '#!/bin/sh\necho "sh: 1: ${0##*/}: not found" >&2\nexit 127\n'
VIP_ANSWERS_PING = "192.0.2.66"
ARP_ONLY = "192.0.2.77"
NETWORK_STUBS = {
    # Nothing is sent anywhere: 192.0.2.66 "answers" ping; 192.0.2.77 answers only ARP (STALE).
    "ping": f"""#!/bin/sh
for a in "$@"; do addr=$a; done
if [ "$addr" = {VIP_ANSWERS_PING} ]; then echo "64 bytes from $addr: icmp_seq=1"; exit 0; fi
echo "1 packets transmitted, 0 received, 100% packet loss"; exit 1
""",
    "ip": f"""#!/bin/sh
[ "$1 $2" = "neigh show" ] || {{ echo "stub ip: unexpected $*" >&2; exit 2; }}
case "$3" in
  {ARP_ONLY}) echo "$3 dev eth0 lladdr 52:54:00:00:00:77 STALE" ;;
  *) echo "$3 dev eth0  FAILED" ;;
esac
""",
    # pkgs.k8s.io does not resolve; the others answer. Any other URL is a test failure.
    "curl": """#!/bin/sh
for a in "$@"; do url=$a; done
case "$url" in
  https://pkgs.k8s.io/core:/stable:/v1.35/deb/Release.key)
    echo "curl: (6) Could not resolve host: pkgs.k8s.io" >&2; printf '000\n'; exit 6 ;;
  https://registry.k8s.io/v2/) printf '401\n' ;;
  https://download.docker.com/linux/debian/gpg|https://download.docker.com/linux/ubuntu/gpg)
    printf '200\n' ;;
  *) echo "stub curl: unexpected $*" >&2; exit 99 ;;
esac
""",
}


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
    servers = []
    try:
        Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory
        found = {"key": root / "client"}
        missing = dict.fromkeys(NETWORK_STUBS, MISSING)
        servers_stubs = (
            ("good", {"sudo": GOOD_SUDO, **NETWORK_STUBS}),
            ("nosudo", {"sudo": NO_SUDO, **missing}),
        )
        for name, stubs in servers_stubs:
            server, port, host_key = _start_sshd(root / name, stubs)
            servers.append(server)
            found[name] = (port, host_key)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as error:
        for server in servers:
            server.kill()
            server.wait()
        pytest.skip(f"cannot start sshd on 127.0.0.1: {error}")
    yield found
    for server in servers:
        server.terminate()
        server.wait(timeout=5)


def project(
    tmp_path: Path,
    hosts: list[dict],
    key: Path,
    port: int,
    cluster: dict | None = None,
    platform: dict | None = None,
    **ssh,
) -> Path:
    """A project folder with one stack `lab` whose hosts are on 127.0.0.1 (`cluster`: more keys
    of `kubeadm`)."""
    (tmp_path / "stacks").mkdir()
    shutil.copy(PROJECT_ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    lines = [
        "# the lab",
        "config:",
        "  hybrid-kube:target: kubeadm",
        '  hybrid-kube:kubernetesVersion: "1.35"',
        "  hybrid-kube:kubeadm:",
        "    ssh:",
        f"      user: {USER}",
        f"      port: {port}",
        f"      privateKeyPath: {key}",
        *(f"      {k}: {json.dumps(v)}" for k, v in ssh.items()),
        "    hosts:  # the machines",
        *(f"      - {json.dumps(h)}  # host {h['name']}" for h in hosts),
        *(f"    {k}: {json.dumps(v)}" for k, v in (cluster or {}).items()),
        f"  hybrid-kube:platform: {json.dumps(platform or {'loadBalancer': False})}",
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
    cpus = len(os.sched_getaffinity(0))  # what nproc prints: the CPUs this process may use
    assert checks["host.cpus"]["reason"].startswith(f"{cpus} CPUs")
    assert {"host.memory", "host.swap", "host.cgroup", "host.ports"} <= set(checks)
    assert f"cp1: connecting to {USER}@127.0.0.1" in err
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
    with closed_port() as port:
        code, findings, _ = preflight(project(tmp_path, [CP], sshd["key"], port), capsys)
    reachable = by_check(findings, "cp1")["ssh.reachable"]
    assert code == 1
    assert reachable["status"] == "fail"
    assert "Connection refused" in reachable["reason"]
    assert "kubeadm.ssh.port" in reachable["fix"]


def test_hosts_behind_a_bastion_go_through_it(sshd, tmp_path, capsys):
    port, _ = sshd["good"]
    jump_port, jump_key = sshd["nosudo"]  # ssh refuses a jump to the same host and port
    bastion = {"host": "127.0.0.1", "user": USER, "port": jump_port}
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


def test_network_checks_run_on_the_host_with_the_fix(sshd, tmp_path, capsys):
    """The bootstrap host checks the VIP and both ends of the MetalLB range and its outbound
    reach; every answer comes from the stubs on the host (nothing leaves loopback)."""
    port, _ = sshd["good"]
    cluster = {
        "controlPlaneEndpoint": VIP_ANSWERS_PING,
        "loadBalancerAddresses": [f"192.0.2.70-{ARP_ONLY}"],
    }
    folder = project(tmp_path, [CP], sshd["key"], port, cluster, {"loadBalancer": True})
    code, findings, err = preflight(folder, capsys)
    checks = by_check(findings, "cp1")
    metallb = [f for f in findings if f["check"] == "addresses.metallb"]
    assert code == 1
    vip = checks["addresses.vip"]
    assert (vip["status"], vip["reason"]) == (
        "fail",
        f"{VIP_ANSWERS_PING} (controlPlaneEndpoint) answers ping from cp1, before the cluster "
        "exists",
    )
    assert "controlPlaneEndpoint a free address" in vip["fix"]
    assert [(f["status"], f["reason"].split(" (")[0]) for f in metallb] == [
        ("ok", "192.0.2.70"),
        ("warn", ARP_ONLY),
    ]
    assert "answers ARP though not ping (ip neigh: 52:54:00:00:00:77 STALE)" in metallb[1]["reason"]
    outbound = checks["host.outbound"]
    assert outbound["status"] == "warn"
    assert outbound["reason"].startswith(
        "cannot reach https://pkgs.k8s.io/core:/stable:/v1.35/deb/Release.key "
        "(curl: (6) Could not resolve host: pkgs.k8s.io); reaches "
    )
    assert "registry.k8s.io (HTTP 401)" in outbound["reason"]
    os_id = re.search(r"^ID=(.*)$", Path("/etc/os-release").read_text(), re.M).group(1)
    docker = "download.docker.com (HTTP 200)" in outbound["reason"]
    assert docker == (os_id.strip('"') in ("debian", "ubuntu"))
    assert "fix its DNS" in outbound["fix"]
    assert "hosts.reach" not in checks  # a single host has no peers
    assert "cp1: checking the network (" in err


def test_missing_curl_and_ping_are_warnings_not_failures(sshd, tmp_path, capsys):
    port, _ = sshd["nosudo"]  # its curl, ping and ip are "not found"
    cluster = {"controlPlaneEndpoint": VIP_ANSWERS_PING}
    _, findings, _ = preflight(project(tmp_path, [CP], sshd["key"], port, cluster), capsys)
    checks = by_check(findings, "cp1")
    assert checks["host.outbound"]["status"] == "warn"
    assert checks["host.outbound"]["reason"] == "not checked (no curl)"
    assert "installs curl" in checks["host.outbound"]["fix"]
    vip = checks["addresses.vip"]
    assert vip["status"] == "warn"
    assert "not checked (no ping) on cp1" in vip["reason"]
    assert "addresses.metallb" not in checks  # platform.loadBalancer is off


def test_hosts_open_tcp_to_their_peers_on_loopback(sshd, tmp_path):
    """The probe a host runs against its peers, against the fixture servers' real ports: the
    other server's port opens; a free port is refused."""
    port, _ = sshd["good"]
    other, _ = sshd["nosudo"]
    settings = KubeadmSettings.model_validate(
        {"ssh": {"user": USER, "port": port, "privateKeyPath": str(sshd["key"])}, "hosts": [CP]}
    )
    host = settings.hosts[0]
    item = kubeadm._check_host(settings, host, tmp_path, sshd["key"], 35, lambda _: None)
    assert item.probes  # logged in; the session's known_hosts and config stay for the next one
    config = tmp_path / "cp1" / "ssh_config"
    with closed_port() as closed:
        targets = [
            Target("self", "127.0.0.1", port, "SSH", False),
            Target("peer", "127.0.0.1", other, "SSH", False),
            Target("peer", "127.0.0.1", closed, "kubelet", True),
        ]
        probes, problems = run_network(settings, host, config, NetworkPlan(targets=targets))
    assert problems == []
    found = reach_finding("cp1", targets, probes)
    assert found.status == "fail"  # a node's kubelet port
    assert found.reason == (
        f"cannot open TCP to peer 127.0.0.1:{closed} (kubelet): connection refused (nothing "
        "listens, or a firewall rejects it)"
    )
    assert "Ports and firewall" in found.fix
    opened = reach_finding("cp1", targets[:2], probes)
    assert (opened.status, opened.reason) == ("ok", f"opens TCP to self:{port}, peer:{other}")
    ssh_only = reach_finding("cp1", [Target("peer", "127.0.0.1", closed, "SSH", False)], probes)
    assert ssh_only.status == "warn"
    assert "does not need SSH between the hosts" in ssh_only.fix


# -- the stack-file edit ---------------------------------------------------------------------------


def ed25519(n: int) -> str:
    """A well-formed ed25519 public key ('ssh-ed25519 AAAA...'), different for each `n`."""
    blob = b"\0\0\0\x0bssh-ed25519\0\0\0\x20" + bytes([n]) * 32
    return f"ssh-ed25519 {base64.b64encode(blob).decode()}"


W1_KEY = ed25519(1)
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
      - {name: w1, address: 10.0.0.21, role: worker, hostKey: "W1_KEY"}
      - name: w2
        address: 10.0.0.22
        role: worker
    cni: calico
""".replace("W1_KEY", W1_KEY)


def test_pin_host_keys_edits_block_and_flow_entries_textually(tmp_path):
    path = tmp_path / "Pulumi.lab.yaml"
    path.write_text(BLOCK_STACK, encoding="utf-8")
    keys = {"cp1": ed25519(2), "w1": W1_KEY, "w2": ed25519(3), kubeadm.BASTION: ed25519(4)}
    assert sorted(pin_host_keys(path, keys)) == sorted(["cp1", "w2", kubeadm.BASTION])
    text = path.read_text(encoding="utf-8")
    for comment in ("# the jump host", "# control plane", "# first"):
        assert comment in text
    data = yaml.safe_load(text)["config"]["hybrid-kube:kubeadm"]
    assert [h.get("hostKey") for h in data["hosts"]] == [ed25519(2), W1_KEY, ed25519(3)]
    assert data["ssh"]["bastion"]["hostKey"] == ed25519(4)
    assert pin_host_keys(path, keys) == []  # idempotent


@pytest.mark.parametrize("name", ["w1", kubeadm.BASTION])
def test_pin_host_keys_never_replaces_a_pinned_key(tmp_path, name):
    """A pinned key that differs from the one that answered is refused, for every host and the
    bastion alike: nothing is written, not even the other hosts' new keys."""
    path = tmp_path / "Pulumi.lab.yaml"
    text = BLOCK_STACK.replace("host: 10.0.0.1 ", f'host: 10.0.0.1, hostKey: "{ed25519(9)}"')
    text = text.replace("host: 10.0.0.1,", "{host: 10.0.0.1,").replace("  # the jump", "}  # the")
    path.write_text(text, encoding="utf-8")
    assert yaml.safe_load(text)["config"]["hybrid-kube:kubeadm"]["ssh"]["bastion"]["hostKey"]
    keys = {"cp1": ed25519(2), "w1": W1_KEY, kubeadm.BASTION: ed25519(9), name: ed25519(5)}
    with pytest.raises(kubeadm.PinError, match=f"pinned hostKey of {re.escape(name)} differs"):
        pin_host_keys(path, keys)
    assert path.read_text(encoding="utf-8") == text
    keys[name] = W1_KEY if name == "w1" else ed25519(9)  # unchanged pins are fine
    assert pin_host_keys(path, keys) == ["cp1"]


def test_pin_host_keys_keeps_crlf_and_the_mode_and_replaces_atomically(tmp_path, monkeypatch):
    (tmp_path / "stacks").mkdir()
    path = tmp_path / "stacks" / "Pulumi.lab.yaml"
    text = BLOCK_STACK.replace("\n", "\r\n")
    path.write_bytes(text.encode())
    path.chmod(0o640)
    keys = {"cp1": ed25519(2), "w2": ed25519(3)}
    with monkeypatch.context() as patch:  # a crash at the rename: the old file, no temp file
        patch.setattr(os, "replace", lambda *_: (_ for _ in ()).throw(OSError("disk gone")))
        with pytest.raises(OSError, match="disk gone"):
            pin_host_keys(path, keys)
    assert path.read_bytes() == text.encode()
    assert os.listdir(path.parent) == [path.name]
    assert pin_host_keys(path, keys) == ["cp1", "w2"]
    written = path.read_bytes()
    assert written.count(b"\n") == written.count(b"\r\n") == text.count("\n") + 2
    assert oct(path.stat().st_mode & 0o777) == oct(0o640)
    assert os.listdir(path.parent) == [path.name]
    data = yaml.safe_load(written)["config"]["hybrid-kube:kubeadm"]
    assert [h.get("hostKey") for h in data["hosts"]] == [ed25519(2), W1_KEY, ed25519(3)]


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
ALLOWED_SHAPES = {
    # bash's TCP connect: `:` (does nothing) with its stdin opened from /dev/tcp, which only
    # connects; `timeout` ends it. This exact shape is the one use of `bash` and `<` allowed.
    "tcp": re.compile(r"timeout 3 bash -c ': </dev/tcp/[0-9a-f.:]+/[0-9]+'"),
}
CURL_WRITES = re.compile(
    r"\s-[A-Za-z]*[OTXdFKDc]\b|-o (?!/dev/null )|--(output|remote-name|upload-file|data|form|"
    r"request|config|dump-header|cookie-jar|trace|stderr|json)"
)
"""curl flags that write a file, upload or send data (`-o /dev/null` is the only output)."""
SAMPLE = {"url": "https://registry.k8s.io/v2/", "address": "192.0.2.1", "port": 22}


def _filled(name: str, command: str) -> str:
    values = {k: v for k, v in SAMPLE.items() if "{" + k + "}" in command.replace("%{", "")}
    return kubeadm.probe(name, "x", **values)[1]


def test_every_remote_command_only_reads():
    assert len({name for name, _ in PROBES}) == len(PROBES)
    for name, template in PROBES:
        command = _filled(name, template)
        shape = ALLOWED_SHAPES.get(name)
        if shape is not None:
            assert shape.fullmatch(command), (name, command)
            command = shape.sub("", command)
        assert not FORBIDDEN.search(command), (name, command)
        if command.startswith("curl "):
            assert not CURL_WRITES.search(command.replace("-w '%{http_code}\\n'", "")), command
        if command.startswith("ip "):
            assert command.startswith("ip neigh show "), command


def _segments(remote: str) -> list[tuple[str, str]]:
    """A script -> its (name, command) pairs; fails unless it is the probes plus the glue."""
    mark = re.escape(kubeadm.MARK)
    step = re.compile(rf"echo '{mark}([\w.:-]+)'; (.+?) 2>&1; echo \"{mark}rc=\$\?\";( |$)")
    assert remote.startswith("export LC_ALL=C; ")
    rest, found = remote.removeprefix("export LC_ALL=C; "), []
    while rest:
        match = step.match(rest)
        assert match, rest[:200]
        found.append((match.group(1), match.group(2)))
        rest = rest[match.end() :]
    return found


def _template_pattern(template: str) -> re.Pattern:
    pattern = re.escape(template)
    for key, value in (("url", r"https://\S+"), ("address", r"[0-9a-f.:]+"), ("port", r"\d+")):
        pattern = pattern.replace(re.escape("{" + key + "}"), value)
    return re.compile(pattern)


def test_every_script_is_the_probes_and_nothing_else():
    """The scripts the sessions run are built from `PROBES` only, with checked values."""
    templates = dict(PROBES)
    plan = NetworkPlan(
        urls=kubeadm.outbound_urls("1.35", "ubuntu"),
        addresses=[kubeadm.Address("192.0.2.9", "vip", "controlPlaneEndpoint")],
        targets=[Target("cp2", "192.0.2.12", 6443, "kube-apiserver", True)],
    )
    for remote in (REMOTE_SCRIPT, kubeadm.script(plan.probes())):
        for tag, command in _segments(remote):
            name = tag.split(":")[0]
            assert _template_pattern(templates[name]).fullmatch(command), (tag, command)
    assert {n for n, _ in _segments(REMOTE_SCRIPT)} == {
        n for n, _ in PROBES if n not in kubeadm.NETWORK_PROBES
    }
    for bad in ({"address": "192.0.2.1; reboot"}, {"address": "$(id)"}, {"port": 0}):
        with pytest.raises(ValueError):
            kubeadm.probe("tcp", "x", **{**{"address": "192.0.2.1", "port": 22}, **bad})
    with pytest.raises(ValueError, match="OUTBOUND_URLS"):
        kubeadm.probe("outbound", "x", url="https://example.com/")
    with pytest.raises(ValueError, match="unfilled"):
        kubeadm.probe("ping", "x")


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
    a = facts("a", hostname="node", macs=CALICO_MACS.format(n=1), product_uuid="U1")
    b = facts("b", hostname="node", macs=CALICO_MACS.format(n=2), product_uuid="u1")
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


# -- the network checks' parsing -------------------------------------------------------------------


def test_curl_output_is_read_as_an_http_answer_or_the_error():
    assert parse_curl(0, "404") == ("404", "")  # any HTTP answer proves the reach
    resolve = "curl: (6) Could not resolve host: pkgs.k8s.io\n000"
    assert parse_curl(6, resolve) == (None, "curl: (6) Could not resolve host: pkgs.k8s.io")
    assert parse_curl(28, "000\ncurl: (28) Connection timed out after 5001 ms")[0] is None
    assert parse_curl(7, "000") == (None, "exit code 7")
    urls = kubeadm.outbound_urls("1.34", "debian")
    assert [u for _, u in urls] == [
        "https://pkgs.k8s.io/core:/stable:/v1.34/deb/Release.key",
        "https://download.docker.com/linux/debian/gpg",
        "https://registry.k8s.io/v2/",
    ]
    assert len(kubeadm.outbound_urls("1.34", "centos")) == 2  # prepare.sh refuses it anyway
    probes = {
        "outbound:pkgs.k8s.io": (0, "403"),
        "outbound:download.docker.com": (28, "curl: (28) Connection timed out\n000"),
        "outbound:registry.k8s.io": (60, "curl: (60) SSL certificate problem\n000"),
    }
    found = kubeadm.outbound_finding("w1", urls, probes)
    assert found.status == "warn"
    assert "reaches pkgs.k8s.io (HTTP 403)" in found.reason
    assert "TCP 443" in found.fix and "CA certificate" in found.fix
    probes = {f"outbound:{label}": (0, "200") for label, _ in urls}
    assert kubeadm.outbound_finding("w1", urls, probes).status == "ok"


def test_ping_and_the_arp_table_tell_whether_an_address_answers():
    assert parse_neigh("192.0.2.5 dev eth0 lladdr 52:54:00:ab:cd:ef REACHABLE") == (
        "52:54:00:ab:cd:ef",
        "REACHABLE",
    )
    assert parse_neigh("192.0.2.5 dev eth0 lladdr 52:54:00:ab:cd:ef router STALE")[1] == "STALE"
    for silent in ("", "192.0.2.5 dev eth0  FAILED", "192.0.2.5 dev eth0  INCOMPLETE"):
        assert parse_neigh(silent) is None
    a = "192.0.2.5"
    loss = (1, "1 packets transmitted, 0 received, 100% packet loss")
    arp = (0, f"{a} dev eth0 lladdr 52:54:00:ab:cd:ef REACHABLE")
    assert answers(a, {f"ping:{a}": (0, "64 bytes"), f"neigh:{a}": (0, "")})[0] is True
    assert answers(a, {f"ping:{a}": loss, f"neigh:{a}": arp})[0] is True
    assert answers(a, {f"ping:{a}": loss, f"neigh:{a}": (0, "")}) == (
        False,
        "no answer to ping or ARP",
    )
    assert answers(a, {f"ping:{a}": (127, "not found"), f"neigh:{a}": arp})[0] is None


def test_the_vip_may_answer_only_once_the_cluster_exists():
    a = "192.0.2.5"
    vip = kubeadm.Address(a, "vip", "controlPlaneEndpoint")
    lb = kubeadm.Address(a, "metallb", "loadBalancerAddresses[0] 192.0.2.5/32, only address")
    answering = {f"ping:{a}": (0, "64 bytes"), f"neigh:{a}": (0, "")}
    silent = {f"ping:{a}": (1, ""), f"neigh:{a}": (0, "")}
    assert address_finding("cp1", vip, False, answering).status == "fail"
    assert address_finding("cp1", vip, True, answering).status == "ok"  # kube-vip itself
    assert address_finding("cp1", vip, False, silent).status == "ok"
    assert address_finding("cp1", vip, True, silent).status == "warn"  # kube-vip not holding it
    assert address_finding("cp1", lb, False, answering).status == "warn"
    assert "perhaps a Service" in address_finding("cp1", lb, True, answering).reason
    assert address_finding("cp1", lb, False, silent).status == "ok"


def test_tcp_results_and_which_ports_are_tried():
    assert kubeadm.parse_tcp(0, "") is None
    assert "no answer within 3s" in kubeadm.parse_tcp(124, "")
    refused = "bash: connect: Connection refused\nbash: line 1: /dev/tcp/192.0.2.1/1: Connection"
    assert kubeadm.parse_tcp(1, refused).startswith("connection refused")
    missing = {"tcp:w1:22": (127, "timeout: not found")}
    ssh = [Target("w1", "192.0.2.2", 22, "SSH", False)]
    assert "not checked" in reach_finding("cp1", ssh, missing).reason
    settings = KubeadmSettings.model_validate(
        {
            "hosts": [
                {"name": "cp1", "address": "192.0.2.11", "role": "control-plane"},
                {"name": "cp2", "address": "192.0.2.12", "role": "control-plane"},
                {"name": "cp3", "address": "192.0.2.13", "role": "control-plane"},
                {"name": "w1", "address": "192.0.2.21", "role": "worker"},
            ],
            "controlPlaneEndpoint": "192.0.2.10",
        }
    )
    node = {"node": (0, "")}
    known = {"cp1": facts("cp1", "control-plane"), "w1": facts("w1")}
    known["cp1"].probes, known["w1"].probes = node, node  # cp1 and w1 are nodes; cp2 is new
    cp2 = next(h for h in settings.hosts if h.name == "cp2")
    assert [t.tag for t in kubeadm.peer_targets(settings, cp2, known)] == [
        "cp1:22", "cp1:6443", "cp1:10250", "cp3:22", "w1:22", "w1:10250",
    ]  # fmt: skip


def test_network_plans_probe_addresses_from_the_bootstrap_host_only():
    from components.settings import load_settings

    hosts = [
        {"name": "cp1", "address": "192.0.2.11", "role": "control-plane"},
        {"name": "w1", "address": "192.0.2.21", "role": "worker"},
    ]
    raw = {
        "target": "kubeadm",
        "kubernetesVersion": "1.35",
        "kubeadm": {
            "hosts": hosts,
            "controlPlaneEndpoint": "192.0.2.10",
            "loadBalancerAddresses": ["192.0.2.200/30"],
        },
        "platform": {"loadBalancer": True},
    }
    settings = load_settings(raw, {})
    cp1 = facts("cp1", "control-plane", os='ID=ubuntu\nVERSION_ID="24.04"')
    w1 = facts("w1", os='ID=debian\nVERSION_ID="12"')
    plans = kubeadm.network_plans(settings, [cp1, w1, facts("w2")])
    assert [a.address for a in plans["cp1"].addresses] == [
        "192.0.2.10",
        "192.0.2.200",
        "192.0.2.203",
    ]
    assert plans["w1"].addresses == []
    assert "https://download.docker.com/linux/debian/gpg" in dict(plans["w1"].urls).values()
    assert set(plans) == {"cp1", "w1"}  # w2 did not answer: no network session
    assert [t.tag for t in plans["w1"].targets] == ["cp1:22"]
    off = load_settings({**raw, "platform": {"loadBalancer": False}}, {})
    assert [a.kind for a in kubeadm.address_checks(off)] == ["vip"]
    assert plans["cp1"].timeout() > kubeadm.SESSION_TIMEOUT + 6 * 3


# -- review fixes: no ssh, pulumi prompts, bastion keys, Calico MACs -------------------------------


def test_no_ssh_client_is_one_finding_with_the_fix(tmp_path, capsys, monkeypatch):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    (tmp_path / "id").touch()
    folder = project(tmp_path, [CP], tmp_path / "id", 22)
    code, findings, _ = preflight(folder, capsys)
    assert code == 1
    assert [(f["check"], f["status"]) for f in findings] == [("ssh.client", "fail")]
    assert "install the OpenSSH client" in findings[0]["fix"]


def _pulumi_stub(tmp_path: Path, monkeypatch, body: str) -> tuple[KubeadmSettings, StackConfig]:
    """A `pulumi` on PATH running `body`, and a stack whose sshPrivateKey is encrypted."""
    folder = tmp_path / "pulumi-bin"
    folder.mkdir()
    (folder / "pulumi").write_text(body, encoding="utf-8")
    (folder / "pulumi").chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")
    settings = KubeadmSettings.model_validate({"hosts": [CP]})
    stack = StackConfig("hybrid-kube", "lab", encrypted=["hybrid-kube:sshPrivateKey"])
    return settings, stack


PROMPT = "Enter your passphrase to unlock config/secrets"


@pytest.mark.parametrize(
    "body, said",
    [
        # waits for an answer that never comes (stdin is not /dev/null, or it ignores EOF)
        (f"#!/bin/sh\necho '{PROMPT}'\nsleep 5\n", "did not finish within 1s"),
        # prompts into the captured stdout, reads EOF, and exits 0 with the prompt as "the key"
        (f"#!/bin/sh\necho '{PROMPT}'\nread -r answer\necho \"$answer\"\n", "not a PEM"),
        ("#!/nonexistent/interpreter\n", "did not run"),
        ("#!/bin/sh\necho 'error: passphrase must be set' >&2\nexit 255\n", "must be set"),
    ],
)
def test_pulumi_config_get_never_hangs_and_never_writes_or_shows_a_non_key(
    tmp_path, monkeypatch, body, said
):
    settings, stack = _pulumi_stub(tmp_path, monkeypatch, body)
    monkeypatch.setattr(kubeadm, "PULUMI_TIMEOUT", 1)
    started = time.time()
    path, findings = kubeadm._private_key(settings, stack, tmp_path, tmp_path)
    assert time.time() - started < 4
    assert path is None  # the SSH agent, as without sshPrivateKey
    assert not (tmp_path / "id").exists()
    ((check, status, reason, fix),) = [(f.check, f.status, f.reason, f.fix) for f in findings]
    assert (check, status) == ("ssh.key", "fail")
    assert said in reason and PROMPT not in reason
    assert "PULUMI_CONFIG_PASSPHRASE" in fix and "privateKeyPath" in fix and "ssh-add" in fix


def test_a_key_from_pulumi_config_get_logs_in(sshd, tmp_path, monkeypatch):
    key = sshd["key"].read_text(encoding="utf-8")
    _, stack = _pulumi_stub(tmp_path, monkeypatch, f"#!/bin/sh\ncat <<'EOF'\n{key}EOF\n")
    port, _ = sshd["good"]
    settings = KubeadmSettings.model_validate({"ssh": {"user": USER, "port": port}, "hosts": [CP]})
    path, findings = kubeadm._private_key(settings, stack, tmp_path, tmp_path)
    assert (findings, path) == ([], tmp_path / "id")
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)
    item = kubeadm._check_host(settings, settings.hosts[0], tmp_path, path, 35, lambda _: None)
    assert item.findings[0].status == "ok", item.findings


def test_a_changed_bastion_key_is_blamed_on_the_bastion(sshd, tmp_path, capsys):
    port, host_key = sshd["good"]
    jump_port, jump_key = sshd["nosudo"]
    wrong = {"host": "127.0.0.1", "user": USER, "port": jump_port, "hostKey": host_key}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    folder = project(tmp_path / "a", [CP], sshd["key"], port, bastion=wrong)
    code, findings, _ = preflight(folder, capsys)
    assert code == 1
    bastion = by_check(findings, "bastion")["ssh.host_key"]
    assert bastion["status"] == "fail"
    assert f"the bastion at 127.0.0.1:{jump_port} does not present" in bastion["reason"]
    assert f"it sent {fingerprint(jump_key)}" in bastion["reason"]
    assert "kubeadm.ssh.bastion.hostKey" in bastion["fix"]
    cp1 = by_check(findings, "cp1")
    assert "ssh.host_key" not in cp1  # cp1's key was never asked for
    assert cp1["ssh.reachable"]["reason"].startswith("not reached: the bastion")
    # the bastion pinned right, the host wrong: the host is blamed, the bastion is fine
    right = {**wrong, "hostKey": jump_key}
    host = {**CP, "hostKey": jump_key}
    folder = project(tmp_path / "b", [host], sshd["key"], port, bastion=right)
    code, findings, _ = preflight(folder, capsys)
    assert by_check(findings, "bastion")["ssh.host_key"]["status"] == "ok"
    assert by_check(findings, "cp1")["ssh.host_key"]["status"] == "fail"
    assert f"it sent {fingerprint(host_key)}" in by_check(findings, "cp1")["ssh.host_key"]["reason"]


def test_changed_host_key_reads_the_name_and_fingerprint_from_ssh():
    stderr = (
        "The fingerprint for the ED25519 key sent by the remote host is\n"
        "SHA256:cqX4lkLCLeS7ztUrNmln4yoH8lBi+m1CdE6Ly18IoZ0.\n"
        'ssh-keygen -f "/tmp/kh" -R "[10.0.0.1]:2222"\n'
        "Host key for [10.0.0.1]:2222 has changed and you have requested strict checking.\n"
        "Host key verification failed.\n"
    )
    assert kubeadm.changed_host_key(stderr) == (
        "[10.0.0.1]:2222",
        "SHA256:cqX4lkLCLeS7ztUrNmln4yoH8lBi+m1CdE6Ly18IoZ0",
    )
    assert kubeadm.changed_host_key("Host key verification failed.\n") == (None, None)


CALICO_MACS = """\
/sys/class/net/cali1a2b/addr_assign_type:3
/sys/class/net/eth0/addr_assign_type:0
/sys/class/net/lo/addr_assign_type:0
/sys/class/net/vxlan.calico/addr_assign_type:1
/sys/class/net/cali1a2b/address:ee:ee:ee:ee:ee:ee
/sys/class/net/eth0/address:52:54:00:AA:00:0{n}
/sys/class/net/lo/address:00:00:00:00:00:00
/sys/class/net/vxlan.calico/address:66:1f:00:00:00:01"""


def test_only_permanent_mac_addresses_must_be_unique():
    """Calico gives every cali* veth ee:ee:ee:ee:ee:ee on every node: not a clash. grep's exit
    code 2 (a file it could not read) still counts the lines it printed."""
    a = facts("a", hostname="a", product_uuid="U1")
    b = facts("b", hostname="b", product_uuid="U2")
    a.probes["macs"] = (0, CALICO_MACS.format(n=1))
    b.probes["macs"] = (2, CALICO_MACS.format(n=2))
    assert kubeadm.permanent_macs(a.probes["macs"][1]) == ["52:54:00:aa:00:01"]
    assert [f.status for f in cross_host_findings([a, b])] == ["ok", "ok", "ok"]
    b.probes["macs"] = (2, CALICO_MACS.format(n=1))  # a cloned VM's NIC
    (clash,) = [f for f in cross_host_findings([a, b]) if f.status == "fail"]
    assert clash.reason == "same MAC address 52:54:00:aa:00:01 on a, b"


def test_the_mac_probe_reads_this_machines_permanent_addresses(sshd, tmp_path):
    port, _ = sshd["good"]
    settings = KubeadmSettings.model_validate(
        {"ssh": {"user": USER, "port": port, "privateKeyPath": str(sshd["key"])}, "hosts": [CP]}
    )
    item = kubeadm._check_host(settings, settings.hosts[0], tmp_path, sshd["key"], 35, print)
    expected = []
    for device in Path("/sys/class/net").iterdir():
        with contextlib.suppress(OSError):
            kind = (device / "addr_assign_type").read_text().strip()
            address = (device / "address").read_text().strip()
            if device.name != "lo" and kind == "0" and address.strip("0:"):
                expected.append(address)
    assert kubeadm.permanent_macs(item.probes["macs"][1]) == sorted(expected)
