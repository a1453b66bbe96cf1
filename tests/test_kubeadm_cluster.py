"""KubeadmCluster under the mock engine: what `pulumi up` would send for the on-prem target.

Order and parallelism are read from the dependencies each RegisterResource request carries,
secretness from which inputs arrive wrapped as secrets, and the host-side values from the stdin
each remote command would pipe into `sudo -n bash -s`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import runpy
import shlex
from typing import Any

import pulumi
import pytest
import yaml

from components import versions
from components.cluster import Cluster
from components.kubeadm import KubeadmCluster, KubeadmClusterArgs
from components.kubeadm.commands import CREATE, DELETE, script_text
from components.recording import RecordedResource, Recording, run_program
from components.settings import KubeadmSettings, releases
from components.stackfile import PROJECT_ROOT, load_stack

COMMAND = "command:remote:Command"
SSH_KEY_SENTINEL = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "sshKeySentinelForKubeadm\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
# What the mock engine hands out for the token's random parts (see components/recording.py).
# Well-formed ed25519 public keys (the settings check the key data), not real hosts' keys.
CP1_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB"
BASTION_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIC"
TOKEN_MARK = "random password onprem-token-id"


# -- running -------------------------------------------------------------------------------------


# A worker's steps once the first control plane is initialised, in dependency order.
WORKER_STEPS_AFTER_INIT = ("admit", "join", "node", "upgrade-drain", "upgrade", "upgrade-uncordon")


def lab(workers: int = 2, control_planes: int = 1, **extra: Any) -> dict[str, Any]:
    hosts = [
        {"name": f"cp{i + 1}", "address": f"192.168.56.{11 + i}", "role": "control-plane"}
        for i in range(control_planes)
    ] + [
        {"name": f"w{i + 1}", "address": f"192.168.57.{10 + i}", "role": "worker"}
        for i in range(workers)
    ]
    raw: dict[str, Any] = {
        "hosts": hosts,
        "loadBalancerAddresses": ["192.168.56.200-192.168.56.220"],
    }
    if control_planes > 1:
        raw["controlPlaneEndpoint"] = "192.168.56.10"
    raw.update(extra)
    return raw


def run_cluster(
    raw: dict[str, Any], version: str = "1.34", key: str | None = SSH_KEY_SENTINEL
) -> Recording:
    settings = KubeadmSettings.model_validate(raw)

    def program() -> None:
        cluster = KubeadmCluster(
            "onprem",
            KubeadmClusterArgs(
                kubeadm=settings,
                kubernetes_version=version,
                ssh_private_key=pydantic_secret(key),
            ),
        )
        pulumi.export("kubeconfig", cluster.kubeconfig)
        assert isinstance(cluster, Cluster)

    return run_program(program, stack="onprem-lab")


def pydantic_secret(value: str | None):
    from pydantic import SecretStr

    return SecretStr(value) if value is not None else None


@functools.cache
def lab_recording() -> Recording:
    return run_cluster(lab())


@functools.cache
def ha_recording() -> Recording:
    return run_cluster(lab(workers=2, control_planes=3))


@functools.cache
def stack_recording() -> Recording:
    """The shipped stack file through the real __main__.py, with the SSH key set as a secret."""
    config = load_stack("onprem-lab", secrets={"sshPrivateKey": SSH_KEY_SENTINEL})
    return run_program(
        lambda: runpy.run_path(str(PROJECT_ROOT / "__main__.py"), run_name="__main__"),
        config.config,
        config.secret_keys,
        project=config.project,
        stack="onprem-lab",
    )


# -- reading what was sent --------------------------------------------------------------------


def commands(rec: Recording) -> dict[str, RecordedResource]:
    return {r.name: r for r in rec.of_type(COMMAND)}


def stdin_variables(resource: RecordedResource) -> dict[str, str]:
    """The variables the preamble assigns, parsed back the way bash would read them."""
    preamble = resource.inputs["stdin"].split(script_text("lib.sh"))[0]
    tokens = shlex.split(preamble, comments=True)
    return dict(token.split("=", 1) for token in tokens)


def command_graph(rec: Recording) -> dict[str, set[str]]:
    """command name -> names of the commands it directly depends on."""
    by_urn = {r.urn: r for r in rec.of_type(COMMAND)}
    return {
        r.name: {by_urn[u].name for u in r.dependencies if u in by_urn} for r in by_urn.values()
    }


def ancestors(graph: dict[str, set[str]], name: str) -> set[str]:
    seen: set[str] = set()
    stack = list(graph[name])
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(graph[current])
    return seen


def critical_path(rec: Recording) -> list[str]:
    """The longest chain of remote commands, each waiting for the one before it."""
    graph = command_graph(rec)

    @functools.cache
    def longest(name: str) -> tuple[str, ...]:
        best: tuple[str, ...] = ()
        for dependency in graph[name]:
            chain = longest(dependency)
            if len(chain) > len(best):
                best = chain
        return (*best, name)

    return list(max((longest(n) for n in graph), key=len))


# -- the pipeline -----------------------------------------------------------------------------


def test_component_type_children_and_contract():
    rec = lab_recording()
    (component,) = rec.of_type("hybrid-kube:kubeadm:KubeadmCluster")
    assert component.name == "onprem"
    children = list(rec.descendants(component))
    assert {r.urn for r in children} == {r.urn for r in rec.resources if r is not component}
    assert all(r.parent == component.urn for r in children)
    assert rec.outputs["kubeconfig"].secret


def test_every_host_gets_its_steps_named_after_it():
    names = set(commands(lab_recording()))
    assert names == {
        "onprem-cp1-prepare",
        "onprem-cp1-init",
        "onprem-cp1-node",
        "onprem-cp1-upgrade",
        *(
            f"onprem-{w}-{step}"
            for w in ("w1", "w2")
            for step in ("prepare", *WORKER_STEPS_AFTER_INIT)
        ),
    }


def test_init_waits_for_its_preparation_and_joins_wait_for_init():
    graph = command_graph(lab_recording())
    assert graph["onprem-cp1-init"] == {"onprem-cp1-prepare"}
    for worker in ("w1", "w2"):
        assert graph[f"onprem-{worker}-admit"] == {"onprem-cp1-init", f"onprem-{worker}-prepare"}
        assert graph[f"onprem-{worker}-join"] == {
            f"onprem-{worker}-prepare",
            f"onprem-{worker}-admit",
        }
        assert "onprem-cp1-init" in ancestors(graph, f"onprem-{worker}-join")


def test_preparation_waits_for_nothing_and_workers_never_wait_for_each_other():
    rec = lab_recording()
    graph = command_graph(rec)
    for name, resource in commands(rec).items():
        if name.endswith("-prepare"):
            assert resource.dependencies == frozenset(), name
    for name in graph:
        for worker, other in (("w1", "w2"), ("w2", "w1")):
            if name.startswith(f"onprem-{worker}-"):
                assert not any(a.startswith(f"onprem-{other}-") for a in ancestors(graph, name)), (
                    f"{name} waits for {other}"
                )


def test_extra_control_planes_join_one_at_a_time_and_workers_only_wait_for_init():
    graph = command_graph(ha_recording())
    assert graph["onprem-cp2-admit"] == {"onprem-cp1-init", "onprem-cp2-prepare"}
    assert graph["onprem-cp3-admit"] == {"onprem-cp2-join", "onprem-cp3-prepare"}
    assert "onprem-cp2-join" in ancestors(graph, "onprem-cp3-join")
    for worker in ("w1", "w2"):
        chain = ancestors(graph, f"onprem-{worker}-join")
        assert not any(n.startswith(("onprem-cp2-", "onprem-cp3-")) for n in chain)
    # Upgrades: control planes in order, every worker after the last one.
    assert "onprem-cp1-upgrade" in graph["onprem-cp2-upgrade"]
    assert "onprem-cp2-upgrade" in graph["onprem-cp3-upgrade"]
    assert "onprem-cp3-upgrade" in graph["onprem-w1-upgrade-drain"]


def test_bring_up_critical_path_is_the_same_for_2_and_40_workers():
    two = critical_path(run_cluster(lab(workers=2)))
    forty = critical_path(run_cluster(lab(workers=40)))
    assert len(two) == len(forty) == 8
    # prepare -> init -> admit -> join -> node -> (no-op upgrade steps) of some worker.
    assert two[:2] == forty[:2] == ["onprem-cp1-prepare", "onprem-cp1-init"]
    assert [n.split("-", 2)[2] for n in forty[2:]] == list(WORKER_STEPS_AFTER_INIT)


# -- lifecycle ----------------------------------------------------------------------------------


def test_destructive_steps_delete_first_and_drain_before_reset():
    rec = lab_recording()
    cmds = commands(rec)
    destructive = {n for n, r in cmds.items() if r.inputs.get("delete")}
    assert destructive == {
        "onprem-cp1-init",
        "onprem-cp1-node",
        "onprem-w1-join",
        "onprem-w1-node",
        "onprem-w2-join",
        "onprem-w2-node",
    }
    for name in destructive:
        assert cmds[name].inputs["delete"] == DELETE
        assert cmds[name].delete_before_replace, name
    for name, resource in cmds.items():
        assert resource.inputs["create"] == CREATE, name
        assert "update" not in resource.inputs  # an input change re-runs the idempotent create
        assert "environment" not in resource.inputs  # sshd drops it without AcceptEnv
    # The engine deletes dependents first: the node (drain + delete) goes before the join's
    # reset of the host.
    assert cmds["onprem-w1-join"].urn in cmds["onprem-w1-node"].dependencies
    # Node and join steps run their scripts' delete action with the same stdin.
    for name in ("onprem-w1-node", "onprem-w1-join", "onprem-cp1-init"):
        assert "\ndelete() {" in cmds[name].inputs["stdin"]
    # Which host each step talks to: joins on the host, admit and node on the bootstrap host.
    assert cmds["onprem-w1-join"].inputs["connection"]["host"] == "192.168.57.10"
    for step in ("admit", "node", "upgrade-drain", "upgrade-uncordon"):
        assert cmds[f"onprem-w1-{step}"].inputs["connection"]["host"] == "192.168.56.11"


def test_removing_a_host_changes_no_other_resource():
    before = lab_recording()
    raw = lab()
    raw["hosts"] = [h for h in raw["hosts"] if h["name"] != "w1"]
    after = run_cluster(raw)
    old = before.by_urn()
    new = after.by_urn()
    removed = set(old) - set(new)
    assert removed and all("onprem-w1-" in urn for urn in removed)
    assert set(new) <= set(old)
    for urn, resource in new.items():
        assert resource.inputs == old[urn].inputs, resource.name


def test_a_second_run_with_no_change_sends_identical_inputs():
    # The engine diffs by URN (registration order is asynchronous and does not matter).
    first = {urn: r.inputs for urn, r in run_cluster(lab()).by_urn().items()}
    second = {urn: r.inputs for urn, r in run_cluster(lab()).by_urn().items()}
    assert first == second


def test_raising_the_version_updates_in_place_and_reruns_only_version_aware_steps():
    old = lab_recording().by_urn()
    new = run_cluster(lab(), version="1.35").by_urn()
    assert set(old) == set(new)  # nothing is replaced or recreated
    changed = {r.name for urn, r in new.items() if r.inputs != old[urn].inputs}
    assert changed == {
        "onprem-cp1-prepare",
        "onprem-w1-prepare",
        "onprem-w2-prepare",
        "onprem-cp1-init",
        "onprem-cp1-upgrade",
        *(
            f"onprem-{w}-{s}"
            for w in ("w1", "w2")
            for s in ("upgrade-drain", "upgrade", "upgrade-uncordon")
        ),
    }
    for name in changed:
        resource = next(r for r in new.values() if r.name == name)
        assert stdin_variables(resource)["K8S_VERSION"] == "1.35"
        assert resource.inputs.get("triggers") == next(
            r for r in old.values() if r.name == name
        ).inputs.get("triggers")


def test_a_changed_address_replaces_the_admit_join_and_node_steps():
    raw = lab()
    raw["hosts"][1]["address"] = "192.168.57.99"
    new = commands(run_cluster(raw))
    old = commands(lab_recording())
    for step in ("admit", "join", "node"):
        assert (
            new[f"onprem-w1-{step}"].inputs["triggers"]
            != old[f"onprem-w1-{step}"].inputs["triggers"]
        ), step
    for step in ("join", "node"):
        assert new[f"onprem-w1-{step}"].delete_before_replace
    # admit is replaced on exactly the join's triggers, so fresh credentials precede the rejoin.
    for name in ("w1", "w2"):
        assert (
            new[f"onprem-{name}-admit"].inputs["triggers"]
            == new[f"onprem-{name}-join"].inputs["triggers"]
        )
    assert stdin_variables(new["onprem-w1-admit"])["NODE_IP"] == "192.168.57.99"


def join_inputs_hash(join: RecordedResource) -> str:
    """sha256 of the join's stdin without the ADMIT_URN line (the admit step cannot know it)."""
    stdin = join.inputs["stdin"]
    lines = stdin.split("\n")
    (urn_line,) = [line for line in lines if line.startswith("ADMIT_URN=")]
    return hashlib.sha256(stdin.replace(urn_line + "\n", "", 1).encode()).hexdigest()


