"""The Remove button of ``/buddy subscriptions``: removes one subscription and redraws the list."""

from __future__ import annotations

from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.render.subscriptions import render_subscription_list
from bot.slack.app import Services
from bot.slack.effects import SlackEffects
from bot.slack.home_publisher import HomePublisher, request_team
from bot.subscriptions.manage import describe
from bot.subscriptions.store import SubscriptionStore


class RemoveSubscription:
    def __init__(self, services: Services) -> None:
        self.store = SubscriptionStore(services.state)
        self.services = services

    async def answer(
        self, body: dict, client: AsyncWebClient, respond: AsyncRespond, effects: SlackEffects | None = None
    ) -> None:
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or ""
        value = ((body.get("actions") or [{}])[0]).get("value", "")
        # Only the channel the button was clicked in: a forged value cannot reach another channel's list.
        removed = await self.store.remove(channel, int(value)) if value.isdigit() else None
        note = f"Removed: {describe(removed)}." if removed else "That subscription was already removed."
        if removed:
            await HomePublisher.of(self.services).subscriptions_changed(request_team(self.services, body))
        await respond(replace_original=True, **render_subscription_list(await self.store.for_channel(channel), note=note))
