"""What ``/buddy run`` asks for: ``<pipeline link> [branch=…] [revision=…] [KEY=value …] [comment="…"]``.

Pure and bounded: no Buddy call, so a malformed line is told at once, in the acknowledgement, saying
which word is wrong and what was expected.

The text is read as Slack sends it: ``&``, ``<`` and ``>`` typed by the person arrive as ``&amp;``,
``&lt;`` and ``&gt;``, and a link as ``<url>`` or ``<url|label>``. Values may be quoted, with straight
or curly quotes alike, since Slack clients turn one into the other (“…”, „…“, ‘…’ and "…", '…'). A
quote opens only at the start of a value (right after ``KEY=``), so an apostrophe in an unquoted word
stays an apostrophe, and so does one inside quotes that does not end the word (‘it’s’); inside
quotes, a backslash makes the next quote (or backslash) a plain character.
``format_arguments`` writes a request back as such a line: parsing it gives the same request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from bot.buddy.refs import BuddyRef, find_project_references, find_references, foreign_hosts

MAX_TEXT = 4000
MAX_VARIABLES = 50
MAX_KEY = 100
MAX_VALUE = 1000
MAX_COMMENT = 500
MAX_BRANCH = 255
RESERVED = ("branch", "revision", "comment")

DOUBLE_QUOTES = '"“”„'
SINGLE_QUOTES = "'‘’‚"
QUOTES = DOUBLE_QUOTES + SINGLE_QUOTES

USAGE = (
    'Usage: `/buddy run <pipeline link> [branch=<name>] [revision=<sha>] [KEY=value …] [comment="…"]`, '
    'for example `/buddy run https://app.buddy.works/acme/web/pipelines/pipeline/7 branch=main VERSION=1.2 comment="hotfix"`.'
)

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_REVISION = re.compile(r"[0-9a-fA-F]{4,64}")
# Git refuses these in a branch name (git check-ref-format); Buddy would refuse the run anyway.
_BAD_BRANCH = re.compile(r"[\s~^:?*\[\\\x00-\x1f\x7f]|\.\.|@\{|//|^[/.-]|[/.]$|\.lock$")
# A link in a value, as Slack sends one with "escape links" on: the address is the value.
# What may stand before the "=" of KEY=value: a link's query ("…?actionExecutionId=…") may not.
_KEYLIKE = re.compile(r"[\w.-]*")
_SLACK_LINK = re.compile(r"<((?:https?|mailto):[^<>|\s]+)(?:\|[^<>]*)?>")


class UsageError(ValueError):
    """The line cannot be read; the message names the word and what was expected."""


@dataclass(frozen=True)
class RunRequest:
    """A run to start: the pipeline, and what the person chose (None: Buddy's default or the pipeline's)."""

    pipeline: BuddyRef
    branch: str | None = None
    revision: str | None = None
    variables: tuple[tuple[str, str], ...] = ()
    comment: str | None = None

    @property
    def label(self) -> str:
        """How to name the pipeline before Buddy has said its name."""
        return f"pipeline {self.pipeline.pipeline_id} of {self.pipeline.workspace}/{self.pipeline.project}"


@dataclass(frozen=True)
class _Word:
    key: str | None  # as typed, before "="; None for a word without "="
    value: str  # unquoted, Slack's escapes undone
    raw: str  # the word as typed
    shown: str  # the same, cut to one short line, for messages


def parse_run(text: str, *, hosts: tuple[str, ...] = ()) -> RunRequest:
    """The request in ``text`` (what follows ``run``); UsageError says what is wrong with it."""
    if len(text) > MAX_TEXT:
        raise UsageError(f"That is {len(text):,} characters; `/buddy run` takes at most {MAX_TEXT:,}. {USAGE}")
    words = _words(text)
    if not words:
        raise UsageError(f"Which pipeline should I run? {USAGE}")
    first, *rest = words
    if first.key is not None:
        raise UsageError(f"Put the pipeline link first, before “{first.shown}”. {USAGE}")
    pipeline = _pipeline(first.raw, hosts)
    chosen: dict[str, str] = {}
    variables: dict[str, str] = {}
    for index, word in enumerate(rest):
        if word.key is None:
            raise UsageError(_not_a_pair(word, rest[index - 1] if index else first))
        name = word.key.lower()
        if name in RESERVED:
            if name in chosen:
                raise UsageError(f"`{name}=` is given twice; give it once.")
            chosen[name] = _reserved(name, word)
            continue
        _check_variable(word, variables)
        variables[word.key] = word.value
    return RunRequest(
        pipeline,
        branch=chosen.get("branch"),
        revision=chosen.get("revision"),
        variables=tuple(variables.items()),
        comment=chosen.get("comment"),
    )


def format_arguments(request: RunRequest) -> str:
    """The line (as Slack would send it) that ``parse_run`` reads back as ``request``."""
    parts = [request.pipeline.web_url]
    if request.branch is not None:
        parts.append(f"branch={quote(request.branch)}")
    if request.revision is not None:
        parts.append(f"revision={quote(request.revision)}")
    parts += [f"{key}={quote(value)}" for key, value in request.variables]
    if request.comment is not None:
        parts.append(f"comment={quote(request.comment)}")
    return " ".join(parts)


def quote(value: str, *, opening: str = '"', closing: str = '"') -> str:
    """``value`` as a person would type it (Slack-escaped): bare when it can be, else in quotes."""
    escaped = slack_escape(value)
    if escaped and not any(c.isspace() for c in escaped) and escaped[0] not in QUOTES:
        return escaped
    inner = "".join("\\" + c if c in DOUBLE_QUOTES or c == "\\" else c for c in escaped)
    return f"{opening}{inner}{closing}"


def slack_escape(text: str) -> str:
    """What Slack does to the ``&``, ``<`` and ``>`` a person types."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_unescape(text: str) -> str:
    text = _SLACK_LINK.sub(lambda m: m.group(1), text)
    # "&amp;" last, so that "&amp;lt;" (a typed "&lt;") becomes "&lt;", not "<".
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _words(text: str) -> list[_Word]:
    words: list[_Word] = []
    at, end = 0, len(text)
    while True:
        while at < end and text[at].isspace():
            at += 1
        if at >= end:
            return words
        word, at = _word(text, at)
        words.append(word)


