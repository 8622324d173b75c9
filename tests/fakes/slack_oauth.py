"""Slack's side of installing an app, for the fake Slack (``FakeSlack.oauth``): the authorize page a
person allows the app on, ``oauth.v2.access`` exchanging its code for a bot token, and a bot token of
its own per workspace (or per Enterprise Grid org, installed org-wide), which ``auth.test`` answers for
and the Web API accepts until it is revoked.

Shaped as Slack documents it (https://docs.slack.dev/authentication/installing-with-oauth):
``GET /oauth/v2/authorize?client_id&scope&user_scope&redirect_uri&state[&team]`` shows a page with
**Allow** and **Cancel**; Allow sends the browser to ``redirect_uri?code=…&state=…``, Cancel to
``redirect_uri?error=access_denied&state=…``. A code is good once, for the redirect URI it was given
with, and ``oauth.v2.access`` takes the app's credentials as HTTP Basic auth (or form fields).
"""

from __future__ import annotations

import base64
import html
import itertools
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

CLIENT_ID = "1234567890.0987654321"
CLIENT_SECRET = "fake-oauth-client-secret"
APP_ID = "A123"  # as the signed requests of tests/fakes/signing.py carry it
DEFAULT_TEAM, DEFAULT_TEAM_NAME = "T123", "Fake Workspace"
AUTHORIZE_PATH = "/oauth/v2/authorize"
CODE_LIFETIME_S = 600  # Slack's codes expire after ten minutes


@dataclass
class FakeInstall:
    """A workspace, or an Enterprise Grid org installed org-wide (``team_id`` None), and its bot token."""

    team_id: str | None
    team_name: str | None
    enterprise_id: str | None = None
    enterprise_name: str | None = None
    installer: str = "U0INSTALLER"
    bot_token: str = ""
    bot_user_id: str = ""
    bot_id: str = ""
    installed_at: float = field(default_factory=time.time)

    @property
    def org_wide(self) -> bool:
        return self.team_id is None

    @property
    def owner(self) -> str:
        """The team id, or the org's id for an org-wide install."""
        return self.team_id or self.enterprise_id or ""


