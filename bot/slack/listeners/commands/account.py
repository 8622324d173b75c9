"""``/buddy login [host] | logout [host] | whoami``: the person's own Buddy account. Everything is
answered in the acknowledgement, privately: none of it needs Buddy (a pasted token is checked when
the modal is submitted, ``listeners/views/link_token.py``), and the token modal must open within the
3 s of the command's ``trigger_id``."""

from __future__ import annotations

import logging

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.identity.accounts import LinkedAccount, SlackPerson
from bot.identity.vault import NO_KEY, VaultLocked
from bot.render.accounts import render_logged_out, render_whoami
from bot.render.notice import render_notice
from bot.slack.app import Services
from bot.slack.effects import SlackEffects
from bot.slack.linking import Linking, host_argument
from bot.state.store import StateUnavailable

log = logging.getLogger(__name__)

STORE_DOWN = "I can't read your linked accounts right now: my state store is unavailable. Try again in a minute."


class AccountCommands:
    words = frozenset({"login", "logout", "whoami"})

    def __init__(self, services: Services) -> None:
        self.services = services
        self.linking = Linking(services)

    async def ack(self, ack: AsyncAck, command: dict) -> None:
        word, rest = _split(command)
        channel = str(command.get("channel_id") or "")
        responder = await self.services.responder_for(command)
        if refused := responder.refusal_in(channel, is_direct=channel.startswith("D")):
            await ack(**render_notice(refused))
            return
        person = SlackPerson.of(command)
        try:
            if word == "login":
                await self._login(ack, command, person, host_argument(rest) or self.services.settings.buddy_default_host)
            elif word == "logout":
                await ack(**await self._logout(person, host_argument(rest) or None))
            else:
                await ack(**render_whoami(await self._linked(person)))
        except VaultLocked:
            await ack(**render_notice(NO_KEY))
        except StateUnavailable as exc:
            log.warning("/buddy %s: %s", word, exc)
            await ack(**render_notice(STORE_DOWN))

    async def answer(
        self, command: dict, client: AsyncWebClient, respond: AsyncRespond, *, effects: SlackEffects | None = None
    ) -> None:
        """Nothing is left to do after the acknowledgement."""

    async def _login(self, ack: AsyncAck, command: dict, person: SlackPerson, host: str) -> None:
        refusal = self.linking.refusal(host)
        if refusal:
            await ack(**render_notice(refusal))
            return
        if self.linking.oauth.serves(host):
            await ack(**await self.linking.sign_in_link(person, host, command))
            return
        await ack()  # at once: the modal opens over Slack's own acknowledgement
        trigger_id = str(command.get("trigger_id") or "")
        shown = await self.linking.open_token_modal(
            person, host, trigger_id=trigger_id, channel=command.get("channel_id"), body=command
        )
        if shown is not None:
            await AsyncRespond(response_url=command.get("response_url"))(response_type="ephemeral", **shown)

    async def _logout(self, person: SlackPerson, host: str | None) -> dict:
        linked = await self.services.accounts.hosts(person)
        forgotten = [h for h in linked if host is None or h == host]
        if forgotten:
            await self.services.accounts.forget(person, host)
            log.info("Slack user %s unlinked their Buddy account on %s", person.user, ", ".join(forgotten))
        return render_logged_out(forgotten, asked_for=host)

    async def _linked(self, person: SlackPerson) -> list[LinkedAccount]:
        if self.services.accounts.vault.locked:
            raise VaultLocked()  # nothing linked can be read, or used
        found = [await self.services.accounts.get(person, host) for host in await self.services.accounts.hosts(person)]
        return [account for account in found if account is not None]


def _split(command: dict) -> tuple[str, str]:
    word, *rest = command.get("text", "").strip().split(maxsplit=1) or [""]
    return word.lower(), rest[0] if rest else ""
