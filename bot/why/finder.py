"""The failure finder: the first error and the failed tests in a window of a failed action's log.

Every line is read once, as a terminal shows it (no colour codes, the last drawing after a carriage
return, at most ``MAX_LINE_CHARS``). Most lines of a log match no rule, so each line is first put to
a prefilter that only says whether any rule could match it; only a line that passes is tried against
the rules themselves, in table order. The first line an error rule matches is the error (``rules``
says why the earliest wins); the lines after it that carry it on join it, up to ``MAX_ERROR_LINES``.
Failed tests are gathered from the whole window, each name once, in the order the log gives them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from re import _constants, _parser  # type: ignore[attr-defined]
from typing import Any, Generic, TypeVar

from bot.why.model import Why
from bot.why.rules import MAX_LINE_CHARS, TOOLS, CountRule, ErrorRule, TestRule, Tool

CONTEXT_LINES = 3  # before and after the error lines
MAX_ERROR_LINES = 20  # an error block longer than this keeps its start (or its end, ``keep="last"``)
BLOCK_SCAN_LINES = 200  # how far an error block is followed, at most
MAX_TESTS_KEPT = 50  # names kept; all are counted
MAX_TEST_NAME_CHARS = 200
# A context line is kept raw (the renderer strips its colour codes), but not without bound: a log line
# may be megabytes, and the result is cached with the run.
MAX_CONTEXT_LINE_CHARS = 4 * MAX_LINE_CHARS
MAX_FIRST_CHARS_CACHED = 1024  # prefilter regexes kept, one per first character seen

_ESCAPE_CODE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -/]*[0-~]?")
_NAMED_GROUP = re.compile(r"\(\?P<\w+>")
_BACK_REFERENCE = re.compile(r"\(\?P=\w+\)")
_CATEGORIES = {
    _constants.CATEGORY_DIGIT: r"\d",
    _constants.CATEGORY_NOT_DIGIT: r"\D",
    _constants.CATEGORY_SPACE: r"\s",
    _constants.CATEGORY_NOT_SPACE: r"\S",
    _constants.CATEGORY_WORD: r"\w",
    _constants.CATEGORY_NOT_WORD: r"\W",
}

R = TypeVar("R", ErrorRule, TestRule, CountRule)


def visible(line: str) -> str:
    """What the rules see of a log line: what a terminal shows of it, cut to MAX_LINE_CHARS."""
    if "\r" in line:
        line = line.rstrip("\r\n")
        line = line[line.rfind("\r") + 1 :]  # a progress bar redraws its line after \r
    # Colour codes can take more room than the text: look a little further than the cut.
    line = line[: 4 * MAX_LINE_CHARS]
    if "\x1b" in line:
        line = _ESCAPE_CODE.sub("", line)
    return line[:MAX_LINE_CHARS].rstrip()


@dataclass(frozen=True)
class _Hit(Generic[R]):
    tool: str
    rule: R
    match: re.Match[str]


class _Rules(Generic[R]):
    """Rules of one kind in table order; ``first(text)`` is the first that matches."""

    def __init__(self, rules: Sequence[tuple[str, R, str]]) -> None:
        self._rules: list[tuple[str, R, re.Pattern[str], bool]] = [
            (tool, rule, re.compile(pattern), pattern.startswith("^")) for tool, rule, pattern in rules
        ]

    def first(self, text: str) -> _Hit[R] | None:
        for tool, rule, regex, anchored in self._rules:
            match = regex.match(text) if anchored else regex.search(text)
            if match is not None:
                return _Hit(tool, rule, match)
        return None


class _Prefilter:
    """Whether any of ``patterns`` could match a line, at about the cost of one regex.

    The patterns anchored at the start of a line are tried there only, and only those that can
    start with the line's first character (one combined regex per first character, made when first
    needed); the few that may match anywhere are one combined regex searched for. Combined, a
    pattern's groups become plain groups and a back reference matches anything: the prefilter may
    pass a line no rule matches, never the other way round."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self._anchored = [(pattern[1:], _first_char(_parser.parse(pattern))) for pattern in patterns if pattern.startswith("^")]
        self._floating = _any_of([pattern for pattern in patterns if not pattern.startswith("^")], prefix="")
        self._by_first_char: dict[str, re.Pattern[str] | None] = {}

    def passes(self, text: str) -> bool:
        anchored = self._for_first_char(text[0])
        if anchored is not None and anchored.match(text):
            return True
        return self._floating is not None and self._floating.search(text) is not None

    def _for_first_char(self, char: str) -> re.Pattern[str] | None:
        if char in self._by_first_char:
            return self._by_first_char[char]
        regex = _any_of([pattern for pattern, first in self._anchored if first is None or first.fullmatch(char)], prefix="^")
        if len(self._by_first_char) < MAX_FIRST_CHARS_CACHED:
            self._by_first_char[char] = regex
        return regex


