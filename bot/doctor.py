"""``python -m bot doctor``: checks the set-up, one line per finding, without serving anything.

Each check in ``CHECKS`` takes the settings and returns its findings; a failing check never stops
the others. What is checked: the Buddy token(s) (host name resolves, token valid, expiry, scopes),
the Slack side when configured (``bot.slack.doctor``), that ``PUBLIC_URL`` reaches the bot, and that
the state store opens and takes writes.
"""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlsplit

import aiohttp

from bot.buddy import errors
from bot.buddy.client import BuddyClient
from bot.config import Settings
from bot.explain import explain

READ_SCOPES = {"EXECUTION_INFO", "PIPELINE_READ"}
OK, PROBLEM, SKIP = "ok", "PROBLEM", "skip"
HEALTH_TIMEOUT_S = 10
_NOT_REACHED = "is the bot running (HTTP mode, or BUDDY_WEBHOOK_TOKEN in Socket Mode), and does PUBLIC_URL lead to its PORT?"


@dataclass(frozen=True)
class Finding:
    status: str  # OK, PROBLEM or SKIP
    area: str  # what was checked: "buddy app.buddy.works", "slack", "public url"
    text: str

    def line(self) -> str:
        return f"{self.status:<7} {self.area}: {self.text}"


Check = Callable[[Settings], Awaitable[list[Finding]]]


async def doctor(settings: Settings) -> int:
    """Prints every check's findings and returns 0 when none is a problem, else 1."""
    problems = 0
    for check in CHECKS:
        for finding in await check(settings):
            problems += finding.status == PROBLEM
            print(finding.line(), flush=True)
    print("all checks passed" if not problems else f"{problems} problem(s) found")
    return 0 if not problems else 1


async def check_buddy(settings: Settings) -> list[Finding]:
    findings = []
    async with BuddyClient(settings) as client:
        for host in _hosts_to_check(settings):
            results = await _buddy_name_unresolved(client, host, settings) or await check_buddy_token(client, host)
            findings += [Finding(OK if ok else PROBLEM, f"buddy {host}", text) for ok, text in results]
    return findings


async def check_slack(settings: Settings) -> list[Finding]:
    if settings.slack_oauth:
        # Each workspace has its own bot token, checked with auth.test when it installs.
        return [Finding(SKIP, "slack", "installed through Slack's OAuth (SLACK_CLIENT_ID): no single bot token to check")]
    if not settings.slack_bot_token:
        return [Finding(SKIP, "slack", "SLACK_BOT_TOKEN is not set")]
    from bot.slack.doctor import check_slack as check_slack_side  # Slack only when it is configured

    return await check_slack_side(settings)


async def check_public_url(settings: Settings) -> list[Finding]:
    """``PUBLIC_URL`` must lead to this bot's ``/health``: Slack and Buddy send their requests there."""
    area = "public url"
    if not settings.public_url:
        return [Finding(SKIP, area, "PUBLIC_URL is not set")]
    url = f"{settings.public_url}/health"
    unresolved = await _name_does_not_resolve(url)
    if unresolved:
        return [Finding(PROBLEM, area, f"PUBLIC_URL: {unresolved}: check PUBLIC_URL and its DNS record")]
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=HEALTH_TIMEOUT_S), trust_env=True) as session:
            async with session.get(url, allow_redirects=False) as response:
                status, location, body = response.status, response.headers.get("Location"), await response.read()
    except aiohttp.ClientConnectorError as exc:
        return [Finding(PROBLEM, area, f"PUBLIC_URL: nothing answers at {url} ({type(exc.os_error).__name__}): {_NOT_REACHED}")]
    except TimeoutError:
        return [Finding(PROBLEM, area, f"PUBLIC_URL: no answer from {url} within {HEALTH_TIMEOUT_S} s: {_NOT_REACHED}")]
    except aiohttp.ClientError as exc:
        return [Finding(PROBLEM, area, f"PUBLIC_URL: {url} failed ({type(exc).__name__}): {_NOT_REACHED}")]
    if 300 <= status < 400:
        return [Finding(PROBLEM, area, f"PUBLIC_URL: {url} redirects to {location}: set PUBLIC_URL to the address it ends at")]
    if status != 200 or not _is_health(body):
        return [
            Finding(PROBLEM, area, f"PUBLIC_URL: {url} answered HTTP {status} but not as the bot's /health does: {_NOT_REACHED}")
        ]
    return [Finding(OK, area, f"{url} reaches the bot")]


