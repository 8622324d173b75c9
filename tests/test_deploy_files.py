"""The Dockerfile and deploy/ (compose, Caddy) agree with each other and with the bot's settings.

No image can be built or run here, so the files are read: the Dockerfile instruction by instruction,
compose.yml as YAML, the Caddyfile's directives line by line.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from aiohttp import web
from dotenv import dotenv_values

from bot.config import Settings
from bot.identity.oauth import CALLBACK_PATH, START_PATH
from bot.slack.install import INSTALL_PATH, REDIRECT_PATH
from bot.state.url import DEFAULT_STATE_DB
from bot.ops.metrics import Metrics
from bot.ops.routes import add_ops_routes
from bot.slack.runner import EVENTS_PATH
from bot.state.url import database_url
from bot.subscriptions.webhook import WEBHOOK_ROUTE

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
SETTINGS = {name.upper() for name in Settings.model_fields}
# What the official postgres image reads (https://hub.docker.com/_/postgres, "Environment Variables").
POSTGRES_VARS = {
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
    "POSTGRES_DB",
    "POSTGRES_INITDB_ARGS",
    "POSTGRES_HOST_AUTH_METHOD",
    "PGDATA",
}
BOT_COMMANDS = (["python", "-m", "bot"], ["buddy-slack-bot"])
_INTERPOLATION = re.compile(r"\$\{(\w+)(?::?[-?+][^}]*)?\}")


def dockerfile() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs, continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def last(instruction: str) -> str:
    found = [arguments for keyword, arguments in dockerfile() if keyword == instruction]
    assert found, f"the Dockerfile has no {instruction}"
    return found[-1]


def exec_form(arguments: str) -> list[str]:
    """A JSON-array instruction's argv (the shell form is not used: it would not pass signals on)."""
    argv = json.loads(arguments)
    assert isinstance(argv, list) and all(isinstance(item, str) for item in argv), arguments
    return argv


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yml").read_text())


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def bot_services() -> dict[str, dict[str, Any]]:
    return {name: service for name, service in services().items() if "build" in service}


def caddy_directives() -> list[list[str]]:
    lines = (DEPLOY / "Caddyfile").read_text().splitlines()
    return [shlex.split(line.strip()) for line in lines if line.strip() and not line.strip().startswith("#")]


# -- the image --------------------------------------------------------------------------------------


def test_the_image_is_a_slim_python_the_bot_supports() -> None:
    image = last("FROM")
    match = re.fullmatch(r"python:3\.(\d+)-slim", image)
    assert match and int(match[1]) >= 11, image


def test_the_image_installs_the_package_without_its_test_extra() -> None:
    runs = " ".join(arguments for keyword, arguments in dockerfile() if keyword == "RUN")
    assert re.search(r"\bpip install \.(\s|$)", runs)
    assert "[test]" not in runs


def test_the_image_runs_the_bot_as_a_user_that_is_not_root() -> None:
    user = last("USER").split(":")[0]
    assert user not in {"root", "0"}
    # The user exists (made by useradd with that uid) and owns the state volume.
    runs = " ".join(arguments for keyword, arguments in dockerfile() if keyword == "RUN")
    assert re.search(rf"useradd\b[^&]*--uid {re.escape(user)}\b", runs) or f"useradd {user}" in runs
    assert re.search(r"chown \S+ /data\b", runs)
    keywords = [keyword for keyword, _ in dockerfile()]
    assert keywords.index("USER") > max(i for i, keyword in enumerate(keywords) if keyword == "RUN")


def test_the_image_starts_the_bot_with_a_signal_passing_entrypoint() -> None:
    argv = exec_form(last("ENTRYPOINT"))
    cmd = [arguments for keyword, arguments in dockerfile() if keyword == "CMD"]
    command = argv + (exec_form(cmd[-1]) if cmd else [])
    assert command in BOT_COMMANDS, command