def test_admit_carries_a_hash_of_the_joins_inputs_so_it_reruns_whenever_the_join_does():
    for rec in (lab_recording(), ha_recording()):
        cmds = commands(rec)
        for name in [n for n in cmds if n.endswith("-admit")]:
            join = cmds[name.replace("-admit", "-join")]
            admit_vars = stdin_variables(cmds[name])
            assert admit_vars["JOIN_INPUTS_SHA256"] == join_inputs_hash(join), name
            # The join names the admit step for its "credentials refused" hint.
            assert stdin_variables(join)["ADMIT_URN"] == cmds[name].urn
            assert cmds[name].urn.endswith(f"::{name}")
    # A change that only the join sees (here the external endpoint in its JoinConfiguration)
    # still changes the admit step's stdin: both run again, in order.
    external = {"apiLoadBalancer": "external", "controlPlaneEndpoint": "k8s-a.lab.internal"}
    before = commands(run_cluster(lab(control_planes=3, **external)))
    external["controlPlaneEndpoint"] = "k8s-b.lab.internal"
    after = commands(run_cluster(lab(control_planes=3, **external)))
    for name in ("onprem-w1", "onprem-cp2"):
        assert before[f"{name}-join"].inputs["stdin"] != after[f"{name}-join"].inputs["stdin"]
        assert before[f"{name}-admit"].inputs["stdin"] != after[f"{name}-admit"].inputs["stdin"]
        assert (
            stdin_variables(before[f"{name}-admit"])["ADMIT_CONFIG"]
            == stdin_variables(after[f"{name}-admit"])["ADMIT_CONFIG"]
        )


