"""The files the hosts receive, as data: kubeadm `v1beta4` documents, the Secrets encryption
configuration, the audit policy and the kube-vip static pod.

Pure functions of plain values (no Outputs), so tests can parse and check every shape. The phases
call them inside `Output.apply` once the secret values are known.

v1beta4 reminders (kubeadm 1.31+): `extraArgs` and `kubeletExtraArgs` are lists of `{name, value}`;
the control-plane health-check timeout lives in `InitConfiguration.timeouts`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import yaml

from .. import versions
from ..settings.kubeadm import HostSettings, KubeadmSettings

KUBEADM_API = "kubeadm.k8s.io/v1beta4"
CRI_SOCKET = "unix:///var/run/containerd/containerd.sock"
API_SERVER_PORT = 6443

# Where the scripts put what the API server reads (mounted read-only into its static pod).
APISERVER_DIR = "/etc/kubernetes/apiserver"
ENCRYPTION_CONFIG_PATH = f"{APISERVER_DIR}/encryption-config.yaml"
AUDIT_POLICY_PATH = f"{APISERVER_DIR}/audit-policy.yaml"
AUDIT_LOG_DIR = "/var/log/kubernetes/audit"

ADMIN_KUBECONFIG = "/etc/kubernetes/admin.conf"
SUPER_ADMIN_KUBECONFIG = "/etc/kubernetes/super-admin.conf"

# init.sh replaces this with the installed kubeadm's version when the stack names only a minor.
INSTALLED_VERSION_MARKER = "@INSTALLED_KUBEADM_VERSION@"
# write_kube_vip_manifest (lib.sh) replaces this with the NIC that holds the node's address.
VIP_INTERFACE_MARKER = "@VIP_INTERFACE@"

TOKEN_PATTERN = re.compile(r"^[a-z0-9]{6}\.[a-z0-9]{16}$")
TOKEN_TTL = "2h0m0s"
"""Short on purpose: admit.sh refreshes the token right before every join."""
TOKEN_GROUPS = ["system:bootstrappers:kubeadm:default-node-token"]


def args(**values: str) -> list[dict[str, str]]:
    """v1beta4 argument list: `args(node_ip=...)` -> `[{"name": "node-ip", "value": ...}]`."""
    return [{"name": key.replace("_", "-"), "value": value} for key, value in values.items()]


def endpoint(settings: KubeadmSettings) -> str:
    """`host:port` of the API server endpoint (IPv6 in brackets)."""
    host, port = settings.endpoint
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def kubernetes_version_field(version: str) -> str:
    """`v1.34.2` for a patch; for a bare minor, the marker init.sh fills from installed kubeadm."""
    return f"v{version}" if version.count(".") == 2 else INSTALLED_VERSION_MARKER


def node_registration(host: HostSettings, *, taints: list | None = None) -> dict[str, Any]:
    """Explicit node name and node-ip: on multi-NIC hosts the default route's address is wrong."""
    registration: dict[str, Any] = {
        "name": host.name,
        "criSocket": CRI_SOCKET,
        "imagePullPolicy": "IfNotPresent",
        "kubeletExtraArgs": args(node_ip=host.address),
    }
    if taints is not None:
        registration["taints"] = taints
    return registration


def bootstrap_token(token: str) -> dict[str, Any]:
    return {
        "token": token,
        "ttl": TOKEN_TTL,
        "usages": ["signing", "authentication"],
        "groups": TOKEN_GROUPS,
        "description": "hybrid-kube join token, refreshed before each join",
    }


def control_plane_taints(settings: KubeadmSettings) -> list | None:
    """`nodeRegistration.taints` for a control plane that registers (`kubeadm init` or `join`).

    kubeadm v1beta4: "If this field is unset, i.e. nil, it will be defaulted with a control-plane
    taint for control-plane nodes. If you don't want to taint your control-plane node, set this
    field to an empty slice" (`NodeRegistrationOptions.Taints`; `SetJoinDynamicDefaults` applies
    the same default to a JoinConfiguration with `controlPlane`). With no worker the control
    planes are where workloads run, so every one of them registers untainted: `[]`. With workers,
    None keeps kubeadm's `node-role.kubernetes.io/control-plane:NoSchedule`.

    Registration only: kubeadm sets these taints when the node registers and never again, so
    adding the first worker (or removing the last) later leaves the registered nodes' taints as
    they are (docs/onprem.md, "Control-plane taints")."""
    return [] if not settings.workers else None


def _bootstrap_fields(settings: KubeadmSettings, *, with_taints: bool) -> dict[str, Any]:
    """The bootstrap control plane's API endpoint and registration, explicit: kubeadm would
    otherwise default them from the default route's address and the hostname.

    `with_taints`: `kubeadm init` needs them (`control_plane_taints`); the admit step's `init
    phase bootstrap-token` and `upload-certs` do not read them, and leaving them out keeps the
    admit document unchanged when the first worker is added or the last one removed."""
    host = settings.bootstrap_control_plane
    taints = control_plane_taints(settings) if with_taints else None
    return {
        "localAPIEndpoint": {"advertiseAddress": host.address, "bindPort": API_SERVER_PORT},
        "nodeRegistration": node_registration(host, taints=taints),
    }


