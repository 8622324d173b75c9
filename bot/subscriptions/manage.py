"""``/buddy subscribe | unsubscribe | subscriptions``: reading the arguments, the access rules, and
the replies (Slack-free: the listener posts what comes back, ephemerally)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from bot.buddy import errors
from bot.buddy.client import BuddyClient
from bot.buddy.refs import find_project_references, find_references
from bot.config import Settings
from bot.explain import explain
from bot.subscriptions.buddy_api import WEBHOOK_EVENTS, WebhookSetup, ensure_webhook, pipelines_of
from bot.subscriptions.store import Mode, Subscription, SubscriptionStore, Target
from bot.subscriptions.webhook import webhook_path

log = logging.getLogger(__name__)

SUBSCRIBE_USAGE = (
    "`/buddy subscribe <pipeline or project link> [failures | changes | all] [branch=<name>]`; "
    "`/buddy unsubscribe <the same link> [branch=<name>]`; `/buddy subscriptions` lists this channel's."
)
MODE_MEANING = {
    Mode.FAILURES: "a message when a run fails",
    Mode.CHANGES: "a message when it starts failing, and when it is back to green",
    Mode.ALL: "a message for every run, updated when it ends",
}
MAX_BRANCH_CHARS = 255
# A Slack link (<url|label>, whose label may hold spaces) is one word; so is any run of non-spaces.
_WORD = re.compile(r"<[^<>]*>|\S+")


class ArgumentError(Exception):
    """What the person typed cannot be a subscription; the message says what to type instead."""


@dataclass(frozen=True)
class Arguments:
    target: Target
    mode: Mode
    branch: str | None


def parse_arguments(text: str, *, hosts: tuple[str, ...] = ()) -> Arguments:
    """``<link> [mode] [branch=<name>]``; a run or action link stands for its pipeline."""
    words = _WORD.findall(text)
    if not words:
        raise ArgumentError(f"Which pipeline? {SUBSCRIBE_USAGE}")
    target = _target(words[0], hosts)
    if target is None:
        raise ArgumentError(f"“{words[0][:200]}” is not a link to a Buddy pipeline or project. {SUBSCRIBE_USAGE}")
    mode, branch = Mode.FAILURES, None
    for word in words[1:]:
        if word.lower() in set(Mode):
            mode = Mode(word.lower())
        elif word.lower().startswith("branch=") and 0 < len(word) - 7 <= MAX_BRANCH_CHARS:
            branch = word[7:]
        else:
            raise ArgumentError(f"I don't understand “{word[:100]}”. {SUBSCRIBE_USAGE}")
    return Arguments(target, mode, branch)


def _target(word: str, hosts: tuple[str, ...]) -> Target | None:
    runs = find_references(word, hosts=hosts, limit=1).refs
    if runs:
        ref = runs[0]
        return Target(ref.host, ref.workspace, ref.project, ref.pipeline_id)
    projects = find_project_references(word, hosts=hosts)
    if projects:
        return Target(projects[0].host, projects[0].workspace, projects[0].project)
    return None


def describe(subscription: Subscription) -> str:
    branch = f" on branch {subscription.branch}" if subscription.branch else ""
    return f"{subscription.target.label}{branch}"


class SubscriptionManager:
    def __init__(self, store: SubscriptionStore, client: BuddyClient, settings: Settings) -> None:
        self.store = store
        self.client = client
        self.settings = settings

    def refusal(self, arguments: Arguments) -> str | None:
        """The workspace restriction: only what the bot may read can be followed."""
        allowed = {w.lower() for w in self.settings.buddy_workspaces}
        workspace = arguments.target.workspace
        if allowed and workspace.lower() not in allowed:
            return f"I'm not allowed to read the Buddy workspace {workspace}. Ask the bot's operator (BUDDY_WORKSPACES) or a workspace admin (Settings, on my Home tab)."
        return None

    async def subscribe(
        self,
        channel: str,
        user: str | None,
        arguments: Arguments,
        *,
        as_person: BuddyClient | None = None,
        team: str | None = None,
    ) -> str:
        """Checks that Buddy lets the bot read the target (and the person, with ``as_person``: their
        own token, READ_AS_ASKER), saves the subscription, and says how runs will arrive (the
        webhook, polling, or what is missing). The reply may hold the webhook's secret address: it
        is for the person only."""
        target = arguments.target
        try:
            if as_person is not None:
                await self._check_readable(target, as_person)
            await self._check_readable(target, self.client)
        except errors.BuddyError as exc:
            log.info("subscription to %s refused by Buddy: %s", target.web_url, type(exc).__name__)
            return f"I can't follow {target.label}: {explain(exc)}"
        subscription, before = await self.store.subscribe(
            channel, target, branch=arguments.branch, mode=arguments.mode, user=user, team=team
        )
        changed = f" (it was “{before.value}”)" if before is not None and before is not subscription.mode else ""
        lines = [
            f"This channel follows {describe(subscription)} in “{subscription.mode.value}” mode{changed}: "
            f"{MODE_MEANING[subscription.mode]}. Runs that ended before now are not announced."
        ]
        lines += await self._delivery_notes(target)
        return "\n".join(lines)

    async def unsubscribe(self, channel: str, arguments: Arguments) -> str:
        removed = await self.store.unsubscribe(channel, arguments.target, branch=arguments.branch)
        if not removed:
            return f"This channel doesn't follow {arguments.target.label}. `/buddy subscriptions` lists what it follows."
        return "This channel no longer follows " + "; ".join(describe(s) for s in removed) + "."

    async def _check_readable(self, target: Target, client: BuddyClient) -> None:
        for pipeline in (await pipelines_of(client, target))[:1]:
            await client.list_executions(pipeline.host, pipeline.workspace, pipeline.project, pipeline.pipeline_id, per_page=1)

    async def _delivery_notes(self, target: Target) -> list[str]:
        settings = self.settings
        polling = settings.subscription_poll_seconds
        notes = []
        if settings.buddy_webhook_token:
            notes.append(await self._webhook_note(target))
        if polling > 0:
            notes.append(f"I also check it every {polling:g} s, so a run is announced even if a webhook delivery is lost.")
        elif not settings.buddy_webhook_token:
            notes.append(
                ":warning: Nothing will be announced yet: this bot neither receives Buddy webhooks nor polls. "
                "Ask its operator to set BUDDY_WEBHOOK_TOKEN and PUBLIC_URL, or SUBSCRIPTION_POLL_SECONDS."
            )
        return notes

    async def _webhook_note(self, target: Target) -> str:
        settings = self.settings
        path = webhook_path(settings.buddy_webhook_token)
        if not settings.public_url:
            return (
                f"For instant updates, add a webhook in Buddy (workspace {target.workspace} → Integrations → Webhook) "
                f"with the URL `<the bot's public address>{path}`, the events {_events()} and the project "
                f"{target.project}. (With PUBLIC_URL set, I tell the exact address or set it up myself.)"
            )
        url = settings.public_url + path
        try:
            setup = await ensure_webhook(self.client, target, url)
        except errors.BuddyError as exc:
            log.info("webhook for %s/%s not set up: %s", target.workspace, target.project, type(exc).__name__)
            return (
                f"For instant updates, add a webhook in Buddy (workspace {target.workspace} → Integrations → Webhook; "
                f"only admins can) with the URL `{url}`, the events {_events()} and the project {target.project}. "
                f"I could not add it myself: the Buddy token needs the scopes WEBHOOK_INFO, WEBHOOK_ADD and "
                f"WEBHOOK_MANAGE for that. Keep this address to yourself: it is the webhook's password."
            )
        said = {
            WebhookSetup.PRESENT: "Buddy already sends me this project's runs (webhook).",
            WebhookSetup.CREATED: f"I added a webhook in Buddy's workspace {target.workspace}, so its runs reach me at once.",
            WebhookSetup.EXTENDED: f"I added {target.project} to my webhook in Buddy, so its runs reach me at once.",
        }
        return said[setup]


def _events() -> str:
    return " and ".join(f"`{event}`" for event in WEBHOOK_EVENTS)