# -- secrets -------------------------------------------------------------------------------------


def leaks(rec: Recording, needle: str) -> list[str]:
    """Where `needle` appears in an input that is not marked secret."""
    found = []
    for resource in rec.resources:
        for key, value in resource.inputs.items():
            if needle in json.dumps(value) and key not in resource.secret_inputs:
                found.append(f"{resource.name}.{key}")
    return found


def test_ssh_key_token_and_keys_travel_only_as_secrets():
    rec = lab_recording()
    cmds = commands(rec)
    assert all("connection" in r.secret_inputs for r in cmds.values())
    assert all(r.inputs["connection"]["privateKey"] == SSH_KEY_SENTINEL for r in cmds.values())
    assert leaks(rec, SSH_KEY_SENTINEL) == []
    assert leaks(rec, TOKEN_MARK) == []
    init_vars = stdin_variables(cmds["onprem-cp1-init"])
    init_config = list(yaml.safe_load_all(init_vars["KUBEADM_CONFIG"]))
    certificate_key = init_config[0]["certificateKey"]
    encryption = yaml.safe_load(init_vars["ENCRYPTION_CONFIG"])
    encryption_key = encryption["resources"][0]["providers"][0]["secretbox"]["keys"][0]["secret"]
    for secret in (certificate_key, encryption_key, "random password onprem-token-secret"):
        assert leaks(rec, secret) == [], secret
    for name in ("onprem-cp1-init", "onprem-w1-admit", "onprem-w1-join", "onprem-w2-join"):
        assert "stdin" in cmds[name].secret_inputs, name
        assert cmds[name].inputs["logging"] == "none", name
        assert {"stdout", "stderr"} <= set(cmds[name].additional_secret_outputs), name
    # The CA's private key reaches the first control plane only.
    ca_key_holders = {n for n, r in cmds.items() if "CA_KEY" in stdin_variables(r)}
    assert ca_key_holders == {"onprem-cp1-init"}


