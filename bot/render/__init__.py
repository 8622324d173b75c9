"""Pure renderers: a RunReport in, Slack Block Kit dicts or plain text out (no Slack SDK, no I/O)."""

from bot.render.limits import block_kit_violations
from bot.render.logtail import inline_log_block, log_tail_title, render_log_tail
from bot.render.overview import render_overview
from bot.render.plain import render_plain
from bot.render.summary import render_summary
from bot.render.unfurl import render_unfurl

__all__ = [
    "block_kit_violations",
    "inline_log_block",
    "log_tail_title",
    "render_log_tail",
    "render_overview",
    "render_plain",
    "render_summary",
    "render_unfurl",
]
