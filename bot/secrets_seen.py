"""The secrets this process knows of, kept out of every message it posts and every line it logs.

Two kinds: the bot's own credentials (tokens, the signing secret, the webhook token), pinned for the
life of the process; and the values of secret variables that Buddy sends with each run, learnt when
a run is rendered and kept in a bounded LRU, so that no later log line or message shows them either.

A value is searched for in every form it takes on its way into a log line or a message: as it is;
percent-encoded (form bodies and URLs, ``+`` or ``%20`` for a space, upper-case hex as RFC 3986 asks
and every library on the way writes it); JSON-escaped (with or without ``\\u`` escapes and ``\\/``,
and JSON in JSON) and Python-escaped (a body logged as a dict); mrkdwn-escaped (``&amp;``); and
base64 (the aligned part). A multi-line value is also searched for line by line (a key printed into
a log one line at a time), and a long one as consecutive pieces.

Values shorter than MIN_SECRET_CHARS are not searched for: "1" or "prod" would blank ordinary words
everywhere, and no token, key or generated password is that short. They are still masked where they
are shown as variables.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from urllib.parse import quote, quote_plus

MIN_SECRET_CHARS = 8
# Entries remembered at most (a value, a line of one, or a piece of a long one), besides the pinned
# credentials. They cost memory (3 to 15 kB each with their forms), not search time (see the grams).
MAX_REMEMBERED = 2000
# Longer lines are remembered as consecutive pieces this long: memory stays bounded, and a piece's
# forms add up to the whole line's (each encoding goes character by character).
PIECE_CHARS = 256
# A value is searched for up to this long (a certificate or a key is a few kB). One call to
# ``remember`` (one run) takes at most a quarter of the room, so no run pushes all others out.
MAX_VALUE_CHARS = 64 * 1024


def forms(text: str) -> set[str]:
    """Every text ``text`` can appear as in a log line or a message, at least MIN_SECRET_CHARS long."""
    found = {
        text,
        quote(text, safe="", errors="surrogatepass"),
        quote(text, errors="surrogatepass"),
        quote_plus(text, errors="surrogatepass"),
        json.dumps(text)[1:-1],
        json.dumps(text, ensure_ascii=False)[1:-1],
        json.dumps(json.dumps(text)[1:-1])[1:-1],  # JSON in JSON: a body logged as a JSON line
        repr(text)[1:-1],
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
    }
    found |= {form.replace("/", "\\/") for form in found if "/" in form}
    raw = text.encode("utf-8", "surrogatepass")
    aligned = raw[: len(raw) // 3 * 3]  # the part of the encoding that what follows cannot change
    found |= {base64.b64encode(aligned).decode(), base64.urlsafe_b64encode(aligned).decode()}
    return {form for form in found if len(form) >= MIN_SECRET_CHARS}


def secret_texts(value: str) -> Iterator[str]:
    """What to search for to find ``value``: itself, each of its lines, pieces of a long one."""
    value = value[:MAX_VALUE_CHARS]
    texts = {value, value.strip()}
    if "\n" in value or "\r" in value:
        texts.update(line.strip() for line in value.splitlines())
    for text in sorted(texts):
        if len(text) < MIN_SECRET_CHARS:
            continue
        start = 0
        while start < len(text):
            end = start + PIECE_CHARS
            if len(text) - end < MIN_SECRET_CHARS:  # what is left would be too short to be searched for alone
                end = len(text)
            yield text[start:end]
            start = end


# Secrets are found by their 4-character pieces ("grams"), looked up at every 5th position of a
# text: a secret of MIN_SECRET_CHARS or more covers a whole gram at one of those positions, at an
# offset of 0 to 4 into it. So a search costs a dictionary lookup per 5 characters, however many
# secrets are known (searching for each in turn costs a pass over the text per secret).
_GRAM = 4
_STEP = MIN_SECRET_CHARS - _GRAM + 1
FEW_FORMS = 64  # up to this many, each form is searched for in turn instead (str.find is that fast)
Grams = dict[str, list[tuple[int, str]]]  # gram -> (its offset in a secret's form, that form)


class SecretRegistry:
    """Secrets to blank, each with all its forms. Safe to use from any thread: it changes under a
    lock, and a search only looks entries up (one being added or dropped may be missed meanwhile)."""

    def __init__(self, capacity: int = MAX_REMEMBERED) -> None:
        self.capacity = capacity
        self._lock = threading.Lock()
        self._pinned: set[str] = set()
        self._seen: OrderedDict[str, set[str]] = OrderedDict()  # text -> its forms, least recently met first
        self._grams: Grams = {}
        self._holders: dict[str, int] = {}  # form -> how many known texts have it (two can share one)
        self._forgotten_entries = 0
        self._few: tuple[str, ...] | None = ()  # every form while there are at most FEW_FORMS, else None

    def __len__(self) -> int:
        return len(self._seen)

    def pin(self, values: Iterable[str]) -> None:
        """Credentials: blanked for as long as the process lives."""
        self._add(values, pinned=True)

    def remember(self, values: Iterable[str]) -> None:
        """Values met at run time; the least recently met are forgotten beyond ``capacity``."""
        self._add(values, pinned=False)

    def _add(self, values: Iterable[str], *, pinned: bool) -> None:
        every_text = (text for value in values if value for text in secret_texts(value))
        texts = list(every_text if pinned else itertools.islice(every_text, max(1, self.capacity // 4)))
        with self._lock:
            for text in texts:
                if text in self._pinned:
                    continue
                if text in self._seen:
                    if pinned:  # its forms are indexed already, and now stay
                        self._seen.pop(text)
                        self._pinned.add(text)
                    else:
                        self._seen.move_to_end(text)
                    continue
                text_forms = forms(text)
                self._index(text_forms)
                if pinned:
                    self._pinned.add(text)
                else:
                    self._seen[text] = text_forms
            while len(self._seen) > self.capacity:
                self._unindex(self._seen.popitem(last=False)[1])
            self._few = tuple(self._holders) if len(self._holders) <= FEW_FORMS else None

    def _index(self, text_forms: set[str]) -> None:
        for form in text_forms:
            self._holders[form] = self._holders.get(form, 0) + 1
            if self._holders[form] == 1:
                for offset in range(_STEP):
                    # Appended in place: a search going through the list meanwhile is unharmed.
                    self._grams.setdefault(form[offset : offset + _GRAM], []).append((offset, form))

    def _unindex(self, text_forms: set[str]) -> None:
        """Forgets forms at once; their entries are swept out later, all together, once there are
        as many forgotten entries as live ones (searches skip them meanwhile)."""
        for form in text_forms:
            self._holders[form] -= 1
            if not self._holders[form]:
                del self._holders[form]
                self._forgotten_entries += _STEP
        if self._forgotten_entries > _STEP * len(self._holders):
            grams: Grams = {}
            for form in self._holders:
                for offset in range(_STEP):
                    grams.setdefault(form[offset : offset + _GRAM], []).append((offset, form))
            self._grams, self._forgotten_entries = grams, 0

    def scrub(self, text: str, mask: str, *, open_end: bool = False) -> str:
        """``text`` with every known secret, in any of its forms, replaced by ``mask``.

        ``open_end``: ``text`` is the start of a longer one, so a secret begun at its end (whose
        rest was cut off) is blanked too, from where it begins, when at least MIN_SECRET_CHARS of it
        are there.
        """
        if len(text) < MIN_SECRET_CHARS:
            return text
        few = self._few
        spans = _found_each(text, few, open_end) if few is not None else self._found_by_grams(text, open_end)
        return _masked(text, spans, mask) if spans else text

    def _found_by_grams(self, text: str, open_end: bool) -> list[tuple[int, int]]:
        grams, holders = self._grams, self._holders
        spans = []
        for at in range(0, len(text) - _GRAM + 1, _STEP):
            for offset, form in grams.get(text[at : at + _GRAM], ()):
                start = at - offset
                if start < 0 or form not in holders:
                    continue
                if text.startswith(form, start):
                    spans.append((start, start + len(form)))
                elif open_end and MIN_SECRET_CHARS <= len(text) - start < len(form) and form.startswith(text[start:]):
                    spans.append((start, len(text)))
        return spans


def _found_each(text: str, every_form: tuple[str, ...], open_end: bool) -> list[tuple[int, int]]:
    """Where the forms occur in ``text``, each searched for in turn (str.find): for a few, faster
    than the grams."""
    spans = []
    for form in every_form:
        at = text.find(form)
        while at != -1:
            spans.append((at, at + len(form)))
            at = text.find(form, at + 1)
        if open_end:  # a beginning of at least MIN_SECRET_CHARS in the last len(form) - 1 characters
            at = text.find(form[:MIN_SECRET_CHARS], max(0, len(text) - len(form) + 1))
            while at != -1 and not form.startswith(text[at:]):
                at = text.find(form[:MIN_SECRET_CHARS], at + 1)
            if at != -1:
                spans.append((at, len(text)))
    return spans


def _masked(text: str, spans: list[tuple[int, int]], mask: str) -> str:
    """``text`` with each run of overlapping ``spans`` replaced by one ``mask``."""
    pieces = []
    kept_to = 0
    for start, end in sorted(spans):
        if start > kept_to:
            pieces += [text[kept_to:start], mask]
        elif not pieces:
            pieces.append(mask)
        kept_to = max(kept_to, end)
    pieces.append(text[kept_to:])
    return "".join(pieces)


SEEN = SecretRegistry()
