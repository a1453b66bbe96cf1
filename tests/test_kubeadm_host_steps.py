"""The host scripts' recovery paths, run in bash with stubs for kubectl, kubeadm and apt: joins
refused for expired credentials, package lists that must be refreshed, apt's list lock, resumable
and PDB-proof upgrades, changed files on running control planes, the admit file's cleanup, patch
downgrades and the sysctl file's name."""

from __future__ import annotations

import stat
from pathlib import Path

from test_kubeadm_scripts import bash, out, script_functions

ADMIT_URN = (
    "urn:pulumi:onprem-lab::hybrid-kube::hybrid-kube:kubeadm:KubeadmCluster"
    "$command:remote:Command::onprem-w1-admit"
)


def calls(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


# -- B1: a join refused for expired credentials says how to refresh them ----------------------


def join_run(tmp_path: Path, kubeadm_output: str) -> tuple[int, str, str]:
    (tmp_path / "kubeadm-output").write_text(kubeadm_output + "\n")
    snippet = f"""
{script_functions("join.sh")}
STATE_DIR={tmp_path}/state
LOG_DIR={tmp_path}/log
KUBELET_KUBECONFIG={tmp_path}/kubelet.conf
NODE_NAME=w1 NODE_IP=192.168.57.10 ROLE=worker JOIN_CONFIG='kind: JoinConfiguration'
ENCRYPTION_CONFIG='' AUDIT_POLICY='' KUBE_VIP_MANIFEST=''
ADMIT_URN='{ADMIT_URN}'
kubeadm() {{
  case "$1" in
    join) cat {tmp_path}/kubeadm-output; return 1 ;;
    reset) echo reset >>{tmp_path}/calls ;;
  esac
}}
create
"""
    result = bash(snippet)
    return result.returncode, result.stdout, result.stderr


def test_a_join_refused_for_an_expired_token_names_the_admit_step_to_replace(tmp_path):
    refused = (
        "error execution phase preflight: couldn't validate the identity of the API Server: "
        'could not find a JWS signature in the cluster-info ConfigMap for token ID "abcdef"'
    )
    status, _, stderr = join_run(tmp_path, refused)
    assert status == 1
    assert f"pulumi up --target-replace '{ADMIT_URN}'" in stderr
    assert "expire 2 hours" in stderr and "kubeadm join failed on w1" in stderr
    assert calls(tmp_path / "calls") == ["reset"]  # the host is still left clean
    assert not (tmp_path / "state" / "kubeadm-join.yaml").exists()


def test_expired_uploaded_certificates_get_the_same_hint(tmp_path):
    expired = (
        'error downloading certs: error downloading the secret: Secret "kubeadm-certs" was not '
        'found in the "kube-system" Namespace. This Secret might have expired.'
    )
    _, _, stderr = join_run(tmp_path, expired)
    assert "--target-replace" in stderr


def test_other_join_failures_get_no_credentials_hint(tmp_path):
    status, _, stderr = join_run(tmp_path, "error execution phase preflight: connection refused")
    assert status == 1 and "kubeadm join failed on w1" in stderr
    assert "--target-replace" not in stderr


# -- B2: the package lists are refreshed whenever they lack the wanted version -----------------


def repo_run(tmp_path: Path, version: str, offered: list[str], *, fail_update: bool = False):
    madison = "".join(
        f" kubeadm | {v} | https://pkgs.k8s.io/core:/stable:/v1.34/deb  Packages\\n"
        for v in offered
    )
    snippet = f"""
APT_KEYRING_DIR={tmp_path}/keyrings
APT_SOURCES_DIR={tmp_path}/sources
K8S_VERSION={version}
apt-cache() {{ printf '{madison}'; }}
curl() {{ echo "curl $*" >>{tmp_path}/calls; printf 'key'; }}
gpg() {{ cat >/dev/null; echo gpg >>{tmp_path}/calls; printf 'dearmored' >"$4"; }}
apt_update() {{ echo apt-update >>{tmp_path}/calls; {"return 100" if fail_update else ":"}; }}
use_kubernetes_repo 1.34
"""
    return bash(snippet)


def test_a_new_patch_in_the_same_minor_repository_refreshes_the_lists(tmp_path):
    # First run: repository written, lists refreshed.
    assert repo_run(tmp_path, "1.34.2", ["1.34.2-1.1"]).returncode == 0
    assert calls(tmp_path / "calls")[-1] == "apt-update"
    (tmp_path / "calls").unlink()
    # Same version again: the lists offer it, nothing to do.
    assert repo_run(tmp_path, "1.34.2", ["1.34.2-1.1", "1.34.1-1.1"]).returncode == 0
    assert calls(tmp_path / "calls") == []
    # 1.34.3 lives in the same v1.34 repository (the .list file does not change): still refreshed.
    result = repo_run(tmp_path, "1.34.3", ["1.34.2-1.1"])
    assert result.returncode == 0, result.stderr
    assert calls(tmp_path / "calls")[-1] == "apt-update"
    assert "wanted: 1.34.3-*" in result.stdout


def test_a_failed_list_refresh_is_retried_on_the_next_run(tmp_path):
    assert repo_run(tmp_path, "1.34.2", [], fail_update=True).returncode != 0
    assert (tmp_path / "sources" / "kubernetes.list").exists()  # the file did change...
    (tmp_path / "calls").unlink()
    result = repo_run(tmp_path, "1.34.2", [])  # ...so only the missing candidate can tell
    assert result.returncode == 0, result.stderr
    assert calls(tmp_path / "calls")[-1] == "apt-update"
    keyring = tmp_path / "keyrings" / "kubernetes-apt-keyring.gpg"
    assert keyring.read_text() == "dearmored"
    assert [p.name for p in keyring.parent.iterdir()] == [keyring.name]  # no temp file left


def test_apt_has_candidate_matches_the_version_glob():
    madison = (
        "printf ' kubelet | 1.34.2-1.1 | https://x Packages\\n"
        " kubelet | 1.34.1-1.1 | https://x Packages\\n'"
    )
    stub = f"apt-cache() {{ {madison}; }}\n"
    assert bash(stub + "apt_has_candidate kubelet '1.34.2-*'").returncode == 0
    assert bash(stub + "apt_has_candidate kubelet '1.34.*'").returncode == 0
    assert bash(stub + "apt_has_candidate kubelet '1.34.3-*'").returncode == 1
    assert bash("apt-cache() { :; }\napt_has_candidate kubelet '1.34.*'").returncode == 1


# -- S1: apt-get update waits for the lists lock ------------------------------------------------


def apt_update_run(tmp_path: Path, failures: int, message: str):
    snippet = f"""
LOG_DIR={tmp_path}/log
SLEPT=0
sleep() {{ SLEPT=$((SLEPT + $1)); }}
apt_get() {{
  # run_logged runs this in a pipeline (a subshell): count the tries in a file.
  echo try >>{tmp_path}/tries
  if [ "$(wc -l <{tmp_path}/tries)" -le {failures} ]; then echo '{message}'; return 100; fi
  echo 'Reading package lists... Done'
}}
status=0
apt_update || status=$?
echo "status=$status tries=$(wc -l <{tmp_path}/tries) slept=$SLEPT"
rm -f {tmp_path}/tries
"""
    result = bash(snippet)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1], result.stderr


