"""Async client for the parts of Buddy's REST API the bot reads.

One transport (one connection pool, see ``pool.py``) serves the whole process. Requests only ever go to
an API base derived from a known web host (the cloud regions, the operator's ``BUDDY_HOSTS``) or to
``BUDDY_API_URL``; a host that came from user input is refused before any request is made.

Every answer is bounded: ``BUDDY_TIMEOUT_S`` is one deadline for each attempt whole, from connect to
the last byte, and ``BUDDY_MAX_RESPONSE_MB`` caps its body, counted after decompression (``body.py``).
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from bot.buddy import errors
from bot.buddy.body import ACCEPTED_ENCODINGS, OverLimit, Undecodable, read_capped
from bot.buddy.models import ActionExecution, Execution, ExecutionList, LogPage, Member, Pipeline, TokenInfo
from bot.buddy.pool import AiohttpTransport
from bot.buddy.refs import api_base_for, is_buddy_host
from bot.config import Settings
from bot.ops.metrics import process_metrics

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)

USER_AGENT = "buddy-slack-bot/0.1 (+https://github.com/)"
# Told before each retry: (which retry, of how many, what went wrong). Only the command line listens.
RetryHook = Callable[[int, int, str], None]


class _Transient(Exception):
    """A failure worth retrying (5xx, timeout, reset); becomes ``Unavailable`` when retries run out."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class _WaitForReset(Exception):
    """A 429 whose reset is close enough to wait for (the wait itself happens in ``_respect_rate_limit``)."""

    def __init__(self, limited: errors.RateLimited) -> None:
        super().__init__("rate limited")
        self.limited = limited


def _error_message(response: httpx.Response, content: bytearray) -> str:
    """Buddy's own message from ``{"errors":[{"message":…}]}``, else a short description."""
    try:
        body = json.loads(content)
        messages = [e.get("message") for e in body.get("errors", []) if isinstance(e, dict) and e.get("message")]
        if messages:
            return "; ".join(str(m) for m in messages)[:500]
    except (ValueError, AttributeError, RecursionError):
        pass
    return f"HTTP {response.status_code} {response.reason_phrase}".strip()


def _reset_time(response: httpx.Response) -> datetime | None:
    """``X-Rate-Limit-Reset`` is a Unix time in seconds."""
    raw = response.headers.get("X-Rate-Limit-Reset")
    try:
        return datetime.fromtimestamp(float(raw), tz=timezone.utc) if raw else None
    except (ValueError, OverflowError, OSError):
        return None


