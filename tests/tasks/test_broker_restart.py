"""kombu's Redis transport on a Redis restart: the patches in darkhorses/tasks/app.py.

The crash reproduced without a restart: a task's late acknowledgement on a channel that the
lost connection has already closed (channel.connection is None)."""
from __future__ import annotations

import pytest
from kombu import Connection
from kombu.transport import redis as kombu_redis

import darkhorses.tasks.app  # noqa: F401  (applies the patches)


@pytest.fixture
def closed_channel_qos(redis_url):
    """A Redis channel's QoS holding one delivered message, after the connection lost it."""
    connection = Connection(redis_url)
    channel = connection.channel()
    qos = channel.qos
    qos._delivered["tag-1"] = object()
    connection.transport.close_channel(channel)  # what a lost connection does to its channels
    assert channel.connection is None
    yield qos
    connection.release()


def test_unpatched_kombu_crashes_acking_on_a_closed_channel(closed_channel_qos):
    unpatched_ack = kombu_redis.QoS.ack.__wrapped__
    with pytest.raises(AttributeError, match="'NoneType' object has no attribute 'client'"):
        unpatched_ack(closed_channel_qos, "tag-1")


def test_the_patched_ack_and_reject_drop_the_settlement_with_a_warning(closed_channel_qos, caplog):
    closed_channel_qos.ack("tag-1")
    closed_channel_qos.reject("tag-2")
    assert sum("broker connection lost before message" in r.message for r in caplog.records) == 2


def test_the_patch_keeps_other_attribute_errors(redis_url, monkeypatch):
    connection = Connection(redis_url)
    channel = connection.channel()
    try:
        def broken(*_):
            raise AttributeError("a real bug")
        monkeypatch.setattr(kombu_redis.QoS, "_remove_from_indices", broken)
        with pytest.raises(AttributeError, match="a real bug"):
            channel.qos.ack("tag-1")
    finally:
        connection.release()


def test_the_patches_are_applied_once():
    from darkhorses.tasks.app import _survive_broker_restart
    ack = kombu_redis.QoS.ack
    _survive_broker_restart()
    assert kombu_redis.QoS.ack is ack
    assert kombu_redis.QoS.ack.__wrapped__.__module__ == "kombu.transport.redis"
