"""What a `pulumi up` would do when a stack file changes: record the program before and after an
edit, then diff the two recordings the way the engine and the providers would.

    from transitions import plan, record

    before = record("onprem-lab")
    after = record("onprem-lab", overrides={"hybrid-kube:kubeadm": {...}})
    step = plan(before, after)
    step.created, step.deleted, step.replaced, step.updated, step.host_actions
    step.deleted_before("onprem-cp3-node", "onprem-cp3-join")

The rules are the engine's and the providers' own, read at their source (versions as pinned in
pyproject.toml):

- a resource is matched by URN or one of its aliases; one only in `after` is created, one only
  in `before` deleted;
- it is replaced when its provider says so: `triggers` of a pulumi-command Command
  (pulumi-command v1.2.1 provider/pkg/provider/common/inputs.go, `replaceOnChanges`); for
  Kubernetes objects the provider's force-new fields (pulumi-kubernetes v4.32.0
  provider/pkg/provider/diff.go: `metadata.name/namespace`, a StatefulSet's
  `volumeClaimTemplates`, a Secret's data, ...), delete-before-replace when the object keeps its
  name (provider.go); Helm releases on `name`/`namespace` (helm_release.go); the Kubernetes
  provider on `clusterIdentifier` when set, else when the kubeconfig's active cluster changes
  (provider.go DiffConfig); `replaceOnChanges` resource options; a replaced provider replaces
  every resource created through it; a delete-before-replace replaces (and deletes first) every
  resource whose replace-forcing inputs come from it (the engine's dependent replacements);
  `ignoreChanges` paths keep their old values before any of this is decided;
- Azure properties that ARM does not change in place are listed in `ARM_IMMUTABLE`: an edit of
  one plans as an update that ARM refuses at deploy time, reported in `refused_in_place`;
- a Command whose inputs changed (not its triggers) runs its `create` again on its host (no
  `update` command is set anywhere in this project); a deleted one runs its `delete`, with the
  script and connection stored in the state, i.e. those of `before`;
- a resource protected in the state that would be deleted, or protected in the state *and* in
  the program that would be replaced, makes the preview fail: nothing changes (`protected`,
  `refused`). A replacement of a resource not yet protected in the state goes ahead, even when
  the program now protects it (pulumi/pulumi pkg/resource/deploy/step_generator.go: a replace is
  refused only when old and new are both protected);
- deletes of resources that left the program run after every create and update, in reverse
  dependency order (a resource before whatever it depends on, children before parents), and
  independent deletes may run at the same time.

Recordings are cached per (stack, overrides, secrets): a baseline is recorded once per session.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from support import run_main

from components.recording import RecordedResource, Recording

COMMAND = "command:remote:Command"
K8S_PROVIDER = "pulumi:providers:kubernetes"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"

# pulumi-kubernetes v4.32.0 provider/pkg/provider/diff.go, for the kinds this project declares.
_K8S_FORCE_NEW: dict[str, tuple[str, ...]] = {
    "kubernetes:apps/v1:StatefulSet": (
        "spec.podManagementPolicy",
        "spec.revisionHistoryLimit",
        "spec.selector",
        "spec.serviceName",
        "spec.volumeClaimTemplates",
    ),
    "kubernetes:apps/v1:Deployment": ("spec.selector",),
    "kubernetes:apps/v1:DaemonSet": ("spec.selector",),
    # Secrets and ConfigMaps are immutable to the provider unless enableSecretMutable /
    # enableConfigMapMutable is set on it (neither is, here).
    "kubernetes:core/v1:Secret": ("type", "stringData", "data"),
    "kubernetes:core/v1:ConfigMap": ("binaryData", "data"),
    "kubernetes:core/v1:PersistentVolumeClaim": (
        "spec.accessModes",
        "spec.selector",
        "spec.storageClassName",
        "spec.volumeName",
    ),
    "kubernetes:core/v1:Service": ("spec.clusterIP",),
    "kubernetes:storage.k8s.io/v1:StorageClass": ("parameters", "provisioner"),
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": ("roleRef",),
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding": ("roleRef",),
}
_K8S_METADATA_FORCE_NEW = ("metadata.name", "metadata.namespace")

# Azure properties that force a new resource (pulumi-azure-native marks them; REFERENCES.md,
# "AKS with pulumi-azure-native 3.x"): the engine plans a replacement.
ARM_FORCE_NEW: dict[str, tuple[str, ...]] = {
    "azure-native:resources:ResourceGroup": ("location", "resourceGroupName"),
    "azure-native:containerservice:ManagedCluster": (
        "location",
        "resourceGroupName",
        "resourceName",
        "dnsPrefix",
        "networkProfile",
    ),
    # pulumi-azure-native provider/pkg/gen/replacement.go: a pool is force-new on these.
    "azure-native:containerservice:AgentPool": (
        "resourceGroupName",
        "resourceName",
        "agentPoolName",
        "vmSize",
        "gpuInstanceProfile",
    ),
}

# Properties ARM refuses to change on an existing resource although the SDK plans an in-place
# update: the edit fails minutes into `pulumi up` (AKS: "Changing property ... is not allowed").
ARM_IMMUTABLE: dict[str, tuple[str, ...]] = {
    "azure-native:containerservice:AgentPool": (
        "osDiskType",
        "enableEncryptionAtHost",
        "osDiskSizeGB",
        "availabilityZones",
        "maxPods",
        "osType",
        "vnetSubnetID",
    ),
    "azure-native:containerservice:ManagedCluster": tuple(
        f"agentPoolProfiles[0].{key}"
        for key in (
            "vmSize",
            "enableEncryptionAtHost",
            "osDiskType",
            "osDiskSizeGB",
            "availabilityZones",
            "maxPods",
            "osType",
            "vnetSubnetID",
            "name",
        )
    ),
}


@dataclass(frozen=True)
class HostAction:
    """A script a remote command runs on a host because of the edit."""

    resource: str
    host: str
    script: str
    action: str
    """`create` (a new step, a re-run, or the create half of a replacement) or `delete`."""


@dataclass
class Plan:
    """What `pulumi up` does to go from `before` to `after`; see the module docstring."""

    before: Recording
    after: Recording
    created: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    replaced: dict[str, str] = field(default_factory=dict)
    """name -> why (the input or rule that forces the replacement)."""
    updated: list[str] = field(default_factory=list)
    """Names whose inputs changed without a replacement."""
    refused_in_place: dict[str, str] = field(default_factory=dict)
    """name -> the property ARM refuses to change on an existing resource."""
    protected: list[str] = field(default_factory=list)
    """Protected resources the edit would delete or replace: the preview fails on them, so the
    whole `pulumi up` is refused before anything changes."""
    host_actions: list[HostAction] = field(default_factory=list)
    """Scripts run on hosts, in an order the engine could use: the program's creates, re-runs and
    replacements first (registration order), then the deletes (reverse dependency order)."""

    @property
    def refused(self) -> bool:
        """True when the engine refuses the whole update (a protected resource would go)."""
        return bool(self.protected)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.deleted or self.replaced or self.updated)

    def deleted_before(self, first: str, then: str) -> bool:
        """True when the engine must finish deleting `first` before it starts deleting `then`:
        `first` depends on `then` (directly or not) in the state the deletes are planned from."""
        graph = _graph(self.before)
        return _urn(self.before, then) in _reachable(graph, _urn(self.before, first))

    def created_before(self, first: str, then: str) -> bool:
        """True when `then` waits for `first` (directly or not) in the new program."""
        graph = _graph(self.after)
        return _urn(self.after, first) in _reachable(graph, _urn(self.after, then))

    def may_run_concurrently(self, a: str, b: str) -> bool:
        """True when neither delete waits for the other (the engine may run them in parallel)."""
        return not (self.deleted_before(a, b) or self.deleted_before(b, a))

    def actions(self, action: str | None = None, host: str | None = None) -> list[HostAction]:
        return [
            a
            for a in self.host_actions
            if (action is None or a.action == action) and (host is None or a.host == host)
        ]

    def summary(self) -> dict[str, Any]:
        """A compact, comparable description (used by the docs table test)."""
        return {
            "created": sorted(self.created),
            "deleted": sorted(self.deleted),
            "replaced": sorted(self.replaced),
            "updated": sorted(self.updated),
            "refused_in_place": sorted(self.refused_in_place),
            "protected": sorted(self.protected),
            "deletes_on_hosts": [
                f"{a.script} on {a.host}" for a in self.host_actions if a.action == "delete"
            ],
        }


# -- recording ----------------------------------------------------------------------------------


def record(
    stack: str,
    overrides: Mapping[str, Any] | None = None,
    secrets: Mapping[str, Any] | None = None,
) -> Recording:
    """The whole program for `stacks/Pulumi.<stack>.yaml` with `overrides`, recorded once."""
    return _record(stack, _key(overrides), _key(secrets))


def _key(values: Mapping[str, Any] | None) -> str:
    return json.dumps(dict(values or {}), sort_keys=True)


@functools.lru_cache(maxsize=64)
def _record(stack: str, overrides: str, secrets: str) -> Recording:
    return run_main(stack, overrides=json.loads(overrides), secrets=json.loads(secrets))


# -- planning -----------------------------------------------------------------------------------


def plan(before: Recording, after: Recording) -> Plan:
    """Diff two recordings as the engine would; see the module docstring for the rules."""
    result = Plan(before=before, after=after)
    old = before.by_urn()
    matched: dict[str, RecordedResource] = {}  # new URN -> its old self (by URN or alias)
    replaced_providers: set[str] = set()
    for resource in after.resources:  # registration order: providers before their users
        previous = _previous(resource, old)
        if previous is None:
            result.created.append(resource.name)
            continue
        matched[resource.urn] = previous
        why = _replace_reason(previous, _ignoring_changes(previous, resource), replaced_providers)
        if why is not None:
            result.replaced[resource.name] = why
            if resource.type.startswith("pulumi:providers:"):
                replaced_providers.add(resource.urn)
            continue
        if _inputs_differ(previous, resource):
            result.updated.append(resource.name)
            refused = _refused_in_place(previous, resource)
            if refused is not None:
                result.refused_in_place[resource.name] = refused
    _dependent_replacements(result, matched)
    kept = {r.urn for r in matched.values()}
    result.deleted = [r.name for r in before.resources if r.urn not in kept]
    # A direct replacement is refused when protected before and after; a dependent replacement
    # (below) when protected before (step_generator.go: `dependentResource.Protect`).
    replaced_protected = {
        r.name
        for r in after.resources
        if r.name in result.replaced
        and (r.protect or result.replaced[r.name].startswith(_DEPENDENT))
    }
    result.protected = [
        r.name
        for r in before.resources
        if r.protect and (r.urn not in kept or r.name in replaced_protected)
    ]
    result.host_actions = _host_actions(result, old, matched)
    return result


def _previous(
    resource: RecordedResource, old: Mapping[str, RecordedResource]
) -> RecordedResource | None:
    """The resource's old self: same URN, else one of its aliases (a rename or a new type)."""
    for urn in (resource.urn, *resource.aliases):
        if urn in old:
            return old[urn]
    return None


