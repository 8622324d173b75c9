"""The Slack half of ``python -m bot doctor``: the bot token signs in and has the manifest's scopes,
the signing secret is there for HTTP mode, and the app-level token opens a Socket Mode connection."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from bot.config import ConfigError, Settings
from bot.doctor import OK, PROBLEM, SKIP, Finding
from bot.slack.app import build_client, slack_session
from bot.slack.manifest import bot_scopes
from bot.slack.preflight import open_socket_mode, sign_in

AREA = "slack"


async def check_slack(settings: Settings) -> list[Finding]:
    async with slack_session() as session:
        client = build_client(settings, session)
        findings = await _check_bot_token(client, settings)
        findings.append(_check_signing_secret(settings))
        findings.append(await _check_app_token(client, settings))
    return findings


async def _check_bot_token(client: AsyncWebClient, settings: Settings) -> list[Finding]:
    try:
        auth = await sign_in(client, settings)
    except ConfigError as exc:
        return [Finding(PROBLEM, AREA, str(exc))]
    findings = [Finding(OK, AREA, f"signed in as {auth.get('user')} in {auth.get('team')}")]
    granted = {s.strip() for s in (auth.headers.get("x-oauth-scopes") or "").split(",") if s.strip()}
    missing = sorted(bot_scopes() - granted)
    if missing:
        findings.append(
            Finding(PROBLEM, AREA, f"the app lacks scopes {', '.join(missing)}: add them (manifest.yml) and reinstall the app")
        )
    else:
        findings.append(Finding(OK, AREA, "all scopes of manifest.yml are granted"))
    return findings


def _check_signing_secret(settings: Settings) -> Finding:
    if settings.slack_app_token:
        return Finding(SKIP, AREA, "SLACK_SIGNING_SECRET is not used in Socket Mode")
    if not settings.slack_signing_secret:
        return Finding(
            PROBLEM,
            AREA,
            "SLACK_SIGNING_SECRET is not set (HTTP mode needs it): copy the Signing Secret from the app's "
            "Basic Information → App Credentials",
        )
    return Finding(OK, AREA, "SLACK_SIGNING_SECRET is set (Slack's requests are checked with it)")


async def _check_app_token(client: AsyncWebClient, settings: Settings) -> Finding:
    if not settings.slack_app_token:
        return Finding(SKIP, AREA, "SLACK_APP_TOKEN is not set: the bot runs in HTTP mode")
    try:
        await open_socket_mode(client, settings)
    except ConfigError as exc:
        return Finding(PROBLEM, AREA, str(exc))
    return Finding(OK, AREA, "SLACK_APP_TOKEN opens a Socket Mode connection (apps.connections.open)")
