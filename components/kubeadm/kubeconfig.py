"""The admin kubeconfig, issued by the program from the cluster CA (pulumi-tls).

A client certificate in the group `kubeadm:cluster-admins` (bound to cluster-admin by
`kubeadm init` since 1.29, and unlike `system:masters` revocable by deleting that binding),
valid one year and re-issued by any `pulumi up` in its last 30 days (`early_renewal_hours`).
Issuing it here, rather than reading /etc/kubernetes/admin.conf over SSH, keeps it renewable
(kubeadm's admin.conf expires after a year and a copy read once would silently go stale) and no
remote command has to print a credential.
"""

from __future__ import annotations

import base64

import pulumi
import pulumi_tls as tls
import yaml

from .credentials import ClusterCredentials

ADMIN_GROUP = "kubeadm:cluster-admins"
CLIENT_VALIDITY_HOURS = 365 * 24
RENEW_BEFORE_HOURS = 30 * 24


def render_kubeconfig(
    cluster: str, server: str, ca_cert_pem: str, cert_pem: str, key_pem: str
) -> str:
    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    user = f"{cluster}-admin"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster,
                "cluster": {"server": server, "certificate-authority-data": b64(ca_cert_pem)},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": b64(cert_pem),
                    "client-key-data": b64(key_pem),
                },
            }
        ],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": user}}],
        "current-context": cluster,
    }
    return yaml.safe_dump(config, sort_keys=False)


def admin_kubeconfig(
    name: str, server: str, credentials: ClusterCredentials, parent: pulumi.Resource
) -> pulumi.Output[str]:
    """The kubeconfig text (secret). It is valid only once the API server runs: callers gate it."""
    opts = pulumi.ResourceOptions(parent=parent)
    key = tls.PrivateKey(f"{name}-admin-key", algorithm="ECDSA", ecdsa_curve="P256", opts=opts)
    request = tls.CertRequest(
        f"{name}-admin-csr",
        private_key_pem=key.private_key_pem,
        subject=tls.CertRequestSubjectArgs(
            common_name="hybrid-kube-admin", organization=ADMIN_GROUP
        ),
        opts=opts,
    )
    certificate = tls.LocallySignedCert(
        f"{name}-admin-cert",
        cert_request_pem=request.cert_request_pem,
        ca_cert_pem=credentials.ca_cert_pem,
        ca_private_key_pem=credentials.ca_key_pem,
        validity_period_hours=CLIENT_VALIDITY_HOURS,
        early_renewal_hours=RENEW_BEFORE_HOURS,
        allowed_uses=["digital_signature", "key_encipherment", "client_auth"],
        opts=opts,
    )
    text = pulumi.Output.all(
        credentials.ca_cert_pem, certificate.cert_pem, key.private_key_pem
    ).apply(lambda values: render_kubeconfig(name, server, *values))
    return pulumi.Output.secret(text)
