"""The simulator on a real socket, and its command line (`python -m darkhorses simulator`)."""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .api import Simulator
from .model import Faults


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"      # keep-alive, as clients with sessions expect
    server: _Server

    def version_string(self):
        return "uvicorn"

    def _respond(self):
        status, headers, body = self.server.sim.handle(self.command, self.path, self.headers)
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True   # the client gave up (e.g. a timeout fault)

    do_GET = do_POST = do_PUT = do_DELETE = _respond

    def log_message(self, format, *args):   # quiet: and never echo request headers
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    sim: Simulator

    def handle_error(self, request, client_address):
        pass

    def shutdown(self):
        self.sim._closing.set()            # release handlers hanging on a timeout fault
        super().shutdown()


def serve(sim: Simulator, host: str = "127.0.0.1", port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    """Start serving in a daemon thread; return (server, base_url). server.shutdown() stops it."""
    server = _Server((host, port), _Handler)
    server.sim = sim
    sim._closing.clear()
    threading.Thread(target=server.serve_forever, args=(0.05,), name="racing-api-simulator", daemon=True).start()
    return server, f"http://{host}:{server.server_address[1]}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m darkhorses simulator",
                                     description="Serve a simulator of The Racing API (spec v1.4.3).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--username", default="sim")
    parser.add_argument("--password", default="sim")
    parser.add_argument("--faults", default="", help="e.g. latency=0.2,error_rate=0.1,truncate_rate=0.05")
    parser.add_argument("--results-history-days", type=int, default=None,
                        help="refuse results older than this many days (an account without the add-on)")
    parser.add_argument("--raceday", action="store_true",
                        help="a compressed race day: a race off every minute or two from now (simulator/raceday.py)")
    args = parser.parse_args(argv)
    try:
        faults = Faults.parse(args.faults)
    except ValueError as exc:
        parser.error(str(exc))
    from .raceday import RaceDaySimulator
    kind = RaceDaySimulator if args.raceday else Simulator
    sim = kind(args.seed, username=args.username, password=args.password, faults=faults,
               results_history_days=args.results_history_days)
    try:
        server, url = serve(sim, args.host, args.port)
    except OSError as exc:
        print(f"simulator: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"simulator listening on {url}; credentials {args.username}/{args.password}", flush=True)
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    return 0