def test_token_and_certificate_key_generators_have_kubeadms_shape():
    rec = lab_recording()
    token_id = rec.named("onprem-token-id")
    token_secret = rec.named("onprem-token-secret")
    for resource, length in ((token_id, 6), (token_secret, 16)):
        assert resource.type == "random:index/randomPassword:RandomPassword"
        assert resource.inputs["length"] == length
        assert resource.inputs["upper"] is False and resource.inputs["special"] is False
        assert resource.inputs["lower"] is True and resource.inputs["numeric"] is True
        assert "result" in resource.additional_secret_outputs
    for name in ("onprem-certificate-key", "onprem-encryption-key"):
        resource = rec.named(name)
        assert resource.type == "random:index/randomBytes:RandomBytes"
        assert resource.inputs["length"] == 32
    ca = rec.named("onprem-ca")
    assert ca.inputs["isCaCertificate"] is True
    assert "privateKeyPem" in ca.secret_inputs


def test_kubeconfig_and_provider_are_secret_and_wait_for_init():
    rec = lab_recording()
    (provider,) = rec.of_type("pulumi:providers:kubernetes")
    assert "kubeconfig" in provider.secret_inputs
    assert commands(rec)["onprem-cp1-init"].urn in provider.dependencies
    kubeconfig = yaml.safe_load(provider.inputs["kubeconfig"])
    assert kubeconfig["clusters"][0]["cluster"]["server"] == "https://192.168.56.11:6443"
    cert = rec.named("onprem-admin-cert")
    assert "client_auth" in cert.inputs["allowedUses"]
    assert cert.inputs["earlyRenewalHours"] > 0
    assert (
        rec.named("onprem-admin-csr").inputs["subject"]["organization"] == "kubeadm:cluster-admins"
    )
    assert rec.outputs["kubeconfig"].secret


