"""The typical mistakes of issue 12: each is a clear one-line problem before any resource is
declared, never a traceback, and never silently accepted."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import yaml

from apps import CATALOG, podinfo, settings_catalog, web
from components import settings as settings_module
from components.cli import main
from components.recording import run_program
from components.settings import SettingsError, load_settings, read_stack_config
from components.settings.base import unique_app_names
from components.settings.existing import without_cluster
from components.stackfile import PROJECT_ROOT, load_stack, stack_names

SCRIPT = Path(sys.executable).parent / "hybrid-kube"


def project(tmp_path: Path, **stacks: str) -> Path:
    """A project folder with this repository's Pulumi.yaml and the given stack files."""
    (tmp_path / "stacks").mkdir(parents=True)
    (tmp_path / "Pulumi.yaml").write_text(
        (PROJECT_ROOT / "Pulumi.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    for name, text in stacks.items():
        (tmp_path / "stacks" / f"Pulumi.{name}.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def shipped(stack: str) -> dict[str, Any]:
    """A shipped stack's raw settings, as load_settings takes them (short keys, objects)."""
    config = yaml.safe_load(
        (PROJECT_ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8")
    )["config"]
    return {key.removeprefix("hybrid-kube:"): value for key, value in config.items()}


def lab(**kubeadm: Any) -> dict[str, Any]:
    raw = shipped("onprem-lab")
    raw["kubeadm"] = {**raw["kubeadm"], **kubeadm}
    return raw


def problems(raw: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(SettingsError) as caught:
        load_settings(raw, settings_catalog())
    return caught.value.problems


def run_cli(*args: str, env: dict[str, str] | None = None, **kwargs: Any):
    return subprocess.run(
        [str(SCRIPT), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
        **kwargs,
    )


# -- 1. pod and service networks, and the hosts' layer-2 network --------------------------------


def test_a_pod_cidr_without_prefix_is_not_taken_as_a_single_address():
    assert problems(lab(podCidr="10.244.0.0")) == [
        (
            "hybrid-kube:kubeadm.podCidr",
            "'10.244.0.0' has no prefix length; write the network with its size, e.g. "
            "10.244.0.0/16 (how many addresses it holds)",
        )
    ]


@pytest.mark.parametrize(
    ("key", "value", "example"),
    [
        ("podCidr", "10.244.1.0", "10.244.0.0/16"),
        ("hostNetwork", "192.168.56.11", "192.168.0.0/16"),
    ],
)
def test_the_prefix_example_is_a_network_the_settings_accept(key, value, example):
    # `10.244.1.0/16` would be refused next for its host bits: the example clears them.
    assert problems(lab(**{key: value})) == [
        (
            f"hybrid-kube:kubeadm.{key}",
            f"{value!r} has no prefix length; write the network with its size, e.g. {example} "
            "(how many addresses it holds)",
        )
    ]
    assert load_settings(lab(**{key: example}), settings_catalog())


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "podCidr",
            "10.244.0.0/28",
            "10.244.0.0/28 is too small: kubeadm refuses a podCidr smaller than the /24 each "
            "node's pod range has (kube-controller-manager --node-cidr-mask-size, 24 for IPv4); "
            "allowed: /8 to /24, the default is 10.244.0.0/16",
        ),
        (
            "podCidr",
            "10.244.0.0/25",  # kubeadm: "the size of pod subnet with mask 25 is smaller than ..."
            "10.244.0.0/25 is too small: kubeadm refuses a podCidr smaller than the /24 each "
            "node's pod range has (kube-controller-manager --node-cidr-mask-size, 24 for IPv4); "
            "allowed: /8 to /24, the default is 10.244.0.0/16",
        ),
        (
            "podCidr",
            "100.0.0.0/7",  # kubeadm: "pod subnet mask (7) and node-mask (24) difference ..."
            "100.0.0.0/7 is too large: kubeadm accepts a podCidr at most 16 bits larger than the "
            "/24 of a node; allowed: /8 to /24, the default is 10.244.0.0/16",
        ),
        (
            "serviceCidr",
            "10.96.0.0/29",
            "10.96.0.0/29 is too small: kubeadm gives the cluster DNS Service the 10th address of "
            "serviceCidr, so it must be /28 or larger (a /16 or more leaves room for Services); "
            "the default is 10.96.0.0/12",
        ),
        (
            "serviceCidr",
            "10.64.0.0/11",
            "10.64.0.0/11 is too large: kubeadm accepts at most a /12 (the API server's limit); "
            "the default is 10.96.0.0/12",
        ),
    ],
)
def test_cluster_networks_must_have_a_size_kubernetes_accepts(key, value, message):
    assert problems(lab(**{key: value})) == [(f"hybrid-kube:kubeadm.{key}", message)]


def test_the_smallest_sizes_that_work_are_accepted():
    settings = load_settings(
        lab(podCidr="10.244.0.0/24", serviceCidr="10.96.0.0/28"), settings_catalog()
    )
    assert settings.kubeadm.pod_cidr == "10.244.0.0/24"
    assert load_settings(lab(podCidr="100.0.0.0/8"), settings_catalog()).kubeadm.pod_cidr


def two_hosts(**kubeadm: Any) -> dict[str, Any]:
    """onprem-lab with only cp1 and w1."""
    hosts = shipped("onprem-lab")["kubeadm"]["hosts"][:2]
    return lab(hosts=hosts, **kubeadm)


def test_calico_needs_no_slash_24_per_host():
    # Calico's IP pool hands out /26 blocks from podCidr and never reads node.spec.podCIDR;
    # kube-controller-manager only records CIDRNotAvailable for the second node.
    raw = two_hosts(podCidr="10.244.0.0/24")
    assert load_settings(raw, settings_catalog()).kubeadm.cni == "calico"
    assert load_settings(lab(podCidr="10.244.0.0/24"), settings_catalog())  # three hosts too


@pytest.mark.parametrize("cni", ["flannel", "cilium"])
def test_cnis_on_the_node_pod_cidr_need_a_slash_24_per_host(cni):
    assert problems(lab(cni=cni, podCidr="10.244.0.0/23")) == [
        (
            "hybrid-kube:kubeadm.podCidr",
            f"10.244.0.0/23 is too small for 3 hosts: {cni} gives each node's pods that node's "
            "/24 of podCidr (its podCIDR, from kube-controller-manager --node-cidr-mask-size), "
            "so podCidr must be /22 or larger (calico allocates from its own pool and needs "
            "only a /24); the default is 10.244.0.0/16",
        )
    ]
    assert [path for path, _ in problems(two_hosts(cni=cni, podCidr="10.244.0.0/24"))] == [
        "hybrid-kube:kubeadm.podCidr"
    ]
    assert load_settings(two_hosts(cni=cni, podCidr="10.244.0.0/23"), settings_catalog())


METALLB_WHY = (
    "MetalLB in L2 mode answers ARP for these addresses, so they must be free addresses of the "
    "hosts' own network"
)


def guessed_network_warning(path: str, value: str, network: str, why: str = METALLB_WHY) -> str:
    return (
        f"hybrid-kube:kubeadm.{path}: {value} is outside {network}, the hosts' network as "
        f"guessed from their addresses: {why}. Fine if the hosts' layer-2 network is larger (or "
        "the hosts are on that VLAN); declare kubeadm.hostNetwork to have this checked as an "
        "error"
    )


def test_load_balancer_addresses_off_the_guessed_network_are_a_warning():
    # A flat /16 lab: valid before the guess existed, and MetalLB's L2 mode answers on every
    # interface (metallb.universe.tf/faq), so the guess must not refuse it.
    pool = "192.168.60.200-192.168.60.220"
    settings = load_settings(lab(loadBalancerAddresses=[pool]), settings_catalog())
    assert guessed_network_warning("loadBalancerAddresses[0]", pool, "192.168.56.0/24") in (
        settings.warnings
    )
    # Hosts over two /24s of a /22, the pool in a third.
    spread = lab(
        hosts=[
            {"name": "cp1", "address": "10.20.0.11", "role": "control-plane"},
            {"name": "w1", "address": "10.20.1.21", "role": "worker"},
        ],
        loadBalancerAddresses=["10.20.2.200-10.20.2.220"],
    )
    warning = guessed_network_warning(
        "loadBalancerAddresses[0]", "10.20.2.200-10.20.2.220", "10.20.0.0/23"
    )
    assert warning in load_settings(spread, settings_catalog()).warnings


def test_check_prints_the_guessed_network_warning(tmp_path, capsys):
    text = (PROJECT_ROOT / "stacks" / "Pulumi.onprem-lab.yaml").read_text(encoding="utf-8")
    root = project(tmp_path, lab=text.replace("192.168.56.200-192.168.56.220", "192.168.60.0/28"))
    assert main(["--project", str(root), "check", "lab"]) == 0
    warning = guessed_network_warning(
        "loadBalancerAddresses[0]", "192.168.60.0/28", "192.168.56.0/24"
    )
    assert f"  - {warning}" in capsys.readouterr().out.splitlines()


def test_a_declared_host_network_decides_and_must_hold_the_hosts():
    wide = lab(hostNetwork="192.168.56.0/23", loadBalancerAddresses=["192.168.57.200/29"])
    assert load_settings(wide, settings_catalog()).kubeadm.hosts_network.prefixlen == 23
    assert problems(lab(hostNetwork="192.168.56.0/28")) == [
        (
            "hybrid-kube:kubeadm.hosts[1].address",
            "192.168.56.21 (host 'w1') is outside hostNetwork 192.168.56.0/28",
        ),
        (
            "hybrid-kube:kubeadm.hosts[2].address",
            "192.168.56.22 (host 'w2') is outside hostNetwork 192.168.56.0/28",
        ),
        (
            "hybrid-kube:kubeadm.loadBalancerAddresses[0]",
            "192.168.56.200-192.168.56.220 is not on the hosts' network 192.168.56.0/28 "
            "(kubeadm.hostNetwork): MetalLB in L2 mode answers ARP for these addresses, so they "
            "must be free addresses of the hosts' own network",
        ),
    ]


KUBE_VIP_WHY = (
    "kube-vip answers ARP for the virtual IP, so it must be a free address of the hosts' own "
    "network"
)


def test_the_kube_vip_address_off_the_guessed_network_is_a_warning():
    settings = load_settings(lab(controlPlaneEndpoint="192.168.57.10"), settings_catalog())
    warning = guessed_network_warning(
        "controlPlaneEndpoint", "192.168.57.10", "192.168.56.0/24", KUBE_VIP_WHY
    )
    assert warning in settings.warnings


def test_the_kube_vip_address_must_be_on_a_declared_host_network():
    found = problems(lab(controlPlaneEndpoint="10.1.0.10", hostNetwork="192.168.56.0/24"))
    assert found == [
        (
            "hybrid-kube:kubeadm.controlPlaneEndpoint",
            "10.1.0.10 is not on the hosts' network 192.168.56.0/24 (kubeadm.hostNetwork): "
            + KUBE_VIP_WHY,
        )
    ]
    declared = lab(controlPlaneEndpoint="192.168.57.10", hostNetwork="192.168.56.0/23")
    assert not [w for w in load_settings(declared, settings_catalog()).warnings if "57.10" in w]


# -- 2. the local stack's kubeconfig --------------------------------------------------------------


def local_project(tmp_path: Path, context: str = "kind-kind") -> Path:
    text = (PROJECT_ROOT / "stacks" / "Pulumi.local.yaml").read_text(encoding="utf-8")
    return project(tmp_path / "p", mine=text.replace("context: kind-kind", f"context: {context}"))


@pytest.mark.parametrize("command", ["check", "render"])
def test_a_context_missing_from_the_kubeconfig_is_named(tmp_path, capsys, command, kubeconfig):
    root = local_project(tmp_path, context="kind-typo")
    args = ["--project", str(root), command, "mine"]
    assert main([*args, "--out", str(tmp_path / "o")] if command == "render" else args) == 1
    err = capsys.readouterr().err
    assert (
        "  - hybrid-kube:existing.context: 'kind-typo' is not a context in "
        f"{kubeconfig}; it has: kind-kind (`kubectl config get-contexts`)"
    ) in err.splitlines()
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "apiVersion: v1\nclusters: [\n",
            "is not a kubeconfig: YAML error at line 3, column 1: expected the node content, but "
            "found '<stream end>' (`kubectl config view` shows what kubectl makes of it)",
        ),
        (
            "just some text\n",
            "is not a kubeconfig: expected a mapping with `contexts:` (as `kind get kubeconfig` "
            "or `minikube update-context` write it)",
        ),
    ],
    ids=["yaml-error", "not-a-mapping"],
)
def test_a_kubeconfig_that_is_not_one_is_refused(tmp_path, capsys, kubeconfig, text, message):
    kubeconfig.write_text(text, encoding="utf-8")
    assert main(["--project", str(local_project(tmp_path)), "check", "mine"]) == 1
    err = capsys.readouterr().err
    assert f"  - hybrid-kube:existing.kubeconfig: {kubeconfig} {message}" in err.splitlines()


