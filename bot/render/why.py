"""The "Why it failed" section: the first error with its context, the failed tests, the line number.

The finder (``bot.why``) hands over raw log lines; here they lose their colours and control
characters, secret values are masked (``clean_log_line``), and what is left is escaped and cut to fit
Block Kit's limits. The same facts are shown in three forms: a section of the summary (mrkdwn), lines
for the terminal (plain text), and one line for a link preview (the error alone: everyone sees it).
"""

from __future__ import annotations

from collections.abc import Callable

from bot.render.blocks import Block, section
from bot.render.limits import slack_len
from bot.render.logtail import clean_log_line
from bot.render.mrkdwn import ELLIPSIS, clean, clip, code_block, esc
from bot.render.scrub import scrub
from bot.why.model import Why

TITLE = "Why it failed"
CONTEXT_LINES = 3  # shown before and after the error, at most
ERROR_MARK = "› "  # marks the error lines in a code block and in the terminal
CONTEXT_MARK = "  "
ERROR_LINE_CHARS = 400  # one error line, escaped
CONTEXT_LINE_CHARS = 200  # one line of context, escaped
# The code block, counted as Slack counts it (code_block adds a character per backtick); with the
# title and the tests line the section stays near 2,200 characters, which the summary's total budgets.
CODE_CHARS = 1600
MAX_ERROR_LINES = 40  # error lines looked at; a finder's bigger span is counted, not shown
TEST_NAME_CHARS = 120
TEST_NAMES = 10  # names shown, at most; the rest are counted
TESTS_CHARS = 500
UNFURL_ERROR_CHARS = 200
PLAIN_LINE_CHARS = 500


def why_blocks(why: Why | None) -> list[Block]:
    """The summary's section: title with the line number, the error in a code block, the failed tests."""
    if why is None:
        return []
    before, error, after = _parts(why)
    parts = [f"*{TITLE}*" + _where(why, len(error), " · {}")]
    code = _code_lines(
        [esc(_log_text(line), ERROR_LINE_CHARS, one_line=False, scrub=scrub) for line in error[:MAX_ERROR_LINES]],
        len(error),
        [esc(_log_text(line), CONTEXT_LINE_CHARS, one_line=False, scrub=scrub) for line in before],
        [esc(_log_text(line), CONTEXT_LINE_CHARS, one_line=False, scrub=scrub) for line in after],
    )
    if code:
        parts.append(code_block("\n".join(code)))
    tests = _tests_line(why, lambda name: _inline_code(esc(_log_text(name), TEST_NAME_CHARS, scrub=scrub)), TESTS_CHARS)
    if tests:
        parts.append(tests)
    if len(parts) == 1:  # neither an error line nor a failed test: nothing worth a section
        return []
    return [section("\n".join(parts))]


def why_unfurl_line(why: Why | None) -> str:
    """The first error line for a preview, escaped, in inline code; "" when there is none."""
    if why is None:
        return ""
    _, error, _ = _parts(why)
    for line in error[:MAX_ERROR_LINES]:
        shown = _inline_code(esc(_log_text(line), UNFURL_ERROR_CHARS, scrub=scrub))
        if shown:
            return shown
    return ""


def why_plain_lines(why: Why | None) -> list[str]:
    """The section for the terminal: not escaped, but without colours or control characters."""
    if why is None:
        return []
    before, error, after = _parts(why)
    lines: list[str] = []
    if error:
        lines += [f"  {CONTEXT_MARK}{_plain(line)}".rstrip() for line in before]
        lines += [f"  {ERROR_MARK}{_plain(line)}".rstrip() for line in error[:MAX_ERROR_LINES]]
        if len(error) > MAX_ERROR_LINES:
            lines.append(f"  {ERROR_MARK}{_more_errors(len(error) - MAX_ERROR_LINES)}")
        lines += [f"  {CONTEXT_MARK}{_plain(line)}".rstrip() for line in after]
    tests = _tests_line(why, lambda name: clip(clean(_log_text(name), one_line=True), TEST_NAME_CHARS), PLAIN_LINE_CHARS)
    if tests:
        lines.append(f"  {tests}")
    if not lines:
        return []
    return [TITLE + _where(why, len(error), " ({})") + ":", *lines]