def _any_of(patterns: Sequence[str], *, prefix: str) -> re.Pattern[str] | None:
    if not patterns:
        return None
    loose = [_BACK_REFERENCE.sub(".*?", _NAMED_GROUP.sub("(?:", pattern)) for pattern in patterns]
    return re.compile(prefix + "(?:" + "|".join(loose) + ")")


def _first_char(items: Sequence[tuple[Any, Any]]) -> re.Pattern[str] | None:
    """A regex for the characters a match of the parsed pattern ``items`` can start with; None when
    it could be any (a lookahead first, or a match of nothing)."""
    classes = _first_classes(items)
    return None if classes is None else re.compile("|".join(classes))


def _first_classes(items: Sequence[tuple[Any, Any]]) -> list[str] | None:
    for position, (op, arg) in enumerate(items):
        rest = list(items[position + 1 :])
        if op is _constants.AT:
            continue  # an anchor takes no character
        if op is _constants.LITERAL:
            return [re.escape(chr(arg))]
        if op is _constants.IN:
            return [_class(arg)]
        if op is _constants.SUBPATTERN:
            return _first_classes([*arg[-1], *rest])
        if op is _constants.BRANCH:
            return _joined(_first_classes([*branch, *rest]) for branch in arg[1])
        if op in (_constants.MAX_REPEAT, _constants.MIN_REPEAT):
            low, _, repeated = arg
            if low > 0:
                return _first_classes([*repeated, *rest])
            return _joined([_first_classes(list(repeated)), _first_classes(rest)])
        return None
    return None


def _class(members: Sequence[tuple[Any, Any]]) -> str:
    parts = []
    for op, arg in members:
        if op is _constants.NEGATE:
            parts.append("^")
        elif op is _constants.LITERAL:
            parts.append(re.escape(chr(arg)))
        elif op is _constants.RANGE:
            parts.append(f"{re.escape(chr(arg[0]))}-{re.escape(chr(arg[1]))}")
        elif op is _constants.CATEGORY:
            parts.append(_CATEGORIES[arg])
        else:
            return r"[\s\S]"  # a member not listed above: any character, to be safe
    return "[" + "".join(parts) + "]"


def _joined(parts: Iterable[list[str] | None]) -> list[str] | None:
    joined: list[str] = []
    for part in parts:
        if part is None:
            return None
        joined += part
    return joined


