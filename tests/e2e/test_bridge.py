"""`patchbay bridge`: the stdio entry point client configs use. It starts a hub in the background
when none runs, shares one hub between bridges, and survives the hub going away."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import time
from typing import Any

import anyio
import pytest
from mcp import ClientSession, types
from patchbay_harness import (
    Hub,
    Sandbox,
    await_until,
    cmdline,
    everything_cmd,
    mcp_stdio_session,
    patchbay_bin,
    pid_alive,
    patchbay_processes,
    sandbox_processes,
    time_cmd,
    wait_until,
)

pytestmark = pytest.mark.anyio

BOTH = {"everything__echo", "time__get_current_time"}


@pytest.fixture
def configured(sandbox: Sandbox) -> Sandbox:
    """An installation with both servers and no hub running. `[hub] port = 0`: a background hub
    takes a free port, so parallel tests never meet on the default one."""
    sandbox.config_file.write_text("[hub]\nport = 0\n")
    sandbox.add_server("everything", everything_cmd())
    sandbox.add_server("time", time_cmd())
    assert sandbox.read_hub_file() is None
    return sandbox


def bridge_cmd() -> list[str]:
    return [patchbay_bin(), "bridge"]


def hub_log_tail(sandbox: Sandbox, lines: int = 30) -> str:
    log = sandbox.home / "logs" / "hub.log"
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else "(no hub.log)"


def live_hub_pid(sandbox: Sandbox) -> int | None:
    info = sandbox.read_hub_file()
    return info["pid"] if info and pid_alive(info["pid"]) else None


async def wait_for_tools(session: ClientSession, names: set[str], timeout: float = 20) -> set[str]:
    """List tools until `names` are all there (a freshly started hub starts its servers first)."""
    seen: set[str] = set()
    with anyio.move_on_after(timeout):
        while not names <= seen:
            seen = {t.name for t in (await session.list_tools()).tools}
            if not names <= seen:
                await anyio.sleep(0.2)
    assert names <= seen, f"tools {sorted(names - seen)} never appeared through the bridge (seen {sorted(seen)})"
    return seen


async def kill_live_hub(sandbox: Sandbox) -> int:
    """SIGTERM the hub a bridge is using and wait until it is gone; returns its pid."""
    pid = live_hub_pid(sandbox)
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    await await_until(lambda: not pid_alive(pid), 10, "the hub stops on SIGTERM")
    return pid


def stop_background_hub(sandbox: Sandbox, pid: int) -> None:
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not pid_alive(pid), 10, f"the background hub {pid} must stop on SIGTERM")


def text_of(result: types.CallToolResult) -> str:
    return "".join(c.text for c in result.content if isinstance(c, types.TextContent))


async def test_bridge_starts_a_background_hub_and_serves_both_servers(configured: Sandbox) -> None:
    sandbox = configured
    async with mcp_stdio_session(bridge_cmd(), env=sandbox.env) as session:
        assert session.server_info is not None and session.server_info.name == "patchbay", session.server_info
        await wait_for_tools(session, BOTH)
        echoed = await session.call_tool("everything__echo", {"message": "via bridge"})
        told = await session.call_tool("time__get_current_time", {"timezone": "UTC"})
        assert text_of(echoed) == "Echo: via bridge", echoed
        assert not told.is_error and told.structured_content["timezone"] == "UTC", told

        hub_pid = live_hub_pid(sandbox)
        assert hub_pid is not None, f"the bridge started a hub and hub.json names it: {sandbox.read_hub_file()}"
        assert cmdline(hub_pid)[1:] == ["serve"], f"the background hub is a `patchbay serve`: {cmdline(hub_pid)}"
        bridges = patchbay_processes(sandbox, "bridge")
        assert hub_pid not in bridges, "the hub is its own process, not the bridge"

    # The bridge is gone with its client; the hub stays for other clients until stopped.
    wait_until(lambda: not patchbay_processes(sandbox, "bridge"), 10, "the bridge exits when its client leaves")
    assert pid_alive(hub_pid), "the background hub outlives one bridge"
    stop_background_hub(sandbox, hub_pid)
    assert not sandbox.hub_file.exists(), "a hub stopped with SIGTERM removes its hub.json"
    wait_until(
        lambda: not sandbox_processes(sandbox, "index.js") and not sandbox_processes(sandbox, "mcp-server-time"),
        10,
        "stopping the background hub stops its servers",
    )


async def test_first_tools_list_through_a_fresh_bridge_has_every_server_tools(configured: Sandbox) -> None:
    """Many clients call tools/list once, right after initialize, and ignore list_changed. When the
    bridge has just started the hub, that first answer must already carry the servers' tools."""
    try:
        async with mcp_stdio_session(bridge_cmd(), env=configured.env) as session:
            first = {t.name for t in (await session.list_tools()).tools}
        assert BOTH <= first, f"the first tools/list after a cold start was {sorted(first)}"
    finally:
        if (pid := live_hub_pid(configured)) is not None:
            stop_background_hub(configured, pid)


