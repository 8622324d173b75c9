"""A fake Slack Web API: a real aiohttp server on 127.0.0.1, run in its own thread and event loop.

Point slack_sdk (or the bot process, through ``SLACK_API_URL``) at ``FakeSlack.url``. Every request
is recorded as a ``Call`` and answered the way Slack answers, including the files_upload_v2 upload
URL and slash-command ``response_url``s. Faults (errors, 429s, delays) are switched on per method
and channel with ``fail``, ``ratelimit`` and ``delay``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.slack.manifest import bot_scopes
from tests.fakes.server import ThreadedServer
from tests.fakes.slack_oauth import FakeOAuth, basic_credentials

TEAM_ID = "T123"
BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
UPLOAD = "upload"  # the method name under which POSTs to an upload_url are recorded
SNIPPET_LIMIT = 1_000_000  # bytes; Slack answers snippet_too_large above it
HOME_MAX_BLOCKS = 100  # a Home tab's view

# Fields slack_sdk sends as JSON text inside form/query parameters.
_JSON_FIELDS = frozenset({"attachments", "blocks", "files", "metadata", "unfurls", "user_auth_blocks"})
_FORMS = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
HISTORY_PAGE = 100  # messages per conversations.history / conversations.replies page
_MAX_BODY = 64 * 1024 * 1024  # aiohttp's 1 MB default would reject big log uploads

Answer = tuple[int, Any, dict[str, str]]  # HTTP status, JSON dict or text, extra headers


@dataclass
class Call:
    """One request the fake received. ``status``/``response`` are set once it has been answered."""

    method: str  # Web API method, UPLOAD, or "response_url:<name>"
    params: dict[str, Any]  # token removed; JSON-in-form fields decoded
    headers: dict[str, str]  # lower-cased names
    time: float  # time.monotonic() at arrival
    status: int | None = None
    response: Any = None  # JSON dict for Web API methods, text otherwise
    token: str | None = None  # the Web API token it came with (which workspace's bot, installed through OAuth)

    @property
    def channel(self) -> str | None:
        return self.params.get("channel") or self.params.get("channel_id")


@dataclass
class Hold:
    """A call held without an answer (the bot is then killed mid-call). ``record``: the fake does
    what the call asks (the message exists) before holding it; else the call is held unanswered
    and nothing happens."""

    method: str
    record: bool
    channel: str | None
    arrived: threading.Event = field(default_factory=threading.Event)
    used: bool = False
    released: asyncio.Event | None = None  # created in the server's loop, set when the fake stops

    def matches(self, call: Call) -> bool:
        return not self.used and self.method == call.method and self.channel in (None, call.channel)


@dataclass
class _Fault:
    kind: str  # "fail" | "ratelimit" | "delay"
    method: str
    value: Any  # error code | Retry-After seconds | delay seconds
    channel: str | None
    times: int | None  # None = forever
    status: int | None = None

    def matches(self, call: Call) -> bool:
        return self.method == call.method and self.channel in (None, call.channel) and self.times != 0

    def use(self) -> None:
        if self.times is not None:
            self.times -= 1


class FakeSlack:
    """Slack's Web API, upload URLs and response_urls on one local server; see the module docstring."""

    def __init__(self, *, scopes: Iterable[str] | None = None, tokens: Iterable[str] | None = None) -> None:
        """``scopes`` go into ``x-oauth-scopes`` (default: the manifest's bot scopes); ``tokens`` limits
        the accepted tokens (default: any ``xoxb-``/``xoxp-`` token)."""
        self.scopes: list[str] = sorted(bot_scopes() if scopes is None else scopes)
        self.tokens: set[str] | None = None if tokens is None else set(tokens)
        self.channels: dict[str, dict[str, Any]] = {}  # overrides merged into conversations.info
        self.users: dict[str, dict[str, Any]] = {}  # overrides merged into users.info
        self.people: dict[str, dict[str, Any]] = {}  # email (lower-case) -> user, for users.lookupByEmail
        self.usergroups: dict[str, list[str]] = {}  # user-group id -> its members, for usergroups.users.list
        self.memberships: dict[str, list[str]] = {}  # user id -> the channels they are in, for users.conversations
        self.home_views: dict[str, dict[str, Any]] = {}  # user id -> their Home tab as last published
        self._calls: list[Call] = []
        self._faults: list[_Fault] = []
        self._holds: list[Hold] = []
        self._uploads: list[dict[str, Any]] = []
        self._files: dict[str, dict[str, Any]] = {}  # file_id -> filename, bytes once uploaded
        self._messages: dict[tuple[str, str], dict[str, Any]] = {}  # (channel, ts) -> message
        self.views: dict[str, dict[str, Any]] = {}  # view id -> the view as opened or last updated
        self._view_counter = itertools.count(1)
        self._ts_counter = itertools.count(1)
        # Message ts are real times, as Slack's are: `oldest` in history reads compares with them.
        self._base_ts_micros = int(time.time()) * 1_000_000
        self._file_counter = itertools.count(1)
        self._handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.postEphemeral": self._post_ephemeral,
            "chat.update": self._update,
            "chat.delete": self._delete,
            "chat.unfurl": self._unfurl,
            "conversations.info": self._conversation_info,
            "conversations.open": self._open_conversation,
            "users.info": self._user_info,
            "users.lookupByEmail": self._lookup_by_email,
            "files.getUploadURLExternal": self._get_upload_url,
            "files.completeUploadExternal": self._complete_upload,
            "conversations.history": self._history,
            "conversations.replies": self._replies,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "views.push": self._views_open,
            "usergroups.users.list": self._usergroup_members,
            "views.publish": self._views_publish,
            "users.conversations": self._user_conversations,
        }
        app = web.Application(client_max_size=_MAX_BODY)
        app.router.add_route("*", "/api/{method}", self._handle_api)  # slack_sdk uses GET for *.info
        app.router.add_post("/upload/{file_id}", self._handle_upload)
        app.router.add_post("/response/{name}", self._handle_response_url)
        self.server = ThreadedServer(app)
        # Installing the app: the authorize page, oauth.v2.access, a bot token per workspace.
        self.oauth = FakeOAuth(lambda: self.scopes, self.server.lock)
        self.oauth.add_routes(app)

    # lifecycle

    def start(self) -> FakeSlack:
        self.server.start()
        return self

    def stop(self) -> None:
        for held in self._holds:
            if held.released is not None:
                self.server._loop.call_soon_threadsafe(held.released.set)
        self.server.stop()

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL of the Web API, for ``base_url=`` / ``SLACK_API_URL``."""
        return f"{self.server.base_url}/api/"

    def response_url(self, name: str = "r1") -> str:
        """A slash-command response_url; what is posted to it is read with ``responses(name)``."""
        return f"{self.server.base_url}/response/{name}"

    # reading what arrived

    def calls(self, method: str | None = None) -> list[Call]:
        with self.server.lock:
            return [c for c in self._calls if method is None or c.method == method]

    def wait_for(
        self,
        method: str,
        count: int = 1,
        timeout: float = 10,
        predicate: Callable[[Call], bool] | None = None,
        *,
        answered: bool = True,
    ) -> list[Call]:
        """Poll until ``count`` calls of ``method`` (passing ``predicate``) have arrived and, if
        ``answered``, been answered; return all such calls. Raises AssertionError on timeout."""

        def ready() -> list[Call] | None:
            found = [c for c in self.calls(method) if _wanted(c, predicate, answered)]
            return found if len(found) >= count else None

        try:
            return self.server.wait_until(ready, timeout=timeout, interval=0.01)
        except AssertionError:
            seen = [c.method for c in self.calls()]
            raise AssertionError(f"waited {timeout} s for {count} x {method}; received {seen}") from None

    def uploads(self) -> list[dict[str, Any]]:
        """Completed uploads: channel, thread_ts, title, filename, content (str), initial_comment."""
        with self.server.lock:
            return [dict(u) for u in self._uploads]

    def responses(self, name: str = "r1") -> list[Any]:
        """JSON bodies posted to ``response_url(name)``, oldest first."""
        return [c.params for c in self.calls(f"response_url:{name}")]

    def reset(self) -> None:
        """Forget recorded calls, uploads and faults; posted messages and scopes stay."""
        with self.server.lock:
            self._calls.clear()
            self._uploads.clear()
            self._faults.clear()

    def add_person(self, email: str, user_id: str, *, display_name: str = "", is_bot: bool = False,
                   deleted: bool = False) -> dict[str, Any]:
        """A member of the workspace that ``users.lookupByEmail`` finds by ``email``."""
        name = display_name or email.split("@", 1)[0]
        user = {
            "id": user_id, "team_id": TEAM_ID, "name": name, "real_name": name.title(), "deleted": deleted,
            "is_bot": is_bot, "tz": "UTC", "tz_offset": 0,
            "profile": {"display_name": display_name, "real_name": name.title(), "email": email},
        }
        with self.server.lock:
            self.people[email.lower()] = user
        return user

    # faults

    def fail(
        self,
        method: str,
        error: str = "not_in_channel",
        *,
        channel: str | None = None,
        times: int | None = None,
        status: int | None = None,
    ) -> None:
        """Answer ``{"ok": false, "error": error}`` with HTTP 200 (``status`` overrides); UPLOAD and
        response_url methods answer ``status`` (default 500) with ``error`` as text."""
        self._add(_Fault("fail", method, error, channel, times, status))

    def ratelimit(
        self, method: str, retry_after: int = 1, *, channel: str | None = None, times: int | None = 1
    ) -> None:
        """Answer HTTP 429 with ``Retry-After`` and ``error: ratelimited``."""
        self._add(_Fault("ratelimit", method, retry_after, channel, times))

    def delay(self, method: str, seconds: float, *, channel: str | None = None, times: int | None = None) -> None:
        """Hold matching responses for ``seconds`` (other requests are served meanwhile)."""
        self._add(_Fault("delay", method, seconds, channel, times))

    def hold(self, method: str, *, record: bool, channel: str | None = None) -> Hold:
        """Hold the next matching call forever; ``hold.arrived`` is set once it is held."""
        held = Hold(method, record, channel)
        with self.server.lock:
            self._holds.append(held)
        return held

    def _add(self, fault: _Fault) -> None:
        with self.server.lock:
            self._faults.append(fault)

    def _take_faults(self, call: Call) -> tuple[float, _Fault | None]:
        """Total delay and the first error fault for ``call``, using up one of their ``times``."""
        delay, outcome = 0.0, None
        with self.server.lock:
            for fault in self._faults:
                if not fault.matches(call):
                    continue
                if fault.kind == "delay":
                    fault.use()
                    delay += fault.value
                elif outcome is None:
                    fault.use()
                    outcome = fault
        return delay, outcome

    # HTTP handlers

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params, token = await _read_api_params(request)
        if method == "oauth.v2.access":  # the app's own credentials, not a token
            credentials = basic_credentials(request, params)
            return await self._answer(request, method, params, lambda: (200, self.oauth.access(params, credentials), {}), api=True)
        return await self._answer(
            request, method, params, lambda: self._api_answer(method, params, token), api=True, token=token
        )

    async def _handle_upload(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        data = await _read_upload(request)
        params = {"file_id": file_id, "size": len(data)}
        return await self._answer(request, UPLOAD, params, lambda: self._store_upload(file_id, data), api=False)

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        valid = isinstance(body, dict)
        answer: Answer = (200, "ok", {}) if valid else (400, "invalid_payload", {})
        method = f"response_url:{request.match_info['name']}"
        return await self._answer(request, method, body if valid else {}, lambda: answer, api=False)

    async def _answer(
        self,
        request: web.Request,
        method: str,
        params: dict[str, Any],
        produce: Callable[[], Answer],
        *,
        api: bool,
        token: str | None = None,
    ) -> web.Response:
        """Record the call, apply faults, then answer with ``produce()`` unless a fault answers."""
        call = Call(method, params, {k.lower(): v for k, v in request.headers.items()}, time.monotonic(), token=token)
        with self.server.lock:
            self._calls.append(call)
        with self.server.lock:
            held = next((h for h in self._holds if h.matches(call)), None)
            if held is not None:
                held.used = True
        if held is not None:
            if held.record:
                produce()
            held.released = asyncio.Event()
            held.arrived.set()
            await held.released.wait()  # until the fake stops; the caller has been killed by then
        delay, fault = self._take_faults(call)
        if delay:
            await asyncio.sleep(delay)
        status, body, headers = _fault_answer(fault, api) if fault else produce()
        call.response = body  # before status: wait_for treats a set status as "answered"
        call.status = status
        if isinstance(body, dict):
            return web.json_response(body, status=status, headers=headers)
        return web.Response(text=body, status=status, headers=headers)

    def _api_answer(self, method: str, params: dict[str, Any], token: str | None) -> Answer:
        handler = self._handlers.get(method)
        if handler is None:
            return 200, _error("unknown_method"), {}
        if not token:
            return 200, _error("not_authed"), {}
        if not self._token_ok(token):
            return 200, _error("token_revoked" if token in self.oauth.revoked else "invalid_auth"), {}
        if method == "auth.test" and (installed := self.oauth.auth_test(token)) is not None:
            return 200, installed, {"x-oauth-scopes": ",".join(self.scopes)}
        return 200, handler(params), {"x-oauth-scopes": ",".join(self.scopes)}

    def _token_ok(self, token: str) -> bool:
        if (issued := self.oauth.token_ok(token)) is not None:  # a bot token of an installation
            return issued
        if self.tokens is not None:
            return token in self.tokens
        return token.startswith(("xoxb-", "xoxp-"))

    def _store_upload(self, file_id: str, data: bytes) -> Answer:
        file = self._files.get(file_id)
        if file is None:
            return 404, "file_not_found", {}
        file["content"] = data
        return 200, f"OK - {len(data)}", {}

    # Web API methods

    def _auth_test(self, p: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://fake-workspace.slack.com/",
            "team": "Fake Workspace",
            "user": "buddy",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _post_message(self, p: dict[str, Any]) -> dict[str, Any]:
        if not p.get("channel"):
            return _error("channel_not_found")
        if not any(p.get(k) for k in ("text", "blocks", "attachments")):
            return _error("no_text")
        channel, ts = _conversation_id(p["channel"]), self._next_ts()
        message = {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "team": TEAM_ID, "ts": ts}
        message.update({k: p[k] for k in ("text", "blocks", "attachments", "thread_ts", "metadata") if k in p})
        self._messages[(channel, ts)] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": dict(message)}

    def _post_ephemeral(self, p: dict[str, Any]) -> dict[str, Any]:
        if not p.get("channel"):
            return _error("channel_not_found")
        if not p.get("user"):
            return _error("user_not_in_channel")
        return {"ok": True, "message_ts": self._next_ts()}

    def _views_open(self, p: dict[str, Any]) -> dict[str, Any]:
        """views.open / views.push: the trigger_id must be one Slack sent (any non-empty value here)."""
        if not p.get("trigger_id"):
            return _error("invalid_trigger_id")
        view = p.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        if not isinstance(view, dict) or view.get("type") != "modal":
            return _error("invalid_arguments")
        view_id = f"V{next(self._view_counter):08d}"
        self.views[view_id] = {**view, "id": view_id, "hash": f"h{view_id}", "trigger_id": p["trigger_id"]}
        return {"ok": True, "view": self.views[view_id]}

    def _views_update(self, p: dict[str, Any]) -> dict[str, Any]:
        view_id = p.get("view_id") or ""
        if view_id not in self.views:
            return _error("not_found")
        view = p.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        if not isinstance(view, dict):
            return _error("invalid_arguments")
        self.views[view_id] = {**view, "id": view_id, "hash": f"h{view_id}-{next(self._view_counter)}"}
        return {"ok": True, "view": self.views[view_id]}

    def _views_publish(self, p: dict[str, Any]) -> dict[str, Any]:
        """views.publish: a ``home`` view for ``user_id``, at most 100 blocks (Slack answers
        ``invalid_arguments`` beyond that, as for any view it refuses)."""
        view = p.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        if not p.get("user_id"):
            return _error("invalid_arguments")
        if not isinstance(view, dict) or view.get("type") != "home" or len(view.get("blocks") or []) > HOME_MAX_BLOCKS:
            return _error("invalid_arguments")
        view_id = f"VH{next(self._view_counter):07d}"
        self.home_views[p["user_id"]] = {**view, "id": view_id, "hash": f"h{view_id}"}
        return {"ok": True, "view": self.home_views[p["user_id"]]}

    def _user_conversations(self, p: dict[str, Any]) -> dict[str, Any]:
        """users.conversations for ``user``: the channels in ``memberships``, a page of ``limit`` at a
        time (``cursor``: where the page starts), like Slack's; ``missing_scope`` without channels:read."""
        if "channels:read" not in self.scopes:
            return {"ok": False, "error": "missing_scope", "needed": "channels:read", "provided": ",".join(self.scopes)}
        channels = self.memberships.get(str(p.get("user") or ""), [])
        start = _to_int(p.get("cursor") or 0)
        limit = _to_int(p.get("limit") or 100) or 100
        page = channels[start : start + limit]
        following = str(start + limit) if start + limit < len(channels) else ""
        listed = [{"id": c, "name": f"channel-{c.lower()}", "is_channel": c.startswith("C"), "is_private": c.startswith("G")}
                  for c in page]
        return {"ok": True, "channels": listed, "response_metadata": {"next_cursor": following}}

    def _usergroup_members(self, p: dict[str, Any]) -> dict[str, Any]:
        """Like Slack's: ``missing_scope`` without ``usergroups:read``; ``no_such_subteam`` for an unknown group."""
        if "usergroups:read" not in self.scopes:
            return {"ok": False, "error": "missing_scope", "needed": "usergroups:read", "provided": ",".join(self.scopes)}
        members = self.usergroups.get(str(p.get("usergroup") or ""))
        return {"ok": True, "users": list(members)} if members is not None else _error("no_such_subteam")

    def _update(self, p: dict[str, Any]) -> dict[str, Any]:
        message = self._messages.get((p.get("channel", ""), p.get("ts", "")))
        if message is None:
            return _error("message_not_found")
        message.update({k: p[k] for k in ("text", "blocks", "attachments", "metadata") if k in p})
        text = message.get("text", "")
        return {"ok": True, "channel": p["channel"], "ts": p["ts"], "text": text, "message": dict(message)}

    def _delete(self, p: dict[str, Any]) -> dict[str, Any]:
        if self._messages.pop((p.get("channel", ""), p.get("ts", "")), None) is None:
            return _error("message_not_found")
        return {"ok": True, "channel": p["channel"], "ts": p["ts"]}

    def _unfurl(self, p: dict[str, Any]) -> dict[str, Any]:
        targets_message = (p.get("channel") and p.get("ts")) or (p.get("unfurl_id") and p.get("source"))
        return {"ok": True} if targets_message else _error("invalid_arguments")

    def _conversation_info(self, p: dict[str, Any]) -> dict[str, Any]:
        cid = p.get("channel")
        if not cid:
            return _error("channel_not_found")
        channel = {
            "id": cid,
            "name": f"channel-{cid.lower()}",
            "is_channel": cid.startswith("C"),
            "is_group": cid.startswith("G"),
            "is_im": cid.startswith("D"),
            "is_private": cid.startswith(("G", "D")),
            "is_archived": False,
            "is_member": True,
        }
        return {"ok": True, "channel": channel | self.channels.get(cid, {})}

    def _open_conversation(self, p: dict[str, Any]) -> dict[str, Any]:
        users = p.get("users", "")
        if not users:
            return _error("users_list_not_supplied")
        if "," in users:
            return _error("invalid_arguments")  # group DMs are not faked: the bot only opens 1:1 DMs
        return {"ok": True, "channel": {"id": _conversation_id(users)}}

    def _user_info(self, p: dict[str, Any]) -> dict[str, Any]:
        uid = p.get("user")
        if not uid:
            return _error("user_not_found")
        name = f"user-{uid.lower()}"
        user = {
            "id": uid,
            "team_id": TEAM_ID,
            "name": name,
            "real_name": f"User {uid}",
            "deleted": False,
            "is_bot": False,
            "tz": "UTC",
            "tz_offset": 0,
            "profile": {"display_name": name, "real_name": f"User {uid}", "email": f"{name}@example.com"},
        }
        return {"ok": True, "user": user | self.users.get(uid, {})}

    def _lookup_by_email(self, p: dict[str, Any]) -> dict[str, Any]:
        """Like Slack's: ``missing_scope`` without ``users:read.email``; ``users_not_found`` for an
        email no member has (Slack matches emails case-insensitively)."""
        if "users:read.email" not in self.scopes:
            return {"ok": False, "error": "missing_scope", "needed": "users:read.email", "provided": ",".join(self.scopes)}
        email = str(p.get("email") or "")
        if not email:
            return _error("invalid_arguments")
        user = self.people.get(email.lower())
        return {"ok": True, "user": dict(user)} if user is not None else _error("users_not_found")

    def _get_upload_url(self, p: dict[str, Any]) -> dict[str, Any]:
        length = _to_int(p.get("length"))
        if not p.get("filename"):
            return _error("invalid_arguments")
        if length <= 0:
            return _error("missing_argument")  # what Slack says for length 0
        if p.get("snippet_type") and length > SNIPPET_LIMIT:
            return _error("snippet_too_large")
        file_id = f"F{next(self._file_counter):010d}"
        self._files[file_id] = {"filename": p["filename"], "content": None}
        return {"ok": True, "upload_url": f"{self.server.base_url}/upload/{file_id}", "file_id": file_id}

    def _complete_upload(self, p: dict[str, Any]) -> dict[str, Any]:
        files = p.get("files")
        if not isinstance(files, list) or not files:
            return _error("invalid_arguments")
        if any(self._files.get(f.get("id"), {}).get("content") is None for f in files):
            return _error("file_not_found")
        done = [self._completed_upload(f, p) for f in files]
        with self.server.lock:
            self._uploads.extend(done)
        shared = [{"id": f["id"], "title": d["title"], "name": d["filename"]} for f, d in zip(files, done)]
        channel = p.get("channel_id") or p.get("channels")
        if channel:  # Slack shares the files in a message of their own, in the thread when given one
            ts = self._next_ts()
            message = {"type": "message", "user": BOT_USER_ID, "ts": ts, "files": shared, "text": ""}
            if p.get("thread_ts"):
                message["thread_ts"] = p["thread_ts"]
            self._messages[(_conversation_id(channel), ts)] = message
        return {"ok": True, "files": shared}

    def _completed_upload(self, file: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
        stored = self._files[file["id"]]
        return {
            "channel": p.get("channel_id") or p.get("channels"),
            "thread_ts": p.get("thread_ts"),
            "title": file.get("title") or stored["filename"],
            "filename": stored["filename"],
            "content": stored["content"].decode("utf-8", errors="replace"),
            "initial_comment": p.get("initial_comment"),
        }

    def _history(self, p: dict[str, Any]) -> dict[str, Any]:
        """Top-level messages (and thread broadcasts), newest first, after ``oldest``."""
        channel = p.get("channel", "")
        found = [m for (c, _), m in self._messages.items() if c == channel and m.get("thread_ts") in (None, m["ts"])]
        return self._page(found, p)

    def _replies(self, p: dict[str, Any]) -> dict[str, Any]:
        """A thread: its parent first, then the replies, oldest first, after ``oldest``."""
        channel, parent = p.get("channel", ""), p.get("ts", "")
        if (channel, parent) not in self._messages:
            return _error("thread_not_found")
        found = [m for (c, ts), m in self._messages.items() if c == channel and (ts == parent or m.get("thread_ts") == parent)]
        return self._page(sorted(found, key=lambda m: float(m["ts"])), p, newest_first=False)

    def _page(self, messages: list[dict[str, Any]], p: dict[str, Any], *, newest_first: bool = True) -> dict[str, Any]:
        oldest = float(p.get("oldest") or 0)
        kept = [m for m in messages if float(m["ts"]) > oldest]
        kept.sort(key=lambda m: float(m["ts"]), reverse=newest_first)
        start = _to_int(p.get("cursor"))
        limit = min(_to_int(p.get("limit")) or HISTORY_PAGE, HISTORY_PAGE)
        page = kept[start : start + limit]
        with_metadata = str(p.get("include_all_metadata", "")).lower() in {"1", "true"}
        shown = [m if with_metadata else {k: v for k, v in m.items() if k != "metadata"} for m in page]
        more = start + limit < len(kept)
        return {"ok": True, "messages": [dict(m) for m in shown], "has_more": more,
                "response_metadata": {"next_cursor": str(start + limit) if more else ""}}

    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Every message the fake holds (posted, updated, file shares), oldest first."""
        with self.server.lock:
            found = [dict(m, channel=c) for (c, _), m in self._messages.items() if channel in (None, c)]
        return sorted(found, key=lambda m: float(m["ts"]))

    def _next_ts(self) -> str:
        """A fresh, increasing message ts, 100 µs apart from the fake's start time."""
        micros = self._base_ts_micros + next(self._ts_counter) * 100
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


def _conversation_id(channel: str) -> str:
    """Posting to a user ID posts into the DM with them, which has its own D... ID."""
    return f"D{channel[1:]}" if channel.startswith(("U", "W")) else channel


def _wanted(call: Call, predicate: Callable[[Call], bool] | None, answered: bool) -> bool:
    return (call.status is not None or not answered) and (predicate is None or predicate(call))


def _error(code: str) -> dict[str, Any]:
    return {"ok": False, "error": code}


def _fault_answer(fault: _Fault, api: bool) -> Answer:
    if fault.kind == "ratelimit":
        return 429, _error("ratelimited") if api else "ratelimited", {"Retry-After": str(fault.value)}
    if api:
        return fault.status or 200, _error(fault.value), {}
    return fault.status or 500, fault.value, {}


def _to_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


async def _read_api_params(request: web.Request) -> tuple[dict[str, Any], str | None]:
    """Query string plus JSON or form body, with JSON-text fields decoded; and the token, removed
    from the params (Slack takes it from ``Authorization: Bearer`` or a ``token`` field)."""
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        params.update(await request.json())
    elif request.content_type in _FORMS:
        form = await request.post()
        params.update({k: v.file.read() if isinstance(v, web.FileField) else v for k, v in form.items()})
    params = {k: _decode_json_text(v) if k in _JSON_FIELDS else v for k, v in params.items()}
    token = params.pop("token", None)
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        token = auth.removeprefix("Bearer ")
    return params, token


def _decode_json_text(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value  # Slack would reject it; keep it so the test can see what was sent


async def _read_upload(request: web.Request) -> bytes:
    """The file bytes: the whole body (how slack_sdk posts), or the first part of a multipart form."""
    if request.content_type != "multipart/form-data":
        return await request.read()
    reader = await request.multipart()
    part = await reader.next()
    return b"" if part is None else await part.read()  # type: ignore[union-attr]
