"""Buddy's OAuth 2 endpoints on the fake Buddy, shaped as Buddy documents them
(https://buddy.works/docs/api/getting-started/oauth2/introduction, …/api/oauth/token):

- ``GET /oauth2/authorize?type=web_server&client_id=…&response_type=code&redirect_uri=…&scope=…&state=…``
  is what a browser opens. The fake's person is already signed in to Buddy and consents at once: the
  answer is a 302 to ``redirect_uri?code=…&state=…`` (``error=access_denied`` when ``denies``).
  A ``code_challenge`` (S256) sent here must be matched by the ``code_verifier`` of the exchange.
- ``POST /oauth2/token`` (form or JSON): ``grant_type=authorization_code`` (codes work once) or
  ``refresh_token`` (refresh tokens rotate; ``revoke_refresh_tokens`` makes them fail), answering
  ``{access_token, token_type, expires_in, refresh_token, refresh_token_expires_in}``; errors as
  RFC 6749 §5.2 has them (``{"error": "invalid_grant", …}``, 400; ``invalid_client``, 401).

Access tokens it issues are the fake's users (``FakeBuddy.add_user``), refused with 401 once
``expires_in`` has passed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

from aiohttp import web

if TYPE_CHECKING:
    from tests.fakes.buddy import FakeBuddy

CLIENT_ID = "fake-buddy-client-id"
CLIENT_SECRET = "fake-buddy-client-secret-0123456789"
REFRESH_LIFETIME_S = 15811201  # what Buddy's example says (about 183 days)


class FakeOAuth:
    def __init__(self, buddy: FakeBuddy) -> None:
        self.buddy = buddy
        self.client_id, self.client_secret = CLIENT_ID, CLIENT_SECRET
        self.signs_in: dict[str, Any] | None = None  # who the authorize page signs in (sign_in_as)
        self.scopes: tuple[str, ...] = ("USER_INFO", "EXECUTION_INFO", "EXECUTION_RUN")  # what consent grants, at most
        self.denies = False
        self.honours_pkce = True  # False: code_challenge is ignored, as a Buddy without PKCE would
        self.expires_in: int | None = 3600  # None: tokens without expiry (apps made before March 2022)
        self._lock = threading.Lock()
        self._codes: dict[str, dict[str, Any]] = {}
        self._refresh: dict[str, dict[str, Any]] = {}  # refresh token -> grant (its user, scopes, revoked)
        self._expiry: dict[str, float] = {}  # access token -> when it stops working

    # -- scenario ---------------------------------------------------------------------------------

    def sign_in_as(self, name: str, *, user_id: int) -> None:
        self.signs_in = {"name": name, "id": user_id}

    def revoke_refresh_tokens(self) -> None:
        with self._lock:
            for grant in self._refresh.values():
                grant["revoked"] = True

    def expire(self, access_token: str) -> None:
        with self._lock:
            self._expiry[access_token] = 0.0

    def expired(self, access_token: str) -> bool:
        with self._lock:
            return self._expiry.get(access_token, float("inf")) <= time.time()

    def token_requests(self, grant_type: str | None = None) -> list[dict[str, str]]:
        """The forms posted to /oauth2/token, oldest first."""
        forms = [_form_of(call.body) for call in self.buddy.calls("/oauth2/token") if call.method == "POST"]
        return [form for form in forms if grant_type in (None, form.get("grant_type"))]

    # -- serving ----------------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.Response:
        if request.path == "/oauth2/authorize" and request.method == "GET":
            return self._authorize(request)
        if request.path == "/oauth2/token" and request.method == "POST":
            return await self._token(request)
        return _oauth_error(404, "not_found", "no such OAuth endpoint")

    def _authorize(self, request: web.Request) -> web.Response:
        query = request.query
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id or not redirect_uri.startswith(("http://", "https://")):
            return web.Response(status=400, text="Unknown application or redirect URI", content_type="text/html")
        if query.get("type") != "web_server" or query.get("response_type") != "code" or not query.get("scope"):
            return web.Response(status=400, text="Invalid authorization request", content_type="text/html")
        answer = {"state": query.get("state", "")}
        if self.denies or self.signs_in is None:
            answer["error"] = "access_denied"
        else:
            code = secrets.token_hex(16)
            with self._lock:
                self._codes[code] = {
                    "user": dict(self.signs_in),
                    "redirect_uri": redirect_uri,
                    "scopes": [s for s in query["scope"].split() if s in self.scopes],
                    "challenge": query.get("code_challenge") if self.honours_pkce else None,
                    "method": query.get("code_challenge_method", "plain"),
                }
            answer["code"] = code
        separator = "&" if urlsplit(redirect_uri).query else "?"
        raise web.HTTPFound(f"{redirect_uri}{separator}{urlencode(answer)}")

    async def _token(self, request: web.Request) -> web.Response:
        if request.content_type == "application/json":
            form = {k: str(v) for k, v in (await request.json()).items()}
        else:
            form = {k: str(v) for k, v in (await request.post()).items()}
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return _oauth_error(401, "invalid_client", "Client authentication failed")
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            with self._lock:
                grant = self._codes.pop(form.get("code", ""), None)  # a code works once
            if grant is None:
                return _oauth_error(400, "invalid_grant", "The authorization code is invalid or was used")
            if form.get("redirect_uri") != grant["redirect_uri"]:
                return _oauth_error(400, "invalid_grant", "redirect_uri does not match")
            if grant["challenge"] and not _pkce_ok(grant["challenge"], grant["method"], form.get("code_verifier", "")):
                return _oauth_error(400, "invalid_grant", "PKCE verification failed")
            return self._issue(grant["user"], grant["scopes"])
        if grant_type == "refresh_token":
            with self._lock:
                grant = self._refresh.get(form.get("refresh_token", ""))
                if grant is None or grant["revoked"]:
                    return _oauth_error(400, "invalid_grant", "The refresh token is invalid, expired or revoked")
                grant["revoked"] = True  # rotated: the new answer carries the next one
            return self._issue(grant["user"], grant["scopes"])
        return _oauth_error(400, "unsupported_grant_type", f"grant_type {grant_type!r} is not supported")

    def _issue(self, user: dict[str, Any], scopes: list[str]) -> web.Response:
        access, refresh = f"oauth-access-{secrets.token_hex(16)}", f"oauth-refresh-{secrets.token_hex(16)}"
        self.buddy.add_user(access, user["name"], user_id=user["id"], scopes=tuple(scopes))
        with self._lock:
            self._refresh[refresh] = {"user": user, "scopes": scopes, "revoked": False}
            if self.expires_in is not None:
                self._expiry[access] = time.time() + self.expires_in
        body: dict[str, Any] = {"access_token": access, "token_type": "Bearer", "refresh_token": refresh,
                                "refresh_token_expires_in": REFRESH_LIFETIME_S}
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        return web.json_response(body)


def _pkce_ok(challenge: str, method: str, verifier: str) -> bool:
    if not 43 <= len(verifier) <= 128:
        return False
    if method == "S256":
        digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == challenge
    return verifier == challenge


def _oauth_error(status: int, error: str, description: str) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=status)


def _form_of(body: Any) -> dict[str, str]:
    text = body if isinstance(body, str) else ""
    if text.startswith("{"):
        return {k: str(v) for k, v in json.loads(text).items()}
    return {k: v[0] for k, v in parse_qs(text).items()}
