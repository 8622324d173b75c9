"""manifest.yml must be a valid Slack app manifest and ask for what the bot uses."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource

from bot.slack.manifest import MANIFEST, bot_scopes

SCHEMA_DIR = Path(__file__).parent / "manifest_schema"
SCHEMA_URL = "https://raw.githubusercontent.com/slackapi/manifest-schema/"
# The scope each subscribed event needs; a missing one makes Slack refuse the subscription.
EVENT_SCOPES = {
    "app_mention": "app_mentions:read",
    "message.channels": "channels:history",
    "message.groups": "groups:history",
    "message.im": "im:history",
    "message.mpim": "mpim:history",
    "link_shared": "links:read",
    # Events about the app itself: Slack sends them to every app, no scope needed.
    "app_uninstalled": None,
    "tokens_revoked": None,
    "app_home_opened": None,
}


def load_manifest() -> dict[str, Any]:
    return yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))


def retrieve_vendored(uri: str) -> Resource:
    """Serve the root schema's remote $refs from the vendored copies, never from the network."""
    path = SCHEMA_DIR / uri.rsplit("/", 1)[-1]
    if not uri.startswith(SCHEMA_URL) or not path.is_file():
        raise NoSuchResource(ref=uri)
    return Resource.from_contents(json.loads(path.read_text(encoding="utf-8")))


def manifest_validator() -> Draft7Validator:
    root = json.loads((SCHEMA_DIR / "manifest.schema.json").read_text(encoding="utf-8"))
    return Draft7Validator(root, registry=Registry(retrieve=retrieve_vendored))


def schema_errors(manifest: dict[str, Any]) -> list[str]:
    """The violations found by Slack's versioned schemas. The root's oneOf alone would only say
    "not valid under any of the given schemas"; each of its branches is allOf[version check,
    $ref to that version's schema], and only the second part says what is wrong."""
    leaves = leaf_errors(manifest_validator().iter_errors(manifest))
    errors = [e for e in leaves if list(e.absolute_schema_path)[2:4] == ["allOf", 1]]
    return sorted({f"{e.json_path}: {e.message}" for e in errors})


def leaf_errors(errors: Iterable[ValidationError]) -> Iterator[ValidationError]:
    for error in errors:
        if error.context:
            yield from leaf_errors(error.context)
        else:
            yield error


def test_manifest_validates_against_slacks_schema() -> None:
    manifest = load_manifest()
    assert manifest_validator().is_valid(manifest), schema_errors(manifest)


def set_command(m: dict[str, Any]) -> None:
    m["features"]["slash_commands"][0]["command"] = "buddy"


def add_unfurl_domain(m: dict[str, Any]) -> None:
    m["features"]["unfurl_domains"].append("App.Buddy.Works")


def shorten_long_description(m: dict[str, Any]) -> None:
    m["display_information"]["long_description"] = "Too short."


def add_unknown_setting(m: dict[str, Any]) -> None:
    m["settings"]["socket_mode"] = True


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (set_command, "$.features.slash_commands[0].command: 'buddy' does not match"),
        (add_unfurl_domain, "$.features.unfurl_domains[3]: 'App.Buddy.Works' does not match"),
        (shorten_long_description, "$.display_information.long_description: 'Too short.' is too short"),
        (add_unknown_setting, "$.settings: Additional properties are not allowed ('socket_mode' was unexpected)"),
    ],
)
def test_schema_check_catches_a_broken_manifest(breakage: Callable[[dict[str, Any]], None], expected: str) -> None:
    manifest = load_manifest()
    breakage(manifest)
    [error] = schema_errors(manifest)
    assert error.startswith(expected)


def test_every_subscribed_event_has_its_scope() -> None:
    events = load_manifest()["settings"]["event_subscriptions"]["bot_events"]
    assert {EVENT_SCOPES[event] for event in events} - {None} <= bot_scopes()


def test_bot_scopes_reads_what_yaml_reads() -> None:
    assert bot_scopes() == set(load_manifest()["oauth_config"]["scopes"]["bot"])


def test_bot_scopes_handles_comments_quotes_compact_lists_and_block_scalars(tmp_path: Path) -> None:
    path = tmp_path / "manifest.yml"
    path.write_text(
        "display_information:\n"
        "  long_description: |\n"
        "    oauth_config:\n"
        "      scopes:\n"
        "        bot:\n"
        "        - not:a-scope\n"
        "oauth_config:  # the part we read\n"
        "  scopes:\n"
        "    user:\n"
        "      - search:read\n"
        "    bot:\n"
        "    - commands  # compact list\n"
        "    - 'chat:write'\n"
        '    - "files:write"\n'
        "\n"
        "    bot_optional:\n"
        "      - users:read\n"
        "settings:\n"
        "  bot:\n"
        "    - not-a-scope-either\n",
        encoding="utf-8",
    )
    assert bot_scopes(path) == set(yaml.safe_load(path.read_text())["oauth_config"]["scopes"]["bot"])
    assert bot_scopes(path) == {"commands", "chat:write", "files:write"}


def test_bot_scopes_refuses_a_manifest_without_them(tmp_path: Path) -> None:
    path = tmp_path / "manifest.yml"
    path.write_text("display_information:\n  name: x\n", encoding="utf-8")
    with pytest.raises(ValueError, match="oauth_config.scopes.bot"):
        bot_scopes(path)
