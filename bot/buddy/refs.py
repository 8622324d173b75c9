"""Find Buddy.Works pipeline, execution and action-execution references in free text.

Pure and stdlib-only. A web URL carries the web's execution id (usually 24 hex characters), not the
API's integer id; turning one into the other is the API client's job (buddy-api.md, section 1).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import SplitResult, parse_qs, urlsplit

DEFAULT_HOST = "app.buddy.works"
CLOUD_API_BASES = {
    "app.buddy.works": "https://api.buddy.works",
    "eu.buddy.works": "https://api.eu.buddy.works",
    "asia.buddy.works": "https://api.asia.buddy.works",
}
MAX_REFERENCES = 5

# Slack sends links as <url> or <url|label>. Only the target counts: the label is free text and may
# show one URL while linking to another.
_CANDIDATE = re.compile(r"<(https?://[^<>|\s]+)(?:\|[^<>]*)?>|(https?://[^\s<>]+)", re.IGNORECASE)
# Punctuation that prose glues to a bare URL ("see https://…/12)."). A Buddy URL never ends with it.
_TRAILING_PUNCTUATION = ".,;:!?)]}'\""
_HANDLE = re.compile(r"[A-Za-z0-9_.-]+")
_ID = re.compile(r"[A-Za-z0-9]+")
# API ids are 64-bit integers. The cap also keeps int() clear of its 4300-digit limit, and a 24-char
# all-digit web id (rare but possible for hex) is not mistaken for an API id.
_API_INT = re.compile(r"[0-9]{1,18}")

_Ref = TypeVar("_Ref")


class RefKind(enum.StrEnum):
    ACTION_EXECUTION = "action_execution"
    EXECUTION = "execution"
    PIPELINE = "pipeline"


@dataclass(frozen=True, slots=True)
class BuddyRef:
    """A pipeline (meaning its latest run), one execution, or one action execution."""

    host: str
    workspace: str
    project: str
    pipeline_id: int
    execution_id: str | None = None
    action_execution_id: str | None = None

    @property
    def kind(self) -> RefKind:
        if self.action_execution_id is not None:
            return RefKind.ACTION_EXECUTION
        if self.execution_id is not None:
            return RefKind.EXECUTION
        return RefKind.PIPELINE

    @property
    def web_url(self) -> str:
        url = f"https://{self.host}/{self.workspace}/{self.project}/pipelines/pipeline/{self.pipeline_id}"
        if self.execution_id is None:
            return url
        url += f"/execution/{self.execution_id}"
        if self.action_execution_id is None:
            return url
        return f"{url}/?actionExecutionId={self.action_execution_id}"

    @property
    def execution_id_is_numeric(self) -> bool:
        """True when the execution id is the API's integer id, so it needs no lookup."""
        return self.execution_id is not None and _API_INT.fullmatch(self.execution_id) is not None


@dataclass(frozen=True, slots=True)
class ProjectRef:
    host: str
    workspace: str
    project: str


@dataclass(frozen=True, slots=True)
class FoundReferences:
    refs: list[BuddyRef]
    skipped: int


def find_references(
    text: str,
    *,
    hosts: Iterable[str] = (),
    whole_argument: bool = False,
    default_host: str = DEFAULT_HOST,
    limit: int = MAX_REFERENCES,
) -> FoundReferences:
    """Distinct run references in order of appearance, at most `limit` of them.

    With `whole_argument` (a slash-command argument), the whole text may also be explicit ids:
    `workspace project pipeline_id execution_id [action_execution_id]`, on `default_host`.
    """
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    explicit = _parse_explicit_ids(text, default_host) if whole_argument else None
    found = [explicit] if explicit else _scan(text, hosts, _parse_run_url)
    return FoundReferences(found[:limit], max(len(found) - limit, 0))


def find_project_references(text: str, *, hosts: Iterable[str] = ()) -> list[ProjectRef]:
    """Distinct project URLs (`/{ws}/{project}`, optionally `/pipelines`) in order of appearance.

    Two-segment app pages (say `/security/tokens`) look the same; the API lookup rejects those.
    """
    return _scan(text, hosts, _parse_project_url)


def api_base_for(host: str, *, override: str | None = None) -> str:
    """The API base URL for a web host; `override` (BUDDY_API_URL) wins when set."""
    if override:
        return override.rstrip("/")
    host = host.lower()
    return CLOUD_API_BASES.get(host, f"https://{host}/api")


def foreign_hosts(text: str, *, hosts: Iterable[str] = ()) -> list[str]:
    """The hosts of the links in `text` that are not Buddy hosts (the cloud's, and `hosts`), in order,
    once each, in printable characters only (they are echoed to the person)."""
    known = _known_hosts(hosts)
    found: dict[str, None] = {}
    for url in _candidate_urls(text):
        try:
            parts = urlsplit(url)
            host = _host_key(parts) or parts.netloc.lower()
        except ValueError:  # malformed IPv6 literal or port
            host = url.split("//", 1)[-1].split("/", 1)[0].lower()
        if host not in known:
            found["".join(c if c.isprintable() and c.isascii() else "?" for c in host)[:100]] = None
    return list(found)