def _word(text: str, start: int) -> tuple[_Word, int]:
    """One word from ``start``: [KEY=]value, the value bare or quoted. Returns it and where it ends."""
    at, end = start, len(text)
    key: str | None = None
    value: list[str] = []
    quoted = False
    while at < end and not text[at].isspace():
        char = text[at]
        value_starts = not value and not quoted and (at == start or key is not None)
        if char in QUOTES and value_starts:
            closing = DOUBLE_QUOTES if char in DOUBLE_QUOTES else SINGLE_QUOTES
            inner, at = _quoted(text, at, closing, key)
            value.append(inner)
            quoted = True
            break
        if char == "<":  # a Slack link or mention, whose label may hold spaces
            close = text.find(">", at)
            if close == -1:
                raise UsageError(f"“{_shown(text[start : at + 40])}” opens a link with < but never closes it with >.")
            value.append(text[at : close + 1])
            at = close + 1
            continue
        if char == "=" and key is None and _KEYLIKE.fullmatch("".join(value)):
            key, value = "".join(value), []
            at += 1
            continue
        value.append(char)
        at += 1
    joined = "".join(value)
    return _Word(key, joined if quoted else _slack_unescape(joined), text[start:at], _shown(text[start:at])), at


def _quoted(text: str, opening_at: int, closing: str, key: str | None) -> tuple[str, int]:
    """The text between the quote at ``opening_at`` and its closing quote (one that ends the word:
    another is an apostrophe, as in ‘it’s’), escapes undone."""
    at, end = opening_at + 1, len(text)
    inner: list[str] = []
    while at < end:
        char = text[at]
        if char == "\\" and at + 1 < end and (text[at + 1] in QUOTES or text[at + 1] == "\\"):
            inner.append(text[at + 1])
            at += 2
            continue
        if char in closing and (at + 1 == end or text[at + 1].isspace()):
            return _slack_unescape("".join(inner)), at + 1
        inner.append(char)
        at += 1
    what = f"the value of `{key}=`" if key is not None else "a quoted word"
    raise UsageError(
        f"The quote that opens {what} (“{_shown(text[opening_at : opening_at + 40])}”) is never closed. {_QUOTE_HINT}"
    )


