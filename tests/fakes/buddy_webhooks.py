"""What Buddy's workspace webhooks POST, built from a FakeExecution, and ways to deliver it: at once,
streamed (a body of a hundred megabytes generated as it is sent, never held whole), or by hand over
a socket, part by part (a slow delivery, or one that never ends).

The shape follows buddy-webhooks.md §2.2 (the 2016 docs sample and the 2017 captures): workspace,
invoker, project, current_date and the execution with its pipeline, revisions and action executions,
each with its whole log inline. No field names the event; the status does.
"""

from __future__ import annotations

import http.client
import json
import select
import socket
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from tests.fakes.buddy import FakeBuddy, FakeExecution, iso

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def execution_payload(
    fake: FakeBuddy, run: FakeExecution, ws: str = "acme", project: str = "web", pipeline_id: int = 7,
    *, branch_as_string: bool = False,
) -> dict[str, Any]:
    web = f"https://{fake.web_host}"
    person = {"url": f"{fake.url}/user", "html_url": f"{web}/profile/3", "id": 3, "name": run.creator,
              "avatar_url": f"{web}/image-server/user/3", "title": "", "email": "ann@example.com"}
    revision = {"url": "", "html_url": f"https://github.com/acme/web/commit/{run.revision}", "revision": run.revision,
                "short_revision": run.revision[:7], "message": run.message,
                "committer": {"name": run.creator, "title": run.creator, "email": "ann@example.com"},
                "author": {"title": run.creator, "email": "ann@example.com"}, "tags": []}
    pipeline_url = f"{web}/{ws}/{project}/pipelines/pipeline/{pipeline_id}"
    started = run.status not in {"ENQUEUED", "INITIAL"}
    return {
        "workspace": {"url": f"{fake.url}/workspaces/{ws}", "html_url": f"{web}/{ws}", "id": 1, "name": ws.title(), "domain": ws},
        "invoker": person,
        "project": {"url": f"{fake.url}/workspaces/{ws}/projects/{project}", "html_url": f"{web}/{ws}/{project}",
                    "name": project, "display_name": project.title(), "status": "ACTIVE"},
        "current_date": iso(datetime.now(timezone.utc)),
        "execution": {
            "url": f"{fake.url}/workspaces/{ws}/projects/{project}/pipelines/{pipeline_id}/executions/{run.web_id}",
            "html_url": fake.html_url(ws, project, pipeline_id, run),
            "id": run.id,
            "start_date": iso(run.start),
            "finish_date": iso(run.finish) if run.status not in {"INPROGRESS", "ENQUEUED"} else None,
            "mode": "ON_EVERY_PUSH",
            "refresh": False,
            "status": run.status,
            "comment": "",
            "branch": run.branch if branch_as_string else {"url": "", "html_url": "", "name": run.branch, "default": run.branch == "master"},
            "from_revision": revision,
            "to_revision": revision,
            "creator": person,
            "pipeline": {"url": f"{fake.url}/workspaces/{ws}/projects/{project}/pipelines/{pipeline_id}", "html_url": pipeline_url,
                         "id": pipeline_id, "name": run.pipeline_name, "trigger_mode": "ON_EVERY_PUSH", "ref_name": run.branch,
                         "last_execution_status": run.status, "last_execution_revision": run.revision,
                         "always_from_scratch": False, "no_skip_to_most_recent": False, "auto_clear_cache": False},
            "action_executions": [
                {"status": a.status if started else "ENQUEUED", "progress": 100 if a.finish else 0,
                 "action": {"url": "", "html_url": f"{pipeline_url}/action/{a.action_id}/edit", "id": a.action_id,
                            "name": a.name, "type": a.type, "trigger_time": "ON_EVERY_EXECUTION",
                            "last_execution_status": a.status, "disabled": False, "trigger_condition": "ALWAYS"},
                 "log": list(a.log) if started else [],
                 "log_url": f"{fake.html_url(ws, project, pipeline_id, run)}/action/{a.action_id}/logs"}
                for a in run.actions
            ],
        },
    }


def push_payload(ws: str = "acme", project: str = "web") -> dict[str, Any]:
    return {"workspace": {"domain": ws}, "project": {"name": project}, "ref": "refs/heads/master", "push_id": 1,
            "operation": "UPDATE", "commits_count": 1, "commits": [{"revision": "4bc2f8a", "message": "Fix"}]}