def _deletes_first(resource: RecordedResource) -> bool:
    """Whether a replacement deletes the old resource before creating the new one: asked for
    with `deleteBeforeReplace`, or a Kubernetes object that keeps its explicit name (two cannot
    coexist; pulumi-kubernetes provider.go Diff)."""
    if resource.delete_before_replace:
        return True
    kubernetes_object = resource.type.startswith("kubernetes:") and resource.type != HELM_RELEASE
    return kubernetes_object and bool(_get(resource.inputs, "metadata.name"))


def _replace_roots(resource: RecordedResource) -> set[str]:
    """Top-level inputs whose change (or unknown value) makes the provider replace it."""
    if resource.type == COMMAND:
        paths: Iterable[str] = ("triggers",)
    elif resource.type == K8S_PROVIDER:
        paths = ("clusterIdentifier",)
    elif resource.type == HELM_RELEASE:
        paths = ("name", "namespace")
    elif resource.type.startswith("kubernetes:"):
        paths = (*_K8S_METADATA_FORCE_NEW, *_K8S_FORCE_NEW.get(resource.type, ()))
    else:
        paths = ARM_FORCE_NEW.get(resource.type, ())
    return {_PATH_PART.findall(p)[0][0] for p in (*paths, *resource.replace_on_changes)}


