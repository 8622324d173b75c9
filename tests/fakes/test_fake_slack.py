"""The fake Slack must look like Slack to slack_sdk's real clients and to Bolt."""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import parse_qs

import pytest
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.slack.manifest import bot_scopes
from tests.fakes.signing import (
    FORM,
    JSON,
    block_actions_body,
    event_callback_body,
    post_signed,
    slash_command_body,
)
from tests.fakes.slack import UPLOAD, FakeSlack

SECRET = "test-signing-secret"


def client(fake: FakeSlack, **kwargs) -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-test", base_url=fake.url, **kwargs)


async def test_post_message_is_recorded_and_answered_like_slack(fake_slack: FakeSlack) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*ok*"}}]
    first = await client(fake_slack).chat_postMessage(channel="C1", text="hi", blocks=blocks, thread_ts="1.2")
    second = await client(fake_slack).chat_postMessage(channel="C1", text="again")

    assert first["ok"] and first["channel"] == "C1" and first["message"]["text"] == "hi"
    assert first["message"]["user"] == "UBOT" and first["message"]["thread_ts"] == "1.2"
    assert float(second["ts"]) > float(first["ts"])
    [call, _] = fake_slack.wait_for("chat.postMessage", count=2)
    assert call.params == {"channel": "C1", "text": "hi", "blocks": blocks, "thread_ts": "1.2"}
    assert call.headers["authorization"] == "Bearer xoxb-test" and call.channel == "C1"


async def test_update_and_delete_need_a_message_the_bot_posted(fake_slack: FakeSlack) -> None:
    posted = await client(fake_slack).chat_postMessage(channel="C1", text="working")

    updated = await client(fake_slack).chat_update(channel="C1", ts=posted["ts"], text="done")
    assert (updated["ts"], updated["text"]) == (posted["ts"], "done")
    await client(fake_slack).chat_delete(channel="C1", ts=posted["ts"])
    with pytest.raises(SlackApiError) as error:
        await client(fake_slack).chat_update(channel="C1", ts=posted["ts"], text="gone")
    assert error.value.response["error"] == "message_not_found"


async def test_dms_ephemerals_and_unfurls(fake_slack: FakeSlack) -> None:
    dm = await client(fake_slack).chat_postMessage(channel="U1", text="only you")
    opened = await client(fake_slack).conversations_open(users="U1")
    ephemeral = await client(fake_slack).chat_postEphemeral(channel="C1", user="U1", text="psst")
    unfurls = {"https://app.buddy.works/x": {"blocks": [{"type": "divider"}]}}
    await client(fake_slack).chat_unfurl(channel="C1", ts="1.2", unfurls=unfurls)

    assert dm["channel"] == opened["channel"]["id"] == "D1"
    assert (await client(fake_slack).chat_update(channel="D1", ts=dm["ts"], text="edited"))["ok"]
    assert ephemeral["message_ts"]
    assert fake_slack.calls("chat.unfurl")[0].params["unfurls"] == unfurls


async def test_files_upload_v2_lands_in_the_thread_with_its_content(fake_slack: FakeSlack) -> None:
    result = await client(fake_slack).files_upload_v2(
        channel="C1", thread_ts="1700000000.000100", content="line1\nline2", filename="x.log", title="Log tail"
    )

    assert result["file"]["title"] == "Log tail"
    assert fake_slack.uploads() == [
        {
            "channel": "C1",
            "thread_ts": "1700000000.000100",
            "title": "Log tail",
            "filename": "x.log",
            "content": "line1\nline2",
            "initial_comment": None,
        }
    ]
    methods = [c.method for c in fake_slack.calls()]
    assert methods == ["files.getUploadURLExternal", UPLOAD, "files.completeUploadExternal"]


def test_sync_client_form_bodies_and_raw_uploads_are_understood(fake_slack: FakeSlack) -> None:
    sync = WebClient(token="xoxb-test", base_url=fake_slack.url)
    blocks = [{"type": "divider"}]
    sync.api_call("chat.postMessage", data={"channel": "C1", "text": "t", "blocks": json.dumps(blocks)})
    sync.files_upload_v2(channel="C1", content=b"\xc5\xbc log", filename="y.log", initial_comment="see log")

    assert fake_slack.calls("chat.postMessage")[0].params["blocks"] == blocks
    [upload] = fake_slack.uploads()
    assert (upload["content"], upload["title"], upload["initial_comment"]) == ("ż log", "y.log", "see log")


async def test_ratelimit_answers_429_with_retry_after(fake_slack: FakeSlack) -> None:
    fake_slack.ratelimit("chat.postMessage", retry_after=7)

    with pytest.raises(SlackApiError) as error:
        await client(fake_slack).chat_postMessage(channel="C1", text="hi")
    assert error.value.response.status_code == 429
    assert error.value.response.headers["Retry-After"] == "7"
    assert error.value.response["error"] == "ratelimited"
    assert (await client(fake_slack).chat_postMessage(channel="C1", text="hi"))["ok"]  # times=1


async def test_rate_limit_retry_handler_succeeds_after_one_429(fake_slack: FakeSlack) -> None:
    fake_slack.ratelimit("chat.postMessage", retry_after=0)  # 0 keeps the handler's sleep under 1 s
    retrying = client(fake_slack, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)])

    assert (await retrying.chat_postMessage(channel="C1", text="hi"))["ok"]
    assert [c.status for c in fake_slack.calls("chat.postMessage")] == [429, 200]


