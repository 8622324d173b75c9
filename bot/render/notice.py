"""Short messages that are not a run summary: errors with what to do, refusals, and help."""

from __future__ import annotations

from bot.render.blocks import LINK_ACTION, actions, button, context, section
from bot.render.mrkdwn import esc, is_web_url
from bot.render.scrub import scrub

# Our own sentences may carry Buddy's words (error messages) or the person's (echoed input), so they
# are cleaned and escaped like Buddy text, and any secret value met so far is masked.
NOTICE_LIMIT = 2900


def render_notice(text: str, *, link: str | None = None) -> dict:
    """A one-section message: ":warning: text", with an "Open in Buddy" button when ``link`` is a web URL."""
    body = esc(text, NOTICE_LIMIT, one_line=False, scrub=scrub)
    blocks = [section(f":warning: {body}")]
    if link and is_web_url(link) and len(link) <= 3000:
        blocks.append(actions([button("Open in Buddy", action_id="buddy_open", url=link)], block_id="buddy_notice_actions"))
    return {"text": body, "blocks": blocks}


def render_link_prompt(host: str, why: str) -> dict:
    """A private note to someone with no usable Buddy account: ``why`` it is needed, and the
    "Link Buddy account" button (its click asks for a token or starts Buddy's sign-in)."""
    body = esc(why, NOTICE_LIMIT, one_line=False, scrub=scrub)
    button_row = actions([button("Link Buddy account", action_id=LINK_ACTION, value=host[:200])], block_id="buddy_link")
    return {"text": body, "blocks": [section(f":key: {body}"), button_row]}


HELP_LINES = (
    "*What I do:* give me a Buddy.Works run and I answer with what happened: status, timing, who approved it, "
    "the variables, and the last log lines in the thread.",
    "• `/buddy <run link>`: a run, an action of a run (`…?actionExecutionId=…`), or a pipeline (its latest run)",
    "• `/buddy <workspace> <project> <pipeline_id> <execution_id> [<action_execution_id>]`: the same by ids",
    "• `@buddy <run link>` in a channel or thread: I answer in that thread",
    "• a direct message with a link or ids: I answer there",
    "• Buddy run links pasted in channels: a short preview; in Buddy's own notifications: the details in their thread",
    "• a run still going: I keep its summary current until it ends; *Refresh* and *More log* (earlier lines) under it",
    "• `/buddy subscribe <pipeline or project link> [failures | changes | all] [branch=<name>]`: announce its runs "
    "in this channel, one message per run, details of a failure in its thread (`/buddy unsubscribe <link>`, "
    "`/buddy subscriptions` to list and remove)",
    "• `/buddy login [host]`: link your Buddy account, so that I act as you (`/buddy whoami` shows it, "
    "`/buddy logout [host]` forgets it)",
    "• *Approve*, *Provide variables*, *Retry* and *Cancel* on a run's messages: done as you in Buddy; "
    "`/buddy audit [pipeline link]` lists the last actions taken from Slack",
    '• `/buddy run <pipeline link> [branch=<name>] [revision=<sha>] [KEY=value …] [comment="…"]`: start a run '
    "as you (production pipelines ask first); I answer it here and follow it",
    "• my *Home* tab: what waits for your approval, your recent runs, your channels' failing pipelines; "
    "workspace admins change this workspace's Buddy settings there (or with `/buddy settings`)",
    "• `/buddy help`: this message",
)


def render_help() -> dict:
    return {
        "text": "How to use the Buddy bot",
        "blocks": [section("\n".join(HELP_LINES)), context("Up to 5 links per message are answered.")],
    }
