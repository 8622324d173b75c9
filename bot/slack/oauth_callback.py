"""Buddy's OAuth sign-in, in the person's browser: ``GET /buddy/oauth/start?state=…`` (the link
``/buddy login`` gives: it leaves the state in a cookie and sends the browser to Buddy) and
``GET /buddy/oauth/callback?code=…&state=…`` (where Buddy sends it back). Each answers a small HTML
page saying what happened and what to do; on success the person is also told in Slack, by DM.
The flow itself is ``bot/identity/oauth.py``."""

from __future__ import annotations

import html
import logging

import aiohttp
from aiohttp import web
from slack_sdk.errors import SlackApiError

from bot.identity.accounts import LinkedAccount
from bot.identity.oauth import CALLBACK_PATH, MAX_CODE_CHARS, MAX_STATE_CHARS, START_PATH, BuddyOAuth, SignInFailed
from bot.identity.vault import NO_KEY, VaultLocked
from bot.render.accounts import render_linked
from bot.slack.app import Services
from bot.slack.clients import NotInstalled
from bot.slack.home_publisher import HomePublisher
from bot.state.store import StateUnavailable

log = logging.getLogger(__name__)

COOKIE = "buddy_oauth_state"
MAX_QUERY_CHARS = 4096
MAX_ERROR_CHARS = 100
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the callback's URL carries the code: no page it links to may see it
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Frame-Options": "DENY",
}


def add_oauth_routes(web_app: web.Application, services: Services) -> None:
    routes = OAuthRoutes(services)
    web_app.router.add_get(START_PATH, routes.confirm)
    web_app.router.add_post(START_PATH, routes.start)
    web_app.router.add_get(CALLBACK_PATH, routes.callback)


