"""The Settings modal a workspace admin opens from the Home tab (or ``/buddy settings``): the Buddy
hosts, how Buddy is read (the environment's default, the workspace's own token, or only each person's
linked account), the allowed Buddy workspaces and Slack channels. The token is never shown again:
left blank, the one kept stays."""

from __future__ import annotations

from typing import Any

from bot.render.blocks import Block, context, plain_text, section
from bot.render.mrkdwn import esc
from bot.tenancy.settings import MAX_LISTED, MAX_TOKEN, Reading, WorkspaceSettings

SETTINGS_VIEW = "workspace_settings"  # the modal's callback_id
READING_BLOCK, READING_INPUT = "settings_reading", "reading"
TOKEN_BLOCK, TOKEN_INPUT = "settings_token", "token"
HOSTS_BLOCK, HOSTS_INPUT = "settings_hosts", "hosts"
WORKSPACES_BLOCK, WORKSPACES_INPUT = "settings_workspaces", "workspaces"
CHANNELS_BLOCK, CHANNELS_INPUT = "settings_channels", "channels"
DMS_BLOCK, DMS_INPUT = "settings_dms", "dms"
DMS_VALUE = "dm"
MAX_OPTIONS = 100  # Slack's limit for a select's options

READINGS = {
    Reading.DEFAULT: "As the bot's operator set it up",
    Reading.TOKEN: "With this workspace's own Buddy token",
    Reading.LINKED: "Only with each person's linked Buddy account",
}


def _option(text: str, value: str) -> Block:
    return {"text": plain_text(text[:75]), "value": value}


def settings_view(current: WorkspaceSettings | None, *, hosts: list[str], metadata: str = "") -> dict[str, Any]:
    """The form, filled in with what the workspace has set (never its token)."""
    current = current or WorkspaceSettings()
    readings = [_option(text, reading.value) for reading, text in READINGS.items()]
    reading: Block = {"type": "radio_buttons", "action_id": READING_INPUT, "options": readings}
    reading["initial_option"] = readings[list(READINGS).index(current.reading)]
    token_hint = (
        "A token is kept (encrypted): leave this blank to keep it."
        if current.token
        else "A Buddy personal access token (scopes EXECUTION_INFO, and EXECUTION_RUN to act) for the hosts below."
    )
    host_options = [_option(host, host) for host in hosts[:MAX_OPTIONS]]
    hosts_element: Block = {
        "type": "multi_static_select",
        "action_id": HOSTS_INPUT,
        "placeholder": plain_text("The operator's default"),
        "options": host_options,
    }
    chosen_hosts = [option for option in host_options if option["value"] in current.hosts]
    if chosen_hosts:
        hosts_element["initial_options"] = chosen_hosts
    workspaces_element: Block = {
        "type": "plain_text_input",
        "action_id": WORKSPACES_INPUT,
        "max_length": 3000,
        "placeholder": plain_text("acme, globex (blank: the operator's default)"),
    }
    if current.buddy_workspaces:
        workspaces_element["initial_value"] = ", ".join(current.buddy_workspaces)
    channels = [c for c in current.slack_channels if c != DMS_VALUE]
    channels_element: Block = {
        "type": "multi_conversations_select",
        "action_id": CHANNELS_INPUT,
        "placeholder": plain_text("Every channel the bot is in"),
        "filter": {"include": ["public", "private"], "exclude_bot_users": True},
        "max_selected_items": MAX_LISTED,
    }
    if channels:
        channels_element["initial_conversations"] = channels
    dm_option = _option("Also answer in direct messages", DMS_VALUE)
    dms_element: Block = {"type": "checkboxes", "action_id": DMS_INPUT, "options": [dm_option]}
    if not current.slack_channels or DMS_VALUE in current.slack_channels:
        dms_element["initial_options"] = [dm_option]
    blocks: list[Block] = [
        section("These settings are this Slack workspace's own; anything left blank keeps what the bot's operator set."),
        _input(READING_BLOCK, "Read Buddy", reading),
        _input(
            TOKEN_BLOCK,
            "Buddy token",
            {"type": "plain_text_input", "action_id": TOKEN_INPUT, "max_length": MAX_TOKEN},
            hint=token_hint,
        ),
        _input(HOSTS_BLOCK, "Buddy hosts", hosts_element, hint="Only the hosts this bot is set up for can be chosen."),
        _input(WORKSPACES_BLOCK, "Allowed Buddy workspaces", workspaces_element),
        _input(CHANNELS_BLOCK, "Allowed channels", channels_element),
        _input(DMS_BLOCK, "Direct messages", dms_element),
    ]
    if current.updated_by:
        blocks.append(context(f"Last changed by <@{esc(current.updated_by, 40)}>."))
    return {
        "type": "modal",
        "callback_id": SETTINGS_VIEW,
        "title": plain_text("Buddy settings"),
        "submit": plain_text("Save"),
        "close": plain_text("Cancel"),
        "private_metadata": metadata,
        "blocks": blocks,
    }


def settings_notice_view(mrkdwn: str, *, title: str = "Buddy settings") -> dict[str, Any]:
    """A modal that only says something (refused, saved)."""
    return {"type": "modal", "title": plain_text(title), "close": plain_text("Close"), "blocks": [section(mrkdwn)]}


def _input(block_id: str, label: str, element: Block, *, hint: str | None = None) -> Block:
    block: Block = {"type": "input", "block_id": block_id, "label": plain_text(label), "element": element, "optional": True}
    if hint:
        block["hint"] = plain_text(hint)
    return block
