"""Follow-ups of the upstream-contracts audit (issue 11) on the kubeadm target, each with what it
does to a running cluster:

- the pause image follows the Kubernetes minor, and only the per-host upgrade step moves it on a
  node (a containerd restart, one drained node at a time), never prepare on every host at once;
- containerd.io is installed only where containerd 2.x is not: a new pin upgrades no running host;
- prepare stops on a cgroup v1 host from Kubernetes 1.35 on (the kubelet's failCgroupV1);
- joined control planes of a cluster without workers register untainted, like the bootstrap one;
- the audit policy's noise rules match what kubeadm's kube-proxy and the events API really send.

Host scripts run in bash with stubs (as in test_kubeadm_host_steps.py); the program runs under
the mock engine; day-2 edits go through the transitions harness.
"""

from __future__ import annotations

import fnmatch
import json
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import run_main
from test_kubeadm_cluster import commands, lab, run_cluster, stdin_variables
from test_kubeadm_host_steps import control_plane_env
from test_kubeadm_scripts import bash, script_functions
from transitions import plan, record

from components import versions
from components.kubeadm import documents
from components.settings import KubeadmSettings
from components.stackfile import load_stack

STACK = "onprem-lab"
KUBEADM_KEY = "hybrid-kube:kubeadm"
VERSION_KEY = "hybrid-kube:kubernetesVersion"
SHIPPED = json.loads(load_stack(STACK).config[KUBEADM_KEY])
PAUSE_1_35 = "registry.k8s.io/pause:3.10.1"
PAUSE_1_36 = "registry.k8s.io/pause:3.10.2"


def calls(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def host(name: str, n: int, role: str) -> dict[str, str]:
    return {"name": name, "address": f"192.168.56.{n}", "role": role}


def stack(*hosts: dict[str, str]) -> dict[str, Any]:
    """The shipped kubeadm settings with these hosts, behind a VIP (any odd control planes)."""
    return {KUBEADM_KEY: {**SHIPPED, "controlPlaneEndpoint": "192.168.56.10", "hosts": list(hosts)}}


# -- 1. the pause image per Kubernetes minor ------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "pause"), [("1.35", PAUSE_1_35), ("1.36", PAUSE_1_36), ("1.36.4", PAUSE_1_36)]
)
def test_prepare_and_the_per_host_upgrade_steps_get_the_pause_image_of_the_minor(version, pause):
    cmds = commands(run_cluster(lab(workers=1), version=version))
    for name in (
        "onprem-cp1-prepare",
        "onprem-w1-prepare",
        "onprem-cp1-upgrade",
        "onprem-w1-upgrade",
    ):
        assert stdin_variables(cmds[name])["SANDBOX_IMAGE"] == pause, name
    # The steps that run on the bootstrap host for a worker do not touch containerd.
    for name in ("onprem-w1-upgrade-drain", "onprem-w1-upgrade-uncordon"):
        assert "SANDBOX_IMAGE" not in stdin_variables(cmds[name]), name
    assert versions.sandbox_image(version) == pause
    assert not hasattr(versions, "SANDBOX_IMAGE")  # the per-minor function is the only source


OLD_CONFIG = """# Written by hybrid-kube (prepare.sh). containerd 2.x configuration format.
version = 3

[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = 'registry.k8s.io/pause:3.10.1'

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
  runtime_type = 'io.containerd.runc.v2'

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
  SystemdCgroup = true
"""
"""What earlier releases of prepare.sh left on every host (for 1.34 and 1.35)."""


