"""Per-stack app settings (`hybrid-kube:appConfig`): declared in the app's spec, validated with
the key path, delivered to the pods through the workload's ConfigMap, rolled on change."""

from __future__ import annotations

import html

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml
from pydantic import ValidationError
from support import pod_spec, run_main
from test_workload import deploy, one

from apps import CATALOG, settings_catalog
from components.appspec import AppSpec, ConfigFile, ConfigSetting, WorkloadSpec
from components.recording import Recording, run_program
from components.settings import SettingsError, load_settings
from components.settings.apps import AppDeclaration, config_lines
from components.stackfile import PROJECT_ROOT
from components.workload import CHECKSUM_CONFIG, App, AppArgs

STACKS = ("local", "onprem-lab", "azure-dev")
WEB = CATALOG["web"]
PODINFO = CATALOG["podinfo"]
EXISTING = {"target": "existing", "existing": {"context": "kind-kind"}}
# Every app in the catalog, in its order (web, podinfo, and any app you add).
ALLOWED = ", ".join(CATALOG)


def stack_app_config(stack: str) -> dict:
    """`hybrid-kube:appConfig` exactly as the stack file writes it."""
    text = (PROJECT_ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)["config"]["hybrid-kube:appConfig"]


def problems(raw: dict, catalog=None) -> list[tuple[str, str]]:
    with pytest.raises(SettingsError) as caught:
        load_settings({**EXISTING, **raw}, settings_catalog() if catalog is None else catalog)
    return caught.value.problems


def env_source(deployment: dict, variable: str) -> dict:
    (container,) = pod_spec(deployment)["containers"]
    (entry,) = [e for e in container["env"] if e["name"] == variable]
    return entry["valueFrom"]


# -- from the stack file to the pod ---------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_every_shipped_stack_sets_settings_that_reach_the_pods(stack):
    values = stack_app_config(stack)
    rec = run_main(stack)
    page = one(rec, "ConfigMap", "web", "web")["data"]["index.html"]
    assert f"<h1>{html.escape(values['web']['message'])}</h1>" in page
    frontend = one(rec, "Deployment", "frontend", "podinfo")
    data = one(rec, "ConfigMap", "frontend", "podinfo")["data"]
    for variable, key in (
        ("PODINFO_UI_MESSAGE", "message"),
        ("PODINFO_UI_COLOR", "color"),
        ("PODINFO_LEVEL", "logLevel"),
    ):
        source = env_source(frontend, variable)
        assert source == {"configMapKeyRef": {"name": "frontend", "key": variable}}
        assert data[variable] == values["podinfo"][key]
    # Every setting differs from its default somewhere, so the stacks show the mechanism.
    declared = {f"web.{k}": s for k, s in WEB.config.items()}
    declared |= {f"podinfo.{k}": s for k, s in PODINFO.config.items()}
    across = [stack_app_config(s) for s in STACKS]
    for path, setting in declared.items():
        app, key = path.split(".")
        assert any(c[app][key] != setting.default for c in across), path


def test_the_stacks_show_different_values():
    messages = {stack_app_config(s)["web"]["message"] for s in STACKS}
    assert len(messages) == len(STACKS)


def test_a_stack_value_reaches_the_pod_html_escaped():
    message = "<script>alert('x')</script> & more"
    rec = run_main("local", overrides={"hybrid-kube:appConfig": {"web": {"message": message}}})
    page = one(rec, "ConfigMap", "web", "web")["data"]["index.html"]
    assert "<h1>&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; more</h1>" in page
    assert "<script>" not in page


def test_unset_settings_take_their_defaults():
    rec = run_main("local", overrides={"hybrid-kube:appConfig": {}})
    assert (
        f"<h1>{WEB.config['message'].default}</h1>"
        in one(rec, "ConfigMap", "web", "web")["data"]["index.html"]
    )
    data = one(rec, "ConfigMap", "frontend", "podinfo")["data"]
    assert data["PODINFO_UI_COLOR"] == PODINFO.config["color"].default
    assert data["PODINFO_LEVEL"] == PODINFO.config["logLevel"].default


