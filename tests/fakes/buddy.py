"""A fake Buddy.Works REST API: a real HTTP server on 127.0.0.1 shaped like the documented one.

Build a scenario with ``add_execution`` (newest last added = newest run), point ``BUDDY_API_URL`` at
``fake.url``, and read back ``calls()``. Faults are switched on with ``fault``, ``latency``,
``include_log`` and ``fail_log_offsets`` (log pages that fail, by their offset). Bodies Buddy should
never send, but a broken proxy or server might, are faults too:
``fault(…, body_stream="drip" | "endless" | "gzip-bomb")``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import secrets
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from aiohttp import web

from tests.fakes.buddy_oauth import FakeOAuth
from tests.fakes.server import Recorded, ThreadedServer

TOKEN = "buddy-test-token"
BODY_STREAMS = ("drip", "endless", "gzip-bomb")
GZIP_BOMB_MB = 512
BASE_TIME = datetime(2025, 5, 28, 9, 51, 38, 709000, tzinfo=timezone.utc)


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class FakeAction:
    name: str = "Build"
    type: str = "BUILD"
    status: str = "SUCCESSFUL"
    log: list[str] = field(default_factory=lambda: ["Build started.", "Done"])
    ae_id: str = field(default_factory=lambda: secrets.token_hex(12))
    action_id: int = 1
    progress: float | None = None
    start: datetime | None = BASE_TIME
    finish: datetime | None = BASE_TIME + timedelta(seconds=47)
    approver_id: int | None = None
    approval_date: datetime | None = None
    terminator_id: int | None = None  # who stopped the run (a workspace member), and when
    termination_date: datetime | None = None
    passed_variables: list[dict[str, Any]] = field(default_factory=list)
    outputted_variables: list[dict[str, Any]] = field(default_factory=list)
    error_message: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class FakeExecution:
    id: int
    web_id: str
    status: str = "SUCCESSFUL"
    branch: str = "master"
    revision: str = "4bc2f8a1d3e5f7a9b1c3d5e7f9a1b3c5d7e9f1a3"
    message: str = "Fix the build"
    creator: str = "Ann Example"
    pipeline_name: str = "Deploy to production"
    actions: list[FakeAction] = field(default_factory=list)
    start: datetime | None = BASE_TIME
    finish: datetime | None = BASE_TIME + timedelta(minutes=2)
    listed: bool = True  # False: left out of the executions list (a run only a webhook told about)
    comment: str = ""
    creator_id: int = 3
    variables: list[dict[str, Any]] = field(default_factory=list)  # as a run was started with (POST)


class FakeBuddy:
    def __init__(self, web_host: str = "app.buddy.works") -> None:
        self.web_host = web_host
        self.tokens = {TOKEN}
        self.pipelines: dict[tuple[str, str, int], list[FakeExecution]] = {}
        self.members: dict[tuple[str, int], str] = {}
        self.token_info: dict[str, Any] = {"name": "bot", "expires_at": None, "scopes": ["WORKSPACE", "EXECUTION_INFO"]}
        # People's own tokens (linked accounts): token -> the Buddy user it is, with its scopes.
        self.users: dict[str, dict[str, Any]] = {}
        self.oauth = FakeOAuth(self)  # /oauth2/authorize and /oauth2/token (tests/fakes/buddy_oauth.py)
        # Pipelines only some tokens may read (others get 403): (ws, project, pipeline id) -> tokens.
        self.readers: dict[tuple[str, str, int], set[str]] = {}
        self.latency = 0.0
        self.include_log = True
        self.fail_log_offsets: set[int] = set()  # /logs pages from these offsets are answered 500
        self.webhooks: dict[str, list[dict[str, Any]]] = {}  # workspace -> its webhooks, as created
        self.pipeline_settings: dict[tuple[str, str, int], dict[str, Any]] = {}  # see add_pipeline
        # PATCH …/executions/:id: the tokens Buddy lets act on a pipeline's runs (others get 403; no entry:
        # any token with EXECUTION_RUN), and every operation applied, in order.
        self.operators: dict[tuple[str, str, int], set[str]] = {}
        self.operations: list[dict[str, Any]] = []
        self.settable_needs_set_variables = False  # a newer installation: settable variables take SET_VARIABLES
        self._faults: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.server = ThreadedServer(app)

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> FakeBuddy:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    @property
    def url(self) -> str:
        return self.server.base_url

    # -- scenario ---------------------------------------------------------------------------------
    def add_execution(
        self, ws: str = "acme", project: str = "web", pipeline_id: int = 7, *, actions: list[FakeAction] | None = None, **kw: Any
    ) -> FakeExecution:
        runs = self.pipelines.setdefault((ws, project, pipeline_id), [])
        execution = FakeExecution(id=len(runs) + 1, web_id=kw.pop("web_id", secrets.token_hex(12)), **kw)
        execution.actions = actions if actions is not None else [FakeAction()]
        runs.append(execution)
        return execution

    def add_user(self, token: str, name: str, *, user_id: int | None = None,
                 scopes: tuple[str, ...] = ("USER_INFO", "EXECUTION_INFO", "EXECUTION_RUN")) -> dict[str, Any]:
        """A Buddy user whose personal token (or OAuth access token) is ``token``."""
        user = {"id": user_id or 100 + len(self.users), "name": name, "email": f"{name.lower()}@example.com",
                "scopes": list(scopes)}
        self.users[token] = user
        self.tokens.add(token)
        return user

    def add_pipeline(self, ws: str = "acme", project: str = "web", pipeline_id: int = 7, *, name: str = "Deploy website",
                     branch: str | None = "master", refs: list[str] | None = None, runners: set[str] | None = None,
                     actions: tuple[str, ...] = ("Build",), status: str = "INPROGRESS") -> dict[str, Any]:
        """A pipeline that can be read (``GET …/pipelines/:id``) and run (``POST …/executions``).
        ``branch`` None with ``refs`` like ``["refs/heads/feature/*"]``: a wildcard pipeline. ``runners``:
        the only tokens Buddy lets run it (None: any token with EXECUTION_RUN). A new run has
        ``actions``, each in ``status`` (INPROGRESS or ENQUEUED), until the test moves it on."""
        self.pipelines.setdefault((ws, project, pipeline_id), [])
        settings = {"name": name, "branch": branch, "refs": refs if refs is not None else [f"refs/heads/{branch}"],
                    "runners": runners, "actions": actions, "status": status}
        self.pipeline_settings[(ws, project, pipeline_id)] = settings
        return settings

    def pipeline_definition(self, ws: str, project: str, pipeline_id: int) -> dict[str, Any]:
        runs = self.pipelines.get((ws, project, pipeline_id)) or []
        default = {"name": runs[-1].pipeline_name if runs else f"Pipeline {pipeline_id}", "branch": "master",
                   "refs": ["refs/heads/master"], "runners": None, "actions": ("Build",), "status": "INPROGRESS"}
        return self.pipeline_settings.get((ws, project, pipeline_id), default)

    @staticmethod
    def change(execution: FakeExecution, index: int = 0, **changes: Any) -> FakeAction:
        """Moves a run on (``status="FAILED", finish=…``): the action is swapped for a changed copy in
        one step, so a request served meanwhile sees the old action or the new one, never half of each."""
        changed = dataclasses.replace(execution.actions[index], **changes)
        execution.actions[index] = changed
        return changed

    def html_url(self, ws: str, project: str, pipeline_id: int, execution: FakeExecution, ae: FakeAction | None = None) -> str:
        url = f"https://{self.web_host}/{ws}/{project}/pipelines/pipeline/{pipeline_id}/execution/{execution.web_id}"
        return f"{url}/?actionExecutionId={ae.ae_id}" if ae else url

    def fault(self, path_contains: str, status: int = 500, *, body: Any = None, times: int | None = None,
              headers: dict[str, str] | None = None, raw: str | None = None, content_type: str = "application/json",
              reset: bool = False, delay: float = 0.0, whole_path: bool = False, body_stream: str | None = None,
              method: str | None = None, landed: bool = False) -> None:
        """Answer requests whose path contains ``path_contains`` with this instead (``times=None``: always).
        ``raw`` sends a literal body (HTML pages, broken JSON); ``reset`` drops the connection;
        ``whole_path`` matches only that exact path (an execution, not its action executions).
        ``body_stream``: ``"drip"`` sends the real answer one byte a second; ``"endless"`` a chunked
        body that never ends; ``"gzip-bomb"`` a small gzip body that inflates to ``GZIP_BOMB_MB`` MB.
        ``method``: only requests of that method. ``landed``: the request is served first (a POST starts
        its run), then its answer is held for ``delay`` (the bot can be killed before it hears back)."""
        assert body_stream in (None, *BODY_STREAMS), body_stream
        self._faults.append({"match": path_contains, "status": status, "body": body, "times": times, "headers": headers or {},
                             "raw": raw, "content_type": content_type, "reset": reset, "delay": delay,
                             "whole_path": whole_path, "body_stream": body_stream, "method": method, "landed": landed})

    def clear_faults(self) -> None:
        self._faults.clear()

    # -- observation ------------------------------------------------------------------------------
    def calls(self, path_contains: str = "") -> list[Recorded]:
        return self.server.matching(lambda r: path_contains in r.path)

    def reset_calls(self) -> None:
        with self.server.lock:
            self.server.received.clear()

    # -- serving ----------------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        # raw_path: what was sent, before aiohttp decodes %2F and friends
        self.server.record(Recorded(request.method, request.raw_path.split("?", 1)[0], dict(request.query), dict(request.headers),
                                    await request.text() if request.can_read_body else None))
        if self.latency:
            await asyncio.sleep(self.latency)
        fault = self._take_fault(request.path, request.method)
        if fault is not None:
            return await self._fault_response(request, fault)
        if request.path.startswith("/oauth2/"):  # a browser, or the app's own credentials: no Bearer token
            return await self.oauth.handle(request)
        return await self._authorized_route(request)

    async def _authorized_route(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ") not in self.tokens:
            return _error(401, "Invalid token")
        if self.oauth.expired(auth.removeprefix("Bearer ")):
            return _error(401, "Token expired")
        return await self._route(request)

    def _take_fault(self, path: str, method: str) -> dict[str, Any] | None:
        for fault in self._faults:
            matches = fault["match"] == path if fault["whole_path"] else fault["match"] in path
            matches = matches and fault["method"] in (None, method)
            if matches and fault["times"] != 0:
                if fault["times"] is not None:
                    fault["times"] -= 1
                return fault
        return None

    async def _fault_response(self, request: web.Request, fault: dict[str, Any]) -> web.StreamResponse:
        if fault["landed"]:
            served = await self._authorized_route(request)
            await asyncio.sleep(fault["delay"])
            return served
        if fault["delay"]:
            await asyncio.sleep(fault["delay"])
        if fault["reset"]:
            request.transport.close()  # type: ignore[union-attr]
            raise asyncio.CancelledError
        if fault["body_stream"] is not None:
            return await self._body_stream(request, fault["body_stream"])
        if fault["status"] == 200 and fault["body"] is None and fault["raw"] is None:
            return await self._route(request)
        text = fault["raw"] if fault["raw"] is not None else json.dumps(
            fault["body"] if fault["body"] is not None else {"errors": [{"message": f"fault {fault['status']}"}]})
        return web.Response(status=fault["status"], text=text, content_type=fault["content_type"], headers=fault["headers"])

    async def _body_stream(self, request: web.Request, kind: str) -> web.StreamResponse:
        if kind == "gzip-bomb":
            return web.Response(body=gzip_bomb(), headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)  # chunked: no Content-Length to refuse it by
        try:
            if kind == "drip":
                for byte in (await self._route(request)).body:  # type: ignore[union-attr]
                    await response.write(bytes([byte]))
                    await asyncio.sleep(1.0)
            else:
                chunk = b'{"log": [' + b'"' + b"x" * (64 * 1024) + b'",'
                while True:  # until the client hangs up
                    await response.write(chunk)
        except (ConnectionError, asyncio.CancelledError):
            pass
        return response

    async def _route(self, request: web.Request) -> web.Response:
        parts = [p for p in request.path.split("/") if p]
        if parts == ["user", "token"]:
            user = self.users.get(request.headers["Authorization"].removeprefix("Bearer "))
            if user is not None:  # a person's token: its own scopes
                return _json({"name": f"{user['name']}'s token", "expires_at": None, "scopes": user["scopes"]})
            return _json(self.token_info)
        if parts == ["user"]:
            user = self.users.get(request.headers["Authorization"].removeprefix("Bearer "))
            if user is None:
                return _json({"id": 1, "name": "Bot", "email": "bot@example.com"})
            if "USER_INFO" not in user["scopes"]:
                return _error(403, "Token has no permission to USER_INFO")
            return _json({k: v for k, v in user.items() if k != "scopes"})
        if len(parts) == 4 and parts[0] == "workspaces" and parts[2] == "members":
            name = self.members.get((parts[1], int(parts[3])))
            return _json({"id": int(parts[3]), "name": name, "email": "x@example.com"}) if name else _error(404, "Member not found")
        if len(parts) in (3, 4) and parts[0] == "workspaces" and parts[2] == "webhooks":
            return await self._webhook_route(request, parts[1], parts[3:])
        if len(parts) == 5 and parts[0] == "workspaces" and parts[2] == "projects" and parts[4] == "pipelines":
            return self._pipelines_list(parts[1], parts[3])
        if len(parts) == 6 and parts[0] == "workspaces" and parts[2] == "projects" and parts[4] == "pipelines":
            return self._pipeline(request, parts[1], parts[3], int(parts[5]))
        if len(parts) < 7 or parts[0] != "workspaces" or parts[2] != "projects" or parts[4] != "pipelines":
            return _error(404, "Not found")
        ws, project, pid = parts[1], parts[3], int(parts[5])
        runs = self.pipelines.get((ws, project, pid))
        if runs is None:
            return _error(404, "Pipeline not found")
        readers = self.readers.get((ws, project, pid))
        if readers is not None and request.headers["Authorization"].removeprefix("Bearer ") not in readers:
            return _error(403, "You don't have permission to view this pipeline")
        rest = parts[6:]
        if rest == ["executions"] and request.method == "POST":
            return await self._run(request, ws, project, pid, runs)
        if rest == ["executions"]:
            return self._list(request, ws, project, pid, runs)
        execution = next((r for r in runs if rest[1:2] == [str(r.id)]), None)
        if execution is None:
            return _error(404, "Execution not found")
        if len(rest) == 2 and request.method == "PATCH":
            return await self._operate(request, ws, project, pid, execution)
        if len(rest) == 2:
            return _json(self._execution(ws, project, pid, execution))
        ae = next((a for a in execution.actions if rest[2:4] == ["action_executions", a.ae_id]), None)
        if ae is None:
            return _error(404, "Action execution not found")
        if len(rest) == 4:
            return _json(self._details(ws, project, pid, execution, ae))
        if rest[4:] == ["logs"]:
            offset = int(request.query.get("offset", 0))
            limit = min(int(request.query.get("limit", 100)), 1000)
            if offset in self.fail_log_offsets:
                return _error(500, "Internal server error")
            chunk = ae.log[offset:offset + limit]
            return _json({"url": request.path, "offset": offset, "element_count": len(chunk),
                          "total_element_count": len(ae.log), "logs": chunk})
        return _error(404, "Not found")

    def _pipeline(self, request: web.Request, ws: str, project: str, pid: int) -> web.Response:
        """GET …/pipelines/:id: its name and refs, in both shapes Buddy has used (``ref_name`` and
        ``ref_type`` on older installations, ``refs`` on newer ones)."""
        if (ws, project, pid) not in self.pipelines:
            return _error(404, "Pipeline not found")
        readers = self.readers.get((ws, project, pid))
        if readers is not None and request.headers["Authorization"].removeprefix("Bearer ") not in readers:
            return _error(403, "You don't have permission to view this pipeline")
        definition = self.pipeline_definition(ws, project, pid)
        refs = definition["refs"]
        wildcard = any("*" in ref for ref in refs)
        return _json({"url": self._api(ws, project, pid), "html_url": f"https://{self.web_host}/{ws}/{project}/pipelines/pipeline/{pid}",
                      "id": pid, "name": definition["name"], "identifier": definition["name"].lower().replace(" ", "-"),
                      "on": "CLICK", "refs": refs, "ref_type": "WILDCARD" if wildcard else "BRANCH",
                      "ref_name": refs[0].removeprefix("refs/heads/") if len(refs) == 1 else None,
                      "last_execution_status": "INITIAL"})

    async def _run(self, request: web.Request, ws: str, project: str, pid: int, runs: list[FakeExecution]) -> web.Response:
        """POST …/executions (scope EXECUTION_RUN, PIPELINE_RUN on newer installations): a new run, by
        the token's user. 403 without the scope or for a token ``add_pipeline(runners=…)`` leaves out;
        400 for a body Buddy would refuse."""
        token = request.headers["Authorization"].removeprefix("Bearer ")
        user = self.users.get(token)
        scopes = user["scopes"] if user is not None else self.token_info.get("scopes", [])
        if not {"EXECUTION_RUN", "PIPELINE_RUN"} & set(scopes):
            return _error(403, "Token has no permission to EXECUTION_RUN")
        definition = self.pipeline_definition(ws, project, pid)
        if definition["runners"] is not None and token not in definition["runners"]:
            return _error(403, "You don't have permission to run this pipeline")
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "Invalid JSON")
        if not isinstance(body, dict):
            return _error(400, "Invalid JSON")
        revision = (body.get("to_revision") or {}).get("revision")
        if not isinstance(revision, str) or not revision:
            return _error(400, "to_revision is required")
        branch = (body.get("branch") or {}).get("name") or definition["branch"]
        if not branch:
            return _error(400, "Branch is required: the pipeline runs on wildcard refs")
        variables = body.get("variables", [])
        if not isinstance(variables, list) or not all(
                isinstance(v, dict) and isinstance(v.get("key"), str) and isinstance(v.get("value"), str) for v in variables):
            return _error(400, "variables must be a list of {key, value}")
        now = datetime.now(timezone.utc)
        status = definition["status"]
        execution = FakeExecution(
            id=len(runs) + 1, web_id=secrets.token_hex(12), status=status, branch=branch,
            revision=FakeExecution.revision if revision == "HEAD" else revision,
            creator=user["name"] if user else "Bot", creator_id=user["id"] if user else 1,
            pipeline_name=definition["name"], comment=str(body.get("comment") or ""), variables=variables,
            start=now, finish=None,
            actions=[FakeAction(name=name, status=status, start=now, finish=None, log=[]) for name in definition["actions"]])
        runs.append(execution)
        return _json(self._execution(ws, project, pid, execution))

    async def _operate(self, request: web.Request, ws: str, project: str, pid: int, run: FakeExecution) -> web.Response:
        """PATCH …/executions/:id ``{"operation": APPLY | APPLY_VARIABLES | SET_VARIABLES | RETRY | CANCEL}``
        (scope EXECUTION_RUN), moving the run as Buddy does; 400 when the run is not in that state, 403
        without the scope or for a token ``operators`` leaves out. An approval records the token's user
        as the approver of the action (``approve_action_id``, else the first one waiting)."""
        token = request.headers["Authorization"].removeprefix("Bearer ")
        user = self.users.get(token) or {"id": 1, "name": "Bot", "scopes": self.token_info.get("scopes", [])}
        if "EXECUTION_RUN" not in user["scopes"]:
            return _error(403, "Token has no permission to EXECUTION_RUN")
        allowed = self.operators.get((ws, project, pid))
        if allowed is not None and token not in allowed:
            return _error(403, "You don't have permission to do this in this pipeline")
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "Invalid JSON")
        operation = body.get("operation") if isinstance(body, dict) else None
        now = datetime.now(timezone.utc)
        status = run.status.upper()
        if operation == "APPLY" or operation in ("APPLY_VARIABLES", "SET_VARIABLES"):
            wanted = ("WAITING_FOR_APPLY",) if operation == "APPLY" else ("WAITING_FOR_VARIABLES", "WAITING_FOR_SETTABLE_VARIABLES")
            waiting = [i for i, a in enumerate(run.actions) if a.status in wanted]
            chosen = [i for i in waiting if run.actions[i].ae_id == body.get("approve_action_id")] or waiting[:1]
            if not chosen:
                return _error(400, "The execution is not waiting for approval" if operation == "APPLY" else "The execution is not waiting for variables")
            settable = run.actions[chosen[0]].status == "WAITING_FOR_SETTABLE_VARIABLES"
            if operation == "APPLY_VARIABLES" and settable and self.settable_needs_set_variables:
                return _error(400, "Settable variables are set with SET_VARIABLES")
            if operation != "APPLY":
                variables = body.get("variables")
                if not isinstance(variables, list) or not all(isinstance(v, dict) and isinstance(v.get("key"), str) for v in variables):
                    return _error(400, "variables are required")
                run.variables = [*run.variables, *variables]
                self.change(run, chosen[0], status="SUCCESSFUL", finish=now, passed_variables=[
                    {"key": v["key"], "value": v.get("value", ""), "encrypted": False} for v in variables])
            else:
                self.change(run, chosen[0], status="SUCCESSFUL", finish=now, approver_id=user["id"], approval_date=now)
            if not any(a.status.startswith("WAITING_FOR_") for a in run.actions):
                run.status = "INPROGRESS"
        elif operation == "RETRY":
            if status not in ("FAILED", "TERMINATED"):
                return _error(400, "Only a failed or terminated execution can be retried")
            for index, action in enumerate(run.actions):
                if action.status in ("FAILED", "TERMINATED"):
                    self.change(run, index, status="INPROGRESS", finish=None, error_message=None)
            run.status, run.finish = "INPROGRESS", None
        elif operation == "CANCEL":
            if status not in ("ENQUEUED", "INITIAL", "INPROGRESS", "WAITING_FOR_APPLY", "WAITING_FOR_VARIABLES",
                              "WAITING_FOR_SETTABLE_VARIABLES", "WAITING_FOR_VT_SESSION"):
                return _error(400, "The execution is not running")
            for index, action in enumerate(run.actions):
                if action.finish is None:
                    self.change(run, index, status="TERMINATED", finish=now, terminator_id=user["id"], termination_date=now)
            run.status, run.finish = "TERMINATED", now
        else:
            return _error(400, f"Invalid operation: {operation!r}")
        self.operations.append({"operation": operation, "user": user["name"], "execution": run.id, "body": body})
        return _json(self._execution(ws, project, pid, run))

    def _pipelines_list(self, ws: str, project: str) -> web.Response:
        found = [{"id": pid, "name": runs[-1].pipeline_name if runs else f"Pipeline {pid}",
                  "html_url": f"https://{self.web_host}/{ws}/{project}/pipelines/pipeline/{pid}"}
                 for (w, p, pid), runs in self.pipelines.items() if (w, p) == (ws, project)]
        if not found:
            return _error(404, "Project not found")
        return _json({"page": 1, "page_size": len(found), "total_page_count": 1, "pipelines": found})

    async def _webhook_route(self, request: web.Request, ws: str, rest: list[str]) -> web.Response:
        hooks = self.webhooks.setdefault(ws, [])
        if not rest and request.method == "GET":
            return _json({"webhooks": [{"id": h["id"], "target_url": h["target_url"]} for h in hooks]})
        if not rest and request.method == "POST":
            hook = {"id": next(self._ids), **await request.json()}
            hooks.append(hook)
            return _json(hook, 201)
        hook = next((h for h in hooks if rest == [str(h["id"])]), None)
        if hook is None:
            return _error(404, "Webhook not found")
        if request.method == "PATCH":
            hook.update(await request.json())
        return _json(hook)

    def _list(self, request: web.Request, ws: str, project: str, pid: int, runs: list[FakeExecution]) -> web.Response:
        page = int(request.query.get("page", 1))
        per_page = int(request.query.get("per_page", 20))
        newest_first = [r for r in reversed(runs) if r.listed]
        chunk = newest_first[(page - 1) * per_page: page * per_page]
        total_pages = max(1, -(-len(newest_first) // per_page))
        return _json({"page": page, "page_size": per_page, "total_page_count": total_pages, "element_count": len(chunk),
                      "total_element_count": len(newest_first),
                      "executions": [self._execution(ws, project, pid, r, with_actions=False) for r in chunk]})

    def _api(self, ws: str, project: str, pid: int) -> str:
        return f"{self.url}/workspaces/{ws}/projects/{project}/pipelines/{pid}"

    def _execution(self, ws: str, project: str, pid: int, r: FakeExecution, *, with_actions: bool = True) -> dict[str, Any]:
        body = {
            "url": f"{self._api(ws, project, pid)}/executions/{r.id}",
            "html_url": self.html_url(ws, project, pid, r),
            "id": r.id, "start_date": iso(r.start), "finish_date": iso(r.finish), "triggeredOn": "CLICK",
            "priority": "NORMAL", "refresh": False, "status": r.status, "comment": r.comment,
            "branch": {"url": "", "html_url": "", "name": r.branch, "default": r.branch == "master"},
            "to_revision": {"revision": r.revision, "short_revision": r.revision[:7], "message": r.message,
                            "html_url": f"https://github.com/acme/web/commit/{r.revision}"},
            "creator": {"id": r.creator_id, "name": r.creator, "email": "ann@example.com"},
            "pipeline": {"id": pid, "name": r.pipeline_name, "html_url": f"https://{self.web_host}/{ws}/{project}/pipelines/pipeline/{pid}"},
        }
        if with_actions:
            body["action_executions"] = [self._summary_item(ws, project, pid, r, a) for a in r.actions]
        return body

    def _summary_item(self, ws: str, project: str, pid: int, r: FakeExecution, a: FakeAction) -> dict[str, Any]:
        return {"status": a.status, "progress": a.progress if a.progress is not None else (100 if a.finish else 0),
                "action_execution_id": a.ae_id, "start_date": iso(a.start), "finish_date": iso(a.finish),
                "action": {"id": a.action_id, "name": a.name, "type": a.type}}

    def _details(self, ws: str, project: str, pid: int, r: FakeExecution, a: FakeAction) -> dict[str, Any]:
        body: dict[str, Any] = {
            "url": f"{self._api(ws, project, pid)}/executions/{r.id}/action_executions/{a.ae_id}",
            "html_url": self.html_url(ws, project, pid, r, a),
            "start_date": iso(a.start), "finish_date": iso(a.finish), "status": a.status,
            "progress": a.progress if a.progress is not None else (100 if a.finish else 0),
            "action": {"id": a.action_id, "name": a.name, "type": a.type, "trigger_time": "ON_EVERY_EXECUTION",
                       "html_url": f"https://{self.web_host}/{ws}/{project}/pipelines/pipeline/{pid}/action/{a.action_id}/edit"},
            "approver_id": a.approver_id, "approval_date": iso(a.approval_date),
            "terminator_id": a.terminator_id, "termination_date": iso(a.termination_date),
            "passed_variables": a.passed_variables, "outputted_variables": a.outputted_variables,
        }
        if a.error_message is not None:
            body["error_message"] = a.error_message
        if self.include_log:
            body["log"] = a.log
        body.update(a.extra)
        return body


_bomb: list[bytes] = []


def gzip_bomb() -> bytes:
    """``GZIP_BOMB_MB`` MB of JSON whitespace, then ``{}``, as one gzip member of about 0.5 MB.

    Made once, quickly: after a full flush the compressor starts afresh, so every further megabyte of
    blanks compresses to the same bytes, which are repeated rather than computed 512 times."""
    if not _bomb:
        blank, end = b" " * (1024 * 1024), b"{}"
        packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        first = packer.compress(blank) + packer.flush(zlib.Z_FULL_FLUSH)
        again = packer.compress(blank) + packer.flush(zlib.Z_FULL_FLUSH)
        last = packer.compress(end) + packer.flush()
        crc = 0
        for _ in range(GZIP_BOMB_MB):
            crc = zlib.crc32(blank, crc)
        crc = zlib.crc32(end, crc)
        size = (GZIP_BOMB_MB * len(blank) + len(end)) % 2**32
        header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # gzip, deflate, no name, no time
        trailer = crc.to_bytes(4, "little") + size.to_bytes(4, "little")
        _bomb.append(header + first + again * (GZIP_BOMB_MB - 1) + last + trailer)
    return _bomb[0]


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json",
                        headers={"X-Rate-Limit-Limit": "1000", "X-Rate-Limit-Remaining": "999"})


def _error(status: int, message: str) -> web.Response:
    return _json({"errors": [{"message": message}]}, status)


def reset_header(seconds_from_now: float) -> dict[str, str]:
    return {"X-Rate-Limit-Reset": str(int(time.time() + seconds_from_now))}
