"""Run a Pulumi program under the mock engine and record everything a real deploy would send.

One recorder serves the tests and `hybrid-kube render`: `run_program` installs a
`RecordingMonitor`, runs the program to completion and returns a `Recording` with every resource
registration (type, name, inputs, parent, dependencies, provider, options, which inputs were
secret) and the stack outputs.

Values that only a real deploy knows (ids, generated passwords, kubeconfigs, remote command
output) come from `_STAND_INS`: clearly marked placeholders, never plausible invented data, with
just enough structure for the program to run (a kubeconfig placeholder is valid base64, say).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi.runtime.resource
from pulumi.runtime import mocks, rpc, settings
from pulumi.runtime.proto import resource_pb2, source_pb2
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

PLACEHOLDER_PREFIX = "(known after deploy:"


def placeholder(what: str) -> str:
    """The text that stands for a value only a real deploy produces."""
    return f"{PLACEHOLDER_PREFIX} {what})"


SECRET_PLACEHOLDER = "(secret)"


@dataclass
class RecordedResource:
    """One RegisterResource request, as the engine would have received it."""

    type: str
    name: str
    urn: str
    parent: str
    custom: bool
    provider: str
    inputs: dict[str, Any]
    secret_inputs: frozenset[str]
    dependencies: frozenset[str]
    property_dependencies: dict[str, frozenset[str]]
    delete_before_replace: bool
    ignore_changes: tuple[str, ...]
    replace_on_changes: tuple[str, ...]
    additional_secret_outputs: tuple[str, ...]
    protect: bool
    retain_on_delete: bool
    deleted_with: str
    aliases: tuple[str, ...] = ()
    """URNs this resource was known by before (`aliases` option), as the engine resolves them."""

    def manifest(self) -> dict[str, Any]:
        """The inputs as the object a Kubernetes API server would receive.

        The mock engine hands numbers over as floats; integral ones go back to ints.
        """
        return _integral_floats_to_ints(self.inputs)

    @property
    def provider_urn(self) -> str:
        """The URN part of the provider reference (`urn::id`)."""
        return self.provider.rsplit("::", 1)[0] if self.provider else ""


@dataclass
class StackOutput:
    value: Any
    secret: bool
    known: bool


@dataclass
class Recording:
    """Everything one program run declared, in registration order."""

    resources: list[RecordedResource] = field(default_factory=list)
    outputs: dict[str, StackOutput] = field(default_factory=dict)
    component_outputs: dict[str, tuple[dict[str, Any], frozenset[str]]] = field(
        default_factory=dict
    )
    """URN -> (outputs a component registered, which of them are secret)."""

    def of_type(self, type_: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == type_]

    def named(self, name: str) -> RecordedResource:
        matches = [r for r in self.resources if r.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources named {name!r}")
        return matches[0]

    def by_urn(self) -> dict[str, RecordedResource]:
        return {r.urn: r for r in self.resources}

    def children(self, parent: RecordedResource) -> list[RecordedResource]:
        return [r for r in self.resources if r.parent == parent.urn]

    def descendants(self, ancestor: RecordedResource) -> Iterator[RecordedResource]:
        for child in self.children(ancestor):
            yield child
            yield from self.descendants(child)

    def kubernetes_objects(self) -> list[RecordedResource]:
        """Every Kubernetes API object (not Helm releases, not providers)."""
        return [
            r
            for r in self.resources
            if r.type.startswith("kubernetes:")
            and not r.type.startswith(("kubernetes:helm", "kubernetes:yaml"))
            and r.type != "pulumi:providers:kubernetes"
        ]


# -- placeholders for values only a real deploy knows ----------------------------------------


def _pem(label: str, what: str) -> str:
    """A PEM block whose base64 body is the placeholder text: parses as PEM, is not a key."""
    body = base64.b64encode(placeholder(what).encode()).decode()
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n"


def _defined_in(module: str, function: str, *extra: Any) -> Callable[[Any], dict[str, Any]]:
    """A stand-in that lives beside the target it serves, imported only when first needed."""

    def stand_in(args: Any) -> dict[str, Any]:
        return getattr(importlib.import_module(module), function)(args, *extra)

    return stand_in


_STAND_INS: dict[str, Callable[[mocks.MockResourceArgs], dict[str, Any]]] = {
    "random:index/randomPassword:RandomPassword": lambda a: {
        "result": placeholder(f"random password {a.name}"),
        "bcryptHash": placeholder(f"bcrypt hash {a.name}"),
    },
    "random:index/randomString:RandomString": lambda a: {
        "result": placeholder(f"random string {a.name}")
    },
    "random:index/randomBytes:RandomBytes": lambda a: {
        # Valid base64 of the right length, so code that decodes it runs; zero bytes, not random.
        "base64": base64.b64encode(bytes(int(a.inputs.get("length", 32)))).decode(),
        "hex": "00" * int(a.inputs.get("length", 32)),
    },
    "random:index/randomId:RandomId": lambda a: {
        "hex": "00" * int(a.inputs.get("byteLength", 8)),
        "b64Std": base64.b64encode(bytes(int(a.inputs.get("byteLength", 8)))).decode(),
        "b64Url": base64.urlsafe_b64encode(bytes(int(a.inputs.get("byteLength", 8)))).decode(),
        "dec": "0",
    },
    "command:remote:Command": lambda a: {
        "stdout": placeholder(f"stdout of {a.name}"),
        "stderr": "",
    },
    # --- aks --- Names Azure echoes from the `*Name` inputs; the rest is built, lazily, in
    # components/aks/stand_ins.py (it needs more than a line).
    "azure-native:resources:ResourceGroup": lambda a: {
        "name": a.inputs.get("resourceGroupName") or placeholder(f"name of {a.name}"),
    },
    "azure-native:network:VirtualNetwork": lambda a: {
        "name": a.inputs.get("virtualNetworkName") or placeholder(f"name of {a.name}"),
    },
    "azure-native:containerregistry:Registry": lambda a: {
        "name": a.inputs.get("registryName") or placeholder(f"name of {a.name}"),
        "loginServer": placeholder(f"login server of {a.name}"),
    },
    "azure-native:containerservice:ManagedCluster": _defined_in(
        "components.aks.stand_ins", "managed_cluster"
    ),
    # --- kubeadm --- pulumi-tls outputs: PEM blocks whose base64 body is the placeholder text,
    # so code that decodes PEM (the CA discovery hash, kubeconfig data) runs; not keys.
    "tls:index/privateKey:PrivateKey": lambda a: {
        "privateKeyPem": _pem("PRIVATE KEY", f"private key {a.name}"),
        "publicKeyPem": _pem("PUBLIC KEY", f"public key {a.name}"),
        "publicKeyOpenssh": placeholder(f"OpenSSH public key {a.name}"),
        "publicKeyFingerprintSha256": placeholder(f"fingerprint of {a.name}"),
    },
    "tls:index/selfSignedCert:SelfSignedCert": lambda a: {
        "certPem": _pem("CERTIFICATE", f"certificate {a.name}"),
    },
    "tls:index/locallySignedCert:LocallySignedCert": lambda a: {
        "certPem": _pem("CERTIFICATE", f"certificate {a.name}"),
    },
    "tls:index/certRequest:CertRequest": lambda a: {
        "certRequestPem": _pem("CERTIFICATE REQUEST", f"certificate request {a.name}"),
    },
}

_CALL_STAND_INS: dict[str, Callable[[mocks.MockCallArgs], dict[str, Any]]] = {
    # --- aks ---
    "azure-native:containerservice:listManagedClusterAdminCredentials": _defined_in(
        "components.aks.stand_ins", "credentials", "admin"
    ),
    "azure-native:containerservice:listManagedClusterUserCredentials": _defined_in(
        "components.aks.stand_ins", "credentials", "user"
    ),
    "azure-native:authorization:getClientConfig": lambda a: {
        "clientId": placeholder("client id of the deploying identity"),
        "objectId": placeholder("object id of the deploying identity"),
        "subscriptionId": placeholder("subscription id"),
        "tenantId": placeholder("tenant id"),
    },
}


class StandInMocks(mocks.Mocks):
    """Echo inputs as outputs, and fill in what only the provider would compute."""

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        state = dict(args.inputs)
        stand_in = _STAND_INS.get(args.typ)
        if stand_in is not None:
            state.update(stand_in(args))
        return f"{args.name}-id", state

    def call(self, args: mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        stand_in = _CALL_STAND_INS.get(args.token)
        # No check failures: `[]`, not None, which MockMonitor.Invoke would try to iterate.
        return (stand_in(args) if stand_in else {}), []


class RecordingMonitor(mocks.MockMonitor):
    """A MockMonitor that keeps the whole RegisterResourceRequest, which `Mocks` never sees."""

    def __init__(self, mock_impl: mocks.Mocks):
        super().__init__(mock_impl)
        self.recording = Recording()

    def RegisterResourceOutputs(self, request):  # gRPC method name
        _ensure_event_loop()
        outputs = rpc.deserialize_properties(request.outputs)
        secret = frozenset(k for k, v in outputs.items() if _contains_secret(v))
        plain = {k: _unwrap_secrets(v) for k, v in outputs.items()}
        self.recording.component_outputs[request.urn] = (plain, secret)
        return super().RegisterResourceOutputs(request)

    def _alias_urns(self, request) -> tuple[str, ...]:
        """Each alias of the request as a URN: given whole, or a spec whose unset parts are the
        resource's own (name, type, parent), as the engine fills them in."""
        urns = list(request.aliasURNs)
        for alias in request.aliases:
            if alias.urn:
                urns.append(alias.urn)
                continue
            spec = alias.spec
            parent = "" if spec.noParent else (spec.parentUrn or request.parent)
            urns.append(self.make_urn(parent, spec.type or request.type, spec.name or request.name))
        return tuple(dict.fromkeys(urns))

    def RegisterResource(self, request):
        if request.type == "pulumi:pulumi:Stack":
            return super().RegisterResource(request)
        _ensure_event_loop()
        urn = self.make_urn(request.parent, request.type, request.name)
        # Deserialized once: `_record` copies what it keeps, the stand-ins only read.
        inputs = rpc.deserialize_properties(request.object)
        self.recording.resources.append(_record(request, urn, self._alias_urns(request), inputs))
        resource_id, state = self.mocks.new_resource(
            mocks.MockResourceArgs(
                typ=request.type,
                name=request.name,
                inputs=inputs,
                provider=request.provider,
                resource_id=request.importId,
                custom=request.custom or False,
            )
        )
        # The engine marks these outputs secret (the SDKs ask for it, e.g. a password's
        # `result`); the stock mock monitor does not, which would hide leaks in tests.
        for key in request.additionalSecretOutputs:
            if key in state and not rpc.is_rpc_secret(state[key]):
                state[key] = rpc.wrap_rpc_secret(state[key])
        self.resources[urn] = mocks.MockMonitor.ResourceRegistration(urn, resource_id, state)
        return resource_pb2.RegisterResourceResponse(
            urn=urn, id=resource_id, object=_sync_await(rpc.serialize_properties(state, {}))
        )


