"""Preflight of a kubeadm stack: every host over SSH, in parallel, with the stack's own settings.

One SSH session per host runs `REMOTE_SCRIPT`, built only from the read-only commands in `PROBES`
(tests/test_preflight_kubeadm.py asserts that nothing in it can change a host). The system OpenSSH
client does the connecting, with a generated `ssh_config` (BatchMode, ConnectTimeout, ProxyJump
for the bastion) and a generated known_hosts file per host: a pinned `hostKey` is the only key
accepted for its host; an unpinned host's key is accepted on first use and shown, so that it can
be compared and pinned (`--pin-host-keys`). No traffic goes from this machine anywhere but the
stack's hosts (and bastion): the network probes run on the hosts, in a second session per host
once every host's facts are in (`NetworkPlan`).

What is checked, per host: reachable and authenticated; host key (pinned, matching); `sudo -n
true`; the OS prepare.sh supports; CPUs and memory against kubeadm's minimums; swap; cgroup v2;
the ports the cluster needs are free; outbound HTTPS to `OUTBOUND_URLS`; TCP to the other hosts
(SSH port; 6443 and 10250 where the peer is a node). From the bootstrap control plane: the
kube-vip VIP and the ends of each MetalLB range do not answer yet. Across the hosts: hostname,
MAC addresses and product_uuid unique; clocks within `MAX_SKEW_SECONDS` of each other.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import ipaddress
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..settings import NAMESPACE, Settings
from ..settings.kubeadm import HostSettings, KubeadmSettings
from ..stackfile import PROJECT_ROOT, StackConfig
from . import Finding, Progress

# -- what runs on the hosts ------------------------------------------------------------------------

PROBES: tuple[tuple[str, str], ...] = (
    ("time", "date +%s.%N"),
    ("sudo", "sudo -n true"),
    ("os", "cat /etc/os-release"),
    ("cpus", "nproc"),
    ("memory", "grep MemTotal /proc/meminfo"),
    ("swap", "cat /proc/swaps"),
    ("cgroup", "stat -fc %T /sys/fs/cgroup"),
    ("hostname", "hostname"),
    ("macs", "grep -sH . /sys/class/net/*/addr_assign_type /sys/class/net/*/address"),
    ("product_uuid", "sudo -n cat /sys/class/dmi/id/product_uuid"),
    ("node", "test -e /etc/kubernetes/kubelet.conf"),
    ("listening", "ss -Hltn"),
    # The network probes (a second session, once every host's facts are in): templates whose
    # `{url}`, `{address}` and `{port}` only `probe()` fills, with validated, quoted values.
    ("outbound", "curl -sS -o /dev/null -w '%{http_code}\\n' --max-time 5 {url}"),
    ("ping", "ping -c1 -W1 {address}"),
    ("neigh", "ip neigh show {address}"),
    ("tcp", "timeout 3 bash -c ': </dev/tcp/{address}/{port}'"),
)
"""Every command preflight runs on a host, by name: each only reads. Their output is separated by
`MARK` lines; `2>&1` is the only redirection (stderr into the same stream). `tcp` opens (and at
once closes) a TCP connection: `: </dev/tcp/...` is bash's connect, reading nothing."""

NETWORK_PROBES = ("outbound", "ping", "neigh", "tcp")
PROBE_SECONDS = {"outbound": 6, "ping": 2, "neigh": 1, "tcp": 4}
"""Each network probe's worst case (curl --max-time 5, ping -W1, timeout 3), for the session's
timeout."""
OUTBOUND_URLS = (
    ("pkgs.k8s.io", "https://pkgs.k8s.io/core:/stable:/v{minor}/deb/Release.key"),
    ("download.docker.com", "https://download.docker.com/linux/{os_id}/gpg"),
    ("registry.k8s.io", "https://registry.k8s.io/v2/"),
)
"""What prepare.sh fetches (lib.sh use_kubernetes_repo, prepare.sh install_containerd_package) and
where kubeadm pulls the control-plane images from (its default imageRepository). Any HTTP answer
proves the reach; `{minor}` is the stack's ("1.35"), `{os_id}` the host's (`ID` of os-release)."""

MARK = "@@hybrid-kube-preflight@@"
_PLACEHOLDER = re.compile(r"(?<!%)\{(url|address|port)\}")
_TAG = re.compile(r"^[A-Za-z0-9_.:-]+$")


