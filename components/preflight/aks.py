"""Preflight of the `aks` target: the Azure subscription, through the user's own `az` session.

Every command this module can run is a read-only constant in `AZ_COMMANDS` (tested to create,
change and delete nothing). After `az account show` (logged in?), the other look-ups run in
parallel; each answer is turned into findings with the reason and the fix.

JSON shapes read (az CLI, `--output json`):
- `az account show`: `{id, name, state, tenantId, user: {name}}`.
- `az provider show`: `{namespace, registrationState}`.
- `az account list-locations`: `[{name, displayName}]`.
- `az policy assignment list --disable-scope-strict-match` (inherited assignments too):
  `[{displayName, enforcementMode, parameters: {listOfAllowedLocations: {value: [...]}}}]`, the
  parameter of the built-in "Allowed locations" definitions.
- `az vm list-skus --all`: without `--all` the CLI drops sizes restricted for the subscription
  (azure-cli `vm/_vm_utils.py: is_sku_available`); `[{name, family, locationInfo: [{zones}],
  restrictions: [{type: Location|Zone, reasonCode, restrictionInfo: {zones}}], capabilities:
  [{name: vCPUs, value}]}]`.
- `az vm list-usage`: `[{name: {value: standardDASv5Family|cores}, currentValue, limit}]`
  (numbers, or strings in some CLI versions).
- `az aks get-versions`: the current shape only, `{values: [{version: "1.35", isPreview,
  patchVersions: {"1.35.2": {...}}, capabilities: {supportPlan: [...]}}]}` (az CLI 2.50+); the
  older `orchestrators` shape is reported as "update the az CLI".
- `az ad group show`: the group, or exit 1 with "does not exist".
"""

from __future__ import annotations

import difflib
import json
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..settings import Settings
from ..settings.aks import AksSettings, PoolSettings, vm_size_cpus
from . import Finding, Progress

# Every `az` command preflight may run; `{...}` fields are filled from the stack's settings.
ACCOUNT = ("account", "show")
PROVIDER = ("provider", "show", "--namespace", "{namespace}")
FEATURE = ("feature", "show", "--namespace", "{namespace}", "--name", "{feature}")
LOCATIONS = ("account", "list-locations")
POLICIES = ("policy", "assignment", "list", "--disable-scope-strict-match")
SKUS = (
    "vm",
    "list-skus",
    "--location",
    "{location}",
    "--resource-type",
    "virtualMachines",
    "--all",
)
USAGE = ("vm", "list-usage", "--location", "{location}")
VERSIONS = ("aks", "get-versions", "--location", "{location}")
GROUP = ("ad", "group", "show", "--group", "{group}")
AZ_COMMANDS: tuple[tuple[str, ...], ...] = (
    ACCOUNT,
    PROVIDER,
    FEATURE,
    LOCATIONS,
    POLICIES,
    SKUS,
    USAGE,
    VERSIONS,
    GROUP,
)
OUTPUT = ("--output", "json")
TIMEOUT_SECONDS = 120

# AKS surges 10 % of a pool's nodes (rounded up) during an upgrade when maxSurge is not set, as
# here (Az.Aks `MaxSurge`: "If not specified, the default is 10%"; fractional nodes round up).
DEFAULT_MAX_SURGE_PERCENT = 10

LOGIN_FIX = "run `az login` (on a remote shell: `az login --use-device-code`), then preflight again"


class AzMissing(Exception):
    """No `az` executable on PATH."""


@dataclass(frozen=True)
class AzResult:
    data: Any
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


def command(name: tuple[str, ...], **fields: str) -> list[str]:
    """The argv of one of `AZ_COMMANDS` (refused if it is not one), fields filled in."""
    if name not in AZ_COMMANDS:
        raise ValueError(f"{name} is not one of the read-only AZ_COMMANDS")
    return ["az", *(part.format(**fields) for part in name), *OUTPUT]


