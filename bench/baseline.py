"""The obvious implementation, for comparison: a synchronous Bolt ``App`` doing the same lookup.

What a first version of this bot would look like: the ``/buddy`` listener acknowledges, then fetches
the action execution's details and then the execution with a blocking ``httpx.Client``, one after
the other, resolves the approver's name the same way, and posts the same message and log snippet.
Bolt's default listener executor (a pool of 5 threads) runs the listeners; no cache, no coalescing.

It answers links with the execution's API id (what the benchmark sends); the message is rendered
with the bot's own renderer so that both post the same thing. Served by ``wsgiref`` through Bolt's
WSGI adapter: one request at a time, like Bolt's development server, on 127.0.0.1 with a listen
backlog deep enough for the burst (the default of 5 would drop connections, which is not what is
being compared). ``GET /health`` tells the benchmark it is up.

    python -m bench.baseline      # reads the bot's settings from the environment, serves on PORT
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

from bot.buddy.models import ActionExecution, Execution
from bot.buddy.refs import find_references
from bot.config import Settings, load_settings
from bot.lookup import approver_from_outputs
from bot.render.logtail import log_tail_title, render_log_tail
from bot.render.summary import render_summary
from bot.report import RunReport


def build_app(settings: Settings) -> App:
    base = settings.slack_api_url or "https://slack.com/api/"
    app = App(
        client=WebClient(token=settings.slack_bot_token, base_url=base if base.endswith("/") else base + "/"),
        signing_secret=settings.slack_signing_secret,
    )
    buddy = httpx.Client(
        base_url=settings.buddy_api_url or "https://api.buddy.works",
        headers={"Authorization": f"Bearer {settings.buddy_token}"},
        timeout=settings.buddy_timeout_s,
    )

    @app.command("/buddy")
    def buddy_command(ack: Any, command: dict, client: WebClient) -> None:
        ack(text=":mag: Looking up 1 Buddy run…")
        ref = find_references(command["text"], whole_argument=True).refs[0]
        pipeline = f"/workspaces/{ref.workspace}/projects/{ref.project}/pipelines/{ref.pipeline_id}"
        execution_path = f"{pipeline}/executions/{ref.execution_id}"
        details = ActionExecution.model_validate(
            buddy.get(f"{execution_path}/action_executions/{ref.action_execution_id}").json()
        )
        execution = Execution.model_validate(buddy.get(execution_path).json())
        approver = approver_from_outputs(details)
        if details.approver_id is not None and approver is None:
            approver = buddy.get(f"/workspaces/{ref.workspace}/members/{details.approver_id}").json().get("name")
        log = details.log or []
        report = RunReport(
            ref=ref,
            action=details,
            execution=execution,
            approver_name=approver,
            log_tail=log[-settings.log_lines :],
            log_total_lines=len(log),
        )
        message = render_summary(
            report, secret_key_regex=settings.secret_key_regex, requested_by=command["user_id"], interactive=True
        )
        posted = client.chat_postMessage(channel=command["channel_id"], **message)
        client.files_upload_v2(
            channel=command["channel_id"],
            thread_ts=posted["ts"],
            content=render_log_tail(report),
            filename="buddy.log",
            title=log_tail_title(report),
            snippet_type="text",
        )

    return app


def wsgi_app(app: App) -> Any:
    slack = SlackRequestHandler(app)

    def serve(environ: dict, start_response: Any) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/health":
            start_response("200 OK", [("Content-Type", "application/json")])
            return [b'{"ok": true}']
        return slack(environ, start_response)

    return serve


class _Server(WSGIServer):
    request_queue_size = 1024


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass


def main() -> None:
    settings = load_settings()
    logging.basicConfig(level=settings.log_level.upper())
    logging.getLogger("httpx").setLevel(logging.WARNING)
    server = make_server(
        settings.bind_host, settings.port, wsgi_app(build_app(settings)), server_class=_Server, handler_class=_QuietHandler
    )
    server.serve_forever()


if __name__ == "__main__":
    main()
