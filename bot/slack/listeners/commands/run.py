"""``/buddy run <pipeline link> [branch=…] [revision=…] [KEY=value …] [comment="…"]``.

The ack says "Starting …", or what is wrong with the line, from the line alone (no Buddy call). The
unit of work then reads the pipeline as the asker, asks for a confirmation where the pipeline's name
says production (RUN_CONFIRM_PATTERNS), starts the run once, writes the audit row, and answers the
new run as a pasted link is answered: posted in the channel and followed until it ends. Every
refusal goes to the asker only.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.actions.audit import DONE, REFUSED
from bot.actions.run import Acting, PlannedRun, Runner, RunRefused, confirmation_value, remember_secrets
from bot.actions.run_request import RunRequest, UsageError, format_arguments, parse_run
from bot.answers import Plan
from bot.buddy import errors
from bot.buddy.client import BuddyClient
from bot.explain import explain
from bot.identity.accounts import SlackPerson
from bot.identity.credentials import LinkExpired, NotLinked
from bot.identity.vault import VaultLocked
from bot.render.notice import render_link_prompt, render_notice
from bot.render.run import render_run_confirmation
from bot.slack.app import Services
from bot.slack.delivery import UNREACHABLE, deliver, slack_error
from bot.slack.effects import SlackEffects
from bot.slack.intake import COMMAND
from bot.slack.listeners.actions.bot_token import BotTokenPeople
from bot.state.store import StateUnavailable
from bot.work.queue import Unit

log = logging.getLogger(__name__)

# What a private note is sent with: the command's response_url, or a click's.
Tell = Callable[[dict], Awaitable[None]]
BUTTON_VALUE_LIMIT = 2000  # Slack's limit on a button's value
STORE_DOWN = "I cannot read linked accounts right now (my state store is unavailable). Try again in a minute."
UNEXPECTED_FAILURE = (
    "Something went wrong on my side while starting this run. Look at the pipeline in Buddy before trying again "
    "(the run may have started); if it keeps happening, tell the bot's operator (the details are in the bot's log)."
)


def link_reason(exc: NotLinked) -> str:
    if isinstance(exc, LinkExpired):
        return f"Your Buddy sign-in on {exc.host} has expired or was revoked. Link your account again, then run it again."
    return (
        f"I start runs as the person who asks, so Buddy decides what you may run, and you have no Buddy account "
        f"linked on {exc.host}. Link yours, then run it again."
    )


class RunFlow:
    """What a ``/buddy run`` and the click confirming one share: from the request to the new run's answer."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.runner = self._runner(services.responder.lookup.client)
        self.bot_token_people = BotTokenPeople(services.settings)

    def _runner(self, client: BuddyClient) -> Runner:
        services = self.services
        return Runner(client, services.settings, services.identity, services.work, services.state)

    async def request(self, args: str, channel: str | None, body: dict) -> tuple[RunRequest | None, str | None]:
        """The request in ``args``, or what to tell the person instead (usage, or where they may not run),
        by the settings of the workspace ``body`` came from."""
        responder = await self.services.responder_for(body)
        is_direct = str(channel or "").startswith("D")
        if refused := responder.refusal_in(channel, is_direct=is_direct):
            return None, refused
        try:
            request = parse_run(args, hosts=responder.settings.buddy_hosts)
        except UsageError as exc:
            return None, str(exc)
        if not responder.lookup.workspace_allowed(request.pipeline):
            return None, Plan(refused_workspaces=[request.pipeline.workspace]).refusal
        remember_secrets(request, self.services.settings.secret_key_regex)
        return request, None

    async def run(
        self,
        request: RunRequest,
        body: dict,
        *,
        client: AsyncWebClient,
        tell: Tell,
        unit: Unit,
        channel: str,
        response_url: str | None,
        confirmed: bool,
    ) -> None:
        person = SlackPerson.of(body)
        responder = await self.services.responder_for(body)
        # The workspace's own client: its token is "the bot's" for ACT_WITH_BOT_TOKEN_FOR.
        runner = self.runner if responder is self.services.responder else self._runner(responder.lookup.client)
        acting: Acting | None = None
        try:
            with_bot_token = await self.bot_token_people.includes(client, person.user)
            acting = await runner.acting(person, request.pipeline.host, with_bot_token=with_bot_token)
            planned, acting = await runner.plan(request, acting)
            if not confirmed and runner.needs_confirmation(planned):
                await self._ask(planned, person, unit, tell)
                return
            started = await runner.start(planned, acting, unit=unit, asked_by=await self._name(client, body))
        except NotLinked as exc:
            await runner.record(unit, acting, person, request, result=REFUSED, detail=type(exc).__name__)
            await tell(render_link_prompt(exc.host, link_reason(exc)))
            return
        except VaultLocked as exc:
            await tell(render_notice(str(exc)))
            return
        except StateUnavailable:
            await tell(render_notice(STORE_DOWN))
            return
        except errors.BuddyError as exc:  # an OAuth token that ran out, and Buddy could not be asked for a new one
            await tell(render_notice(explain(exc, request.pipeline), link=request.pipeline.web_url))
            return
        except RunRefused as exc:
            await runner.record(unit, acting, person, request, result=exc.result, detail=exc.message)
            await tell(render_notice(exc.message, link=request.pipeline.web_url))
            return
        await runner.record(unit, acting, person, request, result=DONE, started=started)
        run = replace(request.pipeline, execution_id=None if started.execution_id is None else str(started.execution_id))
        user = person.user or None
        answer = await responder.answer(run, requested_by=user, person=person)
        if answer.private:  # READ_AS_ASKER, and the new run may not be read for them
            await tell(answer.message)
            return
        if answer.failed:
            started_at = started.html_url or request.pipeline.web_url
            await tell(
                render_notice(f"The run of {request.label} started, but I could not read it to show it here.", link=started_at)
            )
            return
        effects = SlackEffects(client, self.services.work, unit)
        try:
            await deliver(
                client,
                answer,
                channel=channel,
                response_url=response_url,
                user=user,
                watcher=self.services.watcher,
                effects=effects,
                name="run",
            )
        except SlackApiError as exc:
            error = slack_error(exc)
            log.warning("started %s but could not post its answer: %s", run.web_url, error)
            hint = "Invite me with `/invite @buddy` to see runs here." if error in UNREACHABLE else "Try again in a minute."
            await tell(render_notice(f"The run started, but I could not post it here ({error}). {hint}", link=started.html_url))

    async def _ask(self, planned: PlannedRun, person: SlackPerson, unit: Unit, tell: Tell) -> None:
        value = confirmation_value(format_arguments(planned.request), person, unit.id)
        if len(value) > BUTTON_VALUE_LIMIT:
            await tell(
                render_notice(
                    f"{planned.pipeline_name} asks for a confirmation, and this request is too long to carry in its "
                    f"button ({len(value):,} characters, at most {BUTTON_VALUE_LIMIT:,}). Pass fewer or shorter "
                    "variables, or run it from Buddy.",
                    link=planned.request.pipeline.web_url,
                )
            )
            return
        await tell(render_run_confirmation(planned, value, secret_key_regex=self.services.settings.secret_key_regex))

    async def _name(self, client: AsyncWebClient, body: dict) -> str:
        """The person's Slack name for the run's comment (Buddy shows no Slack mention)."""
        user = body.get("user_id") or (body.get("user") or {}).get("id") or ""
        fallback = str(body.get("user_name") or (body.get("user") or {}).get("username") or "a Slack user")
        try:
            info = (await client.users_info(user=user))["user"]
        except SlackApiError as exc:
            log.info("users.info for %s failed (%s); named by the request", user, slack_error(exc))
            return fallback
        profile = info.get("profile") or {}
        return str(profile.get("display_name") or profile.get("real_name") or info.get("name") or fallback)