def containerd_env(tmp_path: Path, *, node: bool, dpkg: str = "installed 2.3.4-1") -> str:
    """Stubs for prepare.sh's containerd part: a host with containerd.io as `dpkg` says (the
    `${db:Status-Status} ${Version}` line, "" when not installed), a node when `node`."""
    (tmp_path / "kubelet.conf").unlink(missing_ok=True)
    if node:
        (tmp_path / "kubelet.conf").write_text("kubelet\n")
    record = tmp_path / "calls"
    return f"""
APT_KEYRING_DIR={tmp_path}/keyrings APT_SOURCES_DIR={tmp_path}/sources LOG_DIR={tmp_path}/log
CONTAINERD_CONFIG={tmp_path}/containerd/config.toml CRICTL_CONFIG={tmp_path}/crictl.yaml
KUBELET_KUBECONFIG={tmp_path}/kubelet.conf
OS_ID=ubuntu OS_CODENAME=noble NODE_NAME=w1 CONTAINERD_IO_VERSION='2.3.*'
mkdir -p {tmp_path}/keyrings && printf key >{tmp_path}/keyrings/docker.asc
dpkg() {{ echo amd64; }}
dpkg-query() {{ [ -n '{dpkg}' ] || return 1; printf '%s\\n' '{dpkg}'; }}
apt-cache() {{ printf ' containerd.io | 2.3.4-1 | https://download.docker.com Packages\\n'; }}
apt_update() {{ echo apt-update >>{record}; }}
apt_get() {{ echo "apt-get $*" >>{record}; }}
apt-mark() {{ echo "apt-mark $*" >>{record}; }}
systemctl() {{ echo "systemctl $*" >>{record}; }}
"""


def prepare_containerd(tmp_path: Path, sandbox: str, **env: Any):
    snippet = (
        script_functions("prepare.sh")
        + containerd_env(tmp_path, **env)
        + f"SANDBOX_IMAGE='{sandbox}'\ninstall_containerd\n"
    )
    result = bash(snippet)
    assert result.returncode == 0, result.stderr
    return result


def restarts(tmp_path: Path) -> list[str]:
    done = calls(tmp_path / "calls")
    (tmp_path / "calls").unlink(missing_ok=True)
    return [c for c in done if c == "systemctl restart containerd"]


def pinned(tmp_path: Path) -> str:
    text = (tmp_path / "containerd" / "config.toml").read_text()
    (line,) = [line for line in text.splitlines() if line.strip().startswith("sandbox")]
    return line.split("'")[1]


def test_the_config_earlier_releases_wrote_is_unchanged_so_upgrading_hybrid_kube_restarts_nothing(
    tmp_path,
):
    (tmp_path / "containerd").mkdir()
    (tmp_path / "containerd" / "config.toml").write_text(OLD_CONFIG)
    prepare_containerd(tmp_path, PAUSE_1_35, node=True)
    assert restarts(tmp_path) == []
    assert (tmp_path / "containerd" / "config.toml").read_text() == OLD_CONFIG


def test_raising_1_35_to_1_36_reruns_prepare_everywhere_but_restarts_containerd_on_no_node(
    tmp_path,
):
    step = plan(record(STACK), record(STACK, {VERSION_KEY: "1.36"}))
    prepares = sorted(n for n in step.updated if n.endswith("-prepare"))
    assert prepares == ["onprem-cp1-prepare", "onprem-w1-prepare", "onprem-w2-prepare"]
    assert not step.replaced and not step.deleted and not step.actions("delete")
    sent = stdin_variables(step.after.named("onprem-w1-prepare"))
    assert sent["SANDBOX_IMAGE"] == PAUSE_1_36
    # What that re-run does on a running node: the pin it has stays, containerd is not restarted.
    (tmp_path / "containerd").mkdir()
    (tmp_path / "containerd" / "config.toml").write_text(OLD_CONFIG)
    result = prepare_containerd(tmp_path, sent["SANDBOX_IMAGE"], node=True)
    assert restarts(tmp_path) == []
    assert pinned(tmp_path) == PAUSE_1_35
    assert "the upgrade step pins registry.k8s.io/pause:3.10.2" in result.stdout
    # The per-host upgrade steps carry the new pin (they move it, node by node).
    for name in ("onprem-cp1-upgrade", "onprem-w1-upgrade", "onprem-w2-upgrade"):
        assert name in step.updated
        assert stdin_variables(step.after.named(name))["SANDBOX_IMAGE"] == PAUSE_1_36


