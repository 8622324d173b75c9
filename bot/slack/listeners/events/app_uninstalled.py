"""``app_uninstalled``, and ``tokens_revoked`` for the bot token: a workspace (or an org, installed
org-wide) the app left. Everything kept for it goes: its installation and tokens, its subscriptions,
watches and linked Buddy accounts (``bot.slack.install.forget_workspace``), and its Home tabs' rows.
A ``tokens_revoked`` for people's user tokens only removes those.

Installed through OAuth only: with one SLACK_BOT_TOKEN nothing is kept per workspace. Bolt's own
token revocation listeners are not used: they delete an org-wide installation under the event's team
id, which it was not saved under. Each event is a unit of work accepted before the acknowledgement
(a listener middleware), so a crash mid-way is taken over, and Slack's retry is not done twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse

from bot.home.records import forget_team
from bot.slack.app import Services
from bot.slack.clients import Workspace
from bot.slack.install import forget_workspace
from bot.work.queue import Unit

log = logging.getLogger(__name__)

UNINSTALL = "uninstall"
EVENTS = ("app_uninstalled", "tokens_revoked")


def register(app: AsyncApp, services: Services) -> None:
    installer = services.installer
    if installer is None:
        return

    async def accept(body: dict, context: dict, next: Callable[[], Awaitable[BoltResponse]]) -> BoltResponse | None:
        event = body.get("event") or {}
        key = f"{event.get('type')}:{body.get('event_id') or event.get('event_ts')}"
        unit = await services.work.accept(UNINSTALL, key, {k: v for k, v in body.items() if k != "token"})
        if unit is None:
            log.info("%s is a redelivery of an event already taken; not handled again", key)
            return BoltResponse(status=200, body="")
        context["unit"] = unit
        return await next()

    async def handle(context: dict) -> None:
        unit = context.get("unit")
        if unit is not None:
            await services.work.run(unit)

    for event_type in EVENTS:
        app.event(event_type, middleware=[accept])(handle)

    async def forget(unit: Unit) -> None:
        body = unit.payload
        event = body.get("event") or {}
        workspace = Workspace.of(body)
        if workspace is None:
            log.warning("%s names no workspace; nothing forgotten", event.get("type"))
            return
        tokens = event.get("tokens") or {}
        if event.get("type") == "tokens_revoked" and not tokens.get("bot"):
            for user in tokens.get("oauth") or []:  # people's own tokens: the bot stays
                await installer.store.async_delete_installation(
                    enterprise_id=workspace.enterprise_id, team_id=workspace.team_id, user_id=user
                )
            return
        await forget_workspace(installer, services.clients, services.state, workspace)
        await forget_team(services.state, workspace.key)  # its Home tabs' runs and viewers

    services.work.register(UNINSTALL, forget)
