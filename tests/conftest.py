"""pytest only (trial ignores this file): run each test in its own temp directory.

trial chdirs into ``_trial_temp``; without this, ``TestCase.mktemp()`` under pytest
would write into the checkout.
"""

import pytest


@pytest.fixture(autouse=True)
def _run_in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
