"""pytest configuration and fixtures; the helpers themselves are in ``helpers.py``."""

import os

import pytest
from helpers import EOSFIX_PREFIX, build_tokenizer
from hypothesis import HealthCheck, settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Derandomized so CI runs the same cases every time; no example database on disk.
settings.register_profile(
    "eosfix",
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile("eosfix")


@pytest.fixture
def make_tokenizer():
    return build_tokenizer


@pytest.fixture
def unpatched():
    """Start and end the test with eosfix reverted, whatever the test did."""
    import eosfix

    eosfix.revert()
    yield
    eosfix.revert()


@pytest.fixture
def clean_environ(monkeypatch):
    """The test runs with no ``EOSFIX_*`` variable in ``os.environ``; the originals come back afterwards."""
    for key in [key for key in os.environ if key.startswith(EOSFIX_PREFIX)]:
        monkeypatch.delenv(key)
    return os.environ
