"""Every host step's create and delete, run as a host receives them (tests/hostsim.py): the
recorded command and stdin of the onprem-lab stack, on simulated hosts whose system commands are
stubs and whose files live in a private root.

Scenarios: clean hosts, a second `pulumi up` (no mutating call, no file changed), a foreign CA,
failures in the middle of a step (errexit, pipefail, nounset), deletes, and a re-run after each
failure."""

from __future__ import annotations

import atexit
import dataclasses
import functools
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hostsim import HIDDEN, SYSTEM_STUBS, Cluster, Host, available
from support import run_main

from components.kubeadm.commands import CREATE, DELETE, LIBRARY, script_text
from components.kubeadm.credentials import ca_cert_hash
from components.recording import RecordedResource
from components.stackfile import load_stack

# One worker runs them all: the labs brought up once per process are shared.
pytestmark = pytest.mark.xdist_group("hostsim")


def without_hosts(test):
    """For a test that only reads the recording: it runs where hosts cannot be simulated."""
    test.without_hosts = True
    return test


@pytest.fixture(autouse=True)
def simulation(request, machine_before):
    """Skip a test that runs host steps where they cannot run (not root, no CAP_SYS_ADMIN, ...),
    with the reason `available()` found; decided when the test runs, not at import."""
    if getattr(request.function, "without_hosts", False):
        return
    reason = available()
    if reason is not None:
        pytest.skip(reason)


STACK = "onprem-lab"
KUBEADM_KEY = "hybrid-kube:kubeadm"
ADDRESSES = {"cp1": "192.168.56.11", "w1": "192.168.56.21", "w2": "192.168.56.22"}
HA_ADDRESSES = {"cp1": "192.168.56.11", "cp2": "192.168.56.12", "cp3": "192.168.56.13"}
HA_ADDRESSES["w1"] = "192.168.56.21"
VIP = "192.168.56.10"
# The PATH every step runs with (lib.sh exports it).
LIB_PATH = re.search(r"^export PATH=(\S+)$", script_text(LIBRARY), re.MULTILINE).group(1)


@functools.cache
def lab(version: str | None = None) -> dict[str, RecordedResource]:
    """The shipped onprem-lab stack's host steps, by name (onprem-<host>-<step>); `version`
    overrides kubernetesVersion."""
    overrides = {"hybrid-kube:kubernetesVersion": version} if version else None
    return steps(run_main(STACK, overrides=overrides))


@functools.cache
def ha() -> dict[str, RecordedResource]:
    """The same stack with three control planes behind a kube-vip address and one worker."""
    shipped = json.loads(load_stack(STACK).config[KUBEADM_KEY])
    hosts = [
        {"name": name, "address": address, "role": "worker" if name[0] == "w" else "control-plane"}
        for name, address in HA_ADDRESSES.items()
    ]
    kubeadm = {**shipped, "controlPlaneEndpoint": VIP, "hosts": hosts}
    return steps(run_main(STACK, overrides={KUBEADM_KEY: kubeadm}))


def steps(recording) -> dict[str, RecordedResource]:
    found = {r.name: r for r in recording.of_type("command:remote:Command")}
    for resource in found.values():  # what every host receives
        assert resource.inputs["create"] == CREATE
        assert resource.inputs.get("delete") in (None, DELETE)
    return with_real_ca(found)


@functools.cache
def real_ca() -> tuple[str, str, str]:
    """A CA made by openssl: certificate, key and its caCertHash, computed by the program's own
    `ca_cert_hash` from the public key (as the program computes the one it sends)."""
    with tempfile.TemporaryDirectory(prefix="hostsim-ca-") as tmp:
        key, cert = f"{tmp}/ca.key", f"{tmp}/ca.crt"
        request = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        subprocess.run(
            [*request, "-keyout", key, "-out", cert, "-subj", "/CN=kubernetes"],
            check=True,
            capture_output=True,
        )
        public = subprocess.run(
            ["openssl", "pkey", "-in", key, "-pubout"], check=True, capture_output=True, text=True
        ).stdout
        return Path(cert).read_text(), Path(key).read_text(), ca_cert_hash(public)


def with_real_ca(found: dict[str, RecordedResource]) -> dict[str, RecordedResource]:
    """The steps with the mock engine's CA (PEM blocks around placeholder text, which openssl
    cannot read, and a hash of another placeholder) replaced by a real CA and its hash, so that
    join.sh's check of a host's ca.crt against caCertHashes runs as on a real host. Unchanged
    where openssl is missing (no host runs there)."""
    if shutil.which("openssl") is None:
        return found
    init = next(r for name, r in found.items() if name.endswith("-init"))
    join = next(r for name, r in found.items() if name.endswith("-join"))
    discovery = yaml.safe_load(variable(join, "JOIN_CONFIG"))["discovery"]["bootstrapToken"]
    cert, key, digest = real_ca()
    swaps = {
        variable(init, "CA_CERT"): cert,
        variable(init, "CA_KEY"): key,
        discovery["caCertHashes"][0]: digest,
    }
    replaced = {}
    for name, resource in found.items():
        stdin = resource.inputs["stdin"]
        for mock, real in swaps.items():
            stdin = stdin.replace(mock, real)
        replaced[name] = dataclasses.replace(resource, inputs={**resource.inputs, "stdin": stdin})
    assert variable(replaced[init.name], "CA_CERT") == cert
    return replaced


def variable(resource: RecordedResource, name: str) -> str:
    """A preamble variable's value, read back the way bash reads it. The preamble is what follows
    the step header line and precedes lib.sh (commands.render_stdin)."""
    import shlex

    header, rest = resource.inputs["stdin"].split("\n", 1)
    assert header.startswith("# hybrid-kube step: "), header
    preamble, found, _ = rest.partition(script_text(LIBRARY))
    assert found, "no lib.sh after the preamble"
    values = dict(t.split("=", 1) for t in shlex.split(preamble) if "=" in t)
    return values[name]