def test_a_host_that_is_not_a_node_yet_gets_the_new_pin_at_once(tmp_path):
    (tmp_path / "containerd").mkdir()
    (tmp_path / "containerd" / "config.toml").write_text(OLD_CONFIG)
    prepare_containerd(tmp_path, PAUSE_1_36, node=False)
    assert pinned(tmp_path) == PAUSE_1_36
    assert restarts(tmp_path) == ["systemctl restart containerd"]
    prepare_containerd(tmp_path, PAUSE_1_36, node=False)  # idempotent
    assert restarts(tmp_path) == []
    # A node without any pin (a hand-written config) is repaired with the wanted one.
    (tmp_path / "containerd" / "config.toml").write_text("version = 3\n")
    prepare_containerd(tmp_path, PAUSE_1_36, node=True)
    assert pinned(tmp_path) == PAUSE_1_36


def upgrade_worker(tmp_path: Path, *, kubelet_now: str, target: str, sandbox: str):
    record = tmp_path / "calls"
    snippet = f"""
{script_functions("upgrade-node.sh")}
CONTAINERD_CONFIG={tmp_path}/containerd/config.toml
NODE_NAME=w1 K8S_VERSION={target} SANDBOX_IMAGE='{sandbox}' KUBE_NOW={kubelet_now}
kubeadm() {{
  case "$*" in
    "version -o short") echo "$KUBE_NOW" ;;
    *) echo "kubeadm $*" >>{record} ;;
  esac
}}
kubelet_version() {{ echo "$KUBE_NOW"; }}
use_kubernetes_repo() {{ :; }}
install_kube_packages() {{ echo "install $*" >>{record}; KUBE_NOW=v{target}.0; }}
run_logged() {{ shift; "$@"; }}
systemctl() {{
  case "$*" in
    # A read: the running kubelet is this bash, whose binary is current (not "(deleted)").
    "show --property MainPID --value kubelet") echo "$$" ;;
    *) echo "systemctl $*" >>{record} ;;
  esac
}}
create
"""
    result = bash(snippet)
    assert result.returncode == 0, result.stderr
    done = calls(record)
    record.unlink(missing_ok=True)
    return result, done


def test_a_worker_upgrade_moves_the_pin_while_drained_before_the_new_kubelet(tmp_path):
    (tmp_path / "containerd").mkdir()
    (tmp_path / "containerd" / "config.toml").write_text(OLD_CONFIG)
    _, done = upgrade_worker(tmp_path, kubelet_now="v1.35.8", target="1.36", sandbox=PAUSE_1_36)
    assert pinned(tmp_path) == PAUSE_1_36
    assert done.count("systemctl restart containerd") == 1
    assert done.index("kubeadm upgrade node") < done.index("systemctl restart containerd")
    assert done.index("systemctl restart containerd") < done.index("install kubelet kubectl")
    assert done.index("install kubelet kubectl") < done.index("systemctl restart kubelet")
    # Up to date: nothing runs, containerd included.
    result, done = upgrade_worker(
        tmp_path, kubelet_now="v1.36.0", target="1.36", sandbox=PAUSE_1_36
    )
    assert done == [] and "no upgrade needed" in result.stdout
    # A patch upgrade keeps the pin: the kubelet restarts, containerd does not.
    _, done = upgrade_worker(tmp_path, kubelet_now="v1.36.0", target="1.36.4", sandbox=PAUSE_1_36)
    assert "systemctl restart kubelet" in done and "systemctl restart containerd" not in done


def test_an_up_to_date_node_with_another_pin_is_told_and_left_alone(tmp_path):
    # A 1.36 cluster created before the pin followed the minor: no restart outside an upgrade.
    (tmp_path / "containerd").mkdir()
    (tmp_path / "containerd" / "config.toml").write_text(OLD_CONFIG)
    result, done = upgrade_worker(
        tmp_path, kubelet_now="v1.36.2", target="1.36", sandbox=PAUSE_1_36
    )
    assert done == []
    assert pinned(tmp_path) == PAUSE_1_35
    assert "pins registry.k8s.io/pause:3.10.1, not registry.k8s.io/pause:3.10.2" in result.stdout