def init_configuration(
    settings: KubeadmSettings, *, token: str, certificate_key: str
) -> dict[str, Any]:
    return {
        "apiVersion": KUBEADM_API,
        "kind": "InitConfiguration",
        "bootstrapTokens": [bootstrap_token(token)],
        "certificateKey": certificate_key,
        **_bootstrap_fields(settings, with_taints=True),
        "timeouts": {"controlPlaneComponentHealthCheck": "4m0s"},
    }


def cluster_configuration(settings: KubeadmSettings, version: str) -> dict[str, Any]:
    endpoint_host, _ = settings.endpoint
    return {
        "apiVersion": KUBEADM_API,
        "kind": "ClusterConfiguration",
        "kubernetesVersion": kubernetes_version_field(version),
        # Set from day one: it cannot be added cleanly later, and HA needs it.
        "controlPlaneEndpoint": endpoint(settings),
        "networking": {
            "podSubnet": settings.pod_cidr,
            "serviceSubnet": settings.service_cidr,
            "dnsDomain": "cluster.local",
        },
        "apiServer": {
            "certSANs": [endpoint_host],
            "extraArgs": args(
                encryption_provider_config=ENCRYPTION_CONFIG_PATH,
                audit_policy_file=AUDIT_POLICY_PATH,
                audit_log_path=f"{AUDIT_LOG_DIR}/audit.log",
                audit_log_maxage="30",
                audit_log_maxbackup="10",
                audit_log_maxsize="100",
                profiling="false",
            ),
            "extraVolumes": [
                {
                    "name": "hybrid-kube-apiserver",
                    "hostPath": APISERVER_DIR,
                    "mountPath": APISERVER_DIR,
                    "readOnly": True,
                    "pathType": "DirectoryOrCreate",
                },
                {
                    "name": "audit-log",
                    "hostPath": AUDIT_LOG_DIR,
                    "mountPath": AUDIT_LOG_DIR,
                    "readOnly": False,
                    "pathType": "DirectoryOrCreate",
                },
            ],
        },
        "controllerManager": {"extraArgs": args(profiling="false")},
        "scheduler": {"extraArgs": args(profiling="false")},
    }


def kubelet_configuration() -> dict[str, Any]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "cgroupDriver": "systemd",
        # Serving certificates signed by the cluster CA (approved per node by node.sh), so
        # metrics-server and the API server can verify kubelets instead of skipping TLS checks.
        "serverTLSBootstrap": True,
        "rotateCertificates": True,
        "failSwapOn": True,
    }


def kube_proxy_configuration(settings: KubeadmSettings) -> dict[str, Any]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clusterCIDR": settings.pod_cidr,
    }


def init_documents(
    settings: KubeadmSettings, version: str, *, token: str, certificate_key: str
) -> list[dict[str, Any]]:
    """The four documents of `kubeadm init --config` on the bootstrap control plane."""
    return [
        init_configuration(settings, token=token, certificate_key=certificate_key),
        cluster_configuration(settings, version),
        kubelet_configuration(),
        kube_proxy_configuration(settings),
    ]


def join_configuration(
    settings: KubeadmSettings,
    host: HostSettings,
    *,
    token: str,
    ca_cert_hash: str,
    certificate_key: str | None,
) -> dict[str, Any]:
    """`kubeadm join --config` for `host`; a control plane also gets `controlPlane`, and the same
    taint rule as the bootstrap control plane (`control_plane_taints`)."""
    document: dict[str, Any] = {
        "apiVersion": KUBEADM_API,
        "kind": "JoinConfiguration",
        "discovery": {
            "bootstrapToken": {
                "apiServerEndpoint": endpoint(settings),
                "token": token,
                "caCertHashes": [ca_cert_hash],
            }
        },
        "nodeRegistration": node_registration(
            host,
            taints=control_plane_taints(settings) if host.role == "control-plane" else None,
        ),
    }
    if host.role == "control-plane":
        if certificate_key is None:
            raise ValueError(f"control plane {host.name} needs the certificate key to join")
        document["controlPlane"] = {
            "localAPIEndpoint": {"advertiseAddress": host.address, "bindPort": API_SERVER_PORT},
            "certificateKey": certificate_key,
        }
    return document


def admit_configuration(
    settings: KubeadmSettings, *, token: str, certificate_key: str
) -> dict[str, Any]:
    """What admit.sh feeds `kubeadm init phase bootstrap-token / upload-certs` on the bootstrap
    control plane (it appends the cluster's live ClusterConfiguration). Carries that host's
    endpoint and registration so `kubeadm init phase` does not default them from the default
    route."""
    return {
        "apiVersion": KUBEADM_API,
        "kind": "InitConfiguration",
        "bootstrapTokens": [bootstrap_token(token)],
        "certificateKey": certificate_key,
        **_bootstrap_fields(settings, with_taints=False),
    }