def test_private_key_file_and_bastion_and_host_key_pinning(tmp_path):
    key_file = tmp_path / "id_ed25519"
    key_file.write_text(SSH_KEY_SENTINEL, encoding="utf-8")
    raw = lab(
        ssh={
            "user": "vagrant",
            "port": 2222,
            "privateKeyPath": str(key_file),
            "bastion": {"host": "jump.example.com", "hostKey": BASTION_KEY},
        }
    )
    raw["hosts"][0]["hostKey"] = CP1_KEY
    rec = run_cluster(raw, key=None)
    cmds = commands(rec)
    connection = cmds["onprem-cp1-prepare"].inputs["connection"]
    assert connection["privateKey"] == SSH_KEY_SENTINEL
    assert connection["user"] == "vagrant" and connection["port"] == 2222
    assert connection["hostKey"] == CP1_KEY
    assert connection["proxy"]["host"] == "jump.example.com"
    assert connection["proxy"]["user"] == "vagrant"
    assert connection["proxy"]["hostKey"] == BASTION_KEY
    assert connection["proxy"]["privateKey"] == SSH_KEY_SENTINEL
    assert "hostKey" not in cmds["onprem-w1-prepare"].inputs["connection"]
    assert leaks(rec, SSH_KEY_SENTINEL) == []