LOCKED = "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 812 (apt-get)"


def test_apt_update_waits_while_the_lists_are_locked(tmp_path):
    summary, stderr = apt_update_run(tmp_path, 3, LOCKED)
    assert summary == "status=0 tries=4 slept=30"
    assert "failed" not in stderr  # waiting is not an error


def test_apt_update_gives_up_after_ten_minutes_of_lock_and_fails_fast_otherwise(tmp_path):
    summary, stderr = apt_update_run(tmp_path, 1000, LOCKED)
    assert summary == "status=100 tries=61 slept=600"
    assert "Could not get lock" in stderr
    summary, stderr = apt_update_run(tmp_path, 1000, "E: Failed to fetch https://pkgs.k8s.io 404")
    assert summary == "status=100 tries=1 slept=0"
    assert "apt-update failed" in stderr


# -- S3 and S4: resumable control-plane upgrades, drains that cannot hang ------------------------


def upgrade_cp_run(tmp_path: Path, *, kubeadm_now: str, kubelet_now: str, marked: bool, nodes: str):
    record = tmp_path / "calls"
    snippet = f"""
{script_functions("upgrade-control-plane.sh")}
NODE_NAME=cp1 K8S_VERSION=1.35 BOOTSTRAP_HOST=cp1
KUBEADM_NOW={kubeadm_now} KUBELET_NOW={kubelet_now}
kubeadm() {{
  case "$*" in
    "version -o short") echo "$KUBEADM_NOW" ;;
    *) echo "kubeadm $*" >>{record} ;;
  esac
}}
kubelet_version() {{ echo "$KUBELET_NOW"; }}
use_kubernetes_repo() {{ echo "repo $*" >>{record}; }}
install_kube_packages() {{ echo "install $*" >>{record}; KUBEADM_NOW=v1.35.0; }}
upgrade_kubelet() {{ echo upgrade-kubelet >>{record}; KUBELET_NOW=v1.35.0; }}
run_logged() {{ shift; "$@"; }}
kc() {{
  case "$*" in
    "get node cp1 -o jsonpath="*upgrade-cordoned*) {"printf 1.35" if marked else ":"} ;;
    "get --raw /version") printf '{{"gitVersion": "v1.34.2"}}' ;;
    "get nodes -o go-template="*) printf '{nodes}' ;;
    *) echo "kc $*" >>{record} ;;
  esac
}}
create
"""
    result = bash(snippet)
    return result, calls(record)


