"""`App`: one `AppSpec` turned into the Kubernetes objects that run it, identically on every target.

Per app: a Namespace (restricted Pod Security Standard enforced; kept when the app is removed if
it holds data: components/storage.py), a default-deny NetworkPolicy, DNS egress, and the app's
Secret.
With `registry_auths`, a `kubernetes.io/dockerconfigjson` Secret (`registry-credentials`) that
every pod of the app names in `imagePullSecrets`.
Per workload: ServiceAccount (no token), ConfigMap (plain env and files, and the app settings it
reads: `appConfig` values or defaults), Deployment or StatefulSet (with one claim
patch per replica, so a larger `Storage.size` expands the volumes in place), Service,
NetworkPolicy (exactly the declared traffic), PodDisruptionBudget (unless a singleton),
HorizontalPodAutoscaler (stateless workloads only), and an Ingress routing exactly the declared
paths when exposed. The Kubernetes provider arrives through `opts.providers`; nothing here knows
which target runs it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.apps.v1 import (
    DeploymentSpecArgs,
    DeploymentStrategyArgs,
    RollingUpdateDeploymentArgs,
)
from pulumi_kubernetes.autoscaling.v2 import (
    CrossVersionObjectReferenceArgs,
    HorizontalPodAutoscalerSpecArgs,
    MetricSpecArgs,
    MetricTargetArgs,
    ResourceMetricSourceArgs,
)
from pulumi_kubernetes.core.v1 import (
    CapabilitiesArgs,
    ConfigMapKeySelectorArgs,
    ContainerArgs,
    ContainerPortArgs,
    EmptyDirVolumeSourceArgs,
    EnvVarArgs,
    EnvVarSourceArgs,
    ExecActionArgs,
    HTTPGetActionArgs,
    KeyToPathArgs,
    LocalObjectReferenceArgs,
    PodSecurityContextArgs,
    PodSpecArgs,
    PodTemplateSpecArgs,
    ProbeArgs,
    ResourceRequirementsArgs,
    SeccompProfileArgs,
    SecretKeySelectorArgs,
    SecurityContextArgs,
    ServicePortArgs,
    ServiceSpecArgs,
    TCPSocketActionArgs,
    TopologySpreadConstraintArgs,
    VolumeArgs,
    VolumeMountArgs,
)
from pulumi_kubernetes.meta.v1 import LabelSelectorArgs, ObjectMetaArgs
from pulumi_kubernetes.networking.v1 import (
    HTTPIngressPathArgs,
    HTTPIngressRuleValueArgs,
    IngressBackendArgs,
    IngressRuleArgs,
    IngressServiceBackendArgs,
    IngressSpecArgs,
    NetworkPolicyEgressRuleArgs,
    NetworkPolicyIngressRuleArgs,
    NetworkPolicyPeerArgs,
    NetworkPolicyPortArgs,
    NetworkPolicySpecArgs,
    ServiceBackendPortArgs,
)
from pulumi_kubernetes.policy.v1 import PodDisruptionBudgetSpecArgs
from pydantic import SecretStr

from . import storage
from .appspec import AppSpec, ExecProbe, HttpProbe, Probe, TcpProbe, WorkloadSpec
from .secrets import AppSecrets, AppSecretsArgs

MANAGED_BY = "hybrid-kube"
CHECKSUM_CONFIG = "hybrid-kube.dev/config-checksum"
CHECKSUM_SECRETS = "hybrid-kube.dev/secrets-checksum"
PULL_SECRET = "registry-credentials"
"""The app's `kubernetes.io/dockerconfigjson` Secret, named in every pod's imagePullSecrets."""
_NAMESPACE_NAME = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class IngressInfo:
    """Where the platform's ingress controller lives, so apps can route to it and admit it."""

    class_name: str
    namespace: str
    domain: str


@dataclass(frozen=True)
class AppArgs:
    spec: AppSpec
    secrets: Mapping[str, SecretStr] = field(default_factory=dict)
    """Values from `appSecrets.<app>`; missing ones are generated."""
    ingress: IngressInfo | None = None
    config: Mapping[str, str | int | bool] = field(default_factory=dict)
    """Values from `appConfig.<app>` (validated by the settings); missing ones take the default."""
    registry_auths: pulumi.Input[str] | None = None
    """A `.dockerconfigjson` document (a secret) with logins for the registries the app's images
    come from; None when every image pulls without one."""


