"""``python -m bot doctor``: checks the Buddy token(s) and, when configured, the Slack side."""

from __future__ import annotations

from datetime import datetime, timezone

from bot.buddy import errors
from bot.buddy.client import BuddyClient
from bot.config import Settings
from bot.explain import explain

READ_SCOPES = {"EXECUTION_INFO", "PIPELINE_READ"}


async def doctor(settings: Settings) -> int:
    """Prints one line per check ("ok" / "problem") and returns 0 when all pass, else 1."""
    problems = 0
    async with BuddyClient(settings) as client:
        for host in _hosts_to_check(settings):
            for ok, line in await check_buddy_token(client, host):
                problems += not ok
                print(f"{'ok     ' if ok else 'PROBLEM'} buddy {host}: {line}")
    if settings.slack_bot_token:
        from bot.slack.doctor import check_slack  # Slack only when it is configured

        for ok, line in await check_slack(settings):
            problems += not ok
            print(f"{'ok     ' if ok else 'PROBLEM'} slack: {line}")
    else:
        print("skip    slack: SLACK_BOT_TOKEN is not set")
    print("all checks passed" if not problems else f"{problems} problem(s) found")
    return 0 if not problems else 1


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
