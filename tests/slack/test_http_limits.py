"""The nesting check that runs before Bolt parses a Slack request: it agrees with the JSON's real
depth for any JSON (strings full of brackets, quotes and backslashes included), without recursion."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.slack.http_limits import MAX_JSON_DEPTH, nests_deeper_than, slack_body_nests_too_deep

TRICKY_TEXT = st.text(alphabet=st.sampled_from('[]{}"\\/ab\n\u00e9\u2028'), max_size=12)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TRICKY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TRICKY_TEXT, inner, max_size=4),
    max_leaves=40,
)


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    return 0


@settings(max_examples=400, deadline=None)
@given(JSON_VALUES, st.integers(min_value=0, max_value=8), st.booleans())
def test_agrees_with_the_real_depth_of_any_json(value: Any, limit: int, ascii_only: bool):
    text = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert nests_deeper_than(text, limit) == (depth(value) > limit)


def test_a_100000_level_body_or_payload_is_too_deep_and_a_slack_sized_one_is_not():
    deep = "[" * 100_000 + "]" * 100_000
    assert slack_body_nests_too_deep(('{"event": ' + deep + "}").encode())
    assert slack_body_nests_too_deep(urlencode({"payload": deep}).encode())
    at_limit = "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1)
    assert not slack_body_nests_too_deep(('{"event": ' + at_limit + "}").encode())
    assert not slack_body_nests_too_deep(urlencode({"payload": '{"a": ' + at_limit + "}"}).encode())
    # A slash command's text is the person's, brackets and all: it is never parsed as JSON.
    assert not slack_body_nests_too_deep(urlencode({"command": "/buddy", "text": deep}).encode())
