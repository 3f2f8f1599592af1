"""Shared test fixtures: the --device option, a CUDA sync guard, hypothesis profiles."""

from __future__ import annotations

import contextlib
import os

import pytest
import torch
from hypothesis import HealthCheck, settings

settings.register_profile("default", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=400, deadline=None)
# CI: the same examples on every run (a red CI must be reproducible); local runs keep exploring.
settings.register_profile(
    "ci", max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--device",
        default=os.environ.get("MASKBENCH_DEVICE", "cpu"),
        help="torch device the kernel tests run on (cpu, cuda, cuda:1, ...); default cpu",
    )


@pytest.fixture(scope="session")
def device(request: pytest.FixtureRequest) -> torch.device:
    """The device chosen with --device; CUDA tests skip (with a reason) when there is no GPU."""
    dev = torch.device(request.config.getoption("--device"))
    if dev.type == "cuda" and not torch.cuda.is_available():
        pytest.skip("--device cuda given but torch.cuda.is_available() is False")
    return dev


@pytest.fixture
def no_sync(device: torch.device):
    """``with no_sync():`` raises on any GPU->CPU sync when the tests run on CUDA (no-op on CPU)."""

    @contextlib.contextmanager
    def guard():
        if device.type != "cuda":
            yield
            return
        previous = torch.cuda.get_sync_debug_mode()
        torch.cuda.set_sync_debug_mode("error")
        try:
            yield
        finally:
            torch.cuda.set_sync_debug_mode(previous)

    return guard


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