async def check_state(settings: Settings) -> list[Finding]:
    """The state store opens (migrating it, as a start would) and takes a write."""
    from bot.config import ConfigError
    from bot.state.store import StateStore, StateUnavailable

    area = "state"
    try:
        state = await StateStore.open(settings)
    except ConfigError as exc:
        return [Finding(PROBLEM, area, str(exc))]
    try:
        await state.check("doctor")
    except StateUnavailable as exc:
        return [Finding(PROBLEM, area, f"{state.where} does not take writes ({exc}): the bot would answer without a record")]
    finally:
        await state.close()
    return [Finding(OK, area, f"{state.where} opens and takes writes")]


# Every check doctor runs, in order.
CHECKS: tuple[Check, ...] = (check_buddy, check_slack, check_public_url, check_state)


def _is_health(body: bytes) -> bool:
    try:
        answer = json.loads(body)
    except ValueError:
        return False
    return isinstance(answer, dict) and answer.get("ok") is True


async def _name_does_not_resolve(url: str) -> str | None:
    """Says so when the URL's host name has no address: a DNS failure, told apart from a host that is down.
    Through a proxy the proxy resolves the name, so nothing is said here."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host or _through_proxy(parts.scheme, host):
        return None
    try:
        await asyncio.get_running_loop().getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"the host name {host} does not resolve (DNS: {exc.strerror})"
    return None


def _through_proxy(scheme: str, host: str) -> bool:
    """HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY, read as the Buddy client reads them."""
    proxies = urllib.request.getproxies()
    return not urllib.request.proxy_bypass(host) and bool(proxies.get(scheme) or proxies.get("all"))


async def _buddy_name_unresolved(client: BuddyClient, host: str, settings: Settings) -> list[tuple[bool, str]]:
    """A problem when the API's host name does not resolve: then Buddy may well be up, and retrying is no use."""
    try:
        base = client.api_base(host)
    except errors.BuddyError:
        return []  # not a host the bot reads: the token check says so
    unresolved = await _name_does_not_resolve(base)
    if not unresolved:
        return []
    fix = "BUDDY_API_URL" if settings.buddy_api_url else f"the host {host} (BUDDY_DEFAULT_HOST, BUDDY_HOST_TOKENS)"
    return [(False, f"{unresolved}: check {fix} and this machine's DNS; Buddy itself may well be up")]


def _hosts_to_check(settings: Settings) -> list[str]:
    hosts = [settings.buddy_default_host] if settings.buddy_token else []
    return hosts + [h for h in settings.buddy_host_tokens if h not in hosts]


async def check_buddy_token(client: BuddyClient, host: str) -> list[tuple[bool, str]]:
    try:
        info = await client.get_token_info(host)
    except errors.BuddyError as exc:
        return [(False, explain(exc))]
    results = [(True, f"token “{info.name or 'unnamed'}” accepted by {client.api_base(host)}")]
    if info.expires_at is None:
        results.append((True, "token does not expire"))
    else:
        days = (info.expires_at - datetime.now(timezone.utc)).days
        expiry = info.expires_at.strftime("%Y-%m-%d")
        results.append((days >= 0, f"token expires {expiry} ({days} days)" if days >= 0 else f"token expired on {expiry}"))
    scopes = set(info.scopes)
    if scopes & READ_SCOPES:
        results.append((True, f"scopes: {', '.join(sorted(scopes))}"))
    else:
        results.append(
            (
                False,
                f"token lacks EXECUTION_INFO (PIPELINE_READ on newer installations); it has: {', '.join(sorted(scopes)) or 'none'}",
            )
        )
    if info.workspace_restrictions:
        results.append((True, f"restricted to workspaces: {', '.join(info.workspace_restrictions)}"))
    if info.ip_restrictions:
        results.append(
            (True, f"restricted to IP addresses: {', '.join(info.ip_restrictions)} (the bot's address must be among them)")
        )
    return results