async def test_fail_is_per_channel_and_counts_times(fake_slack: FakeSlack) -> None:
    fake_slack.fail("chat.postMessage", "not_in_channel", channel="C9", times=1)

    with pytest.raises(SlackApiError) as error:
        await client(fake_slack).chat_postMessage(channel="C9", text="hi")
    assert (error.value.response.status_code, error.value.response["error"]) == (200, "not_in_channel")
    assert (await client(fake_slack).chat_postMessage(channel="C1", text="hi"))["ok"]
    assert (await client(fake_slack).chat_postMessage(channel="C9", text="hi"))["ok"]


async def test_failing_upload_url_fails_files_upload_v2(fake_slack: FakeSlack) -> None:
    fake_slack.fail(UPLOAD)

    with pytest.raises(SlackRequestError, match="status: 500"):
        await client(fake_slack).files_upload_v2(channel="C1", content="x", filename="x.log")
    assert fake_slack.uploads() == [] and not fake_slack.calls("files.completeUploadExternal")


async def test_delay_holds_one_channel_while_others_are_served(fake_slack: FakeSlack) -> None:
    fake_slack.delay("chat.postMessage", 0.5, channel="C1")

    slow = asyncio.create_task(client(fake_slack).chat_postMessage(channel="C1", text="slow"))
    # wait_for blocks, so run it off this loop, which must keep sending the slow request
    [held] = await asyncio.to_thread(fake_slack.wait_for, "chat.postMessage", answered=False)
    fast = await client(fake_slack).chat_postMessage(channel="C2", text="fast")

    assert held.status is None
    assert float((await slow)["ts"]) > float(fast["ts"])


async def test_auth_unknown_methods_and_scopes(fake_slack: FakeSlack) -> None:
    auth = await client(fake_slack).auth_test()
    assert (auth["user_id"], auth["bot_id"], auth["team_id"]) == ("UBOT", "BBOT", "T123")
    assert set(auth.headers["x-oauth-scopes"].split(",")) == bot_scopes()

    cases = [
        ("xoxb-test", "chat.nope", "unknown_method"),
        ("bogus", "auth.test", "invalid_auth"),
        (None, "auth.test", "not_authed"),
    ]
    for token, method, code in cases:
        with pytest.raises(SlackApiError) as error:
            await AsyncWebClient(token=token, base_url=fake_slack.url).api_call(method)
        assert error.value.response["error"] == code


async def test_info_methods_merge_overrides(fake_slack: FakeSlack) -> None:
    fake_slack.channels["C1"] = {"is_member": False}
    fake_slack.users["U1"] = {"tz": "Europe/Warsaw"}

    channel = (await client(fake_slack).conversations_info(channel="C1"))["channel"]
    user = (await client(fake_slack).users_info(user="U1"))["user"]
    assert (channel["id"], channel["is_member"], user["tz"]) == ("C1", False, "Europe/Warsaw")


async def test_response_url_records_json_bodies(fake_slack: FakeSlack) -> None:
    webhook = AsyncWebhookClient(fake_slack.response_url("r1"))

    response = await webhook.send(text="done", response_type="in_channel")
    assert (response.status_code, response.body) == (200, "ok")
    assert fake_slack.responses("r1") == [{"text": "done", "response_type": "in_channel"}]


def test_wait_for_times_out_with_what_arrived(fake_slack: FakeSlack) -> None:
    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"1 x chat.update; received \[\]"):
        fake_slack.wait_for("chat.update", timeout=0.1)
    assert time.monotonic() - started < 1


def test_reset_forgets_calls_and_faults(fake_slack: FakeSlack) -> None:
    sync = WebClient(token="xoxb-test", base_url=fake_slack.url)
    fake_slack.fail("chat.postMessage")
    with pytest.raises(SlackApiError):
        sync.chat_postMessage(channel="C1", text="hi")

    fake_slack.reset()
    assert fake_slack.calls() == [] and sync.chat_postMessage(channel="C1", text="hi")["ok"]


# signing helpers


def test_post_signed_sends_a_verifiable_signature_and_extra_headers(fake_slack: FakeSlack) -> None:
    body = json.dumps({"text": "hi"})

    status, text = post_signed(
        fake_slack.response_url("s"), body, SECRET, content_type=JSON, extra_headers={"X-Slack-Retry-Num": "1"}
    )
    assert (status, text) == (200, "ok")
    [call] = fake_slack.calls("response_url:s")
    assert call.headers["x-slack-retry-num"] == "1"
    signed = (call.headers["x-slack-request-timestamp"], call.headers["x-slack-signature"])
    assert SignatureVerifier(SECRET).is_valid(body, *signed)
    assert post_signed(fake_slack.response_url("s"), "not json", SECRET, content_type=JSON) == (400, "invalid_payload")


def test_bodies_are_what_bolt_expects_from_slack() -> None:
    form, json_ = {"content-type": FORM}, {"content-type": JSON}
    command = AsyncBoltRequest(body=slash_command_body("help", response_url="http://x/r"), headers=form).body
    event = AsyncBoltRequest(body=event_callback_body({"type": "app_mention", "text": "hi"}), headers=json_).body
    action = AsyncBoltRequest(body=block_actions_body({"type": "block_actions", "actions": []}), headers=form).body

    assert (command["command"], command["text"], command["response_url"]) == ("/buddy", "help", "http://x/r")
    assert (event["type"], event["event"]["type"], event["team_id"]) == ("event_callback", "app_mention", "T123")
    assert event["event_id"] != json.loads(event_callback_body({}))["event_id"]
    assert action["type"] == "block_actions"
    assert parse_qs(slash_command_body("a b"))["text"] == ["a b"]
