"""The transitions harness itself (tests/transitions.py): its rules on small programs, so a day-2
test that relies on it cannot pass because the harness misreads a change."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
from pulumi_command import remote
from transitions import plan

from components.recording import run_program

CONNECTION = remote.ConnectionArgs(host="192.0.2.10", user="ubuntu")


def _commands(
    first_trigger: str = "a", stdin: str = "x", with_second: bool = True, delete_first=True
):
    def program() -> None:
        first = remote.Command(
            "first",
            connection=CONNECTION,
            create="sudo -n bash -s -- create",
            delete="sudo -n bash -s -- delete",
            stdin=f"# hybrid-kube step: first.sh\n{stdin}",
            triggers=[first_trigger],
            opts=pulumi.ResourceOptions(delete_before_replace=delete_first),
        )
        if with_second:
            remote.Command(
                "second",
                connection=remote.ConnectionArgs(host="192.0.2.11", user="ubuntu"),
                create="sudo -n bash -s -- create",
                delete="sudo -n bash -s -- delete",
                stdin="# hybrid-kube step: second.sh\n",
                opts=pulumi.ResourceOptions(depends_on=[first]),
            )

    return run_program(program)


def test_no_edit_plans_nothing():
    assert not plan(_commands(), _commands()).changed


def test_triggers_replace_and_other_inputs_rerun_create():
    base = _commands()
    replaced = plan(base, _commands(first_trigger="b"))
    assert replaced.replaced == {"first": "triggers changed"}
    assert [(a.resource, a.action) for a in replaced.host_actions] == [
        ("first", "delete"),
        ("first", "create"),
    ]
    # Without delete-before-replace the engine creates the new one first, deletes the old last.
    later = plan(_commands(delete_first=False), _commands(first_trigger="b", delete_first=False))
    assert [(a.resource, a.action) for a in later.host_actions] == [
        ("first", "create"),
        ("first", "delete"),
    ]
    rerun = plan(base, _commands(stdin="y"))
    assert rerun.updated == ["first"] and not rerun.replaced
    assert [(a.resource, a.script, a.action) for a in rerun.host_actions] == [
        ("first", "first.sh", "create")
    ]


def test_removed_resources_are_deleted_dependents_first_with_their_old_host():
    removed = plan(_commands(), _commands(with_second=False))
    assert removed.deleted == ["second"]
    assert [(a.resource, a.host, a.action) for a in removed.host_actions] == [
        ("second", "192.0.2.11", "delete")
    ]
    both_gone = plan(_commands(), run_program(lambda: None))
    assert [a.resource for a in both_gone.actions("delete")] == ["second", "first"]
    assert both_gone.deleted_before("second", "first")
    assert not both_gone.deleted_before("first", "second")
    assert not both_gone.may_run_concurrently("first", "second")


def _provider(kubeconfig_server: str, identifier: str | None):
    kubeconfig = (
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
        f"clusters: [{{name: k, cluster: {{server: '{kubeconfig_server}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
    )

    def program() -> None:
        provider = k8s.Provider("p", kubeconfig=kubeconfig, cluster_identifier=identifier)
        k8s.core.v1.Namespace(
            "ns",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="demo"),
            opts=pulumi.ResourceOptions(provider=provider),
        )

    return run_program(program)


def test_kubernetes_provider_follows_cluster_identifier_when_set():
    same_cluster = plan(_provider("https://a:6443", "id-1"), _provider("https://b:6443", "id-1"))
    assert same_cluster.updated == ["p"] and not same_cluster.replaced
    other = plan(_provider("https://a:6443", "id-1"), _provider("https://a:6443", "id-2"))
    assert set(other.replaced) == {"p", "ns"}
    assert "provider p is replaced" in other.replaced["ns"]


def test_without_identifier_a_new_active_cluster_replaces_everything():
    moved = plan(_provider("https://a:6443", None), _provider("https://b:6443", None))
    assert set(moved.replaced) == {"p", "ns"}


def test_deleting_or_replacing_a_protected_resource_refuses_the_update():
    def program(trigger: str, protect: bool = True):
        def run() -> None:
            remote.Command(
                "kept",
                connection=CONNECTION,
                create="true",
                triggers=[trigger],
                opts=pulumi.ResourceOptions(protect=protect),
            )

        return run_program(run)

    assert plan(program("a"), program("b")).protected == ["kept"]
    assert plan(program("a"), run_program(lambda: None)).refused
    assert not plan(program("a", protect=False), program("b", protect=False)).refused
    # The engine refuses a replacement only when old and new are both protected: protection
    # that arrives in the same update as the replacing edit does not stop it ...
    assert not plan(program("a", protect=False), program("b")).refused
    # ... and dropping protection in the same update as the replacing edit lets it through.
    assert not plan(program("a"), program("b", protect=False)).refused


def _stateful(size: str, *, alias: bool = False, namespace_type=k8s.core.v1.Namespace):
    def program() -> None:
        namespace = namespace_type(
            "ns",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="demo"),
            opts=pulumi.ResourceOptions(
                aliases=[pulumi.Alias(type_="kubernetes:core/v1:Namespace")] if alias else None
            ),
        )
        template = k8s.core.v1.PersistentVolumeClaimArgs(
            metadata=k8s.meta.v1.ObjectMetaArgs(name="data"),
            spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                access_modes=["ReadWriteOnce"],
                resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": size}),
            ),
        )
        k8s.apps.v1.StatefulSet(
            "sts",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="db", namespace=namespace.metadata.name),
            spec=k8s.apps.v1.StatefulSetSpecArgs(
                service_name="db",
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"app": "db"}),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels={"app": "db"}),
                    spec=k8s.core.v1.PodSpecArgs(
                        containers=[k8s.core.v1.ContainerArgs(name="db", image="db:1.0.0")]
                    ),
                ),
                volume_claim_templates=[template],
            ),
            opts=pulumi.ResourceOptions(
                ignore_changes=(
                    ["spec.volumeClaimTemplates[0].spec.resources.requests.storage"]
                    if size != "1Gi"
                    else None
                )
            ),
        )

    return run_program(program)


def test_a_change_under_an_ignored_path_is_neither_a_replacement_nor_an_update():
    grown = plan(_stateful("1Gi"), _stateful("2Gi"))
    assert grown.replaced == {} and grown.updated == []


def test_an_alias_matches_the_old_resource_instead_of_deleting_it():
    renamed_type = plan(
        _stateful("1Gi"),
        _stateful("1Gi", alias=True, namespace_type=k8s.core.v1.NamespacePatch),
    )
    assert renamed_type.deleted == [] and renamed_type.created == []
    without_alias = plan(
        _stateful("1Gi"), _stateful("1Gi", namespace_type=k8s.core.v1.NamespacePatch)
    )
    assert without_alias.deleted == ["ns"] and without_alias.created == ["ns"]


def _steps(first_trigger: str):
    """`second`'s triggers come from `first`'s id: replacing `first` replaces `second` too."""

    def program() -> None:
        first = remote.Command(
            "first",
            connection=CONNECTION,
            create="true",
            delete="true",
            stdin="# hybrid-kube step: first.sh\n",
            triggers=[first_trigger],
            opts=pulumi.ResourceOptions(delete_before_replace=True),
        )
        remote.Command(
            "second",
            connection=CONNECTION,
            create="true",
            delete="true",
            stdin="# hybrid-kube step: second.sh\n",
            triggers=[first.id],
            opts=pulumi.ResourceOptions(delete_before_replace=True),
        )

    return run_program(program)


def test_delete_before_replace_replaces_dependents_whose_triggers_come_from_it_first():
    p = plan(_steps("a"), _steps("b"))
    assert set(p.replaced) == {"first", "second"}
    assert [(a.resource, a.action) for a in p.host_actions] == [
        ("second", "delete"),
        ("first", "delete"),
        ("first", "create"),
        ("second", "create"),
    ]


def test_a_dependent_replacement_of_a_protected_resource_is_refused_by_its_old_protection():
    def program(trigger: str):
        def run() -> None:
            first = remote.Command(
                "first",
                connection=CONNECTION,
                create="true",
                triggers=[trigger],
                opts=pulumi.ResourceOptions(delete_before_replace=True),
            )
            remote.Command(
                "kept",
                connection=CONNECTION,
                create="true",
                triggers=[first.id],
                opts=pulumi.ResourceOptions(protect=True),
            )

        return run_program(run)

    assert plan(program("a"), program("b")).protected == ["kept"]
