"""Day-2 edits of the on-prem stack (issue 10), as a real `pulumi up` would carry them out.

Each test records `stacks/Pulumi.onprem-lab.yaml` before and after one edit (tests/transitions.py)
and asserts what the engine would create, replace and delete, which destructive scripts run on
which host and in what order. Where order on the hosts matters (etcd members leaving, hosts being
reset), the very scripts the program sends are then run, in that order, in bash against a fake
cluster (`FakeCluster`: kubectl, etcdctl and the reset stubbed), so the proof covers both the
recorded graph and the scripts' behaviour.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from test_kubeadm_cluster import critical_path, stdin_variables
from test_kubeadm_scripts import bash, script_functions
from transitions import HostAction, Plan, plan, record

from apps import settings_catalog
from components.kubeadm import KUBEADM_CAPABILITIES, kubeadm_capabilities
from components.kubeadm.commands import script_text
from components.recording import RecordedResource, Recording
from components.settings import SettingsError, load_settings
from components.stackfile import PROJECT_ROOT, load_stack

STACK = "onprem-lab"
KUBEADM_KEY = "hybrid-kube:kubeadm"
SHIPPED = json.loads(load_stack(STACK).config[KUBEADM_KEY])
VIP = "192.168.56.10"
ETCDCTL = (
    "-n kube-system exec etcd-{bootstrap} -- etcdctl --endpoints=https://127.0.0.1:2379"
    " --cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/server.crt"
    " --key=/etc/kubernetes/pki/etcd/server.key"
)


def cp(n: int | str, address: str | None = None) -> dict[str, str]:
    return {"name": f"cp{n}", "address": address or f"192.168.56.1{n}", "role": "control-plane"}


def worker(n: int, address: str | None = None) -> dict[str, str]:
    return {"name": f"w{n}", "address": address or f"192.168.56.2{n}", "role": "worker"}


HA = (cp(1), cp(2), cp(3), worker(1), worker(2))
LAB = (cp(1), worker(1), worker(2))


def overrides(*hosts: dict[str, str], **extra: Any) -> dict[str, Any]:
    """The shipped kubeadm settings with these hosts behind a VIP (so 1, 3 or 5 control planes
    are all valid); `extra` adds keys, a None value removes one (bootstrapHost=None: default)."""
    raw = {**SHIPPED, "controlPlaneEndpoint": VIP, "hosts": list(hosts), **extra}
    return {KUBEADM_KEY: {k: v for k, v in raw.items() if v is not None}}


def rec(*hosts: dict[str, str], **extra: Any) -> Recording:
    return record(STACK, overrides=overrides(*hosts, **extra))


def cluster_names(recording: Recording) -> set[str]:
    """The KubeadmCluster component and everything under it (the platform and apps are not)."""
    (component,) = recording.of_type("hybrid-kube:kubeadm:KubeadmCluster")
    return {component.name} | {r.name for r in recording.descendants(component)}


def touched(step: Plan) -> set[str]:
    return {*step.created, *step.deleted, *step.replaced, *step.updated}


def steps_of(host: str, recording: Recording) -> set[str]:
    return {r.name for r in recording.resources if r.name.startswith(f"onprem-{host}-")}


def named(recording: Recording, name: str) -> RecordedResource:
    return recording.named(name)


def deletes(step: Plan) -> list[tuple[str, str, str]]:
    return [(a.resource, a.host, a.script) for a in step.actions("delete")]


def dbr_dependents(step: Plan, name: str) -> set[str]:
    """What the engine deletes *before* `name` when it replaces `name` delete-before-replace:
    the dependents whose replace-forcing input (a Command's `triggers`) depends on one of its
    properties (pulumi/pulumi pkg/resource/deploy/step_generator.go,
    calculateDependentReplacements: a plain `dependsOn` edge does not count)."""
    urn = named(step.before, name).urn
    return {
        r.name
        for r in step.before.resources
        if urn in r.property_dependencies.get("triggers", frozenset())
    }


# -- 1. reordering hosts ----------------------------------------------------------------------


@pytest.mark.parametrize("bootstrap", ["cp1", None], ids=["bootstrapHost", "default"])
def test_reordering_hosts_changes_no_urn_input_or_dependency_of_the_cluster(bootstrap):
    before = rec(*HA, bootstrapHost=bootstrap)
    after = rec(worker(2), cp(3), worker(1), cp(2), cp(1), bootstrapHost=bootstrap)
    step = plan(before, after)
    assert not step.refused
    assert touched(step) & cluster_names(after) == set()
    assert set(before.by_urn()) == set(after.by_urn())
    old = before.by_urn()
    for urn, resource in after.by_urn().items():
        if resource.name in cluster_names(after):
            assert resource.dependencies == old[urn].dependencies, resource.name
            assert resource.property_dependencies == old[urn].property_dependencies, resource.name


def test_reordering_hosts_changes_nothing_in_the_whole_stack():
    step = plan(rec(*HA), rec(worker(2), cp(3), worker(1), cp(2), cp(1)))
    assert not step.changed and not step.host_actions


# -- 1b. the bootstrap host never changes -------------------------------------------------------


BOOTSTRAP_IDENTITY = "onprem-bootstrap-identity"


def test_the_bootstrap_step_and_identity_are_protected_and_everything_else_is_not():
    recording = rec(*HA)
    protected = {r.name for r in recording.resources if r.protect}
    assert protected == {"onprem-cp1-init", BOOTSTRAP_IDENTITY}
    identity = named(recording, BOOTSTRAP_IDENTITY)
    assert identity.inputs["keepers"] == {"host": "cp1", "address": "192.168.56.11"}
    assert identity.replace_on_changes == ("keepers",)
    init = named(recording, "onprem-cp1-init")
    assert identity.urn in init.dependencies  # refused before the init step could run


def test_choosing_another_bootstrap_host_is_refused_in_the_preview():
    step = plan(rec(*HA, bootstrapHost="cp1"), rec(*HA, bootstrapHost="cp2"))
    assert step.refused
    assert set(step.protected) == {"onprem-cp1-init", BOOTSTRAP_IDENTITY}


def test_a_new_control_plane_whose_name_sorts_first_cannot_move_the_default_bootstrap_host():
    before = rec(*HA, bootstrapHost=None)
    # Five control planes; cp0 sorts first.
    after = rec(cp(0, "192.168.56.30"), *HA, cp(4), bootstrapHost=None)
    assert plan(before, after).refused
    # Naming the bootstrap host keeps it: the same edit is then a plain addition.
    pinned = plan(before, rec(cp(0, "192.168.56.30"), *HA, cp(4), bootstrapHost="cp1"))
    assert not pinned.refused and not pinned.deleted and not pinned.replaced
    assert {"onprem-cp0-join", "onprem-cp4-join"} <= set(pinned.created)


def test_removing_or_renaming_the_bootstrap_host_is_refused():
    without = (cp(2), cp(3), cp(4), worker(1), worker(2))  # cp1 out, cp4 in: still three
    removed = plan(rec(*HA, bootstrapHost=None), rec(*without, bootstrapHost=None))
    assert removed.refused and "onprem-cp1-init" in removed.protected
    renamed = (cp("a", "192.168.56.11"), cp(2), cp(3), worker(1), worker(2))
    step = plan(rec(*HA, bootstrapHost="cp1"), rec(*renamed, bootstrapHost="cpa"))
    assert step.refused and set(step.protected) == {"onprem-cp1-init", BOOTSTRAP_IDENTITY}


def test_a_new_address_for_the_bootstrap_host_is_refused_by_its_identity():
    moved = (cp(1, "192.168.56.99"), cp(2), cp(3), worker(1), worker(2))
    step = plan(rec(*HA), rec(*moved))
    # Without the identity this would only re-run init.sh, at the new address.
    assert "onprem-cp1-init" in step.updated and "onprem-cp1-init" not in step.replaced
    assert step.replaced[BOOTSTRAP_IDENTITY] == "replaceOnChanges: keepers"
    assert step.protected == [BOOTSTRAP_IDENTITY]


@pytest.mark.parametrize(
    ("bootstrap", "hosts", "problem"),
    [
        ("cp9", HA, "'cp9' is not one of the hosts"),
        ("w1", HA, "'w1' is a worker"),
    ],
)
def test_bootstrap_host_must_name_a_control_plane(bootstrap, hosts, problem):
    raw = {"target": "kubeadm", "kubeadm": overrides(*hosts, bootstrapHost=bootstrap)[KUBEADM_KEY]}
    with pytest.raises(SettingsError) as caught:
        load_settings(raw, settings_catalog())
    ((path, message),) = caught.value.problems
    assert path == "hybrid-kube:kubeadm.bootstrapHost"
    assert problem in message and "'cp1', 'cp2', 'cp3'" in message


def test_the_bootstrap_host_is_the_control_plane_whose_name_sorts_first_by_default():
    settings = load_settings(
        {
            "target": "kubeadm",
            "kubeadm": overrides(cp(3), worker(1), cp(2), cp(1), bootstrapHost=None)[KUBEADM_KEY],
        },
        settings_catalog(),
    ).kubeadm
    assert settings.bootstrap_control_plane.name == "cp1"
    assert [h.name for h in settings.joining_control_planes] == ["cp2", "cp3"]
    assert [h.name for h in settings.workers] == ["w1"]


# -- 2. control planes come and go, etcd stays healthy ------------------------------------------


def test_one_to_three_control_planes_joins_them_one_at_a_time_by_name():
    step = plan(rec(*LAB), rec(*HA))
    assert not step.deleted and not step.replaced and not step.refused
    assert touched(step) & cluster_names(step.after) == steps_of("cp2", step.after) | steps_of(
        "cp3", step.after
    )
    assert step.created_before("onprem-cp1-init", "onprem-cp2-admit")
    assert step.created_before("onprem-cp2-join", "onprem-cp3-admit")
    assert step.created_before("onprem-cp2-node", "onprem-cp3-node")
    assert {a.action for a in step.host_actions} == {"create"}


def test_control_planes_join_in_name_order_whatever_the_list_says():
    after = rec(cp(3), cp(1), cp(2), worker(1), bootstrapHost="cp2")
    step = plan(after, after)
    assert step.created_before("onprem-cp2-init", "onprem-cp1-admit")
    assert step.created_before("onprem-cp1-join", "onprem-cp3-admit")
    assert step.created_before("onprem-cp1-node", "onprem-cp3-node")
    # Upgrades follow the join order: the bootstrap host runs `kubeadm upgrade apply` first.
    assert step.created_before("onprem-cp2-upgrade", "onprem-cp1-upgrade")
    assert step.created_before("onprem-cp1-upgrade", "onprem-cp3-upgrade")
    cmds = {r.name: r for r in after.resources}
    for name in ("cp1", "cp2", "cp3"):
        assert stdin_variables(cmds[f"onprem-{name}-upgrade"])["BOOTSTRAP_HOST"] == "cp2"


def test_three_to_one_control_planes_removes_cp3_then_cp2_each_before_its_reset(tmp_path):
    step = plan(rec(*HA), rec(*LAB))
    assert not step.refused and not step.replaced
    assert set(step.deleted) == steps_of("cp2", step.before) | steps_of("cp3", step.before)
    # Graph: the control planes' node steps are chained, so the engine deletes cp3's first...
    assert step.deleted_before("onprem-cp3-node", "onprem-cp2-node")
    assert not step.may_run_concurrently("onprem-cp3-node", "onprem-cp2-node")
    # ...and each before its own host's reset.
    for name in ("cp2", "cp3"):
        assert step.deleted_before(f"onprem-{name}-node", f"onprem-{name}-join")
    assert deletes(step) == [
        ("onprem-cp3-node", "192.168.56.11", "node.sh"),
        ("onprem-cp3-join", "192.168.56.13", "join.sh"),
        ("onprem-cp2-node", "192.168.56.11", "node.sh"),
        ("onprem-cp2-join", "192.168.56.12", "join.sh"),
    ]
    # Scripts: those deletes, in that order, against a three-member etcd.
    cluster = FakeCluster(tmp_path, HA)
    cluster.carry_out(step)
    assert cluster.members() == ["cp1"]
    events = cluster.events()
    for name in ("cp3", "cp2"):
        assert_in_order(
            events, f"drain {name}", f"member-remove {name}", f"delete-node {name}", f"reset {name}"
        )
    assert_in_order(events, "member-remove cp3", "member-remove cp2")


def test_replacing_cp3_by_cp4_in_one_up_joins_cp4_first_and_ends_with_three_members(tmp_path):
    replaced = (cp(1), cp(2), cp(4), worker(1), worker(2))
    step = plan(rec(*HA), rec(*replaced))
    assert not step.refused and not step.replaced
    assert set(step.deleted) == steps_of("cp3", step.before)
    assert steps_of("cp4", step.after) <= set(step.created)
    assert step.created_before("onprem-cp2-join", "onprem-cp4-admit")
    actions = [(a.resource, a.action) for a in step.host_actions]
    # The engine runs every create before any delete of a resource that left the program.
    assert actions.index(("onprem-cp4-join", "create")) < actions.index(
        ("onprem-cp3-node", "delete")
    )
    cluster = FakeCluster(tmp_path, HA)
    cluster.carry_out(step)
    assert cluster.members() == ["cp1", "cp2", "cp4"]
    assert_in_order(cluster.events(), "member-add cp4", "member-remove cp3", "reset cp3")


def test_a_control_plane_removal_that_would_cost_etcd_its_quorum_changes_nothing(tmp_path):
    step = plan(rec(*HA), rec(*LAB))
    cluster = FakeCluster(tmp_path, HA, down={"cp2"})
    first = step.actions("delete")[0]
    assert first.resource == "onprem-cp3-node"
    result = cluster.run(step, first)
    assert result.returncode == 1
    assert "refusing to remove cp3's etcd member" in result.stderr
    assert "2 voting members would remain and 2 of them must be healthy" in result.stderr
    assert "unhealthy or unreachable: cp2" in result.stderr
    assert cluster.events() == []  # no drain, no removal
    assert cluster.members() == ["cp1", "cp2", "cp3"]


def test_a_dead_control_plane_can_leave_when_the_others_keep_quorum(tmp_path):
    step = plan(rec(*HA), rec(cp(1), cp(2), worker(1), worker(2), cp(4)))
    cluster = FakeCluster(tmp_path, HA, down={"cp3"})
    cluster.carry_out(step, until="onprem-cp3-node")
    assert cluster.members() == ["cp1", "cp2", "cp4"]


def test_the_bootstrap_host_is_never_removed_by_its_node_step(tmp_path):
    recording = rec(*HA)
    node = named(recording, "onprem-cp1-node")
    cluster = FakeCluster(tmp_path, HA)
    result = cluster.run_script(node, "delete")
    assert result.returncode == 0, result.stderr
    assert "bootstrap control plane" in result.stdout
    assert cluster.events() == [] and cluster.members() == ["cp1", "cp2", "cp3"]


# -- node.sh's etcd helpers, one by one -------------------------------------------------------


def node_snippet(cluster: FakeCluster, body: str, *, name="cp3", ip="192.168.56.13") -> str:
    return (
        script_functions("node.sh")
        + cluster.stubs()
        + f"\nNODE_NAME={name} NODE_IP={ip} ROLE=control-plane BOOTSTRAP_HOST=cp1\n{body}\n"
    )


def test_a_member_already_gone_is_not_an_error(tmp_path):
    cluster = FakeCluster(tmp_path, (cp(1), cp(2), cp(3)))
    cluster.remove_member("cp3")
    result = bash(node_snippet(cluster, "delete"))
    assert result.returncode == 0, result.stderr
    assert "cp3 has no etcd member (already removed)" in result.stdout
    assert cluster.events() == ["drain cp3", "delete-node cp3"]


def test_a_member_removed_meanwhile_is_not_an_error(tmp_path):
    cluster = FakeCluster(tmp_path, (cp(1), cp(2), cp(3)))
    # Found by `member list`, gone by the time of `member remove` (someone else removed it).
    body = f'find_etcd_member\ngrep -v ", cp3, " {cluster.dir}/members >{cluster.dir}/m\n'
    body += f'mv {cluster.dir}/m {cluster.dir}/members\nremove_etcd_member "$ETCD_MEMBER_ID"'
    result = bash(node_snippet(cluster, body))
    assert result.returncode == 0, result.stderr
    assert f"etcd member {member_id('cp3')} of cp3 was already removed" in result.stdout


def test_members_are_matched_by_peer_address_or_name_and_learners_do_not_vote(tmp_path):
    cluster = FakeCluster(tmp_path, (cp(1), cp(2)))
    # cp3 was added but never started (a failed join): no name yet, a learner.
    cluster.add_member("cp3", "192.168.56.13", started=False, learner=True)
    assert cluster.members() == ["cp1", "cp2", ""]
    members = (cluster.dir / "members").read_text()
    found = bash(node_snippet(cluster, f'etcd_member_of_node "$(cat {cluster.dir}/members)"'))
    assert found.stdout.strip() == member_id("cp3"), found.stderr
    # Removing cp2 leaves cp1 alone (the learner does not count): 1 voter, 1 healthy. Fine.
    health = "https://192.168.56.11:2379 is healthy: successfully committed proposal: took = 1ms"
    ok = bash(
        script_functions("node.sh")
        + f"\netcd_quorum_problem '{members}' '{health}' {member_id('cp2')}"
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # Removing cp1 with cp2 unreachable: cp2 alone would have to be healthy, and it is not.
    refused = bash(
        script_functions("node.sh")
        + f"\netcd_quorum_problem '{members}' '{health}' {member_id('cp1')}"
    )
    assert refused.returncode == 1
    assert "1 voting members would remain and 1 of them must be healthy for quorum, but 0" in (
        refused.stdout
    )


def test_an_unreachable_etcd_stops_the_removal_before_the_drain(tmp_path):
    cluster = FakeCluster(tmp_path, HA)
    stubs = cluster.stubs() + '\nkc() { echo "error: unable to upgrade connection" >&2; return 1; }'
    snippet = (
        script_functions("node.sh")
        + stubs
        + "\nNODE_NAME=cp3 NODE_IP=192.168.56.13 ROLE=control-plane BOOTSTRAP_HOST=cp1\ndelete"
    )
    result = bash(snippet)
    assert result.returncode == 1
    assert "could not list etcd's members through etcd-cp1" in result.stderr
    assert "kubectl -n kube-system get pod etcd-cp1" in result.stderr


def test_the_etcdctl_calls_use_the_flags_etcd_3_6_defines():
    # etcd-io/etcd v3.6.9 etcdctl/ctlv3/ctl.go: --endpoints, --cacert, --cert, --key (global);
    # ep_command.go: `endpoint health --cluster`; member_command.go: `member remove <hex ID>`.
    text = script_text("node.sh")
    for flag in (
        "--endpoints=https://127.0.0.1:2379",
        '--cacert="$ETCD_CA"',
        '--cert="$ETCD_CERT"',
    ):
        assert flag in text
    assert '--key="$ETCD_KEY"' in text
    assert "endpoint health --cluster" in text and 'member remove "$1"' in text


# -- removing, moving and re-roling workers ----------------------------------------------------


def test_removing_a_worker_drains_it_then_resets_it_and_touches_nothing_else(tmp_path):
    step = plan(rec(*LAB), rec(cp(1), worker(1)))
    assert set(step.deleted) == steps_of("w2", step.before)
    assert touched(step) & cluster_names(step.after) == set()
    assert deletes(step) == [
        ("onprem-w2-node", "192.168.56.11", "node.sh"),
        ("onprem-w2-join", "192.168.56.22", "join.sh"),
    ]
    cluster = FakeCluster(tmp_path, LAB)
    cluster.carry_out(step)
    assert cluster.events() == ["drain w2", "delete-node w2", "reset w2"]
    assert cluster.members() == ["cp1"]


def test_a_new_worker_address_drains_and_deletes_the_node_before_the_old_host_is_reset():
    moved = (cp(1), worker(1, "192.168.56.29"), worker(2))
    step = plan(rec(*LAB), rec(*moved))
    assert set(step.replaced) == {"onprem-w1-admit", "onprem-w1-join", "onprem-w1-node"}
    assert not step.deleted and not step.refused
    # The join is replaced delete-before-replace; its node step's triggers depend on it, so the
    # engine deletes the node step (drain, delete the Node) first, then resets the old host.
    assert dbr_dependents(step, "onprem-w1-join") == {"onprem-w1-node"}
    assert named(step.before, "onprem-w1-join").delete_before_replace
    node = named(step.after, "onprem-w1-node")
    assert node.inputs["triggers"] == ["192.168.56.29", "worker"]
    (reset,) = [a for a in step.actions("delete") if a.resource == "onprem-w1-join"]
    assert reset.host == "192.168.56.21"  # the old host, from the state
    # The new address gets prepared and upgraded there; nothing else re-runs.
    assert set(step.updated) & cluster_names(step.after) == {
        "onprem-w1-prepare",
        "onprem-w1-upgrade",
    }


def test_trading_roles_keeps_three_control_planes_and_the_old_one_leaves_etcd(tmp_path):
    traded = (cp(1), cp(2), {**cp(3), "role": "worker"}, {**worker(1), "role": "control-plane"})
    before = rec(*HA[:4])
    step = plan(before, rec(*traded))
    for host in ("cp3", "w1"):
        assert {f"onprem-{host}-join", f"onprem-{host}-node"} <= set(step.replaced)
        assert dbr_dependents(step, f"onprem-{host}-join") == {f"onprem-{host}-node"}
    # The delete runs the state's stdin: cp3's node step still says control-plane, so it leaves
    # etcd; w1 now joins as a control plane, after cp2 (name order).
    assert stdin_variables(named(step.before, "onprem-cp3-node"))["ROLE"] == "control-plane"
    assert step.created_before("onprem-cp2-join", "onprem-w1-admit")
    assert "controlPlane" in stdin_variables(named(step.after, "onprem-w1-join"))["JOIN_CONFIG"]
    cluster = FakeCluster(tmp_path, HA[:4])
    result = cluster.run(step, HostAction("onprem-cp3-node", "192.168.56.11", "node.sh", "delete"))
    assert result.returncode == 0, result.stderr
    assert cluster.members() == ["cp1", "cp2"]


def test_a_minor_upgrade_reruns_only_version_aware_steps_control_planes_first():
    shipped = load_stack(STACK).config["hybrid-kube:kubernetesVersion"]
    major, minor = shipped.split(".")[:2]
    raised = f"{major}.{int(minor) + 1}"
    step = plan(
        rec(*HA), record(STACK, {**overrides(*HA), "hybrid-kube:kubernetesVersion": raised})
    )
    assert not step.created and not step.deleted and not step.replaced and not step.refused
    cluster = touched(step) & cluster_names(step.after)
    assert cluster == {
        *(f"onprem-{h}-prepare" for h in ("cp1", "cp2", "cp3", "w1", "w2")),
        "onprem-cp1-init",
        *(f"onprem-{h}-upgrade" for h in ("cp1", "cp2", "cp3", "w1", "w2")),
        *(f"onprem-{w}-upgrade-{s}" for w in ("w1", "w2") for s in ("drain", "uncordon")),
    }
    assert step.created_before("onprem-cp1-upgrade", "onprem-cp2-upgrade")
    assert step.created_before("onprem-cp3-upgrade", "onprem-w1-upgrade-drain")


def test_the_bring_up_critical_path_does_not_grow():
    # prepare, init, then per control plane admit + join, the last one's node and upgrade,
    # then a worker's drain, upgrade, uncordon: the node chain adds nothing to it.
    path = critical_path(rec(*HA))
    assert len(path) == 11
    assert path[:6] == [
        "onprem-cp1-prepare",
        "onprem-cp1-init",
        "onprem-cp2-admit",
        "onprem-cp2-join",
        "onprem-cp3-admit",
        "onprem-cp3-join",
    ]


# -- 3. the pod network ------------------------------------------------------------------------


def test_a_cni_change_reaches_the_bootstrap_host_before_the_release_is_touched():
    step = plan(rec(*LAB), rec(*LAB, cni="flannel"))
    init = named(step.after, "onprem-cp1-init")
    assert stdin_variables(init)["CNI"] == "flannel"
    assert "onprem-cp1-init" in step.updated  # init.sh runs (and refuses) on cp1
    assert ("onprem-cp1-init", "192.168.56.11", "init.sh", "create") in [
        (a.resource, a.host, a.script, a.action) for a in step.host_actions
    ]
    # The release goes through the provider, whose kubeconfig waits for the init step: a failed
    # init stops the `up` before the release (or its namespace) is created, updated or replaced.
    (provider,) = step.after.of_type("pulumi:providers:kubernetes")
    assert init.urn in provider.property_dependencies["kubeconfig"]
    release = named(step.after, "onprem-cni")
    assert release.provider_urn == provider.urn
    assert "onprem-cni" in step.replaced
    assert step.created_before("onprem-cp1-init", "onprem-cni")
    assert step.created_before("onprem-cp1-init", "onprem-cni-namespace")


@pytest.mark.parametrize(
    ("cni", "policy"), [("calico", "enforced"), ("cilium", "enforced"), ("flannel", "not-enforced")]
)
def test_network_policy_enforcement_follows_the_cni(cni, policy):
    capabilities = kubeadm_capabilities(cni)
    assert capabilities.network_policy == policy
    assert capabilities.load_balancer is KUBEADM_CAPABILITIES.load_balancer is False


def test_the_cluster_reports_its_cnis_network_policy():
    from test_kubeadm_cluster import lab

    from components.kubeadm import KubeadmCluster, KubeadmClusterArgs
    from components.recording import run_program
    from components.settings import KubeadmSettings

    seen = {}
    for cni in ("calico", "flannel"):
        settings = KubeadmSettings.model_validate(lab(cni=cni))

        def program(settings=settings, cni=cni) -> None:
            seen[cni] = KubeadmCluster("onprem", KubeadmClusterArgs(kubeadm=settings)).capabilities

        run_program(program)
    assert seen["calico"].network_policy == "enforced"
    assert seen["flannel"].network_policy == "not-enforced"


# -- init.sh on the host: who may bootstrap, which pod network ----------------------------------


def init_host(tmp_path: Path, **files: str) -> Path:
    """A host directory: admin.conf, super-admin.conf, the state files, CNI configs."""
    host = tmp_path / "host"
    (host / "state").mkdir(parents=True, exist_ok=True)
    (host / "net.d").mkdir(exist_ok=True)
    for name, content in files.items():
        path = host / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return host


def init_create(host: Path, *, name="cp1", ip="192.168.56.11", cni="calico"):
    snippet = f"""
{script_functions("init.sh")}
STATE_DIR={host}/state LOG_DIR={host}/log APISERVER_DIR={host}/apiserver AUDIT_LOG_DIR={host}/audit
ADMIN_KUBECONFIG={host}/admin.conf INIT_ONLY_FILE={host}/super-admin.conf CNI_CONF_DIR={host}/net.d
APISERVER_MANIFEST={host}/kube-apiserver.yaml KUBE_VIP_MANIFEST_PATH={host}/kube-vip.yaml
NODE_NAME={name} NODE_IP={ip} CNI={cni} K8S_VERSION=1.34 KUBEADM_CONFIG='kind: InitConfiguration'
CA_CERT=ca CA_KEY=key ENCRYPTION_CONFIG=enc AUDIT_POLICY=audit KUBE_VIP_MANIFEST=''
write_ca() {{ echo write-ca >>{host}/calls; }}
kubeadm() {{
  case "$*" in
    "version -o short") echo v1.34.2 ;;
    init*) echo "kubeadm $1" >>{host}/calls; echo admin >{host}/admin.conf ;;
    *) echo "kubeadm $*" >>{host}/calls ;;
  esac
}}
create
"""
    return bash(snippet)


def calls(host: Path) -> list[str]:
    path = host / "calls"
    return path.read_text().splitlines() if path.exists() else []


def test_kubeadm_init_records_the_bootstrap_host_and_its_cni(tmp_path):
    host = init_host(tmp_path)
    result = init_create(host, cni="cilium")
    assert result.returncode == 0, result.stderr
    assert calls(host) == ["write-ca", "kubeadm init"]
    assert (host / "state" / "initialised").read_text() == "node=cp1\naddress=192.168.56.11\n"
    assert (host / "state" / "cni").read_text() == "cilium\n"
    again = init_create(host, cni="cilium")  # a later `pulumi up`: nothing to do
    assert again.returncode == 0, again.stderr
    assert "already initialised" in again.stdout and calls(host) == ["write-ca", "kubeadm init"]


def test_a_host_that_joined_as_a_control_plane_refuses_to_be_the_bootstrap_host(tmp_path):
    host = init_host(tmp_path, **{"admin.conf": "admin"})  # joined: admin.conf, no super-admin
    result = init_create(host, name="cp2", ip="192.168.56.12")
    assert result.returncode == 1
    assert "cp2 joined this cluster as a control plane; it did not initialise it" in result.stderr
    assert "Set kubeadm.bootstrapHost to the host that ran kubeadm init" in result.stderr
    assert not (host / "apiserver").exists()  # nothing was written
    assert sorted(p.name for p in (host / "state").iterdir()) == []
    assert calls(host) == []


def test_a_cluster_initialised_before_the_record_is_recognised_by_super_admin_conf(tmp_path):
    host = init_host(tmp_path, **{"admin.conf": "admin", "super-admin.conf": "super"})
    result = init_create(host)
    assert result.returncode == 0, result.stderr
    assert "recorded that cp1 initialised this cluster" in result.stdout
    assert (host / "state" / "initialised").read_text() == "node=cp1\naddress=192.168.56.11\n"
    assert calls(host) == []  # no kubeadm init on an initialised host


@pytest.mark.parametrize(
    ("name", "ip", "message"),
    [
        ("cpa", "192.168.56.11", "hosts cannot be renamed"),
        ("cp1", "192.168.56.99", "cannot change"),
    ],
)
def test_the_bootstrap_host_cannot_be_renamed_or_readdressed_on_the_host_either(
    tmp_path, name, ip, message
):
    host = init_host(
        tmp_path,
        **{"admin.conf": "admin", "state__initialised": "node=cp1\naddress=192.168.56.11\n"},
    )
    result = init_create(host, name=name, ip=ip)
    assert result.returncode == 1 and message in result.stderr
    assert not (host / "apiserver").exists()


def test_a_changed_cni_is_refused_before_anything_changes(tmp_path):
    host = init_host(
        tmp_path,
        **{
            "admin.conf": "admin",
            "state__initialised": "node=cp1\naddress=192.168.56.11\n",
            "state__cni": "calico\n",
        },
    )
    result = init_create(host, cni="flannel")
    assert result.returncode == 1
    assert "kubeadm.cni is 'flannel', but this cluster runs 'calico'" in result.stderr
    assert "Set kubeadm.cni back to 'calico'" in result.stderr
    assert "docs/onprem.md, 'Changing the pod network'" in result.stderr
    assert not (host / "apiserver").exists() and calls(host) == []
    assert init_create(host, cni="calico").returncode == 0


@pytest.mark.parametrize(
    ("configs", "wanted", "refused_with"),
    [
        ({"10-calico.conflist": "{}"}, "cilium", "runs 'calico'"),
        ({"05-cilium.conflist": "{}"}, "calico", "runs 'cilium'"),
        ({"10-flannel.conflist": "{}"}, "calico", "runs 'flannel'"),
        ({"10-calico.conflist": "{}", "10-flannel.conflist": "{}"}, "calico", "'calico flannel'"),
        ({"10-calico.conflist": "{}", "99-loopback.conf": "{}"}, "calico", None),
        ({}, "flannel", None),  # no pod network yet: the stack's choice is recorded
    ],
)
def test_without_a_record_the_installed_cni_is_read_from_its_config(
    tmp_path, configs, wanted, refused_with
):
    files = {"admin.conf": "admin", "super-admin.conf": "super"}
    files.update({f"net.d__{name}": content for name, content in configs.items()})
    host = init_host(tmp_path, **files)
    result = init_create(host, cni=wanted)
    if refused_with is None:
        assert result.returncode == 0, result.stderr
        assert (host / "state" / "cni").read_text() == f"{wanted}\n"
    else:
        assert result.returncode == 1 and refused_with in result.stderr
        assert "its configuration is in" in result.stderr
        assert not (host / "state" / "cni").exists()


# -- the docs -----------------------------------------------------------------------------------


def test_the_docs_give_the_exact_unprotect_command_and_no_false_etcd_claim():
    docs = (PROJECT_ROOT / "docs" / "onprem.md").read_text(encoding="utf-8")
    shipped = record(STACK)
    for resource in shipped.resources:
        if resource.protect:
            assert f"'{resource.urn}'" in docs, resource.name
    assert "pulumi state unprotect -s onprem-lab" in docs
    assert "also leaves etcd during its reset" not in docs


# -- a fake cluster for the scripts ------------------------------------------------------------


def member_id(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:16]


def assert_in_order(events: list[str], *expected: str) -> None:
    positions = [events.index(e) for e in expected]
    assert positions == sorted(positions), (expected, events)


class FakeCluster:
    """Files standing for etcd's membership and the Node objects, and bash stubs for `kc` (which
    serve `kubectl exec etcd-<bootstrap> -- etcdctl ...` with etcdctl's own output formats, see
    etcd-io/etcd v3.6.9 etcdctl/ctlv3/command/printer_simple.go) and for the host reset."""

    def __init__(self, tmp_path: Path, hosts, down: set[str] = frozenset(), bootstrap="cp1"):
        self.dir = tmp_path / "cluster"
        self.dir.mkdir()
        self.bootstrap = bootstrap
        (self.dir / "admin.conf").write_text("admin\n")
        (self.dir / "members").write_text("")
        (self.dir / "down").write_text(" ".join(sorted(down)))
        (self.dir / "nodes").write_text("".join(f"{h['name']}\n" for h in hosts))
        for h in hosts:
            if h["role"] == "control-plane":
                self.add_member(h["name"], h["address"], log=False)

    def add_member(self, name, address, *, started=True, learner=False, log=True) -> None:
        row = [
            member_id(name),
            "started" if started else "unstarted",
            name if started else "",
            f"https://{address}:2380",
            f"https://{address}:2379" if started else "",
            "true" if learner else "false",
        ]
        with (self.dir / "members").open("a") as f:
            f.write(", ".join(row) + "\n")
        if log:
            with (self.dir / "events").open("a") as f:
                f.write(f"member-add {name}\n")

    def remove_member(self, name: str) -> None:
        rows = (self.dir / "members").read_text().splitlines()
        kept = [r for r in rows if r.split(", ")[0] != member_id(name)]
        (self.dir / "members").write_text("".join(f"{r}\n" for r in kept))

    def members(self) -> list[str]:
        return [r.split(", ")[2] for r in (self.dir / "members").read_text().splitlines()]

    def events(self) -> list[str]:
        path = self.dir / "events"
        return path.read_text().splitlines() if path.exists() else []

    def stubs(self) -> str:
        d = self.dir
        etcdctl = ETCDCTL.format(bootstrap=self.bootstrap)
        names = " ".join(f"{member_id(n)}={n}" for n in ("cp0", "cp1", "cp2", "cp3", "cp4", "w1"))
        return f"""
