"""Secret variable values kept out of everything rendered: log lines, the error, notes, notices, unfurls.

Where variables are listed, secret ones are masked (``facts.masked``). Their values can turn up
anywhere else too: a log line that echoes one, an error message that quotes one. So rendering a run
teaches the process-wide registry (``bot.secrets_seen``) the values of its secret variables, and
every text rendered from then on, for this run or any other, and every log line, is searched for
them. What replaces a value is the variables' mask.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import cast

from bot import secrets_seen
from bot.buddy.models import ActionExecution
from bot.render.facts import MASK, MAX_CHECKED_KEY
from bot.report import RunReport

# How many variables of one run are looked at: the shown action's first, then the other actions'
# (most runs repeat the same few). Beyond, a run with thousands of variables would cost each render.
MAX_EXAMINED_VARIABLES = 2000


def learn_run_secrets(report: RunReport, secret_key_regex: re.Pattern[str] | None) -> None:
    """Remembers the values of ``report``'s secret variables. Without ``secret_key_regex`` only the
    ones Buddy marks secret count (a caller that has the operator's patterns passes them)."""
    secrets_seen.SEEN.remember(run_secret_values(report, secret_key_regex))


def run_secret_values(report: RunReport, secret_key_regex: re.Pattern[str] | None) -> list[str]:
    values: dict[str, None] = {}  # ordered, without repeats
    for examined, (key, value, marked) in enumerate(_variables(report)):
        if examined >= MAX_EXAMINED_VARIABLES:
            break
        if value and (marked or _secret_key(key, secret_key_regex)):
            values[value] = None
    return list(values)


def _variables(report: RunReport) -> Iterator[tuple[str, str | None, bool]]:
    """(key, value, marked secret by Buddy) of every variable of the run, the shown action's first."""
    actions: list[ActionExecution] = [report.action] if report.action is not None else []
    actions += [action for action in report.actions if action is not report.action]
    for action in actions:
        for variable in [*action.passed_variables, *action.outputted_variables]:
            yield variable.key or "", variable.value, variable.marked_secret
        definition = action.action
        for declared in definition.variables if definition is not None else []:
            yield declared.key or "", declared.defaults, bool(declared.encrypted)


def _secret_key(key: str, secret_key_regex: re.Pattern[str] | None) -> bool:
    if len(key) > MAX_CHECKED_KEY:  # as in ``facts.is_secret``: no real key is that long
        return True
    return secret_key_regex is not None and secret_key_regex.search(key.upper()) is not None


def scrub(text: str, *, open_end: bool = False) -> str:
    """``text`` with every secret value known so far masked; see ``SecretRegistry.scrub``."""
    return secrets_seen.SEEN.scrub(text, MASK, open_end=open_end)


# A button's link and value point into Buddy (its hosts, names and ids) and make the click work:
# a secret value that happens to equal a project's name must not break them.
_KEPT_WHOLE = frozenset({"url", "value"})


def scrubbed(message: dict) -> dict:
    """A copy of ``message`` (a Block Kit message) with secret values masked in every text in it."""
    return cast(dict, _scrubbed(message))


def _scrubbed(node: object) -> object:
    if isinstance(node, str):
        return scrub(node)
    if isinstance(node, dict):
        return {key: value if key in _KEPT_WHOLE else _scrubbed(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_scrubbed(value) for value in node]
    return node
