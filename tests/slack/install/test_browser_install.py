"""The whole install in a real browser: headless Chromium (Debian's ``chromium`` package, driven by
Playwright from PyPI; ``playwright install`` is never run, it downloads browsers from the internet)
goes from the bot's Add to Slack page to the fake Slack's authorize page, allows the app, comes back
to ``/slack/oauth_redirect`` with the state cookie the bot set, and lands on the success page. Then
a signed command from that workspace is answered with the token it was given.

Outside CI the test is skipped, saying why, where ``/usr/bin/chromium`` is missing; with ``CI`` set it
fails instead (``.ci/run`` installs the package).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.slack.install.flow import oauth_bot

CHROMIUM = Path("/usr/bin/chromium")


def chromium() -> str:
    if CHROMIUM.is_file():
        return str(CHROMIUM)
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing: CI installs Debian's chromium package (.ci/run); the browser test needs it")
    pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium to run the browser install test (CI always runs it)")


def test_headless_chromium_installs_the_app_and_that_workspace_is_answered_with_its_token(tmp_path, fake_slack, fake_buddy):
    executable = chromium()
    from playwright.sync_api import sync_playwright

    run = fake_buddy.add_execution(branch="main")
    link = fake_buddy.html_url("acme", "web", 7, run, run.actions[0])
    fake_slack.oauth.installing_into("TBROWSER", team_name="Browser Workspace")
    bot = oauth_bot(tmp_path, fake_slack, fake_buddy).start()
    try:
        try:
            walk_the_install(sync_playwright, executable, bot, fake_slack)
        except Exception as exc:  # the bot's side of a browser step that failed or hung, for whoever reads CI
            raise AssertionError(f"{exc}\n--- the bot's log ---\n{bot.log()[-4000:]}") from exc
        installed = fake_slack.oauth.installed("TBROWSER")

        status, _ = bot.command(link, team_id="TBROWSER", channel_id="CBROWSER", response_url=fake_slack.response_url())
        assert status == 200
        [post] = fake_slack.wait_for("chat.postMessage", 1, timeout=20, predicate=lambda c: c.channel == "CBROWSER")
        assert post.channel == "CBROWSER" and post.token == installed.bot_token
    finally:
        bot.stop()


def walk_the_install(sync_playwright, executable: str, bot, fake_slack) -> None:
    """The browser's part: the Add to Slack page, the fake Slack's authorize page, the success page."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            page = browser.new_page()
            page.goto(f"{bot.url}/slack/install")
            assert page.locator("h1").inner_text() == "Add Buddy to Slack"
            page.click("#add-to-slack")
            page.wait_for_url(lambda url: url.startswith(f"{fake_slack.server.base_url}/oauth/v2/authorize?"))
            assert "Browser Workspace" in page.inner_text("body")
            page.click("#allow")
            page.wait_for_url(lambda url: url.startswith(f"{bot.url}/slack/oauth_redirect?"))
            assert page.locator("#installed").inner_text() == "Buddy is installed in Browser Workspace."
            cookies = {cookie["name"]: cookie["value"] for cookie in page.context.cookies(bot.url)}
            assert cookies.get("slack-app-oauth-state") in (None, "deleted")  # the state cookie is spent
        finally:
            browser.close()


def test_without_chromium_the_browser_test_is_skipped_saying_why_and_fails_under_ci(monkeypatch, tmp_path):
    monkeypatch.setattr(f"{__name__}.CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        chromium()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI installs Debian's chromium package"):
        chromium()
