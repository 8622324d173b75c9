"""A confirmation is used once, on both engines: the first click's unit holds it (also when taken
over), any later click is refused until the confirmation is forgotten a day later."""

from __future__ import annotations

from bot.actions.run import CONFIRMATION_KEPT_S, Runner
from bot.config import Settings
from bot.identity.accounts import LinkedAccounts
from bot.identity.credentials import Identity
from bot.identity.vault import Vault
from bot.work.queue import Unit, WorkQueue


def unit(unit_id: str) -> Unit:
    return Unit(unit_id, "click", f"click:{unit_id}", {}, attempts=1, started_at=0.0)


async def test_a_confirmation_is_used_by_one_click_only(state):
    now = [1000.0]
    settings = Settings(_env_file=None)
    runner = Runner(
        None,  # type: ignore[arg-type] - no Buddy call here
        settings,
        Identity(LinkedAccounts(state, Vault(""))),
        WorkQueue(state),
        state,
        clock=lambda: now[0],
    )
    first, second = unit("a" * 32), unit("b" * 32)
    assert await runner.confirm_once("origin-1", first)
    assert await runner.confirm_once("origin-1", first)  # the same click's unit, taken over
    assert not await runner.confirm_once("origin-1", second)
    assert await runner.confirm_once("origin-2", second)  # another request's confirmation
    now[0] += CONFIRMATION_KEPT_S + 1
    assert await runner.confirm_once("origin-1", second)
