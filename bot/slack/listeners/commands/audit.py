"""``/buddy audit [pipeline link]``: the last actions taken from Slack, only to the person who asks.

The same rules as any answer decide which runs they may see: the conversation must be one the bot
answers in (SLACK_CHANNELS), the runs in a workspace it reads (BUDDY_WORKSPACES), and with
READ_AS_ASKER each pipeline one the asker's own Buddy account can read (asked after the
acknowledgement; otherwise the list comes in the acknowledgement itself, from the state store only).
"""

from __future__ import annotations

import logging

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.actions.audit import RECENT, AuditRow, AuditTrail
from bot.answers import Request, Responder
from bot.buddy import errors
from bot.identity.accounts import SlackPerson
from bot.identity.credentials import NotLinked
from bot.identity.vault import VaultLocked
from bot.render.actions import render_audit
from bot.render.notice import render_notice
from bot.slack.app import Services
from bot.slack.effects import SlackEffects
from bot.state.store import StateUnavailable

log = logging.getLogger(__name__)

USAGE = "Usage: `/buddy audit` (this workspace's last actions from Slack) or `/buddy audit <pipeline link>` (that pipeline's)."
READ_MORE = 5  # with READ_AS_ASKER, rows read per row shown: some may be on pipelines the asker cannot read
Pipeline = tuple[str, str, str, int]


class AuditCommands:
    words = frozenset({"audit"})

    def __init__(self, services: Services) -> None:
        self.services = services
        self.trail = AuditTrail(services.state)

    async def ack(self, ack: AsyncAck, command: dict) -> None:
        responder = await self.services.responder_for(command)
        asked = self._asked(command, responder)
        if isinstance(asked, dict):
            await ack(**asked)
        elif responder.settings.read_as_asker:
            await ack(text=":hourglass_flowing_sand: Looking at which of the last actions you may see…")
        else:
            await ack(**await self._list(command, asked, responder))

    async def answer(
        self, command: dict, client: AsyncWebClient, respond: AsyncRespond, *, effects: SlackEffects | None = None
    ) -> None:
        responder = await self.services.responder_for(command)
        asked = self._asked(command, responder)
        if isinstance(asked, dict) or not responder.settings.read_as_asker:
            return  # answered in the acknowledgement
        await respond(response_type="ephemeral", replace_original=False, **await self._list(command, asked, responder))

    def _asked(self, command: dict, responder: Responder) -> tuple[Pipeline | None, str | None] | dict:
        """The pipeline asked about (and how to name it), or the refusal to send instead."""
        channel = command.get("channel_id")
        is_direct = str(channel or "").startswith("D")
        if refused := responder.refusal_in(channel, is_direct=is_direct):
            return render_notice(refused)
        rest = str(command.get("text") or "").strip().split(maxsplit=1)[1:]
        if not rest:
            return None, None
        plan = responder.plan(
            Request(text=rest[0], whole_argument=True, channel=channel, user=command.get("user_id"), is_direct=is_direct)
        )
        if plan.refusal:
            return render_notice(plan.refusal)
        if not plan.refs:
            return render_notice(f"I found no Buddy pipeline in “{rest[0][:200]}”. {USAGE}")
        ref = plan.refs[0]
        return (
            ref.host,
            ref.workspace,
            ref.project,
            ref.pipeline_id,
        ), f"{ref.workspace}/{ref.project} pipeline {ref.pipeline_id}"

    async def _list(self, command: dict, asked: tuple[Pipeline | None, str | None], responder: Responder) -> dict:
        pipeline, label = asked
        person = SlackPerson.of(command)
        as_asker = responder.settings.read_as_asker
        try:
            rows = await self.trail.recent(
                person.team,
                pipeline=pipeline,
                workspaces=responder.settings.buddy_workspaces,
                limit=RECENT * READ_MORE if as_asker else RECENT,
            )
            if as_asker:
                rows = (await self._readable(responder, person, rows))[:RECENT]
        except StateUnavailable:
            return render_notice("I can't read the audit trail right now: my state store is unavailable. Try again in a minute.")
        return render_audit(rows, of=label)

    async def _readable(self, responder: Responder, person: SlackPerson, rows: list[AuditRow]) -> list[AuditRow]:
        """The rows on pipelines the asker's own Buddy account may read (one read per pipeline)."""
        allowed: dict[Pipeline, bool] = {}
        for row in rows:
            key = (row.host, row.workspace, row.project, row.pipeline_id)
            if key not in allowed:
                try:
                    lookup = await responder.reader(person, row.host)
                    await lookup.client.get_pipeline(*key)
                    allowed[key] = True
                except (NotLinked, VaultLocked) as exc:  # not linked on that row's host: its rows are left out
                    log.info("audit row on %s left out: %s", row.host, type(exc).__name__)
                    allowed[key] = False
                except errors.BuddyError as exc:
                    log.info(
                        "audit: %s/%s/%d left out for %s (%s)",
                        row.workspace,
                        row.project,
                        row.pipeline_id,
                        person.user,
                        type(exc).__name__,
                    )
                    allowed[key] = False
        return [row for row in rows if allowed[(row.host, row.workspace, row.project, row.pipeline_id)]]
