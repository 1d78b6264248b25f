"""The worker's consumer, reconnecting to the broker every few seconds (`worker_consumer`).

Celery reconnects through kombu's `Connection.ensure_connection` with its defaults: sleeps
of 2, 4, 6 ... up to 30 s between tries. After a 30 s Redis outage the next try may come
10 s after Redis is back, and the live loop waits for it. Here the sleeps are 0, 1, 2, 2 ...
s: a worker that lost Redis is consuming again within about 2 s of its return, at the cost
of one connection attempt every 2 s while it is away.
"""
from __future__ import annotations

import functools

from celery.worker.consumer import Consumer

RECONNECT_INTERVALS = {"interval_start": 0, "interval_step": 1, "interval_max": 2}


class QuickReconnectConsumer(Consumer):
    def ensure_connected(self, conn):
        conn.ensure_connection = functools.partial(conn.ensure_connection, **RECONNECT_INTERVALS)
        return super().ensure_connected(conn)
