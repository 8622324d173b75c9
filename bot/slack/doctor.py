"""The Slack half of ``python -m bot doctor``: the token works, and it has the manifest's scopes."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError

from bot.config import Settings
from bot.slack.app import build_client
from bot.slack.manifest import bot_scopes


async def check_slack(settings: Settings) -> list[tuple[bool, str]]:
    client = build_client(settings)
    try:
        auth = await client.auth_test()
    except SlackApiError as exc:
        return [(False, f"auth.test refused the bot token ({exc.response.get('error')}): check SLACK_BOT_TOKEN")]
    except Exception as exc:
        return [(False, f"cannot reach Slack at {client.base_url} ({type(exc).__name__})")]
    results = [(True, f"signed in as {auth.get('user')} in {auth.get('team')}")]
    granted = {s.strip() for s in (auth.headers.get("x-oauth-scopes") or "").split(",") if s.strip()}
    missing = sorted(bot_scopes() - granted)
    if missing:
        results.append((False, f"the app lacks scopes {', '.join(missing)}: add them (manifest.yml) and reinstall the app"))
    else:
        results.append((True, "all scopes of manifest.yml are granted"))
    if not settings.slack_app_token and not settings.slack_signing_secret:
        results.append((False, "SLACK_SIGNING_SECRET is not set (needed in HTTP mode)"))
    return results
