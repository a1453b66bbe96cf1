"""A simulated host for the kubeadm scripts: run a step's `create` or `delete` exactly as a host
receives it, with the system commands stubbed and every file in a private root.

- The command is the recorded `create`/`delete` (`sudo -n bash -s -- create`) and its standard
  input the recorded `stdin`, both taken from a recording of the real program; nothing is copied.
- It runs in private mount and network namespaces (`unshare -m -n`, root only): /etc, /var and
  /root are overlay mounts whose writable layer is this host's directory, so what the scripts
  write lands there and the real ones never change; /usr/local/sbin, the first directory of the
  PATH lib.sh sets, is a bind mount of this host's stub directory.
- The stubs (one bash program, dispatched on its name) record every call in `calls` and answer
  like the real commands, keeping state: apt-get installs put kubeadm/kubelet/kubectl stubs on
  the PATH, `kubeadm init`/`join` write the kubeconfigs and the CA and add the Node and its etcd
  member to a shared fake cluster, `kubeadm reset` removes them again, kubectl serves the cluster
  (Nodes, ConfigMaps, CSRs, `exec etcd-* -- etcdctl` in etcdctl's own output formats, as
  tests/test_kubeadm_day2.py's FakeCluster does).
- The kubelet service is a real process per host (a copy of sleep, run from the host's state
  directory): a kubelet package install replaces that file as dpkg does, so a kubelet started
  before it runs a deleted executable, which /proc shows; `systemctl show --property MainPID`
  gives its pid. They are killed when the test process exits.
- Failures are injected per host: `host.fail("kubeadm join*", 1, "message")` makes matching calls
  print the message and exit with the code.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from components import versions
from components.recording import RecordedResource

OVERLAID = ("etc", "var", "root")
# Real programs on the test machine the scripts must not find ("not installed" on a fresh host).
HIDDEN = (
    "kubectl",
    "kubeadm",
    "kubelet",
    "crictl",
    "containerd",
    "cloud-init",
    "ipvsadm",
    "iptables-save",
    "iptables-restore",
    "ip6tables-save",
    "ip6tables-restore",
)
# Always present on a supported host (the stub answers for the real one).
SYSTEM_STUBS = (
    "sudo",
    "apt-get",
    "apt-cache",
    "apt-mark",
    "dpkg",
    "dpkg-query",
    "systemctl",
    "modprobe",
    "sysctl",
    "swapoff",
    "curl",
    "gpg",
    "ip",
    "stat",
    "sleep",
    "iptables-save",
    "iptables-restore",
    "ip6tables-save",
    "ip6tables-restore",
)
# What each Debian package puts on the PATH (packages not listed here install no command).
PACKAGE_COMMANDS = {
    "kubeadm": ("kubeadm",),
    "kubelet": ("kubelet",),
    "kubectl": ("kubectl",),
    "containerd.io": ("containerd",),
    "cri-tools": ("crictl",),
}
# Calls that change a host or the cluster. A re-run of a step that has nothing to do makes none.
MUTATING = (
    "apt-get *install*",
    "apt-get *update*",
    "apt-mark unhold*",
    "curl -fsSL*",
    "gpg *",
    "systemctl restart*",
    "systemctl stop*",
    "systemctl daemon-reload*",
    "systemctl enable --now*",
    "sysctl --system*",
    "kubeadm init --*",
    "kubeadm init phase*",
    "kubeadm join*",
    "kubeadm reset*",
    "kubeadm upgrade*",
    "kubectl * drain *",
    "kubectl * cordon *",
    "kubectl * uncordon *",
    "kubectl * delete *",
    "kubectl * annotate *",
    "kubectl * certificate approve *",
    "kubectl * create *",
    "kubectl * exec * member remove *",
    "iptables-restore*",
    "ip6tables-restore*",
    "ip link delete*",
)

KEY = "-----BEGIN PGP PUBLIC KEY BLOCK-----\nmQINBGfakekey\n-----END PGP PUBLIC KEY BLOCK-----"

# The stubs: one bash program, answering for the command it is called as (tests/hostsim_stub.sh;
# @STATE@, @CLUSTER@, @HOST@, @ADDRESS@, @KEY@ and @PYTHON@ are filled in per host).
STUB = Path(__file__).with_name("hostsim_stub.sh")


@dataclass
class Run:
    """One action of one step on one host."""

    returncode: int
    stdout: str
    stderr: str
    calls: list[str]

    def mutating(self) -> list[str]:
        return [c for c in self.calls if is_mutating(c)]


def is_mutating(call: str) -> bool:
    import fnmatch

    return any(fnmatch.fnmatchcase(call, pattern) for pattern in MUTATING)


@functools.cache
def available() -> str | None:
    """None when hosts can be simulated here, else why not (the tests skip with that reason).

    Root is not enough: a container without CAP_SYS_ADMIN refuses `unshare -m`, and an overlay
    whose upper layer sits on overlayfs (a container's /tmp) cannot be mounted. So the first call
    tries both, once, the way `Host.run_command` uses them."""
    if os.geteuid() != 0:
        return "the host simulation needs root (unshare -m -n and overlay mounts)"
    if shutil.which("unshare") is None or shutil.which("openssl") is None:
        return "the host simulation needs unshare and openssl"
    with tempfile.TemporaryDirectory(prefix="hostsim-probe-") as probe:
        for part in ("lower", "upper", "work", "merged"):
            Path(probe, part).mkdir()
        trial = (
            "set -e; mount --make-rprivate /; mount -t overlay overlay"
            f" -o lowerdir={probe}/lower,upperdir={probe}/upper,workdir={probe}/work"
            f" {probe}/merged; touch {probe}/merged/written"
        )
        try:
            result = subprocess.run(
                ["unshare", "-m", "-n", "bash", "-c", trial],
                capture_output=True,
                text=True,
                check=False,
                timeout=30,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"the host simulation cannot run here: {error}"
        if result.returncode != 0 or not Path(probe, "upper", "written").exists():
            why = result.stderr.strip() or f"exit {result.returncode}"
            return f"the host simulation cannot run here (unshare -m -n + an overlay mount): {why}"
    return None


# The PATH lib.sh sets, but /usr/local/sbin (the stubs' directory, bind-mounted over it).
SEARCHED = ("/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")


@functools.cache
def hiding_layers() -> dict[str, Path]:
    """For each directory the scripts search for commands: an overlay layer of whiteouts for the
    HIDDEN programs (mounted above the real directory, they are not there at all: `command -v`
    finds nothing, where a file covering them would still be found). One set per process."""
    root = Path(tempfile.mkdtemp(prefix="hostsim-hide-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    layers = {}
    for directory in SEARCHED:
        real = Path(directory)
        if real.is_symlink() or not real.is_dir() or str(real.resolve()) in layers:
            continue
        layer = root / directory.lstrip("/")
        layer.mkdir(parents=True)
        for command in HIDDEN:
            if (real / command).exists() or (real / command).is_symlink():
                os.mknod(layer / command, stat.S_IFCHR | 0o600, os.makedev(0, 0))
        if any(layer.iterdir()):
            layers[str(real.resolve())] = layer
    return layers


class Cluster:
    """What the hosts share: the Nodes, ConfigMaps, CSRs and etcd members kubectl serves."""

    def __init__(self, root: Path):
        self.dir = root / "cluster"
        if not self.dir.exists():
            self.dir.mkdir(parents=True)
            (self.dir / "members").touch()
            (self.dir / "server-version").write_text("v0.0.0\n")

    def nodes(self) -> list[str]:
        nodes = self.dir / "nodes"
        return sorted(p.name for p in nodes.iterdir()) if nodes.exists() else []

    def node(self, name: str) -> dict[str, str]:
        text = (self.dir / "nodes" / name).read_text()
        return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)

    def set_node(self, name: str, **fields: str) -> None:
        values = {**self.node(name), **fields}
        (self.dir / "nodes" / name).write_text("".join(f"{k}={v}\n" for k, v in values.items()))

    def take_down(self, *names: str) -> None:
        """These members stop answering: `endpoint health` reports them unhealthy."""
        (self.dir / "down").write_text(" ".join(names))

    def members(self) -> list[str]:
        return [row.split(", ")[2] for row in (self.dir / "members").read_text().splitlines()]


_HOSTS: list[Host] = []


@atexit.register
def _stop_kubelets() -> None:
    """Kill every kubelet process of this process's hosts, found by its executable (their state
    directories may be gone already: atexit removes the labs' directories first)."""
    binaries = {str(host.state / "kubelet-bin") for host in _HOSTS}
    for entry in Path("/proc").iterdir():
        try:
            exe = os.readlink(entry / "exe").removesuffix(" (deleted)")
            if exe in binaries:
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ValueError):
            continue