def test_a_control_plane_upgrade_moves_the_pin_after_the_drain(tmp_path):
    (tmp_path / "containerd").mkdir()
    (tmp_path / "containerd" / "config.toml").write_text(OLD_CONFIG)
    record = tmp_path / "calls"
    snippet = f"""
{script_functions("upgrade-control-plane.sh")}
CONTAINERD_CONFIG={tmp_path}/containerd/config.toml
NODE_NAME=cp1 K8S_VERSION=1.36 BOOTSTRAP_HOST=cp1 SANDBOX_IMAGE='{PAUSE_1_36}' KUBE_NOW=v1.35.8
kubeadm() {{
  case "$*" in
    "version -o short") echo "$KUBE_NOW" ;;
    *) echo "kubeadm $*" >>{record} ;;
  esac
}}
kubelet_version() {{ echo "$KUBE_NOW"; }}
use_kubernetes_repo() {{ :; }}
install_kube_packages() {{ echo "install $*" >>{record}; KUBE_NOW=v1.36.0; }}
run_logged() {{ shift; "$@"; }}
systemctl() {{ echo "systemctl $*" >>{record}; }}
kc() {{
  case "$*" in
    "get node cp1 -o jsonpath="*) : ;;
    "get --raw /version") printf '{{"gitVersion": "v1.35.8"}}' ;;
    "get nodes -o go-template="*) printf 'cp1 open True \\nw1 open True \\n' ;;
    *) echo "kc $*" >>{record} ;;
  esac
}}
create
"""
    result = bash(snippet)
    assert result.returncode == 0, result.stderr
    done = calls(record)
    drain = "kc drain cp1 --ignore-daemonsets --delete-emptydir-data --timeout=600s"
    order = [drain, "systemctl restart containerd", "install kubelet kubectl", "kc uncordon cp1"]
    assert [c for c in done if c in order] == order
    assert pinned(tmp_path) == PAUSE_1_36


# -- 2. containerd.io only where containerd 2.x is not ------------------------------------------


@pytest.mark.parametrize(
    ("dpkg", "installs"),
    [
        ("installed 2.2.1-1~ubuntu.24.04~noble", False),  # the old pin: left alone
        ("installed 2.3.4-1", False),
        ("", True),  # a fresh host
        ("installed 1.7.28-1", True),  # not 2.x: Kubernetes 1.36 needs containerd 2
        ("config-files 2.2.1-1", True),  # removed, only its configuration left
    ],
)
def test_containerd_io_is_installed_only_where_containerd_2_is_not(tmp_path, dpkg, installs):
    result = prepare_containerd(tmp_path, PAUSE_1_35, node=installs is False, dpkg=dpkg)
    done = calls(tmp_path / "calls")
    install = "apt-get install --allow-change-held-packages containerd.io=2.3.*"
    assert (install in done) is installs
    assert "apt-mark hold containerd.io" in done  # held either way: no unattended upgrade
    if installs:
        assert done.index("apt-mark unhold containerd.io") < done.index(install)
    else:
        version = dpkg.split()[1]
        assert f"containerd.io {version} is installed: left as it is" in result.stdout
        assert "one node at a time" in result.stdout
        assert "apt-update" not in done and "apt-mark unhold containerd.io" not in done


def test_installed_version_reads_dpkgs_status_field():
    if not shutil.which("dpkg-query"):
        pytest.skip("no dpkg here")
    found = bash(f"{script_functions('prepare.sh')}\ninstalled_version bash").stdout.strip()
    assert found and found[0].isdigit()
    missing = bash(f"{script_functions('prepare.sh')}\ninstalled_version no-such-package-hk")
    assert missing.returncode == 0 and missing.stdout == ""


# -- 3. cgroup v2 ---------------------------------------------------------------------------------


