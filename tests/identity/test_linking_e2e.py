"""Linking a Buddy account through the running bot (a real process, signed Slack requests, the fake
Slack and the fake Buddy): the personal-token modal, Buddy's OAuth sign-in in a "browser", whoami,
logout, the Link Buddy account button, and no TOKEN_ENCRYPTION_KEY. Whatever a test linked, its
tokens never reach a Slack call, the bot's log, or the state file unencrypted."""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import httpx
import pytest
from cryptography.fernet import Fernet

from bot.render.accounts import TOKEN_BLOCK, TOKEN_INPUT
from bot.render.blocks import LINK_ACTION
from bot.render.notice import render_link_prompt
from tests.fakes.bot_process import SIGNING_SECRET, BotProcess
from tests.fakes.buddy import FakeBuddy
from tests.fakes.buddy_oauth import CLIENT_ID, CLIENT_SECRET
from tests.fakes.signing import FORM, block_actions_body, block_actions_payload, post_signed, view_submission_payload
from tests.fakes.slack import FakeSlack
from tests.faults.conftest import FAST
from tests.faults.driver import Person, assert_all_within_block_kit, unique, unique_ts, visible_text

KEY = Fernet.generate_key().decode()


@pytest.fixture(scope="module")
def fake_buddy() -> Iterator[FakeBuddy]:
    fake = FakeBuddy().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def _launch(tmp_path_factory, fake_slack: FakeSlack, fake_buddy: FakeBuddy, env: dict[str, str], *, public: bool = False):
    process = BotProcess(tmp_path_factory.mktemp("bot"), slack_url=fake_slack.url, buddy_url=fake_buddy.url, env={**FAST, **env})
    if public:  # the bot's own address is its PUBLIC_URL: the "browser" reaches it there
        process.env["PUBLIC_URL"] = process.url
    return process.start()


@pytest.fixture(scope="module")
def bot(tmp_path_factory, fake_slack: FakeSlack, fake_buddy: FakeBuddy) -> Iterator[BotProcess]:
    """Linking with personal tokens (no OAuth app set up)."""
    process = _launch(tmp_path_factory, fake_slack, fake_buddy, {"TOKEN_ENCRYPTION_KEY": KEY})
    yield process
    process.stop()


@pytest.fixture(scope="module")
def oauth_bot(tmp_path_factory, fake_slack: FakeSlack, fake_buddy: FakeBuddy) -> Iterator[BotProcess]:
    env = {"TOKEN_ENCRYPTION_KEY": KEY, "BUDDY_OAUTH_CLIENT_ID": CLIENT_ID, "BUDDY_OAUTH_CLIENT_SECRET": CLIENT_SECRET}
    process = _launch(tmp_path_factory, fake_slack, fake_buddy, env, public=True)
    yield process
    process.stop()


@pytest.fixture
def fresh(fake_slack: FakeSlack, fake_buddy: FakeBuddy) -> Iterator[None]:
    fake_buddy.clear_faults()
    fake_buddy.oauth.denies = False
    fake_buddy.oauth.sign_in_as("Ana Example", user_id=801)
    yield
    assert_all_within_block_kit(fake_slack)


def state_files(bot: BotProcess) -> bytes:
    """Every byte of the bot's SQLite state (the database and its write-ahead log)."""
    db = Path(bot.env["STATE_DB"])
    return b"".join(path.read_bytes() for path in db.parent.glob(db.name + "*"))


def assert_never_shown(bot: BotProcess, fake_slack: FakeSlack, *tokens: str) -> None:
    slack_output = json.dumps([call.params for call in fake_slack.calls()])
    log = bot.log()
    stored = state_files(bot)
    for token in tokens:
        for form in {token, quote(token, safe=""), quote_plus(token), json.dumps(token)[1:-1]}:
            assert form not in slack_output, "a token reached Slack"
            assert form not in log, "a token reached the bot's log"
        assert token.encode() not in stored, "a token is stored unencrypted"


def opened_view(fake_slack: FakeSlack, channel: str) -> dict:
    """The token modal opened for a request from ``channel``."""
    [call] = fake_slack.wait_for("views.open", predicate=lambda c: channel in json.dumps(c.params.get("view")))
    assert call.response["ok"], call.response
    return fake_slack.views[call.response["view"]["id"]]