def run_az(name: tuple[str, ...], **fields: str) -> AzResult:
    """Run one listed command; its parsed JSON, or the error az printed."""
    executable = shutil.which("az")
    if executable is None:
        raise AzMissing()
    argv = command(name, **fields)
    try:
        done = subprocess.run(
            [executable, *argv[1:]],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return AzResult(None, f"`{' '.join(argv)}` did not answer in {TIMEOUT_SECONDS} s")
    if done.returncode != 0:
        text = (done.stderr or done.stdout).strip().splitlines()
        return AzResult(None, " ".join(text[-3:]) or f"exit code {done.returncode}")
    try:
        return AzResult(json.loads(done.stdout or "null"))
    except json.JSONDecodeError:
        return AzResult(None, f"`{' '.join(argv)}` printed no JSON")


# -- the run -------------------------------------------------------------------------------------


def run(settings: Settings, stack: str, progress: Progress) -> list[Finding]:
    """All checks of an `aks` stack; see the module docstring."""
    aks = settings.aks
    if aks is None:
        name = str(getattr(stack, "stack", stack))  # the CLI may pass its StackConfig
        return [Finding("aks.settings", name, "fail", "the stack has no hybrid-kube:aks section")]
    try:
        progress("az: account")
        account = run_az(ACCOUNT)
        found = [_account(account)]
        if not account.ok:
            return found
        lookups = _lookups(aks)
        with ThreadPoolExecutor(max_workers=8) as pool:
            futures = {}
            for key, (name, fields) in lookups.items():
                progress(f"az: {key}")
                futures[key] = pool.submit(run_az, name, **fields)
            answers = {key: future.result() for key, future in futures.items()}
    except AzMissing:
        return [
            Finding(
                "aks.az",
                "az",
                "fail",
                "the Azure CLI (`az`) is not on PATH; preflight and Pulumi's azure-native provider "
                "both use its session",
                "install the Azure CLI (learn.microsoft.com/cli/azure/install-azure-cli), then "
                + LOGIN_FIX,
            )
        ]
    found += _providers(aks, answers)
    found += _location(aks, account.data, answers, _resource_group(aks, stack))
    skus = _skus_by_name(answers["skus"])
    found += _sizes(aks, skus, answers["skus"])
    found += _quota(aks, skus, answers["usage"])
    found.append(_version(settings.kubernetes_version, aks, answers["versions"]))
    found += _groups(aks, answers)
    progress("az: done")
    return found


def _lookups(aks: AksSettings) -> dict[str, tuple[tuple[str, ...], dict[str, str]]]:
    where = {"location": aks.location}
    lookups: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
        "locations": (LOCATIONS, {}),
        "policies": (POLICIES, {}),
        "skus": (SKUS, where),
        "usage": (USAGE, where),
        "versions": (VERSIONS, where),
    }
    for namespace in required_providers(aks):
        lookups[f"provider {namespace}"] = (PROVIDER, {"namespace": namespace})
    if any(p.encryption_at_host for p in _pools(aks)):
        fields = {"namespace": "Microsoft.Compute", "feature": "EncryptionAtHost"}
        lookups["feature EncryptionAtHost"] = (FEATURE, fields)
    for group in aks.entra.admin_group_object_ids if aks.entra else []:
        lookups[f"group {group}"] = (GROUP, {"group": group})
    return lookups


def required_providers(aks: AksSettings) -> list[str]:
    """Resource providers whose types the stack deploys: the cluster and its pools
    (ContainerService), the VM scale sets and disks AKS makes (Compute), load balancer, public
    IP and VNet (Network), and the registry when one is configured."""
    namespaces = ["Microsoft.ContainerService", "Microsoft.Compute", "Microsoft.Network"]
    if aks.container_registry is not None:
        namespaces.append("Microsoft.ContainerRegistry")
    return namespaces


def _pools(aks: AksSettings) -> list[PoolSettings]:
    return [aks.system_pool, *aks.pools]


