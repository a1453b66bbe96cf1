"""The cluster's kubeconfig: fetched with the credentials invoke, decoded, made non-interactive.

Without Entra ID the cluster has local accounts, and the *admin* credentials (a client
certificate bound to cluster-admin) are what the Kubernetes provider needs to create namespaces
and cluster-scoped objects. With Entra ID, local accounts are disabled, admin credentials fail,
and the *user* credentials in `exec` format are the only kind left: they call `kubelogin`, which
AKS sets to device-code login. `pulumi up` cannot answer a device-code prompt, so the exec
section is rewritten the way `kubelogin convert-kubeconfig -l azurecli` does it: the token comes
from the Azure CLI session of whoever runs Pulumi (`az login`), who must be in an admin group.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import pulumi
import yaml
from pulumi_azure_native import containerservice

from ..cluster import secret_kubeconfig

KUBELOGIN_API_VERSION = "client.authentication.k8s.io/v1beta1"


def fetch_kubeconfig(
    resource_group_name: pulumi.Input[str],
    cluster_name: pulumi.Input[str],
    *,
    entra: bool,
    parent: pulumi.Resource,
) -> pulumi.Output[str]:
    """The kubeconfig as a secret Output; admin credentials unless Entra ID is on (see above)."""
    opts = pulumi.InvokeOutputOptions(parent=parent)
    if entra:
        result = containerservice.list_managed_cluster_user_credentials_output(
            resource_group_name=resource_group_name,
            resource_name=cluster_name,
            format="exec",
            opts=opts,
        )
    else:
        result = containerservice.list_managed_cluster_admin_credentials_output(
            resource_group_name=resource_group_name, resource_name=cluster_name, opts=opts
        )
    # The SDK does not mark the credentials secret: do it before anything reads them.
    kubeconfigs = pulumi.Output.secret(result.kubeconfigs)
    return secret_kubeconfig(kubeconfigs.apply(lambda items: decode(items, azure_cli=entra)))


def decode(kubeconfigs: Sequence[Any] | None, *, azure_cli: bool) -> str:
    """The first returned kubeconfig, base64-decoded; kubelogin switched to Azure CLI login."""
    if not kubeconfigs:
        raise ValueError("AKS returned no kubeconfig for the cluster")
    first = kubeconfigs[0]
    value = first["value"] if isinstance(first, dict) else first.value
    text = base64.b64decode(value).decode("utf-8")
    return use_azure_cli_login(text) if azure_cli else text


def use_azure_cli_login(text: str) -> str:
    """Rewrite every kubelogin exec user to `get-token --login azurecli --server-id <id>`.

    Mirrors kubelogin's own converter: the server id (the AKS Entra application) is kept;
    client id, tenant id and environment are dropped, as the Azure CLI session supplies them.
    """
    config = yaml.safe_load(text)
    if not isinstance(config, dict):
        raise ValueError("the kubeconfig AKS returned is not a YAML mapping")
    for entry in config.get("users") or []:
        exec_ = ((entry or {}).get("user") or {}).get("exec")
        if not exec_ or "kubelogin" not in str(exec_.get("command", "")).lower():
            continue
        args = [str(a) for a in exec_.get("args") or []]
        if "--server-id" not in args or args.index("--server-id") + 1 >= len(args):
            raise ValueError(f"kubelogin user {entry.get('name')!r} has no --server-id")
        server_id = args[args.index("--server-id") + 1]
        exec_["args"] = ["get-token", "--login", "azurecli", "--server-id", server_id]
        exec_["apiVersion"] = KUBELOGIN_API_VERSION
    return yaml.safe_dump(config, sort_keys=False)
