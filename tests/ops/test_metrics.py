"""The metrics the bot records show up in the Prometheus exposition with bounded, id-free labels."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bot.ops.metrics import Metrics, buddy_path_template, process_metrics


def samples(metrics: Metrics, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """``{sorted label pairs: value}`` of the samples called ``name`` in the exposition."""
    found: dict[tuple[tuple[str, str], ...], float] = {}
    for family in text_string_to_metric_families(generate_latest(metrics.registry).decode()):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_slack_requests_are_counted_by_kind_and_status_class() -> None:
    metrics = Metrics()
    metrics.slack_request("command", 200, 0.2)
    metrics.slack_request("command", 200, 0.4)
    metrics.slack_request("event:app_mention", 401, 0.01)
    metrics.slack_request("block_actions", 503, 0.02)

    assert samples(metrics, "buddy_bot_slack_requests_total") == {
        (("kind", "command"), ("outcome", "2xx")): 2.0,
        (("kind", "event:app_mention"), ("outcome", "4xx")): 1.0,
        (("kind", "block_actions"), ("outcome", "5xx")): 1.0,
    }


def test_ack_latency_buckets_straddle_slacks_three_seconds() -> None:
    metrics = Metrics()
    metrics.slack_request("command", 200, 0.2)
    metrics.slack_request("command", 200, 3.5)

    buckets = {dict(labels)["le"]: value for labels, value in samples(metrics, "buddy_bot_ack_seconds_bucket").items()}
    assert buckets["0.1"] == 0.0
    assert buckets["0.25"] == 1.0
    assert buckets["3.0"] == 1.0  # the 3.5 s acknowledgement came too late for Slack …
    assert buckets["5.0"] == 2.0  # … and is counted above the deadline
    assert samples(metrics, "buddy_bot_ack_seconds_count") == {(("kind", "command"),): 2.0}
    assert samples(metrics, "buddy_bot_ack_seconds_sum") == {(("kind", "command"),): pytest.approx(3.7)}


def test_buddy_calls_are_labelled_with_the_path_template_never_the_ids() -> None:
    metrics = Metrics()
    logs = "/workspaces/acme-corp/projects/web-shop/pipelines/7/executions/4242/action_executions/9f8e7d/logs"
    metrics.buddy_call(logs, 200)
    metrics.buddy_call("/workspaces/acme-corp/projects/web-shop/pipelines/7/executions/4242", 200)
    metrics.buddy_call("/workspaces/other/projects/api/pipelines/8/executions/1", 429)
    metrics.buddy_call("/workspaces/acme-corp/members/31337", "timeout")
    metrics.buddy_call("/user/token", 401)

    execution = "/workspaces/:id/projects/:id/pipelines/:id/executions/:id"
    assert samples(metrics, "buddy_bot_buddy_calls_total") == {
        (("endpoint", execution + "/action_executions/:id/logs"), ("status", "200")): 1.0,
        (("endpoint", execution), ("status", "200")): 1.0,
        (("endpoint", execution), ("status", "429")): 1.0,
        (("endpoint", "/workspaces/:id/members/:id"), ("status", "timeout")): 1.0,
        (("endpoint", "/user/token"), ("status", "401")): 1.0,
    }
    text = generate_latest(metrics.registry).decode()
    for raw in ("acme-corp", "web-shop", "4242", "9f8e7d", "31337"):
        assert raw not in text


_handle = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.%", min_size=1, max_size=30)


@given(ws=_handle, project=_handle, pipeline=st.integers(1, 10**9), execution=st.integers(1, 10**9), action=_handle)
def test_every_buddy_path_becomes_one_of_a_few_templates(
    ws: str, project: str, pipeline: int, execution: int, action: str
) -> None:
    # Any handle, even one spelled like an API word ("projects", "logs"), sits in an id's place.
    execution_path = f"/workspaces/{ws}/projects/{project}/pipelines/{pipeline}/executions/{execution}"
    assert buddy_path_template(execution_path) == "/workspaces/:id/projects/:id/pipelines/:id/executions/:id"
    assert (
        buddy_path_template(f"{execution_path}/action_executions/{action}/logs?offset=0&limit=20")
        == "/workspaces/:id/projects/:id/pipelines/:id/executions/:id/action_executions/:id/logs"
    )
    assert buddy_path_template(f"/workspaces/{ws}/webhooks") == "/workspaces/:id/webhooks"


def test_a_path_the_module_does_not_know_keeps_no_segment_of_it() -> None:
    assert buddy_path_template("/secret-thing/xyz") == "/:unknown/:unknown"
    assert buddy_path_template("https://buddy.example.com/api/workspaces/acme/webhooks/12") == "/api/workspaces/:id/webhooks/:id"


def test_caches_rate_limits_and_work_units_are_recorded() -> None:
    metrics = Metrics()
    metrics.cache_lookup("finished_runs", hit=True)
    metrics.cache_lookup("finished_runs", hit=True)
    metrics.cache_lookup("finished_runs", hit=False)
    metrics.rate_limit_wait("api.buddy.works", 1.5)
    metrics.rate_limit_wait("api.buddy.works", 0.5)
    metrics.set_work_units("queued", 7)
    metrics.set_work_units("in_progress", 2)
    metrics.set_work_units("queued", 3)
    for event in ("retried", "retried", "taken_over", "done_degraded"):
        metrics.work_unit_event(event)  # type: ignore[arg-type]

    assert samples(metrics, "buddy_bot_cache_hits_total") == {(("cache", "finished_runs"),): 2.0}
    assert samples(metrics, "buddy_bot_cache_misses_total") == {(("cache", "finished_runs"),): 1.0}
    assert samples(metrics, "buddy_bot_rate_limit_waits_total") == {(("host", "api.buddy.works"),): 2.0}
    assert samples(metrics, "buddy_bot_rate_limit_wait_seconds_total") == {(("host", "api.buddy.works"),): 2.0}
    assert samples(metrics, "buddy_bot_work_units") == {(("state", "queued"),): 3.0, (("state", "in_progress"),): 2.0}
    assert samples(metrics, "buddy_bot_work_unit_events_total") == {
        (("event", "retried"),): 2.0,
        (("event", "taken_over"),): 1.0,
        (("event", "done_degraded"),): 1.0,
    }


def test_each_metrics_has_its_own_registry_and_the_process_has_one() -> None:
    first, second = Metrics(), Metrics()
    first.slack_request("command", 200, 0.1)

    assert samples(first, "buddy_bot_slack_requests_total") == {(("kind", "command"), ("outcome", "2xx")): 1.0}
    assert samples(second, "buddy_bot_slack_requests_total") == {}
    assert process_metrics() is process_metrics()
    # The process's own figures come along, for memory and file descriptors.
    assert samples(second, "process_resident_memory_bytes")