def test_without_a_key_the_ssh_agent_is_used():
    connection = commands(run_cluster(lab(), key=None))["onprem-cp1-prepare"].inputs["connection"]
    assert "privateKey" not in connection


# -- what the hosts receive ----------------------------------------------------------------------


def test_init_documents_sent_to_the_host_are_v1beta4():
    init = commands(lab_recording())["onprem-cp1-init"]
    documents = list(yaml.safe_load_all(stdin_variables(init)["KUBEADM_CONFIG"]))
    kinds = [(d["apiVersion"], d["kind"]) for d in documents]
    assert kinds == [
        ("kubeadm.k8s.io/v1beta4", "InitConfiguration"),
        ("kubeadm.k8s.io/v1beta4", "ClusterConfiguration"),
        ("kubelet.config.k8s.io/v1beta1", "KubeletConfiguration"),
        ("kubeproxy.config.k8s.io/v1alpha1", "KubeProxyConfiguration"),
    ]
    init_cfg, cluster_cfg, kubelet, _ = documents
    assert init_cfg["nodeRegistration"]["name"] == "cp1"
    assert {"name": "node-ip", "value": "192.168.56.11"} in init_cfg["nodeRegistration"][
        "kubeletExtraArgs"
    ]
    assert cluster_cfg["controlPlaneEndpoint"] == "192.168.56.11:6443"
    assert cluster_cfg["networking"]["podSubnet"] == "10.244.0.0/16"
    assert kubelet["cgroupDriver"] == "systemd" and kubelet["serverTLSBootstrap"] is True


def test_join_documents_pin_the_ca_hash_and_only_control_planes_get_the_certificate_key():
    cmds = commands(ha_recording())
    worker = stdin_variables(cmds["onprem-w1-join"])
    control_plane = stdin_variables(cmds["onprem-cp2-join"])
    (worker_doc,) = yaml.safe_load_all(worker["JOIN_CONFIG"])
    (cp_doc,) = yaml.safe_load_all(control_plane["JOIN_CONFIG"])
    for doc in (worker_doc, cp_doc):
        discovery = doc["discovery"]["bootstrapToken"]
        assert discovery["apiServerEndpoint"] == "192.168.56.10:6443"
        (ca_hash,) = discovery["caCertHashes"]
        assert ca_hash.startswith("sha256:") and len(ca_hash) == len("sha256:") + 64
    assert "controlPlane" not in worker_doc
    assert cp_doc["controlPlane"]["localAPIEndpoint"]["advertiseAddress"] == "192.168.56.12"
    assert len(cp_doc["controlPlane"]["certificateKey"]) == 64
    assert worker["ENCRYPTION_CONFIG"] == "" and worker["KUBE_VIP_MANIFEST"] == ""
    assert "EncryptionConfiguration" in control_plane["ENCRYPTION_CONFIG"]