def _could_not(check: str, subject: str, what: str, answer: AzResult) -> Finding:
    return Finding(
        check,
        subject,
        "warn",
        f"could not check {what}: {answer.error}",
        "check that your account may read the subscription (Reader role), or check by hand",
    )


# -- account, providers, location ----------------------------------------------------------------


def _account(answer: AzResult) -> Finding:
    if not answer.ok or not isinstance(answer.data, dict):
        return Finding(
            "aks.account",
            "subscription",
            "fail",
            f"no Azure CLI session: {answer.error or 'az account show printed nothing'}",
            LOGIN_FIX,
        )
    data = answer.data
    who = (data.get("user") or {}).get("name", "?")
    what = f"{data.get('name')!r} ({data.get('id')}) as {who}"
    state = data.get("state", "Enabled")
    if state == "Enabled":
        return Finding(
            "aks.account", "subscription", "ok", f"logged in; Pulumi will deploy to {what}"
        )
    status = "warn" if state in ("Warned", "PastDue") else "fail"
    return Finding(
        "aks.account",
        "subscription",
        status,
        f"subscription {what} is {state}; Azure refuses new resources in a disabled one",
        "reactivate it in the Azure portal (Subscriptions), or `az account set --subscription "
        "<another>`",
    )


def _providers(aks: AksSettings, answers: dict[str, AzResult]) -> list[Finding]:
    found = []
    for namespace in required_providers(aks):
        answer = answers[f"provider {namespace}"]
        if not answer.ok:
            found.append(
                _could_not("aks.provider", namespace, "the provider's registration", answer)
            )
            continue
        state = (answer.data or {}).get("registrationState", "unknown")
        if state == "Registered":
            found.append(Finding("aks.provider", namespace, "ok", "registered"))
        else:
            found.append(
                Finding(
                    "aks.provider",
                    namespace,
                    "fail",
                    f"{namespace} is {state} in this subscription; creating its resources fails "
                    "with MissingSubscriptionRegistration",
                    f"az provider register --namespace {namespace} --wait",
                )
            )
    answer = answers.get("feature EncryptionAtHost")
    if answer is not None:
        state = ((answer.data or {}).get("properties") or {}).get("state", "unknown")
        if not answer.ok:
            found.append(_could_not("aks.feature", "EncryptionAtHost", "the feature", answer))
        elif state == "Registered":
            found.append(Finding("aks.feature", "EncryptionAtHost", "ok", "registered"))
        else:
            found.append(
                Finding(
                    "aks.feature",
                    "EncryptionAtHost",
                    "fail",
                    f"a pool sets encryptionAtHost but Microsoft.Compute/EncryptionAtHost is "
                    f"{state}",
                    "az feature register --namespace Microsoft.Compute --name EncryptionAtHost, "
                    "then `az provider register --namespace Microsoft.Compute`",
                )
            )
    return found


def _resource_group(aks: AksSettings, stack: object) -> str:
    """The resource group the stack deploys into, as components/aks names it."""
    from ..aks.profiles import default_name
    from ..settings import NAMESPACE

    name = str(getattr(stack, "stack", stack))
    return aks.resource_group_name or default_name(NAMESPACE, name)


def _location(
    aks: AksSettings, account: dict, answers: dict[str, AzResult], resource_group: str
) -> list[Finding]:
    location, found = aks.location, []
    listed = answers["locations"]
    if not listed.ok:
        found.append(_could_not("aks.location.exists", location, "the location", listed))
    else:
        names = [str(entry.get("name", "")) for entry in listed.data or []]
        if location in names:
            found.append(Finding("aks.location.exists", location, "ok", "offered"))
        else:
            close = difflib.get_close_matches(location, names, n=3)
            found.append(
                Finding(
                    "aks.location.exists",
                    location,
                    "fail",
                    f"{location!r} is not a location of this subscription"
                    + (f" (did you mean {', '.join(close)}?)" if close else ""),
                    "set hybrid-kube:aks.location to a Name from `az account list-locations -o "
                    "table`",
                )
            )
    found.append(_allowed(location, account, answers["policies"], resource_group))
    return found


