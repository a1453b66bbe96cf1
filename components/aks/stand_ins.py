"""Mock-engine stand-ins for what only Azure computes (registered in components/recording.py).

Each value is a `placeholder(...)`, never a plausible invented id or secret. Where the program
must parse a value (the kubeconfig), the structure is real and only the leaves are placeholders.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from pulumi.runtime import mocks

from ..recording import placeholder


def managed_cluster(a: mocks.MockResourceArgs) -> dict[str, Any]:
    """AKS outputs: cluster and kubelet identities, OIDC issuer URL, FQDN, add-on identities,
    the running Kubernetes version (a placeholder: no upgrade advice without a real one)."""
    state: dict[str, Any] = {
        "name": a.inputs.get("resourceName") or placeholder(f"name of {a.name}"),
        "fqdn": placeholder(f"API server FQDN of {a.name}"),
        "nodeResourceGroup": placeholder(f"node resource group of {a.name}"),
        "currentKubernetesVersion": placeholder(f"Kubernetes version {a.name} runs"),
        "identity": {
            **(a.inputs.get("identity") or {}),
            "principalId": placeholder(f"principal id of {a.name}"),
            "tenantId": placeholder(f"tenant id of {a.name}"),
        },
        "identityProfile": {
            "kubeletidentity": {
                "clientId": placeholder(f"kubelet identity client id of {a.name}"),
                "objectId": placeholder(f"kubelet identity object id of {a.name}"),
                "resourceId": placeholder(f"kubelet identity resource id of {a.name}"),
            }
        },
    }
    addons = a.inputs.get("addonProfiles") or {}
    if addons:
        state["addonProfiles"] = {
            key: {
                **profile,
                "identity": {
                    "clientId": placeholder(f"client id of add-on {key}"),
                    "objectId": placeholder(f"object id of add-on {key}"),
                    "resourceId": placeholder(f"resource id of add-on {key}"),
                },
            }
            if profile.get("enabled")
            else profile
            for key, profile in addons.items()
        }
    if (a.inputs.get("oidcIssuerProfile") or {}).get("enabled"):
        state["oidcIssuerProfile"] = {
            **a.inputs["oidcIssuerProfile"],
            "issuerURL": placeholder(f"OIDC issuer URL of {a.name}"),
        }
    return state


def credentials(a: mocks.MockCallArgs, kind: str) -> dict[str, Any]:
    """`list_managed_cluster_{admin,user}_credentials`: base64 kubeconfigs as AKS returns them.

    Admin credentials carry a client certificate. User credentials of an Entra ID cluster asked
    for in `exec` format carry a kubelogin exec section in device-code mode, as AKS writes it.
    """
    cluster = str(a.args.get("resourceName") or "cluster")
    if kind == "user" and a.args.get("format") == "exec":
        user: dict[str, Any] = {
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "command": "kubelogin",
                "args": [
                    "get-token",
                    "--environment",
                    "AzurePublicCloud",
                    "--server-id",
                    placeholder("AKS Entra server application id"),
                    "--client-id",
                    placeholder("AKS Entra client application id"),
                    "--tenant-id",
                    placeholder("tenant id"),
                    "--login",
                    "devicecode",
                ],
                "provideClusterInfo": False,
            }
        }
    else:
        user = {
            "client-certificate-data": placeholder(f"{kind} client certificate of {cluster}"),
            "client-key-data": placeholder(f"{kind} client key of {cluster}"),
            "token": placeholder(f"{kind} token of {cluster}"),
        }
    user_name = f"cluster{kind.capitalize()}_{a.args.get('resourceGroupName')}_{cluster}"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster,
                "cluster": {
                    "certificate-authority-data": placeholder(f"cluster CA of {cluster}"),
                    # A reserved, never-resolving domain (RFC 6761): a URL, clearly not real.
                    "server": f"https://{cluster.lower()}.hcp.example.invalid:443",
                },
            }
        ],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": user_name}}],
        "current-context": cluster,
        "users": [{"name": user_name, "user": user}],
    }
    text = json.dumps(config, indent=2)  # JSON is YAML, which kubectl and the provider read
    return {
        "kubeconfigs": [
            {
                "name": f"cluster{kind.capitalize()}",
                "value": base64.b64encode(text.encode()).decode(),
            }
        ]
    }