_QUOTE_HINT = (
    'Quote a value with spaces whole, like comment="deploy the fix"; a quote inside it is written \\", '
    "or put the value in the other kind of quotes."
)


def _shown(text: str) -> str:
    """A piece of the line, for a message: one line, cut."""
    flat = " ".join(text.split())
    return flat if len(flat) <= 60 else flat[:59] + "…"


def _pipeline(word: str, hosts: tuple[str, ...]) -> BuddyRef:
    found = find_references(word, hosts=hosts, whole_argument=False, limit=1).refs
    if found:
        # A run's link stands for its pipeline.
        return replace(found[0], execution_id=None, action_execution_id=None)
    if find_project_references(word, hosts=hosts):
        raise UsageError(f"“{_shown(word)}” is a project; give one of its pipelines' links (…/pipelines/pipeline/<id>). {USAGE}")
    foreign = foreign_hosts(word, hosts=hosts)
    if foreign:
        raise UsageError(f"{foreign[0]} is not a Buddy host I am set up for. Give the pipeline's Buddy link. {USAGE}")
    raise UsageError(f"The first word should be a pipeline link, not “{_shown(word)}”. {USAGE}")


def _not_a_pair(word: _Word, before: _Word) -> str:
    if before.key is not None and not before.shown.endswith(tuple(QUOTES)):
        return (
            f"“{word.shown}” is not KEY=value. If it belongs to `{before.key}=`, quote the value whole: "
            f'{before.key}="{before.value} {word.value}".'
        )
    return f"“{word.shown}” is not KEY=value. After the pipeline link come only branch=, revision=, comment= and variables as KEY=value. {USAGE}"


def _reserved(name: str, word: _Word) -> str:
    value = word.value
    if name == "comment":
        if len(value) > MAX_COMMENT:
            raise UsageError(f"The comment is {len(value):,} characters; at most {MAX_COMMENT} fit.")
        return value
    if not value:
        raise UsageError(f"`{name}=` needs a value, like {name}={'main' if name == 'branch' else 'HEAD'}.")
    if name == "revision":
        if value.upper() == "HEAD":
            return "HEAD"
        if not _REVISION.fullmatch(value):
            raise UsageError(f"`revision=` takes a commit SHA (4 to 64 hex characters) or HEAD, not “{_shown(value)}”.")
        return value
    if len(value) > MAX_BRANCH or _BAD_BRANCH.search(value):
        raise UsageError(
            f"“{_shown(value)}” is not a branch name (at most {MAX_BRANCH} characters; no spaces, "
            "none of ~ ^ : ? * [ \\, and no “..”)."
        )
    return value


def _check_variable(word: _Word, variables: dict[str, str]) -> None:
    key = word.key or ""
    if not _KEY.fullmatch(key) or len(key) > MAX_KEY:
        raise UsageError(
            f"“{_shown(key) or '='}” is not a variable name: letters, digits and _, starting with a letter or _, "
            f"at most {MAX_KEY} characters (in “{word.shown}”)."
        )
    if key in variables:
        raise UsageError(f"The variable {key} is given twice; give it once.")
    if len(variables) >= MAX_VARIABLES:
        raise UsageError(f"At most {MAX_VARIABLES} variables can be passed to one run.")
    if len(word.value) > MAX_VALUE:
        raise UsageError(f"The value of {key} is {len(word.value):,} characters; at most {MAX_VALUE:,} fit.")