def is_buddy_host(host: str, hosts: Iterable[str] = ()) -> bool:
    """Whether `host` (`name[:port]`) is a Buddy cloud host or one of the configured `hosts`.

    Case-insensitive; a port is significant, so "buddy.corp:8443" matches only that port.
    """
    return _normalize_host(host) in _known_hosts(hosts)


def _scan(text: str, hosts: Iterable[str], parse: Callable[[str, frozenset[str]], _Ref | None]) -> list[_Ref]:
    known = _known_hosts(hosts)
    found = (parse(url, known) for url in _candidate_urls(text))
    return list(dict.fromkeys(ref for ref in found if ref is not None))


def _candidate_urls(text: str) -> Iterator[str]:
    for match in _CANDIDATE.finditer(text):
        slack_target, bare = match.groups()
        if slack_target:
            yield _slack_unescape(slack_target)
        else:
            yield _slack_unescape(bare).rstrip(_TRAILING_PUNCTUATION)


def _slack_unescape(text: str) -> str:
    # Slack escapes exactly these three. "&amp;" goes last so "&amp;lt;" becomes "&lt;", not "<".
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _parse_run_url(url: str, known_hosts: frozenset[str]) -> BuddyRef | None:
    split = _split_buddy_url(url, known_hosts)
    if split is None:
        return None
    host, segments, query = split
    match segments:
        case [workspace, project, "pipelines", "pipeline", pipeline_id, "execution", execution_id, *_]:
            action_ids = parse_qs(query).get("actionExecutionId")
            ids = [execution_id, action_ids[0]] if action_ids else [execution_id]
        case [workspace, project, "pipelines", "pipeline", pipeline_id, *_]:
            ids = []  # /run, /edit, /trigger-webhook…: still the pipeline
        case _:
            return None
    return _build_ref(host, workspace, project, pipeline_id, *ids)


def _parse_project_url(url: str, known_hosts: frozenset[str]) -> ProjectRef | None:
    split = _split_buddy_url(url, known_hosts)
    if split is None:
        return None
    host, segments, _ = split
    match segments:
        case [workspace, project] | [workspace, project, "pipelines"]:
            if _is_handle(workspace) and _is_handle(project):
                return ProjectRef(host, workspace, project)
    return None


def _parse_explicit_ids(text: str, default_host: str) -> BuddyRef | None:
    tokens = text.split()
    if len(tokens) not in (4, 5):
        return None
    return _build_ref(default_host.strip().lower(), *tokens)


def _build_ref(
    host: str,
    workspace: str,
    project: str,
    pipeline_id: str,
    execution_id: str | None = None,
    action_execution_id: str | None = None,
) -> BuddyRef | None:
    """A BuddyRef if every part is valid. Callers then put the parts into URL paths unescaped."""
    if not (_is_handle(workspace) and _is_handle(project) and _API_INT.fullmatch(pipeline_id)):
        return None
    if any(part is not None and not _ID.fullmatch(part) for part in (execution_id, action_execution_id)):
        return None
    return BuddyRef(host, workspace, project, int(pipeline_id), execution_id, action_execution_id)


def _is_handle(value: str) -> bool:
    # "." and ".." are made of legal characters but would walk up the API path.
    return _HANDLE.fullmatch(value) is not None and value.strip(".") != ""


def _split_buddy_url(url: str, known_hosts: frozenset[str]) -> tuple[str, list[str], str] | None:
    """(host, path segments, query) of an http(s) URL on a Buddy host, else None."""
    try:
        parts = urlsplit(url)
        host = _host_key(parts)
    except ValueError:  # malformed IPv6 literal or port
        return None
    if parts.scheme not in ("http", "https") or host not in known_hosts:
        return None
    return host, parts.path.strip("/").split("/"), parts.query


def _host_key(parts: SplitResult) -> str | None:
    # Any userinfo is refused: Buddy links never carry it, and "https://evil.com\@app.buddy.works"
    # is evil.com to a browser but app.buddy.works to urlsplit.
    if "@" in parts.netloc or not parts.hostname:
        return None
    return parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"


def _normalize_host(value: str) -> str | None:
    """`name[:port]` in lower case from a bare host or a URL, or None if it is not one."""
    value = value.strip()
    try:
        return _host_key(urlsplit(value if "//" in value else f"//{value}"))
    except ValueError:
        return None


def _known_hosts(hosts: Iterable[str]) -> frozenset[str]:
    if isinstance(hosts, str):  # a lone string would otherwise be read as one host per character
        hosts = (hosts,)
    configured = (_normalize_host(host) for host in hosts)
    return frozenset(CLOUD_API_BASES).union(host for host in configured if host)
