"""The watch, driven through the real `kubernetes` client against a loopback API server.

Expected lines are built independently from the manifests the test serves (the converter's
output for that manifest, i.e. what `collect from-file` prints), and compared exactly: order,
count, content — so a lost, duplicated or half-written line fails the test.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from app.cli.main import main
from app.core.errors import UpstreamError
from tests.collector.conftest import expected_line, wait_for
from tests.collector.fake_apiserver import FakeApiServer
from tests.collector.manifests import cronjob, deployment, job, pod, statefulset
from tests.conftest import free_port


def test_initial_list_emits_every_workload_once_in_kind_order(api: FakeApiServer, start_collector) -> None:
    web, shop_api = deployment("web"), deployment("api")
    extra = [deployment(f"d{i}", "tools") for i in range(3)]
    db, nightly, run = statefulset("db"), cronjob("nightly"), job("migrate")
    bare = pod("debug")
    for obj in (web, shop_api, *extra, db, nightly, run, bare,
                job("nightly-2890", owner="nightly"),  # spawned by a watched CronJob
                pod("web-5d8f-abcde", owner=("ReplicaSet", "web-5d8f"))):  # a Deployment's pod
        api.apply(obj)
    run_ = start_collector(("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod"), once=True,
                           page_size=2)
    run_.thread.join(10)
    run_.stop()
    # kinds in the order asked; inside a kind the server's order (namespace, name)
    expected = [expected_line(o) for o in (shop_api, web, *extra, db, run, nightly, bare)]
    assert run_.lines() == expected
    # 5 Deployments with pages of 2 → 3 list requests, the later ones with a continue token
    deploy_lists = api.list_requests("Deployment")
    assert [q.get("limit") for q in deploy_lists] == ["2", "2", "2"]
    assert "continue" not in deploy_lists[0] and all("continue" in q for q in deploy_lists[1:])
    # the kubeconfig's bearer token reached the server
    assert all(h.get("authorization") == "Bearer test-token" for _, _, h in api.requests)


def test_template_change_emits_status_change_does_not(api: FakeApiServer, start_collector) -> None:
    web = api.apply(deployment("web"))
    run = start_collector()
    run.wait_lines(1)
    api.wait_watching("Deployment")
    assert api.watch_requests("Deployment")[0]["resourceVersion"] == web["metadata"]["resourceVersion"]
    assert api.watch_requests("Deployment")[0]["allowWatchBookmarks"] == "true"

    status_only = deployment("web", ready_replicas=2)
    status_only["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "2"
    api.apply(status_only)  # MODIFIED, but only status and annotations changed
    new_image = deployment("web", image="nginx:1.28", ready_replicas=2)
    api.apply(new_image)
    scaled = deployment("web", image="nginx:1.28", replicas=5)
    api.apply(scaled)  # replicas drive the total power: a change worth emitting
    lines = run.wait_lines(3)
    run.stop()
    # events are applied in order, so the status-only update was seen before the image change
    assert lines == [expected_line(web), expected_line(new_image), expected_line(scaled)]


def test_stream_dropped_mid_watch_resumes_from_last_resource_version(api: FakeApiServer, start_collector) -> None:
    web = api.apply(deployment("web"))
    run = start_collector()
    run.wait_lines(1)
    api.wait_watching("Deployment")
    shop_api = api.apply(deployment("api"))
    run.wait_lines(2)

    api.gate.clear()  # the next watch request waits, so these changes happen while we are disconnected
    api.drop_watches()
    db = api.apply(deployment("db"))
    web2 = api.apply(deployment("web", image="nginx:1.28"))
    api.gate.set()
    run.wait_lines(4)
    api.wait_watching("Deployment")

    api.drop_watches(mid_event=True)  # the next event is cut in half, then the connection dies
    cache = api.apply(deployment("cache"))
    run.wait_lines(5)
    api.wait_watching("Deployment")
    last = api.apply(deployment("last"))
    lines = run.wait_lines(6)
    run.stop()

    assert lines == [expected_line(o) for o in (web, shop_api, db, web2, cache, last)]
    resumed = [q["resourceVersion"] for q in api.watch_requests("Deployment")]
    # watch 1 from the list; watch 2 from the last event before the drop; watch 3 from web2, because
    # the half-sent `cache` event was not taken (it came again, whole, on watch 3, as did `last`)
    assert resumed == [o["metadata"]["resourceVersion"] for o in (web, shop_api, web2)]
    assert len(api.list_requests("Deployment")) == 1  # resumed, never relisted


def test_timeout_renews_and_bookmark_advances_the_resource_version(api: FakeApiServer, start_collector) -> None:
    web = api.apply(deployment("web"))
    run = start_collector(watch_timeout=1)
    run.wait_lines(1)
    wait_for(lambda: len(api.watch_requests("Deployment")) >= 2, 5, "a renewed watch after timeoutSeconds=1")
    first, second = api.watch_requests("Deployment")[:2]
    assert first["timeoutSeconds"] == "1"
    assert first["resourceVersion"] == second["resourceVersion"] == web["metadata"]["resourceVersion"]

    api.wait_watching("Deployment")
    api.bump(7)  # other resources moved on
    api.bookmark()
    bookmark_rv = str(api.rv)
    wait_for(lambda: any(q["resourceVersion"] == bookmark_rv for q in api.watch_requests("Deployment")), 5,
             "a watch resumed from the bookmark's resourceVersion")
    changed = api.apply(deployment("web", cpu="500m"))
    lines = run.wait_lines(2)
    run.stop()
    assert lines == [expected_line(web), expected_line(changed)]
    assert len(api.list_requests("Deployment")) == 1


@pytest.mark.parametrize("gone_as_http", [False, True], ids=["error-event", "http-410"])
def test_gone_relists_emits_only_changes_and_logs_deletions(
    api: FakeApiServer, start_collector, gone_as_http: bool, caplog: pytest.LogCaptureFixture
) -> None:
    api.gone_as_http = gone_as_http
    web, shop_api, cache = (api.apply(deployment(n)) for n in ("web", "api", "cache"))
    run = start_collector()
    run.wait_lines(3)
    api.wait_watching("Deployment")
    caplog.set_level(logging.INFO, logger="app.adapters.collector")

    api.gate.clear()
    api.drop_watches()
    api2 = api.apply(deployment("api", cpu="2"))
    db = api.apply(deployment("db"))
    api.delete("Deployment", "shop", "web")
    api.compact()  # the collector's resourceVersion is now too old
    api.gate.set()
    run.wait_lines(5)
    api.wait_watching("Deployment")
    later = api.apply(deployment("cache", image="redis:7"))
    lines = run.wait_lines(6)
    run.stop()

    # unchanged `cache` is not re-emitted by the relist; changed `api` and new `db` are, once each
    assert lines == [expected_line(o) for o in (shop_api, cache, web, api2, db, later)]
    assert len(api.list_requests("Deployment")) == 2
    assert "deleted Deployment shop/web" in caplog.text
    state = json.loads(run.state_path.read_text())["workloads"]
    assert sorted(state) == ["Deployment/shop/api", "Deployment/shop/cache", "Deployment/shop/db"]


def test_deleted_event_is_logged_and_recreation_emits_again(api: FakeApiServer, start_collector,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="app.adapters.collector")
    web = api.apply(deployment("web"))
    run = start_collector()
    run.wait_lines(1)
    api.wait_watching("Deployment")
    api.delete("Deployment", "shop", "web")
    again = api.apply(deployment("web"))
    lines = run.wait_lines(2)
    run.stop()
    assert lines == [expected_line(web), expected_line(again)]
    assert "deleted Deployment shop/web" in caplog.text


def test_owned_pods_and_cronjob_jobs_are_skipped_unless_asked(api: FakeApiServer, start_collector,
                                                              tmp_path: Path) -> None:
    owned = pod("web-5d8f-abcde", owner=("ReplicaSet", "web-5d8f"))
    bare = pod("debug")
    spawned = job("nightly-2890", owner="nightly")
    for obj in (owned, bare, spawned, cronjob("nightly")):
        api.apply(obj)
    default = start_collector(("Pod", "Job", "CronJob"), once=True, output=tmp_path / "a.ndjson")
    default.thread.join(10)
    default.stop()
    assert default.lines() == [expected_line(bare), expected_line(cronjob("nightly"))]  # kinds in the order asked

    everything = start_collector(("Pod", "Job"), once=True, include_owned_pods=True, output=tmp_path / "b.ndjson")
    everything.thread.join(10)
    everything.stop()
    # without CronJob watched, its Jobs are workloads of their own; owned pods on request
    assert everything.lines() == [expected_line(bare), expected_line(owned), expected_line(spawned)]


def test_namespace_scoping(api: FakeApiServer, start_collector, tmp_path: Path) -> None:
    a, b, c = deployment("a", "team-a"), deployment("b", "team-b"), deployment("k", "kube-system")
    for obj in (a, b, c):
        api.apply(obj)
    only = start_collector(once=True, namespaces=["team-b"], output=tmp_path / "only.ndjson")
    only.thread.join(10)
    only.stop()
    assert only.lines() == [expected_line(b)]
    assert api.requests[0][0] == "/apis/apps/v1/namespaces/team-b/deployments"

    rest = start_collector(exclude_namespaces=frozenset({"kube-system"}), output=tmp_path / "rest.ndjson")
    rest.wait_lines(2)
    api.wait_watching("Deployment")
    api.apply(deployment("k", "kube-system", image="busybox"))  # excluded: never emitted
    d = api.apply(deployment("d", "team-a"))
    lines = rest.wait_lines(3)
    rest.stop()
    assert lines == [expected_line(a), expected_line(b), expected_line(d)]
    assert api.watch_requests("Deployment")[-1]["fieldSelector"] == "metadata.namespace!=kube-system"


def test_restart_with_state_file_does_not_reemit(api: FakeApiServer, start_collector) -> None:
    web, shop_api, gone = (api.apply(deployment(n)) for n in ("web", "api", "gone"))
    first = start_collector(once=True)
    first.thread.join(10)
    first.stop()
    emitted = first.lines()
    assert emitted == [expected_line(o) for o in (shop_api, gone, web)]
    state = json.loads(first.state_path.read_text())
    assert set(state["workloads"]) == {"Deployment/shop/web", "Deployment/shop/api", "Deployment/shop/gone"}

    second = start_collector(once=True)  # nothing changed: nothing new, even with --emit-initial
    second.thread.join(10)
    second.stop()
    assert second.lines() == emitted

    web2 = api.apply(deployment("web", image="nginx:1.28"))  # changed while the collector was down
    new = api.apply(deployment("new"))  # created while down
    api.delete("Deployment", "shop", "gone")
    third = start_collector(emit_initial=False)
    third.wait_lines(5)
    api.wait_watching("Deployment")
    api.apply(deployment("api", ready_replicas=2))  # status only
    web3 = api.apply(deployment("web", image="nginx:1.29"))
    lines = third.wait_lines(6)
    third.stop()
    assert lines == emitted + [expected_line(o) for o in (new, web2, web3)]
    assert set(json.loads(third.state_path.read_text())["workloads"]) == {
        "Deployment/shop/web", "Deployment/shop/api", "Deployment/shop/new"}


def test_without_state_or_emit_initial_only_changes_are_emitted(api: FakeApiServer, start_collector) -> None:
    api.apply(deployment("web"))
    run = start_collector(emit_initial=False)
    api.wait_watching("Deployment")
    assert run.lines() == []
    changed = api.apply(deployment("web", cpu="1"))
    lines = run.wait_lines(1)
    run.stop()
    assert lines == [expected_line(changed)]


def test_forbidden_watch_after_a_successful_list_stops_with_the_verb(api: FakeApiServer, start_collector) -> None:
    api.apply(deployment("web"))
    run = start_collector()
    run.wait_lines(1)
    api.wait_watching("Deployment")
    api.forbid("Deployment")
    api.drop_watches()
    run.thread.join(10)
    with pytest.raises(UpstreamError, match=r"forbids watch on deployments\.apps in all namespaces"):
        run.stop()


def test_forbidden_list_is_one_clear_line_and_exit_2(api: FakeApiServer, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    api.forbid("Job")
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
    code = main(["collect", "watch", "--kubeconfig", str(kubeconfig), "--kinds", "Job",
                 "--output", str(tmp_path / "out.ndjson")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1] == (
        f"error: the Kubernetes API at {api.url} forbids list on jobs.batch in all namespaces (403 Forbidden: "
        'jobs.batch is forbidden: User "system:serviceaccount:power:collector" cannot list resource "jobs" in API '
        'group "batch" at the cluster scope); grant the ServiceAccount get, list and watch on jobs.batch'
    )


def test_rejected_credentials_are_one_clear_line(api: FakeApiServer, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    api.required_token = "the-real-token"
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", token="expired-token")
    code = main(["collect", "watch", "--kubeconfig", str(kubeconfig), "--kinds", "deploy", "--once", "--no-state"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1] == (f"error: the Kubernetes API at {api.url} rejected the credentials from kubeconfig {kubeconfig} "
                       "(401 Unauthorized) when trying to list deployments.apps in all namespaces: renew the token or "
                       "client certificate")


def test_unreachable_api_server_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()  # nothing listens there
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        f"apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{port}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n"
        "current-context: c\n")
    code = main(["collect", "watch", "--kubeconfig", str(kubeconfig), "--once", "--output",
                 str(tmp_path / "o.ndjson")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith(f"error: cannot reach the Kubernetes API server at http://127.0.0.1:{port} "
                              f"(kubeconfig {kubeconfig}): ")
    assert "Connection refused" in err[-1]
