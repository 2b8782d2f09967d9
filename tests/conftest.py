"""pytest configuration and fixtures; the helpers themselves are in ``helpers.py``."""

import os

import pytest
from helpers import EOSFIX_PREFIX, HAS_TORCH, build_tokenizer
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

# The envs for Python 3.9, 3.10, 3.12 and 3.13 have numpy and no torch (the local torch CPU wheel is for 3.11
# only). There, collators return numpy batches (helpers.TENSORS), and a test that needs torch is skipped with that
# reason (pytest_collection_modifyitems below), never silently.
NO_TORCH_REASON = "needs torch, which this env does not install (a numpy-only env for another Python version)"


def pytest_configure(config):
    config.addinivalue_line("markers", "requires_torch: skipped, with the reason, where torch is not installed")


def pytest_collection_modifyitems(config, items):
    """Skip tests marked ``requires_torch``, and ``return_tensors="pt"`` parametrizations, when torch is absent."""
    if HAS_TORCH:
        return
    # A skipif put first: pytest reports the first true skipif, and a test's own version gates (say, "removed in
    # trl 0.20" where trl is simply absent) would otherwise give the wrong reason.
    skip = pytest.mark.skipif(True, reason=NO_TORCH_REASON)
    for item in items:
        callspec = getattr(item, "callspec", None)
        if item.get_closest_marker("requires_torch") or (callspec and callspec.params.get("return_tensors") == "pt"):
            item.add_marker(skip, append=False)


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
