"""The supervisor under faults: a child that dies mid-call, and servers started through a wrapper
shell (the `npx` shape: the process the hub starts is not the one that serves)."""

from __future__ import annotations

import os
import shlex
import signal
import time
from collections.abc import Callable
from typing import Any

import anyio
import httpx2
import pytest
from mcp import types
from mcp.shared.exceptions import MCPError
from patchbay_harness import (
    Hub,
    Sandbox,
    await_until,
    everything_cmd,
    mcp_session,
    parent_pid,
    pid_alive,
    sandbox_processes,
    server_status,
    time_cmd,
    wait_server_running,
    wait_until,
)

pytestmark = pytest.mark.anyio

async def api_status(hub: Hub, client: httpx2.AsyncClient) -> dict[str, dict[str, Any]]:
    response = await client.get(f"http://127.0.0.1:{hub.port}/api/v1/status", headers=hub.auth_headers)
    assert response.status_code == 200, response.text
    return {s["name"]: s for s in response.json()["servers"]}


async def test_killing_a_child_mid_call_errors_the_call_promptly_and_restarts_it(
    sandbox: Sandbox, start_hub: Callable[..., Hub]
) -> None:
    sandbox.add_server("everything", everything_cmd())
    sandbox.add_server("time", time_cmd())
    hub = start_hub()
    old_pid = wait_server_running(sandbox, "everything", "time")["everything"]["pid"]

    time_answers: list[float] = []
    time_failures: list[str] = []
    states_seen: list[tuple[str, int]] = []
    outcome: dict[str, Any] = {}

    async with (
        mcp_session(hub.url, hub.secret) as session,
        httpx2.AsyncClient(timeout=5) as api,
        anyio.create_task_group() as tg,
    ):
        stop_time_calls = anyio.Event()

        async def keep_asking_time() -> None:
            # The other server must answer throughout the crash and the restart.
            while not stop_time_calls.is_set():
                try:
                    with anyio.fail_after(5):
                        told = await session.call_tool("time__get_current_time", {"timezone": "UTC"})
                    if told.is_error:
                        time_failures.append(str(told.content))
                    else:
                        time_answers.append(time.monotonic())
                except Exception as e:  # noqa: BLE001 - every failure is reported below
                    time_failures.append(repr(e))
                await anyio.sleep(0.1)

        async def long_call() -> None:
            started = time.monotonic()
            try:
                result = await session.call_tool(
                    "everything__trigger-long-running-operation", {"duration": 30, "steps": 30}, read_timeout_seconds=25
                )
                outcome["result"] = result
            except MCPError as e:
                outcome["error"] = e
            outcome["after"] = time.monotonic() - started

        tg.start_soon(keep_asking_time)
        tg.start_soon(long_call)
        await anyio.sleep(1.5)
        assert "after" not in outcome, f"the 30 s operation ended early: {outcome}"

        killed_at = time.monotonic()
        os.kill(old_pid, signal.SIGKILL)

        # The call in flight gets an error within a few seconds, not a hang.
        with anyio.move_on_after(8):
            while "after" not in outcome:
                await anyio.sleep(0.05)
        waited = time.monotonic() - killed_at
        assert "after" in outcome, f"the call in flight on the killed server still hangs {waited:.1f} s later"
        assert waited < 5, f"the call in flight got its answer only {waited:.1f} s after the crash"
        if "result" in outcome:
            assert outcome["result"].is_error, f"a crashed server's call cannot succeed: {outcome['result']}"
            message = str(outcome["result"].content)
        else:
            message = outcome["error"].error.message
        assert "everything" in message, f"the error names the server that failed: {message!r}"

        # Status shows the crash, then the restart.
        async def restarted() -> dict[str, Any] | None:
            status = (await api_status(hub, api))["everything"]
            if not states_seen or states_seen[-1][:2] != (status["state"], status["restarts"]):
                states_seen.append((status["state"], status["restarts"], status["last_error"]))
            if status["state"] == "running" and status["pid"] not in (None, old_pid) and status["restarts"] >= 1:
                return status
            return None

        with anyio.fail_after(15):
            while (status := await restarted()) is None:
                await anyio.sleep(0.02)
        restarting = [seen for seen in states_seen if seen[0] == "restarting"]
        assert restarting, f"status must show the crashed server as `restarting` during its backoff: {states_seen}"
        assert all(restarts >= 1 and error for _, restarts, error in restarting), (
            f"while restarting, status counts the restart and says why (last_error): {restarting}"
        )
        assert pid_alive(status["pid"]) and not pid_alive(old_pid)

        echoed = await session.call_tool("everything__echo", {"message": "back"})
        assert [c.text for c in echoed.content if isinstance(c, types.TextContent)] == ["Echo: back"]

        stop_time_calls.set()

    assert not time_failures, f"the time server must keep answering while everything crashes: {time_failures[:3]}"
    gaps = [b - a for a, b in zip(time_answers, time_answers[1:], strict=False)]
    assert time_answers and max(gaps, default=0) < 3, f"time kept answering without long gaps: max gap {max(gaps, default=0):.1f} s"


