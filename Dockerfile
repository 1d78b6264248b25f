# DarkHorses Workers: one image for every process (worker, beat, Flower, migrations).
# The command picks the process; docker-compose.yml, the Procfile and render.yaml set it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# An unprivileged user: Celery warns against running as root, and a worker executes
# whatever a message on the broker asks of the registered tasks.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --create-home --home-dir /home/app app

WORKDIR /app

# Dependencies first, so a code change does not reinstall them. requirements.txt is what the
# service runs on; test and lint tools are in requirements-dev.txt and never in the image.
# (psycopg2-binary ships its own libpq: no compiler or system packages needed.)
COPY requirements.txt .
RUN pip install -r requirements.txt

# The code stays owned by root (read-only to the app user); only the directories the
# processes write are the app user's: var/ (STATS_OUTPUT_DIR=var/stats by default) and
# logs/ (logs/scheduler_status.json, the task status mirror).
COPY . .
RUN mkdir -p var/stats logs && chown -R app:app var logs

USER app

# Celery stops warm on SIGTERM (the running task finishes; unacknowledged messages go
# back to the queue). Give containers time: `docker stop -t 120` / stop_grace_period.
STOPSIGNAL SIGTERM

# Default: one worker on every queue, enough for `docker run` on its own. In production
# run the live queue on its own worker (see docker-compose.yml and docs/operations.md, "Processes").
# `exec` makes celery PID 1, so it receives docker's SIGTERM itself; sh only expands LOG_LEVEL.
CMD ["sh", "-c", "exec celery -A darkhorses worker -Q live,historical,stats --loglevel=${LOG_LEVEL:-INFO}"]
