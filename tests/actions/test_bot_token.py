"""ACT_WITH_BOT_TOKEN_FOR: the setting's ids, and who is in it (a user group's members read from
Slack, kept a while; a group Slack will not list counts as empty)."""

from __future__ import annotations

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import ConfigError, Settings, load_settings
from bot.slack.listeners.actions.bot_token import BotTokenPeople
from tests.fakes.slack import FakeSlack


def test_the_setting_takes_user_and_group_ids_and_refuses_anything_else():
    assert Settings(_env_file=None, act_with_bot_token_for="u123, S0OPS ,W99").act_with_bot_token_for == ("U123", "S0OPS", "W99")
    assert Settings(_env_file=None).act_with_bot_token_for == ()
    with pytest.raises(ConfigError, match="ACT_WITH_BOT_TOKEN_FOR: '@ana' is not a Slack user id"):
        load_settings(_env_file=None, act_with_bot_token_for="U123,@ana")


async def test_users_are_listed_and_groups_read_from_slack_once_a_while():
    with FakeSlack(scopes=["usergroups:read"]) as fake:
        fake.usergroups["SOPS"] = ["UCY"]
        client = AsyncWebClient(token="xoxb-test", base_url=fake.url)
        people = BotTokenPeople(Settings(_env_file=None, act_with_bot_token_for="UANA,SOPS,SGONE"))
        assert await people.includes(client, "UANA")
        assert await people.includes(client, "UCY")
        assert not await people.includes(client, "UBO")  # SOPS, then SGONE (no_such_subteam): empty
        assert not await people.includes(client, None)
        assert [c.params["usergroup"] for c in fake.calls("usergroups.users.list")] == ["SOPS", "SGONE"]


async def test_without_the_scope_a_group_counts_as_empty(caplog):
    with FakeSlack(scopes=["chat:write"]) as fake:
        fake.usergroups["SOPS"] = ["UCY"]
        people = BotTokenPeople(Settings(_env_file=None, act_with_bot_token_for="SOPS"))
        assert not await people.includes(AsyncWebClient(token="xoxb-test", base_url=fake.url), "UCY")
        assert "usergroups:read" in caplog.text