ADMIN_KUBECONFIG={d}/admin.conf
sleep() {{ :; }}
member_name() {{
  local pair
  for pair in {names}; do [ "${{pair%%=*}}" = "$1" ] && echo "${{pair#*=}}"; done
}}
kc() {{
  case "$*" in
    "{etcdctl} member list") cat {d}/members ;;
    "{etcdctl} endpoint health --cluster")
      awk -F', ' -v down=" $(cat {d}/down) " '
        $5 == "" {{ next }}
        index(down, " " $3 " ") {{
          print $5 " is unhealthy: failed to commit proposal: deadline exceeded" >"/dev/stderr"
          bad = 1
          next
        }}
        {{ print $5 " is healthy: successfully committed proposal: took = 1.2ms" }}
        END {{ if (bad) {{ print "Error: unhealthy cluster" >"/dev/stderr"; exit 1 }} }}
      ' {d}/members ;;
    "{etcdctl} member remove "*)
      local id=${{!#}}
      if ! grep -q "^$id, " {d}/members; then
        echo "Error: etcdserver: member not found" >&2
        echo "command terminated with exit code 1" >&2
        return 1
      fi
      grep -v "^$id, " {d}/members >{d}/members.new; mv {d}/members.new {d}/members
      echo "member-remove $(member_name "$id")" >>{d}/events
      printf 'Member %16s removed from cluster %16s\\n' "$id" c0ffee0ddba11 ;;
    "get node "*) grep -qx "$3" {d}/nodes ;;
    "drain "*) echo "drain $2" >>{d}/events ;;
    "delete node "*)
      grep -vx "$3" {d}/nodes >{d}/nodes.new || true; mv {d}/nodes.new {d}/nodes
      echo "delete-node $3" >>{d}/events ;;
    *) echo "unexpected: kc $*" >&2; return 1 ;;
  esac
}}
reset_node() {{
  if grep -q ", $NODE_NAME, " {d}/members; then
    echo "reset $NODE_NAME while still an etcd member" >>{d}/events
  else
    echo "reset $NODE_NAME" >>{d}/events
  fi
}}
"""

    def run_script(self, resource: RecordedResource, action: str) -> subprocess.CompletedProcess:
        """The exact stdin the program sent for `resource`, its `action` run with the stubs."""
        lines = resource.inputs["stdin"].rstrip().splitlines()
        assert lines[-1] == 'run_action "$@" </dev/null'
        program = "\n".join(lines[:-1]) + "\n" + self.stubs() + f"\n{action}\n"
        return subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=False)

    def run(self, step: Plan, action: HostAction) -> subprocess.CompletedProcess:
        """One host action of `step`: deletes run the state's script (from `before`)."""
        source = step.before if action.action == "delete" else step.after
        return self.run_script(named(source, action.resource), action.action)

    def carry_out(self, step: Plan, until: str | None = None) -> None:
        """Every host action in the harness's order: a control plane's join adds its etcd member
        (as kubeadm join would); node and join deletes run their real scripts."""
        for action in step.host_actions:
            if action.action == "create":
                resource = named(step.after, action.resource)
                variables = stdin_variables(resource)
                if action.script == "join.sh" and variables["ROLE"] == "control-plane":
                    self.add_member(variables["NODE_NAME"], variables["NODE_IP"])
                continue
            if action.script not in ("node.sh", "join.sh"):
                continue
            result = self.run(step, action)
            assert result.returncode == 0, (action, result.stdout, result.stderr)
            assert "unexpected" not in result.stderr, result.stderr
            if action.resource == until:
                break
