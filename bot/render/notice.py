"""Short messages that are not a run summary: errors with what to do, refusals, and help."""

from __future__ import annotations

from bot.render.blocks import actions, button, context, section
from bot.render.mrkdwn import clip, escape, is_web_url

# Our own sentences may carry Buddy's words (error messages), so they are escaped like Buddy text.
NOTICE_LIMIT = 2900


def render_notice(text: str, *, link: str | None = None) -> dict:
    """A one-section message: ":warning: text", with an "Open in Buddy" button when ``link`` is a web URL."""
    body = escape(clip(text, NOTICE_LIMIT))
    blocks = [section(f":warning: {body}")]
    if link and is_web_url(link) and len(link) <= 3000:
        blocks.append(actions([button("Open in Buddy", action_id="buddy_open", url=link)], block_id="buddy_notice_actions"))
    return {"text": body, "blocks": blocks}


HELP_LINES = (
    "*What I do:* give me a Buddy.Works run and I answer with what happened: status, timing, who approved it, "
    "the variables, and the last log lines in the thread.",
    "• `/buddy <run link>`: a run, an action of a run (`…?actionExecutionId=…`), or a pipeline (its latest run)",
    "• `/buddy <workspace> <project> <pipeline_id> <execution_id> [<action_execution_id>]`: the same by ids",
    "• `@buddy <run link>` in a channel or thread: I answer in that thread",
    "• a direct message with a link or ids: I answer there",
    "• Buddy links posted in channels I'm in (Buddy's own notifications too): the details go in their thread",
    "• `/buddy help`: this message",
)


def render_help() -> dict:
    return {
        "text": "How to use the Buddy bot",
        "blocks": [section("\n".join(HELP_LINES)), context("Up to 5 links per message are answered.")],
    }
