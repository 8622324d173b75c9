"""Messages and the modal about linked Buddy accounts: the sign-in link, the token form, who you are
linked as, and what logging out forgot. Never a token: only names, hosts and scopes."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from bot.identity.accounts import OAUTH, LinkedAccount
from bot.render.blocks import OPEN_ACTION, Block, actions, button, context, plain_text, section
from bot.render.mrkdwn import esc
from bot.render.scrub import scrub

LINK_TOKEN_VIEW = "buddy_link_token"  # the token modal's callback_id
TOKEN_BLOCK, TOKEN_INPUT = "buddy_token", "token"
TOKEN_SCOPES = ("USER_INFO", "EXECUTION_INFO", "EXECUTION_RUN")
_LIMIT = 2900


def _text(raw: str) -> str:
    return esc(raw, _LIMIT, one_line=False, scrub=scrub)


def render_sign_in_link(url: str, host: str) -> dict:
    """``/buddy login`` with Buddy's OAuth: a link button to the sign-in (it works once, 10 minutes)."""
    body = (
        f"Sign in to Buddy ({esc(host, 200)}) to link your account: I then act as you there, with what Buddy lets you do. "
        "The link works once, for the next 10 minutes, and only for you."
    )
    link = actions([button("Link Buddy account", action_id=OPEN_ACTION, url=url)], block_id="buddy_sign_in")
    return {"text": body, "blocks": [section(f":key: {body}"), link]}


def token_modal(host: str, *, channel: str | None) -> dict:
    """The form asking for a personal access token for ``host``; ``channel``: where to confirm."""
    where = f"https://{host}/security"
    scopes = ", ".join(f"`{scope}`" for scope in TOKEN_SCOPES)
    intro = (
        f"Paste a Buddy personal access token for *{esc(host, 200)}*. Create one in Buddy under "
        f"<{where}|your avatar → Security → Personal Access Tokens> with the scopes {scopes} "
        "(`PIPELINE_RUN` on newer installations). I check it with Buddy, keep it encrypted, never show it, and act "
        "as you with it; `/buddy logout` forgets it."
    )
    field: Block = {
        "type": "input",
        "block_id": TOKEN_BLOCK,
        "label": plain_text("Personal access token"),
        "element": {
            "type": "plain_text_input",
            "action_id": TOKEN_INPUT,
            "max_length": 512,
            "placeholder": plain_text("the token, as Buddy showed it"),
        },
    }
    return {
        "type": "modal",
        "callback_id": LINK_TOKEN_VIEW,
        "title": plain_text("Link Buddy account"),
        "submit": plain_text("Link"),
        "close": plain_text("Cancel"),
        "private_metadata": json.dumps({"host": host, "channel": channel or ""}),
        "blocks": [section(intro), field],
    }


def render_linked(account: LinkedAccount, *, lacks_acting_scope: bool = False) -> dict:
    """The confirmation once an account is linked (the token modal, or Buddy's sign-in)."""
    body = f"Linked: on {account.host} you are now *{_text(account.buddy_user_name)}* for me."
    if lacks_acting_scope:
        body += (
            " But this token lacks the `EXECUTION_RUN` scope (`PIPELINE_RUN` on newer installations): approving, "
            "retrying, cancelling and running pipelines will be refused until you add it in Buddy "
            "(avatar → Security → Personal Access Tokens) and link the token again."
        )
    return {
        "text": body,
        "blocks": [section(f":white_check_mark: {body}"), context("`/buddy whoami` shows it, `/buddy logout` forgets it.")],
    }


def render_whoami(linked: list[LinkedAccount]) -> dict:
    if not linked:
        body = "You have no Buddy account linked. `/buddy login` links one (`/buddy login <host>` for another Buddy host)."
        return {"text": body, "blocks": [section(body)]}
    lines = [_who(account) for account in linked]
    body = "\n".join(lines)
    return {"text": body, "blocks": [section(body), context("`/buddy logout [host]` forgets a link.")]}


def _who(account: LinkedAccount) -> str:
    since = datetime.fromtimestamp(account.linked_at, tz=timezone.utc).strftime("%Y-%m-%d")
    how = "through Buddy's sign-in (OAuth)" if account.kind == OAUTH else "with a personal access token"
    user = f" (Buddy user {account.buddy_user_id})" if account.buddy_user_id is not None else ""
    scopes = f", scopes {', '.join(account.scopes)}" if account.scopes and account.kind != OAUTH else ""
    return f"• {esc(account.host, 200)}: *{_text(account.buddy_user_name)}*{user}, {how}{scopes}, since {since}"


def render_logged_out(hosts: list[str], *, asked_for: str | None) -> dict:
    if not hosts:
        where = f" on {esc(asked_for, 200)}" if asked_for else ""
        body = f"You had no Buddy account linked{where}: nothing to forget."
    else:
        body = (
            f"Forgot your Buddy token on {', '.join(esc(host, 200) for host in hosts)}. I no longer act as you there. "
            "A personal access token still exists in Buddy until you delete it there (avatar → Security)."
        )
    return {"text": body, "blocks": [section(body)]}
