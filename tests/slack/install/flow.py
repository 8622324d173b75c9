"""The bot installed through Slack's OAuth, as a real process against the fake Slack: its settings,
and the install walked through the way a browser walks it (the bot's Add to Slack page, the fake
Slack's authorize page, Allow, the redirect back with the state cookie)."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from cryptography.fernet import Fernet
from sqlalchemy import text

from bot.config import Settings
from bot.render.workspace_settings import (
    HOSTS_BLOCK,
    HOSTS_INPUT,
    READING_BLOCK,
    READING_INPUT,
    SETTINGS_VIEW,
    TOKEN_BLOCK,
    TOKEN_INPUT,
    WORKSPACES_BLOCK,
    WORKSPACES_INPUT,
)
from bot.state.store import StateStore
from tests.fakes.bot_process import SIGNING_SECRET, BotProcess
from tests.fakes.buddy import FakeBuddy
from tests.fakes.signing import event_callback_body, post_signed, view_submission_payload
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_oauth import AUTHORIZE_PATH, CLIENT_ID, CLIENT_SECRET, FakeInstall

ENCRYPTION_KEY = Fernet.generate_key().decode()


def oauth_bot(tmp_path: Path, fake_slack: FakeSlack, fake_buddy: FakeBuddy, **env: str) -> BotProcess:
    """The bot in OAuth mode (not started): no SLACK_BOT_TOKEN, the app's credentials, the fake's authorize page."""
    settings = {
        "SLACK_BOT_TOKEN": "",
        "SLACK_CLIENT_ID": CLIENT_ID,
        "SLACK_CLIENT_SECRET": CLIENT_SECRET,
        "SLACK_OAUTH_AUTHORIZE_URL": fake_slack.server.base_url + AUTHORIZE_PATH,
        "TOKEN_ENCRYPTION_KEY": ENCRYPTION_KEY,
        **env,
    }
    bot = BotProcess(tmp_path, slack_url=fake_slack.url, buddy_url=fake_buddy.url, env=settings)
    bot.env.setdefault("PUBLIC_URL", bot.url)  # the redirect URL Slack is given: <PUBLIC_URL>/slack/oauth_redirect
    return bot


@dataclass
class Page:
    status: int
    url: str
    text: str
    headers: dict[str, str]


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # every hop is looked at by the test
        return None


_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects())


def get(url: str, *, cookie: str | None = None, data: bytes | None = None) -> Page:
    request = urllib.request.Request(url, data=data, headers={"Cookie": cookie} if cookie else {})
    try:
        with _opener.open(request, timeout=10) as response:
            return Page(response.status, url, response.read().decode(), dict(response.headers))
    except urllib.error.HTTPError as error:
        return Page(error.code, url, error.read().decode(), dict(error.headers))


def start_install(bot: BotProcess) -> tuple[str, str]:
    """The bot's Add to Slack page: the authorize URL its button links to, and the state cookie it set."""
    page = get(f"{bot.url}/slack/install")
    assert page.status == 200, page.text
    button = re.search(r'<a id="add-to-slack"[^>]*href="([^"]+)"', page.text)
    assert button is not None, page.text
    link = unescape(button.group(1))
    cookie = page.headers.get("Set-Cookie", "").split(";", 1)[0]
    assert cookie.startswith("slack-app-oauth-state="), page.headers
    return link, cookie


def allow(authorize_url: str, decision: str = "allow") -> str:
    """The fake Slack's authorize page, then its Allow (or Cancel) button: where Slack sends the browser."""
    page = get(authorize_url)
    assert page.status == 200 and 'id="allow"' in page.text, page.text
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
    form = "&".join(f"{name}={urllib.request.quote(unescape(value), safe='')}" for name, value in fields.items())
    answer = get(urljoin(authorize_url, AUTHORIZE_PATH), data=f"{form}&decision={decision}".encode())
    assert answer.status == 302, answer.text
    return answer.headers["Location"]


def install(
    bot: BotProcess,
    fake_slack: FakeSlack,
    team_id: str | None,
    *,
    enterprise_id: str | None = None,
    team_name: str | None = None,
) -> FakeInstall:
    """Installs the app into ``team_id`` (``None`` with ``enterprise_id``: the org, org-wide) the way a
    browser does, and returns what the fake Slack issued for it."""
    fake_slack.oauth.installing_into(team_id, team_name=team_name, enterprise_id=enterprise_id)
    link, cookie = start_install(bot)
    redirect = allow(link)
    assert urlsplit(redirect).path == "/slack/oauth_redirect", redirect
    done = get(redirect, cookie=cookie)
    assert done.status == 200 and 'id="installed"' in done.text, done.text
    return fake_slack.oauth.installed(team_id or enterprise_id or "")


def send_event(bot: BotProcess, event: dict, *, team_id: str, enterprise_id: str | None = None, org_wide: bool = False) -> int:
    body = event_callback_body(event, team_id=team_id, enterprise_id=enterprise_id, is_enterprise_install=org_wide)
    return post_signed(bot.events_url, body, SIGNING_SECRET, content_type="application/json")[0]


def state_env(state_settings: dict[str, str]) -> dict[str, str]:
    """The ``state_settings`` fixture (SQLite or PostgreSQL) as the bot process's environment."""
    return {name.upper(): value for name, value in state_settings.items()}


def sql(state_settings: dict[str, str], statement: str, **params: object) -> list[tuple]:
    """A statement run straight on the bot's state store (either engine); the rows of a query."""

    async def run() -> list[tuple]:
        store = await StateStore.open(Settings(_env_file=None, **state_settings))  # type: ignore[arg-type]
        try:
            async with store.begin() as db:
                result = await db.execute(text(statement), params)
                return [tuple(row) for row in result] if result.returns_rows else []
        finally:
            await store.close()

    return asyncio.run(run())


# -- the Settings form (each workspace's own Buddy settings) ----------------------------------------


def form(reading: str, *, token: str = "", workspaces: str = "", hosts: tuple[str, ...] = ()) -> dict:
    return {
        READING_BLOCK: {READING_INPUT: {"type": "radio_buttons", "selected_option": {"value": reading}}},
        TOKEN_BLOCK: {TOKEN_INPUT: {"type": "plain_text_input", "value": token or None}},
        HOSTS_BLOCK: {HOSTS_INPUT: {"type": "multi_static_select", "selected_options": [{"value": h} for h in hosts]}},
        WORKSPACES_BLOCK: {WORKSPACES_INPUT: {"type": "plain_text_input", "value": workspaces or None}},
    }


def submit(bot: BotProcess, values: dict, *, user: str, team: str) -> dict:
    view = {"id": "VSET1", "callback_id": SETTINGS_VIEW, "private_metadata": "", "blocks": []}
    status, body = bot.click(view_submission_payload(view, values, user_id=user, team_id=team))
    assert status == 200, body
    return json.loads(body) if body else {}