def test_without_a_current_context_the_stack_must_name_one(tmp_path, kubeconfig):
    kubeconfig.write_text(
        kubeconfig.read_text(encoding="utf-8").replace("current-context: kind-kind\n", ""),
        encoding="utf-8",
    )
    with without_cluster():
        found = problems({"target": "existing"})
    assert found == [
        (
            "hybrid-kube:existing.context",
            f"not set, and the current-context of {kubeconfig} is unset; name one of its "
            "contexts: kind-kind",
        )
    ]


@pytest.fixture
def no_kubeconfig(tmp_path, monkeypatch) -> Path:
    """HOME and KUBECONFIG pointing at an empty folder: a machine that never ran a cluster."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("KUBECONFIG")
    return home


def test_check_local_without_any_kubeconfig_says_what_it_assumed(no_kubeconfig, capsys):
    assert main(["check", "local"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("stack local: valid")
    assert out.splitlines()[-1] == (
        "note: no kubeconfig at ~/.kube/config: checked without contacting a cluster, assuming "
        "context 'kind-kind'"
    )


def test_render_local_without_any_kubeconfig_uses_a_stand_in(no_kubeconfig, tmp_path, capsys):
    assert main(["render", "local", "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr()
    assert (
        "  no kubeconfig at ~/.kube/config: rendered without contacting a cluster, assuming "
        "context 'kind-kind'"
    ) in printed.out.splitlines()
    assert (tmp_path / "out" / "summary.md").is_file()
    assert "Traceback" not in printed.err


def test_the_console_script_works_with_home_and_kubeconfig_empty(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {"HOME": str(empty), "KUBECONFIG": str(empty / "config")}
    assert run_cli("check", "local", env=env).returncode == 0
    rendered = run_cli("render", "local", "--out", str(tmp_path / "o"), env=env)
    assert rendered.returncode == 0, rendered.stderr
    assert "  no kubeconfig at ~/config: rendered without contacting" in rendered.stdout


@pytest.mark.parametrize("command", ["check", "render"])
def test_a_typo_in_a_written_kubeconfig_path_fails_offline_too(
    no_kubeconfig, tmp_path, capsys, command
):
    # Only kubectl's default may be missing offline; a path the stack names is meant to exist.
    text = (PROJECT_ROOT / "stacks" / "Pulumi.local.yaml").read_text(encoding="utf-8")
    typo = text.replace("# kubeconfig: ~/.kube/config", "kubeconfig: ~/.kube/kind-confg")
    assert typo != text
    root = project(tmp_path / "p", mine=typo)
    args = ["--project", str(root), command, "mine"]
    assert main([*args, "--out", str(tmp_path / "o")] if command == "render" else args) == 1
    printed = capsys.readouterr()
    assert printed.err.splitlines()[1:] == [
        "  - hybrid-kube:existing.kubeconfig: file '~/.kube/kind-confg' does not exist (a "
        "leading ~ is your home folder)"
    ]
    assert "note:" not in printed.out


def test_with_several_kubeconfig_files_the_message_says_only_the_first_is_read(
    tmp_path, capsys, kubeconfig, monkeypatch
):
    other = tmp_path / "other"
    other.write_text(kubeconfig.read_text(encoding="utf-8").replace("kind-kind", "kind-other"))
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(kubeconfig), str(other)]))
    root = local_project(tmp_path, context="kind-other")
    assert main(["--project", str(root), "check", "mine"]) == 1
    assert (
        "  - hybrid-kube:existing.context: 'kind-other' is not a context in "
        f"{kubeconfig}; it has: kind-kind (`kubectl config get-contexts`); KUBECONFIG lists 2 "
        "files and hybrid-kube reads only the first (kubectl merges them): set "
        "existing.kubeconfig to the file that holds the context"
    ) in capsys.readouterr().err.splitlines()


def test_a_deploy_still_needs_the_kubeconfig(no_kubeconfig):
    # Outside check and render (`pulumi up`), nothing stands in for a missing kubeconfig.
    assert problems({"target": "existing"})[0][0] == "hybrid-kube:existing.kubeconfig"
    found = problems({"target": "existing", "existing": {"kubeconfig": "~/kind.yaml"}})
    assert found == [
        (
            "hybrid-kube:existing.kubeconfig",
            "file '~/kind.yaml' does not exist (a leading ~ is your home folder)",
        )
    ]


# -- 3. YAML syntax errors in a stack file ---------------------------------------------------------


def test_a_stack_file_syntax_error_is_one_line_naming_file_line_and_column(tmp_path):
    root = project(
        tmp_path,
        x="config:\n  hybrid-kube:target: existing\n  hybrid-kube:platform:\n"
        "    ingress: true\n   metricsServer: true\n",
    )
    for command in ("check", "render"):
        result = run_cli("--project", str(root), command, "x")
        assert result.returncode == 1
        assert result.stderr == (
            "error: stacks/Pulumi.x.yaml:5:4: expected <block end>, but found '<block mapping "
            "start>' (while parsing a block mapping); check this line's indentation against the "
            "lines above\n"
        )


TARGET_LINE = "  hybrid-kube:target: existing\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (  # the error surfaces at the end of the file; the cause is where the quote opens
            'config:\n  hybrid-kube:target: "existing\n  hybrid-kube:apps: [web]\n',
            "2:23: this quoted text is never closed (found unexpected end of stream at line 4, "
            "column 1)",
        ),
        (
            "config:\n" + TARGET_LINE + "  hybrid-kube:apps: [web, podinfo\n  hybrid-kube:x: y\n",
            "3:21: this [ list is never closed with ] (expected ',' or ']', but got ':' at line "
            "4, column 16)",
        ),
        (
            "config:\n\thybrid-kube:target: existing\n",
            "2:1: found character '\\t' that cannot start any token (while scanning for the next "
            "token); YAML indents with spaces, not tabs",
        ),
    ],
    ids=["unclosed-quote", "unclosed-bracket", "tab"],
)
def test_a_syntax_error_points_at_its_cause(tmp_path, capsys, text, message):
    root = project(tmp_path, x=text)
    assert main(["--project", str(root), "check", "x"]) == 1
    assert capsys.readouterr().err == f"error: stacks/Pulumi.x.yaml:{message}\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            (b"config:\n  - hybrid-kube:target: existing\n"),
            "config must be a mapping of key: value (one `hybrid-kube:<key>: <value>` per line), "
            "got a list",
        ),
        (
            b"config: hybrid-kube:target existing\n",
            "config must be a mapping of key: value (one `hybrid-kube:<key>: <value>` per line), "
            "got plain text",
        ),
        (
            ("config:\n  42: x\n" + TARGET_LINE).encode(),
            "config key 42 is a number, not a name; keys are text such as hybrid-kube:target",
        ),
        (  # Notepad's "Unicode": UTF-16 with a byte-order mark
            ("config:\n" + TARGET_LINE).encode("utf-16"),
            "not UTF-8 text (byte 0xff at offset 0); save it as UTF-8",
        ),
        (  # a Korean editor's default
            ("# 연습용 스택\nconfig:\n" + TARGET_LINE).encode("cp949"),
            "not UTF-8 text (byte 0xbf at offset 2); save it as UTF-8",
        ),
    ],
    ids=["config-list", "config-text", "integer-key", "utf-16", "cp949"],
)
def test_a_stack_file_of_the_wrong_shape_or_encoding_is_one_line(tmp_path, content, message):
    root = project(tmp_path)
    (root / "stacks" / "Pulumi.x.yaml").write_bytes(content)
    result = run_cli("--project", str(root), "check", "x")
    assert (result.returncode, result.stderr) == (1, f"error: stacks/Pulumi.x.yaml: {message}\n")


def test_keys_and_values_json_cannot_hold_reach_the_settings_as_text(tmp_path, capsys):
    # A date as a key or value inside a section (YAML reads both as dates, JSON has none).
    section = "  hybrid-kube:platform: {2024-01-01: x, storage: 2024-01-01}\n"
    root = project(tmp_path, x="config:\n" + TARGET_LINE + section)
    assert main(["--project", str(root), "check", "x"]) == 1
    assert capsys.readouterr().err.splitlines()[1:] == [
        "  - hybrid-kube:platform.storage: Input should be a valid boolean, unable to interpret "
        "input (got '2024-01-01')",
        "  - hybrid-kube:platform.2024-01-01: unknown key; allowed keys: ingress, loadBalancer, "
        "metricsServer, storage, ingressDomain",
    ]


# -- 4. the program run without the engine ---------------------------------------------------------


def test_running_the_program_with_python_says_how_to_run_it():
    result = subprocess.run(
        [sys.executable, "__main__.py"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr == (
        "error: this is a Pulumi program: the Pulumi engine runs it and hands it the stack's "
        "configuration. Run it with `pulumi up -s <stack>`, or `hybrid-kube render <stack>` to "
        "see what it would do\n"
    )


# -- 5. output into a closed pipe ------------------------------------------------------------------


def test_output_into_a_closed_pipe_ends_without_a_traceback():
    read, write = os.pipe()
    os.close(read)  # `| head` that has already exited
    try:
        result = subprocess.run(
            [str(SCRIPT), "check", "onprem-lab"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    finally:
        os.close(write)
    assert result.stderr == ""
    assert result.returncode == 1


# -- 6. `-s <stack>`, as pulumi spells it ----------------------------------------------------------


def test_dash_s_names_the_stack_as_in_pulumi(capsys):
    assert main(["check", "-s", "onprem-lab"]) == 0
    assert capsys.readouterr().out.startswith("stack onprem-lab: valid")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check"], "hybrid-kube: error: a stack is required: hybrid-kube check <stack>"),
        (
            ["check", "local", "-s", "onprem-lab"],
            "hybrid-kube: error: two stacks given (local and -s onprem-lab); give one",
        ),
    ],
)
def test_a_missing_or_doubled_stack_is_a_usage_error(capsys, args, message):
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == message


# -- 7. an unquoted version ------------------------------------------------------------------------

QUOTE_IT = (
    "'1.4' is outside the supported range 1.36-1.40; YAML reads an unquoted 1.40 as the number "
    '1.4: quote it, "1.40"'
)
UNSUPPORTED_1_3 = (
    "'1.3' is outside the supported range 1.31-1.36; YAML reads an unquoted 1.30 as the number "
    '1.3: 1.30 is not supported either; quote a supported one, e.g. "1.35"'
)


def test_an_unquoted_version_says_quote_it(tmp_path, capsys, monkeypatch):
    # Once 1.40 is supported, an unquoted 1.40 is the number 1.4 to YAML.
    monkeypatch.setattr(settings_module, "SUPPORTED_MINORS", ("1.36", "1.37", "1.40"))
    root = project(tmp_path, v="config:\n  hybrid-kube:target: existing\n"
                   "  hybrid-kube:kubernetesVersion: 1.40\n")  # fmt: skip
    assert main(["--project", str(root), "check", "v"]) == 1
    assert f"  - hybrid-kube:kubernetesVersion: {QUOTE_IT}" in capsys.readouterr().err
    # The engine hands the same number over as the text "1.4".
    assert problems({"target": "existing", "kubernetesVersion": "1.4"}) == [
        ("hybrid-kube:kubernetesVersion", QUOTE_IT)
    ]


def test_an_unquoted_unsupported_minor_says_what_yaml_did_and_names_a_supported_one():
    # An unquoted 1.30 is 1.3; "1.30" would be refused as well, so the advice names another.
    assert problems({"target": "existing", "kubernetesVersion": "1.3"}) == [
        ("hybrid-kube:kubernetesVersion", UNSUPPORTED_1_3)
    ]


def test_an_unsupported_version_gets_no_quoting_advice():
    [(_, message)] = problems({"target": "existing", "kubernetesVersion": "1.29"})
    assert message == "'1.29' is outside the supported range 1.31-1.36"


# -- 8. a misspelled namespace ---------------------------------------------------------------------


def namespace_problem(key: str) -> tuple[str, str]:
    name = key.partition(":")[2]
    return (
        key,
        "unknown namespace 'hybrid_kube' (did you mean hybrid-kube:?): this key and every other "
        f"hybrid_kube: key are ignored; write it as hybrid-kube:{name}",
    )


def test_a_misspelled_namespace_is_named_with_the_fix(tmp_path, capsys):
    root = project(
        tmp_path,
        n="config:\n  hybrid_kube:target: existing\n  hybrid_kube:apps: [web]\n"
        "  kubernetes:context: kind-kind\n",  # a provider's namespace: not ours to judge
    )
    assert main(["--project", str(root), "check", "n"]) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[1:] == [
        "  - {}: {}".format(*namespace_problem("hybrid_kube:target")),
        "  - {}: {}".format(*namespace_problem("hybrid_kube:apps")),
        "  - hybrid-kube:target: required key is missing",
    ]


def test_the_program_names_a_misspelled_namespace_too():
    seen = {}

    def program():
        seen["raw"] = read_stack_config()

    run_program(program, {"hybrid_kube:target": "existing", "kubernetes:context": "x"})
    assert seen["raw"] == {"hybrid_kube:target": "existing"}
    assert problems(seen["raw"])[0] == namespace_problem("hybrid_kube:target")


# -- 9. a stack file as `pulumi stack init` writes it ----------------------------------------------

NO_CONFIG = (
    "error: stack {0} has no configuration yet (its file sets no hybrid-kube: key); set at least "
    "hybrid-kube:target (aks, kubeadm or existing) and that target's section, e.g. `pulumi "
    "config set -s {0} target existing`, or copy the config: section of a shipped stack "
    "(stacks/Pulumi.ok.yaml)\n"
)


@pytest.mark.parametrize("text", ["", "encryptionsalt: v1:c2FsdA==:v1:aXY=:Y2lwaGVy\n"])
def test_a_stack_without_configuration_says_what_it_needs(tmp_path, capsys, text):
    root = project(tmp_path, new=text, ok="config:\n  hybrid-kube:target: existing\n")
    assert stack_names(root) == ["ok"]  # what the stack-wide tests parametrize over
    assert stack_names(root, with_config=False) == ["new", "ok"]
    for command in ("check", "render"):
        assert main(["--project", str(root), command, "new"]) == 1
        assert capsys.readouterr().err == NO_CONFIG.format("new")


# -- 10. field errors and cross-field problems in one run ------------------------------------------


def test_a_field_error_and_a_duplicate_host_are_reported_together():
    hosts = shipped("onprem-lab")["kubeadm"]["hosts"]
    found = problems(
        lab(
            cni="weave",
            hosts=[*hosts, {"name": "w1", "address": "192.168.56.23", "role": "worker"}],
        )
    )
    assert [path for path, _ in found] == [
        "hybrid-kube:kubeadm.cni",
        "hybrid-kube:kubeadm.hosts[3].name",
    ]
    assert found[1][1] == "duplicate name 'w1' (also hosts[1]); every host needs its own"


def test_a_duplicate_is_reported_once_when_only_cross_field_rules_fail():
    hosts = shipped("onprem-lab")["kubeadm"]["hosts"]
    found = problems(lab(hosts=[*hosts, {**hosts[1], "name": "w9"}]))
    assert found == [
        (
            "hybrid-kube:kubeadm.hosts[3].address",
            "duplicate address '192.168.56.21' (also hosts[1]); every host needs its own",
        )
    ]


def test_a_field_error_and_a_pool_off_the_declared_network_are_reported_together():
    found = problems(
        lab(
            cni="weave",
            hostNetwork="192.168.56.0/24",
            loadBalancerAddresses=["192.168.57.200-192.168.57.220"],
        )
    )
    assert found == [
        (
            "hybrid-kube:kubeadm.cni",
            "Input should be 'calico', 'cilium' or 'flannel' (got 'weave')",
        ),
        (
            "hybrid-kube:kubeadm.loadBalancerAddresses[0]",
            "192.168.57.200-192.168.57.220 is not on the hosts' network 192.168.56.0/24 "
            f"(kubeadm.hostNetwork): {METALLB_WHY}",
        ),
    ]


def test_rules_reading_a_failed_field_are_not_guessed():
    # podCidr's size for flannel reads `cni`; with `cni` misspelled that rule cannot be judged,
    # but kubeadm's own bounds (podCidr alone) still can.
    found = problems(lab(cni="flanel", podCidr="10.244.0.0/23"))
    assert [path for path, _ in found] == ["hybrid-kube:kubeadm.cni"]
    found = problems(lab(cni="flanel", podCidr="10.244.0.0/25"))
    assert [path for path, _ in found] == ["hybrid-kube:kubeadm.cni", "hybrid-kube:kubeadm.podCidr"]


def test_a_missing_section_is_named_beside_a_field_error(tmp_path, capsys):
    root = project(tmp_path, v="config:\n  hybrid-kube:target: kubeadm\n"
                   "  hybrid-kube:kubernetesVersion: 1.30\n")  # fmt: skip
    assert main(["--project", str(root), "check", "v"]) == 1
    assert capsys.readouterr().err.splitlines()[1:] == [
        f"  - hybrid-kube:kubernetesVersion: {UNSUPPORTED_1_3}",
        "  - hybrid-kube:kubeadm: required when target is 'kubeadm'; see stacks/ for a complete "
        "example",
    ]


def test_target_rules_run_beside_field_errors_only_on_parts_that_validate():
    # The pool is required while platform.loadBalancer is on: judged beside a version error...
    found = problems(lab(loadBalancerAddresses=[]) | {"kubernetesVersion": "1.29"})
    assert [path for path, _ in found] == [
        "hybrid-kube:kubernetesVersion",
        "hybrid-kube:kubeadm.loadBalancerAddresses",
    ]
    # ...but not when platform itself failed (its loadBalancer value is unknown).
    found = problems(lab(loadBalancerAddresses=[]) | {"platform": {"loadBalancer": "maybe"}})
    assert [path for path, _ in found] == ["hybrid-kube:platform.loadBalancer"]


# -- 11. two app modules with one name -------------------------------------------------------------


def test_the_catalog_is_unique_and_a_copied_app_is_refused():
    assert unique_app_names([web, podinfo]) == {name: CATALOG[name] for name in ("web", "podinfo")}
    copy = types.ModuleType("apps.mysite")
    copy.__file__ = str(PROJECT_ROOT / "apps" / "mysite.py")
    copy.SPEC = web.SPEC
    with pytest.raises(ValueError) as error:
        unique_app_names([web, podinfo, copy])
    assert str(error.value) == (
        "apps/mysite.py and apps/web.py both declare an app named 'web'; app names must be "
        "unique: give the copy its own name (name=... in apps/mysite.py)"
    )


def test_every_shipped_stack_still_loads():
    for stack in stack_names():
        assert load_stack(stack).file_keys


def test_hosts_behind_forwarded_ports_leave_the_network_to_a_declaration():
    # Vagrant's NAT: every host is 127.0.0.1:<port>, so their own network cannot be derived.
    forwarded = lab(
        hosts=[{"name": "cp1", "address": "127.0.0.1", "role": "control-plane"}],
        loadBalancerAddresses=["192.168.56.200-192.168.56.220"],
    )
    assert load_settings(forwarded, settings_catalog()).kubeadm.load_balancer_addresses
    declared = {**forwarded, "kubeadm": {**forwarded["kubeadm"], "hostNetwork": "10.0.0.0/24"}}
    assert [path for path, _ in problems(declared)] == [
        "hybrid-kube:kubeadm.loadBalancerAddresses[0]"
    ]


@pytest.mark.parametrize(
    ("namespace", "typo"),
    [("hybrid_kube", True), ("Hybrid-Kube", True), ("hybird-kube", True), ("hybridkube", True)]
    + [(provider, False) for provider in ("kubernetes", "azure-native", "command", "pulumi")],
)
def test_only_near_misses_of_our_namespace_count_as_typos(namespace, typo):
    from components.settings.base import misspelled_namespace

    assert misspelled_namespace(f"{namespace}:target") is typo


def test_check_reports_a_bad_app_catalog_in_one_line(tmp_path, monkeypatch, capsys):
    package = tmp_path / "apps"
    package.mkdir()
    (package / "__init__.py").write_text(
        "raise ValueError('apps/mysite.py and apps/web.py both declare an app named web')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "apps")
    assert main(["check", "local"]) == 1
    assert capsys.readouterr().err == (
        "error: the app catalog (apps/) cannot be loaded: apps/mysite.py and apps/web.py both "
        "declare an app named web\n"
    )


def test_pulumi_up_reports_a_bad_app_catalog_without_a_traceback(tmp_path, monkeypatch):
    import runpy

    import pulumi

    package = tmp_path / "apps"
    package.mkdir()
    (package / "__init__.py").write_text("raise ValueError('two apps named web')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "apps")
    config = load_stack("local")
    caught: list[BaseException] = []

    def program():
        try:
            runpy.run_path(str(PROJECT_ROOT / "__main__.py"), run_name="__main__")
        except pulumi.RunError as error:
            caught.append(error)

    recording = run_program(program, config.config, config.secret_keys)
    assert recording.resources == []
    assert [str(e) for e in caught] == [
        "the app catalog (apps/) cannot be loaded: two apps named web"
    ]
