"""Personal access tokens: checked with Buddy's GET /user (and /user/token for the scopes) before
they are kept, within a bounded wait, on both engines."""

from __future__ import annotations

import time

import pytest
from cryptography.fernet import Fernet

from bot.buddy.client import BuddyClient
from bot.identity.accounts import PERSONAL, LinkedAccounts, SlackPerson
from bot.identity.personal import PersonalTokens, TokenRefused, lacks_acting_scope
from bot.identity.vault import Vault
from tests.fakes.buddy import FakeBuddy

HOST = "app.buddy.works"
ANA = SlackPerson("T1", "U_ANA")


@pytest.fixture
async def tokens(state, settings):
    async with BuddyClient(settings) as buddy:
        yield PersonalTokens(buddy, LinkedAccounts(state, Vault(Fernet.generate_key().decode())))


async def test_a_good_token_is_kept_with_its_buddy_user_and_scopes(tokens: PersonalTokens, fake_buddy: FakeBuddy):
    fake_buddy.add_user("ana-personal-token-1", "Ana", user_id=42)
    account = await tokens.link(ANA, HOST, "  ana-personal-token-1\n", within_s=2)
    assert (account.kind, account.buddy_user_id, account.buddy_user_name) == (PERSONAL, 42, "Ana")
    assert account.scopes == ("USER_INFO", "EXECUTION_INFO", "EXECUTION_RUN") and not lacks_acting_scope(account.scopes)
    stored = await tokens.accounts.get(ANA, HOST)
    assert stored is not None and stored.token == "ana-personal-token-1"
    assert {call.path for call in fake_buddy.calls()} == {"/user", "/user/token"}
    assert all(call.headers["Authorization"] == "Bearer ana-personal-token-1" for call in fake_buddy.calls())


async def test_a_token_without_execution_run_is_kept_and_said_to_lack_it(tokens: PersonalTokens, fake_buddy: FakeBuddy):
    fake_buddy.add_user("ana-reader-token-1", "Ana", scopes=("USER_INFO", "EXECUTION_INFO"))
    assert lacks_acting_scope((await tokens.link(ANA, HOST, "ana-reader-token-1", within_s=2)).scopes)


async def test_a_token_buddy_refuses_is_not_kept(tokens: PersonalTokens):
    with pytest.raises(TokenRefused, match="refused this token"):
        await tokens.link(ANA, HOST, "not-a-real-token-1", within_s=2)
    assert await tokens.accounts.get(ANA, HOST) is None


async def test_a_token_without_user_info_is_not_kept(tokens: PersonalTokens, fake_buddy: FakeBuddy):
    fake_buddy.add_user("ana-no-user-info-1", "Ana", scopes=("EXECUTION_RUN",))
    with pytest.raises(TokenRefused, match="USER_INFO"):
        await tokens.link(ANA, HOST, "ana-no-user-info-1", within_s=2)
    assert await tokens.accounts.get(ANA, HOST) is None


async def test_something_that_is_no_token_is_refused_without_asking_buddy(tokens: PersonalTokens, fake_buddy: FakeBuddy):
    for pasted in ("", "   ", "two words", "x" * 513):
        with pytest.raises(TokenRefused, match="does not look like"):
            await tokens.link(ANA, HOST, pasted, within_s=2)
    assert fake_buddy.calls() == []


async def test_a_slow_buddy_is_waited_for_a_bounded_time(tokens: PersonalTokens, fake_buddy: FakeBuddy):
    fake_buddy.add_user("ana-slow-token-1", "Ana")
    fake_buddy.fault("/user", 200, delay=5)
    started = time.monotonic()
    with pytest.raises(TokenRefused, match="did not answer within 0.5 s"):
        await tokens.link(ANA, HOST, "ana-slow-token-1", within_s=0.5)
    assert time.monotonic() - started < 2.5  # the wait, plus a generous margin on a loaded machine
    assert await tokens.accounts.get(ANA, HOST) is None


async def test_scopes_are_unknown_when_buddy_does_not_say(tokens: PersonalTokens, fake_buddy: FakeBuddy):
    fake_buddy.add_user("ana-token-no-info", "Ana")
    fake_buddy.fault("/user/token", 403, times=1)
    account = await tokens.link(ANA, HOST, "ana-token-no-info", within_s=2)
    assert account.scopes == () and not lacks_acting_scope(account.scopes)  # unknown: no warning