async def test_a_call_during_a_crash_restart_answers_promptly(
    sandbox: Sandbox, start_hub: Callable[..., Hub]
) -> None:
    """A call that reaches a server between its crash and its restart gets an answer at once: an
    error naming the server, or (once restarted) the real result; never a hang."""
    sandbox.add_server("everything", everything_cmd())
    hub = start_hub()
    pid = wait_server_running(sandbox, "everything")["everything"]["pid"]
    async with mcp_session(hub.url, hub.secret) as session:
        await session.list_tools()
        os.kill(pid, signal.SIGKILL)
        await await_until(lambda: not pid_alive(pid), 5, "SIGKILL ends the child")
        started = time.monotonic()
        try:
            with anyio.fail_after(5):
                result = await session.call_tool("everything__echo", {"message": "x"})
            # The restart may already be done (backoff 0.5 s): then the call simply works.
            assert [c.text for c in result.content if isinstance(c, types.TextContent)] == ["Echo: x"], result
        except MCPError as e:
            assert "everything" in e.error.message, f"the error says which server is down: {e.error.message}"
        assert time.monotonic() - started < 5


WRAPPED = "node {entry} stdio; echo wrapper-done >&2"  # `;` keeps `sh` as the parent (no exec)


def wrapper_cmd() -> list[str]:
    entry = everything_cmd()[1]
    return ["sh", "-c", WRAPPED.format(entry=shlex.quote(entry))]


@pytest.mark.parametrize("how", ["remove", "disable", "hub-stop", "kill-wrapper"])
def test_wrapper_shell_server_leaves_no_process_behind(
    sandbox: Sandbox, start_hub: Callable[..., Hub], how: str
) -> None:
    sandbox.add_server("wrapped", wrapper_cmd())
    hub = start_hub()
    wrapper = wait_server_running(sandbox, "wrapped")["wrapped"]["pid"]
    entry = everything_cmd()[1]
    servers = sandbox_processes(sandbox, entry)
    node = [p for p in servers if parent_pid(p) == wrapper]
    assert node, f"server-everything runs as a grandchild under the wrapper shell {wrapper}: {servers}"

    if how == "remove":
        assert sandbox.run_cli("remove", "wrapped").returncode == 0
    elif how == "disable":
        assert sandbox.run_cli("disable", "wrapped").returncode == 0
    elif how == "hub-stop":
        assert hub.stop() == 0, f"the hub stops cleanly on SIGTERM\n{hub.stderr_tail()}"
        assert not hub.survivors, (
            f"processes of the hub's group outlived it (killed by the test): {hub.survivors}"
        )
    else:
        # The wrapper dies; the supervisor restarts the server and must not leak the old grandchild.
        os.kill(wrapper, signal.SIGKILL)
        wait_until(lambda: not pid_alive(wrapper), 5, "SIGKILL ends the wrapper shell")
        restarted = wait_until(
            lambda: (s := server_status(sandbox, "wrapped")) and s["state"] == "running" and s["pid"] != wrapper and s,
            10,
            f"the supervisor must notice that the process it started (wrapper shell {wrapper}) died and restart "
            f"the server; status must not report the dead (zombie) pid {wrapper} as running",
        )
        assert restarted["restarts"] >= 1

    def leftovers() -> list[int]:
        return [p for p in node if pid_alive(p)]

    deadline = time.monotonic() + 5
    while leftovers() and time.monotonic() < deadline:
        time.sleep(0.05)
    left = leftovers()
    assert not left, (
        f"after `{how}`, the wrapped server's grandchild {left} still runs "
        f"({[open(f'/proc/{p}/cmdline').read().replace(chr(0), ' ') for p in left]})"
    )
    if how in ("remove", "disable", "hub-stop"):
        assert not sandbox_processes(sandbox, entry), "no server-everything of this installation remains"