class BuddyClient:
    """Reads executions, action executions, logs, members and the token from Buddy."""

    def __init__(
        self, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None, on_retry: RetryHook | None = None
    ) -> None:
        self._settings = settings
        # Requests go straight to the transport (redirects are not followed either way): the cookie,
        # redirect and auth machinery of httpx.AsyncClient doubled the cost of a call (see bench/).
        self._transport = transport or AiohttpTransport(settings.buddy_max_connections)
        self._max_bytes = int(settings.buddy_max_response_mb * 1024 * 1024)
        self._on_retry = on_retry
        self._metrics = process_metrics()
        backoff = settings.buddy_retry_backoff_s
        self._backoff = wait_exponential_jitter(multiplier=backoff, max=backoff * 8, jitter=backoff)
        # A 429 on one host holds back every request to that host until its reset time.
        self._blocked_until: dict[str, float] = {}
        self._token: str | None = None  # a person's, for a client from with_token

    @property
    def token(self) -> str | None:
        """The person's token this client reads with (None: the bot's own, per host)."""
        return self._token

    def with_token(self, token: str) -> BuddyClient:
        """A client that reads (and writes) as the person whose token this is, over the same
        connections and under the same rate-limit waits. Not to be closed: the original owns the pool."""
        person = copy.copy(self)
        person._token = token
        return person

    def with_settings(self, settings: Settings) -> BuddyClient:
        """A client for one Slack installation's settings (bot.tenancy): its hosts and its token (none,
        when it reads only with people's linked accounts), over the same connections."""
        tenant = copy.copy(self)
        tenant._settings = settings
        return tenant

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def __aenter__(self) -> BuddyClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- endpoints ------------------------------------------------------------------------------

    async def get_execution(self, host: str, ws: str, project: str, pipeline_id: int, execution_id: int) -> Execution:
        path = f"{_pipeline_path(ws, project, pipeline_id)}/executions/{int(execution_id)}"
        return await self._get_model(host, path, Execution)

    async def list_executions(
        self, host: str, ws: str, project: str, pipeline_id: int, *, page: int = 1, per_page: int = 20
    ) -> ExecutionList:
        path = f"{_pipeline_path(ws, project, pipeline_id)}/executions"
        return await self._get_model(host, path, ExecutionList, params={"page": page, "per_page": per_page})

    async def get_action_execution(
        self, host: str, ws: str, project: str, pipeline_id: int, execution_id: int, action_execution_id: str
    ) -> ActionExecution:
        path = _action_path(ws, project, pipeline_id, execution_id, action_execution_id)
        return await self._get_model(host, path, ActionExecution)

    async def get_logs(
        self,
        host: str,
        ws: str,
        project: str,
        pipeline_id: int,
        execution_id: int,
        action_execution_id: str,
        *,
        offset: int,
        limit: int,
    ) -> LogPage:
        path = _action_path(ws, project, pipeline_id, execution_id, action_execution_id) + "/logs"
        return await self._get_model(host, path, LogPage, params={"offset": max(0, offset), "limit": limit})

    async def get_member(self, host: str, ws: str, member_id: int) -> Member:
        return await self._get_model(host, f"/workspaces/{_seg(ws)}/members/{int(member_id)}", Member)

    async def get_token_info(self, host: str) -> TokenInfo:
        return await self._get_model(host, "/user/token", TokenInfo)

    async def get_pipeline(self, host: str, ws: str, project: str, pipeline_id: int) -> Pipeline:
        return await self._get_model(host, _pipeline_path(ws, project, pipeline_id), Pipeline)

    async def run_pipeline(self, host: str, ws: str, project: str, pipeline_id: int, body: Mapping[str, Any]) -> Execution:
        """Starts a run (``POST …/executions``, scope EXECUTION_RUN): sent once, never retried."""
        answer = await self.send_json("POST", host, f"{_pipeline_path(ws, project, pipeline_id)}/executions", body)
        if not isinstance(answer, dict):
            raise errors.BadResponse("Buddy answered with JSON that is not an object", host=host)
        return Execution.model_validate(answer)

    async def operate_execution(
        self,
        host: str,
        ws: str,
        project: str,
        pipeline_id: int,
        execution_id: int,
        body: Mapping[str, Any],
        *,
        token: str | None = None,
    ) -> Execution:
        """``PATCH …/executions/:id`` with ``{"operation": APPLY | APPLY_VARIABLES | RETRY | CANCEL, …}``
        (scope EXECUTION_RUN), with a person's ``token`` when given: sent once, never retried."""
        path = f"{_pipeline_path(ws, project, pipeline_id)}/executions/{int(execution_id)}"
        answer = await self.send_json("PATCH", host, path, body, token=token)
        return Execution.model_validate(answer) if isinstance(answer, dict) else Execution()

    # -- plumbing -------------------------------------------------------------------------------

    def api_base(self, host: str) -> str:
        if not is_buddy_host(host, self._settings.buddy_hosts) and host != self._settings.buddy_default_host:
            raise errors.NotFound(f"{host} is not a Buddy host this bot is set up for", host=host)
        return api_base_for(host, override=self._settings.buddy_api_url)

    async def _get_model(
        self, host: str, path: str, model: type[M], params: Mapping[str, Any] | None = None, *, token: str | None = None
    ) -> M:
        body = await self.get_json(host, path, params, token=token)
        if not isinstance(body, dict):
            raise errors.BadResponse("Buddy answered with JSON that is not an object", host=host)
        return model.model_validate(body)

    async def get_json(self, host: str, path: str, params: Mapping[str, Any] | None = None, *, token: str | None = None) -> Any:
        """GET with bounded retries (backoff + jitter) for transient faults and short rate-limit waits;
        with a person's ``token`` instead of the bot's, when given."""
        base = self.api_base(host)
        api_host = httpx.URL(base).host
        retrying = AsyncRetrying(
            retry=retry_if_exception_type((_Transient, _WaitForReset)),
            stop=stop_after_attempt(self._settings.buddy_retries + 1),
            wait=self._wait,
            before_sleep=self._retrying,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._request_once("GET", host, api_host, base + path, params=params, token=token)
        except _Transient as exc:
            raise errors.Unavailable(str(exc), host=api_host, status=exc.status) from None
        except _WaitForReset as exc:
            raise exc.limited from None
        raise AssertionError("unreachable")  # pragma: no cover - AsyncRetrying always returns or raises

    def _retrying(self, retry_state: Any) -> None:
        if self._on_retry is not None and retry_state.outcome is not None:
            self._on_retry(retry_state.attempt_number, self._settings.buddy_retries, str(retry_state.outcome.exception()))

    def _wait(self, retry_state: Any) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, _WaitForReset):
            return 0.0
        return self._backoff(retry_state)

    async def send_json(self, method: str, host: str, path: str, body: Mapping[str, Any], *, token: str | None = None) -> Any:
        """POST/PATCH once: a write is not retried, since a timed-out one may still have been applied."""
        base = self.api_base(host)
        api_host = httpx.URL(base).host
        try:
            return await self._request_once(method, host, api_host, base + path, json_body=body, token=token)
        except _Transient as exc:
            raise errors.Unavailable(str(exc), host=api_host, status=exc.status) from None
        except _WaitForReset as exc:
            raise exc.limited from None

    async def _request_once(
        self,
        method: str,
        host: str,
        api_host: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Mapping[str, Any] | None = None,
        token: str | None = None,
    ) -> Any:
        await self._respect_rate_limit(api_host)
        token = token or self._token or self._settings.token_for(host)
        if not token:  # never "Bearer " to Buddy: this installation reads only with people's own accounts
            raise errors.Unauthorized("no Buddy token serves this Slack workspace", host=api_host)
        headers = {
            "Accept": "application/json",
            "Accept-Encoding": ACCEPTED_ENCODINGS,
            "User-Agent": USER_AGENT,
            "Authorization": f"Bearer {token}",
        }
        request = httpx.Request(method, url, params=params, json=json_body, headers=headers)
        response, content = await self._exchange(request, api_host)
        status = response.status_code
        self._metrics.buddy_call(request.url.path, status)
        log.debug("%s %s -> %s", method, url, status)
        if status in (200, 201):
            try:
                return json.loads(content)
            except (ValueError, RecursionError):  # RecursionError: JSON nested too deep to parse
                kind = "an HTML page" if "html" in response.headers.get("content-type", "") else "a body that is not JSON"
                raise errors.BadResponse(f"{api_host} answered with {kind}", host=api_host, status=status) from None
        message = _error_message(response, content)
        if status == 429:
            raise self._rate_limited(api_host, response, message)
        if status >= 500:
            raise _Transient(f"{api_host} answered {status}: {message}", status=status)
        error_type = {
            400: errors.Rejected,
            401: errors.Unauthorized,
            403: errors.Forbidden,
            404: errors.NotFound,
            422: errors.Rejected,
        }.get(status, errors.BuddyError)
        raise error_type(message, host=api_host, status=status)

    async def _exchange(self, request: httpx.Request, api_host: str) -> tuple[httpx.Response, bytearray]:
        """One attempt, whole: the response and its decoded body, within BUDDY_TIMEOUT_S and BUDDY_MAX_RESPONSE_MB."""
        timeout = self._settings.buddy_timeout_s
        try:
            async with asyncio.timeout(timeout):
                response = await self._transport.handle_async_request(request)
                try:
                    return response, await read_capped(response, self._max_bytes)
                finally:
                    await response.aclose()
        except (TimeoutError, httpx.TimeoutException):
            self._metrics.buddy_call(request.url.path, "timeout")
            raise _Transient(f"no answer from {api_host} within {timeout:g} s") from None
        except httpx.TransportError as exc:
            self._metrics.buddy_call(request.url.path, "connection_error")
            raise _Transient(f"connection to {api_host} failed ({type(exc).__name__})") from None
        except Undecodable:
            raise errors.BadResponse(f"{api_host} answered with a body that could not be decoded", host=api_host) from None
        except OverLimit:
            mb = self._settings.buddy_max_response_mb
            raise errors.TooLarge(f"{api_host} answered with more than {mb:g} MB", host=api_host) from None

    def _rate_limited(self, api_host: str, response: httpx.Response, message: str) -> Exception:
        reset_at = _reset_time(response)
        wait = (reset_at - datetime.now(timezone.utc)).total_seconds() if reset_at else 1.0
        wait = max(0.0, wait)
        self._blocked_until[api_host] = time.monotonic() + wait
        limited = errors.RateLimited(message, host=api_host, reset_at=reset_at)
        if wait <= self._settings.buddy_rate_limit_max_wait_s:
            return _WaitForReset(limited)
        return limited

    async def _respect_rate_limit(self, api_host: str) -> None:
        """Don't send what we know Buddy will refuse: wait out a short block, refuse a long one."""
        remaining = self._blocked_until.get(api_host, 0.0) - time.monotonic()
        if remaining <= 0:
            return
        if remaining > self._settings.buddy_rate_limit_max_wait_s:
            reset_at = datetime.now(timezone.utc).timestamp() + remaining
            raise errors.RateLimited(
                "rate limit reached", host=api_host, reset_at=datetime.fromtimestamp(reset_at, tz=timezone.utc)
            )
        self._metrics.rate_limit_wait(api_host, remaining)
        await asyncio.sleep(remaining)


def _seg(value: str) -> str:
    """Quote one path segment, so an id can never add a segment or climb out of the path; an id from
    Buddy's JSON may hold a lone surrogate (``"\\ud800"``), which UTF-8 cannot encode: its bytes are
    quoted as they are."""
    return quote(str(value).encode("utf-8", "surrogatepass"), safe="")


def _pipeline_path(ws: str, project: str, pipeline_id: int) -> str:
    return f"/workspaces/{_seg(ws)}/projects/{_seg(project)}/pipelines/{int(pipeline_id)}"


def _action_path(ws: str, project: str, pipeline_id: int, execution_id: int, action_execution_id: str) -> str:
    return (
        f"{_pipeline_path(ws, project, pipeline_id)}/executions/{int(execution_id)}/action_executions/{_seg(action_execution_id)}"
    )
