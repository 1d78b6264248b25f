import re
import subprocess
import sys

import pytest

from darkhorses.settings import SettingsError, mask_url, parse_poll_intervals, settings_from_env
from tests.support import REPO, service_env


def test_defaults_are_sane():
    settings = settings_from_env({})
    assert settings.database_url.startswith("sqlite:///")
    assert settings.regions == ("gb", "ire")
    assert settings.rate_limits == {"racecards": 2.0, "results": 5.0, "odds": 5.0}
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
    assert result.stderr.strip() == "configuration error: LOG_LEVEL: expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got 'NONSENSE'"


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
