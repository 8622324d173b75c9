"""Every table of the bot's state, declared once for both engines (SQLAlchemy Core).

Times are Unix seconds (floats), as in release 0.1, so the same values mean the same on SQLite and
PostgreSQL. Buddy handles (host, workspace, project) are compared case-insensitively with ``lower()``
in queries: PostgreSQL has no ``COLLATE NOCASE``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# -- release 0.1 -------------------------------------------------------------------------------

claims = Table(
    "claims",
    metadata,
    Column("channel", String, nullable=False),
    Column("ts", String, nullable=False),
    Column("claimed_at", Float, nullable=False),
    Column("unit_id", String(32)),  # 0002: the unit of work answering the message
    PrimaryKeyConstraint("channel", "ts"),
)

watches = Table(
    "watches",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String, nullable=False),
    Column("ts", String, nullable=False),
    Column("thread_ts", String),
    Column("host", String, nullable=False),
    Column("workspace", String, nullable=False),
    Column("project", String, nullable=False),
    Column("pipeline_id", BigInteger, nullable=False),
    Column("execution_id", String),
    Column("action_execution_id", String),
    Column("requested_by", String),
    Column("style", String, nullable=False, server_default="summary"),
    Column("started_at", Float, nullable=False),
    Column("next_poll_at", Float, nullable=False),
    Column("interval_s", Float, nullable=False),
    Column("last_state", Text),
    # 0002: the replica polling this watch, until when (another takes it over after that), and the
    # replica it was taken from when that one died mid-poll.
    Column("owner", String),
    Column("lease_until", Float),
    Column("taken_from", String),
    # 0004: with READ_AS_ASKER, the person whose token the run is read with (who asked for it).
    Column("reader_team", String),
    Column("reader_user", String),
    # Lines the message keeps however often it is drawn again ("Approved by @ana at …"), as JSON blocks.
    Column("kept_blocks", Text),
    Column("team", String),  # 0005: the Slack installation whose bot token edits the message (bot.slack.clients)
    UniqueConstraint("channel", "ts"),
    Index("watches_due", "next_poll_at"),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String, nullable=False),
    Column("host", String, nullable=False),
    Column("workspace", String, nullable=False),
    Column("project", String, nullable=False),
    Column("pipeline_id", BigInteger, nullable=False),  # 0: every pipeline of the project
    Column("branch", String, nullable=False),  # '': every branch
    Column("mode", String, nullable=False),
    Column("created_by", String),
    Column("created_at", Float, nullable=False),
    Column("team", String),  # 0005: the Slack installation whose bot token posts its runs (bot.slack.clients)
    UniqueConstraint("channel", "host", "workspace", "project", "pipeline_id", "branch"),
)

announced_runs = Table(
    "announced_runs",
    metadata,
    Column("channel", String, nullable=False),
    Column("run_url", String, nullable=False),
    Column("ts", String, nullable=False),
    Column("final", Integer, nullable=False),  # 0: the start was posted, the end not yet
    Column("announced_at", Float, nullable=False),
    PrimaryKeyConstraint("channel", "run_url"),
)

final_statuses = Table(
    "final_statuses",
    metadata,
    Column("host", String, nullable=False),
    Column("workspace", String, nullable=False),
    Column("project", String, nullable=False),
    Column("pipeline_id", BigInteger, nullable=False),
    Column("branch", String, nullable=False),
    Column("run_url", String, nullable=False),
    Column("run_order", BigInteger, nullable=False),  # the execution's number: higher is newer
    Column("status", String, nullable=False),
    Column("previous_status", String),
    PrimaryKeyConstraint("host", "workspace", "project", "pipeline_id", "branch"),
)

# -- 0002: durable work, shared schedules, the web-id map ----------------------------------------

work_units = Table(
    "work_units",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String, nullable=False),
    # What makes a redelivery the same unit: a command's trigger_id, a message's channel and ts…
    Column("dedupe_key", String, nullable=False, unique=True),
    Column("payload", Text, nullable=False),
    Column("status", String, nullable=False),  # queued, running, done
    Column("owner", String),
    Column("lease_until", Float),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("created_at", Float, nullable=False),
    Column("started_at", Float),
    Column("done_at", Float),
    Column("degraded", Boolean, nullable=False, server_default="0"),
    Index("work_units_due", "status", "lease_until"),
)

work_effects = Table(
    "work_effects",
    metadata,
    Column("unit_id", String(32), nullable=False),
    Column("name", String, nullable=False),
    Column("result", Text, nullable=False),
    Column("recorded_at", Float, nullable=False),
    PrimaryKeyConstraint("unit_id", "name"),
)

execution_ids = Table(
    "execution_ids",
    metadata,
    Column("host", String, nullable=False),
    Column("workspace", String, nullable=False),
    Column("project", String, nullable=False),
    Column("pipeline_id", BigInteger, nullable=False),
    Column("web_id", String, nullable=False),
    Column("api_id", BigInteger, nullable=False),
    PrimaryKeyConstraint("host", "workspace", "project", "pipeline_id", "web_id"),
)

# One row per periodic job shared by the replicas (a subscribed pipeline's poll, a web-id scan):
# whoever moves ``due_at`` forward first does the job this time.
schedules = Table(
    "schedules",
    metadata,
    Column("key", String, primary_key=True),
    Column("due_at", Float, nullable=False),
    Column("owner", String),
)

# -- 0003: the commit's author told, failures claimed, flaky actions ---------------------------------

# Each outcome an action was seen to have, per pipeline, action and revision: the history flaky
# actions are told from. ``id`` orders what was seen within one run (a pass after a failure is a
# retry). Handles are kept lower-case.
action_outcomes = Table(
    "action_outcomes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("host", String, nullable=False),
    Column("workspace", String, nullable=False),
    Column("project", String, nullable=False),
    Column("pipeline_id", BigInteger, nullable=False),
    Column("action_id", BigInteger, nullable=False),  # 0: every action of a run that passed, its actions not listed
    Column("revision", String, nullable=False),
    Column("run_order", BigInteger, nullable=False),  # the execution's number: higher is newer
    Column("status", String, nullable=False),  # SUCCESSFUL or FAILED
    Column("seen_at", Float, nullable=False),
    UniqueConstraint("host", "workspace", "project", "pipeline_id", "action_id", "run_order", "status"),
    Index("action_outcomes_runs", "host", "workspace", "project", "pipeline_id", "run_order"),
)

# Who said "I'm on it" for a failed run (the first to click; keyed by the run's web URL).
failure_claims = Table(
    "failure_claims",
    metadata,
    Column("run_url", String, primary_key=True),
    Column("user_id", String, nullable=False),
    Column("claimed_at", Float, nullable=False),
)

# The one direct message per failed run to its commit's author: the unit of work that sends it.
author_dms = Table(
    "author_dms",
    metadata,
    Column("run_url", String, primary_key=True),
    Column("unit_id", String(32), nullable=False),
    Column("user_id", String, nullable=False),
    Column("sent_at", Float, nullable=False),
)

# Where each failed run was announced (the thread its details went into), for the claim's note.
failure_threads = Table(
    "failure_threads",
    metadata,
    Column("run_url", String, nullable=False),
    Column("channel", String, nullable=False),
    Column("thread_ts", String, nullable=False),
    Column("announced_at", Float, nullable=False),
    PrimaryKeyConstraint("run_url", "channel"),
)

# The bot's last top-level post per pipeline and channel: a quiet (flaky) failure goes in its thread.
pipeline_posts = Table(
    "pipeline_posts",
    metadata,
    Column("channel", String, nullable=False),
    Column("host", String, nullable=False),
    Column("workspace", String, nullable=False),
    Column("project", String, nullable=False),
    Column("pipeline_id", BigInteger, nullable=False),
    Column("ts", String, nullable=False),
    Column("posted_at", Float, nullable=False),
    PrimaryKeyConstraint("channel", "host", "workspace", "project", "pipeline_id"),
)

# -- 0004: linked Buddy accounts, OAuth states, actions and their audit trail ---------------------

# One Buddy token per Slack person per Buddy host, encrypted (Fernet, TOKEN_ENCRYPTION_KEY). Keyed by
# the Slack enterprise or team id too, so that several workspaces need no migration.
linked_accounts = Table(
    "linked_accounts",
    metadata,
    Column("team", String, nullable=False),  # the enterprise id on Enterprise Grid, else the team id
    Column("slack_user", String, nullable=False),
    Column("host", String, nullable=False),  # the Buddy web host (app.buddy.works, or self-hosted)
    Column("buddy_user_id", BigInteger),
    Column("buddy_user_name", String, nullable=False),
    Column("kind", String, nullable=False),  # oauth or personal
    Column("token", Text, nullable=False),  # encrypted
    Column("refresh_token", Text),  # encrypted; OAuth only
    Column("expires_at", Float),  # when the access token runs out (OAuth), if Buddy says
    Column("scopes", String, nullable=False, server_default=""),
    Column("linked_at", Float, nullable=False),
    PrimaryKeyConstraint("team", "slack_user", "host"),
)

# OAuth authorization requests in flight: single use, bound to the Slack person, 10 minutes.
oauth_states = Table(
    "oauth_states",
    metadata,
    Column("state", String, primary_key=True),
    Column("team", String, nullable=False),
    Column("slack_user", String, nullable=False),
    Column("host", String, nullable=False),
    Column("code_verifier", String, nullable=False),  # PKCE
    Column("created_at", Float, nullable=False),
    Column("workspace", String),  # the Slack installation (bot.slack.clients Workspace.key) to answer through
)

# An operation on a run in flight or just done, so a double click makes one Buddy call: keyed by run
# and operation, not by the click's payload (two clicks are two payloads).
action_locks = Table(
    "action_locks",
    metadata,
    Column("key", String, primary_key=True),
    Column("unit_id", String(32), nullable=False),
    Column("until", Float, nullable=False),
)

# Every action taken from Slack: who (in Slack and in Buddy), what, on which run, and how it went.
action_audit = Table(
    "action_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("unit_id", String(32), nullable=False, unique=True),  # one row per action, however often run
    Column("at", Float, nullable=False),
    Column("team", String, nullable=False),
    Column("slack_user", String, nullable=False),
    Column("buddy_user", String, nullable=False),  # the Buddy user acted as, or "bot token"
    Column("action", String, nullable=False),  # approve, variables, retry, cancel, run
    Column("host", String, nullable=False),
    Column("workspace", String, nullable=False),
    Column("project", String, nullable=False),
    Column("pipeline_id", BigInteger, nullable=False),
    Column("execution_id", BigInteger),  # the new run's, for a run
    Column("run_url", String, nullable=False),
    Column("result", String, nullable=False),  # done, refused, failed
    Column("detail", String, nullable=False, server_default=""),
    Index("action_audit_pipeline", "host", "workspace", "project", "pipeline_id", "at"),
)

# -- 0005: installations into many Slack workspaces ----------------------------------------------

# slack_installations, slack_bots and slack_oauth_states are slack_sdk's own tables: its SQLAlchemy
# installation and OAuth state stores declare them (bot.slack.install), migration 0005 creates them.

# -- 0007: each Slack installation's own Buddy settings (bot.tenancy) ---------------------------------

workspace_settings = Table(
    "workspace_settings",
    metadata,
    Column("team", String, primary_key=True),  # the installation's key (bot.slack.clients Workspace.key)
    Column("sealed", Text, nullable=False),  # every setting, its token among them, encrypted (Fernet)
    Column("updated_by", String, nullable=False),  # the Slack admin who saved them
    Column("updated_at", Float, nullable=False),
)

# -- 0006: the Home tab ---------------------------------------------------------------------------

# ``team`` in these tables is the Slack installation (bot.slack.clients Workspace.key), '' for the one
# workspace of a single SLACK_BOT_TOKEN, so that no workspace's Home tab shows another's rows.

# Followed runs (watches, subscribed pipelines' runs) waiting for an approval: written when a run the
# bot follows is seen entering WAITING_FOR_APPLY, deleted when it is seen leaving it. Nothing is scanned
# when a Home tab opens: each person is shown the ones their linked token can read.
home_waiting_runs = Table(
    "home_waiting_runs",
    metadata,
    Column("team", String, nullable=False),
    Column("run_url", String, nullable=False),
    Column("host", String, nullable=False),
    Column("workspace", String, nullable=False),
    Column("project", String, nullable=False),
    Column("pipeline_id", BigInteger, nullable=False),
    Column("execution_id", BigInteger, nullable=False),  # the API's number: one GET reads it
    Column("title", String, nullable=False),  # the pipeline's name and branch, as Buddy gave them
    Column("approve_url", String),  # the waiting action's link, for the Approve button
    Column("since", Float, nullable=False),
    PrimaryKeyConstraint("team", "run_url"),
)

# The runs each person asked about (``/buddy <link>``, mentions); those they started are the audit trail's.
home_recent_runs = Table(
    "home_recent_runs",
    metadata,
    Column("team", String, nullable=False),
    Column("slack_user", String, nullable=False),
    Column("run_url", String, nullable=False),
    Column("title", String, nullable=False),
    Column("status", String, nullable=False),
    Column("at", Float, nullable=False),
    PrimaryKeyConstraint("team", "slack_user", "run_url"),
)

# Who opened the Home tab lately, per installation: whose tab is drawn again when a run starts or stops waiting.
home_viewers = Table(
    "home_viewers",
    metadata,
    Column("team", String, nullable=False),
    Column("slack_user", String, nullable=False),
    Column("person_team", String, nullable=False),  # SlackPerson.team: whose linked accounts read for them
    Column("opened_at", Float, nullable=False),
    PrimaryKeyConstraint("team", "slack_user"),
    Index("home_viewers_latest", "team", "opened_at"),
)