_DEPENDENT = "its replace-forcing input comes from"


def _dependent_replacements(result: Plan, matched: Mapping[str, RecordedResource]) -> None:
    """Delete-before-replace also replaces, and deletes first, every resource whose
    replace-forcing inputs come from the replaced one: the engine re-diffs them with those inputs
    unknown (pulumi/pulumi pkg/resource/deploy/step_generator.go,
    calculateDependentReplacements). Plain `depends_on` does not count."""
    by_urn = {r.urn: r for r in result.after.resources}
    pending = [
        by_urn[urn]
        for urn in by_urn
        if by_urn[urn].name in result.replaced and _deletes_first(by_urn[urn])
    ]
    while pending:
        replaced = pending.pop()
        for resource in result.after.resources:
            if resource.urn not in matched or resource.name in result.replaced:
                continue
            roots = _replace_roots(resource)
            if any(
                replaced.urn in deps and key in roots
                for key, deps in resource.property_dependencies.items()
            ):
                result.replaced[resource.name] = (
                    f"{_DEPENDENT} {replaced.name}, which is replaced delete-before-replace"
                )
                if resource.name in result.updated:
                    result.updated.remove(resource.name)
                pending.append(resource)


def _replace_reason(
    old: RecordedResource, new: RecordedResource, replaced_providers: set[str]
) -> str | None:
    if new.provider_urn and new.provider_urn in replaced_providers:
        return f"its provider {_last(new.provider_urn)} is replaced"
    for path in new.replace_on_changes:
        if _get(old.inputs, path) != _get(new.inputs, path):
            return f"replaceOnChanges: {path}"
    if new.type == COMMAND:
        if old.inputs.get("triggers") != new.inputs.get("triggers"):
            return "triggers changed"
        return None
    if new.type == K8S_PROVIDER:
        return _provider_replace_reason(old.inputs, new.inputs)
    if new.type == HELM_RELEASE:
        paths: Iterable[str] = ("name", "namespace")
    elif new.type.startswith("kubernetes:"):
        paths = (*_K8S_METADATA_FORCE_NEW, *_K8S_FORCE_NEW.get(new.type, ()))
    else:
        paths = ARM_FORCE_NEW.get(new.type, ())
    for path in paths:
        if _get(old.inputs, path) != _get(new.inputs, path):
            return f"{path} changed"
    return None