def _parts(why: Why) -> tuple[list[str], list[str], list[str]]:
    """(context before, error lines, context after), with at most CONTEXT_LINES on either side; a
    finder's indices out of range are clamped rather than trusted."""
    start = min(max(why.error_start, 0), len(why.context))
    end = min(max(why.error_end, start), len(why.context))
    return why.context[max(0, start - CONTEXT_LINES) : start], why.context[start:end], why.context[end : end + CONTEXT_LINES]


def _where(why: Why, error_count: int, template: str) -> str:
    """ "line 1,234 of the log" (or "lines 1,234–1,236"), put into ``template``; "" without a line number."""
    if why.line_number < 1:
        return ""
    if error_count > 1:
        return template.format(f"lines {why.line_number:,}–{why.line_number + error_count - 1:,} of the log")
    return template.format(f"line {why.line_number:,} of the log")


def _log_text(line: str) -> str:
    """What a terminal shows of a log line, secrets masked, on one line (a line may hold a newline)."""
    return clean_log_line(line).replace("\n", " ")


def _plain(line: str) -> str:
    return clip(clean(_log_text(line)).replace("\t", "    "), PLAIN_LINE_CHARS)


def _code_lines(error: list[str], error_count: int, before: list[str], after: list[str]) -> list[str]:
    """The marked lines that fit in CODE_CHARS: the error lines first (then a count of those left
    out, of ``error_count`` in all), then the context nearest to them, so that what is shown is one
    stretch of the log."""
    budget = CODE_CHARS - 8  # the fences, and a zero-width space before a leading backtick

    def cost(line: str) -> int:
        return slack_len(line) + line.count("`") + 1  # code_block adds a character per backtick; the newline

    shown: list[str] = []
    for number, line in enumerate(error):
        marked = (ERROR_MARK + line).rstrip()
        reserve = cost(ERROR_MARK + _more_errors(error_count)) if number + 1 < error_count else 0
        if cost(marked) + reserve > budget:
            break
        shown.append(marked)
        budget -= cost(marked)
    if not shown:
        return []
    if len(shown) < error_count:
        shown.append(ERROR_MARK + _more_errors(error_count - len(shown)))  # reserved above
    nearest_first = [(distance, True, line) for distance, line in enumerate(reversed(before), 1)]
    nearest_first += [(distance, False, line) for distance, line in enumerate(after, 1)]
    nearest_first.sort(key=lambda item: item[0])
    kept_before: list[str] = []
    kept_after: list[str] = []
    for _, is_before, line in nearest_first:
        marked = (CONTEXT_MARK + line).rstrip()
        if cost(marked) > budget:
            break  # a farther line would leave a gap
        (kept_before if is_before else kept_after).append(marked)
        budget -= cost(marked)
    return [*reversed(kept_before), *shown, *kept_after]


def _more_errors(count: int) -> str:
    return f"{ELLIPSIS}{count:,} more error lines"


def _tests_line(why: Why, show: Callable[[str], str], limit: int) -> str:
    """ "3 tests failed: a, b, c … and 2 more", as many names as fit in ``limit``; "" when none failed."""
    total = max(why.failed_test_count, len(why.failed_tests))
    if total < 1:
        return ""
    lead = f"{total:,} test failed" if total == 1 else f"{total:,} tests failed"
    names: list[str] = []
    used = slack_len(lead) + 2
    for name in why.failed_tests[:TEST_NAMES]:
        shown = show(name)
        if not shown:
            continue
        rest = f" {ELLIPSIS} and {total:,} more"
        if used + slack_len(shown) + 2 + slack_len(rest) > limit:
            break
        names.append(shown)
        used += slack_len(shown) + 2
    if not names:
        return lead
    hidden = total - len(names)
    return f"{lead}: " + ", ".join(names) + (f" {ELLIPSIS} and {hidden:,} more" if hidden > 0 else "")


def _inline_code(escaped: str) -> str:
    """``escaped`` in inline code; a backtick in it would end the code early, so it becomes a quote."""
    return "`" + escaped.replace("`", "'") + "`" if escaped.strip() else ""