def encryption_configuration(key_base64: str) -> dict[str, Any]:
    """Secrets encrypted at rest in etcd with a 32-byte secretbox key (as kubespray does)."""
    return {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "EncryptionConfiguration",
        "resources": [
            {
                "resources": ["secrets"],
                "providers": [
                    {"secretbox": {"keys": [{"name": "hybrid-kube-1", "secret": key_base64}]}},
                    {"identity": {}},
                ],
            }
        ],
    }


KUBE_PROXY_USER = "system:serviceaccount:kube-system:kube-proxy"
"""Who kube-proxy is on kubeadm: its add-on runs the DaemonSet as the `kube-proxy` ServiceAccount
and its kubeconfig uses that account's token (cmd/kubeadm/app/phases/addons/proxy/manifests.go),
and a ServiceAccount's user name is `system:serviceaccount:<namespace>:<name>`
(k8s.io/apiserver pkg/authentication/serviceaccount/util.go). `system:kube-proxy` is the name of
the certificate identity other installers give it; on kubeadm it never appears."""


def audit_policy() -> dict[str, Any]:
    """Who did what: metadata for everything, request bodies for writes, never secret payloads.

    First match wins (audit.k8s.io/v1 `PolicyRule`: a rule matches when every field it sets does;
    `users` compares the authenticated user name exactly, and `group: ""` is the core group
    only). Dropped as noise: health probes; kube-proxy's watches of what it proxies (Services,
    EndpointSlices, ServiceCIDRs, its Node: cmd/kube-proxy/app/server.go); Events in both the
    core and the `events.k8s.io` group (kube-proxy, for one, writes through the latter);
    leader-election and node-heartbeat leases (several writes per second cluster-wide); and the
    kubelets' routine reads (get/list/watch by system:nodes) except of Secrets and ConfigMaps,
    which stay at Metadata.
    """
    return {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived"],
        "rules": [
            {"level": "None", "nonResourceURLs": ["/healthz*", "/livez*", "/readyz*", "/version"]},
            {
                "level": "None",
                "users": [KUBE_PROXY_USER],
                "verbs": ["watch"],
                "resources": [
                    {"group": "", "resources": ["services", "nodes"]},
                    {"group": "discovery.k8s.io", "resources": ["endpointslices"]},
                    {"group": "networking.k8s.io", "resources": ["servicecidrs"]},
                ],
            },
            {
                "level": "None",
                "resources": [
                    {"group": "", "resources": ["events"]},
                    {"group": "events.k8s.io", "resources": ["events"]},
                ],
            },
            {
                "level": "None",
                "resources": [{"group": "coordination.k8s.io", "resources": ["leases"]}],
            },
            {
                "level": "Metadata",
                "resources": [
                    {"group": "", "resources": ["secrets", "configmaps", "serviceaccounts/token"]},
                    {"group": "authentication.k8s.io", "resources": ["tokenreviews"]},
                    {"group": "certificates.k8s.io", "resources": ["certificatesigningrequests"]},
                ],
            },
            {
                "level": "None",
                "userGroups": ["system:nodes"],
                "verbs": ["get", "list", "watch"],
            },
            {
                "level": "Request",
                "verbs": ["create", "update", "patch", "delete", "deletecollection"],
            },
            {"level": "Metadata"},
        ],
    }


def kube_vip_manifest(address: str, *, kubeconfig: str) -> dict[str, Any]:
    """kube-vip as a static pod in ARP mode with leader election, holding `address` on port 6443.

    `kubeconfig` is super-admin.conf on the bootstrap control plane during `kubeadm init`
    (admin.conf has no rights yet then) and admin.conf everywhere else.
    """
    env = {
        "vip_arp": "true",
        "port": str(API_SERVER_PORT),
        "vip_interface": VIP_INTERFACE_MARKER,
        "cp_enable": "true",
        "cp_namespace": "kube-system",
        "vip_leaderelection": "true",
        "vip_leasename": "plndr-cp-lock",
        "vip_leaseduration": "5",
        "vip_renewdeadline": "3",
        "vip_retryperiod": "1",
        "address": address,
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "kube-vip", "namespace": "kube-system"},
        "spec": {
            "hostNetwork": True,
            "hostAliases": [{"hostnames": ["kubernetes"], "ip": "127.0.0.1"}],
            "containers": [
                {
                    "name": "kube-vip",
                    "image": versions.KUBE_VIP_IMAGE,
                    "imagePullPolicy": "IfNotPresent",
                    "args": ["manager"],
                    "env": [{"name": k, "value": v} for k, v in env.items()]
                    + [
                        {
                            "name": "vip_nodename",
                            "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}},
                        }
                    ],
                    "securityContext": {
                        "capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]}
                    },
                    "volumeMounts": [{"name": "kubeconfig", "mountPath": ADMIN_KUBECONFIG}],
                }
            ],
            "volumes": [{"name": "kubeconfig", "hostPath": {"path": kubeconfig, "type": "File"}}],
        },
    }


# libyaml's emitter when PyYAML was built with it: the same output, several times faster.
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def to_yaml(documents: Iterable[dict[str, Any]]) -> str:
    """Multi-document YAML, keys in the order written above (stable, so reruns see no diff)."""
    return yaml.dump_all(list(documents), Dumper=_DUMPER, sort_keys=False, default_flow_style=False)
