"""What a workspace admin sets for their Slack installation, and how it changes the bot's settings
for that installation's requests.

Every field left empty keeps the environment's default. The admin chooses hosts only among those this
bot is set up for (Buddy's cloud hosts and ``BUDDY_HOSTS``): a token never goes to a host typed in
Slack. The operator's ``BUDDY_TOKEN`` / ``BUDDY_HOST_TOKENS`` never serve an installation that set its
own token or chose people's linked accounts only.
"""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from bot.buddy.refs import CLOUD_API_BASES
from bot.config import Settings

MAX_LISTED = 50  # hosts, Buddy workspaces or channels one installation may list
MAX_NAME = 200
MAX_TOKEN = 4096


class Reading(enum.StrEnum):
    """How an installation reads Buddy."""

    DEFAULT = "default"  # as the environment says (BUDDY_TOKEN, READ_AS_ASKER)
    TOKEN = "token"  # with the installation's own Buddy token
    LINKED = "linked"  # only with each person's linked account


@dataclass(frozen=True)
class WorkspaceSettings:
    reading: Reading = Reading.DEFAULT
    token: str = field(default="", repr=False)  # with Reading.TOKEN only
    hosts: tuple[str, ...] = ()
    buddy_workspaces: tuple[str, ...] = ()
    slack_channels: tuple[str, ...] = ()
    updated_by: str = ""
    updated_at: float = 0.0

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "reading": self.reading.value})

    @classmethod
    def from_json(cls, text: str) -> WorkspaceSettings:
        raw: dict[str, Any] = json.loads(text)
        return cls(
            reading=Reading(raw.get("reading", Reading.DEFAULT)),
            token=str(raw.get("token") or ""),
            hosts=tuple(raw.get("hosts") or ()),
            buddy_workspaces=tuple(raw.get("buddy_workspaces") or ()),
            slack_channels=tuple(raw.get("slack_channels") or ()),
            updated_by=str(raw.get("updated_by") or ""),
            updated_at=float(raw.get("updated_at") or 0.0),
        )

    def applied_to(self, settings: Settings) -> Settings:
        """The bot's settings for this installation's requests and background work."""
        update: dict[str, Any] = {}
        if self.hosts:
            update["buddy_hosts"] = self.hosts
            if settings.buddy_default_host.lower() not in self.hosts:
                update["buddy_default_host"] = self.hosts[0]
        if self.reading is Reading.TOKEN:
            update |= {"buddy_token": self.token, "buddy_host_tokens": {}, "read_as_asker": False}
        elif self.reading is Reading.LINKED:
            update |= {"buddy_token": "", "buddy_host_tokens": {}, "read_as_asker": True}
        if self.buddy_workspaces:
            update["buddy_workspaces"] = self.buddy_workspaces
        if self.slack_channels:
            update["slack_channels"] = self.slack_channels
        return settings.model_copy(update=update)


def selectable_hosts(settings: Settings) -> list[str]:
    """The hosts an admin may choose: those the bot is set up for, never one typed in Slack."""
    return list(dict.fromkeys([*CLOUD_API_BASES, settings.buddy_default_host.lower(), *settings.buddy_hosts]))


class Invalid(ValueError):
    """A value the admin entered that cannot be kept; ``field`` names which, the message says why."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


def names(text: str, *, field_name: str, what: str) -> tuple[str, ...]:
    """A comma- or space-separated list the admin typed, bounded and de-duplicated."""
    found = list(dict.fromkeys(part.strip() for part in text.replace(",", " ").split() if part.strip()))
    if len(found) > MAX_LISTED:
        raise Invalid(field_name, f"List at most {MAX_LISTED} {what}.")
    for name in found:
        if len(name) > MAX_NAME or any(ch in name for ch in "<>&|`*"):
            raise Invalid(field_name, f"“{name[:40]}” is not a valid name for {what}.")
    return tuple(found)


def chosen(
    *,
    reading: str,
    token: str,
    hosts: list[str],
    buddy_workspaces: str,
    slack_channels: list[str],
    direct_messages: bool,
    current: WorkspaceSettings | None,
    settings: Settings,
    by: str,
    at: float,
) -> WorkspaceSettings:
    """The settings an admin submitted, checked (Invalid names the field and says why). A blank token
    with Reading.TOKEN keeps the one kept; any other reading keeps no token."""
    try:
        how = Reading(reading or Reading.DEFAULT)
    except ValueError:
        raise Invalid("reading", "Choose how Buddy is read.") from None
    token = token.strip()
    if len(token) > MAX_TOKEN or any(ch.isspace() for ch in token):
        raise Invalid("token", "That does not look like a Buddy token: paste the token alone, in one piece.")
    if how is Reading.TOKEN:
        token = token or (current.token if current is not None else "")
        if not token:
            raise Invalid("token", "Paste the Buddy token this workspace reads with.")
    else:
        token = ""
    allowed_hosts = set(selectable_hosts(settings))
    unknown = [host for host in hosts if host not in allowed_hosts]
    if unknown:
        raise Invalid("hosts", f"{unknown[0][:60]} is not a Buddy host this bot is set up for.")
    if len(slack_channels) > MAX_LISTED:
        raise Invalid("channels", f"Choose at most {MAX_LISTED} channels.")
    channels = tuple(dict.fromkeys(c for c in slack_channels if c and len(c) <= 40 and c.isalnum()))
    if channels and direct_messages:
        channels += ("dm",)
    return WorkspaceSettings(
        reading=how,
        token=token,
        hosts=tuple(dict.fromkeys(host.lower() for host in hosts)),
        buddy_workspaces=names(buddy_workspaces, field_name="workspaces", what="Buddy workspaces"),
        slack_channels=channels,
        updated_by=by,
        updated_at=at,
    )
