"""Remote servers without sign-in: `patchbay connect URL` probes and saves a Streamable HTTP
server (the Python SDK's MCPServer on 127.0.0.1), the hub serves its tools namespaced beside the
stdio servers, and a remote server that goes away and comes back is reconnected."""

from __future__ import annotations

import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp.shared.exceptions import MCPError
from patchbay_harness import (
    Hub,
    Sandbox,
    await_until,
    cli_json,
    free_port,
    mcp_session,
    port_open,
    server_status,
    stop_process,
    time_cmd,
    wait_server_running,
    wait_until,
)

pytestmark = pytest.mark.anyio
DEMO = Path(__file__).parent / "servers" / "remote_demo.py"
READY_TIMEOUT = 20.0


class RemoteDemo:
    """The demo server as a process on a fixed port, so it can be stopped and started again."""

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.log = root / f"remote-demo-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(DEMO), str(self.port)], stdout=log, stderr=log, start_new_session=True
            )
        wait_until(lambda: port_open(self.port) or self.proc.poll() is not None, READY_TIMEOUT, "demo server up")
        assert self.proc.poll() is None, f"the demo server exited:\n{self.log.read_text()[-2000:]}"

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None


@pytest.fixture
def demo(sandbox: Sandbox) -> Iterator[RemoteDemo]:
    server = RemoteDemo(sandbox.root)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_connect_saves_a_server_that_needs_no_sign_in(sandbox: Sandbox, demo: RemoteDemo) -> None:
    result = sandbox.run_cli("connect", demo.url)
    assert result.returncode == 0, result.stderr
    name = f"local-{demo.port}"
    assert "without sign-in" in result.stderr and f"`{name}`" in result.stderr, result.stderr
    saved = tomllib.loads(sandbox.config_file.read_text())["servers"][name]
    assert saved == {"url": demo.url}, saved
    (row,) = cli_json(sandbox, "list")
    assert row["name"] == name and row["url"] == demo.url and row["command"] is None, row


async def test_remote_tools_are_served_beside_stdio_tools(
    sandbox: Sandbox, demo: RemoteDemo, start_hub: Callable[..., Hub]
) -> None:
    sandbox.add_server("time", time_cmd())
    assert sandbox.run_cli("connect", demo.url, "--name", "demo").returncode == 0
    hub = start_hub()
    wait_server_running(sandbox, "time", "demo")
    async with mcp_session(hub.url, hub.secret) as session:
        names = {t.name for t in (await session.list_tools()).tools}
        assert {"demo__add", "demo__served_by", "time__get_current_time"} <= names, names
        summed = await session.call_tool("demo__add", {"a": 40, "b": 2})
        assert not summed.is_error and summed.structured_content == {"result": 42}, summed
        told = await session.call_tool("time__get_current_time", {"timezone": "UTC"})
        assert not told.is_error, told
    status = server_status(sandbox, "demo")
    assert status is not None and status["command"] == demo.url and status["pid"] is None, status


async def test_connect_while_the_hub_runs_serves_the_new_tools(
    sandbox: Sandbox, demo: RemoteDemo, start_hub: Callable[..., Hub]
) -> None:
    hub = start_hub()
    async with mcp_session(hub.url, hub.secret) as session:
        assert sandbox.run_cli("connect", demo.url, "--name", "late").returncode == 0

        async def served() -> bool:
            return "late__add" in {t.name for t in (await session.list_tools()).tools}

        await await_until(served, READY_TIMEOUT, "the connected server's tools are served")
        answer = await session.call_tool("late__served_by", {})
        assert not answer.is_error and f":{demo.port}" in answer.content[0].text, answer


async def test_a_remote_server_that_goes_away_is_reconnected_when_it_returns(
    sandbox: Sandbox, demo: RemoteDemo, start_hub: Callable[..., Hub]
) -> None:
    assert sandbox.run_cli("connect", demo.url, "--name", "demo").returncode == 0
    hub = start_hub()
    wait_server_running(sandbox, "demo")
    demo.stop()
    async with mcp_session(hub.url, hub.secret) as session:
        with pytest.raises(MCPError, match="server `demo` went away during the call"):
            await session.call_tool("demo__add", {"a": 1, "b": 1})

    def down() -> dict | None:
        status = server_status(sandbox, "demo")
        return status if status and status["state"] == "restarting" else None

    # The failed call makes the hub check the server at once (not only at its next keepalive).
    status = wait_until(down, READY_TIMEOUT, "the hub notices the remote server is gone")
    assert status["last_error"], status
    demo.start()
    wait_server_running(sandbox, "demo", timeout=45)
    async with mcp_session(hub.url, hub.secret) as session:
        summed = await session.call_tool("demo__add", {"a": 1, "b": 2})
        assert summed.structured_content == {"result": 3}, summed


def test_connect_refuses_what_is_not_an_mcp_server_and_saves_nothing(sandbox: Sandbox) -> None:
    port = free_port()  # nothing listens here
    unreachable = sandbox.run_cli("connect", f"http://127.0.0.1:{port}/mcp")
    assert unreachable.returncode == 1, unreachable.stderr
    assert "error: cannot reach" in unreachable.stderr and "hint:" in unreachable.stderr, unreachable.stderr

    plain_http = sandbox.run_cli("connect", "http://mcp.example.com/mcp")
    assert plain_http.returncode == 3, plain_http.stderr
    assert "use https" in plain_http.stderr, plain_http.stderr

    not_a_url = sandbox.run_cli("connect", "mcp.example.com")
    assert not_a_url.returncode == 3 and "not a URL" in not_a_url.stderr, not_a_url.stderr
    assert not sandbox.config_file.exists() or "servers" not in sandbox.config_file.read_text()


def test_connect_refuses_a_taken_name(sandbox: Sandbox, demo: RemoteDemo) -> None:
    sandbox.add_server("demo", time_cmd())
    before = sandbox.config_file.read_bytes()
    taken = sandbox.run_cli("connect", demo.url, "--name", "demo")
    assert taken.returncode == 5, taken.stderr
    assert "already exists" in taken.stderr
    assert sandbox.config_file.read_bytes() == before


def test_connect_to_a_server_that_wants_a_sign_in_needs_the_keychain_and_saves_nothing(
    sandbox: Sandbox, protected_mcp: Any, tmp_path: Path
) -> None:
    """A protected server (the OAuth bed's, oidc-provider behind it) makes `connect` sign in, and
    the tokens can only go to the OS keychain: with none reachable it stops with the vault's
    exit code (8, as `patchbay secret`), says what to start, and leaves the config alone. The
    sign-in itself is tested in test_oauth_flow.py."""
    sandbox.env["DBUS_SESSION_BUS_ADDRESS"] = f"unix:path={tmp_path / 'no-bus-here'}"
    refused = sandbox.run_cli("connect", protected_mcp.url, "--name", "locked")
    assert refused.returncode == 8, f"exit {refused.returncode}:\n{refused.stderr}"
    assert "error: no keychain reachable" in refused.stderr and "hint:" in refused.stderr, refused.stderr
    assert not sandbox.config_file.exists() or "locked" not in sandbox.config_file.read_text()
