"""users.lookupByEmail through the fake Slack: hits are remembered 24 h, misses 15 min, counted at the fake."""

from __future__ import annotations

import asyncio
import logging

from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.authors import HIT_TTL_S, MISS_TTL_S, SlackAuthors, SlackUser
from bot.slack.manifest import bot_scopes
from tests.fakes.slack import FakeSlack


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def lookups(fake: FakeSlack, email: str | None = None) -> int:
    return len([c for c in fake.calls("users.lookupByEmail") if email is None or c.params.get("email") == email])


async def test_hits_are_kept_a_day_and_misses_a_quarter_of_an_hour(fake_slack):
    fake_slack.add_person("ana@example.com", "U0ANA", display_name="ana")
    clock = Clock()
    authors = SlackAuthors(AsyncWebClient(token="xoxb-test", base_url=fake_slack.url), clock=clock)
    for _ in range(3):
        assert await authors.user("Ana@Example.com") == SlackUser("U0ANA", "ana")
        assert await authors.user("bob@example.com") is None
    assert (lookups(fake_slack, "ana@example.com"), lookups(fake_slack, "bob@example.com")) == (1, 1)

    clock.now += MISS_TTL_S + 1  # the miss is asked again; the hit is still known
    fake_slack.add_person("bob@example.com", "U0BOB")
    assert await authors.user("bob@example.com") == SlackUser("U0BOB", "Bob")
    assert await authors.user("ana@example.com") == SlackUser("U0ANA", "ana")
    assert (lookups(fake_slack, "ana@example.com"), lookups(fake_slack, "bob@example.com")) == (1, 2)

    clock.now += HIT_TTL_S + 1
    assert await authors.user("ana@example.com") is not None
    assert lookups(fake_slack, "ana@example.com") == 2


async def test_a_burst_for_one_author_asks_once(fake_slack):
    fake_slack.add_person("ana@example.com", "U0ANA")
    fake_slack.delay("users.lookupByEmail", 0.3)
    authors = SlackAuthors(AsyncWebClient(token="xoxb-test", base_url=fake_slack.url))
    found = await asyncio.gather(*(authors.user("ana@example.com") for _ in range(20)))
    assert {user.id for user in found if user} == {"U0ANA"} and lookups(fake_slack) == 1


async def test_bots_and_deactivated_members_are_not_authors(fake_slack):
    fake_slack.add_person("deploy-bot@example.com", "U0BOT", is_bot=True)
    fake_slack.add_person("left@example.com", "U0OLD", deleted=True)
    authors = SlackAuthors(AsyncWebClient(token="xoxb-test", base_url=fake_slack.url))
    assert await authors.user("deploy-bot@example.com") is None
    assert await authors.user("left@example.com") is None


async def test_a_missing_scope_or_a_failing_slack_is_a_miss_and_the_scope_is_said_once(caplog):
    with FakeSlack(scopes=bot_scopes() - {"users:read.email"}) as fake:
        fake.add_person("ana@example.com", "U0ANA")
        authors = SlackAuthors(AsyncWebClient(token="xoxb-test", base_url=fake.url), clock=Clock())
        with caplog.at_level(logging.INFO, logger="bot.slack.authors"):
            assert await authors.user("ana@example.com") is None
            assert await authors.user("bob@example.com") is None
        said = [r.getMessage() for r in caplog.records if "users:read.email" in r.getMessage()]
        assert len(said) == 1 and "reinstall" in said[0]
    with FakeSlack() as fake:
        fake.fail("users.lookupByEmail", "internal_error")
        authors = SlackAuthors(AsyncWebClient(token="xoxb-test", base_url=fake.url))
        assert await authors.user("ana@example.com") is None
        assert await authors.user("ana@example.com") is None
        assert lookups(fake) == 1