class Finder:
    """The rules of ``tools`` compiled once; ``find`` applies them to a window of a log."""

    def __init__(self, tools: Iterable[Tool] = TOOLS) -> None:
        tools = tuple(tools)
        self._errors: _Rules[ErrorRule] = _Rules([(t.name, r, r.pattern) for t in tools for r in t.errors])
        self._tests: _Rules[TestRule] = _Rules([(t.name, r, r.pattern) for t in tools for r in t.tests])
        self._counts: _Rules[CountRule] = _Rules([(t.name, r, r.line) for t in tools for r in t.counts])
        patterns = [r.pattern for t in tools for r in t.errors] + [r.pattern for t in tools for r in t.tests]
        patterns += [r.line for t in tools for r in t.counts]
        self._prefilter = _Prefilter(patterns)
        self._count_numbers = {id(r): re.compile(r.count) for t in tools for r in t.counts}
        self._blocks = {
            id(r): (re.compile(r.more) if r.more else None, re.compile(r.last) if r.last else None)
            for t in tools
            for r in t.errors
        }

    def find(self, lines: Sequence[str], *, first_line_number: int = 1) -> Why | None:
        """The first error and the failed tests in ``lines``, whose first line is line
        ``first_line_number`` of the whole log; None when the window shows neither."""
        shown = [visible(line) for line in lines]
        error: tuple[int, _Hit[ErrorRule]] | None = None
        first_test: _Hit[TestRule] | None = None
        names: dict[str, None] = {}
        counted = 0
        for index, text in enumerate(shown):
            if not text or not self._prefilter.passes(text):
                continue
            if error is None and (hit := self._errors.first(text)) is not None:
                error = (index, hit)
            if (test := self._tests.first(text)) is not None:
                name = test.rule.label.format_map(_Groups(test.match.groupdict())).strip()[:MAX_TEST_NAME_CHARS]
                if name:
                    names.setdefault(name)
                    first_test = first_test or test
            if (count := self._counts.first(text)) is not None:
                numbers = self._count_numbers[id(count.rule)].findall(text)
                counted = max(counted, sum(int(number) for number in numbers))
        kept = list(names)[:MAX_TESTS_KEPT]
        failed_count = max(len(names), counted)
        if error is None:
            if not failed_count:
                return None
            # Failed tests, but no line that says why: the tests alone.
            tool, rule = (first_test.tool, first_test.rule.name) if first_test else ("", "")
            return Why(0, [], 0, 0, tool, rule, failed_tests=kept, failed_test_count=failed_count)
        index, hit = error
        start, end = self._block(shown, index, hit.rule)
        context_start = max(0, start - CONTEXT_LINES)
        context_end = min(len(lines), end + CONTEXT_LINES)
        return Why(
            line_number=first_line_number + start,
            context=[line[:MAX_CONTEXT_LINE_CHARS] for line in lines[context_start:context_end]],
            error_start=start - context_start,
            error_end=end - context_start,
            tool=hit.tool,
            rule=hit.rule.name,
            failed_tests=kept,
            failed_test_count=failed_count,
        )

    def _block(self, shown: list[str], index: int, rule: ErrorRule) -> tuple[int, int]:
        """The error's lines, ``shown[start:end]``: the matched line and those that carry it on."""
        more, last = self._blocks[id(rule)]
        end = index + 1
        limit = min(len(shown), index + BLOCK_SCAN_LINES)
        while (more is not None or last is not None) and end < limit:
            text = shown[end]
            if more is not None and more.match(text):
                end += 1
                continue
            if last is not None and last.match(text):
                end += 1
            break
        while end - 1 > index and not shown[end - 1]:
            end -= 1  # blank lines that ended the block are not part of it
        start = index
        if end - start > MAX_ERROR_LINES:
            if rule.keep == "last":
                start = end - MAX_ERROR_LINES
            else:
                end = start + MAX_ERROR_LINES
        return start, end


class _Groups(dict[str, str | None]):
    """A rule's groups for its label: a group that did not take part reads as ""."""

    def __getitem__(self, key: str) -> str:
        return super().get(key) or ""


@cache
def default_finder() -> Finder:
    return Finder()


def find_why(lines: Sequence[str], *, first_line_number: int = 1) -> Why | None:
    """The first error and the failed tests in ``lines`` (see ``Finder.find``), with all the rules."""
    return default_finder().find(lines, first_line_number=first_line_number)