def script(probes: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> str:
    """The one shell line a session runs: each command between `MARK` lines, nothing else."""
    for name, _ in probes:
        assert _TAG.match(name), name
    return "export LC_ALL=C; " + " ".join(
        f"echo '{MARK}{name}'; {command} 2>&1; echo \"{MARK}rc=$?\";" for name, command in probes
    )


REMOTE_SCRIPT = script([(n, c) for n, c in PROBES if n not in NETWORK_PROBES])


def probe(name: str, tag: str, **values: str | int) -> tuple[str, str]:
    """(`name:tag`, the `PROBES` template `name` filled with `values`), each value validated:
    `address` an IP address, `port` 1-65535, `url` one of `OUTBOUND_URLS`; quoted with shlex."""
    command = dict(PROBES)[name]
    for key, value in values.items():
        if key == "address":
            text = shlex.quote(str(ipaddress.ip_address(str(value))))
        elif key == "port":
            if not (isinstance(value, int) and 1 <= value <= 65535):
                raise ValueError(f"port {value!r} is not 1-65535")
            text = str(value)
        elif key == "url":
            if not any(re.fullmatch(_url_pattern(u), str(value)) for _, u in OUTBOUND_URLS):
                raise ValueError(f"{value!r} is not one of OUTBOUND_URLS")
            text = shlex.quote(str(value))
        else:
            raise ValueError(f"no placeholder {key!r}")
        command = command.replace("{" + key + "}", text)
    if _PLACEHOLDER.search(command):
        raise ValueError(f"{name}: unfilled {command!r}")
    return f"{name}:{tag}", command


def _url_pattern(template: str) -> str:
    return (
        re.escape(template)
        .replace(re.escape("{minor}"), r"1\.\d{1,3}")
        .replace(re.escape("{os_id}"), "(ubuntu|debian)")
    )


# -- what the checks compare against ---------------------------------------------------------------

SUPPORTED_OS = {("ubuntu", "22.04"), ("ubuntu", "24.04"), ("debian", "12")}
"""prepare.sh's `check_os` (a test keeps the two in step)."""
SUPPORTED_OS_TEXT = "Ubuntu 22.04/24.04, Debian 12"
CONTROL_PLANE_CPUS, CONTROL_PLANE_MEMORY_MIB = 2, 1700  # kubeadm's ControlPlaneNumCPU/-Mem
WORKER_CPUS = 1
FAIL_CGROUP_V1_FROM = 35  # prepare.sh: the kubelet refuses cgroup v1 from 1.35 (failCgroupV1)
CONTROL_PLANE_PORTS = (6443, 2379, 2380, 10250, 10257, 10259)
WORKER_PORTS = (10250,)
MAX_SKEW_SECONDS = 2.0
CONNECT_TIMEOUT = 5
SESSION_TIMEOUT = 30
SSH_FAILURES = (
    ("Host key verification failed", "host key"),
    ("REMOTE HOST IDENTIFICATION HAS CHANGED", "host key"),
    ("Permission denied", "auth"),
    ("Connection refused", "refused"),
    ("timed out", "timeout"),
    ("No route to host", "route"),
    ("Could not resolve", "resolve"),
)


@dataclass
class HostFacts:
    """What one SSH session found on one host (`probes`: name -> (exit code, output))."""

    host: HostSettings
    findings: list[Finding] = field(default_factory=list)
    probes: dict[str, tuple[int, str]] = field(default_factory=dict)
    key: str | None = None
    """The host key the session was accepted with: 'ssh-ed25519 AAAA...'."""
    bastion_key: str | None = None
    bastion_changed: str | None = None
    """The fingerprint ssh saw at the bastion when it was not the pinned hostKey."""
    offset: float | None = None
    """This host's clock minus this machine's, in seconds."""

    def output(self, name: str) -> str | None:
        code, text = self.probes.get(name, (1, ""))
        return text if code == 0 else None


def run(
    settings: Settings, stack: StackConfig, progress: Progress, root: Path = PROJECT_ROOT
) -> list[Finding]:
    """Every check against every host of `settings.kubeadm`, the hosts in parallel."""
    return collect(settings, stack, progress, root)[0]


def collect(
    settings: Settings, stack: StackConfig, progress: Progress, root: Path = PROJECT_ROOT
) -> tuple[list[Finding], dict[str, str]]:
    """The findings, and the host keys the sessions were accepted with, by host name (and
    `BASTION` for the bastion's), for `--pin-host-keys`."""
    kubeadm = settings.kubeadm
    assert kubeadm is not None
    if shutil.which("ssh") is None:
        return [
            Finding(
                "ssh.client", "ssh", "fail", "no `ssh` on PATH: no host was checked",
                "install the OpenSSH client (Debian/Ubuntu: `sudo apt-get install "
                "openssh-client`; macOS and Windows ship it) and run preflight again",
            )
        ], {}  # fmt: skip
    findings: list[Finding] = []
    with tempfile.TemporaryDirectory(prefix="hybrid-kube-preflight-") as work:
        key_file, key_findings = _private_key(kubeadm, stack, Path(work), root)
        findings += key_findings
        minor = int(settings.kubernetes_minor.split(".")[1])
        with ThreadPoolExecutor(max_workers=min(8, len(kubeadm.hosts))) as pool:
            facts = list(
                pool.map(
                    lambda h: _check_host(kubeadm, h, Path(work), key_file, minor, progress),
                    sorted(kubeadm.hosts, key=lambda h: h.name),
                )
            )
        findings_by_host = _network(settings, facts, Path(work), progress)
    keys = {f.host.name: f.key for f in facts if f.key}
    bastion = next((f.bastion_key for f in facts if f.bastion_key), None)
    changed = next((f.bastion_changed for f in facts if f.bastion_changed), None)
    if kubeadm.ssh.bastion is not None:
        findings.append(_bastion_finding(kubeadm, bastion, changed))
        if bastion:
            keys[BASTION] = bastion
    for item in facts:
        findings += item.findings + findings_by_host.get(item.host.name, [])
    findings += cross_host_findings(facts)
    return findings, keys


def _network(
    settings: Settings, facts: list[HostFacts], work: Path, progress: Progress
) -> dict[str, list[Finding]]:
    """The network sessions of the hosts that answered, in parallel: findings by host name."""
    kubeadm = settings.kubeadm
    assert kubeadm is not None
    plans = network_plans(settings, facts)
    answered = [f for f in facts if f.host.name in plans]
    found: dict[str, list[Finding]] = {}
    bootstrap = kubeadm.bootstrap_control_plane.name
    if bootstrap not in plans and address_checks(settings):
        found[bootstrap] = [
            Finding(
                "addresses.vip" if kubeadm.kube_vip_address else "addresses.metallb",
                bootstrap,
                "warn",
                "the VIP and loadBalancerAddresses were not checked: they are probed from the "
                f"bootstrap control plane {bootstrap}, which did not answer",
                "see its ssh.reachable finding",
            )
        ]

    def one(item: HostFacts) -> list[Finding]:
        plan = plans[item.host.name]
        progress(f"{item.host.name}: checking the network ({len(plan.probes())} probes) ...")
        config = work / item.host.name / "ssh_config"
        probes, problems = run_network(kubeadm, item.host, config, plan)
        result = problems or network_findings(item, plan, probes)
        counts = Counter(f.status for f in result)
        progress(
            f"{item.host.name}: network {counts['ok']} ok, {counts['warn']} warn, "
            f"{counts['fail']} fail"
        )
        return result

    if answered:
        with ThreadPoolExecutor(max_workers=min(8, len(answered))) as pool:
            for item, result in zip(answered, pool.map(one, answered), strict=True):
                found.setdefault(item.host.name, []).extend(result)
    return found


BASTION = "(bastion)"


def _bastion_finding(kubeadm: KubeadmSettings, key: str | None, changed: str | None) -> Finding:
    bastion = kubeadm.ssh.bastion
    assert bastion is not None
    if changed is not None and bastion.host_key:
        return Finding(
            "ssh.host_key", "bastion", "fail",
            f"the bastion at {bastion.host}:{bastion.port} does not present the pinned hostKey "
            f"({_shown(bastion.host_key)}; it sent {changed}); nothing was sent through it",
            CHANGED_KEY_FIX.replace("hostKey", "kubeadm.ssh.bastion.hostKey", 1),
        )  # fmt: skip
    if key is None:
        return Finding(
            "ssh.host_key", "bastion", "fail" if bastion.host_key else "warn",
            f"no session got through the bastion {bastion.host}:{bastion.port}",
            "see the hosts' findings; check kubeadm.ssh.bastion",
        )  # fmt: skip
    shown = f"{key.split()[0]} {fingerprint(key)}"
    if bastion.host_key and _same_key(bastion.host_key, key):
        return Finding("ssh.host_key", "bastion", "ok", f"{shown}, matches the pinned hostKey")
    return Finding(
        "ssh.host_key", "bastion", "warn",
        f"{shown}, not pinned: pulumi-command would accept any key at {bastion.host}",
        "pin it: hybrid-kube preflight <stack> --pin-host-keys",
    )  # fmt: skip


# -- the SSH key -----------------------------------------------------------------------------------


def _private_key(
    kubeadm: KubeadmSettings, stack: StackConfig, work: Path, root: Path
) -> tuple[Path | None, list[Finding]]:
    """The key file to log in with (None: the SSH agent), and what to say about it."""
    config_key = f"{NAMESPACE}:sshPrivateKey"
    text: str | None = None
    if config_key in stack.encrypted:
        text, findings = _decrypt_key(kubeadm, stack, root)
        if text is None:
            return _key_path(kubeadm), findings
    elif config_key in stack.config and config_key not in stack.encrypted:
        value = stack.config[config_key]
        text = None if value.startswith("(secret") else value
    if text is None:
        return _key_path(kubeadm), []
    text = text.replace("\r\n", "\n").strip() + "\n"
    if not PRIVATE_KEY.fullmatch(text):
        return _key_path(kubeadm), [
            _key_finding(
                kubeadm,
                "sshPrivateKey is not a PEM or OpenSSH private key (the value is not shown)",
                "set it from the key file: pulumi config set --secret sshPrivateKey < <key file>"
                + ("; " + PASSPHRASE_FIX if config_key in stack.encrypted else ""),
            )
        ]  # fmt: skip
    path = work / "id"
    path.touch(mode=0o600)
    path.write_text(text, encoding="utf-8")
    return path, []


PRIVATE_KEY = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----\n"
    r"(?:(?!-----)[^\n]+\n)+"
    r"-----END \1PRIVATE KEY-----\n"
)
"""A whole private key as ssh-keygen or openssl writes it: `OPENSSH`, `RSA`, `EC` or PKCS#8."""
PULUMI_TIMEOUT = 60
PASSPHRASE_FIX = (
    "for a passphrase-protected stack, set PULUMI_CONFIG_PASSPHRASE (or "
    "PULUMI_CONFIG_PASSPHRASE_FILE); else log in to the stack's backend (`pulumi login`); or set "
    "kubeadm.ssh.privateKeyPath, or load the key into your agent (`ssh-add ~/.ssh/<key>`)"
)