ALONE = "cp1 open True \\n"
WITH_WORKER = "cp1 open True \\nw1 open True \\n"


def test_a_control_plane_upgrade_marks_the_node_before_draining_and_unmarks_it_last(tmp_path):
    result, done = upgrade_cp_run(
        tmp_path, kubeadm_now="v1.34.2", kubelet_now="v1.34.2", marked=False, nodes=WITH_WORKER
    )
    assert result.returncode == 0, result.stderr
    mark = "kc annotate node cp1 --overwrite hybrid-kube.io/upgrade-cordoned=1.35"
    drain = "kc drain cp1 --ignore-daemonsets --delete-emptydir-data --timeout=600s"
    steps = [mark, drain, "upgrade-kubelet", "kc uncordon cp1"]
    assert [c for c in done if c in steps] == steps
    assert done[-1] == "kc annotate node cp1 hybrid-kube.io/upgrade-cordoned-"
    assert done.index("kubeadm upgrade apply -y v1.35.0") < done.index(mark)


def test_a_failed_control_plane_upgrade_resumes_and_uncordons(tmp_path):
    # The last run upgraded the kubelet, then failed before the uncordon: versions match now.
    result, done = upgrade_cp_run(
        tmp_path, kubeadm_now="v1.35.0", kubelet_now="v1.35.0", marked=True, nodes=WITH_WORKER
    )
    assert result.returncode == 0, result.stderr
    assert "resuming the upgrade of cp1" in result.stdout
    assert done == [
        "kc wait --for=condition=Ready node/cp1 --timeout=600s",
        "kc uncordon cp1",
        "kc annotate node cp1 hybrid-kube.io/upgrade-cordoned-",
    ]
    # Without the mark an up-to-date node is left alone (never uncordons a hand-cordoned node).
    (tmp_path / "calls").unlink()
    result, done = upgrade_cp_run(
        tmp_path, kubeadm_now="v1.35.0", kubelet_now="v1.35.0", marked=False, nodes=WITH_WORKER
    )
    assert result.returncode == 0 and done == []
    assert "no upgrade needed" in result.stdout


def test_a_lone_control_plane_is_cordoned_not_drained(tmp_path):
    result, done = upgrade_cp_run(
        tmp_path, kubeadm_now="v1.34.2", kubelet_now="v1.34.2", marked=False, nodes=ALONE
    )
    assert result.returncode == 0, result.stderr
    assert "kc cordon cp1" in done
    assert not any(c.startswith("kc drain") for c in done)
    assert "cordoning it only" in result.stdout


def drain_calls(tmp_path: Path, nodes: str) -> list[str]:
    record = tmp_path / "calls"
    record.unlink(missing_ok=True)
    snippet = f"""
kc() {{
  case "$*" in
    "get nodes -o go-template="*) printf '{nodes}' ;;
    *) echo "kc $*" >>{record} ;;
  esac
}}
drain_node w1 600s
"""
    result = bash(snippet)
    assert result.returncode == 0, result.stderr
    return calls(record)