def annotations(rec, kind: str, name: str) -> dict:
    return one(rec, kind, name)["spec"]["template"]["metadata"]["annotations"]


def test_a_changed_value_changes_the_rollout_checksum_and_an_equal_one_does_not():
    first = deploy_with(PODINFO, {"color": "#112233"})
    again = deploy_with(PODINFO, {"color": "#112233"})
    second = deploy_with(PODINFO, {"color": "#445566"})
    a, b, c = (annotations(r, "Deployment", "frontend") for r in (first, again, second))
    assert a[CHECKSUM_CONFIG] == b[CHECKSUM_CONFIG]
    assert a[CHECKSUM_CONFIG] != c[CHECKSUM_CONFIG]
    # Valkey reads no setting: its pods stay as they are.
    assert one(first, "StatefulSet", "valkey", "podinfo") == one(
        second, "StatefulSet", "valkey", "podinfo"
    )


def deploy_with(spec: AppSpec, config: dict) -> Recording:
    """The App alone, with `appConfig.<app>` values as the settings hand them over."""

    def program():
        provider = k8s.Provider("test-provider", kubeconfig=pulumi.Output.secret("{}"))
        App(
            spec.name,
            AppArgs(spec=spec, config=config),
            opts=pulumi.ResourceOptions(providers=[provider]),
        )

    return run_program(program)


def test_the_workload_waits_for_its_configmap():
    rec = deploy(WEB)
    configmap = rec.named("web-web-configmap")
    assert configmap.urn in rec.named("web-web-deployment").dependencies


def test_bool_and_int_settings_are_written_as_text_and_files_are_mounted():
    spec = AppSpec(
        name="echo",
        config={
            "verbose": ConfigSetting(type="bool", default=False),
            "workers": ConfigSetting(type="int", default=2),
            "greeting": ConfigSetting(default="hi"),
        },
        config_files={
            "app.conf": ConfigFile(template="greeting = {greeting}\nworkers = {workers}\n")
        },
        workloads=(
            WorkloadSpec(
                name="echo",
                image="ghcr.io/example/echo:1.2.3",
                port=8080,
                config_env={"VERBOSE": "verbose"},
                config_files={"app.conf": "app.conf"},
                files_path="/etc/echo",
            ),
        ),
    )
    rec = deploy_with(spec, {"verbose": True, "workers": 8})
    assert one(rec, "ConfigMap", "echo")["data"] == {
        "VERBOSE": "true",
        "app.conf": "greeting = hi\nworkers = 8\n",
    }
    pod = pod_spec(one(rec, "Deployment", "echo"))
    (volume,) = [v for v in pod["volumes"] if v["name"] == "files"]
    assert volume["configMap"] == {
        "name": "echo",
        "items": [{"key": "app.conf", "path": "app.conf"}],
    }
    (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "files"]
    assert mount == {"name": "files", "mountPath": "/etc/echo", "readOnly": True}


# -- validation of the stack's values -------------------------------------------------------------


def test_bad_values_are_all_reported_with_the_key_path_and_what_is_allowed():
    found = problems(
        {
            "appConfig": {
                "web": {"message": 1.1, "mesage": "x"},
                "podinfo": {"logLevel": "verbose", "color": "blue"},
                "shop": {"currency": "EUR"},
            }
        }
    )
    assert found == [
        (
            "hybrid-kube:appConfig.web.message",
            "expected text, got 1.1; quote it in the stack file so it stays text, or set it "
            "with `pulumi config set --type string --path ...`",
        ),
        (
            "hybrid-kube:appConfig.web.mesage",
            "app 'web' has no setting 'mesage' (did you mean 'message'?); its settings: message",
        ),
        (
            "hybrid-kube:appConfig.podinfo.logLevel",
            "'verbose' is not allowed; allowed: debug, info, warn, error",
        ),
        (
            "hybrid-kube:appConfig.podinfo.color",
            "'blue' is not allowed; allowed: text matching ^#[0-9a-fA-F]{6}$ "
            "(The page's background colour, as #rrggbb)",
        ),
        ("hybrid-kube:appConfig.shop", f"unknown app 'shop'; allowed: {ALLOWED}"),
    ]


