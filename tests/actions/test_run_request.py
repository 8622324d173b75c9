"""``/buddy run``'s line: parsing, quoting both ways, bounds, and the run's body built from it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.actions.run import (
    PlannedRun,
    clean_name,
    confirmation_value,
    mark,
    needs_confirmation,
    pipeline_branch,
    read_confirmation,
    run_body,
    run_comment,
)
from bot.actions.run_request import (
    MAX_TEXT,
    MAX_VARIABLES,
    RunRequest,
    UsageError,
    format_arguments,
    parse_run,
    quote,
    slack_escape,
)
from bot.buddy.models import Pipeline
from bot.buddy.refs import BuddyRef
from bot.identity.accounts import SlackPerson

LINK = "https://app.buddy.works/acme/web/pipelines/pipeline/7"
PIPELINE = BuddyRef("app.buddy.works", "acme", "web", 7)


def test_a_link_alone_takes_every_default():
    assert parse_run(LINK) == RunRequest(PIPELINE)


@pytest.mark.parametrize(
    "link",
    [
        LINK,
        f"<{LINK}>",
        f"<{LINK}|Deploy to production, the big one>",
        f"{LINK}/execution/65f1a2b3c4d5e6f7a8b9c0d1",
        f"{LINK}/execution/65f1a2b3c4d5e6f7a8b9c0d1/?actionExecutionId=abc123",
        f"<{LINK}/execution/65f1a2b3c4d5e6f7a8b9c0d1/?actionExecutionId=abc123&amp;x=1>",
        f"{LINK}/run",
    ],
)
def test_a_pipeline_or_a_run_link_names_the_pipeline(link):
    assert parse_run(f"{link} branch=main").pipeline == PIPELINE


def test_everything_given_straight_and_curly_quotes_alike():
    straight = parse_run(f'{LINK} branch=release/2.0 revision=4bc2f8a VERSION=1.2 NOTE="two words" comment="hotfix for it\'s bug"')
    curly = parse_run(f"{LINK} branch=release/2.0 revision=4bc2f8a VERSION=1.2 NOTE=“two words” comment=“hotfix for it’s bug”")
    single = parse_run(f"{LINK} branch=release/2.0 revision=4bc2f8a VERSION=1.2 NOTE=‘two words’ comment=‘hotfix for it’s bug’")
    for request in (straight, curly, single):
        assert request.branch == "release/2.0"
        assert request.revision == "4bc2f8a"
        assert request.variables == (("VERSION", "1.2"), ("NOTE", "two words"))
    assert straight.comment == "hotfix for it's bug"
    assert curly.comment == single.comment == "hotfix for it’s bug"


def test_slacks_escapes_and_links_in_values_are_undone():
    request = parse_run(f"{LINK} URL=<https://example.com/a?b=1&amp;c=2> Q=a&amp;b&lt;c comment=“x &gt; y”")
    assert request.variables == (("URL", "https://example.com/a?b=1&c=2"), ("Q", "a&b<c"))
    assert request.comment == "x > y"


def test_an_apostrophe_inside_a_bare_word_is_an_apostrophe_and_head_is_head():
    request = parse_run(f"{LINK} comment=don't revision=head")
    assert request.comment == "don't"
    assert request.revision == "HEAD"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "Which pipeline"),
        ("branch=main", "Put the pipeline link first"),
        ("hello", "should be a pipeline link, not “hello”"),
        ("https://app.buddy.works/acme/web", "is a project"),
        ("https://evil.example.com/acme/web/pipelines/pipeline/7", "evil.example.com is not a Buddy host"),
        (f"{LINK} comment=deploy now", 'quote the value whole: comment="deploy now"'),
        (f"{LINK} stray", "“stray” is not KEY=value"),
        (f"{LINK} branch=", "`branch=` needs a value"),
        (f"{LINK} branch=a branch=b", "`branch=` is given twice"),
        (f"{LINK} branch=“two words”", "is not a branch name"),
        (f"{LINK} branch=a..b", "is not a branch name"),
        (f"{LINK} revision=main", "`revision=` takes a commit SHA"),
        (f"{LINK} 1X=2", "“1X” is not a variable name"),
        (f"{LINK} my-var=2", "“my-var” is not a variable name"),
        (f"{LINK} X=1 X=2", "X is given twice"),
        (f'{LINK} comment="never closed', "is never closed"),
        (f"{LINK} comment=“never closed", "is never closed"),
        (f'{LINK} X="a"b', "is never closed"),
        (f"{LINK} X=<https://example.com", "never closes it with >"),
    ],
)
def test_a_malformed_line_says_which_word_and_what_was_expected(text, says):
    with pytest.raises(UsageError) as raised:
        parse_run(text)
    assert says in str(raised.value)


def test_everything_is_bounded():
    too_many = " ".join(f"V{i}=x" for i in range(MAX_VARIABLES + 1))
    with pytest.raises(UsageError, match=f"At most {MAX_VARIABLES} variables"):
        parse_run(f"{LINK} {too_many}")
    assert len(parse_run(f"{LINK} " + " ".join(f"V{i}=x" for i in range(MAX_VARIABLES))).variables) == MAX_VARIABLES
    with pytest.raises(UsageError, match="at most 4,000"):
        parse_run(LINK + " " + "x" * MAX_TEXT)
    with pytest.raises(UsageError, match="The value of V is 1,001 characters"):
        parse_run(f"{LINK} V={'x' * 1001}")
    with pytest.raises(UsageError, match="at most 500 fit"):
        parse_run(f'{LINK} comment="{"x " * 300}"')
    with pytest.raises(UsageError, match="at most 100 characters"):
        parse_run(f"{LINK} {'K' * 101}=1")


keys = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True).filter(
    lambda key: key.lower() not in {"branch", "revision", "comment"}
)
values = st.text(max_size=60)
branches = st.from_regex(r"[a-z][a-z0-9_-]{0,10}(/[a-z0-9][a-z0-9_-]{0,10}){0,2}", fullmatch=True)
revisions = st.one_of(st.just("HEAD"), st.from_regex(r"[0-9a-f]{7,40}", fullmatch=True))
requests = st.builds(
    RunRequest,
    st.just(PIPELINE),
    branch=st.none() | branches,
    revision=st.none() | revisions,
    variables=st.dictionaries(keys, values, max_size=8).map(lambda found: tuple(found.items())),
    comment=st.none() | st.text(max_size=100),
)


@settings(max_examples=300, deadline=None)
@given(requests)
def test_any_request_written_as_a_line_reads_back_the_same(request):
    assert parse_run(format_arguments(request)) == request


@settings(max_examples=300, deadline=None)
@given(values, st.sampled_from([('"', '"'), ("“", "”"), ("„", "“"), ("”", "”")]))
def test_any_value_quoted_with_straight_or_curly_quotes_reads_back_the_same(value, quotes):
    opening, closing = quotes
    request = parse_run(f"{LINK} V={quote(value, opening=opening, closing=closing)} comment={quote(value, opening=opening, closing=closing)}")
    assert request.variables == (("V", value),)
    assert request.comment == value


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_is_a_request_or_a_usage_error_never_anything_else(text):
    for line in (text, f"{LINK} {text}"):
        try:
            parse_run(line)
        except UsageError as exc:
            assert 0 < len(str(exc)) < 2500


def test_the_body_takes_head_the_pipelines_branch_the_variables_and_the_comment():
    planned = PlannedRun(RunRequest(PIPELINE), "Deploy website", "main")
    assert run_body(planned, "c") == {"to_revision": {"revision": "HEAD"}, "branch": {"name": "main"}, "comment": "c"}
    given_all = PlannedRun(RunRequest(PIPELINE, "dev", "4bc2f8a", (("A", "1"), ("B", "two words"))), "Deploy", "dev")
    assert run_body(given_all, "c") == {
        "to_revision": {"revision": "4bc2f8a"},
        "branch": {"name": "dev"},
        "comment": "c",
        "variables": [{"key": "A", "value": "1"}, {"key": "B", "value": "two words"}],
    }


def test_the_comment_names_the_person_and_carries_the_units_mark():
    unit_id = "0123456789abcdef0123456789abcdef"
    assert mark(unit_id) == "[slack:0123456789ab]"
    assert run_comment("ana", None, unit_id) == "Run from Slack by @ana [slack:0123456789ab]"
    assert run_comment("@Ana Lopez", "  the\nhotfix ", unit_id) == "Run from Slack by @Ana Lopez: the hotfix [slack:0123456789ab]"
    assert clean_name("\u202eevil\x00 name\n") == "evil name"
    assert clean_name("") == "a Slack user"
    assert len(clean_name("x" * 500)) == 80


@pytest.mark.parametrize(
    ("pipeline", "branch"),
    [
        (Pipeline(ref_name="main", ref_type="BRANCH"), "main"),
        (Pipeline(ref_name="refs/heads/main"), "main"),
        (Pipeline(refs=["refs/heads/main"]), "main"),
        (Pipeline(refs=["refs/heads/feature/*"]), None),
        (Pipeline(ref_name="feature/*", ref_type="WILDCARD"), None),
        (Pipeline(refs=["refs/heads/main", "refs/heads/dev"]), None),
        (Pipeline(ref_name="v1.0", ref_type="TAG"), None),
        (Pipeline(), None),
    ],
)
def test_the_pipelines_own_branch_in_either_shape_buddy_sends(pipeline, branch):
    assert pipeline_branch(pipeline) == branch


def test_confirmation_patterns_match_in_any_case():
    patterns = ("prod", "production", "release")
    assert needs_confirmation("Deploy to PRODUCTION", patterns)
    assert needs_confirmation("Release notes", patterns)
    assert not needs_confirmation("Run tests", patterns)
    assert not needs_confirmation("Deploy to production", ())


def test_the_confirmation_value_reads_back_and_nothing_else_does():
    person = SlackPerson("T1", "U1")
    value = confirmation_value(f"{LINK} X=1", person, "unit1")
    confirmation = read_confirmation(value)
    assert confirmation is not None and (confirmation.team, confirmation.user, confirmation.args) == ("T1", "U1", f"{LINK} X=1")
    for junk in ("", "{", "[]", '{"v": 2}', '{"v": 1, "team": 1, "user": "U", "origin": "o", "args": "a"}', "x" * 3000):
        assert read_confirmation(junk) is None


def test_slack_escape_is_what_the_parser_undoes():
    assert slack_escape("a&b<c>") == "a&amp;b&lt;c&gt;"