def _ignoring_changes(old: RecordedResource, new: RecordedResource) -> RecordedResource:
    """`new` as its provider diffs it: the engine first resets every `ignoreChanges` path to its
    old value (pulumi/pulumi pkg/resource/deploy/step_generator.go, processIgnoreChanges)."""
    if not new.ignore_changes:
        return new
    inputs = copy.deepcopy(new.inputs)
    for path in new.ignore_changes:
        _set(inputs, path, _get(old.inputs, path))
    return dataclasses.replace(new, inputs=inputs)


def _provider_replace_reason(old: Mapping[str, Any], new: Mapping[str, Any]) -> str | None:
    """pulumi-kubernetes DiffConfig: the identity decides when both sides set one."""
    key = "clusterIdentifier"
    if key in old and key in new:
        return f"{key} changed" if old[key] != new[key] else None
    if _active_cluster(old) != _active_cluster(new):
        return "the kubeconfig's active cluster changed"
    return None


def _active_cluster(inputs: Mapping[str, Any]) -> Any:
    import yaml

    try:
        config = yaml.safe_load(inputs.get("kubeconfig") or "") or {}
    except yaml.YAMLError:
        return inputs.get("kubeconfig")
    if not isinstance(config, dict):
        return inputs.get("kubeconfig")
    context_name = inputs.get("context") or config.get("current-context")
    contexts = {c.get("name"): c.get("context", {}) for c in config.get("contexts") or []}
    cluster_name = inputs.get("cluster") or contexts.get(context_name, {}).get("cluster")
    clusters = {c.get("name"): c.get("cluster") for c in config.get("clusters") or []}
    return clusters.get(cluster_name)


