"""Tests for bot.buddy.refs: what counts as a Buddy reference in free text, and what does not."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.buddy.refs import (
    CLOUD_API_BASES,
    MAX_REFERENCES,
    BuddyRef,
    FoundReferences,
    ProjectRef,
    RefKind,
    api_base_for,
    find_project_references,
    find_references,
    foreign_hosts,
    is_buddy_host,
)

WS, PROJECT, PID = "acme-inc", "web-app", 123456
HEX_EXEC = "56fa374a99f1e10c105fb382"
HEX_AE = "6836dca490f5896b4bb8e6a7"
ALNUM_AE = "fsm47naztg9n35"
BASE = f"https://app.buddy.works/{WS}/{PROJECT}/pipelines/pipeline/{PID}"
EXEC_URL = f"{BASE}/execution/{HEX_EXEC}"
AE_URL = f"{EXEC_URL}/?actionExecutionId={HEX_AE}"
SELF_HOSTED = ("buddy.example.com", "ci.corp.local:8443")


def ref(execution_id=None, action_execution_id=None, *, host="app.buddy.works", ws=WS, project=PROJECT, pid=PID):
    return BuddyRef(host, ws, project, pid, execution_id, action_execution_id)


PIPELINE_REF, EXEC_REF, AE_REF = ref(), ref(HEX_EXEC), ref(HEX_EXEC, HEX_AE)

# (text, expected reference); every text holds exactly one reference.
POSITIVE = {
    # action-execution URLs
    "ae, slash before ?": (AE_URL, AE_REF),
    "ae, no slash before ?": (f"{EXEC_URL}?actionExecutionId={HEX_AE}", AE_REF),
    "ae, params before": (f"{EXEC_URL}/?tab=logs&actionExecutionId={HEX_AE}", AE_REF),
    "ae, params after": (f"{EXEC_URL}/?actionExecutionId={HEX_AE}&tab=logs&line=42", AE_REF),
    "ae, fragment": (f"{AE_URL}#L120", AE_REF),
    "ae, params and fragment": (f"{EXEC_URL}?a=1&actionExecutionId={HEX_AE}&b=2#logs", AE_REF),
    "ae, alphanumeric id": (f"{EXEC_URL}/?actionExecutionId={ALNUM_AE}", ref(HEX_EXEC, ALNUM_AE)),
    "ae, empty id is an execution": (f"{EXEC_URL}/?actionExecutionId=", EXEC_REF),
    # execution URLs
    "execution": (EXEC_URL, EXEC_REF),
    "execution, trailing slash": (f"{EXEC_URL}/", EXEC_REF),
    "execution, numeric id": (f"{BASE}/execution/987", ref("987")),
    "execution, alphanumeric id": (f"{BASE}/execution/k3x9q2mzt8", ref("k3x9q2mzt8")),
    "execution, other query": (f"{EXEC_URL}?tab=changes", EXEC_REF),
    # pipeline URLs mean the latest execution
    "pipeline": (BASE, PIPELINE_REF),
    "pipeline, trailing slash": (f"{BASE}/", PIPELINE_REF),
    "pipeline, /run": (f"{BASE}/run", PIPELINE_REF),
    "pipeline, /edit": (f"{BASE}/edit", PIPELINE_REF),
    "pipeline, /executions": (f"{BASE}/executions", PIPELINE_REF),
    "pipeline, webhook": (f"{BASE}/trigger-webhook?token=5a1f0c8e9b2d4f6a8c0e2b4d6f8a0c2e", PIPELINE_REF),
    "pipeline, handles with . and _": (
        "https://app.buddy.works/acme.inc/web_app.v2/pipelines/pipeline/7",
        ref(ws="acme.inc", project="web_app.v2", pid=7),
    ),
    "pipeline, leading zeros": (f"https://app.buddy.works/{WS}/{PROJECT}/pipelines/pipeline/0042", ref(pid=42)),
    # as Slack delivers links
    "slack <url>": (f"<{AE_URL}>", AE_REF),
    "slack <url|label>": (f"<{AE_URL}|failed deploy>", AE_REF),
    "slack <url|same url>": (f"<{EXEC_URL}|{EXEC_URL}>", EXEC_REF),
    "slack &amp; in link": (f"<{EXEC_URL}/?tab=logs&amp;actionExecutionId={HEX_AE}>", AE_REF),
    "slack &amp; in bare url": (f"{EXEC_URL}/?tab=logs&amp;actionExecutionId={HEX_AE}", AE_REF),
    "slack http link for scheme-less text": (
        f"<http://app.buddy.works/{WS}/{PROJECT}/pipelines/pipeline/{PID}|app.buddy.works/{WS}/{PROJECT}/…>",
        PIPELINE_REF,
    ),
    "slack link among mentions": (f"<@U024BE7LH> can you check <{EXEC_URL}>? <!here>", EXEC_REF),
    # prose
    "prose, full stop": (f"The deploy failed: {EXEC_URL}.", EXEC_REF),
    "prose, comma": (f"see {EXEC_URL}, then retry", EXEC_REF),
    "prose, parenthesis": (f"(see {EXEC_URL})", EXEC_REF),
    "prose, parenthesis and full stop": (f"last run ({AE_URL}).", AE_REF),
    "prose, quotes": (f'he said "{EXEC_URL}"!', EXEC_REF),
    "prose, question mark": (f"why did {BASE}/run fail?", PIPELINE_REF),
    "prose, multiline": (f"first line\n{EXEC_URL}\nlast line", EXEC_REF),
    "prose, glued to a colon": (f"link:{EXEC_URL}", EXEC_REF),
    # hosts
    "eu host": (
        f"https://eu.buddy.works/{WS}/{PROJECT}/pipelines/pipeline/{PID}/execution/{HEX_EXEC}",
        ref(HEX_EXEC, host="eu.buddy.works"),
    ),
    "asia host": (
        "https://asia.buddy.works/xendit/xendit-components-web/pipelines/pipeline/1756/run",
        ref(host="asia.buddy.works", ws="xendit", project="xendit-components-web", pid=1756),
    ),
    "upper-case scheme and host": (
        f"HTTPS://App.Buddy.Works/{WS}/{PROJECT}/pipelines/pipeline/{PID}/execution/{HEX_EXEC}",
        EXEC_REF,
    ),
    "http": (f"http://app.buddy.works/{WS}/{PROJECT}/pipelines/pipeline/{PID}", PIPELINE_REF),
    "self-hosted": (
        f"https://buddy.example.com/{WS}/{PROJECT}/pipelines/pipeline/{PID}/execution/{HEX_EXEC}",
        ref(HEX_EXEC, host="buddy.example.com"),
    ),
    "self-hosted, upper-case": (
        f"https://BUDDY.example.com/{WS}/{PROJECT}/pipelines/pipeline/{PID}",
        ref(host="buddy.example.com"),
    ),
    "self-hosted with port": (
        f"<https://ci.corp.local:8443/{WS}/{PROJECT}/pipelines/pipeline/{PID}/execution/12/?actionExecutionId={ALNUM_AE}>",
        ref("12", ALNUM_AE, host="ci.corp.local:8443"),
    ),
}


@pytest.mark.parametrize(("text", "expected"), POSITIVE.values(), ids=POSITIVE.keys())
def test_finds_reference(text: str, expected: BuddyRef) -> None:
    assert find_references(text, hosts=SELF_HOSTED) == FoundReferences([expected], 0)


@pytest.mark.parametrize("whole_argument", [False, True])
def test_url_found_whatever_whole_argument_says(whole_argument: bool) -> None:
    assert find_references(f"  {AE_URL}  ", whole_argument=whole_argument).refs == [AE_REF]


@pytest.mark.parametrize(
    "configured",
    [("BUDDY.Example.COM",), ("https://buddy.example.com/",), (" buddy.example.com ",), "buddy.example.com"],
    ids=["upper-case", "as a URL", "padded", "a lone string"],
)
def test_configured_host_spellings(configured) -> None:
    text = f"https://buddy.example.com/{WS}/{PROJECT}/pipelines/pipeline/{PID}"
    assert find_references(text, hosts=configured).refs == [ref(host="buddy.example.com")]


# (text, hosts); none of these may yield a reference.
NEGATIVE = {
    # other hosts
    "buddy host as subdomain": (f"https://app.buddy.works.evil.com/{WS}/{PROJECT}/pipelines/pipeline/1", ()),
    "buddy host in path": ("https://evil.com/app.buddy.works/ws/p/pipelines/pipeline/1", ()),
    "buddy url in query": (f"https://evil.com/redirect?to={BASE}", ()),
    "lookalike domain": (f"https://notbuddy.works/{WS}/{PROJECT}/pipelines/pipeline/1", ()),
    "marketing host": ("https://buddy.works/docs/api/pipelines/executions/get", ()),
    "www host": (f"https://www.buddy.works/{WS}/{PROJECT}/pipelines/pipeline/1", ()),
    "api host": (f"https://api.buddy.works/workspaces/{WS}/projects/{PROJECT}/pipelines/{PID}/executions/1", ()),
    "api host, web-like path": (f"https://api.buddy.works/{WS}/{PROJECT}/pipelines/pipeline/{PID}", ()),
    "userinfo trick": ("https://app.buddy.works@evil.com/ws/p/pipelines/pipeline/1", ()),
    "credentials on buddy host": (f"https://user:secret@app.buddy.works/{WS}/{PROJECT}/pipelines/pipeline/1", ()),
    "backslash userinfo trick": (f"https://evil.com\\@app.buddy.works/{WS}/{PROJECT}/pipelines/pipeline/1", ()),
    "trailing-dot host": (f"https://app.buddy.works./{WS}/{PROJECT}/pipelines/pipeline/1", ()),
    "percent-encoded host": (f"https://app%2Ebuddy%2Eworks/{WS}/{PROJECT}/pipelines/pipeline/1", ()),
    "fullwidth host": (f"https://ａpp.buddy.works/{WS}/{PROJECT}/pipelines/pipeline/1", ()),
    "non-http scheme": (f"ftp://app.buddy.works/{WS}/{PROJECT}/pipelines/pipeline/1", ()),
    "no scheme": (f"app.buddy.works/{WS}/{PROJECT}/pipelines/pipeline/1", ()),
    "slack label lies": (f"<https://evil.com/x|{BASE}>", ()),
    "bad port": (f"https://app.buddy.works:99999/{WS}/{PROJECT}/pipelines/pipeline/1", ()),
    "explicit default port": (f"https://app.buddy.works:443/{WS}/{PROJECT}/pipelines/pipeline/1", ()),
    "broken ipv6 host": ("https://[::1/ws/p/pipelines/pipeline/1", ()),
    # Buddy links that are not runs
    "security page": ("https://app.buddy.works/security", ()),
    "avatar": ("https://app.buddy.works/image-server/user/0/avatar/1234/64x64/avatar.png", ()),
    "profile": ("https://app.buddy.works/my-id/profile", ()),
    "action definition": (f"https://app.buddy.works/{WS}/{PROJECT}/pipelines/action/5/edit", ()),
    "project page": (f"https://app.buddy.works/{WS}/{PROJECT}", ()),
    "project pipelines list": (f"https://app.buddy.works/{WS}/{PROJECT}/pipelines", ()),
    "pipeline without id": (f"https://app.buddy.works/{WS}/{PROJECT}/pipelines/pipeline/", ()),
    "workspace root": (f"https://app.buddy.works/{WS}", ()),
    "host root": ("https://app.buddy.works/", ()),
    # illegal ids
    "non-numeric pipeline id": (f"https://app.buddy.works/{WS}/{PROJECT}/pipelines/pipeline/main", ()),
    "pipeline id too long": (f"https://app.buddy.works/{WS}/{PROJECT}/pipelines/pipeline/{'9' * 19}", ()),
    "unicode digit pipeline id": (f"https://app.buddy.works/{WS}/{PROJECT}/pipelines/pipeline/١٢", ()),
    "execution id with dash": (f"{BASE}/execution/56fa374a-99f1", ()),
    "execution id with underscore": (f"{BASE}/execution/exec_1", ()),
    "execution id percent-encoded": (f"{BASE}/execution/56fa%2F374a", ()),
    "action id with dash": (f"{EXEC_URL}/?actionExecutionId=6836-dca4", ()),
    "action id with space": (f"{EXEC_URL}/?actionExecutionId=6836+dca4", ()),
    "dot-dot workspace": (f"https://app.buddy.works/../{PROJECT}/pipelines/pipeline/1", ()),
    "dot project": (f"https://app.buddy.works/{WS}/./pipelines/pipeline/1", ()),
    "handle with illegal char": (f"https://app.buddy.works/{WS}/web%20app/pipelines/pipeline/1", ()),
    "empty path segment": (f"https://app.buddy.works/{WS}//{PROJECT}/pipelines/pipeline/1", ()),
    # self-hosted
    "self-hosted, not configured": (f"https://buddy.example.com/{WS}/{PROJECT}/pipelines/pipeline/1", ()),
    "self-hosted, other host configured": (
        f"https://buddy.example.com/{WS}/{PROJECT}/pipelines/pipeline/1",
        ("ci.corp.local:8443",),
    ),
    "self-hosted, port missing": (f"https://ci.corp.local/{WS}/{PROJECT}/pipelines/pipeline/1", SELF_HOSTED),
    "self-hosted, other port": (f"https://ci.corp.local:9443/{WS}/{PROJECT}/pipelines/pipeline/1", SELF_HOSTED),
    # explicit ids are for slash-command arguments only
    "explicit ids in chat": (f"{WS} {PROJECT} {PID} {HEX_EXEC}", ()),
    "explicit ids with action in chat": (f"{WS} {PROJECT} {PID} {HEX_EXEC} {HEX_AE}", ()),
    "empty": ("", ()),
}


@pytest.mark.parametrize(("text", "hosts"), NEGATIVE.values(), ids=NEGATIVE.keys())
def test_finds_nothing(text: str, hosts: tuple[str, ...]) -> None:
    assert find_references(text, hosts=hosts) == FoundReferences([], 0)


EXPLICIT = {
    "4 tokens, hex": (f"{WS} {PROJECT} {PID} {HEX_EXEC}", EXEC_REF),
    "4 tokens, numeric": (f"{WS} {PROJECT} {PID} 987", ref("987")),
    "5 tokens": (f"{WS} {PROJECT} {PID} {HEX_EXEC} {HEX_AE}", AE_REF),
    "5 tokens, alphanumeric action": (f"{WS} {PROJECT} {PID} 987 {ALNUM_AE}", ref("987", ALNUM_AE)),
    "surrounding and inner whitespace": (f"  {WS}\t{PROJECT}  {PID}\n{HEX_EXEC} ", EXEC_REF),
    "handles with . and _": (f"acme.inc web_app {PID} {HEX_EXEC}", ref(HEX_EXEC, ws="acme.inc", project="web_app")),
}


@pytest.mark.parametrize(("text", "expected"), EXPLICIT.values(), ids=EXPLICIT.keys())
def test_explicit_ids(text: str, expected: BuddyRef) -> None:
    assert find_references(text, whole_argument=True) == FoundReferences([expected], 0)
    assert find_references(text) == FoundReferences([], 0)


def test_explicit_ids_use_default_host() -> None:
    found = find_references(f"{WS} {PROJECT} {PID} {HEX_EXEC}", whole_argument=True, default_host="EU.buddy.works")
    assert found.refs == [ref(HEX_EXEC, host="eu.buddy.works")]


EXPLICIT_NEGATIVE = {
    "3 tokens": f"{WS} {PROJECT} {PID}",
    "6 tokens": f"{WS} {PROJECT} {PID} {HEX_EXEC} {HEX_AE} extra",
    "non-numeric pipeline id": f"{WS} {PROJECT} main {HEX_EXEC}",
    "execution id with dash": f"{WS} {PROJECT} {PID} 56fa-374a",
    "action id with slash": f"{WS} {PROJECT} {PID} {HEX_EXEC} 6836/dca4",
    "workspace with illegal char": f"acme/inc {PROJECT} {PID} {HEX_EXEC}",
    "dot-dot workspace": f".. {PROJECT} {PID} {HEX_EXEC}",
    "prose": "why did it fail",
    "prose with a number": f"show the logs of {PID} please",
    "ids inside a sentence": f"logs for {WS} {PROJECT} {PID} {HEX_EXEC}",
}


@pytest.mark.parametrize("text", EXPLICIT_NEGATIVE.values(), ids=EXPLICIT_NEGATIVE.keys())
def test_explicit_ids_near_misses(text: str) -> None:
    assert find_references(text, whole_argument=True) == FoundReferences([], 0)


def pipeline_url(pid: int) -> str:
    return f"https://app.buddy.works/{WS}/{PROJECT}/pipelines/pipeline/{pid}"


def test_several_references_in_order() -> None:
    text = f"compare {pipeline_url(3)} with <{pipeline_url(1)}|this one> and {pipeline_url(2)}."
    assert find_references(text).refs == [ref(pid=3), ref(pid=1), ref(pid=2)]


def test_limit_and_skipped() -> None:
    text = " ".join(pipeline_url(pid) for pid in range(1, 9))
    found = find_references(text)
    assert found.refs == [ref(pid=pid) for pid in range(1, MAX_REFERENCES + 1)]
    assert found.skipped == 8 - MAX_REFERENCES


def test_duplicates_count_once() -> None:
    variants = [
        EXEC_URL,
        f"<{EXEC_URL}>",
        f"<{EXEC_URL}/|run>",
        EXEC_URL.replace("https://app.buddy.works", "http://APP.buddy.works"),
        f"{EXEC_URL}?tab=logs#top",
    ]
    text = " ".join(variants + [pipeline_url(1), AE_URL, pipeline_url(1)])
    assert find_references(text) == FoundReferences([EXEC_REF, ref(pid=1), AE_REF], 0)


def test_duplicates_beyond_limit_are_not_skipped_twice() -> None:
    text = " ".join(pipeline_url(pid) for pid in [1, 2, 3, 3, 2, 4, 4])
    assert find_references(text, limit=2) == FoundReferences([ref(pid=1), ref(pid=2)], 2)


def test_limit_zero_and_negative() -> None:
    assert find_references(f"{BASE} {EXEC_URL}", limit=0) == FoundReferences([], 2)
    with pytest.raises(ValueError):
        find_references(BASE, limit=-1)


@pytest.mark.parametrize(
    ("buddy_ref", "kind", "web_url", "numeric"),
    [
        (PIPELINE_REF, RefKind.PIPELINE, BASE, False),
        (EXEC_REF, RefKind.EXECUTION, EXEC_URL, False),
        (AE_REF, RefKind.ACTION_EXECUTION, AE_URL, False),
        (ref("987"), RefKind.EXECUTION, f"{BASE}/execution/987", True),
        (ref("987", ALNUM_AE), RefKind.ACTION_EXECUTION, f"{BASE}/execution/987/?actionExecutionId={ALNUM_AE}", True),
        (ref("123456789012345678901234"), RefKind.EXECUTION, f"{BASE}/execution/123456789012345678901234", False),
        (
            ref(host="ci.corp.local:8443"),
            RefKind.PIPELINE,
            f"https://ci.corp.local:8443/{WS}/{PROJECT}/pipelines/pipeline/{PID}",
            False,
        ),
    ],
    ids=["pipeline", "execution", "action", "numeric", "numeric+action", "all-digit web id", "self-hosted"],
)
def test_ref_properties(buddy_ref: BuddyRef, kind: RefKind, web_url: str, numeric: bool) -> None:
    assert buddy_ref.kind is kind
    assert buddy_ref.web_url == web_url
    assert buddy_ref.execution_id_is_numeric is numeric


def test_ref_kind_is_a_string() -> None:
    assert RefKind.ACTION_EXECUTION == "action_execution"
    assert f"{RefKind.PIPELINE}" == "pipeline"


@pytest.mark.parametrize(
    ("host", "override", "expected"),
    [
        ("app.buddy.works", None, "https://api.buddy.works"),
        ("eu.buddy.works", None, "https://api.eu.buddy.works"),
        ("ASIA.buddy.works", None, "https://api.asia.buddy.works"),
        ("buddy.example.com", None, "https://buddy.example.com/api"),
        ("ci.corp.local:8443", None, "https://ci.corp.local:8443/api"),
        ("app.buddy.works", "https://buddy.example.com/api/", "https://buddy.example.com/api"),
        ("buddy.example.com", "http://10.0.0.5/api", "http://10.0.0.5/api"),
        ("eu.buddy.works", "", "https://api.eu.buddy.works"),
    ],
)
def test_api_base_for(host: str, override: str | None, expected: str) -> None:
    assert api_base_for(host, override=override) == expected


@pytest.mark.parametrize(
    ("host", "hosts", "expected"),
    [
        ("app.buddy.works", (), True),
        ("EU.Buddy.Works", (), True),
        ("asia.buddy.works", (), True),
        ("api.buddy.works", (), False),
        ("buddy.works", (), False),
        ("app.buddy.works.evil.com", (), False),
        ("app.buddy.works@evil.com", (), False),
        ("evil.com/app.buddy.works", (), False),
        ("buddy.example.com", (), False),
        ("buddy.example.com", SELF_HOSTED, True),
        ("Buddy.Example.com", ("BUDDY.EXAMPLE.COM",), True),
        ("ci.corp.local:8443", SELF_HOSTED, True),
        ("ci.corp.local", SELF_HOSTED, False),
        ("ci.corp.local:9443", SELF_HOSTED, False),
        ("buddy.example.com:8443", SELF_HOSTED, False),
        ("", SELF_HOSTED, False),
        ("[::1", SELF_HOSTED, False),
    ],
)
def test_is_buddy_host(host: str, hosts: tuple[str, ...], expected: bool) -> None:
    assert is_buddy_host(host, hosts) is expected


PROJECT_REF = ProjectRef("app.buddy.works", WS, PROJECT)
PROJECT_URL = f"https://app.buddy.works/{WS}/{PROJECT}"

PROJECT_POSITIVE = {
    "plain": (PROJECT_URL, PROJECT_REF),
    "trailing slash": (f"{PROJECT_URL}/", PROJECT_REF),
    "pipelines": (f"{PROJECT_URL}/pipelines", PROJECT_REF),
    "pipelines, trailing slash": (f"{PROJECT_URL}/pipelines/", PROJECT_REF),
    "query and fragment": (f"{PROJECT_URL}/pipelines?view=list#top", PROJECT_REF),
    "slack link": (f"<{PROJECT_URL}|{WS}/{PROJECT}>", PROJECT_REF),
    "prose": (f"subscribe to {PROJECT_URL}/pipelines.", PROJECT_REF),
    "eu": (f"https://eu.buddy.works/{WS}/{PROJECT}", ProjectRef("eu.buddy.works", WS, PROJECT)),
    "self-hosted": (
        f"https://ci.corp.local:8443/{WS}/{PROJECT}/",
        ProjectRef("ci.corp.local:8443", WS, PROJECT),
    ),
}


@pytest.mark.parametrize(("text", "expected"), PROJECT_POSITIVE.values(), ids=PROJECT_POSITIVE.keys())
def test_finds_project(text: str, expected: ProjectRef) -> None:
    assert find_project_references(text, hosts=SELF_HOSTED) == [expected]


PROJECT_NEGATIVE = {
    "pipeline url": BASE,
    "execution url": EXEC_URL,
    "action definition": f"{PROJECT_URL}/pipelines/action/5/edit",
    "workspace root": f"https://app.buddy.works/{WS}",
    "host root": "https://app.buddy.works",
    "other host": f"https://evil.com/{WS}/{PROJECT}",
    "userinfo trick": f"https://app.buddy.works@evil.com/{WS}/{PROJECT}",
    "api host": f"https://api.buddy.works/workspaces/{WS}",
    "self-hosted, not configured": f"https://buddy.corp/{WS}/{PROJECT}",
    "dot-dot project": f"https://app.buddy.works/{WS}/..",
    "illegal handle": f"https://app.buddy.works/{WS}/web%20app",
    "names only": f"{WS} {PROJECT}",
}


@pytest.mark.parametrize("text", PROJECT_NEGATIVE.values(), ids=PROJECT_NEGATIVE.keys())
def test_finds_no_project(text: str) -> None:
    assert find_project_references(text, hosts=SELF_HOSTED) == []


def test_several_projects_in_order_without_duplicates() -> None:
    other = "https://app.buddy.works/acme-inc/api"
    text = f"{other} {PROJECT_URL} <{other}/pipelines> {PROJECT_URL}/"
    assert find_project_references(text) == [ProjectRef("app.buddy.works", WS, "api"), PROJECT_REF]


# --- property-based tests ---

HOSTS = (*CLOUD_API_BASES, *SELF_HOSTED)
handles = st.from_regex(r"[A-Za-z0-9_.-]{1,40}", fullmatch=True).filter(lambda s: s.strip("."))
ids = st.from_regex(r"[A-Za-z0-9]{1,32}", fullmatch=True)
pipeline_ids = st.integers(min_value=0, max_value=10**18 - 1)
buddy_refs = st.builds(
    lambda host, ws, project, pid, eid, aeid: BuddyRef(host, ws, project, pid, eid, aeid if eid else None),
    st.sampled_from(HOSTS),
    handles,
    handles,
    pipeline_ids,
    st.none() | ids,
    st.none() | ids,
)
# Text made from URL-ish fragments, to reach the parser more often than plain random text does.
url_soup = st.lists(
    st.sampled_from(
        [
            "https://", "http://", "app.buddy.works", "ci.corp.local:8443", "evil.com", "/", "pipelines",
            "pipeline", "execution", "acme", "123", HEX_EXEC, "?actionExecutionId=", "&amp;", "&lt;", "&gt;",
            "<", ">", "|", "@", ":", "[", "]", "%", "\\", ".", "..", ")", "#", " ", "\n", "é", "١",
        ]
    ),
    max_size=40,
).map("".join)


@given(text=st.text() | url_soup, whole_argument=st.booleans())
def test_arbitrary_text_never_raises(text: str, whole_argument: bool) -> None:
    found = find_references(text, hosts=SELF_HOSTED, whole_argument=whole_argument)
    assert len(found.refs) <= MAX_REFERENCES
    assert found.skipped >= 0
    assert all(r.host in HOSTS for r in found.refs)
    assert all(p.host in HOSTS for p in find_project_references(text, hosts=SELF_HOSTED))
    assert all(host.isprintable() and host.isascii() and host not in HOSTS for host in foreign_hosts(text, hosts=SELF_HOSTED))


@given(
    buddy_ref=buddy_refs,
    wrap=st.sampled_from(["{}", "<{}>", "<{}|open in Buddy>", "see {}.", "({})", "{}, thanks"]),
    slash=st.booleans(),
    extra_query=st.booleans(),
)
def test_built_url_round_trips(buddy_ref: BuddyRef, wrap: str, slash: bool, extra_query: bool) -> None:
    r = buddy_ref
    url = f"https://{r.host}/{r.workspace}/{r.project}/pipelines/pipeline/{r.pipeline_id}"
    if r.execution_id is not None:
        url += f"/execution/{r.execution_id}" + ("/" if slash else "")
        if r.action_execution_id is not None:
            query = f"actionExecutionId={r.action_execution_id}"
            url += f"?tab=logs&amp;{query}" if extra_query else f"?{query}"
    assert find_references(wrap.format(url), hosts=SELF_HOSTED) == FoundReferences([r], 0)


@given(buddy_ref=buddy_refs)
def test_web_url_round_trips(buddy_ref: BuddyRef) -> None:
    assert find_references(buddy_ref.web_url, hosts=SELF_HOSTED).refs == [buddy_ref]


@given(buddy_ref=buddy_refs.filter(lambda r: r.execution_id is not None))
def test_explicit_ids_round_trip(buddy_ref: BuddyRef) -> None:
    r = buddy_ref
    parts = [r.workspace, r.project, str(r.pipeline_id), r.execution_id, r.action_execution_id]
    text = " ".join(p for p in parts if p is not None)
    found = find_references(text, whole_argument=True, default_host=r.host)
    assert found.refs == [r]


@given(host=st.sampled_from(HOSTS), ws=handles, project=handles.filter(lambda s: not s.endswith(".")))
def test_project_url_round_trips(host: str, ws: str, project: str) -> None:
    for url in (f"https://{host}/{ws}/{project}", f"https://{host}/{ws}/{project}/pipelines/"):
        assert find_project_references(url, hosts=SELF_HOSTED) == [ProjectRef(host, ws, project)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://evil.example.com/acme/web/pipelines/pipeline/7", ["evil.example.com"]),
        ("<https://App.Buddy.Works.evil.io/a/b/pipelines/pipeline/1|app.buddy.works> and http://x.test:8080/",
         ["app.buddy.works.evil.io", "x.test:8080"]),
        ("https://evil.com\\@app.buddy.works/acme/web/pipelines/pipeline/7", ["evil.com\\@app.buddy.works"]),
        ("https://\x1b[31mred.test/", ["?[31mred.test"]),
        ("https://a.test/1 https://a.test/2", ["a.test"]),
        ("https://app.buddy.works/security https://buddy.corp.example/x", []),  # Buddy hosts, though not runs
        ("acme web 7 12", []),
    ],
)
def test_foreign_hosts_are_the_links_to_hosts_the_bot_does_not_answer_for(text: str, expected: list[str]) -> None:
    assert foreign_hosts(text, hosts=("buddy.corp.example",)) == expected
