"""Reading the end of an action's log through the paginated ``/logs`` endpoint.

A first page from the start says how long the log is (``total_element_count``); then the pages that
hold the wanted last lines are read going back from the end, all at once, each of at most
``PAGE_MAX`` lines, the endpoint's largest. The first page counts towards the window where the two
overlap, so a log no longer than it costs one call. A snippet's tail (``LOG_LINES``) and a failed
action's window for the finder (``WHY_MAX_LINES``) are the same read, of different sizes: for
``size`` lines the calls are ``1 + ceil(size / PAGE_MAX)`` at most (see ``pages_back``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.buddy import errors
from bot.buddy.models import LogPage

log = logging.getLogger(__name__)

PAGE_MAX = 1000  # the logs endpoint's largest page

# Reads ``limit`` lines of the log from line ``offset`` (0-based).
FetchPage = Callable[[int, int], Awaitable[LogPage]]


@dataclass(frozen=True)
class LogWindow:
    """The last lines of a log: ``lines`` starts at line ``start`` (0-based) of the whole log, which
    has ``total`` lines (None when Buddy did not say)."""

    lines: list[str] = field(default_factory=list)
    start: int = 0
    total: int | None = None

    @property
    def first_line_number(self) -> int:
        """The 1-based number, in the whole log, of the window's first line."""
        return self.start + 1

    def last(self, count: int) -> LogWindow:
        """The window's last ``count`` lines, numbered as before."""
        kept = self.lines[-count:] if count > 0 else []
        return LogWindow(kept, self.start + len(self.lines) - len(kept), self.total)


def window_of(log: list[str], size: int) -> LogWindow:
    """The last ``size`` lines of a log already in hand (the details' ``log[]``): no call."""
    return LogWindow(list(log[-size:]), max(0, len(log) - size), len(log))


def pages_back(total: int, have: int, size: int) -> list[tuple[int, int]]:
    """The ``(offset, limit)`` pages, from the end back, that hold the last ``size`` lines of a
    ``total``-line log when its first ``have`` lines are already read."""
    start = max(0, total - size, have)
    pages = []
    end = total
    while end > start:
        offset = max(start, end - PAGE_MAX)
        pages.append((offset, end - offset))
        end = offset
    return pages


async def read_last(fetch: FetchPage, size: int, *, first_page: int) -> LogWindow:
    """The last ``size`` lines of a log, read with ``fetch``: a first page of ``first_page`` lines
    from the start, then ``pages_back``. A page that fails or comes back short ends the window there
    (going back from the end); only the last page failing fails the read."""
    first = await fetch(0, min(first_page, PAGE_MAX))
    head = first.logs or []
    total = first.total_element_count
    if total is None or total <= len(head):
        return window_of(head, size)
    plan = pages_back(total, len(head), size)
    pages = await asyncio.gather(*(fetch(offset, limit) for offset, limit in plan), return_exceptions=True)
    lines: list[str] = []
    start = total
    for (offset, limit), page in zip(plan, pages, strict=True):
        if isinstance(page, BaseException):
            if start == total or not isinstance(page, errors.BuddyError):
                raise page
            log.info("log page at line %s not read (%s): the window starts after it", offset, type(page).__name__)
            break
        got = page.logs or []
        if start == total:  # the last page: numbered from its offset, whatever its length
            lines, start = list(got), offset
        elif len(got) == limit:
            lines, start = got + lines, offset
        else:
            break
    wanted_start = max(0, total - size)
    if wanted_start < start <= len(head):  # the first page holds the window's beginning
        lines, start = head[wanted_start:start] + lines, wanted_start
    return LogWindow(lines, start, total)
