"""Settings, loaded once from the environment (and `.env` where present) into one typed object.

Every name here is documented in `.env.example`; operators and tests rely on them.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

CommaList = Annotated[tuple[str, ...], NoDecode]

DEFAULT_SECRET_PATTERNS = "TOKEN,SECRET,PASSWORD,PASSWD,PASS,KEY,PRIVATE,CREDENTIAL,AUTH,CERT"


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# What each Slack token prefix is, to say which token was given instead (never the token itself).
_SLACK_TOKEN_KINDS = {
    "xoxb-": "a bot token (xoxb-…)",
    "xapp-": "an app-level token (xapp-…)",
    "xoxp-": "a user token (xoxp-…)",
    "xoxe": "a configuration or refresh token (xoxe…)",
    "xoxa-": "a workspace app token (xoxa-…)",
}


def _token_kind(value: str) -> str:
    kind = next((name for prefix, name in _SLACK_TOKEN_KINDS.items() if value.startswith(prefix)), None)
    return f"looks like {kind}" if kind else "does not look like a Slack token"


class ConfigError(Exception):
    """A setting is missing or malformed; the message is one line for the operator."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Buddy
    buddy_token: str = Field(default="", repr=False)
    buddy_api_url: str | None = None
    buddy_hosts: CommaList = ()
    buddy_host_tokens: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict, repr=False)
    buddy_default_host: str = "app.buddy.works"
    buddy_workspaces: CommaList = ()
    buddy_timeout_s: float = 10.0
    buddy_retries: int = 3
    buddy_retry_backoff_s: float = 0.5
    buddy_rate_limit_max_wait_s: float = 10.0
    buddy_execution_pages: int = 5
    buddy_execution_page_size: int = 50
    buddy_max_connections: int = Field(default=500, ge=1)
    buddy_max_response_mb: float = Field(default=32.0, gt=0)

    # What an answer shows
    log_lines: int = Field(default=20, ge=1, le=1000)
    secret_variable_patterns: CommaList = tuple(DEFAULT_SECRET_PATTERNS.split(","))
    cache_size: int = 1024
    why_max_lines: int = Field(default=5000, ge=100, le=6000)  # 6,000: at most 5 extra /logs pages
    cache_ttl_s: float = 3600.0

    # Slack
    slack_bot_token: str = Field(default="", repr=False)
    slack_signing_secret: str = Field(default="", repr=False)
    slack_app_token: str = Field(default="", repr=False)
    slack_api_url: str | None = None
    # Installing through Slack's OAuth into any number of workspaces, instead of one SLACK_BOT_TOKEN.
    slack_client_id: str = ""
    slack_client_secret: str = Field(default="", repr=False)
    slack_oauth_authorize_url: str = "https://slack.com/oauth/v2/authorize"
    slack_retry_backoff_s: float = Field(default=0.5, ge=0)
    slack_channels: CommaList = ()
    reply_to_links: bool = True
    port: int = 3000
    bind_host: str = "0.0.0.0"
    http_header_timeout_s: float = Field(default=10.0, gt=0)
    http_body_timeout_s: float = Field(default=30.0, gt=0)

    # Following runs that are still going, and the summary's buttons
    watch_poll_seconds: float = Field(default=5.0, gt=0)
    watch_backoff_max_seconds: float = Field(default=60.0, gt=0)
    watch_max_seconds: float = Field(default=3600.0, gt=0)
    more_log_lines: int = Field(default=50, ge=1, le=1000)
    more_log_max: int = Field(default=500, ge=1)

    # State and background work
    database_url: str = Field(default="", repr=False)  # may carry a password
    state_db: Path | None = None  # unset: bot-state.db (bot.state.url), so that "set" is visible
    work_lease_s: float = Field(default=30.0, gt=0)
    shutdown_grace_s: float = Field(default=10.0, ge=0)

    # Operating it
    log_level: str = "INFO"
    log_format: str = "text"
    metrics_token: str = Field(default="", repr=False)

    # Channel subscriptions
    buddy_webhook_token: str = Field(default="", repr=False)
    public_url: str = ""
    subscription_poll_seconds: float = Field(default=60.0, ge=0)
    slack_channel_pacing_s: float = Field(default=1.0, ge=0)
    notify_authors: bool = False
    flaky_window: int = Field(default=20, ge=2, le=1000)
    flaky_quiet: bool = True
    buddy_webhook_max_mb: float = Field(default=128.0, gt=0)
    buddy_webhook_max_inflight: int = Field(default=4, ge=1)

    # Acting from Slack as each person (linked Buddy accounts)
    token_encryption_key: str = Field(default="", repr=False)
    read_as_asker: bool = False
    # Pipelines whose name contains one of these (case-insensitive) ask for a confirmation before /buddy run.
    run_confirm_patterns: CommaList = ("prod", "production", "release")
    # Slack users (U…, W…) and user groups (S…) who act with the bot's Buddy token instead of their own.
    act_with_bot_token_for: CommaList = ()
    # Buddy's OAuth app (for BUDDY_DEFAULT_HOST only); linking uses it when both are set, with PUBLIC_URL.
    buddy_oauth_client_id: str = ""
    buddy_oauth_client_secret: str = Field(default="", repr=False)
    buddy_oauth_scopes: CommaList = ("USER_INFO", "EXECUTION_INFO", "EXECUTION_RUN")

    @field_validator("buddy_oauth_scopes", mode="before")
    @classmethod
    def _scope_words(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(word.upper() for word in re.split(r"[\s,]+", value) if word)
        if isinstance(value, tuple) and "USER_INFO" not in value:
            raise ValueError("must include USER_INFO: the bot reads with it which Buddy user signed in")
        return value

    @field_validator("act_with_bot_token_for", mode="before")
    @classmethod
    def _slack_ids(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(item.strip() for item in value.split(",") if item.strip())
        if not isinstance(value, tuple):
            return value
        bad = [item for item in value if not re.fullmatch(r"[UWS][A-Z0-9]{2,20}", str(item).upper())]
        if bad:
            raise ValueError(
                f"{str(bad[0])[:40]!r} is not a Slack user id (U…, W…) or user-group id (S…): copy ids from a "
                "profile's or a group's “Copy member ID”"
            )
        return tuple(str(item).upper() for item in value)

    @field_validator("buddy_webhook_token")
    @classmethod
    def _unguessable(cls, value: str) -> str:
        # The token in the path is the receiver's only protection (Buddy's signing is undocumented).
        if value and len(value) < 24:
            raise ValueError(
                'must be at least 24 characters; make one with python -c "import secrets; print(secrets.token_urlsafe(32))"'
            )
        return value

    @field_validator("token_encryption_key")
    @classmethod
    def _fernet_key(cls, value: str) -> str:
        from cryptography.fernet import Fernet

        value = value.strip()
        if value:
            try:
                Fernet(value)
            except ValueError:
                raise ValueError(
                    "must be a Fernet key (32 bytes, url-safe base64); make one with "
                    'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
                ) from None
        return value

    @field_validator("public_url")
    @classmethod
    def _bare_base_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith(("https://", "http://")):
            raise ValueError("must start with https:// (the address Buddy and Slack reach the bot at)")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"{value!r} is not a log level: use one of {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("log_format")
    @classmethod
    def _known_log_format(cls, value: str) -> str:
        log_format = value.strip().lower()
        if log_format not in ("text", "json"):
            raise ValueError(f"{value!r} is not a log format: use text or json")
        return log_format

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token_shape(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith("xoxb-"):
            raise ValueError(
                f"{_token_kind(value)}; this setting takes the Bot User OAuth Token (xoxb-…), "
                "from the app's OAuth & Permissions page"
            )
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token_shape(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith("xapp-"):
            raise ValueError(
                f"{_token_kind(value)}; this setting takes an app-level token (xapp-…), from the app's "
                "Basic Information → App-Level Tokens, with the scope connections:write (or leave it unset for HTTP mode)"
            )
        return value

    @field_validator(
        "buddy_hosts", "buddy_workspaces", "slack_channels", "secret_variable_patterns", "run_confirm_patterns", mode="before"
    )
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    @field_validator("buddy_hosts", mode="after")
    @classmethod
    def _lower_hosts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(host.lower().removeprefix("https://").removeprefix("http://").rstrip("/") for host in value)

    @field_validator("buddy_host_tokens", mode="before")
    @classmethod
    def _parse_host_tokens(cls, value: object) -> object:
        """``host=token,host=token``; the token itself may not contain a comma."""
        if not isinstance(value, str):
            return value
        pairs = {}
        for item in filter(None, (part.strip() for part in value.split(","))):
            host, sep, token = item.partition("=")
            if not sep or not host.strip() or not token.strip():
                raise ValueError("expected host=token pairs separated by commas")
            pairs[host.strip().lower()] = token.strip()
        return pairs

    @field_validator("buddy_api_url", "slack_api_url", "state_db", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @cached_property
    def secret_key_regex(self) -> re.Pattern[str]:
        words = [re.escape(w.strip().upper()) for w in self.secret_variable_patterns if w.strip()]
        return re.compile("|".join(words) if words else r"(?!)")

    def token_for(self, web_host: str) -> str:
        return self.buddy_host_tokens.get(web_host.lower(), self.buddy_token)

    def require_buddy_token(self) -> None:
        if not self.buddy_token and not self.buddy_host_tokens:
            raise ConfigError(
                "BUDDY_TOKEN is not set: create a personal access token in Buddy (avatar → Security → "
                "Personal Access Tokens, scope EXECUTION_INFO) and put it in .env or the environment."
            )

    @property
    def slack_oauth(self) -> bool:
        """Installed through Slack's OAuth, each workspace with its own bot token (SLACK_CLIENT_ID / _SECRET)."""
        return bool(self.slack_client_id or self.slack_client_secret)

    def require_slack(self, socket_mode: bool) -> None:
        if self.slack_oauth:
            return self._require_oauth_install(socket_mode)
        missing = ["SLACK_BOT_TOKEN"] if not self.slack_bot_token else []
        if not socket_mode and not self.slack_signing_secret:
            missing.append("SLACK_SIGNING_SECRET")
        if missing:
            raise ConfigError(f"{' and '.join(missing)} not set: see the README's 'Create the Slack app' section.")

    def _require_oauth_install(self, socket_mode: bool) -> None:
        pair = (("SLACK_CLIENT_ID", self.slack_client_id), ("SLACK_CLIENT_SECRET", self.slack_client_secret))
        client = [name for name, value in pair if value]
        if self.slack_bot_token:
            raise ConfigError(
                f"{', '.join(client)} and SLACK_BOT_TOKEN are set together: unset SLACK_BOT_TOKEN to install into "
                f"workspaces through Slack's OAuth, or unset {' and '.join(client)} to serve the one workspace of that token."
            )
        needed = {
            "SLACK_CLIENT_ID": self.slack_client_id,
            "SLACK_CLIENT_SECRET": self.slack_client_secret,
            "SLACK_SIGNING_SECRET": self.slack_signing_secret or socket_mode,
            "TOKEN_ENCRYPTION_KEY": self.token_encryption_key,  # the workspaces' bot tokens are kept encrypted
            "PUBLIC_URL": self.public_url,  # the redirect URL given to Slack is <PUBLIC_URL>/slack/oauth_redirect
        }
        missing = [name for name, value in needed.items() if not value]
        if missing:
            raise ConfigError(
                f"{' and '.join(missing)} not set: installing through Slack's OAuth needs {'them' if len(missing) > 1 else 'it'}; "
                "see the README's 'Installing into several workspaces' section."
            )


def load_settings(**overrides: Any) -> Settings:
    """Read the settings once; a malformed value becomes one clear ConfigError."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first.get("loc") else "a setting"
        # Our validators' messages say what to do; pydantic's "Value error, " prefix only adds noise.
        raise ConfigError(f"{name}: {first['msg'].removeprefix('Value error, ')}") from None
