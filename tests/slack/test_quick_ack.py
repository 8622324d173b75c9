"""Commands acknowledged ahead of Bolt (``bot.slack.quick_ack``), on both engines: the listener's own
acknowledgement, the unit recorded before it and run after it, once per trigger_id; and everything out
of the ordinary left to Bolt with nothing recorded, so that Bolt's own path still answers it."""

from __future__ import annotations

import asyncio

from cryptography.fernet import Fernet
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import func, select

from bot.identity.vault import Vault
from bot.ops.metrics import Metrics
from bot.slack.clients import SlackClients
from bot.slack.intake import COMMAND, Intake, open_typed
from bot.slack.quick_ack import FORM, QuickAcks
from bot.state.store import StateUnavailable
from bot.state.tables import work_units
from bot.work.queue import Unit, WorkQueue
from tests.fakes.signing import JSON, event_callback_body, signed_headers, slash_command_body
from tests.ops.test_metrics_middleware import value

SECRET = "signing-secret-for-quick-acks"
KEY = Fernet.generate_key().decode()


class Lookups:
    """A listener like ``/buddy``'s: a lookup acknowledges alone, ``account`` does not."""

    def __init__(self) -> None:
        self.acked: list[str] = []
        self.fail_with: Exception | None = None

    def acknowledges_alone(self, command: dict) -> bool:
        return not command.get("text", "").startswith("account")

    async def ack(self, ack: AsyncAck, command: dict) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.acked.append(command["text"])
        await ack(text=f":mag: Looking up {command['text']}…")


def quick_acks(state) -> tuple[QuickAcks, Lookups, list[Unit], WorkQueue]:
    work = WorkQueue(state, owner="quick")
    ran: list[Unit] = []

    async def run(unit: Unit) -> None:
        ran.append(unit)

    work.register(COMMAND, run)
    clients = SlackClients(AsyncWebClient(token="xoxb-quick"))
    quick = QuickAcks(SECRET, Intake(work, Vault(KEY), reply_to_links=False), clients)
    quick.metrics = Metrics()
    listener = Lookups()
    quick.command("/buddy", listener)
    return quick, listener, ran, work


def signed(body: str, content_type: str = FORM, secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    return body.encode(), {"Content-Type": content_type, **signed_headers(secret, body)}


async def units(state) -> int:
    async with state.begin() as db:
        return int((await db.execute(select(func.count()).select_from(work_units))).scalar_one())


async def settle() -> None:
    """Until every unit the work queue started has run."""
    running = [task for task in asyncio.all_tasks() if task.get_name().startswith("unit-")]
    await asyncio.wait_for(asyncio.gather(*running), 5)


async def test_a_lookup_is_acknowledged_by_its_listener_and_run_once_as_a_unit(state):
    quick, listener, ran, _ = quick_acks(state)
    body, headers = signed(slash_command_body("https://app.buddy.works/ws/p/pipelines/pipeline/1/execution/2"))
    response = await quick.respond(body, headers)
    assert response is not None and response.status == 200
    assert response.body.startswith(":mag: Looking up https://app.buddy.works/ws/p")
    await settle()
    assert len(ran) == 1 and ran[0].kind == COMMAND
    # Kept at rest as Bolt's path keeps it: the text sealed, Slack's verification token dropped.
    assert "token" not in ran[0].payload and ran[0].payload["text"] == ""
    assert open_typed(ran[0].payload, Vault(KEY))["text"].endswith("/execution/2")
    assert await units(state) == 1
    assert value(quick.metrics, "buddy_bot_slack_requests_total", kind="command", outcome="2xx") == 1.0  # type: ignore[arg-type]

    again = await quick.respond(body, headers)  # the same body (a replay, a proxy's retry)
    assert again is not None and again.status == 200 and again.body == ""
    await settle()
    assert len(ran) == 1 and await units(state) == 1


async def test_what_is_out_of_the_ordinary_is_left_to_bolt_with_nothing_recorded(state):
    quick, listener, ran, _ = quick_acks(state)
    lookup = slash_command_body("https://app.buddy.works/ws/p/pipelines/pipeline/1")
    assert await quick.respond(*signed(lookup, secret="not-the-secret")) is None  # Bolt answers 401
    assert await quick.respond(*signed(slash_command_body("account login"))) is None  # a modal to open
    assert await quick.respond(*signed(slash_command_body("hi", command="/other"))) is None
    event = event_callback_body({"type": "app_mention", "user": "U1", "text": "<@UBOT> hi", "channel": "C1", "ts": "1.1"})
    assert await quick.respond(*signed(event, JSON)) is None
    stale = lookup.encode(), {"Content-Type": FORM, **signed_headers(SECRET, lookup, timestamp=1_000_000)}
    assert await quick.respond(*stale) is None
    listener.fail_with = StateUnavailable("the settings store is down")
    assert await quick.respond(*signed(lookup)) is None  # Bolt's path answers it, and records it then
    await settle()
    assert ran == [] and listener.acked == [] and await units(state) == 0


async def test_a_workspace_without_the_app_is_left_to_bolt(state):
    quick, listener, ran, _ = quick_acks(state)

    class NoInstallations:
        async def async_find_bot(self, **_: object) -> None:
            return None

    quick.clients = SlackClients(AsyncWebClient(), NoInstallations())  # type: ignore[arg-type]
    assert await quick.respond(*signed(slash_command_body("https://app.buddy.works/ws/p/pipelines/pipeline/1"))) is None
    assert listener.acked == [] and await units(state) == 0