class App(pulumi.ComponentResource):
    """Every Kubernetes object of one app; see the module docstring."""

    def __init__(self, name: str, args: AppArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("hybrid-kube:workload:App", name, None, opts)
        spec = args.spec
        child = pulumi.ResourceOptions(parent=self)
        self.namespace = storage.app_namespace(name, spec, _app_labels(spec), self)
        namespace = self.namespace.metadata.name
        _baseline_policies(name, spec, namespace, child)
        self.secrets = (
            AppSecrets(
                f"{name}-secrets",
                AppSecretsArgs(spec=spec, namespace=namespace, configured=args.secrets),
                opts=child,
            )
            if spec.secrets
            else None
        )
        self.pull_secret = (
            _pull_secret(name, spec, namespace, args.registry_auths, child)
            if args.registry_auths is not None
            else None
        )
        config = spec.config_values(args.config)
        self.workloads = {
            w.name: Workload(
                f"{name}-{w.name}",
                WorkloadArgs(
                    app=spec,
                    workload=w,
                    namespace=namespace,
                    secrets=self.secrets,
                    ingress=args.ingress,
                    config=config,
                    pull_secret=self.pull_secret,
                ),
                opts=child,
            )
            for w in spec.workloads
        }
        self.hosts = {
            w.name: _host(spec, w, args.ingress)
            for w in spec.workloads
            if w.exposure is not None and args.ingress is not None
        }
        self.register_outputs({"namespace": namespace, "hosts": self.hosts})


@dataclass(frozen=True)
class WorkloadArgs:
    app: AppSpec
    workload: WorkloadSpec
    namespace: pulumi.Input[str]
    secrets: AppSecrets | None
    ingress: IngressInfo | None
    config: Mapping[str, str] = field(default_factory=dict)
    """Every app setting as ConfigMap text (`AppSpec.config_values`)."""
    pull_secret: k8s.core.v1.Secret | None = None


class Workload(pulumi.ComponentResource):
    """One workload's objects; see the module docstring."""

    def __init__(self, name: str, args: WorkloadArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("hybrid-kube:workload:Workload", name, None, opts)
        app, spec, namespace = args.app, args.workload, args.namespace
        child = pulumi.ResourceOptions(parent=self)
        labels = _workload_labels(app, spec)
        selector = {k: labels[k] for k in ("app.kubernetes.io/name", "app.kubernetes.io/part-of")}

        def meta(**extra) -> ObjectMetaArgs:
            return ObjectMetaArgs(name=spec.name, namespace=namespace, labels=labels, **extra)

        k8s.core.v1.ServiceAccount(
            f"{name}-serviceaccount",
            metadata=meta(),
            automount_service_account_token=False,
            opts=child,
        )
        config_data = app.config_data(spec, args.config)
        # A named ConfigMap whose data changes is replaced (deleted, then created: the provider
        # treats its data as immutable); the workload depends on it, so the rollout its checksum
        # starts begins only once the new ConfigMap exists.
        config_map = (
            k8s.core.v1.ConfigMap(
                f"{name}-configmap", metadata=meta(), data=config_data, opts=child
            )
            if config_data
            else None
        )
        annotations: dict[str, pulumi.Input[str]] = {CHECKSUM_CONFIG: _checksum(config_data)}
        needs_secrets = bool(spec.secret_env or spec.secret_files)
        if needs_secrets and args.secrets is not None:
            annotations[CHECKSUM_SECRETS] = args.secrets.checksum
        template = PodTemplateSpecArgs(
            metadata=ObjectMetaArgs(labels=labels, annotations=annotations),
            spec=_pod_spec(app, spec, selector, args.secrets, args.pull_secret is not None),
        )
        # Pods start only once what they read (and the login their image pulls with) exists.
        needed: list[pulumi.Resource] = [config_map] if config_map is not None else []
        needed += [args.secrets.secret] if needs_secrets and args.secrets else []
        needed += [args.pull_secret] if args.pull_secret is not None else []
        workload_opts = pulumi.ResourceOptions(parent=self, depends_on=needed or None)
        if spec.storage is None:
            self.controller = k8s.apps.v1.Deployment(
                f"{name}-deployment",
                metadata=meta(),
                spec=DeploymentSpecArgs(
                    replicas=spec.replicas,
                    selector=LabelSelectorArgs(match_labels=selector),
                    template=template,
                    strategy=DeploymentStrategyArgs(
                        type="RollingUpdate",
                        rolling_update=RollingUpdateDeploymentArgs(max_unavailable=0, max_surge=1),
                    ),
                    revision_history_limit=5,
                ),
                # The autoscaler owns the replica count once the workload exists.
                opts=pulumi.ResourceOptions.merge(
                    workload_opts,
                    pulumi.ResourceOptions(
                        ignore_changes=["spec.replicas"] if spec.autoscaled else None
                    ),
                ),
            )
            kind = "Deployment"
        else:
            self.controller = storage.stateful_set(
                name, spec, meta(), selector, labels, template, workload_opts
            )
            self.claims = storage.claim_patches(name, spec, namespace, self.controller, child)
            kind = "StatefulSet"
        self.service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=meta(),
            spec=ServiceSpecArgs(
                type="ClusterIP",
                selector=selector,
                ports=[
                    ServicePortArgs(
                        name=spec.port_name,
                        port=spec.port,
                        target_port=spec.port_name,
                        protocol="TCP",
                    )
                ],
            ),
            opts=child,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-networkpolicy",
            metadata=meta(),
            spec=_workload_policy(app, spec, selector, args.ingress),
            opts=child,
        )
        if spec.disruption_budget:
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-pdb",
                metadata=meta(),
                spec=PodDisruptionBudgetSpecArgs(
                    max_unavailable=1, selector=LabelSelectorArgs(match_labels=selector)
                ),
                opts=child,
            )
        if spec.autoscaled:
            _autoscaler(name, spec, meta(), kind, child)
        if spec.exposure is not None and args.ingress is not None:
            k8s.networking.v1.Ingress(
                f"{name}-ingress",
                metadata=meta(),
                spec=_ingress_spec(app, spec, args.ingress),
                opts=child,
            )
        self.register_outputs({})


