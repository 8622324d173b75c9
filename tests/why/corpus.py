"""The corpus of CI logs in ``corpus/``: each ``<name>.log`` with its ``<name>.expected.json``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).parent / "corpus"


@dataclass(frozen=True)
class Case:
    name: str
    lines: list[str]
    expected: dict[str, Any]


def read_log(path: Path) -> list[str]:
    """A log as Buddy hands it over: one string a line, no line ends."""
    text = path.read_text(encoding="utf-8")
    return text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")


def cases() -> list[Case]:
    return [
        Case(path.name.removesuffix(".log"), read_log(path), json.loads(path.with_suffix(".expected.json").read_text(encoding="utf-8")))
        for path in sorted(CORPUS.glob("*.log"))
    ]