class RunCommands:
    words = frozenset({"run"})

    def __init__(self, services: Services) -> None:
        self.services = services
        self.flow = RunFlow(services)

    async def ack(self, ack: AsyncAck, command: dict) -> None:
        request, refusal = await self.flow.request(_arguments(command), command.get("channel_id"), command)
        if request is None:
            await ack(**render_notice(refusal or ""))
            return
        await ack(text=f":rocket: Starting {request.label}…")

    async def answer(
        self, command: dict, client: AsyncWebClient, respond: AsyncRespond, *, effects: SlackEffects | None = None
    ) -> None:
        request, _ = await self.flow.request(_arguments(command), command.get("channel_id"), command)
        if request is None:
            return  # told in the ack
        unit = effects.unit if effects is not None else unrecorded(command)

        async def tell(message: dict) -> None:
            await respond(response_type="ephemeral", **message)

        try:
            await self.flow.run(
                request,
                command,
                client=client,
                tell=tell,
                unit=unit,
                channel=command.get("channel_id", ""),
                response_url=command.get("response_url"),
                confirmed=False,
            )
        except Exception:
            # A fault nobody foresaw (or a bug): the person still hears back; the operator gets the traceback.
            log.exception("running %s failed unexpectedly", request.pipeline.web_url)
            await tell(render_notice(UNEXPECTED_FAILURE, link=request.pipeline.web_url))


def _arguments(command: dict) -> str:
    """The text after ``run``."""
    parts = str(command.get("text") or "").strip().split(maxsplit=1)
    return parts[1] if len(parts) > 1 else ""


def unrecorded(body: dict) -> Unit:
    """A unit held in memory only, for a request that came without one (the POST is then not looked
    for after a crash: there is no record to take over)."""
    return Unit(uuid.uuid4().hex, COMMAND, "", body, attempts=1, started_at=time.time(), degraded=True)