def _applies(assignment: dict, subscription: str, resource_group: str) -> bool:
    """Whether an assignment's scope covers the stack's resource group.

    `--disable-scope-strict-match` also lists assignments below the subscription (other
    resource groups, single resources), which do not apply here; `notScopes` exclude parts of
    a scope. Azure compares resource ids case-insensitively.
    """
    target = f"/subscriptions/{subscription}/resourcegroups/{resource_group}".lower()
    scope = str(assignment.get("scope") or "").lower().rstrip("/")
    inherited = scope.startswith("/providers/microsoft.management/managementgroups/")
    if not (inherited or scope == f"/subscriptions/{subscription}".lower() or scope == target):
        return False
    excluded = [str(n).lower().rstrip("/") for n in assignment.get("notScopes") or []]
    return not any(target == n or target.startswith(n + "/") for n in excluded)


def _allowed(location: str, account: dict, answer: AzResult, resource_group: str) -> Finding:
    check = "aks.location.allowed"
    if not answer.ok:
        return _could_not(check, location, "the allowed-locations policies", answer)
    limits = []
    subscription = str(account.get("id", ""))
    for assignment in answer.data or []:
        if not isinstance(assignment, dict) or assignment.get("enforcementMode") == "DoNotEnforce":
            continue
        if not _applies(assignment, subscription, resource_group):
            continue
        parameter = (assignment.get("parameters") or {}).get("listOfAllowedLocations") or {}
        allowed = parameter.get("value")
        if isinstance(allowed, list):
            allowed = [str(a).lower() for a in allowed]
            limits.append((assignment.get("displayName") or assignment.get("name"), allowed))
    refusing = [(name, allowed) for name, allowed in limits if location.lower() not in allowed]
    if refusing:
        name, allowed = refusing[0]
        permitted = sorted(set.intersection(*(set(a) for _, a in limits)))
        return Finding(
            check,
            location,
            "fail",
            f"policy assignment {name!r} allows only {', '.join(sorted(allowed))}; Azure would "
            "refuse every resource (RequestDisallowedByPolicy)",
            "set hybrid-kube:aks.location to one of: "
            + (", ".join(permitted) or "none (the assignments disagree; ask the admin)"),
        )
    if limits:
        names = ", ".join(repr(n) for n, _ in limits)
        return Finding(check, location, "ok", f"allowed by {names}")
    if "student" in str(account.get("name", "")).lower():
        return Finding(
            check,
            location,
            "warn",
            "no allowed-locations policy assignment is visible, but Azure for Students "
            "subscriptions restrict regions in a way no assignment lists "
            "(RequestDisallowedByAzure)",
            "check the regions your subscription allows (Azure portal, Policy, or the error of a "
            "first `pulumi up`) and choose one of them",
        )
    return Finding(check, location, "ok", "no allowed-locations policy assignment applies")


# -- VM sizes and quota --------------------------------------------------------------------------


def _skus_by_name(answer: AzResult) -> dict[str, dict]:
    if not answer.ok or not isinstance(answer.data, list):
        return {}
    return {str(s.get("name", "")).lower(): s for s in answer.data if isinstance(s, dict)}


def _restricted(sku: dict, kind: str) -> list[dict]:
    return [
        r
        for r in sku.get("restrictions") or []
        if r.get("type") == kind and r.get("reasonCode") == "NotAvailableForSubscription"
    ]


