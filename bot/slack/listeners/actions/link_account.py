"""The "Link Buddy account" button (value: the Buddy host), shown on refusals to someone not linked:
what ``/buddy login <host>`` does, from the click. The token modal needs the click's ``trigger_id``
(3 s), so everything happens in the acknowledgement's path; the click's unit of work is then run
with nothing left to do (a unit taken over after a crash cannot open a modal any more)."""

from __future__ import annotations

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.identity.accounts import SlackPerson
from bot.render.notice import render_notice
from bot.slack.app import Services
from bot.slack.linking import Linking, host_argument


class LinkAccount:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.linking = Linking(services)

    async def handle(self, ack: AsyncAck, body: dict, client: AsyncWebClient, respond: AsyncRespond, context: dict) -> None:
        await ack()
        shown = await self._start(body, client)
        if shown is not None:
            await respond(response_type="ephemeral", replace_original=False, **shown)
        unit = context.get("unit")
        if unit is not None:
            await self.services.work.run(unit)

    async def _start(self, body: dict, client: AsyncWebClient) -> dict | None:
        action = (body.get("actions") or [{}])[0]
        host = host_argument(str(action.get("value") or "")) or self.services.settings.buddy_default_host
        refusal = self.linking.refusal(host)
        if refusal:
            return render_notice(refusal)
        person = SlackPerson.of(body)
        if self.linking.oauth.serves(host):
            return await self.linking.sign_in_link(person, host, body)
        channel = (body.get("container") or {}).get("channel_id") or (body.get("channel") or {}).get("id")
        trigger_id = str(body.get("trigger_id") or "")
        return await self.linking.open_token_modal(person, host, trigger_id=trigger_id, channel=channel, body=body, client=client)