class FakeOAuth:
    def __init__(self, scopes: Callable[[], list[str]], lock: threading.Lock) -> None:
        self._scopes = scopes
        self._lock = lock
        self.client_id = CLIENT_ID
        self.client_secret = CLIENT_SECRET
        self.installs: dict[str, FakeInstall] = {}  # bot token -> the installation it was issued to
        self.revoked: set[str] = set()
        self.authorize_requests: list[dict[str, str]] = []  # the query of each authorize page shown
        self._next = FakeInstall(DEFAULT_TEAM, DEFAULT_TEAM_NAME)
        self._codes: dict[str, tuple[FakeInstall, str, float]] = {}  # code -> (what it installs, redirect_uri, when)
        self._serial = itertools.count(1)

    # what a test sets up and reads

    def installing_into(
        self,
        team_id: str | None = DEFAULT_TEAM,
        *,
        team_name: str | None = None,
        enterprise_id: str | None = None,
        enterprise_name: str | None = None,
        installer: str = "U0INSTALLER",
    ) -> None:
        """The workspace (or, with ``team_id`` None, the org installed org-wide) the person on the next
        authorize page is signed in to and installs into."""
        assert team_id or enterprise_id, "a workspace, or an org for an org-wide install"
        name = team_name or (f"Workspace {team_id}" if team_id else None)
        with self._lock:
            self._next = FakeInstall(team_id, name, enterprise_id, enterprise_name or enterprise_id, installer)

    def installed(self, owner: str) -> FakeInstall:
        """The latest installation into ``owner`` (a team id, or an org's id when installed org-wide)."""
        with self._lock:
            found = [i for token, i in self.installs.items() if i.owner == owner and token not in self.revoked]
        assert found, f"nothing installed into {owner}; installations: {[i.owner for i in self.installs.values()]}"
        return max(found, key=lambda install: install.installed_at)

    def revoke(self, owner: str) -> None:
        """Every bot token of ``owner``, as Slack revokes them when the app is uninstalled."""
        with self._lock:
            self.revoked.update(token for token, install in self.installs.items() if install.owner == owner)

    # what the fake's API asks

    def token_ok(self, token: str) -> bool | None:
        """True or False for a token this fake issued; None for any other."""
        if token in self.revoked:
            return False
        return True if token in self.installs else None

    def auth_test(self, token: str) -> dict[str, Any] | None:
        install = self.installs.get(token)
        if install is None:
            return None
        return {
            "ok": True,
            "url": f"https://{(install.owner or 'fake').lower()}.slack.com/",
            "team": install.team_name or install.enterprise_name,
            "user": "buddy",
            "team_id": install.owner,  # an org-wide token's team is its org
            "user_id": install.bot_user_id,
            "bot_id": install.bot_id,
            "enterprise_id": install.enterprise_id,
            "is_enterprise_install": install.org_wide,
        }

    def access(self, params: dict[str, Any], credentials: tuple[str | None, str | None]) -> dict[str, Any]:
        """``oauth.v2.access``: the code → the installation's bot token, once."""
        client_id, client_secret = credentials
        if client_id != self.client_id:
            return {"ok": False, "error": "invalid_client_id"}
        if client_secret != self.client_secret:
            return {"ok": False, "error": "bad_client_secret"}
        with self._lock:
            granted = self._codes.pop(str(params.get("code") or ""), None)
        if granted is None or time.time() - granted[2] > CODE_LIFETIME_S:
            return {"ok": False, "error": "invalid_code"}
        install, redirect_uri, _ = granted
        if params.get("redirect_uri") not in (None, redirect_uri):
            return {"ok": False, "error": "bad_redirect_uri"}
        return {
            "ok": True,
            "app_id": APP_ID,
            "authed_user": {"id": install.installer},
            "scope": ",".join(self._scopes()),
            "token_type": "bot",
            "access_token": install.bot_token,
            "bot_user_id": install.bot_user_id,
            "team": None if install.org_wide else {"id": install.team_id, "name": install.team_name},
            "enterprise": {"id": install.enterprise_id, "name": install.enterprise_name} if install.enterprise_id else None,
            "is_enterprise_install": install.org_wide,
        }

    # the browser's side

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(AUTHORIZE_PATH, self._authorize_page)
        app.router.add_post(AUTHORIZE_PATH, self._decide)

    async def _authorize_page(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        with self._lock:
            self.authorize_requests.append(query)
            install = self._next
        if query.get("client_id") != self.client_id:
            return _page(400, "Something's wrong", "<p>Invalid client_id parameter.</p>")
        if not str(query.get("redirect_uri", "")).startswith(("https://", "http://")):
            return _page(400, "Something's wrong", "<p>redirect_uri did not match any configured URIs.</p>")
        where = html.escape(install.team_name or install.enterprise_name or "")
        scopes = "".join(f"<li>{html.escape(scope)}</li>" for scope in query.get("scope", "").split(",") if scope)
        hidden = "".join(
            f'<input type="hidden" name="{name}" value="{html.escape(query.get(name, ""))}">'
            for name in ("client_id", "redirect_uri", "state", "scope", "user_scope")
        )
        body = (
            f"<p>The app is requesting permission to access the <strong>{where}</strong> Slack "
            f"{'organization' if install.org_wide else 'workspace'}. It will be able to:</p><ul>{scopes}</ul>"
            f'<form method="post" action="{AUTHORIZE_PATH}">{hidden}'
            '<button id="cancel" type="submit" name="decision" value="cancel">Cancel</button> '
            '<button id="allow" type="submit" name="decision" value="allow">Allow</button></form>'
        )
        return _page(200, "Install the app", body)

    async def _decide(self, request: web.Request) -> web.Response:
        form = await request.post()
        redirect_uri, state = str(form.get("redirect_uri", "")), str(form.get("state", ""))
        if form.get("decision") != "allow":
            raise web.HTTPFound(f"{redirect_uri}?{urlencode({'error': 'access_denied', 'state': state})}")
        code = f"{next(self._serial)}.{secrets.token_hex(16)}"
        with self._lock:
            chosen = self._next
            serial = next(self._serial)
            install = FakeInstall(
                chosen.team_id,
                chosen.team_name,
                chosen.enterprise_id,
                chosen.enterprise_name,
                chosen.installer,
                bot_token=f"xoxb-{chosen.owner}-{serial}-{secrets.token_hex(12)}",
                bot_user_id=f"UB{chosen.owner}",
                bot_id=f"BB{chosen.owner}",
            )
            self.installs[install.bot_token] = install
            self._codes[code] = (install, redirect_uri, time.time())
        raise web.HTTPFound(f"{redirect_uri}?{urlencode({'code': code, 'state': state})}")


def basic_credentials(request: web.Request, params: dict[str, Any]) -> tuple[str | None, str | None]:
    """The app's client id and secret: HTTP Basic auth (how slack_sdk sends them), else form fields."""
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Basic "):
        try:
            client_id, _, secret = base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")
        except ValueError:
            return None, None
        return client_id, secret
    return params.get("client_id"), params.get("client_secret")


def _page(status: int, title: str, body: str) -> web.Response:
    text = f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title></head><body><h1>{title}</h1>{body}</body></html>'
    return web.Response(status=status, text=text, content_type="text/html")
