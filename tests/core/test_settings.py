import re
import subprocess
import sys

import pytest

from darkhorses.core.settings import SettingsError, mask_url, parse_poll_intervals, settings_from_env
from tests.support import REPO, service_env


def test_defaults_are_sane():
    settings = settings_from_env({})
    assert settings.database_url.startswith("sqlite:///")
    assert settings.regions == ("gb", "ire")
    assert settings.rate_limits == {"racecards": 2.0, "racecard": 5.0, "results": 5.0, "results_today": 5.0,
                                    "odds": 5.0}
    assert (settings.live_off_quiet_seconds, settings.live_off_cap_minutes) == (120.0, 30.0)
    assert settings.poll_intervals[0] == (300.0, 10.0)
    assert settings.poll_intervals[-1] == (float("inf"), 900.0)
    assert not settings.has_credentials


@pytest.mark.parametrize("env, variable", [
    ({"DATABASE_URL": "mysql://x@y/z"}, "DATABASE_URL"),
    ({"CELERY_BROKER_URL": "http://nope"}, "CELERY_BROKER_URL"),
    ({"RACING_API_URL": "ftp://api"}, "RACING_API_URL"),
    ({"RACING_API_USERNAME": "only-user"}, "RACING_API_PASSWORD"),
    ({"RACING_API_RATE_RESULTS": "fast"}, "RACING_API_RATE_RESULTS"),
    ({"RACING_API_RATE_RESULTS": "-1"}, "RACING_API_RATE_RESULTS"),
    ({"LOG_LEVEL": "chatty"}, "LOG_LEVEL"),
    ({"LIVE_POLL_INTERVALS": "300:10"}, "LIVE_POLL_INTERVALS"),
    ({"RACING_API_REGIONS": "gb,!!"}, "RACING_API_REGIONS"),
    ({"FLOWER_BASIC_AUTH": "no-colon"}, "FLOWER_BASIC_AUTH"),
])
def test_a_bad_value_is_one_line_naming_the_variable(env, variable):
    with pytest.raises(SettingsError) as error:
        settings_from_env(env)
    message = str(error.value)
    assert message.startswith(variable + ":")
    assert "\n" not in message


def test_database_password_is_masked_in_errors_and_output():
    assert mask_url("postgresql://user:s3cret@db:5432/x") == "postgresql://user:***@db:5432/x"
    with pytest.raises(SettingsError) as error:
        settings_from_env({"DATABASE_URL": "oracle://user:s3cret@db/x"})
    assert "s3cret" not in str(error.value)


def test_render_style_postgres_urls_use_the_pinned_driver():
    assert settings_from_env({"DATABASE_URL": "postgres://u:p@h/d"}).database_url == "postgresql+psycopg2://u:p@h/d"


def test_poll_table_is_sorted_and_needs_a_catch_all():
    assert parse_poll_intervals("*:600,60:5") == ((60.0, 5.0), (float("inf"), 600.0))
    with pytest.raises(ValueError):
        parse_poll_intervals("60:5")


