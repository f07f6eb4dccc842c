"""Fixtures for end-to-end tests of the `patchbay` binary against real MCP peers.

Async tests use anyio's pytest plugin on asyncio: mark them `@pytest.mark.anyio`.
Every test gets a default timeout (pytest-timeout) unless it sets its own marker.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from oauth_bed import (  # noqa: F401 (fixtures of the OAuth test bed, for every test)
    authz_server,
    oauth_bed_dir,
    protected_mcp,
    scripted_browser,
    start_authz_server,
    start_resource_server,
)
from patchbay_harness import Hub, Sandbox, everything_cmd, pack_bundle, wait_server_running
from patchbay_harness import start_hub as _start_hub

DEFAULT_TEST_TIMEOUT = 60
_failed_key = pytest.StashKey[bool]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(DEFAULT_TEST_TIMEOUT))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_failed_key] = report.failed
    return report


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """An isolated installation; at teardown, stops whatever still runs with its PATCHBAY_HOME."""
    box = Sandbox(tmp_path)
    yield box
    leftovers = box.stop_leftovers()
    if leftovers:
        print(f"stopped leftover processes of {box.home}: {leftovers}", file=sys.stderr)


@pytest.fixture
def patchbay_home(sandbox: Sandbox) -> Path:
    """PATCHBAY_HOME of this test's sandbox (children also get a temporary HOME)."""
    return sandbox.home


@pytest.fixture
def run_cli(sandbox: Sandbox) -> Callable[..., Any]:
    """`run_cli(*args, input=None, timeout=30) -> CompletedProcess[str]` in this test's sandbox."""
    return sandbox.run_cli


@pytest.fixture
def start_hub(sandbox: Sandbox, request: pytest.FixtureRequest) -> Iterator[Callable[..., Hub]]:
    """Factory: `start_hub(*extra_args) -> Hub`; every hub it started is stopped at teardown."""
    hubs: list[Hub] = []

    def start(*extra: str, timeout: float = 20.0) -> Hub:
        hub = _start_hub(sandbox, *extra, timeout=timeout)
        hubs.append(hub)
        return hub

    yield start
    failed = request.node.stash.get(_failed_key, False)
    for hub in reversed(hubs):
        code = hub.stop()
        if failed or code not in (0, None):
            print(f"hub pid {hub.pid} exited with {code}; stderr tail:\n{hub.stderr_tail()}", file=sys.stderr)


@pytest.fixture
def hub(start_hub: Callable[..., Hub]) -> Hub:
    """A running `patchbay serve --port 0` with `.url`, `.secret`, `.proc`, `.home`."""
    return start_hub()


@pytest.fixture
def everything(sandbox: Sandbox, start_hub: Callable[..., Hub]) -> Hub:
    """A running hub serving server-everything as `everything`, already up."""
    sandbox.add_server("everything", everything_cmd())
    hub = start_hub()
    wait_server_running(sandbox, "everything")
    return hub


@pytest.fixture(scope="session")
def weather_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`servers/weather-bundle` packed once by the real `mcpb pack` (see `pack_bundle`)."""
    return pack_bundle(tmp_path_factory.mktemp("bundle"))