def test_drain_only_when_another_node_can_take_the_pods(tmp_path):
    cordon = ["kc cordon w1"]
    drain = ["kc drain w1 --ignore-daemonsets --delete-emptydir-data --timeout=600s"]
    cases = {
        "w1 open True \\n": cordon,  # alone
        "w1 open True \\nw2 cordoned True \\n": cordon,
        "w1 open True \\nw2 open False \\n": cordon,  # NotReady
        "w1 open True \\nw2 open Unknown \\n": cordon,
        "w1 open True \\ncp1 open True NoSchedule,\\n": cordon,  # a tainted control plane
        "w1 open True \\nw2 open True NoExecute,\\n": cordon,
        "w1 open True \\nw2 open True \\n": drain,
        "w1 open True \\nw2 open True PreferNoSchedule,\\n": drain,
        "w1 open True \\ncp1 open True NoSchedule,\\nw2 open True \\n": drain,
    }
    for nodes, expected in cases.items():
        assert drain_calls(tmp_path, nodes) == expected, nodes


def test_the_go_template_reads_the_fields_drain_node_expects():
    # The template must print: name, open|cordoned, the Ready status, taint effects.
    lib = bash("declare -f other_schedulable_nodes").stdout
    assert "{{if .spec.unschedulable}}cordoned{{else}}open{{end}}" in lib
    assert '{{if eq .type "Ready"}}{{.status}}{{end}}' in lib
    assert "{{range .spec.taints}}{{.effect}},{{end}}" in lib
    upgrade_drain = script_functions("upgrade-drain.sh")
    assert 'drain_node "$NODE_NAME" 600s' in upgrade_drain and "kc drain" not in upgrade_drain


# -- S5: changed files reach running control planes -----------------------------------------------

APISERVER_MANIFEST = """apiVersion: v1
kind: Pod
metadata:
  annotations:
    kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint: 192.168.56.11:6443
  creationTimestamp: null
  labels:
    component: kube-apiserver
  name: kube-apiserver
  namespace: kube-system
spec:
  containers:
  - command:
    - kube-apiserver
"""


def control_plane_env(tmp_path: Path) -> str:
    manifests = tmp_path / "manifests"
    manifests.mkdir(exist_ok=True)
    (tmp_path / "admin.conf").write_text("admin\n")
    (tmp_path / "kubelet.conf").write_text("kubelet\n")
    if not (manifests / "kube-apiserver.yaml").exists():
        (manifests / "kube-apiserver.yaml").write_text(APISERVER_MANIFEST)
    return f"""
STATE_DIR={tmp_path}/state
LOG_DIR={tmp_path}/log
APISERVER_DIR={tmp_path}/apiserver
AUDIT_LOG_DIR={tmp_path}/audit
ADMIN_KUBECONFIG={tmp_path}/admin.conf
KUBELET_KUBECONFIG={tmp_path}/kubelet.conf
APISERVER_MANIFEST={manifests}/kube-apiserver.yaml
KUBE_VIP_MANIFEST_PATH={manifests}/kube-vip.yaml
NODE_IP=192.168.56.11
ip() {{ printf '2: eth1    inet 192.168.56.11/24 brd 192.168.56.255 scope global eth1\\n'; }}
sleep() {{ :; }}
curl() {{ echo curl >>{tmp_path}/calls; }}
kubeadm() {{ echo "kubeadm $*" >>{tmp_path}/calls; }}
"""


def init_run(tmp_path: Path, encryption: str, audit: str, vip: str):
    # The host initialised the cluster (init.sh's record) with Calico.
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    (state / "initialised").write_text("node=cp1\naddress=192.168.56.11\n")
    (state / "cni").write_text("calico\n")
    snippet = (
        script_functions("init.sh")
        + control_plane_env(tmp_path)
        + f"""
INIT_ONLY_FILE={tmp_path}/super-admin.conf CNI_CONF_DIR={tmp_path}/net.d
NODE_NAME=cp1 K8S_VERSION=1.34 CNI=calico KUBEADM_CONFIG='' CA_CERT='' CA_KEY=''
ENCRYPTION_CONFIG='{encryption}' AUDIT_POLICY='{audit}'
KUBE_VIP_MANIFEST='{vip}'
create
"""
    )
    return bash(snippet)


