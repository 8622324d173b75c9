"""The Home tab (``views.publish``): a pure function of ``bot.home.tab.HomeData``.

Slack allows 100 blocks in a Home view (MAX_HOME_BLOCKS); every list ends in "…and N more" where it
would not fit, and every text keeps Block Kit's limits (``bot.render.limits``). Buddy's text is escaped.
"""

from __future__ import annotations

from datetime import datetime, timezone

from bot.home.records import RecentRun, WaitingRun
from bot.home.tab import FailingPipeline, HomeData
from bot.render.blocks import Block, actions, button, context, header, section
from bot.render.limits import MAX_BUTTON_VALUE, MAX_SECTION_TEXT
from bot.render.mrkdwn import date_token, esc, fit_lines, is_web_url, link, more_line
from bot.render.status import status_style
from bot.subscriptions.manage import describe
from bot.subscriptions.store import Subscription

MAX_HOME_BLOCKS = 100
WORKSPACE_SETTINGS_ACTION = "workspace_settings_open"  # its modal is the settings' own (per-workspace Buddy settings)
HOME_LINK_ACTION = "home_link_account"  # value: the Buddy host
HOME_UNLINK_ACTION = "home_unlink_account"  # value: the Buddy host
HOME_APPROVE_ACTION = "home_approve"  # value: the waiting run's (or its action's) link
HOME_REMOVE_ACTION = "home_subscription_remove"  # value: the subscription's id
TITLE_CHARS = 200
NOTE_CHARS = 2900
ACCOUNTS_AT_MOST = 5
FOOTER_BLOCKS = 1  # kept for the subscriptions' "…and N more"


def render_home(data: HomeData, *, note: str | None = None) -> dict:
    """The view for ``views.publish``. ``note`` (mrkdwn, already escaped) says what a click just did."""
    blocks: list[Block] = [header("Buddy")]
    if note:
        blocks.append(section(note[:NOTE_CHARS]))
    blocks += _account(data)
    if data.can_configure:
        settings = button("Settings", action_id=WORKSPACE_SETTINGS_ACTION, value="settings")
        blocks.append(actions([settings], block_id="home_settings"))
    blocks += _waiting(data)
    blocks += _recent(data.recent)
    blocks += _failing(data)
    blocks += _subscriptions(data, room=MAX_HOME_BLOCKS - len(blocks))
    return {"type": "home", "blocks": blocks[:MAX_HOME_BLOCKS]}


def _account(data: HomeData) -> list[Block]:
    blocks = []
    for host in data.linked_hosts[:ACCOUNTS_AT_MOST]:
        unlink = button("Unlink", action_id=HOME_UNLINK_ACTION, value=host[:MAX_BUTTON_VALUE])
        blocks.append(
            {
                **section(f":white_check_mark: Your Buddy account on *{esc(host, 200)}* is linked: I act as you there."),
                "accessory": unlink,
            }
        )
    if data.default_host not in data.linked_hosts:
        link_button = button("Link", action_id=HOME_LINK_ACTION, value=data.default_host[:MAX_BUTTON_VALUE])
        link_button["style"] = "primary"
        text = (
            f":key: Link your Buddy account on *{esc(data.default_host, 200)}* to see the runs waiting for your "
            "approval and to approve, retry or cancel runs as yourself."
        )
        blocks.append({**section(text), "accessory": link_button})
    return blocks


def _waiting(data: HomeData) -> list[Block]:
    blocks: list[Block] = [{"type": "divider"}, section("*Waiting for your approval*")]
    if not data.linked_hosts:
        return [*blocks, context("Once your Buddy account is linked, the runs I follow that wait for you show here.")]
    if not data.waiting:
        return [*blocks, context("Nothing I follow is waiting for an approval you can give.")]
    blocks += [_waiting_row(run) for run in data.waiting]
    if data.waiting_more or data.waiting_unread:
        more = f"{more_line(data.waiting_more)} waiting" if data.waiting_more else ""
        unread = "more runs wait that I did not look at this time: open the tab again later" if data.waiting_unread else ""
        blocks.append(context("; ".join(part for part in (more, unread) if part) + "."))
    return blocks