def _pull_secret(
    name: str,
    app: AppSpec,
    namespace: pulumi.Input[str],
    auths: pulumi.Input[str],
    child: pulumi.ResourceOptions,
) -> k8s.core.v1.Secret:
    """The registry logins the kubelet pulls the app's images with (Kubernetes: type
    `kubernetes.io/dockerconfigjson`, the document under the key `.dockerconfigjson`)."""
    return k8s.core.v1.Secret(
        f"{name}-registry-credentials",
        metadata=ObjectMetaArgs(name=PULL_SECRET, namespace=namespace, labels=_app_labels(app)),
        type="kubernetes.io/dockerconfigjson",
        string_data={".dockerconfigjson": pulumi.Output.secret(auths)},
        opts=child,
    )


# -- scaling and routing --------------------------------------------------------------------------


def _autoscaler(
    name: str,
    spec: WorkloadSpec,
    metadata: ObjectMetaArgs,
    kind: str,
    child: pulumi.ResourceOptions,
) -> None:
    k8s.autoscaling.v2.HorizontalPodAutoscaler(
        f"{name}-hpa",
        metadata=metadata,
        spec=HorizontalPodAutoscalerSpecArgs(
            scale_target_ref=CrossVersionObjectReferenceArgs(
                api_version="apps/v1", kind=kind, name=spec.name
            ),
            min_replicas=spec.replicas,
            max_replicas=spec.replica_ceiling,
            metrics=[
                MetricSpecArgs(
                    type="Resource",
                    resource=ResourceMetricSourceArgs(
                        name="cpu",
                        target=MetricTargetArgs(type="Utilization", average_utilization=70),
                    ),
                )
            ],
        ),
        opts=child,
    )


def _ingress_spec(app: AppSpec, spec: WorkloadSpec, ingress: IngressInfo) -> IngressSpecArgs:
    """One rule for the workload's host, routing exactly the paths its `Exposure` lists."""
    assert spec.exposure is not None
    backend = IngressBackendArgs(
        service=IngressServiceBackendArgs(
            name=spec.name, port=ServiceBackendPortArgs(name=spec.port_name)
        )
    )
    return IngressSpecArgs(
        ingress_class_name=ingress.class_name,
        rules=[
            IngressRuleArgs(
                host=_host(app, spec, ingress),
                http=HTTPIngressRuleValueArgs(
                    paths=[
                        HTTPIngressPathArgs(path=p.path, path_type=p.path_type, backend=backend)
                        for p in spec.exposure.paths
                    ]
                ),
            )
        ],
    )


# -- pod ------------------------------------------------------------------------------------------


