"""Least privilege, read from the manifests: each component can do what it needs and no more.

The collector's rules are compared with the kinds its own `--kinds` flags name, resolved through the
collector's kind table (`app.core.kinds`), so adding a kind to the flags without the rule (or the
reverse) fails here.
"""

from __future__ import annotations

from typing import Any

from app.core.kinds import parse_kinds
from tests.k8s.manifests import Doc, app_argv, container_env, containers, find, k8s_docs, workloads

READ_VERBS = {"get", "list", "watch"}


def rules_of(kind: str, name: str) -> list[dict[str, Any]]:
    return list(find(kind, name).obj["rules"])


def grants(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """(apiGroup, resource, verb) triples a rule list allows."""
    return {(g, r, v) for rule in rules for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}


def bound_service_accounts(role_kind: str, role_name: str) -> set[tuple[str, str]]:
    binding_kind = "ClusterRoleBinding" if role_kind == "ClusterRole" else "RoleBinding"
    out = set()
    for d in k8s_docs():
        if d.kind == binding_kind and d.obj["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role_name,
        }:
            out |= {(s["namespace"], s["name"]) for s in d.obj["subjects"] if s["kind"] == "ServiceAccount"}
    return out


def collector_kind_flags() -> list[list[str]]:
    """The `--kinds` values of every `collect watch` container under k8s/."""
    found = []
    for _doc, spec in workloads():
        for c in containers(spec):
            argv = app_argv(c)
            if argv and argv[:2] == ["collect", "watch"]:
                i = argv.index("--kinds")
                kinds = []
                for a in argv[i + 1:]:
                    if a.startswith("-"):
                        break
                    kinds.append(a)
                found.append(kinds)
    return found


def test_collector_reads_exactly_the_kinds_it_watches() -> None:
    flags = collector_kind_flags()
    assert len(flags) == 2, "expected the collect Job and the collector Deployment"
    assert flags[0] == flags[1], "the collect Job and the collector Deployment should watch the same kinds"
    wanted = {(k.group, k.plural) for k in parse_kinds(flags[0])}
    rules = rules_of("ClusterRole", "podpower-collector")
    granted = grants(rules)
    assert {v for _, _, v in granted} <= READ_VERBS
    assert {(g, r) for g, r, _ in granted} == wanted
    for g, r in wanted:
        assert {v for gg, rr, v in granted if (gg, rr) == (g, r)} == READ_VERBS, f"{g}/{r}: needs get, list, watch"
    assert all("resourceNames" not in rule for rule in rules)  # cluster-wide listing cannot be name-scoped
    assert bound_service_accounts("ClusterRole", "podpower-collector") == {("podpower", "podpower-collector")}


def test_prescore_may_only_get_its_one_deployment() -> None:
    role = find("Role", "podpower-prescore")
    cron = find("CronJob", "podpower-prescore")
    (container,) = cron.obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    env = container_env(container)
    assert grants(role.obj["rules"]) == {("apps", "deployments", "get")}
    assert [rule.get("resourceNames") for rule in role.obj["rules"]] == [[env["TARGET_DEPLOYMENT"]]]
    assert role.namespace == env["TARGET_NAMESPACE"], "the Role must sit in the namespace the job reads"
    assert bound_service_accounts("Role", "podpower-prescore") == {("podpower", "podpower-prescore")}
    binding = next(d for d in k8s_docs() if d.kind == "RoleBinding" and d.name == "podpower-prescore")
    assert binding.namespace == role.namespace


def test_no_cluster_admin_and_no_wildcards() -> None:
    for d in k8s_docs():
        if d.kind in ("Role", "ClusterRole"):
            for rule in d.obj["rules"]:
                for key in ("apiGroups", "resources", "verbs"):
                    assert "*" not in rule[key], f"{d}: wildcard in {key}"
        if d.kind in ("RoleBinding", "ClusterRoleBinding"):
            assert d.obj["roleRef"]["name"] not in ("cluster-admin", "admin", "edit", "view"), str(d)


def service_account(doc: Doc, spec: dict[str, Any]) -> str:
    return str(spec.get("serviceAccountName", "default"))


def test_only_collector_prescore_and_webhook_pods_get_a_token() -> None:
    with_token = set()
    for doc, spec in workloads():
        sa = service_account(doc, spec)
        sa_doc = find("ServiceAccount", sa)
        mounted = spec.get("automountServiceAccountToken", sa_doc.obj.get("automountServiceAccountToken", True))
        if mounted:
            with_token.add((doc.kind, doc.name, sa))
    assert with_token == {
        ("Job", "podpower-collect", "podpower-collector"),
        ("Deployment", "podpower-collector", "podpower-collector"),
        ("CronJob", "podpower-prescore", "podpower-prescore"),
        ("Deployment", "podpower-webhook", "podpower-webhook"),  # watches Namespaces for budgets
    }


def test_pipeline_jobs_do_not_mount_tokens() -> None:
    names = ["podpower-encode", "podpower-labels", "podpower-join", "podpower-train"]
    for doc, spec in workloads():
        if doc.name in names or doc.name == "podpower-retrain":
            assert spec["automountServiceAccountToken"] is False, str(doc)
            assert spec["serviceAccountName"] == "podpower-pipeline", str(doc)
    pipeline_sa = find("ServiceAccount", "podpower-pipeline")
    assert pipeline_sa.obj["automountServiceAccountToken"] is False
    assert bound_service_accounts("ClusterRole", "podpower-collector").isdisjoint({("podpower", "podpower-pipeline")})
    for d in k8s_docs():
        if d.kind in ("RoleBinding", "ClusterRoleBinding"):
            assert all(s["name"] not in ("podpower-pipeline", "podpower-predict") for s in d.obj["subjects"]), str(d)
