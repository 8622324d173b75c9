"""Getting an answer in front of the person: post, thread the log, and fall back when Slack says no.

Order of preference: the channel (or thread) the request came from; the slash command's
``response_url`` (works where the bot is not a member); a direct message to the person.
A failed snippet upload becomes the same log tail inline, in a code block in the thread.

Given the unit of work's ``SlackEffects``, every post and upload here is an effect of that unit,
done once even when the unit is taken over after a crash (``bot.slack.effects``).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.answers import Answer
from bot.render.mrkdwn import escape
from bot.slack.clients import installation_key
from bot.slack.effects import SlackEffects
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


async def post_message(
    client: AsyncWebClient,
    effects: SlackEffects | None,
    effect: str,
    *,
    channel: str,
    thread_ts: str | None = None,
    **message: Any,
) -> dict[str, Any]:
    """``chat.postMessage``, as an effect of the unit when there is one: the channel and ts posted."""
    if effects is not None:
        return await effects.post(effect, channel=channel, thread_ts=thread_ts, **message)
    posted = await client.chat_postMessage(channel=channel, thread_ts=thread_ts, **message)
    return {"channel": posted["channel"], "ts": posted["ts"]}


async def deliver(
    client: AsyncWebClient,
    answer: Answer,
    *,
    channel: str,
    thread_ts: str | None = None,
    response_url: str | None = None,
    user: str | None = None,
    watcher: Watcher | None = None,
    effects: SlackEffects | None = None,
    name: str = "answer",
) -> str | None:
    """Posts the summary (in ``thread_ts`` when given) and its log tail under it; a run still going
    is then followed by ``watcher``, which keeps the summary current. ``name`` tells this answer's
    effects apart from the unit's others (a command may answer several links).

    Returns the ts of the posted summary, or None when it went through ``response_url``.
    Raises SlackApiError only when no way of reaching the person worked.
    """
    if answer.private:
        # For the asker only (a link prompt): an ephemeral cannot be looked for after a crash, so
        # at least once (docs/faults.md); nobody else is asked, and a bot's notification is not.
        if user:
            await client.chat_postEphemeral(channel=channel, user=user, thread_ts=thread_ts, **answer.message)
        return None
    try:
        posted = await post_message(client, effects, f"{name}:summary", channel=channel, thread_ts=thread_ts, **answer.message)
    except SlackApiError as exc:
        if slack_error(exc) not in UNREACHABLE:
            raise
        log.info("cannot post in %s (%s); falling back", channel, slack_error(exc))
        return await _fallback(client, answer, response_url=response_url, user=user, cause=exc, effects=effects, name=name)
    posted_ts = posted["ts"]
    if watcher is not None and answer.report is not None and not answer.report.is_finished:
        await watcher.watch(
            answer.ref,
            channel=posted["channel"],
            ts=posted_ts,
            thread_ts=thread_ts,
            requested_by=answer.requested_by,
            shown=answer.report,
            reader=answer.reader,
            team=installation_key(client),
        )
    if answer.snippet:
        await post_log(client, answer, channel=channel, thread_ts=thread_ts or posted_ts, effects=effects, name=name)
    return posted_ts


async def post_log(
    client: AsyncWebClient,
    answer: Answer,
    *,
    channel: str,
    thread_ts: str,
    effects: SlackEffects | None = None,
    name: str = "answer",
) -> None:
    """The log tail as a snippet in the thread; inline in a code block if the upload fails."""
    upload: dict[str, Any] = dict(content=answer.snippet, title=answer.snippet_title, snippet_type="text")
    try:
        async with upload_turn():
            if effects is not None:
                await effects.upload(
                    f"{name}:snippet", channel=channel, thread_ts=thread_ts, filename=answer.snippet_filename, **upload
                )
            else:
                await client.files_upload_v2(channel=channel, thread_ts=thread_ts, filename=answer.snippet_filename, **upload)
        return
    except SlackApiError as exc:
        log.info("snippet upload failed (%s); posting the log inline", slack_error(exc))
    except Exception as exc:  # the upload URL step raises plain HTTP errors
        log.info("snippet upload failed (%s); posting the log inline", type(exc).__name__)
    await post_message(
        client,
        effects,
        f"{name}:inline-log",
        channel=channel,
        thread_ts=thread_ts,
        text=escape(answer.snippet_title) or "Log tail",  # the title holds Buddy's action name: text is mrkdwn
        blocks=answer.inline_log_blocks(),
    )


async def _fallback(
    client: AsyncWebClient,
    answer: Answer,
    *,
    response_url: str | None,
    user: str | None,
    cause: SlackApiError,
    effects: SlackEffects | None,
    name: str,
) -> str | None:
    blocks = list(answer.message.get("blocks", [])) + answer.inline_log_blocks()
    message = {"text": answer.message.get("text", ""), "blocks": blocks[:50]}
    if response_url:
        # A response_url reply cannot be looked for after a crash: at least once (docs/faults.md).
        sent = await AsyncWebhookClient(response_url).send_dict({"response_type": "ephemeral", **message})
        if sent.status_code == 200:
            return None
        log.info("response_url refused the answer (HTTP %s)", sent.status_code)
    if user:
        opened = await client.conversations_open(users=user)
        dm = opened["channel"]["id"]
        posted = await post_message(client, effects, f"{name}:dm", channel=dm, **answer.message)
        if answer.snippet:
            await post_log(client, answer, channel=dm, thread_ts=posted["ts"], effects=effects, name=f"{name}:dm")
        return None
    raise cause
