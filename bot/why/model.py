"""What the failure finder found in one failed action's log, ready to show."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Why:
    """The first error signal in the window of the log that was read, and the failed tests.

    ``line_number`` is the error's 1-based line number in the whole log (not in the window), so a
    person can find it in Buddy. ``context`` holds the error line(s) with up to 3 lines before and
    after, raw (ANSI codes not yet stripped); ``error_start`` and ``error_end`` index the error
    lines within ``context`` (``context[error_start:error_end]``). ``failed_tests`` are the names of
    the failed tests in the order the log gives them (at most a few dozen kept), and
    ``failed_test_count`` how many failed in all. ``tool`` and ``rule`` name the rule that matched
    (for the logs and the tests), e.g. "pytest" / "summary-failed".
    """

    line_number: int
    context: list[str]
    error_start: int
    error_end: int
    tool: str
    rule: str
    failed_tests: list[str] = field(default_factory=list)
    failed_test_count: int = 0

    @property
    def error_lines(self) -> list[str]:
        return self.context[self.error_start : self.error_end]