def files_annotation(manifest: Path) -> str | None:
    for line in manifest.read_text().splitlines():
        if line.startswith("    hybrid-kube.io/apiserver-files: "):
            return line.split(": ", 1)[1]
    return None


VIP = (
    "volumes:\n- hostPath:\n    path: /etc/kubernetes/super-admin.conf\n"
    "  vip_interface: @VIP_INTERFACE@"
)


def test_an_initialised_control_plane_gets_changed_files_and_restarts_its_api_server(tmp_path):
    manifest = tmp_path / "manifests" / "kube-apiserver.yaml"
    result = init_run(tmp_path, "key: one", "rules: a", VIP)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "apiserver" / "encryption-config.yaml").read_text() == "key: one\n"
    assert (tmp_path / "apiserver" / "audit-policy.yaml").read_text() == "rules: a\n"
    assert stat.S_IMODE((tmp_path / "apiserver" / "encryption-config.yaml").stat().st_mode) == 0o600
    first = files_annotation(manifest)
    assert first is not None and "restarting the API server on cp1" in result.stdout
    # Only the annotation was added, right under `annotations:`; the rest is kubeadm's.
    lines = manifest.read_text().splitlines()
    assert lines[4].startswith("    hybrid-kube.io/apiserver-files: ")
    assert [line for i, line in enumerate(lines) if i != 4] == APISERVER_MANIFEST.splitlines()
    # kube-vip after init uses admin.conf, written in place (no temp file for the kubelet).
    vip = (tmp_path / "manifests" / "kube-vip.yaml").read_text()
    assert "/etc/kubernetes/admin.conf" in vip and "super-admin" not in vip and "eth1" in vip
    assert sorted(p.name for p in (tmp_path / "manifests").iterdir()) == [
        "kube-apiserver.yaml",
        "kube-vip.yaml",
    ]
    assert "kubeadm init" not in "".join(calls(tmp_path / "calls"))
    # Unchanged values: nothing is rewritten, the API server is left alone.
    before = (
        manifest.stat().st_mtime_ns,
        (tmp_path / "manifests" / "kube-vip.yaml").stat().st_mtime_ns,
    )
    again = init_run(tmp_path, "key: one", "rules: a", VIP)
    assert again.returncode == 0, again.stderr
    assert "restarting" not in again.stdout and "kube-vip" not in again.stdout
    assert (
        manifest.stat().st_mtime_ns,
        (tmp_path / "manifests" / "kube-vip.yaml").stat().st_mtime_ns,
    ) == before
    # A changed audit policy: a new hash, so the kubelet restarts the API server.
    changed = init_run(tmp_path, "key: one", "rules: b", VIP)
    assert changed.returncode == 0, changed.stderr
    assert files_annotation(manifest) not in (None, first)
    assert manifest.read_text().count("hybrid-kube.io/apiserver-files") == 1


def test_a_legacy_super_admin_kube_vip_manifest_is_switched_in_place(tmp_path):
    control_plane_env(tmp_path)
    vip = tmp_path / "manifests" / "kube-vip.yaml"
    vip.write_text("path: /etc/kubernetes/super-admin.conf\n")
    result = init_run(tmp_path, "key: one", "rules: a", "")
    assert result.returncode == 0, result.stderr
    assert vip.read_text() == "path: /etc/kubernetes/admin.conf\n"
    assert "kube-vip switched" in result.stdout
    assert "sed -i" not in script_functions("init.sh")


def test_a_joined_control_plane_gets_changed_files_too(tmp_path):
    def join(encryption: str):
        snippet = (
            script_functions("join.sh")
            + control_plane_env(tmp_path)
            + f"""
NODE_NAME=cp2 ROLE=control-plane JOIN_CONFIG='' ADMIT_URN=''
ENCRYPTION_CONFIG='{encryption}' AUDIT_POLICY='rules: a' KUBE_VIP_MANIFEST=''
create
"""
        )
        return bash(snippet)

    manifest = tmp_path / "manifests" / "kube-apiserver.yaml"
    assert join("key: one").returncode == 0
    first = files_annotation(manifest)
    result = join("key: two")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "apiserver" / "encryption-config.yaml").read_text() == "key: two\n"
    assert files_annotation(manifest) not in (None, first)
    assert "restarting the API server on cp2" in result.stdout
    assert "kubeadm join" not in "".join(calls(tmp_path / "calls"))


