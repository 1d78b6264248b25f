"""Fixtures the deployment-file tests share: what the app really has, to check the files against."""
import re

import pytest

from tests.support import REPO


@pytest.fixture(scope="module")
def known_queues() -> set[str]:
    import celeryconfig
    return {q.name for q in celeryconfig.task_queues}


@pytest.fixture(scope="module")
def settings_vars() -> set[str]:
    """Every environment variable name darkhorses/core/settings.py mentions."""
    source = (REPO / "darkhorses" / "core" / "settings.py").read_text()
    return set(re.findall(r"[\"']([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)[\"']", source))