TYPED = {
    "echo": AppDeclaration(
        config={
            "verbose": ConfigSetting(type="bool", default=False),
            "workers": ConfigSetting(type="int", default=2, allowed=(1, 2, 4, 8)),
        }
    )
}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"verbose": "yes"}, ("verbose", "expected true or false, got 'yes'")),
        ({"verbose": 1}, ("verbose", "expected true or false, got 1")),
        ({"workers": True}, ("workers", "expected 1, 2, 4, 8, got True")),
        ({"workers": 3}, ("workers", "3 is not allowed; allowed: 1, 2, 4, 8")),
        ({"workers": "two"}, ("workers", "expected 1, 2, 4, 8, got 'two'")),
    ],
)
def test_typed_settings_say_what_they_expect(value, message):
    key, text = message
    assert problems({"appConfig": {"echo": value}}, TYPED) == [
        (f"hybrid-kube:appConfig.echo.{key}", text)
    ]


def test_typed_settings_accept_their_text_form_from_the_engine():
    settings = load_settings(
        {**EXISTING, "appConfig": '{"echo": {"verbose": "true", "workers": "4"}}'}, TYPED
    )
    assert settings.app_config == {"echo": {"verbose": True, "workers": 4}}


def test_text_settings_take_numbers_and_bools_as_pulumi_config_set_path_stores_them():
    # `pulumi config set --path 'appConfig.web.message' 42` stores the number 42.
    settings = load_settings({**EXISTING, "appConfig": {"web": {"message": 42}}}, CATALOG)
    assert settings.app_config == {"web": {"message": "42"}}
    settings = load_settings({**EXISTING, "appConfig": {"web": {"message": True}}}, CATALOG)
    assert settings.app_config == {"web": {"message": "true"}}


def test_an_app_without_settings_says_so():
    catalog = {"plain": AppDeclaration()}
    assert problems({"appConfig": {"plain": {"x": 1}}}, catalog) == [
        ("hybrid-kube:appConfig.plain.x", "app 'plain' declares no settings")
    ]


def test_the_older_secret_only_catalog_still_validates_app_secrets():
    catalog = {name: spec.secret_names for name, spec in CATALOG.items()}
    assert problems({"appSecrets": {"podinfo": {"nope": "x" * 32}}}, catalog) == [
        (
            "hybrid-kube:appSecrets.podinfo.nope",
            "app 'podinfo' reads no secret 'nope'; it reads: valkeyPassword",
        )
    ]
    # ...and knows no settings, which is what it says rather than accepting them.
    assert problems({"appConfig": {"web": {"message": "x"}}}, catalog) == [
        ("hybrid-kube:appConfig.web.message", "app 'web' declares no settings")
    ]


# -- declarations ---------------------------------------------------------------------------------


