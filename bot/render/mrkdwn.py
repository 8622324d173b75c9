"""Slack mrkdwn text: cleaning, escaping, cutting to length, links, dates and code blocks.

Anything that came from Buddy goes through `esc` before it is put into mrkdwn. Slack reads `<…>` as
links, mentions (`<!channel>`, `<@U…>`) and dates, and only `&`, `<` and `>` need escaping there; a
full HTML escape would show an apostrophe as `&#39;` (slack-platform.md §4).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from bot.render.limits import slack_len
from bot.render.timing import utc_text

ELLIPSIS = "…"
# Longest URL we put inside a mrkdwn link; a longer one would eat the text budget of a field.
MAX_LINK_URL = 500

# C0 controls but tab and newline, DEL, bidi overrides/isolates (they can make text read backwards,
# "Trojan Source"), and lone surrogates (they cannot be encoded, so the request would fail).
_INVISIBLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_WHITESPACE = re.compile(r"\s+")
# RFC 3986 characters only: no spaces, quotes or `<>|`, which would end or break a Slack link.
_WEB_URL = re.compile(r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+", re.IGNORECASE)
_ENTITY_TAIL = 4  # "&amp" is the longest piece of an entity that a cut can leave behind


def clean(text: str, *, one_line: bool = False) -> str:
    """`text` without invisible control characters; with `one_line`, all whitespace runs become one space."""
    text = _INVISIBLE.sub("", text)
    return _WHITESPACE.sub(" ", text).strip() if one_line else text


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def head(text: str, units: int) -> str:
    """The start of `text`, at most `units` UTF-16 units long, never splitting a character."""
    encoded = text[:units].encode("utf-16-le", "surrogatepass")[: 2 * units]
    return encoded.decode("utf-16-le", "ignore")


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` UTF-16 units, ending in "…" when cut. For text that is not escaped."""
    if slack_len(text) <= limit:
        return text
    return head(text, limit - 1) + ELLIPSIS


class Scrubber(Protocol):
    """Masks secrets in a text; ``open_end``: the text was cut, a secret may begin at its end."""

    def __call__(self, text: str, *, open_end: bool = False) -> str: ...


def esc(raw: str | None, limit: int, *, one_line: bool = True, scrub: Scrubber | None = None) -> str:
    """Buddy's `raw` text cleaned, escaped, and cut to `limit` without breaking an `&…;` entity;
    with `scrub`, secrets are masked before anything is cut."""
    raw = raw or ""
    # Only a window of the start can survive, so a 10 MB value is never cleaned or escaped whole;
    # the window leaves room for invisible characters and whitespace runs that cleaning removes.
    window = raw[: 4 * limit + 64]
    whole = len(window) == len(raw)
    if scrub is None:
        cleaned = clean(window, one_line=one_line)
    else:  # before cleaning as they are, and after: an invisible character inside one hides it
        cleaned = scrub(clean(scrub(window, open_end=not whole), one_line=one_line), open_end=not whole)
    text = escape(cleaned[: limit + 1])
    if slack_len(text) <= limit and whole:
        return text
    cut = head(text, limit - 1)
    amp = cut.rfind("&", max(0, len(cut) - _ENTITY_TAIL))
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + ELLIPSIS


def is_web_url(url: str | None) -> bool:
    return url is not None and _WEB_URL.fullmatch(url) is not None


def link(url: str | None, label: str) -> str:
    """`label` (already escaped) linked to `url`; just the label when the URL is unsafe or too long."""
    if url is None or not is_web_url(url) or len(escape(url)) > MAX_LINK_URL:
        return label
    return f"<{escape(url)}|{label}>"


def date_token(when: datetime) -> str:
    """A date Slack shows in the reader's time zone, with a UTC fallback. `when` must be in UTC."""
    return f"<!date^{int(when.timestamp())}^{{date_short}} {{time}}|{utc_text(when)}>"


def more_line(hidden: int) -> str:
    return f"{ELLIPSIS}and {hidden:,} more"


def fit_lines(lines: Sequence[str], limit: int, *, total: int | None = None) -> str:
    """As many whole `lines` as fit in `limit`, then "…and N more" for the rest of `total` lines.

    `total` (default: len(lines)) lets a caller format only the lines that could be shown.
    """
    total = len(lines) if total is None else total
    reserve = slack_len(more_line(total)) + 1
    kept: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        cost = slack_len(line) + (1 if kept else 0)
        room = limit if index == total - 1 else limit - reserve
        if used + cost > room:
            break
        kept.append(line)
        used += cost
    if len(kept) < total:
        kept.append(more_line(total - len(kept)))
    return "\n".join(kept)


def code_block(escaped: str) -> str:
    """`escaped` in a ``` block that its own backticks cannot close early.

    A zero-width space after each backtick keeps "```" in a log line from ending the block. The
    result is up to twice as long as the input, which callers budget for.
    """
    body = escaped.replace("`", "`\u200b")
    if body.startswith("`"):
        body = "\u200b" + body
    return f"```{body}```"
