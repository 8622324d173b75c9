"""From what a person typed to the messages the bot should post: the core behind every Slack listener.

Listeners hand the text over and post what comes back; nothing here knows about Slack's API.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from bot.buddy import errors
from bot.buddy.refs import BuddyRef, FoundReferences, RefKind, find_references
from bot.config import Settings
from bot.explain import explain
from bot.identity.accounts import SlackPerson
from bot.identity.credentials import Identity, LinkExpired, NotLinked
from bot.lookup import Lookup
from bot.render.logtail import inline_log_block, render_log_tail_and_title
from bot.render.notice import render_link_prompt, render_notice
from bot.render.summary import render_summary
from bot.report import RunReport
from bot.state.store import StateUnavailable

log = logging.getLogger(__name__)

USAGE = (
    "Give me a Buddy run link, for example `/buddy https://app.buddy.works/acme/web/pipelines/pipeline/7/execution/…`, "
    "or the ids: `/buddy <workspace> <project> <pipeline_id> <execution_id> [<action_execution_id>]`. "
    "`/buddy help` shows everything I can do."
)

UNEXPECTED_FAILURE = (
    "Something went wrong on my side while looking this run up. Try again; if it keeps happening, tell the "
    "bot's operator (the details are in the bot's log)."
)


def link_reason(exc: NotLinked) -> str:
    if isinstance(exc, LinkExpired):
        return f"Your Buddy sign-in on {exc.host} has expired or was revoked. Link your account again to read runs here."
    return (
        f"This bot reads Buddy as the person who asks, and you have no Buddy account linked on {exc.host}. "
        "Link yours (it takes a minute), then ask again."
    )


@dataclass
class Answer:
    """One reference answered: a summary message, and the log tail for the thread (may be empty)."""

    ref: BuddyRef
    message: dict
    report: RunReport | None = None
    snippet: str = ""
    snippet_title: str = ""
    failed: bool = False
    requested_by: str | None = None  # the Slack user named in the summary's footer
    private: bool = False  # for the asker's eyes only (a link prompt): never posted in the channel
    reader: SlackPerson | None = None  # READ_AS_ASKER: whose token read it (a followed run goes on so)

    @property
    def snippet_filename(self) -> str:
        action = self.ref.action_execution_id or self.ref.execution_id or "latest"
        return f"buddy-{self.ref.project}-{self.ref.pipeline_id}-{action}.log"

    def inline_log_blocks(self) -> list[dict]:
        """The log tail as message blocks, for where a snippet cannot go (response_url, failed upload)."""
        return inline_log_block(self.snippet) if self.snippet else []


@dataclass
class Request:
    """What the core needs to know about who asked, and where."""

    text: str
    whole_argument: bool
    channel: str | None = None
    user: str | None = None
    is_direct: bool = False
    person: SlackPerson | None = None  # who asked, to read as (READ_AS_ASKER); None for a bot's message


@dataclass
class Plan:
    """The references found in a request, and why any were set aside."""

    refs: list[BuddyRef] = field(default_factory=list)
    skipped: int = 0
    refused_workspaces: list[str] = field(default_factory=list)
    channel_refused: bool = False
    unavailable: str | None = None  # why nothing can be answered now (bot.tenancy: settings unreadable)

    @property
    def refusal(self) -> str | None:
        if self.unavailable:
            return self.unavailable
        if self.channel_refused:
            return "I'm not set up to answer in this conversation. Ask the bot's operator to add it to SLACK_CHANNELS, or a workspace admin to allow it (Settings, on my Home tab)."
        if self.refused_workspaces and not self.refs:
            names = ", ".join(sorted(set(self.refused_workspaces)))
            return f"I'm not allowed to read the Buddy workspace {names}. Ask the bot's operator (BUDDY_WORKSPACES) or a workspace admin (Settings, on my Home tab)."
        return None


class Responder:
    def __init__(
        self, lookup: Lookup, settings: Settings, *, identity: Identity | None = None, unavailable: str | None = None
    ) -> None:
        self.lookup = lookup
        self.settings = settings
        self.identity = identity
        # Set for a workspace whose own settings cannot be read now: everything is refused with it.
        self.unavailable = unavailable

    async def reader(self, person: SlackPerson | None, host: str) -> Lookup:
        """The lookup a read for ``person`` goes through: with READ_AS_ASKER the person's own
        (NotLinked if they have no usable account on ``host``); otherwise, and for reads nobody
        asked for (announcements), the shared one, with the bot's token."""
        if self.unavailable:
            raise StateUnavailable(self.unavailable)
        if not self.settings.read_as_asker or person is None:
            return self.lookup
        if self.identity is None:
            raise NotLinked(host)
        return self.lookup.as_person((await self.identity.usable(person, host)).token)

    async def report(self, ref: BuddyRef, *, person: SlackPerson | None = None, fresh: bool = False) -> RunReport:
        """The run, read as ``reader`` says; a person's token that Buddy refuses (401) is refreshed
        once and the read tried again (LinkExpired when it cannot be: they link again)."""
        lookup = await self.reader(person, ref.host)
        try:
            return await lookup.report(ref, fresh=fresh)
        except errors.Unauthorized:
            if lookup is self.lookup or person is None or self.identity is None:
                raise
            account = await self.identity.refused(person, ref.host, lookup.client.token)
            return await self.lookup.as_person(account.token).report(ref, fresh=fresh)

    def refusal_in(self, channel: str | None, *, is_direct: bool = False) -> str | None:
        """Why nothing is answered in this conversation (None: something may be)."""
        if self.unavailable:
            return self.unavailable
        return None if self.channel_allowed(channel, is_direct=is_direct) else Plan(channel_refused=True).refusal

    def channel_allowed(self, channel: str | None, *, is_direct: bool = False) -> bool:
        if self.unavailable:
            return False
        allowed = self.settings.slack_channels
        if not allowed:
            return True
        if is_direct and "dm" in {c.lower() for c in allowed}:
            return True
        return channel in allowed

    def plan(self, request: Request, *, runs_only: bool = False, anywhere: bool = False) -> Plan:
        """Which references to answer. ``runs_only`` drops pipeline links (for links merely pasted in chat);
        ``anywhere``: asked outside any conversation (the Home tab), so no channel rule applies."""
        if self.unavailable:
            return Plan(unavailable=self.unavailable)
        if not anywhere and not self.channel_allowed(request.channel, is_direct=request.is_direct):
            return Plan(channel_refused=True)
        found: FoundReferences = find_references(
            request.text,
            hosts=self.settings.buddy_hosts,
            whole_argument=request.whole_argument,
            default_host=self.settings.buddy_default_host,
        )
        refs = [r for r in found.refs if not runs_only or r.kind is not RefKind.PIPELINE]
        plan = Plan(skipped=found.skipped)
        for ref in refs:
            if self.lookup.workspace_allowed(ref):
                plan.refs.append(ref)
            else:
                plan.refused_workspaces.append(ref.workspace)
        return plan

    async def answer(
        self, ref: BuddyRef, *, requested_by: str | None = None, fresh: bool = False, person: SlackPerson | None = None
    ) -> Answer:
        """Looks the reference up (as ``person``, with READ_AS_ASKER); a Buddy failure becomes a
        message that says what to do, never an exception."""
        try:
            report = await self.report(ref, person=person, fresh=fresh)
            answer = self.summary(report, requested_by=requested_by)
            answer.reader = person if self.settings.read_as_asker else None
            return answer
        except NotLinked as exc:
            return Answer(ref=ref, message=render_link_prompt(exc.host, link_reason(exc)), failed=True, private=True)
        except errors.BuddyError as exc:
            log.info("lookup of %s failed: %s", ref.web_url, type(exc).__name__)
            return Answer(ref=ref, message=render_notice(explain(exc, ref), link=ref.web_url), failed=True)
        except Exception:
            # A fault nobody foresaw (or a bug): the person still hears back; the operator gets the traceback.
            log.exception("answering %s failed unexpectedly", ref.web_url)
            return Answer(ref=ref, message=render_notice(UNEXPECTED_FAILURE, link=ref.web_url), failed=True)

    def summary(self, report: RunReport, *, requested_by: str | None = None) -> Answer:
        """The answer for a report already fetched (live updates and Refresh render this way too)."""
        message = render_summary(
            report, secret_key_regex=self.settings.secret_key_regex, requested_by=requested_by, interactive=True
        )
        snippet, snippet_title = render_log_tail_and_title(report, secret_key_regex=self.settings.secret_key_regex)
        return Answer(
            ref=report.ref,
            message=message,
            report=report,
            snippet=snippet,
            snippet_title=snippet_title,
            requested_by=requested_by,
        )

    def skipped_note(self, plan: Plan) -> str | None:
        if not plan.skipped:
            return None
        return f"{plan.skipped} more link(s) skipped: I answer at most {len(plan.refs)} per message."