def workload(**changes) -> dict:
    return {"name": "echo", "image": "ghcr.io/example/echo:1.2.3", "port": 8080, **changes}


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"default": 3}, "default: expected text, got 3"),
        ({"type": "int", "default": "3"}, "default: expected a whole number, got '3'"),
        ({"type": "int", "default": True}, "default: expected a whole number, got True"),
        ({"type": "bool", "default": "true"}, "default: expected true or false, got 'true'"),
        ({"default": "loud", "allowed": ("quiet",)}, "default: 'loud' is not allowed"),
        ({"type": "bool", "default": True, "allowed": ("yes",)}, "a bool setting is already"),
        ({"type": "int", "default": 1, "pattern": "^1$"}, "pattern applies to str settings only"),
        ({"default": "x", "pattern": "("}, "is not a regular expression"),
        ({"type": "int", "default": 1, "allowed": (1, "2")}, "allowed values ['2'] are not"),
    ],
)
def test_bad_setting_declarations_fail_when_declared(setting, message):
    with pytest.raises(ValidationError) as caught:
        ConfigSetting(**setting)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("app", "message"),
    [
        (
            {"config": {"log-level": {"default": "x"}}, "workloads": [workload()]},
            "String should match pattern",
        ),
        (
            {"workloads": [workload(config_env={"LEVEL": "level"})]},
            "echo.config_env[LEVEL] names unknown setting 'level'",
        ),
        (
            {"config": {"level": {"default": "x"}}, "workloads": [workload()]},
            "settings ['level'] reach no pod",
        ),
        (
            {
                "config": {"level": {"default": "x"}},
                "config_files": {"a.conf": {"template": "{level} {other}"}},
                "workloads": [workload(config_files={"a.conf": "a.conf"}, files_path="/etc/a")],
            },
            "config file 'a.conf' uses unknown settings ['other']",
        ),
        (
            {
                "config": {"level": {"default": "x"}},
                "config_files": {"a.conf": {"template": "{level:upper}"}},
                "workloads": [workload(config_files={"a.conf": "a.conf"}, files_path="/etc/a")],
            },
            "{level:upper} uses unknown transform 'upper'; allowed: html",
        ),
        (
            {
                "config": {"level": {"default": "x"}},
                "config_files": {"a.conf": {"template": "{level}"}},
                "workloads": [workload(config_env={"LEVEL": "level"})],
            },
            "config files ['a.conf'] are mounted by no workload",
        ),
        (
            {
                "config": {"level": {"default": "x"}},
                "config_files": {"a.conf": {"template": "{level}"}},
                "workloads": [workload(config_files={"a.conf": "a.conf"})],
            },
            "config_files need files_path",
        ),
        (
            {
                "config": {"level": {"default": "x"}},
                "workloads": [workload(env={"LEVEL": "x"}, config_env={"LEVEL": "level"})],
            },
            "'LEVEL' is in both env and config_env",
        ),
        (
            {
                "config": {"level": {"default": "x"}},
                "secrets": {"pw": {}},
                "workloads": [workload(secret_env={"LEVEL": "pw"}, config_env={"LEVEL": "level"})],
            },
            "'LEVEL' is in both config_env and secret_env",
        ),
        (
            {
                "config": {"level": {"default": "x"}},
                "config_files": {"a.conf": {"template": "{level}"}},
                "workloads": [
                    workload(
                        files={"a.conf": "fixed"},
                        config_files={"a.conf": "a.conf"},
                        files_path="/etc/a",
                    )
                ],
            },
            "'a.conf' is in both files and config_files",
        ),
    ],
)
def test_bad_app_config_declarations_fail_when_declared(app, message):
    with pytest.raises(ValidationError) as caught:
        AppSpec(name="echo", **app)
    assert message in str(caught.value)


# -- check ----------------------------------------------------------------------------------------


def test_check_lists_every_setting_with_its_value_and_default():
    settings = load_settings(
        {**EXISTING, "appConfig": {"podinfo": {"logLevel": "debug"}}}, settings_catalog()
    )
    assert config_lines(settings, settings_catalog()) == [
        "  app settings:",
        '    web.message: "Hello from hybrid-kube" (default)',
        '    podinfo.message: "Hello from hybrid-kube" (default)',
        '    podinfo.color: "#34577c" (default)',
        '    podinfo.logLevel: "debug" (default "info")',
    ]
    only_web = load_settings({**EXISTING, "apps": ["web"]}, settings_catalog())
    assert config_lines(only_web, settings_catalog()) == [
        "  app settings:",
        '    web.message: "Hello from hybrid-kube" (default)',
    ]


