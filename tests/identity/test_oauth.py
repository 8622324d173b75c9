"""Buddy's OAuth sign-in and the refresh of its tokens, on both engines, against the fake Buddy's
real OAuth endpoints (a "browser" follows the authorize redirect with an HTTP client)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.fernet import Fernet

from bot.buddy import errors
from bot.buddy.client import BuddyClient
from bot.config import Settings
from bot.identity.accounts import OAUTH, PERSONAL, LinkedAccount, LinkedAccounts, SlackPerson
from bot.identity.credentials import Identity, LinkExpired, NotLinked
from bot.identity.oauth import BuddyOAuth, SignInFailed
from bot.identity.vault import Vault
from bot.state.tables import oauth_states
from tests.fakes.buddy import TOKEN, FakeBuddy
from tests.fakes.buddy_oauth import CLIENT_ID, CLIENT_SECRET

HOST = "app.buddy.works"
ANA, BOB = SlackPerson("T1", "U_ANA"), SlackPerson("T1", "U_BOB")
PUBLIC_URL = "https://bot.example.com"


class Clock:
    def __init__(self) -> None:
        import time

        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@dataclass
class Linking:
    oauth: BuddyOAuth
    identity: Identity
    accounts: LinkedAccounts
    fake: FakeBuddy
    clock: Clock

    async def start(self, person: SlackPerson = ANA) -> str:
        """``/buddy login``: the state of the link the person is given."""
        link = await self.oauth.begin(person)
        assert link.startswith(f"{PUBLIC_URL}/buddy/oauth/start?state=")
        return parse_qs(urlsplit(link).query)["state"][0]

    async def authorize(self, state: str) -> dict[str, str]:
        """The browser: the start route's redirect to Buddy, then Buddy's redirect back (its query)."""
        url = await self.oauth.authorize_url(state)
        async with httpx.AsyncClient() as browser:
            answer = await browser.get(url)
        assert answer.status_code == 302, answer.text
        back = answer.headers["location"]
        assert back.startswith(f"{PUBLIC_URL}/buddy/oauth/callback?")
        return {k: v[0] for k, v in parse_qs(urlsplit(back).query).items()}

    async def sign_in(self, person: SlackPerson = ANA) -> LinkedAccount:
        state = await self.start(person)
        back = await self.authorize(state)
        return await self.oauth.finish(back["state"], back["code"], browser_state=state)


def oauth_settings(fake: FakeBuddy, **changes: str) -> Settings:
    values = {
        "buddy_token": TOKEN,
        "buddy_api_url": fake.url,
        "buddy_retry_backoff_s": 0.01,
        "buddy_timeout_s": 2,
        "buddy_oauth_client_id": CLIENT_ID,
        "buddy_oauth_client_secret": CLIENT_SECRET,
        "public_url": PUBLIC_URL,
        "token_encryption_key": Fernet.generate_key().decode(),
    }
    return Settings(_env_file=None, **{**values, **changes})  # type: ignore[arg-type]


@pytest.fixture
async def linking(state, fake_buddy: FakeBuddy) -> AsyncIterator[Linking]:
    fake_buddy.oauth.sign_in_as("Ana Example", user_id=501)
    settings = oauth_settings(fake_buddy)
    clock = Clock()
    async with BuddyClient(settings) as buddy:
        accounts = LinkedAccounts(state, Vault(settings.token_encryption_key), clock=clock)
        oauth = BuddyOAuth(settings, buddy, accounts, clock=clock)
        yield Linking(oauth, Identity(accounts, oauth, clock=clock), accounts, fake_buddy, clock)


async def test_signing_in_links_the_buddy_user_with_pkce(linking: Linking):
    state = await linking.start()
    authorize = urlsplit(await linking.oauth.authorize_url(state))
    query = {k: v[0] for k, v in parse_qs(authorize.query).items()}
    assert authorize.path == "/oauth2/authorize"
    assert query["type"] == "web_server" and query["response_type"] == "code" and query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == f"{PUBLIC_URL}/buddy/oauth/callback" and query["state"] == state
    assert query["scope"] == "USER_INFO EXECUTION_INFO EXECUTION_RUN" and query["code_challenge_method"] == "S256"
    back = await linking.authorize(state)
    account = await linking.oauth.finish(back["state"], back["code"], browser_state=state)

    [exchange] = linking.fake.oauth.token_requests()
    assert exchange["grant_type"] == "authorization_code" and exchange["code"] == back["code"]
    assert exchange["redirect_uri"] == query["redirect_uri"] and exchange["client_secret"] == CLIENT_SECRET
    digest = hashlib.sha256(exchange["code_verifier"].encode()).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == query["code_challenge"]
    assert (account.kind, account.buddy_user_id, account.buddy_user_name, account.host) == (OAUTH, 501, "Ana Example", HOST)
    assert account.refresh_token and account.expires_at == pytest.approx(linking.clock.now + 3600)
    stored = await linking.accounts.get(ANA, HOST)
    assert stored is not None and stored.token == account.token and stored.refresh_token == account.refresh_token
    async with linking.accounts.state.begin() as db:  # the verifier is sealed like the tokens
        [row] = (await db.execute(oauth_states.select())).all()
    assert exchange["code_verifier"] not in repr(tuple(row))


async def test_it_works_where_buddy_ignores_pkce(linking: Linking):
    linking.fake.oauth.honours_pkce = False
    assert (await linking.sign_in()).buddy_user_name == "Ana Example"


async def test_a_state_works_once(linking: Linking):
    state = await linking.start()
    back = await linking.authorize(state)
    await linking.oauth.finish(back["state"], back["code"], browser_state=state)
    with pytest.raises(SignInFailed, match="used already"):
        await linking.oauth.finish(back["state"], back["code"], browser_state=state)
    with pytest.raises(SignInFailed, match="used already"):
        await linking.oauth.authorize_url(state)
    assert len(linking.fake.oauth.token_requests()) == 1


async def test_a_state_expires_after_ten_minutes(linking: Linking):
    state = await linking.start()
    back = await linking.authorize(state)
    linking.clock.now += 601
    with pytest.raises(SignInFailed, match="expired"):
        await linking.oauth.finish(back["state"], back["code"], browser_state=state)
    with pytest.raises(SignInFailed, match="expired"):
        await linking.oauth.authorize_url(state)
    assert linking.fake.oauth.token_requests() == [] and await linking.accounts.get(ANA, HOST) is None


async def test_another_persons_state_links_nothing(linking: Linking):
    anas = await linking.start(ANA)
    bobs = await linking.start(BOB)
    back = await linking.authorize(anas)
    with pytest.raises(SignInFailed, match="someone else") as refused:  # in Bob's browser
        await linking.oauth.finish(back["state"], back["code"], browser_state=bobs)
    assert refused.value.status == 403
    with pytest.raises(SignInFailed, match="used already"):  # spent: Ana starts again
        await linking.oauth.finish(back["state"], back["code"], browser_state=anas)
    other = await linking.start(ANA)
    back = await linking.authorize(other)
    with pytest.raises(SignInFailed, match="not opened in this browser"):  # no cookie at all
        await linking.oauth.finish(back["state"], back["code"], browser_state="")
    assert linking.fake.oauth.token_requests() == []
    assert await linking.accounts.get(ANA, HOST) is None and await linking.accounts.get(BOB, HOST) is None


async def test_a_second_login_of_the_same_person_in_one_browser_still_links(linking: Linking):
    first = await linking.start(ANA)
    second = await linking.start(ANA)  # the cookie now holds the second state
    back = await linking.authorize(first)
    assert (await linking.oauth.finish(back["state"], back["code"], browser_state=second)).person == ANA


async def test_unknown_state_and_declined_consent(linking: Linking):
    with pytest.raises(SignInFailed, match="don't know this sign-in link"):
        await linking.oauth.finish("forged-state", "code", browser_state="forged-state")
    linking.fake.oauth.denies = True
    state = await linking.start()
    back = await linking.authorize(state)
    assert back["error"] == "access_denied" and "code" not in back
    with pytest.raises(SignInFailed, match="you declined"):
        await linking.oauth.finish(back["state"], "", browser_state=state, error=back["error"])
    assert await linking.accounts.get(ANA, HOST) is None


async def test_a_refused_or_failed_exchange_says_so(linking: Linking):
    state = await linking.start()
    await linking.authorize(state)
    with pytest.raises(SignInFailed, match="would not exchange the sign-in code: invalid_grant") as refused:
        await linking.oauth.finish(state, "not-the-code", browser_state=state)
    assert refused.value.status == 400
    linking.fake.fault("/oauth2/token", 503, times=1)
    state = await linking.start()
    back = await linking.authorize(state)
    with pytest.raises(SignInFailed, match="answered HTTP 503") as failed:
        await linking.oauth.finish(back["state"], back["code"], browser_state=state)
    assert failed.value.status == 502 and await linking.accounts.get(ANA, HOST) is None


async def test_usable_refreshes_an_expiring_token_once_for_everyone_waiting(linking: Linking):
    linking.fake.oauth.expires_in = 30  # within the minute before expiry: refreshed on next use
    first = await linking.sign_in()
    linking.fake.oauth.expires_in = 3600
    got = await asyncio.gather(*(linking.identity.usable(ANA, HOST) for _ in range(5)))
    assert len(linking.fake.oauth.token_requests("refresh_token")) == 1
    assert {account.token for account in got} == {got[0].token} and got[0].token != first.token
    assert got[0].refresh_token != first.refresh_token  # the fake rotates refresh tokens
    assert got[0].expires_at == pytest.approx(linking.clock.now + 3600)
    stored = await linking.accounts.get(ANA, HOST)
    assert stored is not None and (stored.token, stored.refresh_token) == (got[0].token, got[0].refresh_token)
    assert (await linking.identity.usable(ANA, HOST)).token == got[0].token  # no refresh while it lasts
    assert len(linking.fake.oauth.token_requests("refresh_token")) == 1


async def test_a_revoked_refresh_token_forgets_the_account(linking: Linking):
    linking.fake.oauth.expires_in = 30
    await linking.sign_in()
    linking.fake.oauth.revoke_refresh_tokens()
    linking.clock.now += 31  # expired as well: nothing left to use
    with pytest.raises(LinkExpired):
        await linking.identity.usable(ANA, HOST)
    assert await linking.accounts.get(ANA, HOST) is None
    with pytest.raises(NotLinked):
        await linking.identity.usable(ANA, HOST)


async def test_a_token_buddy_refuses_is_refreshed_once(linking: Linking):
    account = await linking.sign_in()
    linking.fake.oauth.expire(account.token)  # Buddy answers 401 to it from now on
    refreshed = await linking.identity.refused(ANA, HOST, account.token)
    assert refreshed.token != account.token
    assert (await linking.oauth.buddy.get_json(HOST, "/user", token=refreshed.token))["name"] == "Ana Example"
    # A refusal of the old token that comes late (a request in flight meanwhile): no second refresh.
    assert (await linking.identity.refused(ANA, HOST, account.token)).token == refreshed.token
    assert (await linking.identity.refused(ANA, HOST)).token == refreshed.token
    assert len(linking.fake.oauth.token_requests("refresh_token")) == 1
    linking.fake.oauth.revoke_refresh_tokens()
    with pytest.raises(LinkExpired):
        await linking.identity.refused(ANA, HOST, refreshed.token)
    assert await linking.accounts.get(ANA, HOST) is None


async def test_a_refused_personal_token_is_forgotten(linking: Linking):
    await linking.accounts.put(LinkedAccount(ANA, HOST, 7, "ana", PERSONAL, "ana-personal-token"))
    with pytest.raises(LinkExpired):
        await linking.identity.refused(ANA, HOST, "ana-personal-token")
    assert await linking.accounts.get(ANA, HOST) is None


async def test_buddy_unreachable_keeps_the_account(linking: Linking):
    linking.fake.oauth.expires_in = 30
    first = await linking.sign_in()
    linking.fake.fault("/oauth2/token", 500)
    assert (await linking.identity.usable(ANA, HOST)).token == first.token  # still good for 30 s
    linking.clock.now += 31
    with pytest.raises(errors.Unavailable):
        await linking.identity.usable(ANA, HOST)
    assert (await linking.accounts.get(ANA, HOST)) is not None  # not the person's fault: kept
    linking.fake.clear_faults()
    assert (await linking.identity.usable(ANA, HOST)).token != first.token


async def test_tokens_of_old_apps_never_expire(linking: Linking):
    linking.fake.oauth.expires_in = None
    account = await linking.sign_in()
    assert account.expires_at is None
    linking.clock.now += 10 * 86400
    assert (await linking.identity.usable(ANA, HOST)).token == account.token
    assert linking.fake.oauth.token_requests("refresh_token") == []


def test_oauth_is_on_only_with_all_three_settings_and_only_for_the_default_host(fake_buddy: FakeBuddy):
    accounts = LinkedAccounts(None, Vault(""))  # type: ignore[arg-type]  # nothing is stored here
    client = BuddyClient(oauth_settings(fake_buddy))
    assert BuddyOAuth(oauth_settings(fake_buddy), client, accounts).serves("APP.buddy.works")
    assert not BuddyOAuth(oauth_settings(fake_buddy), client, accounts).serves("eu.buddy.works")
    for missing in ("buddy_oauth_client_id", "buddy_oauth_client_secret", "public_url"):
        assert not BuddyOAuth(oauth_settings(fake_buddy, **{missing: ""}), client, accounts).enabled
