"""Who is named, and when they are told: the commit's author, the streak rule, claims and the one DM
per run (the stores on SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from bot.buddy.models import Execution
from bot.why.authors import Author, AuthorStore, commit_author, tells_author

RUN = "https://app.buddy.works/acme/web/pipelines/pipeline/7/execution/65a1b2c3d4e5f60718293a4b"


def execution(revision: dict) -> Execution:
    return Execution.model_validate({"id": 1, "to_revision": revision})


def test_the_author_is_the_commits_author_else_its_committer():
    webhook = {"revision": "4bc2f8a1d3", "short_revision": "4bc2f8a",
               "committer": {"name": "CI Bot", "title": "CI Bot", "email": "ci@example.com"},
               "author": {"title": "Ana Silva", "email": "ana@example.com"}}
    assert commit_author(execution(webhook)) == Author("Ana Silva", "ana@example.com", "4bc2f8a")
    without_author_email = {**webhook, "author": {"title": "Ana Silva", "email": ""}}
    assert commit_author(execution(without_author_email)) == Author("Ana Silva", "ci@example.com", "4bc2f8a")
    assert commit_author(execution({"revision": "4bc2f8a1d3", "author": {"email": "not an email"}})) is None
    assert commit_author(execution({"revision": "4bc2f8a1d3"})) is None
    assert commit_author(Execution.model_validate({"id": 1})) is None
    assert commit_author(None) is None


def test_known_in_slack_the_author_has_their_slack_name_and_a_user_id_only_when_it_is_one():
    author = Author("Ana Silva", "ana@example.com", "4bc2f8a")
    assert author.in_slack("U0ANA", "ana") == Author("ana", "ana@example.com", "4bc2f8a", "U0ANA")
    assert author.in_slack("<!channel>", None) == author


@pytest.mark.parametrize(("notify", "first", "quiet", "told"), [
    (True, True, False, True),
    (False, True, False, False),  # NOTIFY_AUTHORS off
    (True, False, False, False),  # still failing: told at the first failure already
    (True, True, True, False),  # a flaky failure kept quiet
])
def test_the_streak_rule(notify, first, quiet, told):
    assert tells_author(notify_authors=notify, first_failure=first, quiet=quiet) is told


async def test_the_first_to_claim_a_failure_is_on_it(state):
    authors = AuthorStore(state)
    assert await authors.claimer(RUN) is None
    assert await authors.claim(RUN, "U0ANA") == "U0ANA"
    assert await authors.claim(RUN, "U0BOB") == "U0ANA"
    assert await authors.claim(RUN, "U0ANA") == "U0ANA"  # the same click taken over after a crash
    assert await authors.claimer(RUN) == "U0ANA"


async def test_one_dm_per_run_and_the_unit_sending_it_may_ask_again(state):
    authors = AuthorStore(state)
    assert await authors.take_dm(RUN, "unit-a", "U0ANA")
    assert not await authors.take_dm(RUN, "unit-b", "U0ANA")  # the run's announcement in another channel
    assert await authors.take_dm(RUN, "unit-a", "U0ANA")  # unit-a taken over: its recorded effect keeps it once
    assert await authors.take_dm(RUN.replace("4b", "4c"), "unit-b", "U0ANA")


async def test_where_a_failure_was_announced(state):
    authors = AuthorStore(state)
    await authors.record_thread(RUN, "CX", "1700000000.000100")
    await authors.record_thread(RUN, "CY", "1700000000.000200")
    await authors.record_thread(RUN, "CX", "1700000000.000100")  # again after a take-over
    assert await authors.threads(RUN) == [("CX", "1700000000.000100"), ("CY", "1700000000.000200")]
