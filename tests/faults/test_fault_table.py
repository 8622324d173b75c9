"""docs/faults.md cannot drift from the tests: every test it names exists, and every test of the
fault suite is named in it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "docs" / "faults.md"
NODE_ID = re.compile(r"`(tests/[\w/]+\.py)::(\w+)(?:\[([^\]]+)\])?`")


def named_in_table() -> list[tuple[str, str, str | None]]:
    return NODE_ID.findall(TABLE.read_text(encoding="utf-8"))


def functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}


def test_every_test_named_in_the_table_exists():
    named = named_in_table()
    assert len(named) > 40
    for file, name, param in named:
        path = ROOT / file
        assert path.is_file(), file
        assert name in functions(path), f"{file}::{name} is named in docs/faults.md but does not exist"
        if param:
            assert f'"{param}"' in path.read_text(encoding="utf-8"), f"{file}::{name}[{param}]: no such parameter"


def test_every_fault_suite_test_is_in_the_table():
    named = {(file, name) for file, name, _ in named_in_table()}
    here = Path(__file__).resolve().parent
    for path in sorted(here.glob("test_*.py")):
        if path.name == Path(__file__).name:
            continue
        file = path.relative_to(ROOT).as_posix()
        for name in sorted(functions(path)):
            if name.startswith("test_"):
                assert (file, name) in named, f"{file}::{name} is not in docs/faults.md"


def test_the_readme_links_the_table():
    assert "docs/faults.md" in (ROOT / "README.md").read_text(encoding="utf-8")
