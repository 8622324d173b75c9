"""Group commit: writes that arrive together go into the store in one transaction.

Under a burst (200 commands at once), every request's unit of work must be written before its
acknowledgement leaves; one transaction each would queue the acknowledgements behind one another on
the store's connection. Each caller still waits until its own write is committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    def __init__(self, flush: Callable[[list[T]], Awaitable[list[R]]]) -> None:
        self._flush = flush
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._flusher: asyncio.Task | None = None

    async def submit(self, item: T) -> R:
        """Writes ``item`` with whatever else is waiting; its own result, or the transaction's error."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_all())
        return await future

    async def _flush_all(self) -> None:
        try:
            await asyncio.sleep(0)  # those arriving in the same turn of the event loop join this batch
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    results = await self._flush([item for item, _ in batch])
                except Exception as exc:  # every writer of the batch hears of it (StateUnavailable)
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._flusher = None
