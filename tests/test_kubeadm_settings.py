"""Settings the kubeadm target added on top of the foundation checks: the API endpoint's load
balancer (kube-vip or external) and bastion host-key pinning."""

from __future__ import annotations

from typing import Any

import pytest

from apps import settings_catalog
from components.settings import SettingsError, load_settings

CATALOG = settings_catalog()
ENDPOINT = "hybrid-kube:kubeadm.controlPlaneEndpoint"


def stack(control_planes: int = 3, **kubeadm: Any) -> dict[str, Any]:
    hosts = [
        {"name": f"cp{i + 1}", "address": f"192.168.56.{11 + i}", "role": "control-plane"}
        for i in range(control_planes)
    ] + [{"name": "w1", "address": "192.168.56.21", "role": "worker"}]
    return {
        "target": "kubeadm",
        "kubeadm": {
            "hosts": hosts,
            "controlPlaneEndpoint": "192.168.56.10",
            "loadBalancerAddresses": ["192.168.56.200-192.168.56.220"],
            **kubeadm,
        },
    }


def problems(raw: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(SettingsError) as caught:
        load_settings(raw, CATALOG)
    return caught.value.problems


def kubeadm(raw: dict[str, Any]):
    return load_settings(raw, CATALOG).kubeadm


def test_a_separate_endpoint_is_a_kube_vip_address_by_default():
    settings = kubeadm(stack())
    assert settings.api_load_balancer == "kube-vip"
    assert settings.kube_vip_address == "192.168.56.10"
    assert settings.bootstrap_control_plane.name == "cp1"


def test_no_kube_vip_without_a_separate_endpoint_or_with_an_external_balancer():
    single = stack(control_planes=1)
    del single["kubeadm"]["controlPlaneEndpoint"]
    assert kubeadm(single).kube_vip_address is None
    own_address = stack(control_planes=1, controlPlaneEndpoint="192.168.56.11")
    assert kubeadm(own_address).kube_vip_address is None
    external = stack(apiLoadBalancer="external", controlPlaneEndpoint="k8s.lab.internal:8443")
    assert kubeadm(external).kube_vip_address is None
    assert kubeadm(external).endpoint == ("k8s.lab.internal", 8443)


def test_kube_vip_needs_an_ip_address():
    found = problems(stack(controlPlaneEndpoint="k8s.lab.internal"))
    assert len(found) == 1
    path, message = found[0]
    assert path == ENDPOINT
    assert "DNS name" in message and "apiLoadBalancer: external" in message


def test_kube_vip_serves_the_api_servers_own_port_only():
    found = problems(stack(controlPlaneEndpoint="192.168.56.10:8443"))
    assert found == [(ENDPOINT, found[0][1])]
    assert "6443" in found[0][1]
    assert kubeadm(stack(controlPlaneEndpoint="192.168.56.10:6443")).endpoint[1] == 6443


def test_endpoint_must_not_be_in_the_cluster_networks_or_the_load_balancer_pool():
    in_pods = problems(stack(controlPlaneEndpoint="10.244.0.10"))
    assert [p for p, _ in in_pods] == [ENDPOINT]  # off the guessed hosts' network: a warning
    assert "podCidr" in in_pods[0][1]
    in_pool = problems(stack(controlPlaneEndpoint="192.168.56.205"))
    assert [p for p, _ in in_pool] == [ENDPOINT]
    assert "loadBalancerAddresses[0]" in in_pool[0][1]


def test_api_load_balancer_is_one_of_two_values():
    found = problems(stack(apiLoadBalancer="haproxy"))
    assert [p for p, _ in found] == ["hybrid-kube:kubeadm.apiLoadBalancer"]
    assert "kube-vip" in found[0][1] and "external" in found[0][1]


# A well-formed ed25519 public key (its data holds the type again, as OpenSSH writes it).
ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIC"


def test_bastion_host_key_is_accepted_and_typos_are_named():
    raw = stack(ssh={"bastion": {"host": "jump.example.com", "hostKey": ED25519 + " root@jump"}})
    assert kubeadm(raw).ssh.bastion.host_key == ED25519  # the comment is dropped
    typo = stack(ssh={"bastion": {"host": "jump.example.com", "hostkey": ED25519}})
    ((path, message),) = problems(typo)
    assert path == "hybrid-kube:kubeadm.ssh.bastion.hostkey"
    assert "did you mean 'hostKey'" in message


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("AAAAC3NzaC1lZDI1NTE5AAAAIAICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIC", "one line"),
        ("ssh-ed25519 AAAA", "does not hold a ssh-ed25519 key"),
        ("ssh-dss AAAAB3NzaC1kc3M=", "key type 'ssh-dss'"),
        ("ssh-ed25519 not-base64!", "not base64"),
        (ED25519.replace("ssh-ed25519", "ssh-rsa"), "does not hold a ssh-rsa key"),
        (ED25519 + "\nmalicious line", "one line"),
    ],
)
def test_a_malformed_host_key_is_refused_because_it_would_pin_nothing(key, why):
    ((path, message),) = problems(
        stack(hosts=[{"name": "cp1", "address": "192.168.56.11", "role": "control-plane",
                       "hostKey": key}])
    )  # fmt: skip
    assert path == "hybrid-kube:kubeadm.hosts[0].hostKey"
    assert why in message


@pytest.mark.parametrize("user", ["x`touch /tmp/p`", "a b", "$(id)", "-oProxyCommand=x"])
def test_ssh_users_are_plain_names(user):
    ((path, message),) = problems(stack(ssh={"user": user}))
    assert path == "hybrid-kube:kubeadm.ssh.user"
    assert "is not a user name" in message


def test_every_problem_is_reported_at_once():
    raw = stack(controlPlaneEndpoint="k8s.lab.internal:8443")
    raw["kubeadm"]["hosts"].append(
        {"name": "cp4", "address": "192.168.56.14", "role": "control-plane"}
    )
    paths = [p for p, _ in problems(raw)]
    assert paths.count(ENDPOINT) == 2  # DNS name for kube-vip, and a port kube-vip cannot serve
    assert "hybrid-kube:kubeadm.hosts" in paths  # four control planes: no etcd quorum


def test_ipv6_hosts_and_networks_are_refused_with_the_reason():
    raw = stack(control_planes=1, podCidr="fd10::/56", serviceCidr="fd20::/108")
    raw["kubeadm"]["hosts"][1]["address"] = "fd00::21"
    found = dict(problems(raw))
    assert set(found) == {
        "hybrid-kube:kubeadm.hosts[1].address",
        "hybrid-kube:kubeadm.podCidr",
        "hybrid-kube:kubeadm.serviceCidr",
    }
    host = found["hybrid-kube:kubeadm.hosts[1].address"]
    assert "fd00::21" in host and "'w1'" in host and "IPv4-only" in host
    assert "Calico" in host and "serving certificates" in host
    assert "IPv4" in found["hybrid-kube:kubeadm.podCidr"]
    # IPv4 everywhere is fine; an IPv6 address for an external balancer is the user's network.
    assert kubeadm(stack()).hosts[1].address == "192.168.56.12"
    external = stack(apiLoadBalancer="external", controlPlaneEndpoint="[fd00::10]:6443")
    assert kubeadm(external).endpoint == ("fd00::10", 6443)
