"""Fault-injection helpers and the end-of-suite summary: faults injected, recovered, rows lost."""
from __future__ import annotations

import socket
import threading
import time

import pytest

from tests.support import OwnRedis

_FAULTS: list[dict] = []


@pytest.fixture
def fault_log(request):
    """Tests record each fault they inject and what they saw afterwards."""
    def record(fault: str, recovered: bool, rows_lost: int, detail: str = ""):
        _FAULTS.append({"test": request.node.name, "fault": fault, "recovered": recovered,
                        "rows_lost": rows_lost, "detail": detail})
    return record


def pytest_terminal_summary(terminalreporter):
    if not _FAULTS:
        return
    write = terminalreporter.write_line
    terminalreporter.section("reliability summary")
    for entry in _FAULTS:
        write(f"{entry['fault']:<48} recovered={'yes' if entry['recovered'] else 'NO ':<3} "
              f"rows lost={entry['rows_lost']:<4} {entry['detail']}")
    recovered = sum(e["recovered"] for e in _FAULTS)
    lost = sum(e["rows_lost"] for e in _FAULTS)
    write(f"faults injected: {len(_FAULTS)}, recovered: {recovered}, rows lost: {lost}")


@pytest.fixture
def own_redis(tmp_path):
    server = OwnRedis(tmp_path)
    try:
        server.start()
    except Exception as exc:
        pytest.fail(f"cannot start a redis-server of our own: {exc}")
    yield server
    server.stop()


class TcpProxy:
    """Forwards 127.0.0.1:port to a target; `cut()` drops every connection and refuses new ones."""

    def __init__(self, target_port: int):
        self.target = ("127.0.0.1", target_port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.open = threading.Event()
        self.open.set()
        self.connections: list[socket.socket] = []
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.open.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.connections += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self):
        self.open.clear()
        with self.lock:
            for connection in self.connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                    connection.close()
                except OSError:
                    pass
            self.connections.clear()

    def restore(self):
        self.open.set()

    def close(self):
        self.closed = True
        self.cut()
        self.listener.close()


@pytest.fixture
def pg_proxy():
    proxy = TcpProxy(5432)
    yield proxy
    proxy.close()


def elapsed_since(start: float) -> float:
    return round(time.monotonic() - start, 1)
