"""The Slack set-up checked before the bot serves (and by ``doctor``): the bot token signs in, the
app-level token opens a Socket Mode connection. A failure becomes one ``ConfigError`` line that names
the setting to fix: a refused token blames the token, an answer that is not Slack's JSON (a proxy's
HTML page, a plain-text 404) blames ``SLACK_API_URL``, an unknown host name is said to be DNS."""

from __future__ import annotations

from urllib.parse import urlsplit

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.config import ConfigError, Settings

# Slack's answers that mean "this token is no good", as opposed to Slack failing.
TOKEN_REFUSALS = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "not_allowed_token_type"}
)
WHERE_TO_GET = {
    "SLACK_BOT_TOKEN": "copy the Bot User OAuth Token (xoxb-…) from the app's OAuth & Permissions page",
    "SLACK_APP_TOKEN": "create an app-level token with connections:write under the app's Basic Information → App-Level Tokens",
}
_BODY_SHOWN = 80  # characters of a plain-text answer quoted in the message
NOT_SLACKS_ANSWER = "a body that is not Slack's answer"


async def sign_in(client: AsyncWebClient, settings: Settings) -> AsyncSlackResponse:
    """``auth.test`` with the bot token."""
    try:
        return await client.auth_test()
    except Exception as exc:  # every way it fails is said; none is a traceback
        raise ConfigError(describe_failure(exc, "SLACK_BOT_TOKEN", "auth.test", client.base_url, settings)) from None


async def open_socket_mode(client: AsyncWebClient, settings: Settings) -> None:
    """``apps.connections.open`` with the app-level token; the URL it hands out is left unused."""
    try:
        await client.apps_connections_open(app_token=settings.slack_app_token)
    except Exception as exc:
        raise ConfigError(describe_failure(exc, "SLACK_APP_TOKEN", "apps.connections.open", client.base_url, settings)) from None


def describe_failure(exc: BaseException, token_setting: str, method: str, base_url: str, settings: Settings) -> str:
    """One line: what went wrong calling ``method``, naming the setting that fixes it."""
    if isinstance(exc, SlackApiError):
        data = getattr(exc.response, "data", None)
        if isinstance(data, dict) and data.get("ok") is False and isinstance(data.get("error"), str):
            code = data["error"]
            if code in TOKEN_REFUSALS:
                return f"{token_setting}: Slack refused the token ({code}): {WHERE_TO_GET[token_setting]}"
            return (
                f"{token_setting}: Slack answered {method} with the error {code}: "
                "try again in a minute; if it keeps happening, check the token"
            )
        return _not_slacks_answer(exc, method, base_url, settings)
    host = urlsplit(base_url).hostname or base_url
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"SLACK_API_URL: the host name {host} does not resolve (DNS): {_url_hint(settings)}"
    if isinstance(exc, TimeoutError):  # aiohttp's own timeouts too
        return f"SLACK_API_URL: no answer from {host} in time: check the network to it, or try again in a minute"
    if isinstance(exc, (AttributeError, TypeError, ValueError)):  # slack_sdk reading a JSON list, a number…
        return f"SLACK_API_URL: {base_url} answered {method} with {NOT_SLACKS_ANSWER}, not as Slack's API does: {_url_hint(settings)}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"SLACK_API_URL: cannot connect to {exc.host}:{exc.port} ({type(exc.os_error).__name__}): {_url_hint(settings)}"
    return f"SLACK_API_URL: cannot reach {base_url} ({type(exc).__name__}): {_url_hint(settings)}"


def _not_slacks_answer(exc: SlackApiError, method: str, base_url: str, settings: Settings) -> str:
    # slack_sdk hands over its own response, or aiohttp's when the body claimed JSON and was not.
    response = exc.response
    status: int = getattr(response, "status_code", 0) or getattr(response, "status", 0)
    data = getattr(response, "data", None)
    content_type = (response.headers or {}).get("content-type", "").split(";")[0].strip().lower()
    if "html" in content_type:
        what = f"an HTML page (HTTP {status})"
    elif isinstance(data, str):
        text = " ".join(data.split())[:_BODY_SHOWN]
        what = f"plain text (HTTP {status}: “{text}”)" if text else f"an empty answer (HTTP {status})"
    else:
        what = f"{NOT_SLACKS_ANSWER} (HTTP {status}, {content_type or 'no content type'})"
    failing = "; or the server there is failing: try again in a minute" if status >= 500 else ""
    return f"SLACK_API_URL: {base_url} answered {method} with {what}, not as Slack's API does: {_url_hint(settings)}{failing}"


def _url_hint(settings: Settings) -> str:
    if settings.slack_api_url:
        return "check SLACK_API_URL, or unset it to use Slack's own https://slack.com/api/"
    return "something between this machine and Slack answered instead (a proxy?); check the network, or set SLACK_API_URL"