def test_kube_vip_uses_super_admin_during_init_then_admin_conf():
    cmds = commands(ha_recording())
    init_manifest = yaml.safe_load(stdin_variables(cmds["onprem-cp1-init"])["KUBE_VIP_MANIFEST"])
    join_manifest = yaml.safe_load(stdin_variables(cmds["onprem-cp2-join"])["KUBE_VIP_MANIFEST"])
    assert (
        init_manifest["spec"]["volumes"][0]["hostPath"]["path"]
        == "/etc/kubernetes/super-admin.conf"
    )
    assert join_manifest["spec"]["volumes"][0]["hostPath"]["path"] == "/etc/kubernetes/admin.conf"
    env = {e["name"]: e.get("value") for e in init_manifest["spec"]["containers"][0]["env"]}
    assert env["address"] == "192.168.56.10"
    assert init_manifest["spec"]["containers"][0]["image"] == versions.KUBE_VIP_IMAGE
    # init.sh switches the manifest back to admin.conf once kubeadm init is done.
    assert "super-admin.conf" in script_text(
        "init.sh"
    ) and "kube_vip_use_admin_conf" in script_text("init.sh")
    # A single control plane without a separate endpoint needs no kube-vip.
    single = stdin_variables(commands(lab_recording())["onprem-cp1-init"])
    assert single["KUBE_VIP_MANIFEST"] == ""


def test_external_load_balancer_gets_no_kube_vip():
    raw = lab(control_planes=3, controlPlaneEndpoint="k8s.lab.internal", apiLoadBalancer="external")
    cmds = commands(run_cluster(raw))
    assert stdin_variables(cmds["onprem-cp1-init"])["KUBE_VIP_MANIFEST"] == ""
    config = list(yaml.safe_load_all(stdin_variables(cmds["onprem-cp1-init"])["KUBEADM_CONFIG"]))
    assert config[1]["controlPlaneEndpoint"] == "k8s.lab.internal:6443"


@pytest.mark.parametrize("cni", ["calico", "cilium", "flannel"])
def test_cni_release_matches_the_pod_cidr(cni):
    rec = run_cluster(lab(cni=cni, podCidr="10.32.0.0/16"))
    release = rec.named("onprem-cni")
    chart = {"calico": versions.CALICO, "cilium": versions.CILIUM, "flannel": versions.FLANNEL}[cni]
    assert (release.inputs["chart"], release.inputs["version"]) == (chart.name, chart.version)
    assert release.inputs["repositoryOpts"]["repo"] == chart.repo
    (provider,) = rec.of_type("pulumi:providers:kubernetes")
    assert release.provider_urn == provider.urn
    values = release.inputs["values"]
    if cni == "calico":
        (pool,) = values["installation"]["calicoNetwork"]["ipPools"]
        assert pool["cidr"] == "10.32.0.0/16"
        namespace = rec.named("onprem-cni-namespace")
        assert namespace.inputs["metadata"]["name"] == "tigera-operator"
        assert namespace.urn in release.dependencies
        assert release.inputs.get("createNamespace") is False  # managed: destroy removes it
        crds = rec.named("onprem-cni-crds")
        assert (crds.inputs["chart"], crds.inputs["version"]) == (
            versions.CALICO_CRDS.name,
            versions.CALICO.version,
        )
        assert crds.urn in release.dependencies
    elif cni == "flannel":
        assert values["podCidr"] == "10.32.0.0/16"
        namespace = rec.named("onprem-cni-namespace")
        assert (
            namespace.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
            == "privileged"
        )
        assert namespace.urn in release.dependencies
    else:
        assert values["ipam"]["mode"] == "kubernetes"  # node podCIDRs come from podSubnet
    init = commands(rec)["onprem-cp1-init"]
    cluster_cfg = list(yaml.safe_load_all(stdin_variables(init)["KUBEADM_CONFIG"]))[1]
    assert cluster_cfg["networking"]["podSubnet"] == "10.32.0.0/16"


