"""Command line: run the bot, or check a lookup and the set-up without Slack.

    python -m bot                                   run the Slack bot (Socket Mode or HTTP)
    python -m bot show <url-or-ids> [--lines N] [--json]
    python -m bot render <file.json> [--lines N]
    python -m bot doctor
    python -m bot --version

Exit status: 0 success, 1 Buddy or the input failed, 2 a usage or settings error. Errors are one line on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shutil
import sys
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from pydantic import ValidationError

from bot.buddy import errors
from bot.buddy.client import BuddyClient
from bot.buddy.models import ActionExecution
from bot.buddy.refs import BuddyRef, find_references, foreign_hosts
from bot.config import ConfigError, Settings, load_settings
from bot.explain import explain
from bot.log_redaction import RedactingFormatter, RequestBodyFilter, log_uncaught
from bot.lookup import Lookup, approver_from_outputs
from bot.render.logtail import log_tail_title, render_log_tail
from bot.render.mrkdwn import clean, clip
from bot.render.plain import render_plain
from bot.render.summary import render_summary
from bot.report import RunReport
from bot.secrets_seen import SEEN

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DISTRIBUTION = "buddy-slack-bot"  # the name in pyproject.toml


class Failure(Exception):
    """Ends the command with one line on stderr and exit status 1."""


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        if args.command is None:
            from bot.slack.runner import run  # Slack is only imported when the bot itself runs

            return run(settings)
        if args.command == "render":
            return _render(args, settings)
        settings.require_buddy_token()
        if args.command == "show":
            return asyncio.run(_show(args, settings))
        from bot.doctor import doctor

        return asyncio.run(doctor(settings))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Failure as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="The Buddy.Works bot for Slack. With no subcommand, runs the bot: Socket Mode when "
        "SLACK_APP_TOKEN is set, else an HTTP server on PORT. Settings come from the environment and .env.",
    )
    parser.add_argument("--version", action="version", version=f"{DISTRIBUTION} {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="{show,render,doctor}")
    show = sub.add_parser("show", help="look up a Buddy run and print its summary and log tail")
    show.add_argument(
        "reference", nargs="+", help="a Buddy run URL, or: workspace project pipeline_id execution_id [action_execution_id]"
    )
    show.add_argument("--lines", type=_positive, help="how many log lines (default LOG_LINES)")
    show.add_argument("--json", action="store_true", help="print the Slack message as JSON instead")
    render = sub.add_parser("render", help="render a saved action-execution API response (offline)")
    render.add_argument("file", type=Path)
    render.add_argument("--lines", type=_positive)
    sub.add_parser("doctor", help="check the set-up: Buddy token, Slack tokens and scopes, PUBLIC_URL")
    return parser


def _version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "(not installed: pip install . to get a version)"


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text}") from None
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError("must be between 1 and 1000")
    return value


async def _show(args: argparse.Namespace, settings: Settings) -> int:
    text = " ".join(args.reference)
    found = find_references(text, hosts=settings.buddy_hosts, whole_argument=True, default_host=settings.buddy_default_host)
    if not found.refs:
        if foreign := foreign_hosts(text, hosts=settings.buddy_hosts):
            raise Failure(f"{foreign[0]} is not a Buddy host I answer for (see BUDDY_HOSTS)")
        raise Failure(
            "no Buddy run found in that: give a run URL (https://app.buddy.works/…/pipelines/pipeline/…) "
            "or the ids: workspace project pipeline_id execution_id [action_execution_id]"
        )
    progress = _Progress() if sys.stderr.isatty() else None
    async with BuddyClient(settings, on_retry=progress.retrying if progress else None) as client:
        lookup = Lookup(client, settings)
        for ref in found.refs:
            if not lookup.workspace_allowed(ref):
                raise Failure(f"this bot is not allowed to read workspace {ref.workspace} (BUDDY_WORKSPACES)")
            try:
                if progress:
                    progress.show("asking Buddy…")
                report = await lookup.report(ref, lines=args.lines)
            except errors.BuddyError as exc:
                raise Failure(explain(exc, ref)) from None
            finally:
                if progress:
                    progress.show("")
            _print_report(report, settings, as_json=args.json)
    if found.skipped:
        print(f"({found.skipped} more reference(s) skipped: at most {len(found.refs)} are answered)", file=sys.stderr)
    return EXIT_OK


class _Progress:
    """One line on a terminal's stderr while Buddy is asked ("asking Buddy… retry 2/3 (…)"), redrawn in
    place and wiped when the answer (or the error) comes: a slow Buddy is never silence."""

    def show(self, line: str) -> None:
        width = shutil.get_terminal_size().columns - 1  # a wrapped line could not be wiped
        sys.stderr.write("\r\x1b[K" + clip(line, width))
        sys.stderr.flush()

    def retrying(self, retry: int, retries: int, reason: str) -> None:
        self.show(f"asking Buddy… retry {retry}/{retries} ({clean(reason, one_line=True)})")


def _render(args: argparse.Namespace, settings: Settings) -> int:
    try:
        raw = json.loads(args.file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise Failure(f"cannot read {args.file}: {exc.strerror}") from None
    except ValueError as exc:
        raise Failure(f"{args.file} is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise Failure(f"{args.file} does not hold an action-execution object")
    try:
        action = ActionExecution.model_validate(raw)
    except ValidationError as exc:  # pragma: no cover - the models are lenient; kept for safety
        raise Failure(f"{args.file} is not an action execution: {exc.errors()[0]['msg']}") from None
    report = offline_report(action, settings, lines=args.lines or settings.log_lines)
    print(json.dumps(render_summary(report, secret_key_regex=settings.secret_key_regex), indent=2, ensure_ascii=False))
    return EXIT_OK


def offline_report(action: ActionExecution, settings: Settings, *, lines: int) -> RunReport:
    """A report from a saved response alone: no execution, the approver from Buddy's own output."""
    found = find_references(action.html_url or "", hosts=settings.buddy_hosts)
    ref = found.refs[0] if found.refs else BuddyRef(host=settings.buddy_default_host, workspace="?", project="?", pipeline_id=0)
    approver = None
    if action.approver_id is not None:
        approver = approver_from_outputs(action) or f"user #{action.approver_id}"
    log_lines = action.log or []
    return RunReport(
        ref=ref,
        action=action,
        execution=None,
        approver_name=approver,
        log_tail=log_lines[-lines:],
        log_total_lines=len(log_lines) if action.log is not None else None,
    )