def _decrypt_key(
    kubeadm: KubeadmSettings, stack: StackConfig, root: Path
) -> tuple[str | None, list[Finding]]:
    """`pulumi config get sshPrivateKey`, never waiting on a prompt (stdin is /dev/null): the
    key, or None and why not. Its stdout is never shown: it may hold the key."""
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        return None, [
            Finding(
                "ssh.key",
                "ssh",
                "warn",
                f"sshPrivateKey is encrypted and no `pulumi` CLI is on PATH to decrypt it; "
                f"using {_fallback(kubeadm)} instead",
                "install the Pulumi CLI, or load the same key into your agent (`ssh-add "
                "~/.ssh/<key>`) or set kubeadm.ssh.privateKeyPath, then run preflight again",
            )
        ]
    command = [pulumi, "config", "get", "-s", stack.stack, "sshPrivateKey"]
    try:
        result = subprocess.run(
            command,
            cwd=root,
            capture_output=True,
            text=True,
            timeout=PULUMI_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return None, [
            _key_finding(
                kubeadm, f"`pulumi config get sshPrivateKey` did not finish within "
                f"{PULUMI_TIMEOUT}s (waiting for a passphrase?)", PASSPHRASE_FIX,
            )
        ]  # fmt: skip
    except OSError as error:
        return None, [
            _key_finding(kubeadm, f"`pulumi config get sshPrivateKey` did not run: {error}",
                         PASSPHRASE_FIX)
        ]  # fmt: skip
    if result.returncode != 0:
        why = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return None, [
            _key_finding(kubeadm, f"`pulumi config get sshPrivateKey` failed: {why}",
                         PASSPHRASE_FIX)
        ]  # fmt: skip
    return result.stdout, []


def _fallback(kubeadm: KubeadmSettings) -> str:
    path = kubeadm.ssh.private_key_path
    return f"kubeadm.ssh.privateKeyPath {path}" if path else "the SSH agent"


def _key_finding(kubeadm: KubeadmSettings, reason: str, fix: str) -> Finding:
    return Finding("ssh.key", "ssh", "fail", f"{reason}; using {_fallback(kubeadm)} instead", fix)


def _key_path(kubeadm: KubeadmSettings) -> Path | None:
    path = kubeadm.ssh.private_key_path
    return Path(path).expanduser() if path else None


# -- one host --------------------------------------------------------------------------------------


def ssh_config(kubeadm: KubeadmSettings, known_hosts: Path, key_file: Path | None) -> str:
    """The whole client configuration (no ~/.ssh/config, no /etc/ssh/ssh_config). The jump host,
    if any, is given with `-J` (`jump_option`): ssh passes `-F` on to the jump connection, so it
    gets the same options, and a ProxyJump here would apply to the jump itself too."""
    lines = [
        "Host *",
        "  BatchMode yes",
        f"  ConnectTimeout {CONNECT_TIMEOUT}",
        f"  UserKnownHostsFile {known_hosts}",
        "  GlobalKnownHostsFile /dev/null",
        "  StrictHostKeyChecking accept-new",
        "  UpdateHostKeys no",
        "  HashKnownHosts no",
        "  CheckHostIP no",
        "  LogLevel ERROR",
        "  ControlMaster no",
        "  ForwardAgent no",
    ]
    if key_file is not None:
        lines += [f"  IdentityFile {key_file}", "  IdentitiesOnly yes"]
    return "\n".join(lines) + "\n"


def jump_option(kubeadm: KubeadmSettings) -> list[str]:
    bastion = kubeadm.ssh.bastion
    if bastion is None:
        return []
    return ["-J", f"{bastion.user or kubeadm.ssh.user}@{_bracket(bastion.host)}:{bastion.port}"]


def _bracket(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def _known_host_name(address: str, port: int) -> str:
    return address if port == 22 else f"[{address}]:{port}"


def _check_host(
    kubeadm: KubeadmSettings,
    host: HostSettings,
    work: Path,
    key_file: Path | None,
    minor: int,
    progress: Progress,
) -> HostFacts:
    facts = HostFacts(host)
    port = kubeadm.ssh.port
    where = f"{kubeadm.ssh.user}@{host.address}:{port}"
    progress(f"{host.name}: connecting to {where} ...")
    folder = work / host.name
    folder.mkdir()
    known_hosts = folder / "known_hosts"
    pinned = [
        f"{_known_host_name(host.address, port)} {host.host_key}" if host.host_key else "",
        (
            f"{_known_host_name(kubeadm.ssh.bastion.host, kubeadm.ssh.bastion.port)} "
            f"{kubeadm.ssh.bastion.host_key}"
            if kubeadm.ssh.bastion and kubeadm.ssh.bastion.host_key
            else ""
        ),
    ]
    known_hosts.write_text("".join(f"{line}\n" for line in pinned if line), encoding="utf-8")
    config = folder / "ssh_config"
    config.write_text(ssh_config(kubeadm, known_hosts, key_file), encoding="utf-8")
    started = time.time()
    result = run_session(kubeadm, host, config, REMOTE_SCRIPT, SESSION_TIMEOUT)
    if result is None:
        facts.findings.append(
            Finding(
                "ssh.reachable",
                host.name,
                "fail",
                f"no answer from {where} within {SESSION_TIMEOUT}s",
                "check the address, the SSH port and any firewall between here and the host",
            )
        )
        progress(f"{host.name}: unreachable")
        return facts
    finished = time.time()
    facts.key = _accepted_key(known_hosts, _known_host_name(host.address, port))
    bastion = kubeadm.ssh.bastion
    if bastion is not None:
        facts.bastion_key = _accepted_key(known_hosts, _known_host_name(bastion.host, bastion.port))
    if MARK not in result.stdout:
        facts.findings += _failed_session(kubeadm, facts, where, result.stderr)
        progress(f"{host.name}: failed ({facts.findings[-1].reason})")
        return facts
    facts.probes = parse_probes(result.stdout)
    remote_time = facts.output("time")
    if remote_time:
        with contextlib.suppress(ValueError):
            facts.offset = float(remote_time.strip()) - (started + finished) / 2
    facts.findings.append(
        Finding(
            "ssh.reachable",
            host.name,
            "ok",
            f"logged in as {where} in {finished - started:.1f}s",
        )
    )
    facts.findings.append(_host_key_finding(host, facts.key))
    facts.findings += host_findings(facts, minor)
    counts = Counter(f.status for f in facts.findings)
    progress(f"{host.name}: {counts['ok']} ok, {counts['warn']} warn, {counts['fail']} fail")
    return facts


def run_session(
    kubeadm: KubeadmSettings, host: HostSettings, config: Path, remote: str, timeout: float
) -> subprocess.CompletedProcess[str] | None:
    """One SSH session on `host` running `remote` (a `script()`); None when it timed out."""
    command = [
        "ssh", "-F", str(config), "-T", "-p", str(kubeadm.ssh.port), "-l", kubeadm.ssh.user,
        *jump_option(kubeadm), "--", host.address, remote,
    ]  # fmt: skip
    try:
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return None


def parse_probes(stdout: str) -> dict[str, tuple[int, str]]:
    """`REMOTE_SCRIPT`'s output -> probe name -> (exit code, output)."""
    found: dict[str, tuple[int, str]] = {}
    name, lines = None, []
    for line in stdout.splitlines():
        if line.startswith(MARK):
            tag = line.removeprefix(MARK)
            if tag.startswith("rc=") and name is not None:
                found[name] = (int(tag[3:]) if tag[3:].isdigit() else 1, "\n".join(lines))
                name = None
            else:
                name, lines = tag, []
        elif name is not None:
            lines.append(line)
    return found


def _accepted_key(known_hosts: Path, name: str) -> str | None:
    """The host's key as ssh accepted (or found pinned) it: 'type base64'."""
    if not known_hosts.exists():
        return None
    for line in known_hosts.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 3 and name in parts[0].split(","):
            return f"{parts[1]} {parts[2]}"
    return None


def fingerprint(key: str) -> str:
    """'ssh-ed25519 AAAA...' -> 'SHA256:...', as `ssh-keygen -lf` prints it."""
    blob = base64.b64decode(key.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _same_key(a: str, b: str) -> bool:
    return a.split()[:2] == b.split()[:2]


def _host_key_finding(host: HostSettings, key: str | None) -> Finding:
    if key is None:
        return Finding("ssh.host_key", host.name, "warn", "the host key could not be read")
    shown = f"{key.split()[0]} {fingerprint(key)}"
    if host.host_key and _same_key(host.host_key, key):
        return Finding("ssh.host_key", host.name, "ok", f"{shown}, matches the pinned hostKey")
    return Finding(
        "ssh.host_key",
        host.name,
        "warn",
        f"{shown}, not pinned: pulumi-command would accept any key at {host.address}",
        "compare the fingerprint with the host's own (`ssh-keygen -lf "
        "/etc/ssh/ssh_host_ed25519_key.pub` on its console), then pin it: "
        "hybrid-kube preflight <stack> --pin-host-keys",
    )


CHANGED_KEY_FIX = (
    "find out why the key changed (a rebuilt VM, or another machine at that address); once "
    "the new key is trusted (compare its fingerprint on the machine's console: `ssh-keygen -lf "
    "/etc/ssh/ssh_host_ed25519_key.pub`), delete hostKey from the stack file and run "
    "hybrid-kube preflight <stack> --pin-host-keys"
)
_CHANGED = re.compile(r"^Host key for (\S+) has changed", re.M)
_SENT = re.compile(r"key sent by the remote host is\s+(SHA256:[A-Za-z0-9+/=]+?)\.?$", re.M)


def changed_host_key(stderr: str) -> tuple[str | None, str | None]:
    """ssh's message about a key that is not the pinned one -> (the known_hosts name it names,
    e.g. `[10.0.0.1]:2222` or `10.0.0.1`; the fingerprint the machine sent), None where ssh
    did not say. With -J, the jump connection's ssh writes into the same stderr."""
    name, sent = _CHANGED.search(stderr), _SENT.search(stderr)
    return (name.group(1) if name else None), (sent.group(1) if sent else None)


def _shown(key: str) -> str:
    return f"{key.split()[0]} {fingerprint(key)}"


def _failed_session(
    kubeadm: KubeadmSettings, facts: HostFacts, where: str, stderr: str
) -> list[Finding]:
    """The findings of a session that did not get to run anything, and which of the keys read
    from its known_hosts were verified: a key counts only once ssh got past checking it."""
    kind = next((k for text, k in SSH_FAILURES if text in stderr), "other")
    host, bastion = facts.host, kubeadm.ssh.bastion
    if kind != "host key":
        facts.key = facts.key if kind == "auth" else None
        facts.bastion_key = facts.bastion_key if kind == "auth" else None
        return _connection_failure(kubeadm, host, where, stderr, kind)
    name, sent = changed_host_key(stderr)
    facts.key = None
    seen = f"; it sent {sent}" if sent else ""
    at_bastion = bastion is not None and name == _known_host_name(bastion.host, bastion.port)
    if at_bastion and bastion is not None:
        facts.bastion_key, facts.bastion_changed = None, sent or "an unknown key"
        return [
            Finding(
                "ssh.reachable", host.name, "fail",
                f"not reached: the bastion {bastion.host}:{bastion.port} does not present its "
                f"pinned hostKey{seen}; nothing was sent through it",
                "see the bastion's ssh.host_key finding",
            )
        ]  # fmt: skip
    if name is None and bastion is not None:
        facts.bastion_key = None
        return [
            Finding(
                "ssh.host_key", host.name, "fail",
                f"host key verification failed at {where} or at the bastion {bastion.host}:"
                f"{bastion.port}{seen}; nothing was sent",
                CHANGED_KEY_FIX,
            )
        ]  # fmt: skip
    pinned = f" ({_shown(host.host_key)})" if host.host_key else ""
    return [
        Finding(
            "ssh.host_key", host.name, "fail",
            f"the host at {where} does not present the pinned hostKey{pinned}{seen}; nothing was "
            "sent to it",
            CHANGED_KEY_FIX,
        )
    ]  # fmt: skip


def _connection_failure(
    kubeadm: KubeadmSettings, host: HostSettings, where: str, stderr: str, kind: str
) -> list[Finding]:
    message = next((m for m in stderr.strip().splitlines() if m.strip()), "no output")
    if kind == "auth":
        source = (
            f"the key {kubeadm.ssh.private_key_path}"
            if kubeadm.ssh.private_key_path
            else "sshPrivateKey or the SSH agent's keys"
        )
        return [
            Finding(
                "ssh.reachable",
                host.name,
                "fail",
                f"{where} refused {source}: {message}",
                f"add the public key to ~{kubeadm.ssh.user}/.ssh/authorized_keys on the host, "
                "or set kubeadm.ssh.user / privateKeyPath to what the host accepts",
            )
        ]
    return [
        Finding(
            "ssh.reachable",
            host.name,
            "fail",
            f"cannot connect to {where}: {message}",
            "check that the host is up, that sshd listens on port "
            f"{kubeadm.ssh.port} (kubeadm.ssh.port) and that no firewall blocks it"
            + (" from the bastion" if kubeadm.ssh.bastion else ""),
        )
    ]


# -- the checks on one host's facts ----------------------------------------------------------------


def host_findings(facts: HostFacts, minor: int) -> list[Finding]:
    return [
        _sudo(facts),
        _os(facts),
        *_size(facts),
        _swap(facts),
        _cgroup(facts, minor),
        _ports(facts),
    ]


def _sudo(facts: HostFacts) -> Finding:
    code, text = facts.probes.get("sudo", (1, ""))
    if code == 0:
        return Finding("host.sudo", facts.host.name, "ok", "passwordless sudo (sudo -n true)")
    return Finding(
        "host.sudo",
        facts.host.name,
        "fail",
        f"`sudo -n true` failed: {text.strip() or f'exit code {code}'}",
        "every step runs `sudo -n bash -s`: give the SSH user NOPASSWD sudo, e.g. "
        "echo '<user> ALL=(ALL) NOPASSWD:ALL' | sudo tee /etc/sudoers.d/90-hybrid-kube",
    )


def parse_os_release(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            try:
                found[key.strip()] = " ".join(shlex.split(value))
            except ValueError:
                found[key.strip()] = value.strip().strip('"')
    return found


def _os(facts: HostFacts) -> Finding:
    text = facts.output("os")
    name = facts.host.name
    if text is None:
        return Finding(
            "host.os", name, "fail", "/etc/os-release is missing", f"use {SUPPORTED_OS_TEXT}"
        )
    release = parse_os_release(text)
    pretty = release.get("PRETTY_NAME", "unknown")
    if (release.get("ID", ""), release.get("VERSION_ID", "")) in SUPPORTED_OS:
        return Finding("host.os", name, "ok", pretty)
    return Finding(
        "host.os",
        name,
        "fail",
        f"{pretty} is not supported by the prepare step",
        f"install {SUPPORTED_OS_TEXT} (64-bit) on this host",
    )


def _size(facts: HostFacts) -> list[Finding]:
    name = facts.host.name
    control_plane = facts.host.role == "control-plane"
    role = "a control plane" if control_plane else "a worker"
    found = []
    cpus_text = (facts.output("cpus") or "").strip()
    need_cpus = CONTROL_PLANE_CPUS if control_plane else WORKER_CPUS
    if cpus_text.isdigit():
        cpus = int(cpus_text)
        status = "ok" if cpus >= need_cpus else "fail"
        found.append(
            Finding(
                "host.cpus",
                name,
                status,
                f"{cpus} CPUs ({role} needs {need_cpus})",
                ""
                if status == "ok"
                else f"give the host at least {need_cpus} CPUs (kubeadm's preflight refuses fewer)",
            )
        )
    match = re.search(r"MemTotal:\s+(\d+)\s+kB", facts.output("memory") or "")
    if match:
        mib = int(match.group(1)) // 1024
        if control_plane:
            status = "ok" if mib >= CONTROL_PLANE_MEMORY_MIB else "fail"
            found.append(
                Finding(
                    "host.memory",
                    name,
                    status,
                    f"{mib} MiB memory ({role} needs {CONTROL_PLANE_MEMORY_MIB} MiB)",
                    ""
                    if status == "ok"
                    else "give the host at least 2 GB of memory (kubeadm's preflight refuses less)",
                )
            )
        else:
            found.append(Finding("host.memory", name, "ok", f"{mib} MiB memory"))
    return found


def _swap(facts: HostFacts) -> Finding:
    lines = [line for line in (facts.output("swap") or "").splitlines()[1:] if line.strip()]
    if not lines:
        return Finding("host.swap", facts.host.name, "ok", "no swap")
    return Finding(
        "host.swap",
        facts.host.name,
        "warn",
        f"swap is on ({', '.join(line.split()[0] for line in lines)})",
        "nothing to do: the prepare step turns it off for good (swapoff, /etc/fstab)",
    )


def _cgroup(facts: HostFacts, minor: int) -> Finding:
    fs = (facts.output("cgroup") or "").strip()
    if fs == "cgroup2fs":
        return Finding("host.cgroup", facts.host.name, "ok", "cgroup v2")
    status = "fail" if minor >= FAIL_CGROUP_V1_FROM else "warn"
    return Finding(
        "host.cgroup",
        facts.host.name,
        status,
        f"cgroup v1 (/sys/fs/cgroup is {fs or 'unknown'}); the kubelet of Kubernetes "
        f"1.{FAIL_CGROUP_V1_FROM} and later refuses to start on it (failCgroupV1)",
        "boot with cgroup v2: remove systemd.unified_cgroup_hierarchy=0 from GRUB_CMDLINE_LINUX "
        "in /etc/default/grub, run update-grub and reboot",
    )


def listening_ports(ss_output: str) -> set[int]:
    """`ss -Hltn` -> the TCP ports something listens on (any address)."""
    ports = set()
    for line in ss_output.splitlines():
        parts = line.split()
        if len(parts) >= 4:
            _, _, port = parts[3].rpartition(":")
            if port.isdigit():
                ports.add(int(port))
    return ports


def _ports(facts: HostFacts) -> Finding:
    name = facts.host.name
    needed = CONTROL_PLANE_PORTS if facts.host.role == "control-plane" else WORKER_PORTS
    text = facts.output("listening")
    if text is None:
        return Finding(
            "host.ports", name, "warn", "`ss -ltn` did not run; listening ports unknown",
            "install iproute2",
        )  # fmt: skip
    busy = sorted(listening_ports(text) & set(needed))
    if facts.probes.get("node", (1, ""))[0] == 0:
        return Finding(
            "host.ports", name, "ok", "already a node (/etc/kubernetes/kubelet.conf): ports "
            f"{', '.join(map(str, busy)) or 'none'} of {_port_list(needed)} in use by it",
        )  # fmt: skip
    if not busy:
        return Finding("host.ports", name, "ok", f"ports {_port_list(needed)} free")
    return Finding(
        "host.ports",
        name,
        "fail",
        f"something already listens on {', '.join(map(str, busy))} (needed: {_port_list(needed)})",
        "find it with `sudo ss -ltnp` and stop it, or use another host",
    )


def _port_list(ports: tuple[int, ...]) -> str:
    return ", ".join(map(str, ports))


# -- across the hosts ------------------------------------------------------------------------------


def cross_host_findings(facts: list[HostFacts]) -> list[Finding]:
    """Identity and clocks across the hosts that answered."""
    answered = [f for f in facts if f.probes]
    found = []
    identities = {
        ("hostname", "hostnames"): lambda f: [(f.output("hostname") or "").strip()],
        ("MAC address", "MAC addresses"): lambda f: permanent_macs(
            f.probes.get("macs", (1, ""))[1]
        ),
        ("product_uuid", "product_uuids"): lambda f: [
            (f.output("product_uuid") or "").strip().lower()
        ],
    }
    for (what, plural), values in identities.items():
        owners: dict[str, list[str]] = {}
        for item in answered:
            for value in set(values(item)):
                if value:
                    owners.setdefault(value, []).append(item.host.name)
        clashes = {v: hosts for v, hosts in owners.items() if len(hosts) > 1}
        if clashes:
            for value, hosts in sorted(clashes.items()):
                found.append(
                    Finding(
                        "hosts.unique",
                        ", ".join(sorted(hosts)),
                        "fail",
                        f"same {what} {value} on {', '.join(sorted(hosts))}",
                        "every node needs its own hostname, MAC address and product_uuid "
                        "(cloned VMs: regenerate them, e.g. a new VM from the template)",
                    )
                )
        elif answered:
            found.append(
                Finding("hosts.unique", "hosts", "ok", f"{plural} unique across the hosts")
                if what != "product_uuid" or any(values(i)[0] for i in answered)
                else Finding(
                    "hosts.unique",
                    "hosts",
                    "warn",
                    "product_uuid could not be read (sudo cat /sys/class/dmi/id/product_uuid)",
                    "compare /sys/class/dmi/id/product_uuid on the hosts by hand",
                )
            )
    found += _skew(answered)
    return found


def permanent_macs(text: str) -> list[str]:
    """The `macs` probe (`grep -sH .` of each interface's addr_assign_type and address) -> the
    addresses burnt into or assigned to a NIC: addr_assign_type 0 (NET_ADDR_PERM). Random and
    set ones (Calico's `cali*` veths all carry ee:ee:ee:ee:ee:ee, set by Calico; bridges, VLANs,
    bonds copy or get theirs) and `lo` are left out. grep exits 2 when a file cannot be read
    (some devices refuse addr_assign_type): the lines it did print count."""
    kinds: dict[str, str] = {}
    addresses: dict[str, str] = {}
    for line in text.splitlines():
        match = re.fullmatch(r"/sys/class/net/([^/]+)/(addr_assign_type|address):(.*)", line)
        if match:
            name, what, value = match.groups()
            (kinds if what == "addr_assign_type" else addresses)[name] = value.strip().lower()
    return sorted(
        address
        for name, address in addresses.items()
        if name != "lo" and kinds.get(name) == "0" and address.strip("0:")
    )


def _skew(answered: list[HostFacts]) -> list[Finding]:
    offsets = {f.host.name: f.offset for f in answered if f.offset is not None}
    if not offsets:
        return []
    spread = max(offsets.values()) - min(offsets.values())
    shown = ", ".join(f"{name} {offset:+.1f}s" for name, offset in sorted(offsets.items()))
    if spread <= MAX_SKEW_SECONDS:
        return [
            Finding(
                "hosts.clock",
                "hosts",
                "ok",
                f"clocks within {spread:.1f}s of each other (against this machine: {shown})",
            )
        ]
    return [
        Finding(
            "hosts.clock",
            "hosts",
            "warn",
            f"clocks differ by {spread:.1f}s ({shown}); certificates and etcd need them in sync",
            "run NTP on every host (timedatectl set-ntp true; chrony or systemd-timesyncd)",
        )
    ]


# -- the network, from the hosts ------------------------------------------------------------------
#
# A second session per host that answered, once every host's facts are in (its OS, and which
# peers are nodes already): outbound HTTPS to what prepare.sh and the cluster pull from; TCP to
# the other hosts; and, on the bootstrap control plane, whether the VIP and the MetalLB range
# already answer. Every probe runs on the hosts; nothing is sent from this machine.

ANSWERING_STATES = ("REACHABLE", "STALE", "DELAY", "PROBE")
"""`ip neigh` states of an entry whose link-layer address was learnt from an answer (ARP/NDP);
INCOMPLETE and FAILED mean nobody answered."""
SUPPORTED_OS_IDS = sorted({os_id for os_id, _ in SUPPORTED_OS})
TCP_TIMEOUT = 3


@dataclass(frozen=True)
class Target:
    """A TCP port of another host that a host should be able to open."""

    peer: str
    address: str
    port: int
    service: str
    required: bool
    """A node's own listener (fail when closed), not just the SSH port (warn)."""

    @property
    def tag(self) -> str:
        return f"{self.peer}:{self.port}"


@dataclass(frozen=True)
class Address:
    """An address that must be free before the cluster exists: the VIP or a MetalLB range end."""

    address: str
    kind: str
    """`vip` or `metallb`."""
    label: str
    """Where it comes from, e.g. `controlPlaneEndpoint` or `loadBalancerAddresses[0] ..., first`."""


@dataclass
class NetworkPlan:
    """What one host's network session probes."""

    urls: list[tuple[str, str]] = field(default_factory=list)
    """(label, url) from `OUTBOUND_URLS`."""
    addresses: list[Address] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)

    def probes(self) -> list[tuple[str, str]]:
        found = [probe("outbound", label, url=url) for label, url in self.urls]
        for item in self.addresses:
            found.append(probe("ping", item.address, address=item.address))
            found.append(probe("neigh", item.address, address=item.address))
        found += [probe("tcp", t.tag, address=t.address, port=t.port) for t in self.targets]
        return found

    def timeout(self) -> float:
        """The session's limit: the connection plus every probe's worst case."""
        return SESSION_TIMEOUT + sum(PROBE_SECONDS[n.split(":")[0]] for n, _ in self.probes())


def is_node(facts: HostFacts) -> bool:
    """The host has joined a cluster already (`/etc/kubernetes/kubelet.conf`)."""
    return facts.probes.get("node", (1, ""))[0] == 0


def outbound_urls(minor: str, os_id: str | None) -> list[tuple[str, str]]:
    """`OUTBOUND_URLS` for this stack's minor ("1.35") and the host's OS (Docker's repository is
    per OS; a host on an OS prepare.sh refuses is not asked for it)."""
    found = []
    for label, template in OUTBOUND_URLS:
        if "{os_id}" in template and os_id not in SUPPORTED_OS_IDS:
            continue
        found.append((label, template.replace("{minor}", minor).replace("{os_id}", os_id or "")))
    return found


def address_checks(settings: Settings) -> list[Address]:
    """The VIP kube-vip will announce, and the first and last address of every MetalLB range
    (while MetalLB is deployed: platform.loadBalancer)."""
    kubeadm = settings.kubeadm
    assert kubeadm is not None
    found = []
    if kubeadm.kube_vip_address:
        found.append(Address(kubeadm.kube_vip_address, "vip", "controlPlaneEndpoint"))
    if settings.platform.load_balancer:
        for index, value in enumerate(kubeadm.load_balancer_addresses):
            span = kubeadm.address_ranges[index]
            ends = {str(span.first): "first", str(span.last): "last"}
            if len(ends) == 1:
                ends = {str(span.first): "only"}
            for address, which in ends.items():
                label = f"loadBalancerAddresses[{index}] {value}, {which} address"
                found.append(Address(address, "metallb", label))
    return found


def peer_targets(
    kubeadm: KubeadmSettings, host: HostSettings, facts: dict[str, HostFacts]
) -> list[Target]:
    """Every other host's SSH port; and where the peer is a node already, 6443 (control planes)
    and 10250 (all): before the cluster exists nothing listens there, so they cannot be tried."""
    targets = []
    for peer in sorted(kubeadm.hosts, key=lambda h: h.name):
        if peer.name == host.name:
            continue
        targets.append(Target(peer.name, peer.address, kubeadm.ssh.port, "SSH", False))
        peer_facts = facts.get(peer.name)
        if peer_facts is not None and is_node(peer_facts):
            if peer.role == "control-plane":
                targets.append(Target(peer.name, peer.address, 6443, "kube-apiserver", True))
            targets.append(Target(peer.name, peer.address, 10250, "kubelet", True))
    return targets


def network_plans(settings: Settings, facts: list[HostFacts]) -> dict[str, NetworkPlan]:
    """What each host that answered probes in its network session, by host name."""
    kubeadm = settings.kubeadm
    assert kubeadm is not None
    by_name = {f.host.name: f for f in facts}
    bootstrap = kubeadm.bootstrap_control_plane.name
    plans = {}
    for item in facts:
        if not item.probes:
            continue
        os_id = parse_os_release(item.output("os") or "").get("ID")
        plans[item.host.name] = NetworkPlan(
            urls=outbound_urls(settings.kubernetes_minor, os_id),
            addresses=address_checks(settings) if item.host.name == bootstrap else [],
            targets=peer_targets(kubeadm, item.host, by_name),
        )
    return plans


def run_network(
    kubeadm: KubeadmSettings, host: HostSettings, config: Path, plan: NetworkPlan
) -> tuple[dict[str, tuple[int, str]], list[Finding]]:
    """The network session's probe results, or a finding saying why there are none."""
    result = run_session(kubeadm, host, config, script(plan.probes()), plan.timeout())
    if result is not None and MARK in result.stdout:
        return parse_probes(result.stdout), []
    why = (
        f"no answer within {plan.timeout():.0f}s"
        if result is None
        else next((m for m in result.stderr.splitlines() if m.strip()), "no output")
    )
    return {}, [
        Finding(
            "host.network", host.name, "warn", f"the network checks did not run: {why}",
            "run preflight again; see this host's other findings",
        )
    ]  # fmt: skip


def parse_curl(code: int, text: str) -> tuple[str | None, str]:
    """The outbound probe -> (HTTP status, or None when no HTTP answer came; curl's error)."""
    lines = [line.strip() for line in text.splitlines()]
    status = next((line for line in lines if re.fullmatch(r"\d{3}", line)), None)
    error = next((line for line in lines if line.startswith("curl:")), "")
    if code != 0 or status in (None, "000"):
        return None, error or f"exit code {code}"
    return status, ""


def _curl_fix(code: int, names: str) -> str:
    if code == 6:
        return f"the host cannot resolve {names}: fix its DNS (resolvectl status, resolv.conf)"
    if code in (35, 60):
        return (
            "something intercepts TLS on the way: add that proxy's CA certificate to the host "
            "(/usr/local/share/ca-certificates, then `update-ca-certificates`)"
        )
    return (
        f"allow outbound HTTPS (TCP 443) from the host to {names} in the firewall; behind a proxy, "
        "configure it for apt and containerd on the host first (hybrid-kube sets no proxy)"
    )


def outbound_finding(
    name: str, urls: list[tuple[str, str]], probes: dict[str, tuple[int, str]]
) -> Finding:
    results = {label: probes.get(f"outbound:{label}") for label, _ in urls}
    if any(r is not None and r[0] == 127 for r in results.values()):
        return Finding(
            "host.outbound", name, "warn", "not checked (no curl)",
            "nothing to do: the prepare step installs curl; to check now, install it "
            "(`sudo apt-get install curl`) and run preflight again",
        )  # fmt: skip
    reached, failed_ = [], []
    for label, url in urls:
        code, text = results[label] or (1, "")
        status, error = parse_curl(code, text)
        if status is None:
            failed_.append((label, url, code, error or "not run"))
        else:
            reached.append(f"{label} (HTTP {status})")
    if not failed_:
        return Finding("host.outbound", name, "ok", "reaches " + ", ".join(reached))
    fixes: dict[str, None] = {}
    for code in sorted({code for _, _, code, _ in failed_}):
        labels = ", ".join(label for label, _, c, _ in failed_ if c == code)
        fixes[_curl_fix(code, labels)] = None
    return Finding(
        "host.outbound",
        name,
        "warn",
        "cannot reach " + "; ".join(f"{url} ({error})" for _, url, _, error in failed_)
        + (f"; reaches {', '.join(reached)}" if reached else ""),
        "the prepare step and the image pulls need them: " + "; ".join(fixes),
    )  # fmt: skip


def parse_neigh(text: str) -> tuple[str, str] | None:
    """`ip neigh show ADDR` -> (link-layer address, state) when something answered ARP/NDP."""
    for line in text.splitlines():
        parts = line.split()
        if "lladdr" in parts and parts[-1] in ANSWERING_STATES:
            index = parts.index("lladdr") + 1
            if index < len(parts):
                return parts[index], parts[-1]
    return None


def answers(address: str, probes: dict[str, tuple[int, str]]) -> tuple[bool | None, str]:
    """Whether something answers at `address` (None: not checked), and how, in words. `ping`
    runs first: its ARP request fills the neighbour table even where ICMP is dropped."""
    ping = probes.get(f"ping:{address}")
    neigh = probes.get(f"neigh:{address}")
    if ping is None or ping[0] == 127:
        return None, "not checked (no ping)"
    if ping[0] == 0:
        return True, "answers ping"
    entry = parse_neigh(neigh[1]) if neigh is not None and neigh[0] == 0 else None
    if entry is not None:
        return True, f"answers ARP though not ping (ip neigh: {entry[0]} {entry[1]})"
    no_ip = neigh is None or neigh[0] == 127
    return False, "no answer to ping" + (" (no `ip` to read ARP)" if no_ip else " or ARP")


def address_finding(
    host: str, item: Address, node: bool, probes: dict[str, tuple[int, str]]
) -> Finding:
    answered, how = answers(item.address, probes)
    check = f"addresses.{item.kind}"
    what = f"{item.address} ({item.label})"
    if answered is None:
        return Finding(
            check, host, "warn", f"{what}: {how} on {host}",
            f"install iputils-ping on {host}, or ping {item.address} from a host on its network "
            "and read `ip neigh show` there",
        )  # fmt: skip
    if item.kind == "vip":
        if answered and node:
            return Finding(check, host, "ok", f"{what} {how}: kube-vip ({host} is a node already)")
        if answered:
            return Finding(
                check, host, "fail", f"{what} {how} from {host}, before the cluster exists",
                "another machine holds this address: give controlPlaneEndpoint a free address of "
                "the hosts' network (outside any DHCP pool), or free it (its MAC is in `ip neigh "
                f"show {item.address}` on {host})",
            )  # fmt: skip
        if node:
            return Finding(
                check, host, "warn", f"{what}: {how} from {host}, though the cluster exists",
                "kube-vip does not seem to hold the address: check its static pods on the "
                "control planes (/etc/kubernetes/manifests/kube-vip.yaml, "
                "`sudo crictl ps --name kube-vip`)",
            )  # fmt: skip
        return Finding(check, host, "ok", f"{what}: {how} from {host}; free for kube-vip")
    if not answered:
        return Finding(check, host, "ok", f"{what}: {how} from {host}; free for MetalLB")
    return Finding(
        check, host, "warn",
        f"{what} {how} from {host}"
        + (" (the cluster exists: perhaps a Service MetalLB gave it)" if node else ""),
        "another machine uses the range: take it out of any DHCP pool and off other machines, "
        "or choose a free range for loadBalancerAddresses",
    )  # fmt: skip


def parse_tcp(code: int, text: str) -> str | None:
    """The tcp probe -> None when the connection opened, else why not."""
    if code == 0:
        return None
    if code == 124:
        return f"no answer within {TCP_TIMEOUT}s (dropped by a firewall, or the host is down)"
    if "refused" in text.lower():
        return "connection refused (nothing listens, or a firewall rejects it)"
    return next((line.strip() for line in reversed(text.splitlines()) if line.strip()), "failed")


def reach_finding(
    name: str, targets: list[Target], probes: dict[str, tuple[int, str]]
) -> Finding | None:
    if not targets:
        return None
    results = [(t, probes.get(f"tcp:{t.tag}")) for t in targets]
    if any(r is None or r[0] == 127 for _, r in results):
        return Finding(
            "hosts.reach", name, "warn", "not checked (no bash or timeout on the host)",
            "check by hand that the hosts reach each other (docs/onprem.md, Ports and firewall)",
        )  # fmt: skip
    closed = [(t, why) for t, r in results if r is not None and (why := parse_tcp(*r))]
    if not closed:
        return Finding(
            "hosts.reach", name, "ok",
            "opens TCP to " + ", ".join(f"{t.peer}:{t.port}" for t in targets),
        )  # fmt: skip
    required = any(t.required for t, _ in closed)
    fix = (
        "open the ports of docs/onprem.md 'Ports and firewall' between the hosts (on the peer's "
        "firewall and any between them)"
    )
    if not required:
        fix += "; the cluster does not need SSH between the hosts: if only SSH is blocked, ignore"
    return Finding(
        "hosts.reach", name, "fail" if required else "warn",
        "cannot open TCP to "
        + "; ".join(f"{t.peer} {t.address}:{t.port} ({t.service}): {why}" for t, why in closed),
        fix,
    )  # fmt: skip


def network_findings(
    host: HostFacts, plan: NetworkPlan, probes: dict[str, tuple[int, str]]
) -> list[Finding]:
    name = host.host.name
    found = [outbound_finding(name, plan.urls, probes)]
    found += [address_finding(name, item, is_node(host), probes) for item in plan.addresses]
    reach = reach_finding(name, plan.targets, probes)
    return found + ([reach] if reach else [])


# -- --pin-host-keys -------------------------------------------------------------------------------


class PinError(Exception):
    """`--pin-host-keys` wrote nothing: the stack file is not in a form it can edit safely, or a
    pinned key differs from the one that answered. `fix`: what to do."""

    def __init__(self, message: str, fix: str = "add hostKey by hand") -> None:
        super().__init__(message)
        self.fix = fix


def pin_host_keys(path: Path, keys: dict[str, str]) -> list[str]:
    """Write `keys` (host name, or `BASTION`, -> 'type base64') as `hostKey` into the stack file
    where none is pinned yet. A pinned key is never replaced: one that differs from the key that
    answered (which nothing verified) makes the whole call refuse, writing nothing.

    The file is edited as text at the positions YAML reports, so comments, layout and line
    endings survive; the result is parsed again and must equal the old content plus exactly
    these keys; it replaces the file atomically. Returns the names whose key was written.
    """
    path = Path(os.path.realpath(path))
    with open(path, encoding="utf-8", newline="") as file:
        text = file.read()
    try:
        kubeadm = _child(_child(yaml.compose(text), "config"), f"{NAMESPACE}:kubeadm")
    except (yaml.YAMLError, PinError) as error:
        raise PinError(f"{path}: cannot find {NAMESPACE}:kubeadm to edit ({error})") from None
    hosts = _child(kubeadm, "hosts")
    if not isinstance(hosts, yaml.SequenceNode):
        raise PinError(f"{path}: {NAMESPACE}:kubeadm.hosts is not a YAML list")
    targets: list[tuple[str, yaml.Node]] = []
    for item in hosts.value:
        if not isinstance(item, yaml.MappingNode):
            raise PinError(f"{path}: an entry of kubeadm.hosts is not a mapping")
        name = _child(item, "name")
        targets.append((getattr(name, "value", ""), item))
    if BASTION in keys:
        ssh = _child(kubeadm, "ssh", required=False)
        bastion = _child(ssh, "bastion", required=False) if ssh is not None else None
        if bastion is not None:
            targets.append((BASTION, bastion))
    edits: list[tuple[int, int, str]] = []
    changed, differ = [], []
    for name, node in targets:
        key = keys.get(name)
        if key is None:
            continue
        current = _child(node, "hostKey", required=False)
        if current is not None:
            if not (isinstance(current, yaml.ScalarNode) and _same_key(str(current.value), key)):
                differ.append(name)
            continue
        edits.append(_set_host_key(text, node, key, f"{path}: {name}"))
        changed.append(name)
    if differ:
        raise PinError(
            f"{path}: the pinned hostKey of {', '.join(differ)} differs from the key that "
            "answered; a pinned key is never replaced, nothing written",
            CHANGED_KEY_FIX,
        )
    new = text
    for start, end, replacement in sorted(edits, reverse=True):
        new = new[:start] + replacement + new[end:]
    _verify(text, new, keys, changed, path)
    if new != text:
        _replace(path, new)
    return changed


def _replace(path: Path, text: str) -> None:
    """Write `text` to a temporary file next to `path` with its mode, then rename it over
    `path`: a crash leaves the old file or the new one, never half of it."""
    mode = stat.S_IMODE(path.stat().st_mode)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _child(node: yaml.Node | None, key: str, required: bool = True) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if getattr(k, "value", None) == key:
                return v
    if required:
        raise PinError(f"no key {key!r}")
    return None


def _set_host_key(text: str, node: yaml.MappingNode, key: str, where: str) -> tuple[int, int, str]:
    """The edit that adds `hostKey: "<key>"` as the entry's last key, in the file's own line
    ending."""
    quoted = json.dumps(key)  # a JSON string is a valid YAML double-quoted scalar
    last = node.value[-1][1] if node.value else None
    if not isinstance(last, yaml.ScalarNode):
        raise PinError(f"{where}: the entry does not end with a plain value; add hostKey by hand")
    if node.flow_style:  # {name: w1, address: ..., role: worker}
        return last.end_mark.index, last.end_mark.index, f", hostKey: {quoted}"
    if last.start_mark.line != last.end_mark.line:
        raise PinError(f"{where}: the entry ends with a multi-line value; add hostKey by hand")
    indent = node.value[0][0].start_mark.column
    line_end = text.find("\n", last.end_mark.index)
    line_end = len(text) if line_end < 0 else line_end
    newline = "\n"
    if line_end > 0 and text[line_end - 1 : line_end + 1] == "\r\n":
        line_end, newline = line_end - 1, "\r\n"
    return line_end, line_end, newline + " " * indent + f"hostKey: {quoted}"


def _verify(old: str, new: str, keys: dict[str, str], changed: list[str], path: Path) -> None:
    expected = yaml.safe_load(old)
    section = expected["config"][f"{NAMESPACE}:kubeadm"]
    for host in section["hosts"]:
        if host.get("name") in changed:
            host["hostKey"] = keys[host["name"]]
    if BASTION in changed:
        section["ssh"]["bastion"]["hostKey"] = keys[BASTION]
    try:
        result = yaml.safe_load(new)
    except yaml.YAMLError as error:
        raise PinError(f"{path}: the edit would not parse ({error}); nothing written") from None
    if result != expected:
        raise PinError(f"{path}: the edit would change more than hostKey; nothing written")