class OAuthRoutes:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.oauth = BuddyOAuth(services.settings, services.responder.lookup.client, services.accounts)
        self.secure_cookie = services.settings.public_url.startswith("https://")

    async def confirm(self, request: web.Request) -> web.Response:
        """The link from Slack opens this page first: it names the Slack person the Buddy account will
        be linked to, so that someone who was sent another person's link sees it is not theirs, and
        only a press of its button (a POST, which no link or image can make) goes on to Buddy."""
        refused = self._refused(request)
        if refused is not None:
            return refused
        state = request.query.get("state", "")
        try:
            await self.oauth.authorize_url(state)  # a state begun and not yet used, or the reason
            person = await self.oauth.person_of(state)
            workspace = await self.oauth.workspace_of(state)
        except SignInFailed as exc:
            return page(exc.status, "Not linked", exc.message)
        except (VaultLocked, StateUnavailable) as exc:
            return self._unavailable(exc)
        who = await self._slack_name(person.user, workspace) if person is not None else "someone"
        return confirm_page(
            f"This links your Buddy account to the Slack user {who}, who typed /buddy login. Continue only if "
            f"that is you. If someone sent you this link, close this tab: it would let them act in Buddy as you.",
            state,
        )

    async def start(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        form = await request.post() if request.content_length and request.content_length <= MAX_QUERY_CHARS else {}
        state = str(form.get("state") or "")[:MAX_STATE_CHARS]
        try:
            url = await self.oauth.authorize_url(state)
        except SignInFailed as exc:
            return page(exc.status, "Not linked", exc.message)
        except (VaultLocked, StateUnavailable) as exc:
            return self._unavailable(exc)
        response = web.Response(status=302, headers={**_HEADERS, "Location": url})
        response.set_cookie(
            COOKIE, state, max_age=600, path="/buddy/oauth", httponly=True, samesite="Lax", secure=self.secure_cookie
        )
        return response

    async def callback(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        query = request.query
        if len(query.get("code", "")) > MAX_CODE_CHARS or len(query.get("error", "")) > MAX_ERROR_CHARS:
            return page(
                400, "Not linked", "This address is longer than any Buddy sends. Type /buddy login in Slack to start again."
            )
        try:
            account = await self.oauth.finish(
                query.get("state", ""),
                query.get("code", ""),
                browser_state=request.cookies.get(COOKIE, "")[:MAX_STATE_CHARS],
                error=query.get("error", ""),
            )
        except SignInFailed as exc:
            log.info("a Buddy sign-in linked nothing (%s): %s", exc.status, exc.message)
            return page(exc.status, "Not linked", exc.message)
        except (VaultLocked, StateUnavailable) as exc:
            return self._unavailable(exc)
        except Exception:
            log.exception("a Buddy sign-in failed unexpectedly")
            return page(500, "Not linked", "Something went wrong on my side. Type /buddy login in Slack to try again.")
        slack_name = await self._tell_in_slack(account, query.get("state", ""))
        response = page(
            200,
            "Linked",
            f"The Slack user {slack_name} is now linked to the Buddy user {account.buddy_user_name} on {account.host}. "
            "You can close this tab and go back to Slack. If you did not type /buddy login in Slack yourself, "
            "revoke the bot's access in Buddy now.",
        )
        response.del_cookie(COOKIE, path="/buddy/oauth")
        return response

    def _refused(self, request: web.Request) -> web.Response | None:
        if not self.oauth.enabled:
            return page(
                404,
                "Not set up",
                "Signing in through Buddy is not set up on this bot: type /buddy login in Slack to link a personal access token instead.",
            )
        if len(request.query_string) > MAX_QUERY_CHARS:
            return page(
                400, "Not linked", "This address is longer than any Buddy sends. Type /buddy login in Slack to start again."
            )
        return None

    def _unavailable(self, exc: Exception) -> web.Response:
        if isinstance(exc, VaultLocked):
            return page(503, "Not linked", NO_KEY)
        log.warning("a Buddy sign-in could not reach the state store: %s", exc)
        return page(503, "Not linked", "I can't reach my state store right now. Type /buddy login in Slack again in a minute.")

    async def _slack_name(self, user: str, workspace: str | None) -> str:
        """The person's Slack display name (their id when Slack does not say)."""
        try:
            client = await self.services.clients.for_key(workspace)
            info = await client.users_info(user=user)
        except (NotInstalled, SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            log.info("could not read the Slack name of %s: %s", user, type(exc).__name__)
            return f"<{user}>"
        found = info.get("user") or {}
        profile = found.get("profile") or {}
        return str(profile.get("display_name") or profile.get("real_name") or found.get("name") or f"<{user}>")

    async def _tell_in_slack(self, account: LinkedAccount, state: str) -> str:
        """A DM saying the account is linked, through the installation it was asked in; the person's
        Slack name, for the page. The account is linked whatever happens here."""
        user = account.person.user
        try:
            workspace = await self.oauth.workspace_of(state)
            name = await self._slack_name(user, workspace)
            client = await self.services.clients.for_key(workspace)
            await client.chat_postMessage(channel=user, **render_linked(account))
            await HomePublisher.of(self.services).publish(client, workspace or "", account.person)  # now linked
        except (NotInstalled, StateUnavailable, SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("could not tell %s in Slack that their account is linked: %s", user, type(exc).__name__)
            return f"<{user}>"
        return name


def confirm_page(message: str, state: str) -> web.Response:
    """The page before Buddy's: ``message``, and a button that posts the sign-in on."""
    form = (
        f'<form method=post action="{html.escape(START_PATH)}">'
        f'<input type=hidden name=state value="{html.escape(state, quote=True)}">'
        "<button type=submit>Continue to Buddy</button></form>"
    )
    return page(200, "Link your Buddy account", message, form=form)


def page(status: int, title: str, message: str, *, form: str = "") -> web.Response:
    """A small page for the browser; every text in it escaped (``form``: markup built escaped)."""
    body = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>Buddy bot: {html.escape(title)}</title>"
        "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36em;margin:4em auto;padding:0 1em}</style>"
        f"</head><body><h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>{form}</body></html>"
    )
    return web.Response(status=status, text=body, content_type="text/html", charset="utf-8", headers=_HEADERS)
