"""Preflight of the `existing` target: the cluster behind the stack's kubeconfig, read-only.

The kubeconfig must parse and hold the context; the API must answer `/version` with a minor in
this project's range; then what the cluster already has is compared with what the stack declares
(`existing.capabilities`), which decides what the platform layer adds (components/platform.py):
a second default StorageClass, a second metrics-server or a second ingress controller are found
here instead of by Helm halfway through `pulumi up`.

The API is reached with the kubeconfig's own credentials through the standard library: CA data or
file, client certificate and key (data written to a private temporary directory), bearer token or
token file, basic auth, or an exec credential plugin, run as kubectl runs it (ExecCredential on
stdout). Legacy `auth-provider` entries are not supported (a warning says so). Only GET requests.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import ssl
import subprocess
import tempfile
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..settings import Settings
from ..settings.existing import ExistingSettings
from ..settings.releases import SUPPORTED_MINORS
from . import Finding, Progress

# Every request preflight makes: GET only, on these paths.
API_PATHS = {
    "version": "/version",
    "storageclasses": "/apis/storage.k8s.io/v1/storageclasses",
    "metrics": "/apis/metrics.k8s.io",
    "ingressclasses": "/apis/networking.k8s.io/v1/ingressclasses",
    "metrics-server": "/apis/apps/v1/namespaces/kube-system/deployments/metrics-server",
}
TIMEOUT_SECONDS = 10
DEFAULT_STORAGE_CLASS = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
)
DEFAULT_INGRESS_CLASS = "ingressclass.kubernetes.io/is-default-class"
TRAEFIK_CLASS = "traefik"  # components/platform.py INGRESS_CLASS
CAPABILITIES = "hybrid-kube:existing.capabilities"


class KubeconfigError(Exception):
    """The kubeconfig cannot be used; the message says why, `fix` what to do."""

    def __init__(self, check: str, message: str, fix: str):
        super().__init__(message)
        self.check, self.fix = check, fix


@dataclass
class Connection:
    """How to reach the API: server URL, TLS context, headers."""

    server: str
    context: ssl.SSLContext | None
    headers: dict[str, str] = field(default_factory=dict)
    notes: list[Finding] = field(default_factory=list)

    def get(self, path: str) -> tuple[int, Any]:
        """GET `path`; (HTTP status, parsed JSON or None). Raises OSError when unreachable.

        Like client-go, and unlike urllib's defaults: no proxy (the API is reached directly, so
        loopback clusters stay on loopback and credentials never pass through a proxy) and no
        redirects (urllib would resend the Authorization header to wherever a 3xx points).
        """
        request = urllib.request.Request(
            self.server.rstrip("/") + path, headers={"Accept": "application/json", **self.headers}
        )
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),
            _NoRedirect(),
            urllib.request.HTTPSHandler(context=self.context),
        )
        try:
            with opener.open(request, timeout=TIMEOUT_SECONDS) as response:
                return response.status, _json(response.read())
        except urllib.error.HTTPError as error:
            return error.code, _json(error.read())


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse every redirect: the Kubernetes API never needs one, and following it would send
    the kubeconfig's credentials to another address."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise urllib.error.HTTPError(
            req.full_url, code, f"refused a redirect to {newurl}", headers, fp
        )


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


# -- kubeconfig -------------------------------------------------------------------------------


def _named(config: dict, kind: str, name: str) -> dict | None:
    for entry in config.get(kind) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return entry.get(kind.removesuffix("s")) or {}
    return None


def load_kubeconfig(existing: ExistingSettings) -> tuple[str, dict, dict, dict, Path]:
    """(context name, context, cluster, user, file) or `KubeconfigError`."""
    path = existing.kubeconfig_path()
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise KubeconfigError(
            "existing.kubeconfig", f"cannot read {path}: {error.strerror}", _kubeconfig_fix()
        ) from None
    except yaml.YAMLError as error:
        raise KubeconfigError(
            "existing.kubeconfig", f"{path} is not YAML: {str(error).splitlines()[0]}",
            _kubeconfig_fix(),
        ) from None  # fmt: skip
    if not isinstance(config, dict) or not isinstance(config.get("contexts"), list):
        raise KubeconfigError(
            "existing.kubeconfig",
            f"{path} is YAML but no kubeconfig (no list of contexts)",
            _kubeconfig_fix(),
        )
    name = existing.context or config.get("current-context") or ""
    context = _named(config, "contexts", name) if name else None
    if context is None:
        names = [str(c.get("name")) for c in config["contexts"] if isinstance(c, dict)]
        raise KubeconfigError(
            "existing.context",
            f"context {name!r} is not in {path} (contexts: {', '.join(names) or 'none'})"
            if name
            else f"{path} has no current-context and the stack names none",
            "set hybrid-kube:existing.context to one of the contexts "
            "(`kubectl config get-contexts`)",
        )
    cluster = _named(config, "clusters", str(context.get("cluster", "")))
    if cluster is None or not cluster.get("server"):
        raise KubeconfigError(
            "existing.context",
            f"context {name!r} refers to cluster {context.get('cluster')!r}, which is not in "
            f"{path} or has no server",
            "fix the kubeconfig (`kubectl config view`), or re-export it from the cluster",
        )
    user = _named(config, "users", str(context.get("user", ""))) or {}
    return name, context, cluster, user, path


def _kubeconfig_fix() -> str:
    return (
        "point hybrid-kube:existing.kubeconfig (or KUBECONFIG) at the cluster's kubeconfig, "
        "e.g. the file `kind get kubeconfig` or `minikube update-context` writes"
    )


def _data_or_file(entry: dict, key: str, base: Path, private: Path) -> str | None:
    """The path of a PEM given as `<key>-data` (written into `private`) or as `<key>` (a file
    relative to the kubeconfig's directory, as kubectl resolves it)."""
    data = entry.get(f"{key}-data")
    if data:
        target = private / key
        target.write_bytes(base64.b64decode(data))
        target.chmod(0o600)
        return str(target)
    path = entry.get(key)
    return str(base.parent / Path(path).expanduser()) if path else None


def connect(cluster: dict, user: dict, path: Path, private: Path) -> Connection:
    server = str(cluster["server"])
    headers: dict[str, str] = {}
    notes: list[Finding] = []
    if "exec" in user:
        user = {**user, **_exec_credential(user["exec"], cluster)}
    if "auth-provider" in user:
        notes.append(
            Finding(
                "existing.credentials",
                "cluster",
                "warn",
                "the user uses a legacy auth-provider, which preflight does not run",
                "use an exec credential plugin (e.g. kubelogin) in the kubeconfig",
            )
        )
    token = user.get("token")
    if not token and user.get("tokenFile"):
        token = Path(user["tokenFile"]).expanduser().read_text(encoding="utf-8").strip()
    if token:
        token = str(token).strip()
        if not _HEADER_SAFE.fullmatch(token):
            # Never echoed: it is a credential.
            raise KubeconfigError(
                "existing.credentials",
                "the user's token contains characters an HTTP header cannot carry (a line "
                "break or a control character)",
                "copy the token into the kubeconfig again, on one line",
            )
        headers["Authorization"] = f"Bearer {token}"
    elif user.get("username") and user.get("password"):
        pair = f"{user['username']}:{user['password']}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    context = None
    if server.startswith("https://"):
        ca = _data_or_file(cluster, "certificate-authority", path, private)
        if cluster.get("insecure-skip-tls-verify"):
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        elif ca:
            # As kubectl: the kubeconfig's CA only, not the system's CAs on top of it.
            context = ssl.create_default_context(cafile=ca)
        else:
            context = ssl.create_default_context()
        if cluster.get("tls-server-name"):
            if not ca:
                raise KubeconfigError(
                    "existing.credentials",
                    "the cluster sets tls-server-name without certificate-authority data; "
                    "preflight verifies such a server only against the kubeconfig's own CA",
                    "add the cluster's CA to the kubeconfig (certificate-authority-data)",
                )
            # urllib cannot send another name (SNI); the certificate is still verified against
            # the kubeconfig's CA alone.
            context.check_hostname = False
        cert = _data_or_file(user, "client-certificate", path, private)
        key = _data_or_file(user, "client-key", path, private)
        if cert:
            context.load_cert_chain(cert, key)
    return Connection(server, context, headers, notes)


# Printable ASCII only: what an HTTP header value may carry.
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")


def _exec_credential(spec: dict, cluster: dict) -> dict:
    """Run an exec credential plugin as kubectl does; its token or client cert/key as user
    fields (client.authentication.k8s.io ExecCredential, `status`)."""
    env = {**os.environ, **{e["name"]: e["value"] for e in spec.get("env") or []}}
    env["KUBERNETES_EXEC_INFO"] = json.dumps(
        {
            "apiVersion": spec.get("apiVersion", "client.authentication.k8s.io/v1"),
            "kind": "ExecCredential",
            "spec": {"interactive": False},
        }
    )
    try:
        done = subprocess.run(
            [spec["command"], *(spec.get("args") or [])],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise KubeconfigError(
            "existing.credentials",
            f"the exec credential plugin {spec.get('command')!r} did not run: {error}",
            spec.get("installHint") or "install the plugin the kubeconfig names",
        ) from None
    status = (_json(done.stdout.encode()) or {}).get("status") or {}
    if done.returncode != 0 or not status:
        raise KubeconfigError(
            "existing.credentials",
            f"the exec credential plugin {spec.get('command')!r} gave no credential: "
            f"{done.stderr.strip()[-300:] or 'exit code ' + str(done.returncode)}",
            "run the plugin by hand (e.g. log in again), then preflight again",
        )
    fields = {}
    if status.get("token"):
        fields["token"] = status["token"]
    if status.get("clientCertificateData"):
        fields["client-certificate-data"] = base64.b64encode(
            status["clientCertificateData"].encode()
        ).decode()
        fields["client-key-data"] = base64.b64encode(status["clientKeyData"].encode()).decode()
    return fields


# -- the run -------------------------------------------------------------------------------------


def run(settings: Settings, stack: str, progress: Progress) -> list[Finding]:
    existing = settings.existing or ExistingSettings()
    progress("kubeconfig")
    try:
        name, _, cluster, user, path = load_kubeconfig(existing)
    except KubeconfigError as error:
        return [Finding(error.check, "cluster", "fail", str(error), error.fix)]
    found = [
        Finding("existing.kubeconfig", "cluster", "ok", f"{path} parses"),
        Finding("existing.context", "cluster", "ok", f"context {name!r} -> {cluster['server']}"),
    ]
    with tempfile.TemporaryDirectory(prefix="hybrid-kube-preflight-") as private:
        os.chmod(private, 0o700)
        try:
            connection = connect(cluster, user, path, Path(private))
        except KubeconfigError as error:
            return [*found, Finding(error.check, "cluster", "fail", str(error), error.fix)]
        except (OSError, ssl.SSLError, ValueError, KeyError, TypeError, AttributeError) as error:
            # The type only: a message could quote a credential.
            return [
                *found,
                Finding(
                    "existing.credentials",
                    "cluster",
                    "fail",
                    "the kubeconfig's user or cluster entry cannot be used "
                    f"({type(error).__name__}: a field is missing or malformed)",
                    "re-export the kubeconfig from the cluster",
                ),
            ]
        found += connection.notes
        progress(f"GET {cluster['server']}/version")
        version = _get(connection, "version")
        api = _api(version, cluster["server"])
        found.append(api)
        if api.status == "fail":
            return found
        found.append(_server_version(version[1]))
        progress("cluster capabilities")
        with ThreadPoolExecutor(max_workers=4) as pool:
            keys = ("storageclasses", "metrics", "ingressclasses", "metrics-server")
            answers = dict(zip(keys, pool.map(lambda k: _get(connection, k), keys), strict=True))
    declared, platform = existing.capabilities, settings.platform
    found.append(_storage(answers["storageclasses"], declared.default_storage_class, platform))
    found.append(
        _metrics(answers["metrics"], answers["metrics-server"], declared.metrics_server, platform)
    )
    found.append(_ingress(answers["ingressclasses"], platform.ingress))
    found.append(_load_balancer(declared.load_balancer, platform.load_balancer))
    return found


def _get(connection: Connection, key: str) -> tuple[int, Any] | OSError:
    try:
        return connection.get(API_PATHS[key])
    except (OSError, ssl.SSLError) as error:
        return error
    except (ValueError, http.client.HTTPException) as error:
        return OSError(f"the request could not be sent ({type(error).__name__})")


def _api(answer: tuple[int, Any] | OSError, server: str) -> Finding:
    if isinstance(answer, OSError):
        reason = getattr(answer, "reason", answer)
        return Finding(
            "existing.api",
            "cluster",
            "fail",
            f"the API at {server} does not answer: {reason}",
            "start the cluster (e.g. `minikube start`, `kind` container, Docker Desktop's "
            "Kubernetes) or fix the server address in the kubeconfig",
        )
    status, body = answer
    if status in (401, 403):
        return Finding(
            "existing.api",
            "cluster",
            "fail",
            f"the API refused the kubeconfig's credentials (HTTP {status})",
            "refresh the credentials (re-export the kubeconfig, or log in again)",
        )
    if status != 200 or not isinstance(body, dict):
        return Finding(
            "existing.api", "cluster", "fail", f"GET /version answered HTTP {status}",
            "check that the server in the kubeconfig is a Kubernetes API server",
        )  # fmt: skip
    return Finding("existing.api", "cluster", "ok", f"answers at {server}")


def _server_version(body: dict) -> Finding:
    text = str(body.get("gitVersion", ""))
    match = re.match(r"^v?(\d+)\.(\d+)", text)
    if match:
        minor = f"{match.group(1)}.{match.group(2)}"
    else:  # no gitVersion: the separate fields (minor may read "35+" on some providers)
        minor = f"{body.get('major', '')}.{str(body.get('minor', '')).rstrip('+')}"
    supported = f"{SUPPORTED_MINORS[0]}-{SUPPORTED_MINORS[-1]}"
    if minor in SUPPORTED_MINORS:
        return Finding("existing.version", "cluster", "ok", f"{text or minor} (supported)")

    def key(value: str) -> tuple[int, ...]:
        return tuple(int(p) for p in value.split(".") if p.isdigit())

    if key(minor) and key(minor) < key(SUPPORTED_MINORS[0]):
        return Finding(
            "existing.version",
            "cluster",
            "fail",
            f"the cluster runs {text or minor}, older than this project's range {supported}",
            f"upgrade the cluster (or create a new one with {SUPPORTED_MINORS[-1]}, e.g. "
            f"`minikube start --kubernetes-version=v{SUPPORTED_MINORS[-1]}.0`)",
        )
    return Finding(
        "existing.version",
        "cluster",
        "warn",
        f"the cluster runs {text or minor}, outside the range this project checked ({supported})",
        "use a cluster with a minor in the range, or expect add-ons not checked for it",
    )


def _items(answer: tuple[int, Any] | OSError) -> list[dict] | None:
    if isinstance(answer, OSError) or answer[0] != 200 or not isinstance(answer[1], dict):
        return None
    return [i for i in answer[1].get("items") or [] if isinstance(i, dict)]


def _annotated(item: dict, keys: tuple[str, ...]) -> bool:
    annotations = (item.get("metadata") or {}).get("annotations") or {}
    return any(annotations.get(k) == "true" for k in keys)


def _name(item: dict) -> str:
    return str((item.get("metadata") or {}).get("name", "?"))


def _storage(answer, declared: bool, platform) -> Finding:
    check, subject = "existing.storage", "default StorageClass"
    items = _items(answer)
    if items is None:
        return _unreadable(check, subject, answer)
    defaults = [_name(i) for i in items if _annotated(i, DEFAULT_STORAGE_CLASS)]
    key = f"{CAPABILITIES}.defaultStorageClass"
    if defaults and declared:
        return Finding(check, subject, "ok", f"found {', '.join(defaults)}, as declared")
    if defaults and platform.storage:
        return Finding(
            check,
            subject,
            "fail",
            f"the cluster has a default StorageClass ({', '.join(defaults)}) but the stack "
            "declares none, so the platform would add a second default (local-path)",
            f"set {key}: true",
        )
    if not defaults and declared:
        return Finding(
            check,
            subject,
            "fail",
            "no StorageClass is marked default, but the stack declares one: volume claims "
            "without a class would stay Pending",
            f"set {key}: false (the platform adds local-path), or mark a class default",
        )
    if not defaults and not platform.storage:
        return Finding(
            check, subject, "warn", "no default StorageClass and platform.storage is off",
            "set hybrid-kube:platform.storage: true, or mark a class default",
        )  # fmt: skip
    return Finding(check, subject, "ok", "none found; the platform adds one (local-path)")


def _metrics(api, deployment, declared: bool, platform) -> Finding:
    check, subject = "existing.metrics", "metrics.k8s.io"
    if isinstance(api, OSError):
        return _unreadable(check, subject, api)
    served = api[0] == 200
    addon = not isinstance(deployment, OSError) and deployment[0] == 200
    where = " by kube-system/metrics-server (minikube's addon)" if addon else ""
    key = f"{CAPABILITIES}.metricsServer"
    if served and not declared and platform.metrics_server:
        return Finding(
            check,
            subject,
            "fail",
            f"the metrics API is already served{where}, but the stack does not declare it, so "
            "the platform would install a second metrics-server, whose APIService clashes",
            f"set {key}: true",
        )
    if not served and declared:
        return Finding(
            check,
            subject,
            "warn",
            f"the stack declares the metrics API, but /apis/metrics.k8s.io answers HTTP {api[0]}"
            + (" (kube-system/metrics-server exists but does not serve it yet)" if addon else ""),
            f"enable it (`minikube addons enable metrics-server`), or set {key}: false",
        )
    if served:
        return Finding(check, subject, "ok", f"served{where}, as declared")
    return Finding(check, subject, "ok", "not served; the platform adds metrics-server")


def _ingress(answer, wanted: bool) -> Finding:
    check, subject = "existing.ingress", "IngressClass"
    items = _items(answer)
    if items is None:
        return _unreadable(check, subject, answer)
    names = [_name(i) for i in items]
    if not names or not wanted:
        return Finding(check, subject, "ok", f"classes found: {', '.join(names) or 'none'}")
    if TRAEFIK_CLASS in names:
        return Finding(
            check,
            subject,
            "fail",
            f"an IngressClass {TRAEFIK_CLASS!r} already exists (e.g. k3s's Traefik); the "
            "platform's Traefik would clash with it",
            "remove the cluster's Traefik, or set hybrid-kube:platform.ingress: false",
        )
    defaults = [_name(i) for i in items if _annotated(i, (DEFAULT_INGRESS_CLASS,))]
    return Finding(
        check,
        subject,
        "warn",
        f"the cluster has ingress classes ({', '.join(names)}); Traefik would be a second "
        "controller"
        + (f", and {', '.join(defaults)} takes Ingresses that name no class" if defaults else ""),
        "fine if intended (apps name the traefik class); else disable the other controller "
        "(e.g. `minikube addons disable ingress`)",
    )


def _load_balancer(declared: bool, wanted: bool) -> Finding:
    return Finding(
        "existing.loadbalancer",
        "LoadBalancer Services",
        "warn",
        "whether LoadBalancer Services get an address cannot be checked without creating one; "
        f"the stack declares loadBalancer: {str(declared).lower()}"
        + ("" if declared or not wanted else " (Traefik gets a NodePort Service)"),
        "check by hand: kind needs cloud-provider-kind, minikube `minikube tunnel`; Docker "
        f"Desktop serves them; set {CAPABILITIES}.loadBalancer accordingly",
    )


def _unreadable(check: str, subject: str, answer) -> Finding:
    what = answer if isinstance(answer, OSError) else f"HTTP {answer[0]}"
    return Finding(
        check,
        subject,
        "warn",
        f"could not read it: {what}",
        "give the kubeconfig's user read access (e.g. cluster-admin on a local cluster)",
    )