def test_a_manifest_without_annotations_gets_them(tmp_path):
    manifest = tmp_path / "kube-apiserver.yaml"
    manifest.write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: kube-apiserver\n")
    snippet = f"""
APISERVER_DIR={tmp_path}/apiserver AUDIT_LOG_DIR={tmp_path}/audit APISERVER_MANIFEST={manifest}
ENCRYPTION_CONFIG=a AUDIT_POLICY=b
sleep() {{ :; }}
curl() {{ :; }}
write_apiserver_files
reload_apiserver_files
"""
    result = bash(snippet)
    assert result.returncode == 0, result.stderr
    lines = manifest.read_text().splitlines()
    assert lines[3] == "  annotations:"
    assert lines[4].startswith('    hybrid-kube.io/apiserver-files: "')
    assert lines[5] == "  name: kube-apiserver"


# -- admit: the file with the token and the certificate key never outlives the script -----------


def test_admit_file_is_removed_even_when_kubeadm_fails(tmp_path):
    for outcome in ("0", "1"):
        snippet = f"""
{script_functions("admit.sh")}
STATE_DIR={tmp_path}/state LOG_DIR={tmp_path}/log ADMIN_KUBECONFIG={tmp_path}/admin.conf
NODE_NAME=cp2 NODE_IP=192.168.56.12 ROLE=control-plane JOIN_INPUTS_SHA256=abc
ADMIT_CONFIG='certificateKey: sekrit'
kc() {{ printf 'kind: ClusterConfiguration'; }}
kubeadm() {{
  grep -q sekrit {tmp_path}/state/admit-cp2.yaml && echo "seen $*" >>{tmp_path}/calls
  return {outcome}
}}
create
"""
        (tmp_path / "admin.conf").write_text("admin\n")
        result = bash(snippet)
        assert result.returncode == int(outcome != "0"), result.stderr
        assert calls(tmp_path / "calls"), "kubeadm did not see the admit file"
        assert list((tmp_path / "state").iterdir()) == [], outcome
        (tmp_path / "calls").unlink()


# -- versions and the sysctl file ---------------------------------------------------------------


def test_patch_downgrades_are_refused_clearly():
    down = bash("check_upgrade_step v1.34.3 1.34.2")
    assert down.returncode == 1
    assert "patch downgrades are not supported" in down.stderr and "1.34.3" in down.stderr
    assert bash("check_upgrade_step v1.34.2 1.34.3").returncode == 0
    assert bash("check_upgrade_step 1.34.3-1.1 1.34.3").returncode == 0
    assert bash("check_upgrade_step v1.34.3 1.34").returncode == 0  # a bare minor is satisfied
    assert out("patch_number v1.34.3; patch_number 1.34.10-1.1; patch_number 1.34") == "3\n10\n0"


def test_sysctls_go_to_k8s_conf_and_the_old_file_is_removed(tmp_path):
    sysctl_dir = tmp_path / "sysctl.d"
    sysctl_dir.mkdir()
    (sysctl_dir / "99-kubernetes.conf").write_text("net.ipv4.ip_forward = 1\n")
    snippet = f"""
{script_functions("prepare.sh")}
SYSCTL_DIR={sysctl_dir} MODULES_LOAD_DIR={tmp_path}/modules-load.d
modprobe() {{ :; }}
sysctl() {{ if [ "$1" = -n ]; then echo 1; else echo "sysctl $*" >>{tmp_path}/calls; fi; }}
configure_kernel
"""
    result = bash(snippet)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in sysctl_dir.iterdir()) == ["k8s.conf"]
    assert "net.bridge.bridge-nf-call-iptables = 1" in (sysctl_dir / "k8s.conf").read_text()
    assert calls(tmp_path / "calls") == ["sysctl --system"]
    (tmp_path / "calls").unlink()
    assert bash(snippet).returncode == 0
    assert calls(tmp_path / "calls") == []  # nothing changed: no reload