def submit_token(bot: BotProcess, view: dict, token: str, *, user: str) -> tuple[int, dict | str, float]:
    values = {TOKEN_BLOCK: {TOKEN_INPUT: {"type": "plain_text_input", "value": token}}}
    payload = view_submission_payload(view, values, user_id=user)
    started = time.monotonic()
    status, body = post_signed(bot.events_url, block_actions_body(payload), SIGNING_SECRET, content_type=FORM)
    return status, json.loads(body) if body else "", time.monotonic() - started


def new_person(bot: BotProcess, fake_slack: FakeSlack, fake_buddy: FakeBuddy) -> tuple[Person, str]:
    return Person(bot, fake_slack, fake_buddy), unique("U")


def ephemeral_to(fake_slack: FakeSlack, channel: str, user: str) -> str:
    [call] = fake_slack.wait_for("chat.postEphemeral", predicate=lambda c: c.channel == channel and c.params.get("user") == user)
    return visible_text(call.params)


# -- personal access tokens -------------------------------------------------------------------


def test_a_personal_token_is_checked_kept_encrypted_and_never_shown(bot, fake_slack, fake_buddy, fresh):
    person, user = new_person(bot, fake_slack, fake_buddy)
    token = f"ana-pat-{secrets.token_hex(12)}"
    fake_buddy.add_user(token, "Ana Personal", user_id=701)
    slash = person.slash("login", user=user)
    assert slash.status == 200 and slash.ack == ""  # the modal opens instead
    view = opened_view(fake_slack, person.channel)
    assert "app.buddy.works" in visible_text(view["blocks"]) and "EXECUTION_RUN" in visible_text(view["blocks"])
    assert view["blocks"][1]["element"]["type"] == "plain_text_input"

    status, answer, _ = submit_token(bot, view, token, user=user)
    assert (status, answer) == (200, "")  # the modal closes
    assert "Ana Personal" in ephemeral_to(fake_slack, person.channel, user)
    assert [c.headers["Authorization"] for c in fake_buddy.calls("/user") if c.path == "/user"][-1] == f"Bearer {token}"
    with sqlite3.connect(bot.env["STATE_DB"]) as db:
        [row] = db.execute("SELECT buddy_user_name, kind, token FROM linked_accounts WHERE slack_user = ?", (user,)).fetchall()
    assert row[:2] == ("Ana Personal", "personal") and row[2] != token
    assert Fernet(KEY).decrypt(row[2].encode()).decode() == token

    whoami = person.slash("whoami", user=user).ack_text
    assert "Ana Personal" in whoami and "personal access token" in whoami and "app.buddy.works" in whoami
    logout = person.slash("logout", user=user).ack_text
    assert "Forgot your Buddy token on app.buddy.works" in logout
    assert "no Buddy account linked" in person.slash("whoami", user=user).ack_text
    assert "nothing to forget" in person.slash("logout", user=user).ack_text
    assert_never_shown(bot, fake_slack, token)


def test_a_token_buddy_refuses_is_refused_in_the_modal(bot, fake_slack, fake_buddy, fresh):
    person, user = new_person(bot, fake_slack, fake_buddy)
    person.slash("login", user=user)
    view = opened_view(fake_slack, person.channel)
    token = f"revoked-pat-{secrets.token_hex(12)}"  # a token Buddy does not know: 401
    status, answer, _ = submit_token(bot, view, token, user=user)
    assert status == 200 and isinstance(answer, dict) and answer["response_action"] == "errors"
    assert "refused this token" in answer["errors"][TOKEN_BLOCK]
    assert "no Buddy account linked" in person.slash("whoami", user=user).ack_text
    assert_never_shown(bot, fake_slack, token)


def test_a_token_without_user_info_is_refused_in_the_modal(bot, fake_slack, fake_buddy, fresh):
    person, user = new_person(bot, fake_slack, fake_buddy)
    token = f"no-user-info-{secrets.token_hex(12)}"
    fake_buddy.add_user(token, "Ana Scopeless", scopes=("EXECUTION_INFO", "EXECUTION_RUN"))
    person.slash("login", user=user)
    status, answer, _ = submit_token(bot, opened_view(fake_slack, person.channel), token, user=user)
    assert status == 200 and isinstance(answer, dict) and "USER_INFO" in answer["errors"][TOKEN_BLOCK]
    assert "no Buddy account linked" in person.slash("whoami", user=user).ack_text
    assert_never_shown(bot, fake_slack, token)