def read_line(proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, f"no answer from the bridge in {timeout} s"
    return proc.stdout.readline()


def test_bridge_exits_when_stdin_closes(sandbox: Sandbox, hub: Hub) -> None:
    proc = subprocess.Popen(
        bridge_cmd(), env=sandbox.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        assert proc.stdin is not None
        init = {
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
        }  # fmt: skip
        proc.stdin.write((json.dumps(init) + "\n").encode())
        proc.stdin.flush()
        answer = json.loads(read_line(proc, 15))
        assert answer["id"] == 1 and answer["result"]["serverInfo"]["name"] == "patchbay", answer

        proc.stdin.close()
        try:
            code = proc.wait(5)
        except subprocess.TimeoutExpired:
            pytest.fail("the bridge still runs 5 s after its stdin closed")
        assert code == 0, f"end of input is a normal exit (0), got {code}"
        assert pid_alive(hub.pid), "the hub keeps running when a bridge leaves"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_second_bridge_reuses_the_same_hub(configured: Sandbox) -> None:
    sandbox = configured
    async with mcp_stdio_session(bridge_cmd(), env=sandbox.env) as first:
        await wait_for_tools(first, BOTH)
        hub_pid = live_hub_pid(sandbox)
        async with mcp_stdio_session(bridge_cmd(), env=sandbox.env) as second:
            await wait_for_tools(second, BOTH, timeout=5)
            echoed = await second.call_tool("everything__echo", {"message": "second"})
            assert text_of(echoed) == "Echo: second"
            assert live_hub_pid(sandbox) == hub_pid, "the second bridge attached to the running hub"
            assert patchbay_processes(sandbox, "serve") == [hub_pid], (
                f"one hub per user: {patchbay_processes(sandbox, 'serve')}"
            )
            servers = sandbox_processes(sandbox, "index.js")
            assert len(servers) == 1, f"both bridges share one server-everything child: {servers}"
    assert hub_pid is not None
    stop_background_hub(sandbox, hub_pid)


async def test_two_bridges_started_together_start_one_hub(configured: Sandbox) -> None:
    sandbox = configured
    ready = anyio.Event()
    listed: list[set[str]] = []

    async def one_bridge() -> None:
        async with mcp_stdio_session(bridge_cmd(), env=sandbox.env) as session:
            listed.append(await wait_for_tools(session, BOTH))
            if len(listed) == 2:
                ready.set()
            with anyio.fail_after(30):
                await ready.wait()
            serves = patchbay_processes(sandbox, "serve")
            assert len(serves) == 1, f"two bridges racing at start-up must start exactly one hub: {serves}"

    async with anyio.create_task_group() as tg:
        tg.start_soon(one_bridge)
        tg.start_soon(one_bridge)
    hub_pid = live_hub_pid(sandbox)
    assert hub_pid is not None
    stop_background_hub(sandbox, hub_pid)


async def test_bridge_reconnects_to_a_new_hub_after_the_hub_is_killed(configured: Sandbox) -> None:
    """The reconnect itself: after the hub dies, the session keeps working through a new hub."""
    sandbox = configured
    async with mcp_stdio_session(bridge_cmd(), env=sandbox.env) as session:
        await wait_for_tools(session, BOTH)
        first = await kill_live_hub(sandbox)

        with anyio.fail_after(25):
            await session.list_tools()  # any request makes the bridge start a hub again
        second = live_hub_pid(sandbox)
        assert second is not None and second != first, f"the bridge started a new hub: {sandbox.read_hub_file()}"
        await wait_for_tools(session, BOTH)
        echoed = await session.call_tool("everything__echo", {"message": "reconnected"})
        assert text_of(echoed) == "Echo: reconnected", echoed
    stop_background_hub(sandbox, second)


async def test_first_call_after_the_hub_is_killed_succeeds_through_the_bridge(configured: Sandbox) -> None:
    """What the client sees: the very next tools/call after the hub died just works (the bridge
    starts a new hub, replays initialize, and the call reaches server-everything)."""
    sandbox = configured
    try:
        async with mcp_stdio_session(bridge_cmd(), env=sandbox.env) as session:
            await wait_for_tools(session, BOTH)
            first = await kill_live_hub(sandbox)

            try:
                with anyio.fail_after(25):
                    echoed = await session.call_tool("everything__echo", {"message": "after the hub died"})
            except Exception as e:
                second = live_hub_pid(sandbox)
                pytest.fail(
                    f"the first call after the hub died failed ({type(e).__name__}: {e}).\n"
                    f"old hub {first}, hub now {second}: "
                    + (
                        "the bridge did start a new hub, but the call reached it before its servers were up"
                        if second not in (None, first)
                        else "no new hub runs"
                    )
                    + f"\nhub.log:\n{hub_log_tail(sandbox)}",
                    pytrace=False,
                )
            assert text_of(echoed) == "Echo: after the hub died", echoed
            second = live_hub_pid(sandbox)
            assert second is not None and second != first, f"a new hub runs: {sandbox.read_hub_file()}"
            told = await session.call_tool("time__get_current_time", {"timezone": "UTC"})
            assert not told.is_error, told
    finally:
        if (pid := live_hub_pid(sandbox)) is not None:
            stop_background_hub(sandbox, pid)


async def test_bridge_with_a_broken_config_fails_fast_and_says_why(sandbox: Sandbox) -> None:
    """The hub the bridge starts exits at once on a config syntax error. The bridge must notice
    that promptly (not wait out its whole start-up timeout) and put the config error itself on
    stderr, since that is all a client like Claude Desktop shows the user."""
    sandbox.config_file.write_text("[hub\nport = 0\n")
    proc = subprocess.Popen(
        bridge_cmd(), env=sandbox.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    try:
        init: dict[str, Any] = {
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
        }  # fmt: skip
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        started = time.monotonic()
        proc.stdin.write((json.dumps(init) + "\n").encode())
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        line = proc.stdout.readline() if ready else b""
        waited = time.monotonic() - started
        if line:
            answer = json.loads(line)
            assert "error" in answer, f"no hub can start, so initialize cannot succeed: {answer}"
        proc.stdin.close()
        proc.wait(10)
        err = proc.stderr.read().decode(errors="replace")
        assert waited < 10, (
            f"the bridge took {waited:.1f} s to give up on a hub that exited at once (exit {proc.returncode}):\n{err}"
        )
        assert f"{sandbox.config_file}:1:" in err, f"the bridge's stderr names the broken config position:\n{err}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
