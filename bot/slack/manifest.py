"""Read the bot scopes the app asks for from ``manifest.yml``.

The manifest people read and paste into Slack is the repository's ``manifest.yml``; the package
carries a copy, ``bot/manifest.yml`` (package data), so that an installed bot, with no checkout
beside it, knows the scopes it needs. ``tests/test_doctor.py`` keeps the two equal.

PyYAML is only a test dependency, so this is a tiny reader for the manifest's block-style layout
(``key:`` mappings, ``- item`` lists, ``#`` comments), not a YAML parser. Lines of a ``>``/``|``
block scalar need no special care: they sit under their own key, never on the scopes path.
"""

from __future__ import annotations

import re
from pathlib import Path

MANIFEST = Path(__file__).resolve().parents[1] / "manifest.yml"
_SCOPES_PATH = ("oauth_config", "scopes", "bot")
_KEY = re.compile(r"(?P<key>[A-Za-z_][\w.-]*)\s*:(?:\s|$)")
_COMMENT = re.compile(r"(?:^|\s)#.*$")


def bot_scopes(path: str | Path = MANIFEST) -> set[str]:
    """The ``oauth_config.scopes.bot`` list of the manifest at ``path``."""
    scopes = set(_block_list(Path(path).read_text(encoding="utf-8").splitlines(), _SCOPES_PATH))
    if not scopes:
        raise ValueError(f"{path}: no block list at {'.'.join(_SCOPES_PATH)}")
    return scopes


def _block_list(lines: list[str], keys: tuple[str, ...]) -> list[str]:
    """Items of the ``- item`` list nested under the mapping keys ``keys``."""
    parents: list[tuple[int, str]] = []  # (indent, key) of the mappings enclosing the current line
    items: list[str] = []
    for raw in lines:
        line = _COMMENT.sub("", raw).rstrip()
        if not line:
            continue
        indent = len(line) - len(line.lstrip())
        text = line.strip()
        if text.startswith("- "):
            # A list may sit at its key's own indent ("bot:\n- x"), so only deeper keys end here.
            parents = [p for p in parents if p[0] <= indent]
            if tuple(key for _, key in parents) == keys:
                items.append(_unquote(text[2:].strip()))
            continue
        match = _KEY.match(text)
        if match:
            parents = [p for p in parents if p[0] < indent] + [(indent, match["key"])]
    return items


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value
