"""Snippet uploads take turns, so that summaries go first.

A snippet costs three Slack calls (upload URL, upload, complete) where its summary costs one. Under a
burst of answers, every snippet uploading at once would queue the summaries people wait for behind
other answers' uploads, and run into Slack's rate limits for files. At most SNIPPET_UPLOADS_AT_ONCE
upload at the same moment; the others wait for their turn (measured with ``bench/``).
"""

from __future__ import annotations

import asyncio
import weakref

SNIPPET_UPLOADS_AT_ONCE = 8

_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def upload_turn() -> asyncio.Semaphore:
    """The running event loop's turns (a semaphore belongs to one loop; tests run several)."""
    loop = asyncio.get_running_loop()
    turns = _turns.get(loop)
    if turns is None:
        turns = _turns[loop] = asyncio.Semaphore(SNIPPET_UPLOADS_AT_ONCE)
    return turns