def test_the_image_checks_its_health_on_health_at_the_bots_port() -> None:
    options, _, _command = last("HEALTHCHECK").partition(" CMD ")
    assert "--timeout=" in options and "--interval=" in options
    argv = healthcheck_argv()
    assert argv[:2] == ["python", "-c"]  # no curl in the slim image: Python's urllib does it
    assert "u.ProxyHandler({})" in argv[2] and "/health" in argv[2]  # a proxy from .env must not take it
    assert f"os.environ.get('PORT', '{Settings.model_fields['port'].default}')" in argv[2]
    assert last("EXPOSE") == str(Settings.model_fields["port"].default)


async def test_the_image_healthcheck_passes_while_health_answers_and_fails_once_it_does_not() -> None:
    web_app = web.Application()

    async def not_ready() -> tuple[bool, str]:
        return False, "starting"

    add_ops_routes(web_app, metrics=Metrics(), ready_check=not_ready, metrics_token="")
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        assert await run_healthcheck(port) == 0  # alive, even while not ready
    finally:
        await runner.cleanup()
    assert await run_healthcheck(port) != 0


def healthcheck_argv() -> list[str]:
    return exec_form(last("HEALTHCHECK").partition(" CMD ")[2])


async def run_healthcheck(port: int) -> int:
    """The HEALTHCHECK command's exit status, run by this Python against 127.0.0.1:``port``."""
    argv = healthcheck_argv()
    # A proxy nobody answers on: the check must go straight to the bot.
    env = {"PATH": os.environ.get("PATH", ""), "PORT": str(port), "http_proxy": "http://127.0.0.1:9"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, *argv[1:], env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    return await asyncio.wait_for(process.wait(), timeout=30)


def test_the_image_keeps_sqlite_state_in_its_volume() -> None:
    assert "/data" in exec_form(last("VOLUME"))
    # STATE_DB's default is relative, so the working directory puts it in the volume …
    assert last("WORKDIR") == "/data"
    assert Settings.model_fields["state_db"].default is None and not DEFAULT_STATE_DB.is_absolute()
    # … and no state setting is baked in, so DATABASE_URL alone chooses PostgreSQL.
    env = " ".join(arguments for keyword, arguments in dockerfile() if keyword == "ENV")
    assert "STATE_DB" not in env and "DATABASE_URL" not in env


def test_the_build_context_leaves_secrets_out_and_keeps_what_the_image_copies() -> None:
    ignored = {
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip() and not line.startswith("#")
    }
    assert {".env", ".git", ".venv", "*.db"} <= ignored
    for keyword, arguments in dockerfile():
        if keyword == "COPY":
            *sources, _destination = arguments.split()
            for source in sources:
                assert (ROOT / source).exists(), source
                assert source.rstrip("/") not in ignored, source


# -- compose ----------------------------------------------------------------------------------------


def test_postgres_is_version_18_with_a_volume_and_a_readiness_check() -> None:
    postgres = services()["postgres"]
    assert postgres["image"] == "postgres:18"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    # 18's image keeps its data under /var/lib/postgresql (a version directory), no longer in …/data.
    assert any(volume.split(":")[1] == "/var/lib/postgresql" for volume in postgres["volumes"])
    assert set(postgres["environment"]) <= POSTGRES_VARS
    assert _INTERPOLATION.fullmatch(postgres["environment"]["POSTGRES_PASSWORD"])  # never written in the file


def test_there_are_two_bot_replicas_built_from_this_repository() -> None:
    bots = bot_services()
    assert len(bots) == 2, sorted(bots)
    for name, service in bots.items():
        context = (DEPLOY / service["build"]["context"]).resolve()
        assert context == ROOT, name
        assert (context / service["build"].get("dockerfile", "Dockerfile")).is_file()
        assert (DEPLOY / service["env_file"]).resolve() == ROOT / ".env"
        assert (ROOT / ".env.example").is_file()  # what .env is copied from


def test_each_replica_uses_the_postgres_service_once_it_is_healthy() -> None:
    postgres = services()["postgres"]["environment"]
    for name, service in bot_services().items():
        database_url = service["environment"]["DATABASE_URL"]
        url = urlsplit(_INTERPOLATION.sub("interpolated", database_url))
        assert url.scheme in {"postgresql", "postgres"}, name
        assert url.hostname == "postgres" and url.port == 5432, name
        assert url.username == postgres["POSTGRES_USER"]
        assert url.path == "/" + postgres["POSTGRES_DB"]
        assert url.password == "interpolated"
        assert (
            _INTERPOLATION.findall(database_url) == _INTERPOLATION.findall(postgres["POSTGRES_PASSWORD"]) == ["POSTGRES_PASSWORD"]
        )
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_a_replica_set_up_from_env_example_takes_postgres(monkeypatch: pytest.MonkeyPatch) -> None:
    # What compose hands a replica: the .env copied from .env.example (env_file), then its environment.
    for service in bot_services().values():
        for name, value in dotenv_values(ROOT / ".env.example").items():
            monkeypatch.setenv(name, value or "")
        for name, value in service["environment"].items():
            monkeypatch.setenv(name, _INTERPOLATION.sub("compose-password", str(value)))
        url = database_url(Settings(_env_file=None))
        assert (url.drivername, url.host, url.database) == ("postgresql+asyncpg", "postgres", "buddy_bot")


def test_each_replica_checks_its_health_and_stops_after_its_grace() -> None:
    for name, service in bot_services().items():
        port = service["environment"]["PORT"]
        test = service["healthcheck"]["test"]
        assert test[:3] == ["CMD", "python", "-c"], name
        assert f"http://127.0.0.1:{port}/health" in test[3]
        compile(test[3], "<healthcheck>", "exec")
        grace = int(service["stop_grace_period"].removesuffix("s"))
        assert grace > Settings.model_fields["shutdown_grace_s"].default + 5, name


def test_the_load_balancer_serves_slack_and_buddy_from_both_replicas_that_are_ready() -> None:
    caddy = services()["caddy"]
    assert caddy["image"].startswith("caddy:")
    assert {"80:80", "443:443"} <= set(caddy["ports"])
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in caddy["volumes"]
    assert set(caddy["depends_on"]) == set(bot_services())

    directives = caddy_directives()
    proxies = [[word for word in words[1:] if word != "{"] for words in directives if words[0] == "reverse_proxy"]
    assert proxies == [[f"{name}:{service['environment']['PORT']}" for name, service in bot_services().items()]]
    options = {words[0]: words[1:] for words in directives}
    assert options["health_uri"] == ["/ready"]
    # Buddy's sign-in (the browser's start and Buddy's callback) must reach the bot too.
    oauth = {START_PATH.rsplit("/", 1)[0], CALLBACK_PATH.rsplit("/", 1)[0]}
    assert len(oauth) == 1
    public = ["path", EVENTS_PATH, INSTALL_PATH, REDIRECT_PATH, WEBHOOK_ROUTE.replace("{token}", "*"), f"{oauth.pop()}/*"]
    assert options["@public"] == public  # and installing into workspaces


def test_every_variable_named_in_deploy_is_a_setting_or_the_postgres_images() -> None:
    text = (DEPLOY / "compose.yml").read_text()
    named = set(_INTERPOLATION.findall(text))
    for service in services().values():
        named |= set(service.get("environment", {}))
    unknown = named - SETTINGS - POSTGRES_VARS
    assert not unknown, f"not a setting in bot/config.py: {sorted(unknown)}"
    # Caddy's site address comes from its environment, which compose fills from the bot's .env.
    caddy_vars = set(re.findall(r"\{\$(\w+)", (DEPLOY / "Caddyfile").read_text()))
    assert caddy_vars and caddy_vars <= set(services()["caddy"]["environment"]) <= SETTINGS


@pytest.mark.parametrize("name", ["compose.yml", "Caddyfile"])
def test_deploy_files_name_no_slack_token(name: str) -> None:
    assert not re.search(r"xox[abp]-|xapp-", (DEPLOY / name).read_text())