def _record(
    request, urn: str, aliases: tuple[str, ...] = (), inputs: dict[str, Any] | None = None
) -> RecordedResource:
    if inputs is None:
        inputs = rpc.deserialize_properties(request.object)
    secret: set[str] = set()
    plain: dict[str, Any] = {}
    for key, value in inputs.items():
        if _contains_secret(value):
            secret.add(key)
        plain[key] = _unwrap_secrets(value)
    return RecordedResource(
        type=request.type,
        name=request.name,
        urn=urn,
        parent=request.parent,
        custom=request.custom,
        provider=request.provider,
        inputs=plain,
        secret_inputs=frozenset(secret),
        dependencies=frozenset(request.dependencies),
        property_dependencies={
            key: frozenset(deps.urns) for key, deps in request.propertyDependencies.items()
        },
        delete_before_replace=request.deleteBeforeReplace,
        ignore_changes=tuple(request.ignoreChanges),
        replace_on_changes=tuple(request.replaceOnChanges),
        additional_secret_outputs=tuple(request.additionalSecretOutputs),
        protect=request.protect,
        retain_on_delete=request.retainOnDelete,
        deleted_with=request.deletedWith,
        aliases=aliases,
    )


def _integral_floats_to_ints(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral_floats_to_ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral_floats_to_ints(v) for v in value]
    return value


