"""`preflight` of the aks target against a stand-in `az` (tests/fixtures/az/az) on PATH.

Each scenario starts from the all-good subscription in tests/fixtures/az/good and changes one
answer; the stub records every argv, so the tests also see that only read-only commands ran.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from apps import settings_catalog
from components.preflight import Finding, failed
from components.preflight import aks as preflight
from components.settings import load_settings

FIXTURES = Path(__file__).parent / "fixtures" / "az"
STACK = Path(__file__).parent.parent / "stacks" / "Pulumi.azure-dev.yaml"
GROUP = "33333333-3333-3333-3333-333333333333"
# Words that would make an az command change something; none may appear in AZ_COMMANDS.
WRITE_VERBS = {
    "create", "delete", "update", "set", "register", "unregister", "start", "stop", "add",
    "remove", "upgrade", "scale", "import", "assign", "purge", "restart", "login", "logout",
    "invoke", "run-command", "deallocate", "attach", "detach", "clear", "reset", "rotate",
    "approve", "enable", "disable", "enable-addons", "disable-addons", "get-credentials",
}  # fmt: skip


def stack_config(**aks_changes: Any) -> dict[str, Any]:
    raw = yaml.safe_load(STACK.read_text(encoding="utf-8"))["config"]
    config = {key.removeprefix("hybrid-kube:"): value for key, value in raw.items()}
    config["aks"] = {**config["aks"], **aks_changes}
    return config


class Az:
    """The stub's answers (a copy of `good`, editable) and the argv it saw."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
        self.dir = tmp_path / "answers"
        shutil.copytree(FIXTURES / "good", self.dir)
        self.log = tmp_path / "argv.jsonl"
        self.log.touch()
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        (bin_dir / "az").symlink_to(FIXTURES / "az")
        monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
        monkeypatch.setenv("AZ_STUB_DIR", str(self.dir))
        monkeypatch.setenv("AZ_STUB_LOG", str(self.log))

    def read(self, key: str) -> Any:
        return json.loads((self.dir / f"{key}.json").read_text(encoding="utf-8"))

    def answer(self, key: str, data: Any) -> None:
        (self.dir / f"{key}.json").write_text(json.dumps(data), encoding="utf-8")

    def fail(self, key: str, stderr: str) -> None:
        (self.dir / f"{key}.json").unlink(missing_ok=True)
        (self.dir / f"{key}.stderr").write_text(stderr, encoding="utf-8")

    def calls(self) -> list[list[str]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@pytest.fixture
def az(tmp_path, monkeypatch) -> Az:
    return Az(tmp_path, monkeypatch)


def run(config: dict[str, Any] | None = None) -> list[Finding]:
    settings = load_settings(config or stack_config(), catalog=settings_catalog())
    lines: list[str] = []
    findings = preflight.run(settings, "azure-dev", lines.append)
    assert lines, "no progress was reported"
    return findings


def only(findings: list[Finding], check: str, subject: str | None = None) -> Finding:
    matching = [f for f in findings if f.check == check and subject in (None, f.subject)]
    assert len(matching) == 1, findings
    return matching[0]


def test_every_az_command_is_read_only():
    for command in preflight.AZ_COMMANDS:
        words = {part for part in command if not part.startswith(("-", "{"))}
        assert not words & WRITE_VERBS, command
        assert command[-1] in {"show", "list", "list-locations", "list-skus", "list-usage",
                               "get-versions", "--all", "--disable-scope-strict-match"} or command[
            -1
        ].startswith("{"), command  # fmt: skip
    with pytest.raises(ValueError, match="read-only"):
        preflight.command(("provider", "register", "--namespace", "{namespace}"), namespace="x")


def test_all_good_subscription_passes_with_only_listed_commands(az):
    findings = run(stack_config(entra={"adminGroupObjectIds": [GROUP]}))
    assert [f for f in findings if f.status != "ok"] == []
    checks = {f.check for f in findings}
    assert checks >= {
        "aks.account", "aks.provider", "aks.location.exists", "aks.location.allowed",
        "aks.vmsize", "aks.quota", "aks.version", "aks.entra.group",
    }  # fmt: skip
    assert "Pay-As-You-Go" in only(findings, "aks.account").reason
    allowed = {tuple(preflight.command(c, namespace="N", feature="F", location="L", group="G"))
               for c in preflight.AZ_COMMANDS}  # fmt: skip
    for argv in az.calls():
        shape = tuple("N" if a.startswith("Microsoft.") else a for a in ["az", *argv])
        shape = tuple("L" if a == "eastus" else "G" if a == GROUP else a for a in shape)
        assert shape in allowed, argv
        assert argv[-2:] == ["--output", "json"]


def test_disallowed_region_names_the_assignment_and_the_allowed_ones(az):
    policies = az.read("policy-assignment-list")
    policies[0]["parameters"]["listOfAllowedLocations"]["value"] = ["westeurope", "swedencentral"]
    az.answer("policy-assignment-list", policies)
    finding = only(run(), "aks.location.allowed")
    assert finding.status == "fail"
    assert "'Allowed locations' allows only swedencentral, westeurope" in finding.reason
    assert finding.fix.endswith("swedencentral, westeurope")


def test_a_policy_not_enforced_does_not_refuse(az):
    policies = az.read("policy-assignment-list")
    policies[0]["parameters"]["listOfAllowedLocations"]["value"] = ["westeurope"]
    policies[0]["enforcementMode"] = "DoNotEnforce"
    az.answer("policy-assignment-list", policies)
    assert only(run(), "aks.location.allowed").status == "ok"


def test_student_subscription_without_visible_policy_is_warned(az):
    account = az.read("account-show")
    account["name"] = "Azure for Students"
    az.answer("account-show", account)
    az.answer("policy-assignment-list", [])
    finding = only(run(), "aks.location.allowed")
    assert finding.status == "warn" and "RequestDisallowedByAzure" in finding.reason


def test_unknown_location_is_a_failure_with_close_names(az):
    findings = run(stack_config(location="eastsu"))
    finding = only(findings, "aks.location.exists")
    assert finding.status == "fail" and "eastus" in finding.reason


def test_size_not_offered_in_the_region(az):
    findings = run(stack_config(pools=[{"name": "apps", "vmSize": "Standard_E2as_v5"}]))
    finding = only(findings, "aks.vmsize", "pool apps")
    assert finding.status == "fail"
    assert "Standard_E2as_v5 is not offered in eastus" in finding.reason
    assert only(findings, "aks.vmsize", "pool system").status == "ok"


def test_size_restricted_for_the_subscription(az):
    findings = run(stack_config(pools=[{"name": "apps", "vmSize": "Standard_B2s"}]))
    finding = only(findings, "aks.vmsize", "pool apps")
    assert finding.status == "fail" and "NotAvailableForSubscription" in finding.reason


def test_zone_restricted_for_the_subscription(az):
    pool = {"name": "apps", "vmSize": "Standard_D2s_v5", "availabilityZones": [1, 2, 3]}
    finding = only(run(stack_config(pools=[pool])), "aks.vmsize", "pool apps")
    assert finding.status == "fail" and "zone(s) 3" in finding.reason
    pool["availabilityZones"] = [1, 2]
    assert only(run(stack_config(pools=[pool])), "aks.vmsize", "pool apps").status == "ok"


def test_exceeded_quota_counts_maximum_nodes_and_surge(az):
    usage = az.read("vm-list-usage")
    usage[1]["limit"] = 10  # standardDASv5Family; the stack needs (2+1) + (2+1) nodes x 2 vCPUs
    az.answer("vm-list-usage", usage)
    findings = run()
    family = only(findings, "aks.quota", "standardDASv5Family")
    assert family.status == "fail"
    assert "need up to 12 vCPUs" in family.reason and "quota 10" in family.reason
    assert "Standard DASv5 Family vCPUs" in family.fix
    assert only(findings, "aks.quota", "Total Regional vCPUs").status == "ok"  # 12 <= 20


def test_quota_in_use_is_a_warning_not_a_failure(az):
    usage = az.read("vm-list-usage")
    usage[0]["currentValue"] = "12"  # some az versions print numbers as strings
    az.answer("vm-list-usage", usage)
    finding = only(run(), "aks.quota", "Total Regional vCPUs")
    assert finding.status == "warn" and "only 8 free" in finding.reason


def test_surge_is_ten_percent_rounded_up_at_least_one_node():
    from components.settings.aks import PoolSettings

    assert [preflight.surge_nodes(PoolSettings(name="p", count=n)) for n in (0, 1, 10, 11, 30)] == [
        0, 1, 1, 2, 3,
    ]  # fmt: skip


def test_unregistered_provider(az):
    provider = az.read("provider-show-Microsoft.ContainerService")
    provider["registrationState"] = "NotRegistered"
    az.answer("provider-show-Microsoft.ContainerService", provider)
    finding = only(run(), "aks.provider", "Microsoft.ContainerService")
    assert finding.status == "fail"
    assert finding.fix == "az provider register --namespace Microsoft.ContainerService --wait"


def test_registry_provider_is_checked_only_with_a_registry(az):
    assert not [f for f in run() if f.subject == "Microsoft.ContainerRegistry"]
    provider = az.read("provider-show-Microsoft.ContainerRegistry")
    provider["registrationState"] = "Unregistered"
    az.answer("provider-show-Microsoft.ContainerRegistry", provider)
    config = stack_config(containerRegistry={"name": "hybridkubetest"})
    assert only(run(config), "aks.provider", "Microsoft.ContainerRegistry").status == "fail"


@pytest.mark.parametrize(
    ("version", "status", "text"),
    [
        ("1.31", "fail", "AKS offers no 1.31 in eastus"),
        ("1.35.7", "fail", "no patch 1.35.7"),
        ("1.35.1", "ok", "offered"),
        ("1.32", "fail", "AKSLongTermSupport"),
        ("1.36", "warn", "preview"),
    ],
)
def test_kubernetes_version_offered(az, version, status, text):
    config = {**stack_config(), "kubernetesVersion": version}
    finding = only(run(config), "aks.version")
    assert finding.status == status and text in finding.reason


def test_old_get_versions_shape_asks_for_a_newer_cli(az):
    az.answer("aks-get-versions", {"orchestrators": [{"orchestratorVersion": "1.35.1"}]})
    finding = only(run(), "aks.version")
    assert finding.status == "warn" and "az upgrade" in finding.fix


def test_missing_entra_group(az):
    missing = "44444444-4444-4444-4444-444444444444"
    az.fail(
        f"ad-group-show-{missing}",
        f"ERROR: Resource '{missing}' does not exist or one of its queried reference-property "
        "objects are not present.\n",
    )
    findings = run(stack_config(entra={"adminGroupObjectIds": [GROUP, missing]}))
    assert only(findings, "aks.entra.group", f"Entra group {GROUP}").status == "ok"
    finding = only(findings, "aks.entra.group", f"Entra group {missing}")
    assert finding.status == "fail" and "az ad group create" in finding.fix


def test_az_missing_is_one_clear_failure(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    findings = run()
    assert len(findings) == 1 and failed(findings)
    assert "not on PATH" in findings[0].reason and "az login" in findings[0].fix


def test_logged_out_is_one_clear_failure(az):
    az.fail("account-show", "ERROR: Please run 'az login' to setup account.\n")
    findings = run()
    assert len(findings) == 1 and failed(findings)
    assert "Please run 'az login'" in findings[0].reason
    assert findings[0].fix.startswith("run `az login`")
    assert az.calls() == [["account", "show", "--output", "json"]]


def test_a_lookup_that_fails_is_a_warning_not_a_silent_pass(az):
    az.fail("vm-list-usage", "ERROR: (AuthorizationFailed) The client does not have access.\n")
    finding = only(run(), "aks.quota")
    assert finding.status == "warn" and "AuthorizationFailed" in finding.reason


SUBSCRIPTION_SCOPE = "/subscriptions/22222222-2222-2222-2222-222222222222"


@pytest.mark.parametrize(
    ("scope", "not_scopes", "status"),
    [
        # --disable-scope-strict-match also lists assignments below the subscription: another
        # resource group's limit does not apply to this stack's group ...
        (f"{SUBSCRIPTION_SCOPE}/resourceGroups/somebody-else", [], "ok"),
        # ... the stack's own group's does (ids compare case-insensitively) ...
        (f"{SUBSCRIPTION_SCOPE}/resourcegroups/HYBRID-KUBE-AZURE-DEV", [], "fail"),
        # ... and so does a management group's, unless notScopes exclude the stack's group.
        ("/providers/Microsoft.Management/managementGroups/school", [], "fail"),
        (
            "/providers/Microsoft.Management/managementGroups/school",
            [f"{SUBSCRIPTION_SCOPE}/resourceGroups/hybrid-kube-azure-dev"],
            "ok",
        ),
    ],
)
def test_only_assignments_whose_scope_covers_the_stacks_group_count(az, scope, not_scopes, status):
    policies = az.read("policy-assignment-list")
    policies[0]["parameters"]["listOfAllowedLocations"]["value"] = ["westeurope"]
    policies[0]["scope"] = scope
    policies[0]["notScopes"] = not_scopes
    az.answer("policy-assignment-list", policies)
    assert only(run(), "aks.location.allowed").status == status


def test_allowed_locations_compare_without_case(az):
    policies = az.read("policy-assignment-list")
    policies[0]["parameters"]["listOfAllowedLocations"]["value"] = ["EastUS"]
    az.answer("policy-assignment-list", policies)
    assert only(run(), "aks.location.allowed").status == "ok"
