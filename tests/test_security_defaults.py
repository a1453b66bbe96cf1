"""Security defaults no other test pins down, checked on what the program declares: the mode of
mounted secret files, the refusal of image tags that move, and the rollout checksum of a Secret
being a keyed HMAC (an unkeyed hash in a readable pod annotation would let anyone confirm a
guessed password offline)."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json

import pytest
from pydantic import ValidationError
from support import manifest, pod_spec, run_main

from components.appspec import WorkloadSpec
from components.cli import main

PASSWORD = "securityDefaultsSentinel0123456789"
SECRETS = {"appSecrets": {"podinfo": {"valkeyPassword": PASSWORD}}}
STACK = "local"


@functools.cache
def recording(password: str = PASSWORD):
    return run_main(STACK, secrets={"appSecrets": {"podinfo": {"valkeyPassword": password}}})


def workloads(rec):
    for resource in rec.resources:
        if resource.type in ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet"):
            yield resource, manifest(resource)


def secret_volumes(rec) -> list[dict]:
    return [
        volume
        for _, obj in workloads(rec)
        for volume in pod_spec(obj).get("volumes", [])
        if "secret" in volume
    ]


def test_mounted_secret_files_are_readable_by_owner_and_group_only():
    volumes = secret_volumes(recording())
    assert volumes, "no workload mounts a secret volume: the test would check nothing"
    for volume in volumes:
        assert volume["secret"]["defaultMode"] == 0o440, volume


# -- images that move are refused ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        ("nginx", "has no tag"),
        ("nginx:stable", "names a channel or branch"),
        ("nginx:latest", "names a channel or branch"),
        ("nginx:1.27", "names a release line"),
        ("nginx:1", "names a release line"),
        ("nginx:1.27-alpine", "names a release line"),
        ("nginx:mainline", "names a channel or branch"),
        ("nginx:main-build", "names a channel or branch"),
        ("nginx@sha256:abc", "digest"),
    ],
)
def test_a_workload_image_that_can_move_is_refused(image, reason):
    with pytest.raises(ValidationError) as error:
        WorkloadSpec(name="web", image=image, port=8080)
    # Refused, and for the reason that tells the user what to pin instead.
    assert image in str(error.value) and reason in str(error.value)


@pytest.mark.parametrize(
    "image",
    [
        "nginx:1.27.3",
        "nginx:1.27.3-alpine",
        "nginx:sha-3f2a9c1",
        "nginx@sha256:" + "a" * 64,
        "nginx:stable@sha256:" + "b" * 64,
    ],
)
def test_an_image_that_names_one_build_is_accepted(image):
    assert WorkloadSpec(name="web", image=image, port=8080).image == image


@pytest.mark.parametrize("tag", ["stable", "1.30", "latest"])
def test_a_stack_cannot_float_an_apps_image_either(tag, tmp_path, capsys):
    project = tmp_path
    (project / "stacks").mkdir()
    from components.stackfile import PROJECT_ROOT

    (project / "Pulumi.yaml").write_text((PROJECT_ROOT / "Pulumi.yaml").read_text())
    (project / "stacks" / "Pulumi.floating.yaml").write_text(
        "config:\n  hybrid-kube:target: existing\n"
        f"  hybrid-kube:appImages:\n    web:\n      web: '{tag}'\n"
    )
    assert main(["--project", str(project), "check", "floating"]) == 1
    err = capsys.readouterr().err
    assert "hybrid-kube:appImages.web.web" in err and tag in err


# -- the rollout checksum of a Secret -------------------------------------------------------------


def checksums(rec) -> dict[str, str]:
    found = {}
    for resource, obj in workloads(rec):
        annotations = obj["spec"]["template"]["metadata"].get("annotations", {})
        for key, value in annotations.items():
            if "checksum" in key and "secret" in key:
                found[resource.name] = value
    return found


def candidates(password: str) -> set[str]:
    """What an unkeyed hash of the app's secrets could look like, for a guesser who knows the
    password: sha256 of the password, of the JSON the checksum is computed over, and variants."""
    forms = {password, json.dumps({"valkeyPassword": password}, sort_keys=True)}
    digests = set()
    for form in forms:
        digests.add(hashlib.sha256(form.encode()).hexdigest())
        digests.add(hashlib.sha256((form + "\n").encode()).hexdigest())
    return digests


def test_the_secret_checksum_is_not_an_unkeyed_hash_of_the_secret():
    found = checksums(recording())
    assert found, "no pod template carries a secret checksum"
    for value in found.values():
        assert value not in candidates(PASSWORD)
        assert len(value) == 64  # an HMAC-SHA256 in hex


def secret_content(rec) -> dict[str, str]:
    (secret,) = [
        r
        for r in rec.resources
        if r.type == "kubernetes:core/v1:Secret"
        and r.name.endswith("-secret")
        and "valkeyPassword" in r.inputs.get("stringData", {})
    ]
    return secret.inputs["stringData"]


def test_the_secret_checksum_is_an_hmac_under_the_apps_random_key():
    rec = recording()
    content = secret_content(rec)
    assert content["valkeyPassword"] == PASSWORD
    message = json.dumps(content, sort_keys=True).encode()
    # The mock engine's RandomBytes: 32 zero bytes (components/recording.py), base64 as the key.
    key = base64.b64encode(bytes(32)).decode()
    expected = hmac.new(key.encode(), message, hashlib.sha256).hexdigest()
    assert set(checksums(rec).values()) == {expected}
    assert hashlib.sha256(message).hexdigest() != expected
    assert hmac.new(b"another key", message, hashlib.sha256).hexdigest() != expected
    (key_resource,) = [
        r
        for r in rec.resources
        if r.type == "random:index/randomBytes:RandomBytes" and r.name.endswith("-checksum-key")
    ]
    assert key_resource.inputs["length"] == 32  # 256 random bits


def test_a_changed_secret_changes_the_checksum():
    first = checksums(recording())
    other = checksums(recording("anotherPasswordSentinel9876543210"))
    assert first and set(first) == set(other)
    for name in first:
        assert first[name] != other[name], name  # a changed secret rolls the pods