def _contains_secret(value: Any) -> bool:
    if rpc.is_rpc_secret(value):
        return True
    if isinstance(value, dict):
        return any(_contains_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_secret(v) for v in value)
    return False


def _unwrap_secrets(value: Any) -> Any:
    if rpc.is_rpc_secret(value):
        return _unwrap_secrets(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: _unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap_secrets(v) for v in value]
    return value


# -- running a program -----------------------------------------------------------------------


def run_program(
    program: Callable[[], None],
    config: Mapping[str, str] | None = None,
    secret_keys: list[str] | None = None,
    *,
    project: str = "hybrid-kube",
    stack: str = "test",
    preview: bool = False,
) -> Recording:
    """Run `program` under the mock engine with the given engine-style config; return what it did.

    `config` uses full keys (`hybrid-kube:target`) and string values (objects as JSON), exactly
    as the Pulumi engine passes them. Each call starts from a clean runtime and event loop.
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        settings.reset_options(project=project, stack=stack, preview=preview)
        pulumi.runtime.set_all_config(dict(config or {}), list(secret_keys or []))
        monitor = RecordingMonitor(StandInMocks())
        mocks.set_mocks(
            monitor.mocks, project=project, stack=stack, preview=preview, monitor=monitor
        )
        with _no_source_positions():
            _sync_await(_run_and_collect(program, monitor.recording))
        return monitor.recording
    finally:
        pulumi.runtime.set_all_config({}, [])
        settings.reset_options()
        loop.close()
        asyncio.set_event_loop(None)


_EMPTY_STACK_TRACE = source_pb2.StackTrace()


@contextlib.contextmanager
def _no_source_positions() -> Iterator[None]:
    """Skip the SDK's source position of each registration (a `traceback.extract_stack` per
    resource, about a tenth of a run): the engine shows it in diagnostics, a `Recording` does not
    keep it."""
    module = pulumi.runtime.resource
    original = getattr(module, "_get_stack_trace", None)
    if original is None:  # another SDK version: nothing to skip
        yield
        return
    module._get_stack_trace = lambda: _EMPTY_STACK_TRACE
    try:
        yield
    finally:
        module._get_stack_trace = original


async def _run_and_collect(program: Callable[[], None], recording: Recording) -> None:
    from pulumi.runtime.stack import run_pulumi_func

    await run_pulumi_func(program)
    root = settings.get_root_resource()
    for name, value in (root.outputs if root is not None else {}).items():
        output = pulumi.Output.from_input(value)
        recording.outputs[name] = StackOutput(
            value=await output.future(with_unknowns=True),
            secret=await output.is_secret(),
            known=await output.is_known(),
        )