def _print_report(report: RunReport, settings: Settings, *, as_json: bool) -> None:
    if as_json:
        message = render_summary(report, secret_key_regex=settings.secret_key_regex)
        print(json.dumps(message, indent=2, ensure_ascii=False))
        return
    print(render_plain(report, secret_key_regex=settings.secret_key_regex))
    tail = render_log_tail(report, secret_key_regex=settings.secret_key_regex)
    if tail:
        print()
        print(f"--- {log_tail_title(report)} ---")
        print(tail)


def configure_logging(level: str, *, secrets: Iterable[str] = (), log_format: str = "text") -> None:
    """Logs to stderr, as text or (``log_format="json"``) one JSON object per line.

    ``secrets`` join the process's known secrets (``bot.secrets_seen``): they, anything token-shaped
    and every secret value met later never reach the log, whoever logs them, nor a message posted.
    """
    SEEN.pin(secrets)
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter(json_lines=log_format == "json"))
    handler.addFilter(RequestBodyFilter())
    logging.basicConfig(level=level.upper(), handlers=[handler])
    # What would otherwise go to stderr on its own goes through the formatter: blanked, and one JSON line.
    logging.captureWarnings(True)
    sys.excepthook = log_uncaught
    # httpx logs every request URL at INFO; ours are token-free, but they are noise at that level.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # aiosqlite logs every statement twice at DEBUG, with its rows: the state's payloads (whole Slack
    # requests, response_urls and all) would fill the log.
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
    # slack_sdk formats its DEBUG lines (whole request and response bodies) whenever its own logger has
    # no level, printed or not: a cost on every Slack call.
    logging.getLogger("slack_sdk.web.async_base_client").setLevel(level.upper())
