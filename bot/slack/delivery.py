"""Getting an answer in front of the person: post, thread the log, and fall back when Slack says no.

Order of preference: the channel (or thread) the request came from; the slash command's
``response_url`` (works where the bot is not a member); a direct message to the person.
A failed snippet upload becomes the same log tail inline, in a code block in the thread.
"""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.answers import Answer
from bot.render.mrkdwn import escape
from bot.slack.upload_turns import upload_turn
from bot.watch import Watcher

log = logging.getLogger(__name__)

# Errors that mean "you can't post there", as opposed to a broken request.
UNREACHABLE = {"not_in_channel", "channel_not_found", "is_archived", "restricted_action", "cannot_dm_bot", "user_not_in_channel"}


def slack_error(exc: SlackApiError) -> str:
    try:
        return str(exc.response.get("error") or "unknown_error")
    except AttributeError:
        return "unknown_error"


async def deliver(
    client: AsyncWebClient,
    answer: Answer,
    *,
    channel: str,
    thread_ts: str | None = None,
    response_url: str | None = None,
    user: str | None = None,
    watcher: Watcher | None = None,
) -> str | None:
    """Posts the summary (in ``thread_ts`` when given) and its log tail under it; a run still going
    is then followed by ``watcher``, which keeps the summary current.

    Returns the ts of the posted summary, or None when it went through ``response_url``.
    Raises SlackApiError only when no way of reaching the person worked.
    """
    try:
        response = await client.chat_postMessage(channel=channel, thread_ts=thread_ts, **answer.message)
    except SlackApiError as exc:
        if slack_error(exc) not in UNREACHABLE:
            raise
        log.info("cannot post in %s (%s); falling back", channel, slack_error(exc))
        return await _fallback(client, answer, response_url=response_url, user=user, cause=exc)
    posted_ts = response["ts"]
    if watcher is not None and answer.report is not None and not answer.report.is_finished:
        await watcher.watch(
            answer.ref,
            channel=response["channel"],
            ts=posted_ts,
            thread_ts=thread_ts,
            requested_by=answer.requested_by,
            shown=answer.report,
        )
    if answer.snippet:
        await post_log(client, answer, channel=channel, thread_ts=thread_ts or posted_ts)
    return posted_ts


async def post_log(client: AsyncWebClient, answer: Answer, *, channel: str, thread_ts: str) -> None:
    """The log tail as a snippet in the thread; inline in a code block if the upload fails."""
    try:
        async with upload_turn():
            await client.files_upload_v2(
                channel=channel,
                thread_ts=thread_ts,
                content=answer.snippet,
                filename=answer.snippet_filename,
                title=answer.snippet_title,
                snippet_type="text",
            )
        return
    except SlackApiError as exc:
        log.info("snippet upload failed (%s); posting the log inline", slack_error(exc))
    except Exception as exc:  # the upload URL step raises plain HTTP errors
        log.info("snippet upload failed (%s); posting the log inline", type(exc).__name__)
    await client.chat_postMessage(
        channel=channel,
        thread_ts=thread_ts,
        text=escape(answer.snippet_title) or "Log tail",  # the title holds Buddy's action name: text is mrkdwn
        blocks=answer.inline_log_blocks(),
    )


async def _fallback(
    client: AsyncWebClient, answer: Answer, *, response_url: str | None, user: str | None, cause: SlackApiError
) -> str | None:
    blocks = list(answer.message.get("blocks", [])) + answer.inline_log_blocks()
    message = {"text": answer.message.get("text", ""), "blocks": blocks[:50]}
    if response_url:
        sent = await AsyncWebhookClient(response_url).send_dict({"response_type": "ephemeral", **message})
        if sent.status_code == 200:
            return None
        log.info("response_url refused the answer (HTTP %s)", sent.status_code)
    if user:
        opened = await client.conversations_open(users=user)
        dm = opened["channel"]["id"]
        posted = await client.chat_postMessage(channel=dm, **answer.message)
        if answer.snippet:
            await post_log(client, answer, channel=dm, thread_ts=posted["ts"])
        return None
    raise cause
