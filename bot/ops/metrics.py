"""What the bot counts, for Prometheus (served at ``GET /metrics``, see ``routes.py``).

Every label value comes from a small fixed set, never from what a person or a payload typed: Buddy
endpoints are path templates (``/workspaces/:id/members/:id``, never the ids themselves), request kinds
are the Slack payload types the bot knows. Each ``Metrics`` has its own registry, so tests can build
several side by side; the running bot uses the one from ``process_metrics()``.

    buddy_bot_slack_requests_total{kind,outcome}        Slack requests by kind and HTTP status class
    buddy_bot_ack_seconds{kind}                         request in → acknowledgement out
    buddy_bot_buddy_calls_total{endpoint,status}        Buddy API calls (each attempt) by path template
    buddy_bot_cache_hits_total{cache}                   lookups answered from a cache …
    buddy_bot_cache_misses_total{cache}                 … and those that were not
    buddy_bot_rate_limit_waits_total{host}              waits for an API host's rate limit to reset …
    buddy_bot_rate_limit_wait_seconds_total{host}       … and how long they were
    buddy_bot_work_units{state}                         units of work queued / in progress, as last seen
    buddy_bot_work_unit_events_total{event}             units retried, taken over, done degraded, lost to another

plus the process's own figures (``process_resident_memory_bytes``, open file descriptors, CPU, GC).
"""

from __future__ import annotations

import functools
from typing import Literal
from urllib.parse import urlsplit

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

# No ``*_created`` series beside each one: they double a scrape, and Prometheus sees counter resets by itself.
disable_created_metrics()

# Slack retries a request it has no answer to within 3 s: the buckets are finest around that deadline.
ACK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 5.0, 10.0)

CacheName = Literal["finished_runs", "execution_ids", "approver_names"]
CallFailure = Literal["timeout", "connection_error"]
WorkState = Literal["queued", "in_progress"]
WorkEvent = Literal["retried", "taken_over", "done_degraded", "lease_lost"]

# Buddy API path segments followed by an id, and those that stand alone (``/user/token``, ``…/logs``).
_COLLECTIONS = frozenset(
    {
        "workspaces",
        "projects",
        "pipelines",
        "executions",
        "action_executions",
        "actions",
        "members",
        "webhooks",
        "variables",
        "groups",
        "sandboxes",
        "environments",
        "targets",
        "integrations",
    }
)
_WORDS = frozenset({"user", "token", "logs", "emails", "permissions", "api"})
ID = ":id"
UNKNOWN = ":unknown"


def buddy_path_template(path: str) -> str:
    """The endpoint a Buddy API path (or URL) calls, with every id replaced by ``:id``.

    ``/workspaces/acme/projects/web/pipelines/7/executions/42`` →
    ``/workspaces/:id/projects/:id/pipelines/:id/executions/:id``. A segment that is neither a known
    word nor in an id's place becomes ``:unknown``, so the label only ever holds words from this module.
    """
    template: list[str] = []
    id_next = False
    for segment in filter(None, urlsplit(path).path.split("/")):
        if id_next:
            template.append(ID)
            id_next = False
        elif segment in _COLLECTIONS:
            template.append(segment)
            id_next = True
        else:
            template.append(segment if segment in _WORDS else UNKNOWN)
    return "/" + "/".join(template)


class Metrics:
    """The bot's metrics in one registry, recorded through the small typed methods below."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            # The default collectors are already in prometheus_client's global registry; a collector
            # may sit in several registries, and reads the process afresh on each scrape.
            self.registry.register(collector)
        self._requests = Counter(
            "buddy_bot_slack_requests",
            "Slack requests (commands, events, interactions) by kind and HTTP status class of the answer",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self._ack_seconds = Histogram(
            "buddy_bot_ack_seconds",
            "Seconds from a Slack request read in to its acknowledgement (Slack gives up at 3 s)",
            ["kind"],
            buckets=ACK_BUCKETS,
            registry=self.registry,
        )
        self._buddy_calls = Counter(
            "buddy_bot_buddy_calls",
            "Buddy API requests (each attempt) by endpoint path template and HTTP status or failure",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self._cache_hits = Counter("buddy_bot_cache_hits", "Lookups answered from a cache", ["cache"], registry=self.registry)
        self._cache_misses = Counter(
            "buddy_bot_cache_misses", "Lookups a cache could not answer", ["cache"], registry=self.registry
        )
        self._rate_limit_waits = Counter(
            "buddy_bot_rate_limit_waits",
            "Requests held back until an API host's rate limit resets",
            ["host"],
            registry=self.registry,
        )
        self._rate_limit_wait_seconds = Counter(
            "buddy_bot_rate_limit_wait_seconds",
            "Seconds spent waiting for an API host's rate limit to reset",
            ["host"],
            registry=self.registry,
        )
        self._work_units = Gauge(
            "buddy_bot_work_units",
            "Units of work queued (the shared queue, as this replica last saw it) and in progress here",
            ["state"],
            registry=self.registry,
        )
        self._work_unit_events = Counter(
            "buddy_bot_work_unit_events",
            "Units of work retried, taken over from a replica whose lease ran out, done degraded, or left to a replica that took them over",
            ["event"],
            registry=self.registry,
        )

    def slack_request(self, kind: str, status: int, seconds: float) -> None:
        """One Slack request of ``kind`` answered with HTTP ``status`` after ``seconds``."""
        self._requests.labels(kind=kind, outcome=f"{status // 100}xx").inc()
        self._ack_seconds.labels(kind=kind).observe(max(0.0, seconds))

    def buddy_call(self, path: str, status: int | CallFailure) -> None:
        """One request to Buddy's ``path`` (ids and all: it is turned into its template here)."""
        self._buddy_calls.labels(endpoint=buddy_path_template(path), status=str(status)).inc()

    def cache_lookup(self, cache: CacheName, *, hit: bool) -> None:
        (self._cache_hits if hit else self._cache_misses).labels(cache=cache).inc()

    def rate_limit_wait(self, host: str, seconds: float) -> None:
        """A request to API ``host`` (a configured host, never one from user input) waits ``seconds``."""
        self._rate_limit_waits.labels(host=host).inc()
        self._rate_limit_wait_seconds.labels(host=host).inc(max(0.0, seconds))

    def set_work_units(self, state: WorkState, count: int) -> None:
        self._work_units.labels(state=state).set(count)

    def work_unit_event(self, event: WorkEvent) -> None:
        self._work_unit_events.labels(event=event).inc()


@functools.cache
def process_metrics() -> Metrics:
    """The process's one ``Metrics``, made on first use."""
    return Metrics()