def test_dotenv_fills_what_the_environment_lacks(tmp_path):
    (tmp_path / ".env").write_text("LOG_LEVEL=nonsense\n")
    env = service_env()
    env.pop("LOG_LEVEL")
    result = subprocess.run([sys.executable, "-m", "darkhorses", "status"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == ("configuration error: LOG_LEVEL: expected one of DEBUG, INFO, WARNING, ERROR, "
                                     "CRITICAL, got 'NONSENSE'")


def test_help_lists_every_command_of_the_design():
    result = subprocess.run([sys.executable, "-m", "darkhorses", "--help"], cwd=REPO, env=service_env(),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    # The sub-command list: each command's name starts a line indented by four spaces.
    listed = re.findall(r"^    ([a-z][a-z-]*)\b", result.stdout, flags=re.MULTILINE)
    assert listed == ["simulator", "migrate", "live-once", "historical", "backfill", "stats",
                      "status", "run", "chart"]


def test_an_unmigrated_database_is_a_one_line_error(tmp_path):
    result = subprocess.run([sys.executable, "-m", "darkhorses", "status"], cwd=tmp_path,
                            env=service_env(DATABASE_URL=f"sqlite:///{tmp_path}/empty.db"),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("database error:")
    assert "python -m darkhorses migrate" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("env, variable", [
    ({"LIVE_POLL_INTERVALS": "*:nan"}, "LIVE_POLL_INTERVALS"),
    ({"LIVE_POLL_INTERVALS": "nan:10,*:900"}, "LIVE_POLL_INTERVALS"),
    ({"LIVE_POLL_INTERVALS": "inf:10,*:900"}, "LIVE_POLL_INTERVALS"),
    ({"LIVE_POLL_INTERVALS": "*:inf"}, "LIVE_POLL_INTERVALS"),
    ({"RACING_API_RATE_RESULTS": "nan"}, "RACING_API_RATE_RESULTS"),
    ({"RACING_API_RATE_ODDS": "inf"}, "RACING_API_RATE_ODDS"),
    ({"RACING_API_TIMEOUT": "nan"}, "RACING_API_TIMEOUT"),
    ({"RACING_API_TIMEOUT": "1e9"}, "RACING_API_TIMEOUT"),
    ({"HISTORICAL_CATCHUP_DAYS": "100000000"}, "HISTORICAL_CATCHUP_DAYS"),
    ({"HISTORICAL_RETRY_SECONDS": "-inf"}, "HISTORICAL_RETRY_SECONDS"),
    ({"LIVE_CYCLE_TIMEOUT_SECONDS": "Infinity"}, "LIVE_CYCLE_TIMEOUT_SECONDS"),
    ({"RACING_API_MAX_ATTEMPTS": "1000000"}, "RACING_API_MAX_ATTEMPTS"),
    ({"RACING_API_MAX_RESPONSE_BYTES": "10"}, "RACING_API_MAX_RESPONSE_BYTES"),
    ({"RACING_API_MAX_PAGES": "0"}, "RACING_API_MAX_PAGES"),
    ({"RACING_API_MAX_RETRY_AFTER": "nan"}, "RACING_API_MAX_RETRY_AFTER"),
    ({"RACING_API_REQUEST_DEADLINE": "inf"}, "RACING_API_REQUEST_DEADLINE"),
])
def test_nan_infinities_and_absurd_ranges_are_refused_naming_the_variable(env, variable):
    with pytest.raises(SettingsError) as error:
        settings_from_env(env)
    assert str(error.value).startswith(variable + ":") and "\n" not in str(error.value)


def test_the_request_bounds_have_sane_defaults_and_can_be_set():
    defaults = settings_from_env({})
    assert (defaults.max_response_bytes, defaults.request_deadline, defaults.max_retry_after,
            defaults.max_pages) == (32 * 1024 * 1024, 120.0, 120.0, 200)
    tuned = settings_from_env({"RACING_API_MAX_RESPONSE_BYTES": "1048576", "RACING_API_REQUEST_DEADLINE": "15",
                               "RACING_API_MAX_RETRY_AFTER": "5", "RACING_API_MAX_PAGES": "3"})
    assert (tuned.max_response_bytes, tuned.request_deadline, tuned.max_retry_after, tuned.max_pages) == (
        1048576, 15.0, 5.0, 3)


ODD_PASSWORDS = ["pg/SECRET", "p@ss@word", "a:b:c", "100%25sure", "hash#tag", "q?x=1", "sl/a@sh:",
                 "SECRET", "@@", "///"]


@pytest.mark.parametrize("password", ODD_PASSWORDS)
def test_every_form_of_password_is_masked(password):
    for url in (f"postgresql+psycopg2://postgres:{password}@db.example:5432/darkhorses",
                f"postgres://postgres:{password}@db/x?sslmode=require",
                f"redis://:{password}@cache:6379/0", f"rediss://default:{password}@cache:6380"):
        masked = mask_url(url)
        assert password not in masked, masked
        assert "***" in masked and masked.endswith(url.rsplit("@", 1)[1])
    assert mask_url("redis://cache:6379/0") == "redis://cache:6379/0"
    assert mask_url("sqlite:///var/darkhorses.db") == "sqlite:///var/darkhorses.db"


@pytest.mark.parametrize("password", ["pg/SECRET", "p@ss@word", "x:y#z"])
def test_migrate_and_errors_never_print_an_odd_password(password, tmp_path):
    url = f"postgresql://postgres:{password}@127.0.0.1:1/nowhere"
    result = subprocess.run([sys.executable, "-m", "darkhorses", "migrate"], cwd=tmp_path,
                            env=service_env(DATABASE_URL=url), capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert password not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
