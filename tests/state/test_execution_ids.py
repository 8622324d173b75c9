"""The web-id map on both engines: a web (hex) execution id one replica scanned the executions list
for costs another replica (or the same one after a restart) no scan at all."""

from __future__ import annotations

from bot.buddy.client import BuddyClient
from bot.lookup import Lookup
from bot.state.execution_ids import ExecutionIds
from tests.fakes.buddy import FakeAction
from tests.test_lookup import ref_for


async def test_a_web_id_scanned_by_one_replica_is_not_scanned_by_another(settings, fake_buddy, state):
    action = FakeAction(name="Build", log=["ok"])
    runs = [fake_buddy.add_execution(actions=[action if n == 0 else FakeAction(name="Build")]) for n in range(30)]
    wanted = runs[0]
    async with BuddyClient(settings) as client:
        first = Lookup(client, settings.model_copy(update={"buddy_execution_page_size": 10}), shared_ids=ExecutionIds(state))
        await first.report(ref_for(fake_buddy, wanted, action))
        scans = [c for c in fake_buddy.calls() if c.path.endswith("/executions")]
        assert len(scans) >= 1
        fake_buddy.reset_calls()
        second = Lookup(client, settings, shared_ids=ExecutionIds(state))  # another replica: an empty memory
        await second.report(ref_for(fake_buddy, wanted, action), fresh=True)
        assert [c for c in fake_buddy.calls() if c.path.endswith("/executions")] == []
        assert len(fake_buddy.calls()) == 2  # the details and the execution: no page scanned