def test_capabilities_and_what_the_platform_needs():
    settings = KubeadmSettings.model_validate(lab())
    seen: dict[str, Any] = {}

    def program() -> None:
        cluster = KubeadmCluster("onprem", KubeadmClusterArgs(kubeadm=settings))
        seen["capabilities"] = cluster.capabilities
        seen["lb"] = cluster.load_balancer_addresses
        seen["ready"] = cluster.ready
        seen["endpoint"] = cluster.api_endpoint

    run_program(program)
    caps = seen["capabilities"]
    assert (caps.load_balancer, caps.default_storage_class, caps.metrics_server) == (
        False,
        False,
        False,
    )
    assert caps.kubelet_serving_certificates == "bootstrap"  # serverTLSBootstrap: approve CSRs
    assert seen["lb"] == ["192.168.56.200-192.168.56.220"]
    # The network and every node's registration step (cp1, w1, w2).
    assert len(seen["ready"]) == 4
    assert seen["endpoint"] == "https://192.168.56.11:6443"


# -- the shipped stack, through __main__.py ------------------------------------------------------


def test_shipped_stack_runs_through_main_with_the_platform_waiting_for_the_network():
    rec = stack_recording()
    cmds = commands(rec)
    assert {"onprem-cp1-init", "onprem-w1-join", "onprem-w2-join"} <= set(cmds)
    release = rec.named("onprem-cni")
    platform_releases = [
        r for r in rec.of_type("kubernetes:helm.sh/v3:Release") if r.name.startswith("platform-")
    ]
    assert platform_releases
    node_steps = [c.urn for name, c in cmds.items() if name.endswith("-node")]
    assert len(node_steps) == 3
    for r in platform_releases:
        assert release.urn in r.dependencies, r.name
        assert set(node_steps) <= r.dependencies, r.name
    assert rec.outputs["kubeconfig"].secret
    assert leaks(rec, SSH_KEY_SENTINEL) == []
    assert leaks(rec, TOKEN_MARK) == []


def test_shipped_stack_file_is_the_documented_lab():
    config = load_stack("onprem-lab")
    assert config.encrypted == []  # no `secure:` values: the key is set by the user
    assert config.config["hybrid-kube:target"] == "kubeadm"
    # The shipped stacks use the project's default minor (supported upstream, offered by AKS).
    assert config.config["hybrid-kube:kubernetesVersion"] == releases.DEFAULT_VERSION
    raw = json.loads(config.config["hybrid-kube:kubeadm"])
    settings = KubeadmSettings.model_validate(raw)
    assert [(h.name, h.role) for h in settings.hosts] == [
        ("cp1", "control-plane"),
        ("w1", "worker"),
        ("w2", "worker"),
    ]
    # The commented HA variant is valid too.
    text = (PROJECT_ROOT / "stacks" / "Pulumi.onprem-lab.yaml").read_text(encoding="utf-8")
    block = text.split("  # hybrid-kube:kubeadm:\n", 1)[1].splitlines()
    # The variant runs until the first line that is not an indented, commented YAML line.
    end = next(i for i, line in enumerate(block) if not line.startswith("  #   "))
    lines = block[:end]
    ha_yaml = "\n".join(line.replace("  #", "", 1) for line in lines)
    ha = KubeadmSettings.model_validate(yaml.safe_load(ha_yaml))
    assert len(ha.control_planes) == 3 and ha.kube_vip_address == "192.168.56.10"


def test_shipped_stack_runs_without_any_secret_set():
    config = load_stack("onprem-lab")
    rec = run_program(
        lambda: runpy.run_path(str(PROJECT_ROOT / "__main__.py"), run_name="__main__"),
        config.config,
        config.secret_keys,
        project=config.project,
        stack="onprem-lab",
    )
    assert rec.of_type("hybrid-kube:kubeadm:KubeadmCluster")
    connection = commands(rec)["onprem-cp1-prepare"].inputs["connection"]
    assert "privateKey" not in connection  # the SSH agent
