"""The bot's durable state: one code path for SQLite (the embedded default, one process) and
PostgreSQL (``DATABASE_URL``, any number of replicas).

``url`` picks the engine from the settings; ``tables`` declares every table (SQLAlchemy Core);
``migrations`` (Alembic) creates and upgrades them, including a database written by release 0.1;
``store`` opens the engine, runs the migrations and says whether the store is writable.
"""
