"""Flower's settings for `celery -A darkhorses flower`, run from the repository root.

Flower (2.2) reads this file by itself: its `--conf` option defaults to `flowerconfig.py`
in the working directory, which tornado executes after applying the FLOWER_* environment
variables and the command line, then takes every module-level name that matches a Flower
option (`basic_auth`, `port`, `address`, ...); the command line is applied once more
afterwards, so `--port=...` on it still wins. Helpers here start with `_` so that they
never collide with an option name.

Flower shows every task's arguments and results and can shut down or reconfigure
workers, so it does not start without a login: FLOWER_BASIC_AUTH=user:password (several
separated by commas), from the environment or .env like every other setting.
FLOWER_UNAUTHENTICATED=1 overrides that for local use only: Flower then listens on
127.0.0.1 even when PORT is set (it refuses to start if --address or FLOWER_ADDRESS asks
for a non-loopback address), and serves its pages without a login while its HTTP API
(/api/..., also behind the pages' worker-control buttons) stays closed, as Flower keeps it
unless FLOWER_UNAUTHENTICATED_API is set, which would let any web page the browser opens
drive the workers. Nothing printed here contains a password.
"""
import os as _os
import sys as _sys


def _refuse(reason):
    print(f"flower: refusing to start: {reason}", file=_sys.stderr, flush=True)
    raise SystemExit(2)


def _configured_elsewhere():
    """Logins given on the command line (--basic-auth) or an OAuth setup (--auth)."""
    try:
        from tornado.options import options as _opts
        return bool([c for c in (_opts.basic_auth or []) if c and c.strip()] or _opts.auth)
    except Exception:  # not loaded by Flower (no options defined): nothing given elsewhere
        return False


def _address_asked():
    """The address given on the command line (--address) or in FLOWER_ADDRESS, if any."""
    try:
        from tornado.options import options as _opts
        asked = _opts.address
    except Exception:  # not loaded by Flower: only the environment can ask
        asked = None
    return (asked or _os.environ.get("FLOWER_ADDRESS", "")).strip()


def _loopback(address):
    import ipaddress
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return address == "localhost"


# The project's settings: the environment, then .env in the working directory (which also
# puts .env's FLOWER_UNAUTHENTICATED and PORT into os.environ), validated once; a bad
# FLOWER_BASIC_AUTH is reported without its value.
from darkhorses.core.settings import SettingsError as _SettingsError  # noqa: E402
from darkhorses.core.settings import get_settings as _get_settings  # noqa: E402

try:
    _raw_auth = _get_settings().flower_basic_auth or ""
except _SettingsError as _exc:
    _refuse(f"configuration error: {_exc}")
_unauthenticated = _os.environ.get("FLOWER_UNAUTHENTICATED", "").strip() == "1"
_loopback_only = False

if _raw_auth:
    basic_auth = [_e.strip() for _e in _raw_auth.split(",") if _e.strip()]
elif _configured_elsewhere():
    pass
elif _unauthenticated:
    # Without a login Flower is for this machine only, whatever PORT or --address say.
    _asked = _address_asked()
    if _asked and not _loopback(_asked):
        _refuse(f"FLOWER_UNAUTHENTICATED=1 listens on loopback only, but address {_asked!r} was asked for; "
                "set FLOWER_BASIC_AUTH to serve other machines")
    _loopback_only = True
    # Flower turns a set-but-empty FLOWER_BASIC_AUTH into [''], which matches no login.
    basic_auth = []
    print("flower: FLOWER_UNAUTHENTICATED=1: no login; for local use only", file=_sys.stderr, flush=True)
else:
    _refuse("FLOWER_BASIC_AUTH is not set (user:password); without a login Flower would "
            "expose task arguments and control of the workers. For local use only, set "
            "FLOWER_UNAUTHENTICATED=1 to run it without one.")

# Hosting platforms (Render, Heroku) give the port in PORT and route to every interface.
_platform_port = _os.environ.get("PORT", "").strip()
if _platform_port:
    if not _platform_port.isdigit() or not 0 < int(_platform_port) < 65536:
        _refuse("PORT: expected a TCP port number")
    port = int(_platform_port)
if _loopback_only:
    address = "127.0.0.1"
elif _platform_port:
    address = "0.0.0.0"

# Task history stays in memory: bounded, and not written to a local file (ephemeral
# containers; the database and the result backend are the records).
persistent = False
max_tasks = 10000
# Every deploy or restart brings workers with new hostnames; forget the old ones after 10 min.
purge_offline_workers = 600