class Host:
    """One machine: a private root (overlay upper layers), stubs, and the state they keep."""

    def __init__(
        self,
        root: Path,
        cluster: Cluster,
        name: str,
        address: str,
        *,
        os_release: str = "ubuntu:24.04:noble",
        cgroup: str = "cgroup2fs",
        k8s_versions: Iterable[str] = ("1.35.2-1.1", "1.35.1-1.1", "1.34.4-1.1"),
        containerd_version: str = versions.CONTAINERD_IO.replace("*", "1-1"),
        fresh: bool = True,
    ):
        """A new machine, or with `fresh=False` the one already in `root` (copied from another
        run: the stubs are written again with this root's paths, the state is kept)."""
        self.name = name
        self.address = address
        self.cluster = cluster
        self.dir = root / "hosts" / name
        for part in OVERLAID:
            (self.dir / "upper" / part).mkdir(parents=True, exist_ok=True)
            (self.dir / "work" / part).mkdir(parents=True, exist_ok=True)
        self.bin = self.dir / "bin"
        self.bin.mkdir(exist_ok=True)
        self.state = self.dir / "state"
        self.state.mkdir(exist_ok=True)
        self._check_outside_overlays()
        stub = (
            STUB.read_text()
            .replace("@STATE@", str(self.state))
            .replace("@CLUSTER@", str(cluster.dir))
            .replace("@HOST@", name)
            .replace("@ADDRESS@", address)
            .replace("@KEY@", KEY.replace("\n", "\\n"))
            .replace("@PYTHON@", sys.executable)
        )
        (self.bin / "stub").write_text(stub)
        (self.bin / "stub").chmod(0o755)
        for command in SYSTEM_STUBS:
            self._link(command)
        if fresh:
            self._arrange(address, os_release, cgroup, k8s_versions, containerd_version)
        else:
            self._boot()
        _HOSTS.append(self)

    def _arrange(self, address, os_release, cgroup, k8s_versions, containerd_version) -> None:
        for name_, value in {
            "installed": "",
            "lists": "",
            "holds": "",
            "fail": "",
            "cgroup": f"{cgroup}\n",
            "sysctl": "net.ipv4.ip_forward=0\n",
            "k8s-versions": "\n".join(k8s_versions) + "\n",
            "containerd-version": f"{containerd_version}\n",
            "interfaces": (
                "1: lo    inet 127.0.0.1/8 scope host lo\n"
                f"2: eth1    inet {address}/24 brd 192.168.56.255 scope global eth1\n"
            ),
            "links": "cni0\nflannel.1\n",
            "package-commands": "".join(
                f"{package} {command}\n"
                for package, commands in PACKAGE_COMMANDS.items()
                for command in commands
            ),
        }.items():
            (self.state / name_).write_text(value)
        os_id, version, codename = os_release.split(":")
        self.write(
            "/etc/os-release",
            f'PRETTY_NAME="{os_id} {version}"\nID={os_id}\nVERSION_ID="{version}"\n'
            f"VERSION_CODENAME={codename}\n",
        )
        self.write("/etc/fstab", "UUID=1 / ext4 defaults 0 1\n/swap.img none swap sw 0 0\n")

    def _kubelet_pid(self) -> int:
        """The pid of this host's kubelet process (tests/hostsim_stub.sh: `kubelet_pid`), or 0."""
        try:
            pid = int((self.state / "kubelet-pid").read_text())
            exe = os.readlink(f"/proc/{pid}/exe")
        except (OSError, ValueError):
            return 0
        binary = str(self.state / "kubelet-bin")
        return pid if exe in (binary, f"{binary} (deleted)") else 0

    def _boot(self) -> None:
        """A copied machine starts up: a kubelet that ran on the original runs here too, its own
        process of the binary installed now (the original's pid is not this host's)."""
        recorded = self.state / "kubelet-pid"
        if not recorded.exists() or recorded.read_text().strip() in ("", "0"):
            return
        started = subprocess.Popen(
            [str(self.state / "kubelet-bin"), "infinity"],
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        recorded.write_text(f"{started.pid}\n")

    def kubelet_exe(self) -> str | None:
        """What the kernel shows as the running kubelet's executable (None: not running)."""
        pid = self._kubelet_pid()
        return os.readlink(f"/proc/{pid}/exe") if pid else None

    def _check_outside_overlays(self) -> None:
        for part in OVERLAID:
            if self.dir.resolve().is_relative_to(Path("/", part)):
                raise RuntimeError(f"hostsim: {self.dir} is under /{part}, which it overlays")

    def _link(self, command: str) -> None:
        link = self.bin / command
        if not link.is_symlink():
            link.symlink_to("stub")

    # -- arranging the host --------------------------------------------------------------------

    def path(self, host_path: str) -> Path:
        """Where `host_path` (absolute, on the host) lives in the private root's writable layer."""
        return self.dir / "upper" / host_path.lstrip("/")

    def write(self, host_path: str, content: str, mode: int = 0o644) -> None:
        path = self.path(host_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        path.chmod(mode)

    def exists(self, host_path: str) -> bool:
        """Written by the scripts (a whiteout, i.e. a deleted lower file, does not count)."""
        path = self.path(host_path)
        return path.exists() and not path.is_char_device()

    def read(self, host_path: str) -> str:
        return self.path(host_path).read_text()

    def install(self, package: str, version: str) -> None:
        """As if apt had installed it earlier (and it is held, as prepare.sh leaves it)."""
        rows = [r for r in self.state_lines("installed") if not r.startswith(f"{package} ")]
        (self.state / "installed").write_text(
            "".join(f"{r}\n" for r in [*rows, f"{package} {version}"])
        )
        for command in PACKAGE_COMMANDS.get(package, ()):
            self._link(command)
        if package == "kubelet":  # the file the stub's kubelet process runs
            shutil.copy2("/usr/bin/sleep", self.state / "kubelet-bin")

    def fail(self, glob: str, code: int = 1, message: str = "failed", *, after=False) -> None:
        """Matching calls ("command args", a shell glob) print `message` and exit with `code`;
        with `after=True` only once they have done their work (a failure after side effects)."""
        with (self.state / "fail").open("a") as f:
            f.write(f"{glob}\t{code}\t{message}\t{'after' if after else 'before'}\n")

    def heal(self) -> None:
        (self.state / "fail").write_text("")

    def state_lines(self, name: str) -> list[str]:
        path = self.state / name
        return path.read_text().splitlines() if path.exists() else []

    def calls(self) -> list[str]:
        return self.state_lines("calls")

    def snapshot(self) -> dict[str, tuple[int, bytes]]:
        """Every file of the private root: mode and content (a re-run must change none)."""
        found = {}
        upper = self.dir / "upper"
        for path in sorted(upper.rglob("*")):
            if path.is_file():
                found[str(path.relative_to(upper))] = (path.stat().st_mode, path.read_bytes())
        return found

    # -- running steps --------------------------------------------------------------------------

    def run(self, resource: RecordedResource, action: str = "create") -> Run:
        """`resource`'s recorded `create` or `delete` command with its recorded stdin."""
        command = resource.inputs.get(action)
        assert command, f"{resource.name} has no {action} command"
        return self.run_command(command, resource.inputs["stdin"])

    def run_command(self, command: str, stdin: str) -> Run:
        before = len(self.calls())
        hide = "; ".join(
            f"mount -t overlay overlay -o ro,lowerdir={layer}:{directory} {directory}"
            for directory, layer in hiding_layers().items()
        )
        mounts = "; ".join(
            f"mount -t overlay overlay -o lowerdir=/{p},upperdir={self.dir}/upper/{p},"
            f"workdir={self.dir}/work/{p} /{p}"
            for p in OVERLAID
        )
        setup = textwrap.dedent(
            f"""\
            set -e
            mount --make-rprivate /
            {mounts}
            mount --bind {self.bin} /usr/local/sbin
            {hide or ":"}
            cd /root
            exec env -i PATH=/usr/local/sbin:/usr/bin:/bin HOME=/root bash -c "$1"
            """
        )
        result = subprocess.run(
            ["unshare", "-m", "-n", "bash", "-c", setup, "hostsim", command],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        return Run(result.returncode, result.stdout, result.stderr, self.calls()[before:])