def _pod_spec(
    app: AppSpec,
    spec: WorkloadSpec,
    selector: dict[str, str],
    secrets: AppSecrets | None,
    pull_secret: bool = False,
) -> PodSpecArgs:
    volumes, mounts = _volumes(spec, secrets)
    uid = spec.run_as_user
    return PodSpecArgs(
        service_account_name=spec.name,
        image_pull_secrets=[LocalObjectReferenceArgs(name=PULL_SECRET)] if pull_secret else None,
        automount_service_account_token=False,
        enable_service_links=False,
        security_context=PodSecurityContextArgs(
            run_as_non_root=True,
            run_as_user=uid,
            run_as_group=uid,
            fs_group=uid,
            seccomp_profile=SeccompProfileArgs(type="RuntimeDefault"),
        ),
        topology_spread_constraints=[
            TopologySpreadConstraintArgs(
                max_skew=1,
                topology_key="kubernetes.io/hostname",
                # Soft, so a one-node lab (kind, minikube) still runs every replica.
                when_unsatisfiable="ScheduleAnyway",
                label_selector=LabelSelectorArgs(match_labels=selector),
            )
        ],
        containers=[
            ContainerArgs(
                name=spec.name,
                image=spec.image,
                args=list(spec.args) or None,
                ports=[
                    ContainerPortArgs(name=spec.port_name, container_port=spec.port, protocol="TCP")
                ],
                env=_env(spec, secrets) or None,
                volume_mounts=mounts or None,
                resources=ResourceRequirementsArgs(
                    requests={
                        "cpu": spec.resources.cpu_request,
                        "memory": spec.resources.memory_request,
                    },
                    limits={"cpu": spec.resources.cpu_limit, "memory": spec.resources.memory_limit},
                ),
                readiness_probe=_probe(spec.readiness, spec, period=5),
                liveness_probe=_probe(spec.liveness, spec, period=10),
                startup_probe=_probe(spec.startup, spec, period=5, failures=30)
                if spec.startup
                else None,
                security_context=SecurityContextArgs(
                    run_as_non_root=True,
                    allow_privilege_escalation=False,
                    read_only_root_filesystem=spec.read_only_root_filesystem,
                    privileged=False,
                    capabilities=CapabilitiesArgs(drop=["ALL"]),
                    seccomp_profile=SeccompProfileArgs(type="RuntimeDefault"),
                ),
            )
        ],
        volumes=volumes or None,
    )


def _env(spec: WorkloadSpec, secrets: AppSecrets | None) -> list[EnvVarArgs]:
    """Secrets first, so plain settings may reference them with Kubernetes' $(VAR) syntax."""
    env = [
        EnvVarArgs(
            name=variable,
            value_from=EnvVarSourceArgs(
                secret_key_ref=SecretKeySelectorArgs(name=secrets.secret_name, key=key)
            ),
        )
        for variable, key in spec.secret_env.items()
        if secrets is not None
    ]
    env += [
        EnvVarArgs(
            name=variable,
            value_from=EnvVarSourceArgs(
                config_map_key_ref=ConfigMapKeySelectorArgs(name=spec.name, key=variable)
            ),
        )
        for variable in [*spec.env, *spec.config_env]
    ]
    return env


def _volumes(
    spec: WorkloadSpec, secrets: AppSecrets | None
) -> tuple[list[VolumeArgs], list[VolumeMountArgs]]:
    volumes: list[VolumeArgs] = []
    mounts: list[VolumeMountArgs] = []
    for index, path in enumerate(spec.writable_paths):
        volume = f"writable-{index}"
        volumes.append(
            VolumeArgs(name=volume, empty_dir=EmptyDirVolumeSourceArgs(size_limit="64Mi"))
        )
        mounts.append(VolumeMountArgs(name=volume, mount_path=path))
    files = [*spec.config_files, *spec.files]
    if files:
        volumes.append(
            VolumeArgs(
                name="files",
                config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                    name=spec.name, items=[KeyToPathArgs(key=f, path=f) for f in files]
                ),
            )
        )
        mounts.append(VolumeMountArgs(name="files", mount_path=spec.files_path, read_only=True))
    if spec.secret_files and secrets is not None:
        volumes.append(
            VolumeArgs(
                name="secret-files",
                secret=k8s.core.v1.SecretVolumeSourceArgs(
                    secret_name=secrets.secret_name,
                    default_mode=0o440,
                    items=[
                        KeyToPathArgs(key=source, path=target)
                        for target, source in spec.secret_files.items()
                    ],
                ),
            )
        )
        mounts.append(
            VolumeMountArgs(name="secret-files", mount_path=spec.secret_files_path, read_only=True)
        )
    if spec.storage is not None:
        mounts.append(VolumeMountArgs(name="data", mount_path=spec.storage.mount_path))
    return volumes, mounts


