"""Alembic's entry point. The bot runs migrations itself at start (``bot.state.store``), handing
over its own connection; ``alembic`` on the command line is not needed to run the bot."""

from __future__ import annotations

from alembic import context

from bot.state.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through bot.state.store.StateStore.open(), which passes a connection")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
