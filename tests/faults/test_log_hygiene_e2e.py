"""Secrets stay secret, through the running bot at LOG_LEVEL=DEBUG: the tokens and the signing
secret never reach its log, and secret variable values (by Buddy's marking, or by the operator's
SECRET_VARIABLE_PATTERNS) reach neither Slack nor the log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import quote, quote_plus

import pytest

from tests.fakes.bot_process import BotProcess
from tests.fakes.buddy import FakeBuddy
from tests.fakes.signing import FORM, VERIFICATION_TOKEN, block_actions_body, post_signed, slash_command_body
from tests.fakes.slack import FakeSlack
from tests.faults.conftest import FAST
from tests.faults.driver import Person, assert_all_within_block_kit, launch_bot, seed, unique, visible_text

BUDDY_TOKEN = "bdy-hygiene-7Qx9ZpLm3Vr8Kt2Wc4"
EU_TOKEN = "bdy-eu-hygiene-Zt5Yq8Wn2Lp6Rm0"
SLACK_BOT_TOKEN = "xoxb-1111-2222-HygieneBotTokZq8Vw"
SIGNING_SECRET = "signing-hygiene-Hj4Lm9Pq2Rs7Tu1"
SECRETS = [BUDDY_TOKEN, EU_TOKEN, SLACK_BOT_TOKEN, SIGNING_SECRET]

MASK = "••••••"
VARIABLES = [
    {"key": "DB_PASSWORD", "value": "pw-value-Kq81Zx"},  # a default pattern the operator kept
    {"key": "INTERNAL_HOST", "value": "internal-value-Rt55Ns"},  # the operator's own pattern
    {"key": "DEPLOY_CERT", "value": "encrypted-value-Bv20Qa", "encrypted": True},  # Buddy marked it
    {"key": "GH_TOKEN", "value": "settable-value-Pw73Hd", "type": "VAR", "settable": True, "secret": True},
    {"key": "API_TOKEN", "value": "plain-value-Yu66Lc"},  # TOKEN is not among this operator's patterns
    {"key": "VERSION", "value": "1.2.3"},
]
HIDDEN_VALUES = ["pw-value-Kq81Zx", "internal-value-Rt55Ns", "encrypted-value-Bv20Qa", "settable-value-Pw73Hd"]


@pytest.fixture(scope="module")
def bot(tmp_path_factory, fake_slack: FakeSlack, fake_buddy: FakeBuddy) -> Iterator[BotProcess]:
    fake_buddy.tokens |= {BUDDY_TOKEN, EU_TOKEN}
    env = {
        **FAST,
        "LOG_LEVEL": "DEBUG",
        "BUDDY_TOKEN": BUDDY_TOKEN,
        "BUDDY_HOST_TOKENS": f"eu.buddy.works={EU_TOKEN}",
        "SLACK_BOT_TOKEN": SLACK_BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SECRET_VARIABLE_PATTERNS": "PASSWORD, internal",
    }
    with launch_bot(tmp_path_factory, fake_slack, fake_buddy, env) as process:
        yield process


@pytest.fixture
def person(bot: BotProcess, fake_slack: FakeSlack, fake_buddy: FakeBuddy) -> Iterator[Person]:
    fake_buddy.clear_faults()
    fake_slack.reset()
    yield Person(bot, fake_slack, fake_buddy, signing_secret=SIGNING_SECRET)
    assert_all_within_block_kit(fake_slack)


def test_secret_variables_are_masked_by_buddys_marking_and_the_operators_patterns(person: Person):
    run = seed(person.buddy, passed_variables=VARIABLES, outputted_variables=VARIABLES[:2])
    channel = unique("C")
    person.slash(run.action_url, channel=channel)
    [post] = person.wait_posts(channel)
    text = visible_text(post.params)
    for variable in ("DB_PASSWORD", "INTERNAL_HOST", "DEPLOY_CERT", "GH_TOKEN"):
        assert f"{variable} = {MASK}" in text
    assert "API_TOKEN = plain-value-Yu66Lc" in text and "VERSION = 1.2.3" in text
    assert not any(value in text for value in HIDDEN_VALUES)


def test_a_full_run_of_faults_at_debug_level_never_logs_a_token_or_a_secret(person: Person):
    run = seed(person.buddy, passed_variables=VARIABLES)
    # The happy path: summary and snippet.
    channel = unique("C")
    person.slash(run.action_url, channel=channel)
    person.wait_uploads(channel)
    # Slack refusing: the response_url fallback, then the DM fallback; and a rate limit.
    private, user = unique("CPRIV"), unique("U")
    person.slack.fail("chat.postMessage", "not_in_channel", channel=private)
    person.told(person.slash(run.ids, channel=private))
    person.mention(run.ids, channel=private, user=user)
    person.wait_uploads("D" + user[1:])
    limited = unique("C")
    person.slack.ratelimit("chat.postMessage", retry_after=1, channel=limited)
    person.slash(run.execution_url, channel=limited)
    person.wait_uploads(limited)
    # Buddy refusing the token, on the host with a token of its own.
    person.buddy.fault("/pipelines/5150/", 401, body={"errors": [{"message": "Invalid token"}]})
    assert "not valid on eu.buddy.works" in person.told(person.slash("https://eu.buddy.works/acme/web/pipelines/pipeline/5150/execution/1"))
    # The tokens were really used: Buddy got each one, Slack the bot token.
    sent = {call.headers.get("Authorization") for call in person.buddy.calls()}
    assert {f"Bearer {BUDDY_TOKEN}", f"Bearer {EU_TOKEN}"} <= sent
    assert person.slack.calls("chat.postMessage")[0].headers["authorization"] == f"Bearer {SLACK_BOT_TOKEN}"

    log = person.bot.log()
    assert "DEBUG slack_sdk" in log and "DEBUG bot.buddy.client" in log  # the chattiest level was on
    for secret in SECRETS + HIDDEN_VALUES:
        assert secret not in log, secret
    everything_sent_to_slack = json.dumps([call.params for call in person.slack.calls()], ensure_ascii=False)
    for value in HIDDEN_VALUES:
        assert value not in everything_sent_to_slack, value


def test_a_badly_signed_command_or_click_is_refused_and_its_body_never_logged(person: Person):
    """Bolt logs a badly signed request's whole body at INFO: the response_url (which can post in the
    conversation), the verification token, what was typed. The line stays; the body does not."""
    command_url, click_url = person.slack.response_url(unique("forged")), person.slack.response_url(unique("forged"))
    command = slash_command_body("deploy forged-command-Zx81", response_url=command_url)
    click = block_actions_body({"type": "block_actions", "token": VERIFICATION_TOKEN, "response_url": click_url,
                                "actions": [{"action_id": "buddy_refresh", "value": "forged-click-Vb52"}]})
    for body in (command, click):
        assert post_signed(person.bot.events_url, body, "not-the-signing-secret", content_type=FORM)[0] == 401
    person.settle(person.channel)  # whatever the bot logs about those requests, it has logged by now

    log = person.bot.log()
    refusals = [line for line in log.splitlines() if "Invalid request signature detected" in line]
    assert len(refusals) >= 2 and "DEBUG" in log
    for marker in ("forged-command-Zx81", "forged-click-Vb52", VERIFICATION_TOKEN, SIGNING_SECRET):
        assert marker not in log, marker
    for url in (command_url, click_url):
        for form in (url, quote(url, safe=""), quote_plus(url), url.replace("/", "\\/"), quote_plus(url.replace("/", "\\/"))):
            assert form not in log, form
    assert person.slack.calls(f"response_url:{command_url.rsplit('/', 1)[1]}") == []