def _probe(probe: Probe, spec: WorkloadSpec, *, period: int, failures: int = 3) -> ProbeArgs:
    common = {"period_seconds": period, "timeout_seconds": 3, "failure_threshold": failures}
    if isinstance(probe, HttpProbe):
        return ProbeArgs(http_get=HTTPGetActionArgs(path=probe.path, port=spec.port_name), **common)
    if isinstance(probe, TcpProbe):
        return ProbeArgs(tcp_socket=TCPSocketActionArgs(port=spec.port_name), **common)
    assert isinstance(probe, ExecProbe)
    return ProbeArgs(exec_=ExecActionArgs(command=list(probe.command)), **common)


# -- network policy -------------------------------------------------------------------------------


def _baseline_policies(
    name: str, app: AppSpec, namespace: pulumi.Input[str], child: pulumi.ResourceOptions
) -> None:
    """Deny everything in the namespace, then let every pod resolve names through cluster DNS."""
    labels = _app_labels(app)
    k8s.networking.v1.NetworkPolicy(
        f"{name}-default-deny",
        metadata=ObjectMetaArgs(name="default-deny", namespace=namespace, labels=labels),
        spec=NetworkPolicySpecArgs(
            pod_selector=LabelSelectorArgs(), policy_types=["Ingress", "Egress"]
        ),
        opts=child,
    )
    k8s.networking.v1.NetworkPolicy(
        f"{name}-allow-dns",
        metadata=ObjectMetaArgs(name="allow-dns", namespace=namespace, labels=labels),
        spec=NetworkPolicySpecArgs(
            pod_selector=LabelSelectorArgs(),
            policy_types=["Egress"],
            egress=[
                NetworkPolicyEgressRuleArgs(
                    to=[
                        NetworkPolicyPeerArgs(
                            namespace_selector=LabelSelectorArgs(
                                match_labels={_NAMESPACE_NAME: "kube-system"}
                            ),
                            pod_selector=LabelSelectorArgs(match_labels={"k8s-app": "kube-dns"}),
                        )
                    ],
                    ports=[NetworkPolicyPortArgs(protocol=p, port=53) for p in ("UDP", "TCP")],
                )
            ],
        ),
        opts=child,
    )


def _workload_policy(
    app: AppSpec, spec: WorkloadSpec, selector: dict[str, str], ingress: IngressInfo | None
) -> NetworkPolicySpecArgs:
    """Admit exactly the declared callers; allow exactly the declared callees."""
    callers = [w for w in app.workloads if spec.name in w.talks_to]
    peers = [
        NetworkPolicyPeerArgs(pod_selector=LabelSelectorArgs(match_labels=_selector(app, w)))
        for w in callers
    ]
    if spec.exposure is not None and ingress is not None:
        peers.append(
            NetworkPolicyPeerArgs(
                namespace_selector=LabelSelectorArgs(
                    match_labels={_NAMESPACE_NAME: ingress.namespace}
                )
            )
        )
    port = [NetworkPolicyPortArgs(protocol="TCP", port=spec.port)]
    egress = [
        NetworkPolicyEgressRuleArgs(
            to=[
                NetworkPolicyPeerArgs(
                    pod_selector=LabelSelectorArgs(
                        match_labels=_selector(app, app.workload(target))
                    )
                )
            ],
            ports=[NetworkPolicyPortArgs(protocol="TCP", port=app.workload(target).port)],
        )
        for target in spec.talks_to
    ]
    return NetworkPolicySpecArgs(
        pod_selector=LabelSelectorArgs(match_labels=selector),
        policy_types=["Ingress", "Egress"],
        ingress=[NetworkPolicyIngressRuleArgs(from_=peers, ports=port)] if peers else None,
        egress=egress or None,
    )


# -- naming ---------------------------------------------------------------------------------------


def _app_labels(app: AppSpec) -> dict[str, str]:
    return {"app.kubernetes.io/part-of": app.name, "app.kubernetes.io/managed-by": MANAGED_BY}


def _workload_labels(app: AppSpec, spec: WorkloadSpec) -> dict[str, str]:
    return {**_app_labels(app), "app.kubernetes.io/name": spec.name}


def _selector(app: AppSpec, spec: WorkloadSpec) -> dict[str, str]:
    return {"app.kubernetes.io/name": spec.name, "app.kubernetes.io/part-of": app.name}


def _host(app: AppSpec, spec: WorkloadSpec, ingress: IngressInfo) -> str:
    assert spec.exposure is not None
    return f"{spec.exposure.host_prefix or app.name}.{ingress.domain}"


def _checksum(data: Mapping[str, str]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