def cgroup_check(tmp_path: Path, version: str, fs: str):
    snippet = f"""
{script_functions("prepare.sh")}
NODE_NAME=w1 K8S_VERSION={version}
MODULES_LOAD_DIR={tmp_path}/modules-load.d SYSCTL_DIR={tmp_path}/sysctl.d
stat() {{ [ "$*" = "-fc %T $CGROUP_ROOT" ] && echo '{fs}'; }}
wait_for_cloud_init() {{ :; }}
check_os() {{ OS_ID=ubuntu OS_CODENAME=noble; }}
configure_kernel() {{ echo configured >>{tmp_path}/calls; }}
disable_swap() {{ :; }}
install_prerequisites() {{ :; }}
install_containerd() {{ :; }}
install_kubernetes() {{ :; }}
create
"""
    return bash(snippet)


@pytest.mark.parametrize("version", ["1.35", "1.35.2", "1.36"])
def test_prepare_stops_on_cgroup_v1_from_1_35_before_changing_anything(tmp_path, version):
    result = cgroup_check(tmp_path, version, "tmpfs")
    assert result.returncode == 1
    assert "w1 runs cgroup v1" in result.stderr and "'tmpfs', not cgroup2fs" in result.stderr
    assert "failCgroupV1" in result.stderr and "update-grub" in result.stderr
    assert calls(tmp_path / "calls") == []  # nothing was touched


def test_older_minors_on_cgroup_v1_get_a_warning_and_cgroup_v2_passes(tmp_path):
    result = cgroup_check(tmp_path, "1.34", "tmpfs")
    assert result.returncode == 0, result.stderr
    assert "warning" in result.stderr and "1.35 and later refuses it" in result.stderr
    assert calls(tmp_path / "calls") == ["configured"]
    (tmp_path / "calls").unlink()
    for version in ("1.34", "1.36"):
        result = cgroup_check(tmp_path, version, "cgroup2fs")
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""


def test_raising_a_cgroup_v1_cluster_to_1_35_stops_at_prepare_before_any_upgrade_step():
    # prepare carries K8S_VERSION, so it re-runs first; every upgrade step depends on it.
    step = plan(
        record(STACK, {VERSION_KEY: "1.34"}),
        record(STACK, {VERSION_KEY: "1.35"}),
    )
    for name in ("onprem-cp1-upgrade", "onprem-w1-upgrade-drain", "onprem-w1-upgrade"):
        assert name in step.updated
        prepare = "onprem-cp1-prepare" if name.startswith("onprem-cp1") else "onprem-w1-prepare"
        assert step.created_before(prepare, name), name


# -- 4. joined control planes without workers ------------------------------------------------------


def settings(*hosts: dict[str, str]) -> KubeadmSettings:
    return KubeadmSettings.model_validate(
        {"hosts": list(hosts), "controlPlaneEndpoint": "192.168.56.10"}
    )


CONTROL_PLANES = (
    host("cp1", 11, "control-plane"),
    host("cp2", 12, "control-plane"),
    host("cp3", 13, "control-plane"),
)


def registration(s: KubeadmSettings, name: str) -> dict[str, Any]:
    target = next(h for h in s.hosts if h.name == name)
    if target == s.bootstrap_control_plane:
        document = documents.init_configuration(
            s, token="abcdef.0123456789abcdef", certificate_key="0f" * 32
        )
    else:
        document = documents.join_configuration(
            s,
            target,
            token="abcdef.0123456789abcdef",
            ca_cert_hash="sha256:" + "a" * 64,
            certificate_key="0f" * 32 if target.role == "control-plane" else None,
        )
    return document["nodeRegistration"]


def test_every_control_plane_of_a_cluster_without_workers_registers_untainted():
    alone = settings(*CONTROL_PLANES)
    for name in ("cp1", "cp2", "cp3"):
        assert registration(alone, name)["taints"] == [], name
    # With a worker every control plane keeps kubeadm's NoSchedule default (taints unset) and the
    # worker is never given the field.
    with_worker = settings(*CONTROL_PLANES, host("w1", 21, "worker"))
    for name in ("cp1", "cp2", "cp3", "w1"):
        assert "taints" not in registration(with_worker, name), name


