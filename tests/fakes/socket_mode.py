"""Slack's Socket Mode on top of FakeSlack: ``apps.connections.open`` hands out a WebSocket URL on the
same local server; the test pushes envelopes (slash commands, events, button clicks) down the socket
and reads the bot's acknowledgements, exactly as Slack's Socket Mode protocol has them."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.slack import FakeSlack


class FakeSlackSocketMode(FakeSlack):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._handlers["apps.connections.open"] = self._connections_open
        self.server._app.router.add_get("/socket", self._socket)
        self._sockets: list[web.WebSocketResponse] = []
        self.acks: list[dict[str, Any]] = []
        self.redelivered: list[str] = []  # envelope ids handed to another connection, unacknowledged
        self._envelopes = itertools.count(1)

    def _token_ok(self, token: str) -> bool:
        return token.startswith("xapp-") or super()._token_ok(token)

    def _connections_open(self, _params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": f"ws://127.0.0.1:{self.server.port}/socket"}

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A123"},
                            "debug_info": {"host": "fake", "approximate_connection_time": 3600}})
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                with self.server.lock:
                    self.acks.append(json.loads(message.data))
        self._sockets.remove(ws)
        return ws

    def wait_connected(self, timeout: float = 20) -> None:
        self.server.wait_until(lambda: self._sockets, timeout=timeout)

    def send(
        self,
        envelope_type: str,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool = False,
        to: int = -1,
        redeliver_after: float | None = None,
    ) -> str:
        """Pushes one envelope to a connected bot (``to``: which connection, in the order they
        connected; default the last); returns its ``envelope_id``. With ``redeliver_after``, an
        envelope not acknowledged by then goes to the next connection, as Slack does."""
        envelope_id = f"env-{next(self._envelopes)}"
        envelope = {"envelope_id": envelope_id, "type": envelope_type, "payload": payload,
                    "accepts_response_payload": accepts_response_payload}
        socket = self._sockets[to]
        asyncio.run_coroutine_threadsafe(socket.send_json(envelope), self.server._loop).result(timeout=5)
        if redeliver_after is not None:
            asyncio.run_coroutine_threadsafe(self._redeliver(envelope, socket, redeliver_after), self.server._loop)
        return envelope_id

    async def _redeliver(self, envelope: dict[str, Any], first: web.WebSocketResponse, after: float) -> None:
        await asyncio.sleep(after)
        with self.server.lock:
            acked = any(a.get("envelope_id") == envelope["envelope_id"] for a in self.acks)
        others = [ws for ws in self._sockets if ws is not first and not ws.closed]
        if not acked and others:
            self.redelivered.append(envelope["envelope_id"])
            await others[0].send_json(envelope)

    def wait_ack(self, envelope_id: str, timeout: float = 10) -> dict[str, Any]:
        def acked() -> dict[str, Any] | None:
            with self.server.lock:
                return next((a for a in self.acks if a.get("envelope_id") == envelope_id), None)

        return self.server.wait_until(acked, timeout=timeout)
