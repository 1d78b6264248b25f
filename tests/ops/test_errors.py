"""Error tracking: scrubbing, and a real worker's failing task reported to a stand-in Sentry."""
import gzip
import json
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from darkhorses.core.settings import settings_from_env
from darkhorses.ops.errors import FILTERED, scrub, secrets_of
from tests.support import celery_worker, service_env, wait_for

API_PASSWORD = "s3cret-Pa55-api"
DB_PASSWORD = "db-Pa55-w0rd"


def test_scrub_removes_every_secret_wherever_it_is():
    settings = settings_from_env({
        "RACING_API_USERNAME": "racing-user", "RACING_API_PASSWORD": API_PASSWORD,
        "DATABASE_URL": f"postgresql://app:{DB_PASSWORD}@db.example:5432/darkhorses",
        "CELERY_BROKER_URL": "rediss://default:redis-Pa55@cache.example:6379/0",
        "SENTRY_DSN": "https://abcdef0123456789@o1.ingest.example/42"})
    event = {"message": f"login racing-user:{API_PASSWORD} failed",
             "exception": {"values": [{"stacktrace": {"frames": [{"vars": {
                 "settings": f"Settings(database_url='postgresql+psycopg2://app:{DB_PASSWORD}@db.example/x')",
                 "auth": ("racing-user", API_PASSWORD), "password": "anything"}}]}}]},
             "breadcrumbs": {"values": [{"message": "redis at rediss://default:redis-Pa55@cache.example:6379/0"},
                                        {"message": "other at http://u:unknown-secret@h/"}]}}
    text = json.dumps(scrub(event, secrets_of(settings)))
    for secret in (API_PASSWORD, DB_PASSWORD, "redis-Pa55", "racing-user", "unknown-secret", "anything"):
        assert secret not in text, secret
    assert FILTERED in text and "db.example" in text  # the rest of the event stays readable


class _Sentry(BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        encoding = (self.headers.get("Content-Encoding") or "").lower()
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        elif encoding == "br":
            import brotli
            body = brotli.decompress(body)
        self.received.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def sentry():
    _Sentry.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sentry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.slow
def test_a_failing_task_reaches_sentry_without_the_credentials(database_url, redis_url, sentry, tmp_path):
    # trust authentication: PostgreSQL ignores the password, so the URL can carry one to leak
    db_url = database_url.replace("postgres@", f"postgres:{DB_PASSWORD}@", 1)
    assert DB_PASSWORD in db_url
    env = service_env(DATABASE_URL=db_url, CELERY_BROKER_URL=redis_url, CELERY_RESULT_BACKEND=redis_url,
                      RACING_API_URL="http://127.0.0.1:9", RACING_API_USERNAME="racing-user",
                      RACING_API_PASSWORD=API_PASSWORD, RACING_API_MAX_ATTEMPTS=1, LIVE_FAILURE_BACKOFF_SECONDS=30,
                      SENTRY_DSN=f"http://abcdef0123456789@127.0.0.1:{sentry.server_port}/42",
                      HEARTBEAT_DIR=tmp_path / "hb", STATS_OUTPUT_DIR=tmp_path / "stats")
    # the live loop starts on boot and its first cycle fails: the API is not there
    with celery_worker(env, queues="live", pool="threads", concurrency=2, log_path=tmp_path / "worker.log"):
        wait_for(lambda: any(b'"darkhorses.live.poll"' in body and b"TemporarilyUnavailable" in body
                             for body in _Sentry.received), timeout=60, message="the failed poll's event")
    everything = b"\n".join(_Sentry.received)
    for secret in (API_PASSWORD, DB_PASSWORD, "abcdef0123456789"):
        assert secret.encode() not in everything, secret
    events = [json.loads(line) for body in _Sentry.received for line in body.splitlines()
              if line.startswith(b"{") and b'"exception"' in line]
    assert any(value["type"] == "TemporarilyUnavailable"
               for event in events for value in event["exception"]["values"])
