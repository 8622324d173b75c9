"""The rules are data: every rule's example line is a test of its own. It matches its rule, and
among noise it is what the finder reports: the first error at its line, or a failed test's name, or
the number of failed tests."""

from __future__ import annotations

import re

import pytest

from bot.why.finder import Finder, find_why, visible
from bot.why.rules import TOOLS, CountRule, ErrorRule, TestRule, Tool
from tests.why.noise import NOISE

ERRORS = [(tool, rule) for tool in TOOLS for rule in tool.errors]
TESTS = [(tool, rule) for tool in TOOLS for rule in tool.tests]
COUNTS = [(tool, rule) for tool in TOOLS for rule in tool.counts]


def ids(pairs: list[tuple[Tool, ErrorRule | TestRule | CountRule]]) -> list[str]:
    return [f"{tool.name}/{rule.name}" for tool, rule in pairs]


def among_noise(line: str, position: int) -> list[str]:
    return NOISE[:position] + [line] + NOISE[position:]


def test_the_noise_matches_no_rule():
    assert find_why(NOISE) is None


def test_rule_names_are_unique_within_their_table():
    for tool in TOOLS:
        for kind in (tool.errors, tool.tests, tool.counts):
            names = [rule.name for rule in kind]
            assert len(names) == len(set(names)), tool.name
    assert len({tool.name for tool in TOOLS}) == len(TOOLS)


@pytest.mark.parametrize(("tool", "rule"), ERRORS, ids=ids(ERRORS))
def test_an_error_rules_example_is_the_first_error_among_noise(tool, rule):
    assert re.search(rule.pattern, visible(rule.example)), "the example matches its own rule"
    for position in (0, len(NOISE) // 2, len(NOISE)):
        why = find_why(among_noise(rule.example, position))
        assert why is not None
        assert (why.tool, why.rule) == (tool.name, rule.name)
        assert why.line_number == position + 1
        assert why.error_lines[0] == rule.example
        assert why.context[why.error_start - min(3, position) : why.error_start] == NOISE[max(0, position - 3) : position]


@pytest.mark.parametrize(("tool", "rule"), TESTS, ids=ids(TESTS))
def test_a_test_rules_example_names_its_failed_test(tool, rule):
    assert re.search(rule.pattern, visible(rule.example))
    why = Finder([tool]).find(among_noise(rule.example, len(NOISE) // 2))
    assert why is not None and why.failed_tests == [rule.expected] and why.failed_test_count == 1
    assert rule.expected in find_why(among_noise(rule.example, 3)).failed_tests  # with all the tools too


@pytest.mark.parametrize(("tool", "rule"), COUNTS, ids=ids(COUNTS))
def test_a_count_rules_example_counts_the_failed_tests(tool, rule):
    assert re.search(rule.line, visible(rule.example))
    why = find_why(among_noise(rule.example, len(NOISE) // 2))
    assert why is not None and why.failed_test_count == rule.expected and why.failed_tests == []


def test_a_pattern_that_may_match_anywhere_begins_with_a_literal():
    """Floating patterns are searched for in every line: a literal start keeps that search cheap."""
    for tool in TOOLS:
        for pattern in [r.pattern for r in (*tool.errors, *tool.tests)] + [r.line for r in tool.counts]:
            assert pattern.startswith("^") or re.match(r"[\w ]", pattern), (tool.name, pattern)