def test_a_token_without_execution_run_is_linked_with_a_warning(bot, fake_slack, fake_buddy, fresh):
    person, user = new_person(bot, fake_slack, fake_buddy)
    token = f"reader-pat-{secrets.token_hex(12)}"
    fake_buddy.add_user(token, "Ana Reader", scopes=("USER_INFO", "EXECUTION_INFO"))
    person.slash("login", user=user)
    status, answer, _ = submit_token(bot, opened_view(fake_slack, person.channel), token, user=user)
    assert (status, answer) == (200, "")
    said = ephemeral_to(fake_slack, person.channel, user)
    assert "Ana Reader" in said and "lacks the `EXECUTION_RUN` scope" in said and "will be refused" in said
    assert "Ana Reader" in person.slash("whoami", user=user).ack_text
    assert_never_shown(bot, fake_slack, token)


def test_a_slow_buddy_is_said_in_the_modal_within_slacks_three_seconds(bot, fake_slack, fake_buddy, fresh):
    person, user = new_person(bot, fake_slack, fake_buddy)
    token = f"slow-pat-{secrets.token_hex(12)}"
    fake_buddy.add_user(token, "Ana Slow")
    person.slash("login", user=user)
    view = opened_view(fake_slack, person.channel)
    fake_buddy.fault("/user", 200, delay=6)
    status, answer, took = submit_token(bot, view, token, user=user)
    assert status == 200 and isinstance(answer, dict) and "did not answer within 2 s" in answer["errors"][TOKEN_BLOCK]
    assert took < 2 + 2  # the bounded wait, with room for a loaded machine
    fake_buddy.clear_faults()
    assert "no Buddy account linked" in person.slash("whoami", user=user).ack_text
    assert_never_shown(bot, fake_slack, token)


def test_a_form_slack_would_not_open_is_said_privately(bot, fake_slack, fake_buddy, fresh):
    person, user = new_person(bot, fake_slack, fake_buddy)
    fake_slack.fail("views.open", "expired_trigger_id", times=1)
    slash = person.slash("login", user=user)
    said = person.told(slash)
    assert "could not open the form for your Buddy token (expired_trigger_id)" in said and "/buddy login" in said


def test_an_unknown_host_is_refused_naming_the_known_ones(bot, fake_slack, fake_buddy, fresh):
    person, user = new_person(bot, fake_slack, fake_buddy)
    said = person.slash("login https://buddy.evil.example/", user=user).ack_text
    assert "I don't know the Buddy host buddy.evil.example" in said and "app.buddy.works" in said
    assert not fake_slack.calls("views.open") or all(person.channel not in json.dumps(c.params) for c in fake_slack.calls("views.open"))


def test_the_link_button_opens_the_modal_with_the_clicks_trigger(bot, fake_slack, fake_buddy, fresh):
    person, user = new_person(bot, fake_slack, fake_buddy)
    message = {"ts": unique_ts(), **render_link_prompt("eu.buddy.works", "Link your account to approve runs.")}
    payload = block_actions_payload(message, LINK_ACTION, channel=person.channel, user_id=user, is_ephemeral=True)
    assert person.bot.click(payload)[0] == 200
    view = opened_view(fake_slack, person.channel)
    assert view["trigger_id"] == payload["trigger_id"] and "eu.buddy.works" in visible_text(view["blocks"])
    token = f"eu-pat-{secrets.token_hex(12)}"
    fake_buddy.add_user(token, "Ana Europe")
    assert submit_token(bot, view, token, user=user)[:2] == (200, "")
    assert "eu.buddy.works: *Ana Europe*" in person.slash("whoami", user=user).ack_text
    assert "on eu.buddy.works" in person.slash("logout eu.buddy.works", user=user).ack_text
    assert_never_shown(bot, fake_slack, token)


def test_without_an_encryption_key_linking_is_refused_with_the_reason(tmp_path_factory, fake_slack, fake_buddy, fresh):
    keyless = _launch(tmp_path_factory, fake_slack, fake_buddy, {})
    try:
        person, user = new_person(keyless, fake_slack, fake_buddy)
        for command in ("login", "whoami", "login eu.buddy.works"):
            assert "TOKEN_ENCRYPTION_KEY" in person.slash(command, user=user).ack_text
        message = {"ts": unique_ts(), **render_link_prompt("app.buddy.works", "Link your account.")}
        name = unique("r")
        person.bot.click(block_actions_payload(message, LINK_ACTION, channel=person.channel, user_id=user,
                                               response_url=fake_slack.response_url(name)))
        [shown] = fake_slack.wait_for(f"response_url:{name}")
        assert "TOKEN_ENCRYPTION_KEY" in visible_text(shown.params)
        assert all(person.channel not in json.dumps(c.params) for c in fake_slack.calls("views.open"))
    finally:
        keyless.stop()


