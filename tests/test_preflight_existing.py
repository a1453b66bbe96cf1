"""`preflight` of the existing target against a fake Kubernetes API on 127.0.0.1 (plain HTTP).

The fake answers GET only, from a dict of path -> JSON that each test shapes; any other method is
recorded and refused, so the tests also see that preflight only reads.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.preflight import Finding, failed
from components.preflight import existing as preflight
from components.settings import load_settings

GOOD: dict[str, Any] = {
    "/version": {"major": "1", "minor": "35", "gitVersion": "v1.35.1"},
    "/apis/storage.k8s.io/v1/storageclasses": {
        "items": [
            {
                "metadata": {
                    "name": "standard",
                    "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
                }
            }
        ]
    },
    "/apis/networking.k8s.io/v1/ingressclasses": {"items": []},
}
MINIKUBE_METRICS = {
    "/apis/metrics.k8s.io": {"kind": "APIGroup", "name": "metrics.k8s.io"},
    "/apis/apps/v1/namespaces/kube-system/deployments/metrics-server": {
        "kind": "Deployment",
        "metadata": {"name": "metrics-server", "namespace": "kube-system"},
    },
}


class FakeApi:
    def __init__(self) -> None:
        self.answers: dict[str, Any] = dict(GOOD)
        self.requests: list[tuple[str, str, str | None]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                api.requests.append(("GET", self.path, self.headers.get("Authorization")))
                body = api.answers.get(self.path)
                if isinstance(body, tuple):  # (status, body)
                    self._send(*body)
                else:
                    self._send(200 if body is not None else 404, body or {"kind": "Status"})

            def do_POST(self) -> None:
                api.requests.append(("POST", self.path, None))
                self._send(405, {"kind": "Status"})

            do_PUT = do_PATCH = do_DELETE = do_POST

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi()
    yield fake
    fake.stop()
    assert {method for method, _, _ in fake.requests} <= {"GET"}
    assert {path for _, path, _ in fake.requests} <= set(preflight.API_PATHS.values())


def kubeconfig(tmp_path: Path, server: str, user: dict | None = None, context: str = "dev") -> Path:
    path = tmp_path / "preflight-kubeconfig"
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "contexts": [{"name": context, "context": {"cluster": "c", "user": "u"}}],
        "current-context": context,
        "users": [{"name": "u", "user": user or {"token": "preflight-token"}}],
    }
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def run(path: Path, context: str = "dev", **capabilities: Any) -> list[Finding]:
    settings = load_settings(
        {
            "target": "existing",
            "existing": {
                "kubeconfig": str(path),
                "context": context,
                "capabilities": capabilities,
            },
        },
        catalog={},
    )
    return preflight.run(settings, "local", lambda line: None)


def by_check(findings: list[Finding]) -> dict[str, Finding]:
    result = {f.check: f for f in findings}
    assert len(result) == len(findings), findings
    return result


def test_good_cluster_with_a_token(api, tmp_path):
    findings = by_check(run(kubeconfig(tmp_path, api.url)))
    assert {c: f.status for c, f in findings.items()} == {
        "existing.kubeconfig": "ok",
        "existing.context": "ok",
        "existing.api": "ok",
        "existing.version": "ok",
        "existing.storage": "ok",
        "existing.metrics": "ok",
        "existing.ingress": "ok",
        "existing.loadbalancer": "warn",  # cannot be probed without creating a Service
    }
    assert "v1.35.1" in findings["existing.version"].reason
    assert {auth for _, _, auth in api.requests} == {"Bearer preflight-token"}


def test_kubeconfig_that_is_not_yaml(tmp_path):
    path = tmp_path / "broken"
    path.write_text("clusters: [unclosed\n", encoding="utf-8")
    findings = run(path)
    assert len(findings) == 1 and failed(findings)
    assert findings[0].check == "existing.kubeconfig" and "is not YAML" in findings[0].reason


def test_missing_context_lists_the_ones_there(api, tmp_path):
    findings = run(kubeconfig(tmp_path, api.url), context="prod")
    assert len(findings) == 1 and failed(findings)
    assert "context 'prod' is not in" in findings[0].reason and "dev" in findings[0].reason
    assert api.requests == []


def test_api_down(tmp_path):
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    findings = by_check(run(kubeconfig(tmp_path, f"http://127.0.0.1:{port}")))
    assert findings["existing.api"].status == "fail"
    assert "does not answer" in findings["existing.api"].reason
    assert "existing.version" not in findings


def test_old_server_version(api, tmp_path):
    api.answers["/version"] = {"major": "1", "minor": "29", "gitVersion": "v1.29.4"}
    finding = by_check(run(kubeconfig(tmp_path, api.url)))["existing.version"]
    assert finding.status == "fail" and "older than this project's range" in finding.reason


def test_refused_credentials(api, tmp_path):
    api.answers["/version"] = (401, {"kind": "Status", "reason": "Unauthorized"})
    findings = by_check(run(kubeconfig(tmp_path, api.url)))
    assert findings["existing.api"].status == "fail"
    assert "refused the kubeconfig's credentials (HTTP 401)" in findings["existing.api"].reason


def test_minikube_metrics_server_addon_not_declared(api, tmp_path):
    api.answers.update(MINIKUBE_METRICS)
    finding = by_check(run(kubeconfig(tmp_path, api.url)))["existing.metrics"]
    assert finding.status == "fail"
    assert "minikube's addon" in finding.reason
    assert finding.fix == "set hybrid-kube:existing.capabilities.metricsServer: true"
    declared = by_check(run(kubeconfig(tmp_path, api.url), metricsServer=True))
    assert declared["existing.metrics"].status == "ok"


def test_declared_metrics_api_that_is_missing(api, tmp_path):
    finding = by_check(run(kubeconfig(tmp_path, api.url), metricsServer=True))["existing.metrics"]
    assert finding.status == "warn" and "HTTP 404" in finding.reason


def test_default_storage_class_against_the_declaration(api, tmp_path):
    undeclared = by_check(run(kubeconfig(tmp_path, api.url), defaultStorageClass=False))
    assert undeclared["existing.storage"].status == "fail"
    assert "second default" in undeclared["existing.storage"].reason
    api.answers["/apis/storage.k8s.io/v1/storageclasses"] = {"items": []}
    missing = by_check(run(kubeconfig(tmp_path, api.url)))["existing.storage"]
    assert missing.status == "fail" and "Pending" in missing.reason


def test_ingress_classes(api, tmp_path):
    api.answers["/apis/networking.k8s.io/v1/ingressclasses"] = {
        "items": [
            {
                "metadata": {
                    "name": "nginx",
                    "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"},
                }
            }
        ]
    }
    other = by_check(run(kubeconfig(tmp_path, api.url)))["existing.ingress"]
    assert (
        other.status == "warn" and "second controller" in other.reason and "nginx" in other.reason
    )
    api.answers["/apis/networking.k8s.io/v1/ingressclasses"] = {
        "items": [{"metadata": {"name": "traefik"}}]
    }
    clash = by_check(run(kubeconfig(tmp_path, api.url)))["existing.ingress"]
    assert clash.status == "fail"


def test_exec_credential_plugin_is_run_like_kubectl(api, tmp_path):
    plugin = tmp_path / "plugin.py"
    plugin.write_text(
        "import json, os\n"
        "info = json.loads(os.environ['KUBERNETES_EXEC_INFO'])\n"
        "assert info['kind'] == 'ExecCredential'\n"
        "print(json.dumps({'apiVersion': info['apiVersion'], 'kind': 'ExecCredential',\n"
        "                  'status': {'token': os.environ['PLUGIN_TOKEN']}}))\n",
        encoding="utf-8",
    )
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": [str(plugin)],
            "env": [{"name": "PLUGIN_TOKEN", "value": "from-plugin"}],
        }
    }
    findings = by_check(run(kubeconfig(tmp_path, api.url, user=user)))
    assert findings["existing.api"].status == "ok"
    assert {auth for _, _, auth in api.requests} == {"Bearer from-plugin"}


def test_a_redirect_is_refused_and_the_token_goes_nowhere_else(api, tmp_path):
    elsewhere = FakeApi()
    try:
        api.answers["/version"] = None  # replaced below by a redirect handler
        target = f"{elsewhere.url}/steal"

        def redirect(handler) -> None:
            api.requests.append(("GET", handler.path, handler.headers.get("Authorization")))
            handler.send_response(302)
            handler.send_header("Location", target)
            handler.send_header("Content-Length", "0")
            handler.end_headers()

        api.server.RequestHandlerClass.do_GET = redirect
        findings = by_check(run(kubeconfig(tmp_path, api.url)))
        assert findings["existing.api"].status == "fail"
        assert elsewhere.requests == []  # nothing, let alone the token, reached the other server
    finally:
        elsewhere.stop()


def test_proxy_settings_are_ignored_so_loopback_stays_on_loopback(api, tmp_path, monkeypatch):
    # A proxy on a closed local port: urllib's defaults would send the request (and token) there.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    for variable in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(variable, f"http://127.0.0.1:{closed}")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    findings = by_check(run(kubeconfig(tmp_path, api.url)))
    assert findings["existing.api"].status == "ok"


def test_a_token_that_cannot_be_a_header_fails_without_being_printed(api, tmp_path):
    secret = "first-line\nsecond-line-SENTINEL"
    findings = run(kubeconfig(tmp_path, api.url, user={"token": secret}))
    assert failed(findings)
    text = json.dumps([f.as_dict() for f in findings])
    assert "SENTINEL" not in text and "first-line" not in text
    assert api.requests == []


def test_a_malformed_exec_entry_is_one_finding_not_a_traceback(api, tmp_path):
    findings = run(kubeconfig(tmp_path, api.url, user={"exec": {"args": ["x"]}}))
    assert [f.check for f in findings if f.status == "fail"] == ["existing.credentials"]
