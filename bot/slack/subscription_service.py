"""Channel subscriptions, wired: push (the webhook receiver) and pull (the poller) feed one router,
whose deliveries the publisher posts. Built and started by the runner, beside the Bolt app."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging

from aiohttp import web

from bot.buddy import errors
from bot.buddy.client import BuddyClient
from bot.identity.accounts import SlackPerson
from bot.identity.credentials import NotLinked
from bot.identity.vault import VaultLocked
from bot.slack.app import Services
from bot.slack.clients import SlackClients, Workspace
from bot.slack.subscription_publisher import ANNOUNCE, ANNOUNCEMENT, SubscriptionPublisher, announcement_style
from bot.slack.watch_publisher import SlackWatchPublisher
from bot.state.schedules import Schedules
from bot.subscriptions.events import RunEvent
from bot.subscriptions.poller import BOT_CREDENTIAL, Poller
from bot.subscriptions.router import Router
from bot.subscriptions.store import Followed, SubscriptionStore
from bot.subscriptions.webhook import WEBHOOK, WEBHOOK_ROUTE, WebhookReceiver

log = logging.getLogger(__name__)

SHUTDOWN_DRAIN_S = 5.0


class SubscriptionService:
    def __init__(self, services: Services, slack: SlackClients, buddy: BuddyClient) -> None:
        settings = services.settings
        self.store = SubscriptionStore(services.state)
        self.router = Router(self.store)
        watcher = services.watcher
        if watcher is not None and isinstance(watcher.publisher, SlackWatchPublisher):
            watcher.publisher.styles[ANNOUNCEMENT] = announcement_style(services.responder)
        self.work = services.work
        schedules = Schedules(services.state, services.work.owner)
        self.publisher = SubscriptionPublisher(
            slack,
            self.store,
            services.responder,
            pacing_s=settings.slack_channel_pacing_s,
            watcher=watcher,
            work=self.work,
            schedules=schedules,
            responder_of=services.responder_of,
        )
        self.work.register(ANNOUNCE, self.publisher.publish_unit)
        hosts = settings.buddy_hosts
        self.receiver = WebhookReceiver(settings, self.accept, self.work) if settings.buddy_webhook_token else None
        if self.receiver is not None:
            self.work.register(WEBHOOK, self.receiver.handle_unit)
        interval = settings.subscription_poll_seconds
        self.services, self.buddy = services, buddy
        self.poller = (
            Poller(
                buddy, self.store, self.accept, interval=interval, hosts=hosts, schedules=schedules, credential=self.credential
            )
            if interval > 0
            else None
        )
        self._polling: asyncio.Task | None = None

    async def credential(self, followed: Followed) -> tuple[str, BuddyClient] | None:
        """Whose Buddy credential polls what ``followed`` names: its Slack installation's own token, or
        with people's linked accounts only, the subscriber's; else the operator's (BUDDY_TOKEN)."""
        responder = await self.services.responder_of(followed.team)
        host = followed.target.host
        if responder is self.services.responder:
            return BOT_CREDENTIAL, self.buddy
        token = responder.settings.token_for(host)
        if token == self.services.settings.token_for(host):
            return BOT_CREDENTIAL, self.buddy  # the same credential: polled once for every installation using it
        if token:
            return _credential_name(token), responder.lookup.client
        workspace = Workspace.from_key(followed.team)
        if workspace is None or not followed.subscriber:
            return None
        try:
            account = await self.services.identity.usable(SlackPerson(workspace.person_team, followed.subscriber), host)
        except (NotLinked, VaultLocked, errors.BuddyError) as exc:
            log.info("not polling %s for %s: %s", followed.target.label, followed.subscriber, type(exc).__name__)
            return None
        return _credential_name(account.token), responder.lookup.client.with_token(account.token)

    async def accept(self, event: RunEvent) -> None:
        """The one way out, whichever way a run came in. Each delivery is a unit of work keyed by
        channel, run and stage: push and pull, or two replicas, reporting the same run make one."""
        for delivery in await self.router.route(event):
            unit = await self.work.accept(ANNOUNCE, delivery.key, delivery.to_payload())
            if unit is not None:
                self.publisher.submit(unit)

    def add_routes(self, web_app: web.Application) -> None:
        if self.receiver is not None:
            self.receiver.add_routes(web_app)
            log.info("receiving Buddy webhooks at %s", WEBHOOK_ROUTE.format(token="<BUDDY_WEBHOOK_TOKEN>"))

    def start(self) -> None:
        if self.poller is not None:
            self._polling = asyncio.create_task(self.poller.run(), name="subscription-poller")
            log.info("polling subscribed pipelines every %g s", self.poller.interval)

    async def close(self) -> None:
        if self._polling is not None:
            self._polling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._polling
        if self.receiver is not None:
            await self.receiver.close()
        # What is already queued gets a moment to reach Slack; anything left is caught up after the restart.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.publisher.idle(), SHUTDOWN_DRAIN_S)
        await self.publisher.close()


def _credential_name(token: str) -> str:
    """A name for a credential that says nothing of it (schedules are shared, and logged)."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]
