"""Whatever Buddy answers, on every endpoint at once, the whole core (client → lookup → renderer) ends
in a message within Block Kit's limits, or in a Buddy error explained to the person: never an
exception, and never the bot's last-resort "something went wrong on my side" (a crash, caught).

The renderer's own property tests (tests/render/test_properties.py) start from the models; these
start from raw HTTP answers, so they also cover the lookup's choices (which run, which action, which
log page, whose name) on data nobody planned for.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.answers import UNEXPECTED_FAILURE, Answer, Responder
from bot.buddy.client import BuddyClient
from bot.buddy.refs import BuddyRef
from bot.config import Settings
from bot.lookup import Lookup
from bot.render import block_kit_violations, inline_log_block
from bot.render.logtail import SNIPPET_MAX_BYTES
from bot.render.mrkdwn import escape

HOST = "app.buddy.works"
WEB_ID = "5f0c9a8e7d6b5a4c3b2a1f0e"
REFS = [
    BuddyRef(HOST, "acme", "web", 7, "12", "a1b2c3"),  # an action, by the API's execution id
    BuddyRef(HOST, "acme", "web", 7, WEB_ID, "a1b2c3"),  # an action, by the web's execution id
    BuddyRef(HOST, "acme", "web", 7, "12"),  # an execution
    BuddyRef(HOST, "acme", "web", 7, WEB_ID),
    BuddyRef(HOST, "acme", "web", 7),  # a pipeline: its latest run
]
ENDPOINTS = ("details", "execution", "listing", "logs", "member")
STATUSES = ["SUCCESSFUL", "FAILED", "INPROGRESS", "WAITING_FOR_APPLY", "TERMINATED", "TERMINATING", "WAITING_FOR_VT_SESSION",
            "INITIAL", "ENQUEUED", "", "NEW_ONE", None]

def mostly(good: st.SearchStrategy, odd: st.SearchStrategy) -> st.SearchStrategy:
    """``good`` nine times in ten: every part is sometimes wrong, yet most examples get as far as rendering."""
    return st.integers(0, 9).flatmap(lambda n: odd if n == 9 else good)


scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False), st.text(max_size=30))
keys = st.sampled_from(["", "id", "name", "status", "log", "url", "é"])
any_json = st.one_of(scalars, st.lists(scalars, max_size=3), st.dictionaries(keys, scalars, max_size=3))
texts = st.one_of(st.text(max_size=40), st.sampled_from(["<!channel>", "<@U1>", "<https://evil|x>", "```", "&amp;", "\x1b[31m", "\ud800"]))
ids = mostly(st.integers(1, 2**63), st.one_of(st.integers(-5, 0), texts, st.none()))
dates = st.one_of(st.sampled_from(["2025-05-28T09:51:38.709Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "nope"]), any_json)
web_urls = mostly(st.just(f"https://app.buddy.works/acme/web/pipelines/pipeline/7/execution/{WEB_ID}"), st.one_of(texts, any_json))


def shaped(fields: dict[str, st.SearchStrategy]) -> st.SearchStrategy:
    """An object with ``fields``, each sometimes of a wrong type or left out."""
    left_out = object()
    wild = {name: mostly(strategy, st.one_of(any_json, st.just(left_out))) for name, strategy in fields.items()}
    return st.fixed_dictionaries(wild).map(lambda body: {k: v for k, v in body.items() if v is not left_out})


variable = shaped({"key": texts, "value": texts, "encrypted": any_json, "type": texts})
action_item = shaped({
    "status": st.sampled_from(STATUSES), "action_execution_id": mostly(st.sampled_from(["a1b2c3", "0f0f"]), ids),
    "url": texts, "start_date": dates,
    "finish_date": dates, "action": shaped({"name": texts, "type": texts}),
})
bodies = st.fixed_dictionaries({
    "details": shaped({
        "status": st.sampled_from(STATUSES), "html_url": web_urls, "start_date": dates, "finish_date": dates,
        "progress": any_json, "action": shaped({"name": texts, "type": texts}), "approver_id": ids,
        "approval_date": dates, "passed_variables": st.lists(variable, max_size=4),
        "outputted_variables": st.lists(variable, max_size=4), "error_message": texts,
        "log": st.lists(texts, max_size=30), "terminated_by": shaped({"name": texts}),
        "terminator_id": ids, "termination_date": dates,
    }),
    "execution": shaped({
        "id": ids, "status": st.sampled_from(STATUSES), "html_url": web_urls, "start_date": dates, "finish_date": dates,
        "branch": st.one_of(texts, shaped({"name": texts})), "to_revision": shaped({"revision": texts, "message": texts}),
        "creator": shaped({"name": texts}), "pipeline": shaped({"name": texts, "html_url": web_urls}),
        "action_executions": st.lists(action_item, min_size=1, max_size=4),
    }),
    "listing": shaped({
        "executions": st.lists(shaped({"id": ids, "html_url": web_urls, "status": st.sampled_from(STATUSES)}),
                               min_size=1, max_size=4),
        "total_page_count": ids,
    }),
    "logs": shaped({"logs": st.lists(texts, max_size=30), "total_element_count": ids, "offset": ids}),
    "member": shaped({"name": texts, "id": ids}),
})
# At most one endpoint misbehaves in an example (so that most get as far as rendering): an error
# status, a body that is not JSON, or JSON that is not an object.
misbehaviour = st.one_of(
    st.tuples(st.sampled_from([401, 403, 404, 429, 500, 502]), st.none()),
    st.tuples(st.just(200), st.text(max_size=20)),
    st.tuples(st.just(200), any_json.filter(lambda v: not isinstance(v, dict)).map(json.dumps)),
)


def endpoint(path: str) -> str:
    if path.endswith("/logs"):
        return "logs"
    if "/members/" in path:
        return "member"
    if "/action_executions/" in path:
        return "details"
    return "listing" if path.endswith("/executions") else "execution"


async def ask(ref: BuddyRef, answer_for: Any) -> Answer:
    config = Settings(_env_file=None, buddy_token="t", buddy_api_url="https://buddy.test", buddy_retries=0,
                      buddy_retry_backoff_s=0, buddy_rate_limit_max_wait_s=0, buddy_execution_pages=2)
    async with BuddyClient(config, transport=httpx.MockTransport(answer_for)) as client:
        return await Responder(Lookup(client, config), config).answer(ref, requested_by="U0123ABC")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(ref=st.sampled_from(REFS), bodies=bodies, broken=mostly(st.none(), st.sampled_from(ENDPOINTS)), misbehaviour=misbehaviour)
def test_any_buddy_answer_ends_in_a_valid_message_or_an_explained_error(
    ref: BuddyRef, bodies: dict[str, Any], broken: str | None, misbehaviour: tuple[int, str | None]
) -> None:
    def answer_for(request: httpx.Request) -> httpx.Response:
        name = endpoint(request.url.path)
        status, raw = misbehaviour if name == broken else (200, None)
        content = json.dumps(bodies[name]) if raw is None else raw
        return httpx.Response(status, content=content.encode("utf-8", "surrogatepass"), headers={"Content-Type": "application/json"})

    answer = asyncio.run(ask(ref, answer_for))
    assert block_kit_violations(answer.message) == []
    assert escape(UNEXPECTED_FAILURE) not in json.dumps(answer.message, ensure_ascii=False)
    assert len(answer.snippet.encode("utf-8", "surrogatepass")) < SNIPPET_MAX_BYTES
    assert block_kit_violations({"text": "log", "blocks": inline_log_block(answer.snippet)}) == []