def _refused_in_place(old: RecordedResource, new: RecordedResource) -> str | None:
    for path in ARM_IMMUTABLE.get(new.type, ()):
        if _get(old.inputs, path) != _get(new.inputs, path):
            return path
    return None


def _inputs_differ(old: RecordedResource, new: RecordedResource) -> bool:
    ignored = set(new.ignore_changes)
    keys = (set(old.inputs) | set(new.inputs)) - ignored
    if any(old.inputs.get(k) != new.inputs.get(k) for k in keys):
        # A change only under an ignored nested path is no change.
        return _differs_outside(old.inputs, new.inputs, ignored)
    return False


def _differs_outside(old: Any, new: Any, ignored: set[str], prefix: str = "") -> bool:
    if prefix and prefix in ignored:
        return False
    if isinstance(old, dict) and isinstance(new, dict):
        return any(
            _differs_outside(old.get(k), new.get(k), ignored, f"{prefix}.{k}" if prefix else k)
            for k in set(old) | set(new)
        )
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return any(
            _differs_outside(a, b, ignored, f"{prefix}[{i}]")
            for i, (a, b) in enumerate(zip(old, new, strict=True))
        )
    return old != new


# -- host actions ---------------------------------------------------------------------------------


def _host_actions(
    result: Plan, old: Mapping[str, RecordedResource], matched: Mapping[str, RecordedResource]
) -> list[HostAction]:
    actions: list[HostAction] = []
    deleted: set[str] = set()  # old URNs whose delete has been emitted
    late: set[str] = set()  # replaced create-before-delete: the old one goes at the end
    order = _reverse_dependency_order(result.before)
    for resource in _dependency_order(result.after):
        previous = matched.get(resource.urn)
        if resource.name in result.replaced and previous is not None:
            if _deletes_first(resource):
                # The engine deletes this one and its dependent replacements, dependents first.
                group = {previous.urn} | {
                    matched[r.urn].urn
                    for r in result.after.resources
                    if r.urn in matched
                    and r.name in result.replaced
                    and _deletes_first(r)
                    and previous.urn in _reachable(_graph(result.before), matched[r.urn].urn)
                }
                for urn in order:
                    if urn in group and urn not in deleted:
                        deleted.add(urn)
                        if _runs_delete(old[urn]):
                            actions.append(_action(old[urn], "delete"))
            else:
                late.add(previous.urn)
            if resource.type == COMMAND:
                actions.append(_action(resource, "create"))
        elif resource.type == COMMAND and (
            resource.name in result.created or resource.name in result.updated
        ):
            actions.append(_action(resource, "create"))
    kept = {r.urn for r in matched.values()}
    for urn in order:
        if urn in deleted or (urn in kept and urn not in late):
            continue
        if _runs_delete(old[urn]):
            actions.append(_action(old[urn], "delete"))
    return actions


def _runs_delete(resource: RecordedResource) -> bool:
    return resource.type == COMMAND and bool(resource.inputs.get("delete"))