# -- Buddy's OAuth sign-in ----------------------------------------------------------------------


def sign_in_link(person: Person, user: str) -> str:
    ack = person.slash("login", user=user).ack
    assert isinstance(ack, dict), ack
    [url] = [e["url"] for b in ack["blocks"] if b["type"] == "actions" for e in b["elements"] if "url" in e]
    assert "10 minutes" in visible_text(ack)
    return url


def open_link(browser: httpx.Client, link: str) -> httpx.Response:
    """Opens the sign-in link from Slack: the page naming whom it links to, then its button."""
    confirm = browser.get(link)
    if confirm.status_code != 200:
        return confirm
    assert "Continue only if that is you" in confirm.text and "Continue to Buddy" in confirm.text
    return browser.post(link.split("?", 1)[0], data={"state": link.rsplit("state=", 1)[1]})


def to_callback(browser: httpx.Client, link: str) -> str:
    """Follows the link as far as Buddy's redirect back: the callback's address (not opened)."""
    to_buddy = open_link(browser, link)
    assert to_buddy.status_code == 302, to_buddy.text
    back = browser.get(to_buddy.headers["location"])
    assert back.status_code == 302, back.text
    return back.headers["location"]


def oauth_tokens(fake_buddy: FakeBuddy) -> list[str]:
    return [t for t in fake_buddy.users if t.startswith("oauth-")] + [
        form[k] for form in fake_buddy.oauth.token_requests() for k in ("code", "code_verifier", "refresh_token") if k in form
    ]


def test_signing_in_through_buddy_links_the_account(oauth_bot, fake_slack, fake_buddy, fresh):
    person, user = new_person(oauth_bot, fake_slack, fake_buddy)
    link = sign_in_link(person, user)
    assert link.startswith(f"{oauth_bot.url}/buddy/oauth/start?state=")
    with httpx.Client(follow_redirects=True) as browser:
        page = open_link(browser, link)
        assert page.status_code == 200, page.text
        assert "Linked" in page.text and "Ana Example" in page.text and page.headers["cache-control"] == "no-store"
        [dm] = fake_slack.wait_for("chat.postMessage", predicate=lambda c: c.channel == user)
        assert "Ana Example" in visible_text(dm.params)
        whoami = person.slash("whoami", user=user).ack_text
        assert "Ana Example" in whoami and "(OAuth)" in whoami and "Buddy user 801" in whoami

        replay = browser.get(str(page.url))  # the callback again: its state was used
        assert replay.status_code == 400 and "used already" in replay.text
    assert_never_shown(oauth_bot, fake_slack, *oauth_tokens(fake_buddy))
    state = link.rsplit("state=", 1)[1]
    assert state not in oauth_bot.log()  # the sign-in link is shown to the person only, never logged
    assert "Forgot your Buddy token" in person.slash("logout", user=user).ack_text


def test_a_forwarded_sign_in_link_names_whom_it_links_to_before_anything_happens(oauth_bot, fake_slack, fake_buddy, fresh):
    person, mallory = new_person(oauth_bot, fake_slack, fake_buddy)
    fake_slack.users[mallory] = {"profile": {"display_name": "mallory", "real_name": "Mallory"}}
    link = sign_in_link(person, mallory)
    fake_buddy.reset_calls()
    with httpx.Client() as victims_browser:
        shown = victims_browser.get(link)  # opening the link (or an image pointing at it) goes nowhere
        assert shown.status_code == 200 and "the Slack user mallory" in shown.text
        assert "If someone sent you this link, close this tab" in shown.text
        assert "set-cookie" not in shown.headers and fake_buddy.calls("/oauth2/") == []
        forged = victims_browser.post(link.split("?", 1)[0], data={"state": "not-a-state"})
        assert forged.status_code == 400