def _sizes(aks: AksSettings, skus: dict[str, dict], answer: AzResult) -> list[Finding]:
    if not answer.ok:
        return [_could_not("aks.vmsize", aks.location, "the VM sizes", answer)]
    found = []
    for pool in _pools(aks):
        subject, size = f"pool {pool.name}", pool.vm_size
        sku = skus.get(size.lower())
        if sku is None:
            found.append(
                Finding(
                    "aks.vmsize",
                    subject,
                    "fail",
                    f"{size} is not offered in {aks.location}",
                    f"choose a size that `az vm list-skus --location {aks.location} "
                    "--resource-type virtualMachines -o table` lists, or another location",
                )
            )
        elif _restricted(sku, "Location"):
            found.append(
                Finding(
                    "aks.vmsize",
                    subject,
                    "fail",
                    f"{size} is restricted for this subscription in {aks.location} "
                    "(NotAvailableForSubscription)",
                    "choose another size (Standard_D2as_v5 and Standard_D2s_v5 are common "
                    "choices) or location, or request access with an Azure support request",
                )
            )
        elif pool.availability_zones:
            found.append(_zones(pool, sku, subject))
        else:
            found.append(Finding("aks.vmsize", subject, "ok", f"{size} offered in {aks.location}"))
    return found


def _zones(pool: PoolSettings, sku: dict, subject: str) -> Finding:
    info = (sku.get("locationInfo") or [{}])[0]
    offered = set(info.get("zones") or [])
    for restriction in _restricted(sku, "Zone"):
        offered -= set((restriction.get("restrictionInfo") or {}).get("zones") or [])
    missing = sorted(set(pool.availability_zones) - offered)
    if not missing:
        return Finding(
            "aks.vmsize",
            subject,
            "ok",
            f"{pool.vm_size} offered in zones {', '.join(pool.availability_zones)}",
        )
    return Finding(
        "aks.vmsize",
        subject,
        "fail",
        f"{pool.vm_size} is not offered to this subscription in zone(s) {', '.join(missing)} "
        f"(offered: {', '.join(sorted(offered)) or 'none'})",
        "set availabilityZones to offered zones only, or to [] (no zones)",
    )


def max_nodes(pool: PoolSettings) -> int:
    """The most nodes the pool can have in steady state."""
    if pool.autoscaling and pool.max_count is not None:
        return pool.max_count
    return pool.initial_count


