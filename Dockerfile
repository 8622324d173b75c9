# The Buddy.Works bot for Slack, as one container. deploy/compose.yml runs two of these behind a load
# balancer, on a shared PostgreSQL; the README's "Running several replicas" explains it.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Only what the package is built from (no test extra: the image runs the bot, never the tests).
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip install . \
    && groupadd --system --gid 10001 bot \
    && useradd --system --uid 10001 --gid bot --home-dir /data --shell /usr/sbin/nologin bot \
    && mkdir -p /data \
    && chown bot:bot /data

# Without DATABASE_URL the state is SQLite at STATE_DB (default bot-state.db, relative to the working
# directory): /data/bot-state.db, in the volume. The path comes from the working directory rather than
# an ENV line, so setting DATABASE_URL alone is never "both set".
WORKDIR /data
VOLUME ["/data"]
USER 10001:10001

EXPOSE 3000
# Alive is enough here (a replica that is not ready is kept, not restarted); no proxy for 127.0.0.1.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:%s/health' % os.environ.get('PORT', '3000'), timeout=4)"]

# SIGTERM (docker stop) reaches the bot itself, which finishes or hands back its work within
# SHUTDOWN_GRACE_S; give the container longer than that to stop (compose: stop_grace_period).
ENTRYPOINT ["python", "-m", "bot"]
