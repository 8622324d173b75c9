"""The Open in Buddy button: a link the browser follows. Slack still reports the click; answering
it keeps Bolt from replying 404 and Slack from showing a warning next to the button."""

from __future__ import annotations

from slack_bolt.context.ack.async_ack import AsyncAck


async def acknowledge(ack: AsyncAck) -> None:
    await ack()