def surge_nodes(pool: PoolSettings) -> int:
    """Extra nodes during an upgrade at AKS's default max surge: 10 %, rounded up."""
    return -(-max_nodes(pool) * DEFAULT_MAX_SURGE_PERCENT // 100)


def _sku_cpus(sku: dict | None, size: str) -> int | None:
    for capability in (sku or {}).get("capabilities") or []:
        if capability.get("name") == "vCPUs":
            try:
                return int(capability.get("value"))
            except (TypeError, ValueError):
                break
    return vm_size_cpus(size)


def _number(value: Any) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _quota(aks: AksSettings, skus: dict[str, dict], answer: AzResult) -> list[Finding]:
    if not answer.ok:
        return [_could_not("aks.quota", aks.location, "the vCPU quota", answer)]
    usage = {
        str((u.get("name") or {}).get("value", "")).lower(): u
        for u in answer.data or []
        if isinstance(u, dict)
    }
    needs: dict[str, int] = {}
    names: dict[str, list[str]] = {}
    for pool in _pools(aks):
        sku = skus.get(pool.vm_size.lower())
        cpus = _sku_cpus(sku, pool.vm_size)
        if sku is None or cpus is None or not sku.get("family"):
            continue  # reported by the size check
        family = str(sku["family"])
        needs[family] = needs.get(family, 0) + cpus * (max_nodes(pool) + surge_nodes(pool))
        names.setdefault(family, []).append(pool.name)
    needs_total = sum(needs.values())
    found = [
        _quota_finding(family, f"pools {', '.join(names[family])}", need, usage.get(family.lower()))
        for family, need in needs.items()
    ]
    if needs:
        found.append(_quota_finding("cores", "all pools", needs_total, usage.get("cores")))
    return found


def _quota_finding(family: str, pools: str, need: int, row: dict | None) -> Finding:
    subject = "Total Regional vCPUs" if family == "cores" else family
    if row is None:
        return Finding(
            "aks.quota", subject, "warn", f"no usage row {family!r} listed; cannot check quota"
        )
    used, limit = _number(row.get("currentValue")) or 0, _number(row.get("limit")) or 0
    what = (
        f"{pools} need up to {need} vCPUs at their maximum node counts plus one upgrade surge "
        f"(10 %, at least one node per pool); quota {limit}, {used} in use"
    )
    fix = (
        "lower maxCount/count, choose a smaller size, or request more quota: Azure portal, "
        f"Quotas, Compute, '{row.get('localName') or family}' in this region"
    )
    if need > limit:
        return Finding("aks.quota", subject, "fail", what, fix)
    if need > limit - used:
        return Finding(
            "aks.quota",
            subject,
            "warn",
            what + f"; only {limit - used} free (fine if this stack's cluster is what uses them)",
            fix,
        )
    return Finding("aks.quota", subject, "ok", what)


# -- Kubernetes version and Entra groups ---------------------------------------------------------


def _version(wanted: str, aks: AksSettings, answer: AzResult) -> Finding:
    check, subject = "aks.version", f"Kubernetes {wanted}"
    if not answer.ok:
        return _could_not(check, subject, "the versions AKS offers", answer)
    data = answer.data if isinstance(answer.data, dict) else {}
    if "values" not in data:
        return Finding(
            check,
            subject,
            "warn",
            "`az aks get-versions` answered in a shape this check does not read (the current "
            "one has values[].patchVersions)",
            "update the Azure CLI (`az upgrade`; 2.50 or newer)",
        )
    minor = ".".join(wanted.split(".")[:2])
    entries = {str(v.get("version")): v for v in data["values"] if isinstance(v, dict)}
    offered = sorted(entries, key=lambda v: tuple(int(p) for p in v.split(".") if p.isdigit()))
    entry = entries.get(minor)
    if entry is None:
        return Finding(
            check,
            subject,
            "fail",
            f"AKS offers no {minor} in {aks.location} (offered: {', '.join(offered)})",
            "set hybrid-kube:kubernetesVersion to an offered minor within this project's range",
        )
    patches = sorted(entry.get("patchVersions") or {})
    if wanted != minor and wanted not in patches:
        return Finding(
            check,
            subject,
            "fail",
            f"AKS offers no patch {wanted} in {aks.location} (offered: {', '.join(patches)})",
            f'write the minor ("{minor}") to get its newest patch, or an offered patch',
        )
    plans = (entry.get("capabilities") or {}).get("supportPlan") or []
    if plans and "KubernetesOfficial" not in plans:
        return Finding(
            check,
            subject,
            "fail",
            f"{minor} is offered only with {', '.join(plans)} (long-term support), which needs "
            f"the Premium tier; this stack's tier is {aks.tier}",
            "choose a minor AKS supports in standard support (`az aks get-versions --location "
            f"{aks.location} -o table`)",
        )
    if entry.get("isPreview"):
        return Finding(
            check,
            subject,
            "warn",
            f"{minor} is a preview version in AKS (no support, may change)",
            "prefer a generally available minor",
        )
    return Finding(
        check, subject, "ok", f"offered in {aks.location} (patches {', '.join(patches)})"
    )


def _groups(aks: AksSettings, answers: dict[str, AzResult]) -> list[Finding]:
    found = []
    for group in aks.entra.admin_group_object_ids if aks.entra else []:
        answer, subject = answers[f"group {group}"], f"Entra group {group}"
        if answer.ok:
            name = (answer.data or {}).get("displayName", "?")
            found.append(Finding("aks.entra.group", subject, "ok", f"exists ({name!r})"))
        elif "does not exist" in answer.error or "NotFound" in answer.error:
            found.append(
                Finding(
                    "aks.entra.group",
                    subject,
                    "fail",
                    "no such group in this tenant; nobody could administer the cluster and "
                    "Pulumi's Kubernetes provider would be locked out",
                    "create it (`az ad group create --display-name aks-admins --mail-nickname "
                    "aks-admins --query id -o tsv`), add yourself, and put its id in "
                    "aks.entra.adminGroupObjectIds",
                )
            )
        else:
            found.append(_could_not("aks.entra.group", subject, "the group", answer))
    return found