def post_webhook(url: str, payload: dict[str, Any] | bytes) -> tuple[int, str]:
    """POSTs a delivery the way Buddy does (JSON); returns (HTTP status, body)."""
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with _opener.open(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


# A build log line as Buddy inlines it, with the colour codes build tools print (escaped in JSON).
LOG_LINE = json.dumps("\x1b[32m[build]\x1b[0m compiling module " + "x" * 150 + " ok").encode()
_SWELL = "\x00swell\x00"


@dataclass(frozen=True)
class StreamedDelivery:
    """A delivery whose failed action's log is swelled with LOG_LINEs to about ``size`` bytes in all,
    generated batch by batch as it is sent: the sender never holds it whole."""

    prefix: bytes
    batch: bytes
    batches: int
    suffix: bytes

    @property
    def length(self) -> int:
        return len(self.prefix) + self.batches * len(self.batch) + len(LOG_LINE) + len(self.suffix)

    def chunks(self) -> Iterator[bytes]:
        yield self.prefix
        for _ in range(self.batches):
            yield self.batch
        yield LOG_LINE + self.suffix

    def endless(self) -> Iterator[bytes]:
        """The same delivery, its log never ending."""
        yield self.prefix
        while True:
            yield self.batch


def streamed_delivery(fake: FakeBuddy, run: FakeExecution, size: int, pipeline_id: int = 7) -> StreamedDelivery:
    payload = execution_payload(fake, run, pipeline_id=pipeline_id)
    action = payload["execution"]["action_executions"][-1]
    action["log"] = [_SWELL, *action["log"]]  # the action's own lines stay at the end: its tail
    prefix, suffix = json.dumps(payload).encode().split(json.dumps(_SWELL).encode())
    batch = (LOG_LINE + b",") * (1024 * 1024 // (len(LOG_LINE) + 1))
    return StreamedDelivery(prefix, batch, max(0, (size - len(prefix) - len(suffix)) // len(batch)), suffix)


def post_webhook_stream(url: str, chunks: Iterable[bytes], *, length: int | None = None) -> tuple[int, dict[str, str], str]:
    """POSTs a generated body: with Content-Length when ``length`` is given, else chunked."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=120)
    headers = {"Content-Type": "application/json"}
    if length is not None:
        headers["Content-Length"] = str(length)
    try:
        connection.request("POST", parts.path, body=iter(chunks), headers=headers, encode_chunked=length is None)
        response = connection.getresponse()
        return response.status, dict(response.headers), response.read().decode()
    finally:
        connection.close()


class HandSentDelivery:
    """A delivery sent over a socket part by part, as the test says: it can stay unfinished for as long
    as the test likes, and its answer can be read while it is still being sent."""

    def __init__(self, url: str, *, content_length: int | None = None) -> None:
        parts = urlsplit(url)
        self.chunked = content_length is None
        self.sent = 0  # body bytes sent
        self.sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=30)
        framing = "Transfer-Encoding: chunked" if self.chunked else f"Content-Length: {content_length}"
        self.sock.sendall(f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
                          f"{framing}\r\n\r\n".encode())

    def send(self, data: bytes) -> None:
        self.sock.sendall(b"%x\r\n%s\r\n" % (len(data), data) if self.chunked else data)
        self.sent += len(data)

    def end(self) -> None:
        if self.chunked:
            self.sock.sendall(b"0\r\n\r\n")

    def answered(self, timeout: float = 0.0) -> bool:
        return bool(select.select([self.sock], [], [], timeout)[0])

    def send_until_answered(self, chunks: Iterable[bytes], *, limit: int) -> None:
        """Sends ``chunks`` until the bot answers (or ``limit`` bytes went unanswered, or it hung up)."""
        for chunk in chunks:
            if self.answered() or self.sent > limit:
                return
            try:
                self.send(chunk)
            except (BrokenPipeError, ConnectionResetError):
                return

    def response(self, timeout: float = 30) -> tuple[int, dict[str, str], str]:
        self.sock.settimeout(timeout)
        response = http.client.HTTPResponse(self.sock, method="POST")
        response.begin()
        return response.status, dict(response.headers), response.read().decode()

    def close(self) -> None:
        self.sock.close()