class Lab:
    """Simulated hosts for one recording, and the engine's order for bringing them up."""

    def __init__(self, tmp_path: Path, recorded: dict[str, RecordedResource], addresses, **host):
        self.steps = recorded
        self.cluster = Cluster(tmp_path)
        self.hosts = {
            name: Host(tmp_path, self.cluster, name, address, **host)
            for name, address in addresses.items()
        }
        self.bootstrap = self.hosts.get("cp1")

    def where(self, step: str) -> Host:
        """Admit, node and the drain/uncordon steps run on the bootstrap control plane."""
        host, kind = re.fullmatch(r"onprem-(\w+?)-(.+)", step).groups()
        on_bootstrap = kind in ("admit", "node", "upgrade-drain", "upgrade-uncordon")
        return self.bootstrap if on_bootstrap else self.hosts[host]

    def run(self, step: str, action: str = "create", *, ok: bool = True):
        result = self.where(step).run(self.steps[step], action)
        if ok:
            assert result.returncode == 0, (step, action, result.stdout, result.stderr)
        return result

    def order(self) -> list[str]:
        """Every step, each after the steps it depends on (as the engine creates them)."""
        by_urn = {r.urn: name for name, r in self.steps.items()}
        done: list[str] = []
        pending = sorted(self.steps)
        while pending:
            for name in pending:
                needs = {by_urn[u] for u in self.steps[name].dependencies if u in by_urn}
                if needs <= set(done):
                    done.append(name)
                    pending.remove(name)
                    break
            else:
                raise AssertionError(f"cycle among {pending}")
        return done

    def up(self) -> dict[str, Any]:
        return {name: self.run(name) for name in self.order()}


