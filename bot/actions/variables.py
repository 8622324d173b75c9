"""The variables a run waits for, as the Provide variables form shows them: each with its current
value, except secrets, which are never shown (left blank, a secret keeps the value Buddy has)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.buddy.models import ActionVariable, Variable
from bot.render.facts import is_secret
from bot.report import RunReport

MAX_VARIABLES = 90  # a modal holds 100 blocks; a few are the form's own
MAX_KEY = 240  # the key goes into the input's block_id (255 characters at most, with a prefix)


@dataclass(frozen=True)
class WantedVariable:
    key: str
    value: str  # the current value; "" for a secret
    secret: bool
    description: str = ""


def wanted_variables(report: RunReport, secret_key_regex: re.Pattern[str]) -> tuple[list[WantedVariable], int]:
    """The waiting action's variables (declared, with their defaults, then those it was passed, whose
    values win), and how many were left out (too many, or a key too long for the form)."""
    action = report.action
    if action is None:
        return [], 0
    found: dict[str, WantedVariable] = {}
    declared: list[ActionVariable | Variable] = list(action.action.variables) if action.action is not None else []
    for variable in [*declared, *action.passed_variables]:
        key = variable.key or ""
        if not key:
            continue
        secret = _secret(variable, secret_key_regex) or (key in found and found[key].secret)
        value = "" if secret else (_value(variable) or (found[key].value if key in found else ""))
        description = (variable.description or "") or (found[key].description if key in found else "")
        found[key] = WantedVariable(key, value, secret, description)
    fitting = [variable for variable in found.values() if len(variable.key) <= MAX_KEY]
    kept = fitting[:MAX_VARIABLES]
    return kept, len(found) - len(kept)


def _secret(variable: ActionVariable | Variable, secret_key_regex: re.Pattern[str]) -> bool:
    if isinstance(variable, ActionVariable):
        declared = Variable(key=variable.key, value=variable.defaults, type=variable.type, encrypted=variable.encrypted)
        return is_secret(declared, secret_key_regex)
    return is_secret(variable, secret_key_regex)


def _value(variable: ActionVariable | Variable) -> str:
    return (variable.defaults if isinstance(variable, ActionVariable) else variable.value) or ""
