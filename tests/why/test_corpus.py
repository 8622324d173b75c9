"""The finder against the corpus of CI logs: real output where the tool runs here, reproduced output
(``"synthetic": true``) where it needs the network or a daemon. Tests never run the tools."""

from __future__ import annotations

import pytest

from bot.why.finder import find_why
from bot.why.rules import TOOLS
from tests.why.corpus import CORPUS, cases

CASES = cases()
# The tools the issue names, and the corpus logs whose first error their tables find.
REQUIRED_TOOLS = {
    "python", "pytest", "unittest", "junit", "maven", "gradle", "jest", "mocha", "vitest", "go", "rspec", "phpunit", "dotnet",
    "compiler", "npm", "yarn", "pnpm", "pip", "poetry", "docker", "terraform", "kubectl", "helm", "shell", "buddy",
}


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_the_first_error_and_the_failed_tests_are_found(case):
    why = find_why(case.lines)
    expected = case.expected
    assert why is not None
    assert (why.tool, why.rule) == (expected["tool"], expected["rule"])
    assert why.line_number == expected["line_number"]
    assert why.error_lines == expected["error_lines"]
    assert case.lines[why.line_number - 1] == expected["error_lines"][0]  # numbered in the whole log, from 1
    assert why.failed_tests == expected["failed_tests"]
    assert why.failed_test_count == expected["failed_test_count"]


def test_the_corpus_covers_every_tool_with_real_output_where_it_runs_here():
    assert len(CASES) >= 30
    assert {case.expected["tool"] for case in CASES} >= REQUIRED_TOOLS
    assert REQUIRED_TOOLS <= {tool.name for tool in TOOLS}
    real = {case.expected["tool"] for case in CASES if not case.expected["synthetic"]}
    # The list of tools that run offline on this machine.
    assert real >= {"pytest", "unittest", "go", "rust", "jest", "mocha", "vitest", "typescript", "compiler", "pip"}
    for case in CASES:
        assert isinstance(case.expected["synthetic"], bool) and case.expected["made_with"], case.name
    assert sorted(path.name for path in CORPUS.iterdir() if path.suffix == ".json") == sorted(
        f"{case.name}.expected.json" for case in CASES
    )
