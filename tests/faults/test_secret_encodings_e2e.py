"""No secret reaches the bot's log in any encoding, and no secret variable value reaches Slack.

The bot runs as a process at LOG_LEVEL=DEBUG, once with LOG_FORMAT=text and once with json, through
every path that handles a secret: commands whose runs hold secret variables that the run's log lines
and error message repeat (plainly, percent-encoded, JSON-escaped), the response_url fallback, a
badly signed command (Bolt logs its body), a Buddy error quoting a secret, an unfurl, and a
webhook delivery with its thread details. Then the log file is searched for every secret in every
encoding, and everything the fake Slack received for every secret value.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from urllib.parse import quote, quote_plus

import pytest

from tests.fakes.bot_process import BotProcess
from tests.fakes.buddy import FakeAction, FakeBuddy
from tests.fakes.buddy_webhooks import execution_payload, post_webhook
from tests.fakes.signing import DEFAULT_RESPONSE_URL, FORM, VERIFICATION_TOKEN, post_signed, slash_command_body
from tests.fakes.slack import FakeSlack
from tests.faults.conftest import FAST
from tests.faults.driver import Person, assert_all_within_block_kit, launch_bot, seed, unique, unique_ts, visible_text

BUDDY_TOKEN = "bdy-encodings-Vq7Zp3Lm8Rt2Wc9"
SLACK_BOT_TOKEN = "xoxb-3333-4444-EncodingsBotTok9"
SIGNING_SECRET = "signing-encodings-Qe5Rt8Yu1Io4"
WEBHOOK_TOKEN = "hook-encodings-Zx8Cv5Bn2Mm7Kk4Jj1"
CREDENTIALS = [BUDDY_TOKEN, SLACK_BOT_TOKEN, SIGNING_SECRET, WEBHOOK_TOKEN, VERIFICATION_TOKEN]

DB_PASSWORD = 'Pa$$ w0rd/"quoted"&más+=<x>'  # characters every encoding changes
API_TOKEN = "api-Tk-8Hs2Kd9Lq4Zm"
SESSION = "sess=Abc;Def?Ghi/Jkl"
DEPLOY_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5v\nbmUAAAAEbm9uZQAAAAAAAAAB\n-----END OPENSSH PRIVATE KEY-----"
KEY_LINES = DEPLOY_KEY.splitlines()[1:3]
SECRET_VALUES = [DB_PASSWORD, API_TOKEN, SESSION, *KEY_LINES]
VARIABLES = [
    {"key": "DB_PASSWORD", "value": DB_PASSWORD},  # by SECRET_VARIABLE_PATTERNS
    {"key": "API_TOKEN", "value": API_TOKEN},
    {"key": "SESSION_ID", "value": SESSION, "encrypted": True},  # by Buddy's marking
    {"key": "DEPLOY_KEY", "value": DEPLOY_KEY, "type": "SSH_KEY"},
    {"key": "VERSION", "value": "1.2.3"},
]
# What the run printed: each secret as it is, percent-encoded by curl, in JSON, colour-coded, the key line by line.
LOG = [
    "Build started.",
    f"connecting to mysql with {DB_PASSWORD}",
    f"curl -d 'password={quote_plus(DB_PASSWORD)}&token={quote(API_TOKEN, safe='')}'",
    f"config: {json.dumps({'session': SESSION, 'password': DB_PASSWORD})}",
    f"Authorization: Bearer \x1b[1m{API_TOKEN}\x1b[0m",
    *DEPLOY_KEY.splitlines(),
    "Deploy failed.",
]
ERROR = f"could not log in as deploy with password {DB_PASSWORD} (session {SESSION})"


def encodings(secret: str) -> set[str]:
    """The forms a secret takes in a log line: plain, percent- and form-encoded, JSON- and
    Python-escaped (JSON in JSON too), with escaped slashes."""
    forms = {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        json.dumps(json.dumps(secret)[1:-1])[1:-1],
        repr(secret)[1:-1],
    }
    return forms | {form.replace("/", "\\/") for form in forms}


def shown_forms(value: str) -> set[str]:
    """The forms a value takes in what Slack receives: plain, mrkdwn-escaped, JSON-escaped."""
    escaped = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return {value, escaped, json.dumps(value, ensure_ascii=False)[1:-1], json.dumps(escaped, ensure_ascii=False)[1:-1]}


@pytest.fixture(scope="module", params=["text", "json"])
def bot(request, tmp_path_factory, fake_slack: FakeSlack, fake_buddy: FakeBuddy) -> Iterator[BotProcess]:
    fake_buddy.tokens |= {BUDDY_TOKEN}
    env = {
        **FAST,
        "LOG_LEVEL": "DEBUG",
        "LOG_FORMAT": request.param,
        "BUDDY_TOKEN": BUDDY_TOKEN,
        "SLACK_BOT_TOKEN": SLACK_BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "BUDDY_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
        "PUBLIC_URL": "https://bot.example.com",
        "SUBSCRIPTION_POLL_SECONDS": "0",
        "SLACK_CHANNEL_PACING_S": "0.01",
    }
    with launch_bot(tmp_path_factory, fake_slack, fake_buddy, env) as process:
        yield process


@pytest.fixture
def person(bot: BotProcess, fake_slack: FakeSlack, fake_buddy: FakeBuddy) -> Iterator[Person]:
    fake_buddy.clear_faults()
    fake_buddy.reset_calls()
    fake_slack.reset()
    yield Person(bot, fake_slack, fake_buddy, signing_secret=SIGNING_SECRET)
    assert_all_within_block_kit(fake_slack)


def test_no_secret_in_any_encoding_reaches_the_log_or_slack(person: Person, bot: BotProcess):
    run = seed(person.buddy, passed_variables=VARIABLES, log=LOG, error_message=ERROR, status="FAILED")
    response_urls = [DEFAULT_RESPONSE_URL]

    # A command: the summary (error included) in the channel, the log tail as a snippet in its thread.
    channel = unique("C")
    slash = person.slash(run.action_url, channel=channel)
    response_urls.append(person.slack.response_url(slash.name))
    [summary] = person.wait_posts(channel)
    assert "DB_PASSWORD = ••••••" in visible_text(summary.params) and "could not log in" in visible_text(summary.params)
    [snippet] = person.wait_uploads(channel)
    assert "connecting to mysql with ••••••" in snippet["content"]

    # The response_url fallback: the answer, with the log inline, only to the person.
    private = unique("CPRIV")
    person.slack.fail("chat.postMessage", "not_in_channel", channel=private)
    fallback = person.slash(run.ids, channel=private)
    response_urls.append(person.slack.response_url(fallback.name))
    assert "Deploy failed." in person.told(fallback)

    # A badly signed command: refused, and Bolt's line about it carries no body.
    forged_url = person.slack.response_url(unique("forged"))
    response_urls.append(forged_url)
    forged = slash_command_body(f"{run.action_url} forged-text-Qw3", channel_id=channel, response_url=forged_url)
    assert post_signed(person.bot.events_url, forged, "not-the-signing-secret", content_type=FORM)[0] == 401

    # Buddy refusing with a message that quotes a secret the bot has met: the notice masks it.
    other = seed(person.buddy)
    person.buddy.fault(f"/pipelines/{other.pipeline_id}/", 404, body={"errors": [{"message": f"no run for {API_TOKEN}"}]})
    refused = person.slash(other.action_url, channel=channel)
    response_urls.append(person.slack.response_url(refused.name))
    assert "no run for ••••••" in person.told(refused)

    # An unfurl of the run's link, for everyone in the channel.
    ts = unique_ts()
    link_shared = {"type": "link_shared", "channel": channel, "user": "U777", "message_ts": ts, "event_ts": ts,
                   "source": "conversations_history", "links": [{"domain": "app.buddy.works", "url": run.action_url}]}
    assert person.event(link_shared) == 200
    person.slack.wait_for("chat.unfurl", 1, timeout=20)

    # A subscribed pipeline's failed run, pushed by a webhook: the announcement and its thread details.
    announced = unique("CSUB")
    pipeline = f"https://app.buddy.works/{run.ws}/web/pipelines/pipeline/{run.pipeline_id}"
    subscribing = person.slash(f"subscribe {pipeline} failures", channel=announced)
    response_urls.append(person.slack.response_url(subscribing.name))
    person.slack.wait_for("chat.postEphemeral", 1, timeout=20)
    now = datetime.now(timezone.utc)  # runs that ended before the subscription are not announced
    failed = person.buddy.add_execution(run.ws, "web", run.pipeline_id, status="FAILED", listed=False, start=now, finish=now, actions=[
        FakeAction(name="Deploy", status="FAILED", passed_variables=VARIABLES, log=LOG, error_message=ERROR, start=now, finish=now)])
    delivery = execution_payload(person.buddy, failed, run.ws, "web", run.pipeline_id)
    assert post_webhook(f"{person.bot.url}/buddy/webhooks/{WEBHOOK_TOKEN}", delivery)[0] == 200
    person.wait_uploads(announced)
    assert len(person.wait_posts(announced, 2)) == 2  # the announcement and the details in its thread

    # The secrets were really there to leak: used, and sent to the bot.
    assert {call.headers.get("Authorization") for call in person.buddy.calls()} == {f"Bearer {BUDDY_TOKEN}"}
    assert person.slack.calls("chat.postMessage")[0].headers["authorization"] == f"Bearer {SLACK_BOT_TOKEN}"

    log = person.bot.log()
    lines = log.splitlines()
    if bot.env["LOG_FORMAT"] == "json":
        entries = [json.loads(line) for line in lines]  # every line is one JSON object
        assert all(isinstance(entry, dict) and {"time", "level", "logger", "message"} <= set(entry) for entry in entries)
        logged = [entry["message"] for entry in entries]
    else:
        logged = lines
    assert any(line.startswith("Sending a request") for line in logged) or "DEBUG slack_sdk" in log  # the chattiest level was on
    [refusal] = [line for line in logged if "Invalid request signature detected" in line]
    assert "team_id" not in refusal and "forged-text-Qw3" not in log  # the line stays, the body goes
    for secret in [*CREDENTIALS, *SECRET_VALUES, *response_urls]:
        for form in encodings(secret):
            assert form not in log, (secret, form)

    sent = json.dumps([call.params for call in person.slack.calls()], ensure_ascii=False)
    sent += json.dumps([upload["content"] for upload in person.slack.uploads()], ensure_ascii=False)
    for value in SECRET_VALUES:
        for form in shown_forms(value):
            assert form not in sent, (value, form)