def test_an_encrypted_setting_is_refused_because_configmaps_are_plain_text():
    raw = {**EXISTING, "appConfig": {"web": {"message": "hi"}}}
    with pytest.raises(SettingsError) as caught:
        load_settings(raw, settings_catalog(), secret_keys={"appConfig"})
    assert caught.value.problems == [
        (
            "hybrid-kube:appConfig",
            "holds an encrypted value, but these values are written in plain text into "
            "ConfigMaps and pod templates; set them without --secret, and keep secrets in "
            "appSecrets (the app's declared `secrets`)",
        )
    ]
    assert load_settings(raw, settings_catalog(), secret_keys=set()).app_config == {
        "web": {"message": "hi"}
    }


def test_values_for_an_app_the_stack_does_not_deploy_are_a_warning():
    from components.settings.existing import without_cluster

    raw = {
        "target": "existing",
        "apps": ["web"],
        "appConfig": {"podinfo": {"color": "#000000"}, "web": {"message": "hi"}},
    }
    with without_cluster():
        settings = load_settings(raw, settings_catalog())
    assert [w for w in settings.warnings if "appConfig" in w] == [
        "hybrid-kube:appConfig.podinfo: set, but 'podinfo' is not in this stack's apps (web); "
        "it is not deployed, so these values are unused"
    ]


SENTINEL = "hunter2-SECRET"


@pytest.mark.parametrize(
    "encrypted",
    [
        {"appConfig": {"podinfo": {"logLevel": SENTINEL}}},
        {"appConfig": {"podinfo": SENTINEL}},
        {"appConfig": SENTINEL},
        {"appImages": {"podinfo": {"frontend": SENTINEL}}},
        {"appImages": {"web": SENTINEL}},
        {"appImages": {"podinfo": {"frontend": f"ghcr.io/{SENTINEL}:1.0.0"}}},
    ],
)
def test_an_encrypted_value_is_reported_once_and_never_echoed(encrypted):
    """An encrypted appConfig/appImages is refused for being encrypted; its values are not
    validated, so no other message (a disallowed value, a shape error) repeats them."""
    (key,) = encrypted
    with pytest.raises(SettingsError) as caught:
        load_settings({**EXISTING, **encrypted}, settings_catalog(), secret_keys={key})
    assert [path for path, _ in caught.value.problems] == [f"hybrid-kube:{key}"]
    assert SENTINEL not in str(caught.value)
    assert SENTINEL.lower() not in str(caught.value).lower()


@pytest.mark.parametrize(
    ("app_config", "path", "message"),
    [
        (
            {"podinfo": "debug"},
            "hybrid-kube:appConfig.podinfo",
            "appConfig.<app> maps setting -> value; podinfo's settings: message, color, logLevel",
        ),
        (
            ["debug"],
            "hybrid-kube:appConfig",
            "expected an object: app -> setting -> value; e.g. appConfig: {web: {...}} in the "
            "stack file, or pulumi config set --path 'appConfig.<app>.<name>' <value>",
        ),
        ({"shop": "x"}, "hybrid-kube:appConfig.shop", f"unknown app 'shop'; allowed: {ALLOWED}"),
        (
            # `color: #0078d4` unquoted: YAML reads a comment, so the value is null.
            {"podinfo": {"color": None}},
            "hybrid-kube:appConfig.podinfo.color",
            'has no value: in a stack file, # starts a YAML comment: quote it (color: "#..."), '
            "or write a value after the colon",
        ),
    ],
)
def test_a_wrong_shape_or_a_missing_value_says_what_to_write(app_config, path, message):
    assert problems({"appConfig": app_config}) == [(path, message)]


def test_an_unquoted_colour_in_a_stack_file_is_a_yaml_comment_and_says_so():
    text = "config:\n  hybrid-kube:appConfig:\n    podinfo:\n      color: #0078d4\n"
    app_config = yaml.safe_load(text)["config"]["hybrid-kube:appConfig"]
    ((path, message),) = problems({"appConfig": app_config})
    assert path == "hybrid-kube:appConfig.podinfo.color"
    assert "# starts a YAML comment: quote it" in message
