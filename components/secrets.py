"""`AppSecrets`: an app's secrets, from the stack's encrypted config or generated, into one Secret.

Values stay Pulumi secrets from the config (or pulumi-random) all the way into the Kubernetes
Secret; nothing else sees them. The Secret holds each value under its own key (where an operator
reads it: `kubectl get secret <app>-secrets`, and where `secret_env` points pods) and each
`SecretFile` rendered from them, transforms applied (a config may hold `{password:sha256}`, a
hash, instead of the password). Pods that use them carry `checksum`, an HMAC of the content under
a random key, so a changed secret rolls the pods without the annotation revealing anything.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import string
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
from pydantic import SecretStr

from .appspec import SECRET_TRANSFORMS, AppSpec


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
                lambda v, template=secret_file.template: render_secret_file(template, v)
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


class _SecretFormatter(string.Formatter):
    """`str.format` where a format spec names a transform from `SECRET_TRANSFORMS`."""

    def format_field(self, value: object, format_spec: str) -> str:
        text = str(value)
        return SECRET_TRANSFORMS[format_spec](text) if format_spec else text


def render_secret_file(template: str, values: Mapping[str, str]) -> str:
    """`template` with `{name}` replaced by the value and `{name:transform}` by its transform.

    The AppSpec has already checked every placeholder names a known secret and transform.
    """
    return _SecretFormatter().vformat(template, (), dict(values))


def _hmac(key: str, content: Mapping[str, str]) -> str:
    message = json.dumps(dict(content), sort_keys=True).encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()