def test_the_join_the_host_receives_carries_the_empty_taint_list():
    rec = run_cluster(lab(workers=0, control_planes=3))
    for name in ("cp2", "cp3"):
        sent = stdin_variables(commands(rec)[f"onprem-{name}-join"])["JOIN_CONFIG"]
        (document,) = yaml.safe_load_all(sent)
        assert document["nodeRegistration"]["taints"] == [], name


def test_adding_the_first_worker_later_reruns_the_control_planes_steps_as_no_ops(tmp_path):
    without = stack(*CONTROL_PLANES)
    with_worker = stack(*CONTROL_PLANES, host("w1", 21, "worker"))
    step = plan(record(STACK, without), record(STACK, with_worker))
    assert not step.replaced and not step.deleted and not step.actions("delete")
    assert {f"onprem-w1-{s}" for s in ("prepare", "admit", "join", "node")} <= set(step.created)
    # The control planes' registration documents lose `taints: []` (a control plane joining from
    # now on keeps kubeadm's NoSchedule default), so their init and join steps run again...
    reruns = {a.resource for a in step.actions("create")}
    assert {"onprem-cp1-init", "onprem-cp2-join", "onprem-cp3-join"} <= reruns
    assert {"onprem-cp2-admit", "onprem-cp3-admit"} <= set(step.updated)  # the joins' digests
    sent = stdin_variables(step.after.named("onprem-cp2-join"))
    (document,) = yaml.safe_load_all(sent["JOIN_CONFIG"])
    assert "taints" not in document["nodeRegistration"]
    # ...and on a host that is already a node the join script leaves kubeadm alone: the Node
    # keeps the (absent) taints it registered with.
    snippet = (
        script_functions("join.sh")
        + control_plane_env(tmp_path)
        + f"""
NODE_NAME=cp2 ROLE=control-plane ADMIT_URN=''
JOIN_CONFIG={shlex.quote(sent["JOIN_CONFIG"])}
ENCRYPTION_CONFIG='key: one' AUDIT_POLICY='rules: a' KUBE_VIP_MANIFEST=''
create
"""
    )
    result = bash(snippet)
    assert result.returncode == 0, result.stderr
    assert "cp2 has already joined the cluster" in result.stdout
    assert not any(c.startswith("kubeadm") for c in calls(tmp_path / "calls"))


# -- 5. the audit policy, evaluated as the API server does -----------------------------------------


@dataclass(frozen=True)
class Request:
    user: str
    verb: str
    group: str = ""
    resource: str = ""
    groups: tuple[str, ...] = ("system:authenticated",)
    path: str = ""


def _rule_matches(rule: dict[str, Any], request: Request) -> bool:
    """k8s.io/apiserver@v0.36.3 pkg/audit/policy/checker.go `ruleMatches`, for the fields used."""
    if rule.get("users") and request.user not in rule["users"]:
        return False
    if rule.get("userGroups") and not set(rule["userGroups"]) & set(request.groups):
        return False
    if rule.get("verbs") and request.verb not in rule["verbs"]:
        return False
    if rule.get("resources"):
        if not request.resource:
            return False
        return any(
            gr.get("group", "") in (request.group, "*")
            and any(fnmatch.fnmatchcase(request.resource, r) for r in gr.get("resources", ["*"]))
            for gr in rule["resources"]
        )
    if rule.get("nonResourceURLs"):
        return not request.resource and any(
            request.path == spec or (spec.endswith("*") and request.path.startswith(spec[:-1]))
            for spec in rule["nonResourceURLs"]
        )
    return True


def audit_level(request: Request) -> str:
    """The level of the first matching rule; "None" when none matches (the API server's default)."""
    for rule in documents.audit_policy()["rules"]:
        if _rule_matches(rule, request):
            return rule["level"]
    return "None"


KUBE_PROXY = "system:serviceaccount:kube-system:kube-proxy"
KUBE_PROXY_GROUPS = ("system:serviceaccounts", "system:serviceaccounts:kube-system")
KUBELET_GROUPS = ("system:nodes", "system:authenticated")