def test_a_callback_with_another_persons_state_links_nobody(oauth_bot, fake_slack, fake_buddy, fresh):
    person, ana = new_person(oauth_bot, fake_slack, fake_buddy)
    bob = unique("U")
    with httpx.Client() as anas_browser, httpx.Client() as bobs_browser:
        anas_callback = to_callback(anas_browser, sign_in_link(person, ana))
        assert open_link(bobs_browser, sign_in_link(person, bob)).status_code == 302  # Bob's own sign-in, begun
        page = bobs_browser.get(anas_callback)
        assert page.status_code == 403 and "someone else" in page.text and "Nothing was linked" in page.text
        again = anas_browser.get(anas_callback)  # spent, even for Ana now
        assert again.status_code == 400 and "used already" in again.text
    for user in (ana, bob):
        assert "no Buddy account linked" in person.slash("whoami", user=user).ack_text


def test_an_expired_sign_in_link_says_so(oauth_bot, fake_slack, fake_buddy, fresh):
    person, user = new_person(oauth_bot, fake_slack, fake_buddy)
    link = sign_in_link(person, user)
    with sqlite3.connect(oauth_bot.env["STATE_DB"]) as db:  # begun eleven minutes ago
        db.execute("UPDATE oauth_states SET created_at = created_at - 660 WHERE slack_user = ?", (user,))
    with httpx.Client(follow_redirects=True) as browser:
        page = open_link(browser, link)
    assert page.status_code == 400 and "expired" in page.text and "/buddy login" in page.text
    assert "no Buddy account linked" in person.slash("whoami", user=user).ack_text


def test_declining_in_buddy_or_a_failed_exchange_links_nothing(oauth_bot, fake_slack, fake_buddy, fresh):
    person, user = new_person(oauth_bot, fake_slack, fake_buddy)
    fake_buddy.oauth.denies = True
    with httpx.Client(follow_redirects=True) as browser:
        page = open_link(browser, sign_in_link(person, user))
        assert page.status_code == 400 and "you declined" in page.text
        fake_buddy.oauth.denies = False
        fake_buddy.fault("/oauth2/token", 500, times=1)
        page = open_link(browser, sign_in_link(person, user))
        assert page.status_code == 502 and "would not exchange the sign-in code" in page.text
    assert "no Buddy account linked" in person.slash("whoami", user=user).ack_text


def test_the_callback_refuses_oversized_or_forged_requests(oauth_bot, fake_slack, fake_buddy, fresh):
    with httpx.Client() as browser:
        forged = browser.get(f"{oauth_bot.url}/buddy/oauth/callback", params={"state": "<script>x</script>", "code": "c"})
        assert forged.status_code == 400 and "<script>" not in forged.text and "know this sign-in link" in forged.text
        huge = browser.get(f"{oauth_bot.url}/buddy/oauth/callback", params={"state": "s", "code": "c" * 3000})
        assert huge.status_code == 400 and "longer than any Buddy sends" in huge.text
        not_started = browser.get(f"{oauth_bot.url}/buddy/oauth/start", params={"state": "nope"})
        assert not_started.status_code == 400


def test_the_oauth_routes_say_when_oauth_is_not_set_up(bot, fresh):
    with httpx.Client() as browser:
        page = browser.get(f"{bot.url}/buddy/oauth/callback", params={"state": "s", "code": "c"})
    assert page.status_code == 404 and "personal access token" in page.text


def test_the_link_button_gives_the_sign_in_link_where_oauth_serves_the_host(oauth_bot, fake_slack, fake_buddy, fresh):
    person, user = new_person(oauth_bot, fake_slack, fake_buddy)
    name = unique("r")
    message = {"ts": unique_ts(), **render_link_prompt("app.buddy.works", "Link your account to approve runs.")}
    payload = block_actions_payload(message, LINK_ACTION, channel=person.channel, user_id=user,
                                    response_url=fake_slack.response_url(name))
    assert oauth_bot.click(payload)[0] == 200
    [shown] = fake_slack.wait_for(f"response_url:{name}")
    [url] = [e["url"] for b in shown.params["blocks"] if b["type"] == "actions" for e in b["elements"]]
    with httpx.Client(follow_redirects=True) as browser:
        assert "Ana Example" in open_link(browser, url).text
    assert "(OAuth)" in person.slash("whoami", user=user).ack_text
    assert_never_shown(oauth_bot, fake_slack, *oauth_tokens(fake_buddy))