def _action(resource: RecordedResource, action: str) -> HostAction:
    return HostAction(
        resource=resource.name,
        host=str((resource.inputs.get("connection") or {}).get("host", "")),
        script=_script(resource.inputs.get("stdin") or ""),
        action=action,
    )


_STEP = re.compile(r"^# hybrid-kube step: (\S+)", re.MULTILINE)


def _script(stdin: str) -> str:
    match = _STEP.search(stdin)
    return match.group(1) if match else "(inline)"


# -- graphs ---------------------------------------------------------------------------------------


_GRAPHS: dict[int, tuple[Recording, dict[str, frozenset[str]]]] = {}


def _graph(recording: Recording) -> dict[str, frozenset[str]]:
    """Each resource's URN -> what it waits for: dependencies, parent, provider, deletedWith."""
    cached = _GRAPHS.get(id(recording))
    if cached is not None and cached[0] is recording:
        return cached[1]
    graph: dict[str, frozenset[str]] = {}
    for r in recording.resources:
        edges = set(r.dependencies)
        for deps in r.property_dependencies.values():
            edges |= deps
        if r.parent:
            edges.add(r.parent)
        if r.provider_urn:
            edges.add(r.provider_urn)
        if r.deleted_with:
            edges.add(r.deleted_with)
        graph[r.urn] = frozenset(edges)
    _GRAPHS[id(recording)] = (recording, graph)
    return graph


def _reachable(graph: Mapping[str, frozenset[str]], start: str) -> set[str]:
    seen: set[str] = set()
    stack = list(graph.get(start, ()))
    while stack:
        urn = stack.pop()
        if urn in seen:
            continue
        seen.add(urn)
        stack.extend(graph.get(urn, ()))
    return seen


def _reverse_dependency_order(recording: Recording) -> list[str]:
    """URNs with every resource before the ones it depends on (dependents deleted first)."""
    graph = _graph(recording)
    return [urn for urn in reversed(_postorder(recording)) if urn in graph]


def _dependency_order(recording: Recording) -> list[RecordedResource]:
    """Resources with every one after what it depends on (the order creates may take)."""
    by_urn = {r.urn: r for r in recording.resources}
    return [by_urn[urn] for urn in _postorder(recording) if urn in by_urn]


def _postorder(recording: Recording) -> list[str]:
    """URNs, each after everything it waits for; ties by URN.

    Not registration order: resources registered from inside `apply` callbacks register in
    whatever order their outputs resolve, which varies between runs of the same program.
    """
    graph = _graph(recording)
    order: list[str] = []
    done: set[str] = set()

    def visit(urn: str) -> None:
        if urn in done:
            return
        done.add(urn)
        for dependency in sorted(graph.get(urn, ())):
            visit(dependency)
        order.append(urn)

    for urn in sorted(graph):
        visit(urn)
    return order


# -- small helpers --------------------------------------------------------------------------------


def _urn(recording: Recording, name: str) -> str:
    return recording.named(name).urn


def _last(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _set(value: Any, path: str, new: Any) -> None:
    """Set `a.b[0].c` inside nested dicts/lists where every parent exists."""
    parts = [name or int(index) for name, index in _PATH_PART.findall(path)]
    for part in parts[:-1]:
        value = (
            value.get(part)
            if isinstance(value, dict)
            else (value[part] if isinstance(value, list) and part < len(value) else None)
        )
        if value is None:
            return
    last = parts[-1]
    in_list = isinstance(value, list) and isinstance(last, int) and last < len(value)
    if isinstance(value, dict) or in_list:
        value[last] = new


def _get(value: Any, path: str) -> Any:
    """`a.b[0].c` inside nested dicts/lists; None where missing."""
    for name, index in _PATH_PART.findall(path):
        if name:
            value = value.get(name) if isinstance(value, dict) else None
        else:
            i = int(index)
            value = value[i] if isinstance(value, list) and i < len(value) else None
    return value