def _waiting_row(run: WaitingRun) -> Block:
    since = date_token(datetime.fromtimestamp(run.since, tz=timezone.utc))
    title = link(run.run_url, esc(run.title, TITLE_CHARS) or "A run")
    where = esc(f"{run.workspace}/{run.project}", TITLE_CHARS)
    row: Block = section(f":raised_hand: {title}\n{where} · waiting since {since}")
    # The waiting action's link tells Buddy which action to approve; else the run's.
    value = next(
        (url for url in (run.approve_url, run.run_url) if url and is_web_url(url) and len(url) <= MAX_BUTTON_VALUE), None
    )
    if value is not None:
        approve = button("Approve", action_id=HOME_APPROVE_ACTION, value=value)
        approve["style"] = "primary"
        row["accessory"] = approve
    return row


def _recent(runs: list[RecentRun]) -> list[Block]:
    blocks: list[Block] = [{"type": "divider"}, section("*Your recent runs*")]
    if not runs:
        return [*blocks, context("Runs you start (`/buddy run`, Retry) or ask me about show here.")]
    return [*blocks, section(fit_lines([_recent_line(run) for run in runs], MAX_SECTION_TEXT))]


def _recent_line(run: RecentRun) -> str:
    when = date_token(datetime.fromtimestamp(run.at, tz=timezone.utc))
    how = {"run": "started", "retry": "retried"}.get(run.how, "asked about")
    status = f" · {esc(status_style(run.status).label, 60)}" if run.status else ""
    return f"• {link(run.run_url, esc(run.title, TITLE_CHARS) or 'a run')}{status} · {how} {when}"


def _failing(data: HomeData) -> list[Block]:
    blocks: list[Block] = [{"type": "divider"}, section("*Failing pipelines in your channels*")]
    if not data.channels_known:
        return [*blocks, context("Slack did not tell me which channels you are in; try again in a minute.")]
    if not data.failing:
        return [*blocks, context("None of the pipelines your channels follow is failing.")]
    return [*blocks, section(fit_lines([_failing_line(f) for f in data.failing], MAX_SECTION_TEXT))]


def _failing_line(failing: FailingPipeline) -> str:
    name = esc(f"{failing.workspace}/{failing.project} · pipeline {failing.pipeline_id}", TITLE_CHARS)
    branch = f" · {esc(failing.branch, 100)}" if failing.branch else ""
    return f"• :x: {link(failing.run_url, name)}{branch}"


def _subscriptions(data: HomeData, *, room: int) -> list[Block]:
    blocks: list[Block] = [{"type": "divider"}, section("*Your channels' subscriptions*")]
    if not data.channels_known:
        return []
    if not data.subscriptions:
        return [*blocks, context("None of your channels follows a Buddy pipeline: `/buddy subscribe <link>` in one.")]
    fits = max(0, room - len(blocks) - FOOTER_BLOCKS)
    shown = data.subscriptions[:fits] if len(data.subscriptions) > fits else data.subscriptions
    blocks += [_subscription_row(subscription) for subscription in shown]
    hidden = len(data.subscriptions) - len(shown)
    if hidden:
        blocks.append(context(f"{more_line(hidden)}: `/buddy subscriptions` in a channel lists all of its own."))
    return blocks[:room]


def _subscription_row(subscription: Subscription) -> Block:
    label = link(subscription.target.web_url, esc(describe(subscription), 500))
    channel = f"<#{subscription.channel}>" if subscription.channel.isalnum() else "a channel"
    return {
        **section(f"{label}\nin {channel} · *{subscription.mode.value}*"),
        "accessory": {
            **button("Remove", action_id=HOME_REMOVE_ACTION, value=str(subscription.id)),
            "style": "danger",
        },
    }
