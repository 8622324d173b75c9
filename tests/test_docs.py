"""Docs move with code: every setting is explained in .env.example and the README's table."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = sorted(name.upper() for name in Settings.model_fields)


@pytest.mark.parametrize("name", SETTINGS)
def test_every_setting_is_in_env_example(name: str):
    assert f"\n{name}=" in (ROOT / ".env.example").read_text()


@pytest.mark.parametrize("name", SETTINGS)
def test_every_setting_is_in_the_readme(name: str):
    assert f"`{name}`" in (ROOT / "README.md").read_text()
