"""Whatever Buddy sends, rendering never fails, every Block Kit limit holds and nothing is parsed.

Inputs are schema-shaped dicts with wild values: huge strings, control characters, markup, wrong
types, thousands of variables, unknown statuses, dates from year 1 to 9999; and what the failure
finder might report (huge lines, thousands of failed tests, indices out of range).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.buddy.models import ActionExecution, Execution
from bot.buddy.refs import BuddyRef
from bot.render import (
    block_kit_violations,
    inline_log_block,
    log_tail_title,
    render_log_tail,
    render_overview,
    render_plain,
    render_summary,
    render_unfurl,
)
from bot.render.limits import MAX_FALLBACK_TEXT
from bot.render.logtail import SNIPPET_MAX_BYTES
from bot.report import RunReport
from bot.why.model import Why
from tests.render.helpers import SECRET_KEY_REGEX, mrkdwn_texts

PROPERTY_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    # The suite's autouse fixture only cleans the environment; it is safe to share across examples.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
EVIL = ["<!channel>", "<!here>", "<@U123>", "<https://evil|click>", "&amp;", "```", "*bold*", "\u202e", "\x1b[31m"]
PIECES = ["x", "<", ">", "&", "🚀", "é", "\x00", "\r", "\n", "`", " ", "|", "\x1b[1;32m", "\ud800"]
SECRET_MARKER = "SECRETMARKER"
STATUSES = [
    "SUCCESSFUL", "FAILED", "INPROGRESS", "ENQUEUED", "INITIAL", "TERMINATED", "TERMINATING", "SKIPPED",
    "NOT_EXECUTED", "WAITING_FOR_APPLY", "WAITING_FOR_VARIABLES", "WAITING_FOR_SETTABLE_VARIABLES",
    "WAITING_FOR_VT_SESSION", "successful", "", "SOMETHING_NEW",
]
# Markup the renderers add themselves; anything else in angle brackets would be Buddy's text unescaped.
OUR_MARKUP = re.compile(
    r"<!date\^-?\d+\^\{date_short\} \{time\}\|[^<>]*>|<https?://[^<>|\s]*\|[^<>]*>|<@[UW][A-Z0-9]+>"
)



def mostly(good: st.SearchStrategy, odd: st.SearchStrategy) -> st.SearchStrategy:
    """`good` three times in four, so most examples get far enough to render every part.

    (st.one_of would flatten nested choices and weigh each branch alike.)
    """
    return st.integers(0, 3).flatmap(lambda pick: good if pick else odd)


huge = st.builds(lambda piece, n: piece * n, st.sampled_from(PIECES), st.integers(0, 100_000))
text = st.one_of(st.text(max_size=40), st.sampled_from(EVIL), huge, st.lists(st.sampled_from(PIECES + EVIL)).map("".join))
wild = st.one_of(st.none(), text, st.integers(), st.floats(), st.booleans(), st.lists(st.integers(), max_size=2), st.just({}))
zones = st.one_of(st.none(), st.just(timezone.utc), st.integers(-23 * 60, 23 * 60).map(lambda m: timezone(timedelta(minutes=m))))
dates = mostly(st.datetimes(datetime(1, 1, 1), datetime(9999, 12, 31), timezones=zones).map(datetime.isoformat), wild)
urls = st.one_of(
    st.none(),
    text,
    st.sampled_from(["https://app.buddy.works/ws/p/pipelines/pipeline/1", "javascript:alert(1)", "https://x/a|b>"]),
    st.integers(0, 4000).map(lambda n: "https://app.buddy.works/" + "a" * n),
)
person = mostly(st.fixed_dictionaries({"name": text}, optional={"id": wild, "email": text}), wild)


@st.composite
def variables(draw: st.DrawFn) -> object:
    """A list of variables, sometimes thousands; secret ones carry SECRET_MARKER in their value."""
    key = draw(st.one_of(text, st.sampled_from(["API_TOKEN", "db_password", "VERSION", "var"]), st.none()))
    flags = draw(st.fixed_dictionaries({}, optional={"encrypted": wild, "secret": wild, "type": st.one_of(text, st.just("SECRET"))}))
    variable = {"key": key, **flags}
    probe = ActionExecution.model_validate({"passed_variables": [variable]}).passed_variables
    secret = bool(probe) and (probe[0].marked_secret or SECRET_KEY_REGEX.search((probe[0].key or "").upper()) is not None)
    variable["value"] = SECRET_MARKER if secret else draw(mostly(text, wild))
    many = st.builds(lambda n: [variable] * n, st.sampled_from([1, 3, 60, 10_000]))
    return draw(mostly(st.one_of(many, st.just([variable, variable])), wild))


action_dicts = st.fixed_dictionaries(
    {
        "status": mostly(st.sampled_from(STATUSES), text),
        "start_date": dates,
        "finish_date": mostly(dates, st.none()),
        "action": mostly(st.fixed_dictionaries({"name": text}, optional={"type": text}), wild),
        "passed_variables": variables(),
        "outputted_variables": variables(),
    },
    optional={
        "html_url": urls,
        "progress": mostly(st.integers(), wild),
        "log": st.one_of(wild, st.lists(text, max_size=5)),
        "approver_id": wild,
        "approval_date": dates,
        "error_message": text,
        "terminated_by": person,
    },
)
execution_dicts = st.fixed_dictionaries(
    {
        "status": mostly(st.sampled_from(STATUSES), text),
        "start_date": dates,
        "branch": mostly(st.fixed_dictionaries({"name": text}), st.one_of(text, wild)),
        "to_revision": mostly(st.fixed_dictionaries({"revision": text}, optional={"message": text, "html_url": urls}), wild),
        "creator": person,
        "pipeline": mostly(st.fixed_dictionaries({"name": text}, optional={"html_url": urls}), wild),
    },
    optional={"html_url": urls, "finish_date": dates},
)
refs = st.builds(
    BuddyRef,
    host=st.one_of(st.just("app.buddy.works"), text),
    workspace=text,
    project=text,
    pipeline_id=st.integers(-(2**63), 2**63),
    execution_id=st.one_of(st.none(), text),
    action_execution_id=st.one_of(st.none(), text),
)
whys = st.builds(
    Why,
    line_number=st.integers(-5, 10**12),
    context=st.one_of(st.lists(text, max_size=10), st.builds(lambda line, n: [line] * n, text, st.integers(0, 3000))),
    error_start=st.integers(-3, 12),
    error_end=st.integers(-3, 3000),
    tool=text,
    rule=text,
    failed_tests=st.one_of(st.lists(text, max_size=30), st.builds(lambda name, n: [name] * n, text, st.integers(0, 5000))),
    failed_test_count=st.integers(-5, 10**12),
)
actions = action_dicts.map(ActionExecution.model_validate)
reports = st.builds(
    RunReport,
    ref=refs,
    action=mostly(actions, st.none()),
    execution=mostly(execution_dicts.map(Execution.model_validate), st.none()),
    approver_name=st.one_of(st.none(), text),
    log_tail=st.one_of(st.lists(text, max_size=20), st.builds(lambda line, n: [line] * n, text, st.integers(0, 1000))),
    log_total_lines=st.one_of(st.none(), st.integers()),
    actions=st.one_of(st.lists(actions, max_size=4), st.builds(lambda a, n: [a] * n, actions, st.integers(0, 5000))),
    notes=st.lists(text, max_size=12),
    why=st.one_of(st.none(), whys),
)
nows = st.one_of(st.none(), st.datetimes(datetime(1, 1, 1), datetime(9999, 12, 31), timezones=zones))


def _assert_inert(texts: list[str]) -> None:
    for piece in texts:
        leftover = OUR_MARKUP.sub("", piece)
        assert "<" not in leftover and ">" not in leftover, piece[:500]


# One test renders every format, so each generated report (the slow part) is used five times.
@PROPERTY_SETTINGS
@given(report=reports, requested_by=st.one_of(st.none(), st.just("U0123ABC"), text), interactive=st.booleans(), now=nows)
def test_any_report_renders_within_limits(
    report: RunReport, requested_by: str | None, interactive: bool, now: datetime | None
) -> None:
    message = render_summary(
        report, secret_key_regex=SECRET_KEY_REGEX, requested_by=requested_by, interactive=interactive, now=now
    )
    assert block_kit_violations(message) == []
    assert len(message["text"]) <= MAX_FALLBACK_TEXT
    _assert_inert(mrkdwn_texts(message))
    assert SECRET_MARKER not in json.dumps(message, ensure_ascii=False)

    overview = {"text": "overview", "blocks": render_overview(report, now=now)}
    assert block_kit_violations(overview) == []
    _assert_inert(mrkdwn_texts(overview))

    unfurl = render_unfurl(report, secret_key_regex=SECRET_KEY_REGEX)
    assert block_kit_violations(unfurl, require_text=False) == []
    _assert_inert(mrkdwn_texts(unfurl))

    tail = render_log_tail(report)
    assert len(tail.encode("utf-8")) < SNIPPET_MAX_BYTES
    assert "\x1b" not in tail and "\r" not in tail
    assert log_tail_title(report)
    inline = {"text": "log", "blocks": inline_log_block(tail)}
    assert block_kit_violations(inline) == []
    _assert_inert(mrkdwn_texts(inline))

    plain = render_plain(report, secret_key_regex=SECRET_KEY_REGEX, now=now)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", plain)  # nothing that steers a terminal
    assert SECRET_MARKER not in plain


def test_everything_at_its_worst_at_once() -> None:
    """Every field huge and full of characters that grow when escaped, all in one report."""
    big = "&`🚀" * 3_000_000  # 10 MB+ of text that escaping and code blocks make longer
    url = "https://app.buddy.works/" + "&" * 470
    variables = [{"key": big, "value": big}] * 10_000
    action = {
        "html_url": url,
        "status": "WAITING_FOR_APPLY",
        "start_date": "2025-01-01T00:00:00Z",
        "progress": 10**30,
        "action": {"name": big, "type": big},
        "approval_date": "9999-12-31T23:59:59Z",
        "passed_variables": variables,
        "outputted_variables": variables,
        "error_message": big,
        "terminated_by": {"name": big},
    }
    execution = {
        "branch": {"name": big},
        "to_revision": {"revision": big, "message": big, "html_url": url},
        "creator": {"name": big},
        "pipeline": {"name": big, "html_url": url},
    }
    report = RunReport(
        ref=BuddyRef("app.buddy.works", "w" * 100, "p" * 100, 2**63, "e" * 100),
        action=ActionExecution.model_validate(action),
        execution=Execution.model_validate(execution),
        approver_name=big,
        log_tail=[big] * 300,  # still more than a snippet holds
        log_total_lines=10**12,
        actions=[ActionExecution.model_validate(action | {"status": "FAILED"})] * 5000,
        notes=[big] * 20,
        why=Why(line_number=10**12, context=[big] * 1000, error_start=3, error_end=997, tool=big, rule=big,
                failed_tests=[big] * 100, failed_test_count=10**12),
    )
    message = render_summary(report, secret_key_regex=SECRET_KEY_REGEX, requested_by="U0123ABC", interactive=True)
    assert block_kit_violations(message) == []
    assert block_kit_violations(render_unfurl(report, secret_key_regex=SECRET_KEY_REGEX), require_text=False) == []
    tail = render_log_tail(report)
    assert len(tail.encode("utf-8")) < SNIPPET_MAX_BYTES
    assert block_kit_violations({"text": "log", "blocks": inline_log_block(tail)}) == []
    assert len(render_plain(report, secret_key_regex=SECRET_KEY_REGEX)) < 100_000
