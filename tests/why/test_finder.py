"""The finder's own behaviour: what it reads of a line, how far an error reaches, its bounds."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot.why import finder
from bot.why.finder import MAX_CONTEXT_LINE_CHARS, MAX_ERROR_LINES, MAX_TESTS_KEPT, Finder, find_why, visible
from bot.why.rules import MAX_LINE_CHARS, TOOLS
from tests.why.noise import NOISE

RULE_PATTERNS = [(tool.name, rule.name, rule.pattern) for tool in TOOLS for rule in (*tool.errors, *tool.tests)]
RULE_PATTERNS += [(tool.name, rule.name, rule.line) for tool in TOOLS for rule in tool.counts]


def test_colour_codes_and_redrawn_lines_are_read_as_a_terminal_shows_them():
    coloured = "\x1b[31mE       \x1b[1massert\x1b[0m 2 == 3"
    why = find_why([*NOISE, coloured])
    assert (why.tool, why.rule, why.line_number) == ("pytest", "assertion", len(NOISE) + 1)
    assert why.error_lines == [coloured]  # handed over raw: the renderer strips the codes
    assert find_why(["Downloading 10%\rDownloading 100%\rnpm error code E404"]).rule == "error"
    assert visible("npm error code E404\r\n") == "npm error code E404"


def test_line_numbers_count_from_the_start_of_the_whole_log():
    window = [*NOISE, "panic: runtime error: invalid memory address or nil pointer dereference"]
    why = find_why(window, first_line_number=95_001)
    assert why.line_number == 95_001 + len(NOISE)


def test_an_error_block_is_cut_at_its_start_or_for_a_traceback_at_its_end():
    frames = [f'  File "/app/step_{n}.py", line {n}, in step_{n}' for n in range(100)]
    why = find_why(["Traceback (most recent call last):", *frames, "RecursionError: maximum recursion depth exceeded", "done"])
    assert len(why.error_lines) == MAX_ERROR_LINES
    assert why.error_lines[-1] == "RecursionError: maximum recursion depth exceeded"
    assert why.line_number == 1 + 101 - MAX_ERROR_LINES + 1  # the first line shown of the block
    many = find_why(["npm ERR! code ELIFECYCLE", *(f"npm ERR! line {n}" for n in range(100))])
    assert many.error_lines[0] == "npm ERR! code ELIFECYCLE" and len(many.error_lines) == MAX_ERROR_LINES


def test_context_is_up_to_three_lines_either_side():
    why = find_why([*NOISE[:5], "make: *** [Makefile:4: sensor] Error 1", *NOISE[5:10]])
    assert why.context == [*NOISE[2:5], "make: *** [Makefile:4: sensor] Error 1", *NOISE[5:8]]
    assert (why.error_start, why.error_end) == (3, 4)
    first = find_why(["make: *** [Makefile:4: sensor] Error 1"])
    assert first.context == ["make: *** [Makefile:4: sensor] Error 1"] and first.error_start == 0


def test_failed_tests_are_named_once_in_log_order_and_all_counted():
    lines = [f"--- FAIL: TestCase{n} (0.00s)" for n in range(120)] + ["--- FAIL: TestCase0 (0.00s)"]
    why = find_why(lines)
    assert why.failed_tests == [f"TestCase{n}" for n in range(MAX_TESTS_KEPT)]
    assert why.failed_test_count == 120


def test_failed_tests_without_an_error_line_are_still_told():
    why = find_why([*NOISE, "rspec ./spec/cart_spec.rb:6 # Cart adds prices times quantities", "3 examples, 4 failures"])
    assert why.line_number == 0 and why.context == [] and why.error_lines == []
    assert why.failed_tests == ["Cart adds prices times quantities"] and why.failed_test_count == 4
    assert find_why([]) is None and find_why(NOISE) is None


def test_a_summary_count_is_never_below_the_names_found():
    why = find_why(["FAILED a.py::one - x", "FAILED a.py::two - y", "1 failed in 0.1s"])
    assert why.failed_test_count == 2


def test_a_huge_line_is_read_and_kept_only_in_part():
    huge = "E       assert " + "x" * 5_000_000
    why = find_why([*NOISE, huge, "y" * 3_000_000])
    assert why.rule == "assertion"
    assert all(len(line) <= MAX_CONTEXT_LINE_CHARS for line in why.context)
    assert len(visible(huge)) == MAX_LINE_CHARS


ADVERSARIAL = [
    "a" * 20_000,
    ":" * 20_000,
    " " * 20_000 + "x",
    "E" + " " * 20_000,
    "(" * 20_000,
    "1) " + "a" * 20_000,
    "thread '" + "'" * 20_000,
    "│ " * 10_000,
    " => " * 5_000,
    "[ERROR] " + "x -- Time elapsed: " * 1_000,
    "FAILED " + ":" * 20_000,
    "test " + " ... " * 4_000,
    "\x1b[" * 10_000,
    "\x1b]" * 10_000,
    "\r" * 20_000 + "x",
    "Because " + "a " * 10_000,
    "a: " * 7_000 + "command not found!",
    "x.go:1:1" * 2_500,
    "f(1,2): error " * 1_500,
    "exit code " * 2_000,
    "=" * 10_000 + " 1 failed, " * 500,
    "test_x (" + "a." * 10_000,
    "[\u2502 \t" * 5_000,
    "Error: " * 3_000,
    "- " * 10_000,
]


def test_long_adversarial_lines_cost_what_ordinary_ones_do():
    """No rule backtracks catastrophically: lines built to provoke it (20,000 characters, cut to
    MAX_LINE_CHARS) are read in a bounded time. A pattern with exponential backtracking would take
    minutes on one of them; the bound is generous, hundreds of times what the lines take."""
    lines = ADVERSARIAL * 40  # 1,000 lines
    started = time.perf_counter()
    find_why(lines)
    for line in ADVERSARIAL:  # every rule's own regex, not only the prefilter, and every block rule
        for _, _, pattern in RULE_PATTERNS:
            re.search(pattern, visible(line))
        find_why(["Traceback (most recent call last):", line, line, "npm ERR! x", line])
    assert time.perf_counter() - started < 20


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_the_prefilter_passes_every_line_a_rule_matches(data):
    """The prefilter only skips a line when no rule can match it: lines drawn from each rule's own
    pattern always reach the rules."""
    tool, name, pattern = data.draw(st.sampled_from(RULE_PATTERNS))
    text = visible(data.draw(st.from_regex(re.compile(pattern), fullmatch=False)))
    assume(text and re.search(pattern, text))
    prefilter = finder.default_finder()._prefilter
    assert prefilter.passes(text), (tool, name, text)


@pytest.mark.parametrize("first", ["\u00e9", "7", "\u0663", " ", "\t", "│", "●", "➤", "\u2009"])
def test_the_prefilter_knows_lines_by_their_first_character(first):
    """Categories (``\\d``, ``\\s``, ``\\S``, ``\\w``) and negated classes are kept exact, Unicode included."""
    own = Finder(TOOLS)
    for line in (f"{first}build.sh: line 6: hugo: command not found", f"{first}1) Shop\\CartTest::testAdds", f"{first}E   x"):
        text = visible(line)
        matched = any(re.search(pattern, text) for _, _, pattern in RULE_PATTERNS)
        assert own._prefilter.passes(text) or not matched, line
    assert own._prefilter.passes(f"{first}build.sh: line 6: hugo: command not found") == (not first.isspace())
