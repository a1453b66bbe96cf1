"""`AppSecrets`: an app's secrets, from the stack's encrypted config or generated, into one Secret.

Values stay Pulumi secrets from the config (or pulumi-random) all the way into the Kubernetes
Secret; nothing else sees them. Pods that use them carry `checksum`, an HMAC of the values under a
random key, so a changed secret rolls the pods without the annotation revealing anything.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
from pydantic import SecretStr

from .appspec import AppSpec


@dataclass(frozen=True)
class AppSecretsArgs:
    spec: AppSpec
    namespace: pulumi.Input[str]
    configured: Mapping[str, SecretStr] = field(default_factory=dict)


class AppSecrets(pulumi.ComponentResource):
    """The app's Secret (`<app>-secrets`) and a non-revealing checksum of its content."""

    def __init__(self, name: str, args: AppSecretsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("hybrid-kube:secrets:AppSecrets", name, None, opts)
        spec = args.spec
        child = pulumi.ResourceOptions(parent=self)
        values: dict[str, pulumi.Output[str]] = {}
        for key, secret in spec.secrets.items():
            if key in args.configured:
                values[key] = pulumi.Output.secret(args.configured[key].get_secret_value())
            else:
                # Letters and digits only: safe inside URLs and config files without escaping.
                values[key] = random.RandomPassword(
                    f"{name}-{key}", length=secret.length, special=False, opts=child
                ).result
        files = {
            file_name: pulumi.Output.all(**values).apply(
                lambda v, template=secret_file.template: template.format(**v)
            )
            for file_name, secret_file in spec.secret_files.items()
        }
        content = pulumi.Output.secret(pulumi.Output.all(**values, **files))
        self.secret_name = f"{spec.name}-secrets"
        self.secret = k8s.core.v1.Secret(
            f"{name}-secret",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=self.secret_name,
                namespace=args.namespace,
                labels={
                    "app.kubernetes.io/part-of": spec.name,
                    "app.kubernetes.io/managed-by": "hybrid-kube",
                },
            ),
            type="Opaque",
            string_data=content,
            opts=child,
        )
        key = random.RandomBytes(f"{name}-checksum-key", length=32, opts=child)
        self.checksum: pulumi.Output[str] = pulumi.Output.unsecret(
            pulumi.Output.all(key.base64, content).apply(lambda kv: _hmac(kv[0], kv[1]))
        )
        self.register_outputs({"secretName": self.secret_name, "checksum": self.checksum})


def _hmac(key: str, content: Mapping[str, str]) -> str:
    message = json.dumps(dict(content), sort_keys=True).encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()