@functools.cache
def _built(kind: str) -> Path:
    """A lab brought up once per test process (in a directory removed at exit); tests work on
    copies of it (`copy_of`)."""
    root = Path(tempfile.mkdtemp(prefix=f"hostsim-{kind}-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    if kind == "lab":
        Lab(root, lab(), ADDRESSES).up()
    elif kind == "ha":
        Lab(root, ha(), HA_ADDRESSES).up()
    else:  # "1.34": the lab brought up on Kubernetes 1.34
        built = Lab(root, lab("1.34"), ADDRESSES)
        built.up()
        assert built.cluster.node("w1")["version"] == "v1.34.4"
    return root


def copy_of(kind: str, tmp_path: Path, recorded, addresses) -> Lab:
    root = tmp_path / "sim"
    shutil.copytree(_built(kind), root, symlinks=True)
    return Lab(root, recorded, addresses, fresh=False)


def whole_lab(tmp_path: Path) -> Lab:
    return copy_of("lab", tmp_path, lab(), ADDRESSES)


# -- nothing on the test machine changes -----------------------------------------------------------

WATCHED = (
    "/etc/kubernetes",
    "/var/lib/kubelet",
    "/var/log/hybrid-kube",
    "/etc/containerd",
    "/etc/apt/sources.list.d",
    "/etc/apt/keyrings",
    "/etc/sysctl.d",
    "/etc/modules-load.d",
    "/etc/fstab",
    "/etc/crictl.yaml",
    "/root/.kube",
)


def machine_state() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for top in WATCHED:
        path = Path(top)
        if path.is_file():
            found[top] = (path.lstat().st_mtime_ns, path.read_bytes())
        elif path.is_dir():
            found[top] = sorted((str(p), p.lstat().st_mtime_ns) for p in path.rglob("*"))
        else:
            found[top] = None
    return found


@pytest.fixture(scope="module")
def machine_before() -> dict[str, Any] | None:
    """The watched paths before any host step of this process ran (the first test of this module
    asks for it; labs are only brought up by these tests). None where hosts are not simulated:
    an unprivileged user may not even look into /root."""
    return machine_state() if available() is None else None


def test_bringing_up_and_deleting_the_lab_changes_nothing_on_the_test_machine(
    tmp_path, machine_before
):
    lab_ = whole_lab(tmp_path)  # every bring-up of this process happened after the snapshot
    before = machine_before
    assert machine_state() == before
    for name in reversed(lab_.order()):
        if lab_.steps[name].inputs.get("delete"):
            lab_.run(name, "delete")
    assert machine_state() == before
    assert not Path("/etc/kubernetes/admin.conf").exists()
    # ...while the simulated host did get the files.
    assert lab_.bootstrap.exists("/etc/kubernetes/pki/ca.crt") is False  # reset removed it
    assert lab_.bootstrap.exists("/etc/containerd/config.toml")


# -- clean hosts, then a second `pulumi up` --------------------------------------------------------


def test_clean_hosts_become_a_cluster(tmp_path):
    lab_ = whole_lab(tmp_path)
    cluster = lab_.cluster
    assert cluster.nodes() == ["cp1", "w1", "w2"]
    assert cluster.members() == ["cp1"]
    for name in ("cp1", "w1", "w2"):
        assert cluster.node(name)["serving"] == "1"  # its serving certificate was approved
    assert cluster.node("w1")["label"] == "node-role.kubernetes.io/worker="
    # With workers, the control plane keeps kubeadm's NoSchedule taint (documents.py).
    assert cluster.node("cp1")["taints"] == "NoSchedule,"
    assert cluster.node("w1")["taints"] == ""
    ca = variable(lab_.steps["onprem-cp1-init"], "CA_CERT")
    key = variable(lab_.steps["onprem-cp1-init"], "CA_KEY")
    cp1 = lab_.bootstrap
    assert cp1.read("/etc/kubernetes/pki/ca.crt") == ca + "\n"  # the program's CA, not kubeadm's
    assert cp1.read("/etc/kubernetes/pki/ca.key") == key + "\n"
    assert stat.S_IMODE(cp1.path("/etc/kubernetes/pki/ca.key").stat().st_mode) == 0o600
    assert lab_.hosts["w1"].read("/etc/kubernetes/pki/ca.crt") == ca + "\n"
    assert cp1.read("/etc/kubernetes/hybrid-kube/initialised") == (
        "node=cp1\naddress=192.168.56.11\n"
    )
    for host in lab_.hosts.values():
        assert "SystemdCgroup = true" in host.read("/etc/containerd/config.toml")
        assert host.read("/etc/fstab").endswith(
            "# disabled by hybrid-kube: /swap.img none swap sw 0 0\n"
        )
        assert "apt-mark hold kubelet kubeadm kubectl" in host.calls()
        assert "swapoff -a" in host.calls()
        assert sorted(host.state_lines("holds")) == [
            "containerd.io",
            "kubeadm",
            "kubectl",
            "kubelet",
        ]


def secret_values(lab_: Lab) -> set[str]:
    """The bootstrap token's secret part and the certificate key the program sent. Under the mock
    engine the token's parts are placeholders ("... onprem-token-secret)"): its last word is what
    no file may hold; the certificate key is 64 hex digits."""
    documents = list(yaml.safe_load_all(variable(lab_.steps["onprem-cp1-init"], "KUBEADM_CONFIG")))
    init = documents[0]
    token_secret = init["bootstrapTokens"][0]["token"].split(".", 1)[1]
    return {token_secret.split()[-1].strip(")"), init["certificateKey"]}


def files_holding(host: Host, secrets: set[str]) -> list[str]:
    upper = host.dir / "upper"
    return [
        str(p.relative_to(upper))
        for p in upper.rglob("*")
        if p.is_file() and any(s.encode() in p.read_bytes() for s in secrets)
    ]


def test_no_file_on_any_host_keeps_the_bootstrap_token_or_certificate_key(tmp_path):
    lab_ = whole_lab(tmp_path)
    secrets = secret_values(lab_)
    for host in lab_.hosts.values():
        assert files_holding(host, secrets) == [], host.name
    # kubeadm was given them, in the files the scripts removed afterwards.
    seen = lab_.hosts["w1"].state / "seen" / "kubeadm-join.yaml"
    assert any(s in seen.read_text() for s in secrets)
    assert (lab_.bootstrap.state / "seen" / "kubeadm-init.yaml").exists()
    assert not lab_.hosts["w1"].exists("/etc/kubernetes/hybrid-kube/kubeadm-join.yaml")
    assert not lab_.bootstrap.exists("/etc/kubernetes/hybrid-kube/kubeadm-init.yaml")


def test_a_second_up_makes_no_mutating_call_and_changes_no_file(tmp_path):
    lab_ = whole_lab(tmp_path)
    before = {name: host.snapshot() for name, host in lab_.hosts.items()}
    nodes = {name: lab_.cluster.node(name) for name in lab_.cluster.nodes()}
    for name in lab_.order():
        result = lab_.run(name)
        if name.endswith("-admit"):
            # Refreshing the join credentials is what admit is for (it runs when the join does).
            assert result.mutating() == [
                "kubeadm init phase bootstrap-token --config"
                f" /etc/kubernetes/hybrid-kube/admit-{name.split('-')[1]}.yaml"
                " --kubeconfig /etc/kubernetes/admin.conf"
            ]
            continue
        assert result.mutating() == [], (name, result.mutating())
    assert {name: host.snapshot() for name, host in lab_.hosts.items()} == before
    assert {name: lab_.cluster.node(name) for name in lab_.cluster.nodes()} == nodes


def test_an_already_prepared_host_installs_and_restarts_nothing(tmp_path):
    lab_ = Lab(tmp_path, lab(), {"w1": ADDRESSES["w1"]})
    w1 = lab_.hosts["w1"]
    lab_.run("onprem-w1-prepare")
    for package in ("ca-certificates", "curl", "gpg"):
        assert f"{package} 1.0" in w1.state_lines("installed")
    again = lab_.run("onprem-w1-prepare")
    assert again.mutating() == []
    assert not any(c.startswith("apt-get") for c in again.calls)
    assert "systemctl start containerd" in again.calls  # started, not restarted


def test_prepare_refuses_a_cgroup_v1_host_before_installing_anything(tmp_path):
    lab_ = Lab(tmp_path, lab(), {"w1": ADDRESSES["w1"]}, cgroup="tmpfs")
    result = lab_.run("onprem-w1-prepare", ok=False)
    assert result.returncode == 1
    assert "w1 runs cgroup v1" in result.stderr and "failCgroupV1" in result.stderr
    assert result.mutating() == [] and not lab_.hosts["w1"].exists("/etc/sysctl.d/k8s.conf")


# -- init.sh: the CA -------------------------------------------------------------------------------


def test_init_refuses_a_host_with_another_clusters_ca_and_changes_nothing(tmp_path):
    lab_ = Lab(tmp_path, lab(), {"cp1": ADDRESSES["cp1"]})
    cp1 = lab_.bootstrap
    lab_.run("onprem-cp1-prepare")
    foreign = "-----BEGIN CERTIFICATE-----\nforeign\n-----END CERTIFICATE-----\n"
    cp1.write("/etc/kubernetes/pki/ca.crt", foreign)
    result = lab_.run("onprem-cp1-init", ok=False)
    assert result.returncode == 1
    assert "/etc/kubernetes/pki/ca.crt exists and is not this stack's CA" in result.stderr
    assert "run 'kubeadm reset -f' on cp1 first" in result.stderr
    assert not any(c.startswith(("kubeadm init", "kubeadm reset")) for c in result.calls)
    assert cp1.read("/etc/kubernetes/pki/ca.crt") == foreign
    assert not cp1.exists("/etc/kubernetes/pki/ca.key")
    assert not cp1.exists("/etc/kubernetes/hybrid-kube/kubeadm-init.yaml")
    assert lab_.cluster.nodes() == []
    # Once the host is reset (the message's advice), the same step goes through.
    cp1.path("/etc/kubernetes/pki/ca.crt").unlink()
    lab_.run("onprem-cp1-init")
    assert lab_.cluster.nodes() == ["cp1"]


def test_init_accepts_its_own_ca_left_by_an_earlier_attempt(tmp_path):
    lab_ = Lab(tmp_path, lab(), {"cp1": ADDRESSES["cp1"]})
    lab_.run("onprem-cp1-prepare")
    ca = variable(lab_.steps["onprem-cp1-init"], "CA_CERT")
    lab_.bootstrap.write("/etc/kubernetes/pki/ca.crt", ca + "\n")
    lab_.run("onprem-cp1-init")
    assert lab_.cluster.nodes() == ["cp1"]


# -- failures, and the run after them --------------------------------------------------------------


def test_a_failed_kubeadm_init_resets_the_host_removes_its_config_and_the_next_run_succeeds(
    tmp_path,
):
    lab_ = Lab(tmp_path, lab(), {"cp1": ADDRESSES["cp1"]})
    cp1 = lab_.bootstrap
    lab_.run("onprem-cp1-prepare")
    cp1.fail("kubeadm init*", 1, "error execution phase wait-control-plane: timed out")
    failed = lab_.run("onprem-cp1-init", ok=False)
    assert failed.returncode == 1
    assert "kubeadm init failed on cp1; the host was reset" in failed.stderr
    assert "timed out" in failed.stderr  # the log's tail
    assert "kubeadm reset -f" in failed.calls
    assert (cp1.state / "seen" / "kubeadm-init.yaml").exists()  # it was there for kubeadm
    assert not cp1.exists("/etc/kubernetes/hybrid-kube/kubeadm-init.yaml")
    assert files_holding(cp1, secret_values(lab_)) == []
    cp1.heal()
    lab_.run("onprem-cp1-init")
    assert lab_.cluster.nodes() == ["cp1"]


@pytest.mark.parametrize("role", ["worker", "control-plane"])
def test_a_failed_join_removes_the_join_configuration_and_the_next_run_joins(tmp_path, role):
    recorded, addresses = (lab(), ADDRESSES) if role == "worker" else (ha(), HA_ADDRESSES)
    lab_ = Lab(tmp_path, recorded, addresses)
    name = "w1" if role == "worker" else "cp2"
    host = lab_.hosts[name]
    for step in ("onprem-cp1-prepare", "onprem-cp1-init", f"onprem-{name}-prepare"):
        lab_.run(step)
    lab_.run(f"onprem-{name}-admit")
    host.fail("kubeadm join*", 1, "error execution phase preflight: connection refused")
    failed = lab_.run(f"onprem-{name}-join", ok=False)
    assert failed.returncode == 1 and f"kubeadm join failed on {name}" in failed.stderr
    assert "kubeadm reset -f" in failed.calls
    assert (host.state / "seen" / "kubeadm-join.yaml").exists()
    assert not host.exists("/etc/kubernetes/hybrid-kube/kubeadm-join.yaml")
    assert files_holding(host, secret_values(lab_)) == []
    host.heal()
    joined = lab_.run(f"onprem-{name}-join")
    assert f"{name} joined as {role}" in joined.stdout
    assert not host.exists("/etc/kubernetes/hybrid-kube/kubeadm-join.yaml")
    assert name in lab_.cluster.nodes()
    if role == "control-plane":
        assert lab_.cluster.members() == ["cp1", "cp2"]
        vip = host.read("/etc/kubernetes/manifests/kube-vip.yaml")
        assert "eth1" in vip and "/etc/kubernetes/admin.conf" in vip and "super-admin" not in vip


def test_a_kubeadm_init_failing_after_it_wrote_its_files_is_reset_and_the_next_run_succeeds(
    tmp_path,
):
    """kubeadm init wrote admin.conf, the CA and its manifests, then failed (say, an addon
    phase): the host is reset, so the next run is not taken for an initialised control plane."""
    lab_ = Lab(tmp_path, lab(), {"cp1": ADDRESSES["cp1"]})
    cp1 = lab_.bootstrap
    lab_.run("onprem-cp1-prepare")
    cp1.fail("kubeadm init --config*", 1, "error execution phase addon: timeout", after=True)
    failed = lab_.run("onprem-cp1-init", ok=False)
    assert failed.returncode == 1 and "kubeadm init failed on cp1" in failed.stderr
    assert "kubeadm reset -f" in failed.calls
    for gone in ("/etc/kubernetes/admin.conf", "/etc/kubernetes/pki/ca.key"):
        assert not cp1.exists(gone), gone
    assert not cp1.exists("/etc/kubernetes/hybrid-kube/initialised")
    cp1.heal()
    again = lab_.run("onprem-cp1-init")
    assert "control plane cp1 initialised" in again.stdout
    assert any(c.startswith("kubeadm init --config") for c in again.calls)
    ca = variable(lab_.steps["onprem-cp1-init"], "CA_CERT")
    assert cp1.read("/etc/kubernetes/pki/ca.crt") == ca + "\n"
    assert lab_.cluster.nodes() == ["cp1"] and lab_.cluster.members() == ["cp1"]


def another_clusters_ca() -> tuple[str, str]:
    """A CA certificate of some other cluster, and its caCertHash."""
    cert, _, digest = real_ca.__wrapped__()  # a new one, not the cached CA of the labs
    assert digest != real_ca()[2]
    return cert, digest


CA = "/etc/kubernetes/pki/ca.crt"
UNREADABLE = "-----BEGIN CERTIFICATE-----\nforeign\n"


def joinable_worker(tmp_path: Path) -> Lab:
    """cp1 initialised, w1 prepared and admitted: w1's join step is next."""
    lab_ = Lab(tmp_path, lab(), ADDRESSES)
    for step in ("onprem-cp1-prepare", "onprem-cp1-init", "onprem-w1-prepare", "onprem-w1-admit"):
        lab_.run(step)
    return lab_


def assert_refused_as_another_clusters(result, found: str) -> None:
    assert result.returncode == 1
    assert (
        f"w1 belongs to another cluster: its {CA} has the public-key hash {found}, this"
        f" cluster's CA has {real_ca()[2]}; nothing was changed"
    ) in result.stderr
    assert "if w1 should join this cluster, run 'kubeadm reset -f' on it first" in result.stderr
    assert not any(c.startswith("kubeadm") for c in result.calls), result.calls
    assert result.mutating() == []


@pytest.mark.parametrize("leftover", ["certificate", "unreadable"])
def test_a_join_onto_a_host_with_a_leftover_foreign_ca_is_refused_before_kubeadm_join(
    tmp_path, leftover
):
    """A worker's `kubeadm join` would fail its preflight on any existing ca.crt, and the
    cleanup after it would run `kubeadm reset`: the step refuses first, naming both hashes."""
    lab_ = joinable_worker(tmp_path)
    w1 = lab_.hosts["w1"]
    cert, digest = another_clusters_ca()
    if leftover == "unreadable":
        cert, digest = UNREADABLE, f"none ({CA} is not a certificate openssl can read)"
    w1.write(CA, cert)
    before = w1.snapshot()
    refused = lab_.run("onprem-w1-join", ok=False)
    assert_refused_as_another_clusters(refused, digest)
    assert w1.snapshot() == before
    assert "w1" not in lab_.cluster.nodes()
    # Once the host is reset (the message's advice), the same step joins.
    w1.path(CA).unlink()
    lab_.run("onprem-w1-join")
    ca = variable(lab_.steps["onprem-cp1-init"], "CA_CERT")
    assert "w1" in lab_.cluster.nodes() and w1.read(CA) == ca + "\n"


def test_a_host_joined_to_another_cluster_is_refused_and_not_reset(tmp_path):
    """kubelet.conf alone said "already joined" for a host of another cluster (say, a wrong
    address in the stack); its CA tells them apart, and nothing on it is touched."""
    lab_ = joinable_worker(tmp_path)
    w1 = lab_.hosts["w1"]
    cert, digest = another_clusters_ca()
    w1.write(CA, cert)
    w1.write("/etc/kubernetes/kubelet.conf", "apiVersion: v1\nkind: Config\n# other cluster\n")
    before = w1.snapshot()
    refused = lab_.run("onprem-w1-join", ok=False)
    assert_refused_as_another_clusters(refused, digest)
    assert "already joined" not in refused.stdout
    assert w1.snapshot() == before and w1.read(CA) == cert
    assert "w1" not in lab_.cluster.nodes()


def test_a_failed_admit_leaves_no_credentials_and_the_next_run_refreshes_them(tmp_path):
    lab_ = Lab(tmp_path, lab(), ADDRESSES)
    cp1 = lab_.bootstrap
    for step in ("onprem-cp1-prepare", "onprem-cp1-init"):
        lab_.run(step)
    cp1.fail("kubeadm init phase bootstrap-token *", 1, "error: timed out waiting for the API")
    failed = lab_.run("onprem-w1-admit", ok=False)
    assert failed.returncode == 1 and "timed out waiting for the API" in failed.stderr
    assert not cp1.exists("/etc/kubernetes/hybrid-kube/admit-w1.yaml")
    assert files_holding(cp1, secret_values(lab_)) == []
    cp1.heal()
    again = lab_.run("onprem-w1-admit")
    assert "join credentials refreshed for w1" in again.stdout
    assert not cp1.exists("/etc/kubernetes/hybrid-kube/admit-w1.yaml")


def test_a_failed_node_step_is_finished_by_the_next_run(tmp_path):
    lab_ = Lab(tmp_path, lab(), ADDRESSES)
    for step in ("cp1-prepare", "cp1-init", "w1-prepare", "w1-admit", "w1-join"):
        lab_.run(f"onprem-{step}")
    lab_.bootstrap.fail("kubectl * label node w1 *", 1, "error: the server is unavailable")
    failed = lab_.run("onprem-w1-node", ok=False)
    assert failed.returncode == 1 and "label" not in lab_.cluster.node("w1")
    lab_.bootstrap.heal()
    lab_.run("onprem-w1-node")
    node = lab_.cluster.node("w1")
    assert node["label"] == "node-role.kubernetes.io/worker=" and node["serving"] == "1"


def test_a_node_delete_that_could_not_remove_the_node_is_finished_by_the_next_run(tmp_path):
    lab_ = whole_lab(tmp_path)
    lab_.bootstrap.fail("kubectl * delete node w1 *", 1, "error: the server is unavailable")
    failed = lab_.run("onprem-w1-node", "delete", ok=False)
    assert failed.returncode == 1 and "could not delete node w1" in failed.stderr
    assert "w1" in lab_.cluster.nodes() and lab_.cluster.node("w1")["cordoned"] == "1"
    lab_.bootstrap.heal()
    lab_.run("onprem-w1-node", "delete")
    assert lab_.cluster.nodes() == ["cp1", "w2"]


def test_an_already_joined_host_is_never_joined_or_reset_again(tmp_path):
    lab_ = whole_lab(tmp_path)
    w1 = lab_.hosts["w1"]
    kubelet_conf = w1.read("/etc/kubernetes/kubelet.conf")
    again = lab_.run("onprem-w1-join")
    assert "w1 has already joined the cluster" in again.stdout
    assert not any(c.startswith("kubeadm") for c in again.calls), again.calls
    assert w1.read("/etc/kubernetes/kubelet.conf") == kubelet_conf
    assert not w1.exists("/etc/kubernetes/hybrid-kube/kubeadm-join.yaml")
    assert "w1" in lab_.cluster.nodes()


def test_a_failed_package_refresh_stops_prepare_and_the_next_run_installs(tmp_path):
    lab_ = Lab(tmp_path, lab(), {"w1": ADDRESSES["w1"]})
    w1 = lab_.hosts["w1"]
    w1.install("ca-certificates", "1.0")
    w1.install("curl", "1.0")
    w1.install("gpg", "1.0")
    w1.fail("apt-get *update", 100, "E: Failed to fetch https://download.docker.com 503")
    failed = lab_.run("onprem-w1-prepare", ok=False)
    assert failed.returncode == 100 and "503" in failed.stderr
    assert not any("install" in c for c in failed.calls if c.startswith("apt-get"))
    w1.heal()
    lab_.run("onprem-w1-prepare")
    assert any(line.startswith("kubeadm 1.35.") for line in w1.state_lines("installed"))


# -- set -Eeuo pipefail, as the hosts receive it ---------------------------------------------------


def test_a_failing_command_stops_the_step_there(tmp_path):
    """errexit: `modprobe br_netfilter` fails, nothing after it runs."""
    lab_ = Lab(tmp_path, lab(), {"w1": ADDRESSES["w1"]})
    w1 = lab_.hosts["w1"]
    w1.fail("modprobe br_netfilter", 1, "modprobe: FATAL: Module br_netfilter not found")
    result = lab_.run("onprem-w1-prepare", ok=False)
    assert result.returncode == 1
    assert result.calls[-1] == "modprobe br_netfilter"
    assert not w1.exists("/etc/sysctl.d/k8s.conf")
    assert "host w1 is prepared" not in result.stdout


def upgrading_lab(tmp_path: Path) -> Lab:
    """A lab brought up on Kubernetes 1.34, then the stack raised to 1.35 (the shipped file)."""
    return copy_of("1.34", tmp_path, lab(), ADDRESSES)


def test_a_command_failing_inside_a_pipeline_is_not_taken_for_success(tmp_path):
    """pipefail: `kubectl get nodes | awk` with kubectl failing must not read as "no other node
    can take the pods" (which would only cordon w1 and upgrade it with its pods on it)."""
    lab_ = upgrading_lab(tmp_path)
    lab_.run("onprem-cp1-upgrade")
    assert lab_.cluster.node("cp1")["version"] == "v1.35.2"
    lab_.bootstrap.fail("kubectl * get nodes -o go-template=*", 1, "error: the server is busy")
    result = lab_.run("onprem-w1-upgrade-drain")
    drains = [c for c in result.calls if " drain w1 " in c]
    assert len(drains) == 1, result.calls
    assert not any(" cordon w1" in c for c in result.calls)


def test_a_variable_the_program_did_not_send_stops_the_step_before_it_changes_anything(tmp_path):
    """nounset: a join preamble without ROLE (a program/script mismatch) is an error, not a join
    as an unnamed role."""
    lab_ = Lab(tmp_path, lab(), ADDRESSES)
    for step in ("onprem-cp1-prepare", "onprem-cp1-init", "onprem-w1-prepare", "onprem-w1-admit"):
        lab_.run(step)
    w1 = lab_.hosts["w1"]
    stdin = lab_.steps["onprem-w1-join"].inputs["stdin"]
    stdin, removed = re.subn(r"^ROLE=.*\n", "", stdin, count=1, flags=re.MULTILINE)
    assert removed == 1
    result = w1.run_command(CREATE, stdin)
    assert result.returncode != 0 and "ROLE: unbound variable" in result.stderr
    assert result.mutating() == [] and "w1" not in lab_.cluster.nodes()
    assert not w1.exists("/etc/kubernetes/hybrid-kube/kubeadm-join.yaml")


# -- deletes ---------------------------------------------------------------------------------------


def test_removing_a_worker_drains_and_deletes_its_node_then_resets_the_host(tmp_path):
    lab_ = whole_lab(tmp_path)
    w1 = lab_.hosts["w1"]
    node = lab_.run("onprem-w1-node", "delete")
    assert any(" drain w1 " in c for c in node.calls)
    assert "w1" not in lab_.cluster.nodes()
    reset = lab_.run("onprem-w1-join", "delete")
    assert "kubeadm reset -f" in reset.calls
    for gone in (
        "/etc/kubernetes/kubelet.conf",
        "/etc/kubernetes/hybrid-kube",
        "/etc/kubernetes/pki/ca.crt",
    ):
        assert not w1.exists(gone), gone
    restored = (w1.state / "iptables-restore.input").read_text()
    assert "KUBE-" not in restored and "-A INPUT -j ACCEPT" in restored
    assert "ip link delete cni0" in reset.calls
    # Deleting again (a retried `pulumi destroy`) is not an error.
    assert lab_.run("onprem-w1-node", "delete").returncode == 0
    assert lab_.run("onprem-w1-join", "delete").returncode == 0
    assert lab_.cluster.nodes() == ["cp1", "w2"]


def test_removing_a_control_plane_takes_its_etcd_member_out_first(tmp_path):
    lab_ = copy_of("ha", tmp_path, ha(), HA_ADDRESSES)
    assert lab_.cluster.members() == ["cp1", "cp2", "cp3"]
    lab_.run("onprem-cp3-node", "delete")
    assert lab_.cluster.members() == ["cp1", "cp2"] and "cp3" not in lab_.cluster.nodes()
    lab_.run("onprem-cp3-join", "delete")
    assert not lab_.hosts["cp3"].exists("/etc/kubernetes/manifests/kube-vip.yaml")
    # The bootstrap host's node step never removes the cluster under itself.
    kept = lab_.run("onprem-cp1-node", "delete")
    assert "the cluster goes with it" in kept.stdout and kept.mutating() == []


def test_a_control_plane_removal_that_would_cost_etcd_its_quorum_changes_nothing(tmp_path):
    lab_ = copy_of("ha", tmp_path, ha(), HA_ADDRESSES)
    lab_.cluster.take_down("cp2")  # cp1 alone would be 1 of 2 voters: no quorum
    refused = lab_.run("onprem-cp3-node", "delete", ok=False)
    assert refused.returncode == 1
    assert "refusing to remove cp3's etcd member" in refused.stderr
    assert "unhealthy or unreachable: cp2" in refused.stderr
    assert refused.mutating() == []  # not even drained
    assert lab_.cluster.members() == ["cp1", "cp2", "cp3"] and "cp3" in lab_.cluster.nodes()


def test_deleting_the_init_step_resets_the_bootstrap_host(tmp_path):
    lab_ = whole_lab(tmp_path)
    result = lab_.run("onprem-cp1-init", "delete")
    assert "kubeadm reset -f" in result.calls
    assert not lab_.bootstrap.exists("/etc/kubernetes/admin.conf")
    assert not lab_.bootstrap.exists("/etc/kubernetes/hybrid-kube/initialised")


@without_hosts
def test_steps_without_a_delete_action_send_none():
    kinds = {re.sub(r"^onprem-\w+?-", "", n): r.inputs.get("delete") for n, r in lab().items()}
    assert {k for k, v in kinds.items() if v} == {"init", "join", "node"}


# -- upgrades --------------------------------------------------------------------------------------

UPGRADE_MARK = "hybrid-kube.io/upgrade-cordoned"
LOCK = "hybrid-kube-upgrade-lock"


def assert_upgraded_and_open(cluster: Cluster, version: str) -> None:
    """Every node runs `version`, is schedulable again and carries no upgrade mark."""
    for name in cluster.nodes():
        node = cluster.node(name)
        assert node["version"] == version, (name, node)
        assert node["cordoned"] == "0", (name, node)
        assert node["mark"] == "", (name, node)


def assert_upgraded_and_open_node(cluster: Cluster, name: str, version: str) -> None:
    node = cluster.node(name)
    assert (node["version"], node["cordoned"], node["mark"]) == (version, "0", ""), (name, node)


def lock_holder(cluster: Cluster) -> str | None:
    lock = cluster.dir / "configmaps" / LOCK
    return lock.read_text() if lock.exists() else None


def test_a_control_plane_upgrade_that_failed_after_the_drain_is_finished_by_the_next_run(tmp_path):
    """The node is marked before it is drained; the run after a failed Ready wait sees versions
    that already match and must still uncordon it (it finds the mark by its escaped jsonpath)."""
    lab_ = upgrading_lab(tmp_path)
    cp1 = lab_.bootstrap
    cp1.fail("kubectl * wait --for=condition=Ready node/cp1 *", 1, "error: timed out waiting")
    failed = lab_.run("onprem-cp1-upgrade", ok=False)
    assert failed.returncode == 1 and "cp1 did not become Ready" in failed.stderr
    node = lab_.cluster.node("cp1")
    assert node["cordoned"] == "1" and node["mark"] == "1.35" and node["version"] == "v1.35.2"
    cp1.heal()
    resumed = lab_.run("onprem-cp1-upgrade")
    assert "resuming the upgrade of cp1" in resumed.stdout
    assert not any(c.startswith(("kubeadm upgrade", "apt-get")) for c in resumed.calls)
    node = lab_.cluster.node("cp1")
    assert node["cordoned"] == "0" and node["mark"] == "", node


def test_a_failed_worker_drain_keeps_the_lock_and_the_next_run_drains(tmp_path):
    lab_ = upgrading_lab(tmp_path)
    lab_.run("onprem-cp1-upgrade")
    lab_.bootstrap.fail("kubectl * drain w1 *", 1, "error: cannot evict pod as it would violate")
    failed = lab_.run("onprem-w1-upgrade-drain", ok=False)
    assert failed.returncode == 1 and "could not drain w1" in failed.stderr
    assert "holder=w1" in lock_holder(lab_.cluster)
    lab_.bootstrap.heal()
    lab_.run("onprem-w1-upgrade-drain")
    assert lab_.cluster.node("w1")["cordoned"] == "1"
    for name in ("onprem-w1-upgrade", "onprem-w1-upgrade-uncordon"):
        lab_.run(name)
    assert lock_holder(lab_.cluster) is None
    for name in ("onprem-w2-upgrade-drain", "onprem-w2-upgrade", "onprem-w2-upgrade-uncordon"):
        lab_.run(name)
    assert_upgraded_and_open(lab_.cluster, "v1.35.2")


def test_a_failed_worker_upgrade_is_redone_by_the_next_run(tmp_path):
    lab_ = upgrading_lab(tmp_path)
    w1 = lab_.hosts["w1"]
    for name in ("onprem-cp1-upgrade", "onprem-w1-upgrade-drain"):
        lab_.run(name)
    w1.fail("kubeadm upgrade node*", 1, "error execution phase control-plane: timed out")
    failed = lab_.run("onprem-w1-upgrade", ok=False)
    assert failed.returncode == 1 and "timed out" in failed.stderr
    assert "kubelet 1.34.4-1.1" in w1.state_lines("installed")
    w1.heal()
    again = lab_.run("onprem-w1-upgrade")
    assert "kubeadm upgrade node" in again.calls and "systemctl restart kubelet" in again.calls
    assert lab_.cluster.node("w1")["version"] == "v1.35.2"


RESTART_FAILED = (
    "Job for kubelet.service failed because the control process exited with error code."
)


def test_a_worker_upgrade_whose_kubelet_restart_failed_is_finished_by_the_next_run(tmp_path):
    """The new kubelet package is in place but its restart failed: `kubelet --version` is new,
    the old kubelet runs on (its binary deleted by the install). The next run restarts it, so
    the uncordon step finds the new version; a run after that restarts nothing."""
    lab_ = upgrading_lab(tmp_path)
    w1 = lab_.hosts["w1"]
    for name in ("onprem-cp1-upgrade", "onprem-w1-upgrade-drain"):
        lab_.run(name)
    w1.fail("systemctl restart kubelet", 1, RESTART_FAILED)
    failed = lab_.run("onprem-w1-upgrade", ok=False)
    assert failed.returncode == 1 and RESTART_FAILED in failed.stderr
    assert "kubelet 1.35.2-1.1" in w1.state_lines("installed")
    assert w1.kubelet_exe().endswith("/kubelet-bin (deleted)")  # the old kubelet runs on
    assert lab_.cluster.node("w1")["version"] == "v1.34.4"
    w1.heal()
    again = lab_.run("onprem-w1-upgrade")
    assert "w1 runs v1.35.2; no upgrade needed" in again.stdout
    assert "is stale: its binary was replaced by a package upgrade" in again.stdout
    assert again.mutating() == ["systemctl daemon-reload", "systemctl restart kubelet"]
    assert w1.kubelet_exe().endswith("/kubelet-bin")
    lab_.run("onprem-w1-upgrade-uncordon")
    node = lab_.cluster.node("w1")
    assert node["version"] == "v1.35.2" and node["cordoned"] == "0"
    assert lock_holder(lab_.cluster) is None
    assert lab_.run("onprem-w1-upgrade").mutating() == []


def test_a_control_plane_upgrade_whose_kubelet_restart_failed_is_resumed_by_the_next_run(
    tmp_path,
):
    lab_ = upgrading_lab(tmp_path)
    cp1 = lab_.bootstrap
    cp1.fail("systemctl restart kubelet", 1, RESTART_FAILED)
    failed = lab_.run("onprem-cp1-upgrade", ok=False)
    assert failed.returncode == 1 and RESTART_FAILED in failed.stderr
    node = lab_.cluster.node("cp1")
    assert node["cordoned"] == "1" and node["mark"] == "1.35" and node["version"] == "v1.34.4"
    cp1.heal()
    resumed = lab_.run("onprem-cp1-upgrade")
    assert "is stale" in resumed.stdout and "resuming the upgrade of cp1" in resumed.stdout
    assert "systemctl restart kubelet" in resumed.calls
    assert_upgraded_and_open_node(lab_.cluster, "cp1", "v1.35.2")


def test_an_upgraded_worker_whose_kubelet_is_not_running_gets_it_started(tmp_path):
    lab_ = upgrading_lab(tmp_path)
    w1 = lab_.hosts["w1"]
    for name in ("onprem-cp1-upgrade", "onprem-w1-upgrade-drain", "onprem-w1-upgrade"):
        lab_.run(name)
    assert w1.run_command("systemctl stop kubelet", "").returncode == 0
    assert w1.kubelet_exe() is None
    again = lab_.run("onprem-w1-upgrade")
    assert "the kubelet is not running on w1; restarting the kubelet" in again.stdout
    assert again.mutating() == ["systemctl daemon-reload", "systemctl restart kubelet"]
    assert w1.kubelet_exe().endswith("/kubelet-bin")


def test_an_uncordon_that_failed_keeps_the_worker_cordoned_and_the_next_run_opens_it(tmp_path):
    lab_ = upgrading_lab(tmp_path)
    for name in ("onprem-cp1-upgrade", "onprem-w1-upgrade-drain", "onprem-w1-upgrade"):
        lab_.run(name)
    lab_.cluster.set_node("w1", ready="False")
    failed = lab_.run("onprem-w1-upgrade-uncordon", ok=False)
    assert failed.returncode == 1 and "w1 did not become Ready" in failed.stderr
    assert lab_.cluster.node("w1")["cordoned"] == "1" and "holder=w1" in lock_holder(lab_.cluster)
    lab_.cluster.set_node("w1", ready="True")
    lab_.run("onprem-w1-upgrade-uncordon")
    assert lab_.cluster.node("w1")["cordoned"] == "0" and lock_holder(lab_.cluster) is None


def test_raising_the_version_upgrades_control_plane_then_workers_and_a_rerun_does_nothing(
    tmp_path,
):
    lab_ = upgrading_lab(tmp_path)
    for name in lab_.order():
        if "upgrade" in name:
            lab_.run(name)
    assert "kubeadm upgrade apply -y v1.35.2" in lab_.bootstrap.calls()
    assert "kubeadm upgrade node" in lab_.hosts["w1"].calls()
    for host in lab_.hosts.values():
        assert "kubelet 1.35.2-1.1" in host.state_lines("installed"), host.name
    for name in ("w1", "w2"):  # drained, upgraded, uncordoned; the lock released
        assert any(f" drain {name} " in c for c in lab_.bootstrap.calls())
    assert not (lab_.cluster.dir / "configmaps" / "hybrid-kube-upgrade-lock").exists()
    assert_upgraded_and_open(lab_.cluster, "v1.35.2")
    again = {name: lab_.run(name) for name in lab_.order() if "upgrade" in name}
    assert {name: r.mutating() for name, r in again.items() if r.mutating()} == {}


def test_the_harness_runs_steps_as_root_in_their_own_namespaces_over_a_private_root(tmp_path):
    host = Host(tmp_path, Cluster(tmp_path), "cp1", ADDRESSES["cp1"])
    canary = f"/etc/hostsim-canary-{os.getpid()}"
    inside = host.run_command(
        f"readlink /proc/self/ns/mnt /proc/self/ns/net; id -u; echo written >{canary}", ""
    )
    assert inside.returncode == 0, inside.stderr
    mnt, net, uid = inside.stdout.split()
    assert mnt != os.readlink("/proc/self/ns/mnt") and net != os.readlink("/proc/self/ns/net")
    assert uid == "0"
    assert host.read(canary) == "written\n" and not Path(canary).exists()


def test_programs_of_the_test_machine_that_a_fresh_host_lacks_are_not_found(tmp_path):
    """kubectl, kubeadm, iptables-save, ... installed on the test machine must not make a fresh
    host look prepared: under lib.sh's PATH `command -v` finds none of them."""
    host = Host(tmp_path, Cluster(tmp_path), "cp1", ADDRESSES["cp1"])
    for command in HIDDEN:
        if command in SYSTEM_STUBS:
            continue
        inside = host.run_command(f"PATH={LIB_PATH}; command -v {command}", "")
        assert inside.returncode == 1 and inside.stdout == "", (command, inside.stdout)
    assert host.run_command(f"PATH={LIB_PATH}; command -v ls", "").returncode == 0