@pytest.mark.parametrize(
    ("request_", "level"),
    [
        # kube-proxy's informers (cmd/kube-proxy/app/server.go): noise.
        (
            Request(KUBE_PROXY, "watch", "discovery.k8s.io", "endpointslices", KUBE_PROXY_GROUPS),
            "None",
        ),
        (Request(KUBE_PROXY, "watch", "", "services", KUBE_PROXY_GROUPS), "None"),
        (
            Request(KUBE_PROXY, "watch", "networking.k8s.io", "servicecidrs", KUBE_PROXY_GROUPS),
            "None",
        ),
        (Request(KUBE_PROXY, "watch", "", "nodes", KUBE_PROXY_GROUPS), "None"),
        # ...but anything else it does is still recorded.
        (Request(KUBE_PROXY, "get", "", "secrets", KUBE_PROXY_GROUPS), "Metadata"),
        (Request(KUBE_PROXY, "watch", "", "configmaps", KUBE_PROXY_GROUPS), "Metadata"),
        # Events through either API group: noise.
        (Request(KUBE_PROXY, "create", "events.k8s.io", "events", KUBE_PROXY_GROUPS), "None"),
        (Request("system:node:w1", "create", "", "events", KUBELET_GROUPS), "None"),
        (Request("kubernetes-admin", "patch", "events.k8s.io", "events"), "None"),
        # What the audit log is for.
        (Request("kubernetes-admin", "create", "apps", "deployments"), "Request"),
        (Request("kubernetes-admin", "get", "", "secrets"), "Metadata"),
        (Request("kubernetes-admin", "update", "", "secrets"), "Metadata"),  # never the payload
        (Request("system:node:w1", "get", "", "pods", KUBELET_GROUPS), "None"),
        (Request("kubernetes-admin", "get", path="/readyz"), "None"),
    ],
)
def test_audit_levels_of_real_requests(request_, level):
    assert audit_level(request_) == level


def test_the_audit_policy_uses_only_audit_v1_fields_and_no_user_that_kubeadm_never_has():
    # audit.k8s.io/v1 types.go at k8s.io/apiserver v0.36.3: PolicyRule and GroupResources fields.
    rule_fields = {
        "level", "users", "userGroups", "verbs", "resources", "namespaces",
        "nonResourceURLs", "omitStages", "omitManagedFields",
    }  # fmt: skip
    policy = documents.audit_policy()
    for rule in policy["rules"]:
        assert set(rule) <= rule_fields, rule
        assert rule["level"] in ("None", "Metadata", "Request", "RequestResponse")
        for group_resources in rule.get("resources", []):
            assert set(group_resources) <= {"group", "resources", "resourceNames"}
        assert "system:kube-proxy" not in rule.get("users", [])
    assert documents.KUBE_PROXY_USER == KUBE_PROXY


def test_a_changed_audit_policy_restarts_one_api_server_after_the_other(monkeypatch):
    """The day-2 effect of this very fix: the policy travels in the control planes' init and join
    steps, which re-run in join order (each restarts its API server once: reload_apiserver_files,
    tested in test_kubeadm_host_steps.py); no worker step and nothing else on a host changes."""
    hosts = stack(*CONTROL_PLANES, host("w1", 21, "worker"))
    before = record(STACK, hosts)
    current = documents.audit_policy

    def edited() -> dict[str, Any]:
        policy = current()
        return {**policy, "rules": [{"level": "None", "users": ["someone"]}, *policy["rules"]]}

    monkeypatch.setattr(documents, "audit_policy", edited)
    step = plan(before, run_main(STACK, overrides=hosts))
    assert not step.created and not step.deleted and not step.replaced
    on_hosts = {a.resource for a in step.host_actions}
    assert on_hosts == {
        "onprem-cp1-init",
        "onprem-cp2-admit",
        "onprem-cp2-join",
        "onprem-cp3-admit",
        "onprem-cp3-join",
    }
    assert step.created_before("onprem-cp1-init", "onprem-cp2-join")
    assert step.created_before("onprem-cp2-join", "onprem-cp3-join")
