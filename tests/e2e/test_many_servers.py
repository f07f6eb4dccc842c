"""Many servers at once: twenty servers that each take a second to start come up together (the
start-up costs about the slowest one, not the sum), every tool is in the catalogue the moment the
last server says `running`, a restarted hub lists them all from the cache while its servers
start, and a server that hangs or crashes at start never holds back the others' tools or calls.

The servers are `servers/sized_server.py`, plain JSON-RPC with no SDK, so the only slow part of
a start is the delay each is told to take.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import mcp.types as types
import pytest
from patchbay_harness import Hub, Sandbox, api_get, mcp_session, wait_until

pytestmark = pytest.mark.anyio

SIZED = Path(__file__).parent / "servers" / "sized_server.py"
TOOLS_EACH = 5
START_DELAY = 2.0  # seconds each slow server sleeps before it answers anything


def write_servers(sandbox: Sandbox, servers: dict[str, list[str]]) -> None:
    """Config with one eager server per entry, each `sized_server.py` with the given arguments."""
    blocks = [
        f"[servers.{name}]\ncommand = {json.dumps(sys.executable)}\n"
        f"args = {json.dumps([str(SIZED), '--tools', str(TOOLS_EACH), *args])}\nstart = \"eager\"\n"
        for name, args in servers.items()
    ]
    sandbox.config_file.write_text("\n".join(blocks))


def states(hub: Hub) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in api_get(hub, "servers")}


def expected_tools(names: list[str]) -> set[str]:
    return {f"{n}__tool_{i:02}" for n in names for i in range(TOOLS_EACH)}


async def listed_tools(hub: Hub) -> set[str]:
    async with mcp_session(hub.url, hub.secret) as session:
        return {t.name for t in (await session.list_tools()).tools}


async def test_twenty_slow_servers_start_in_parallel_and_list_every_tool(
    sandbox: Sandbox, start_hub: Callable[..., Hub]
) -> None:
    names = [f"slow{i:02}" for i in range(20)]
    write_servers(sandbox, {n: ["--delay", str(START_DELAY)] for n in names})
    started = time.monotonic()
    hub = start_hub()
    # One after another they would take 20 x START_DELAY = 40 s before the last answered.
    wait_until(
        lambda: len(s := states(hub)) == 20 and all(v["state"] == "running" for v in s.values()),
        20 * START_DELAY,
        "all 20 servers reach `running`",
        interval=0.05,
    )
    elapsed = time.monotonic() - started
    assert elapsed < 5 * START_DELAY, (
        f"20 servers that each take {START_DELAY:.0f} s to start took {elapsed:.1f} s in all: "
        f"they did not start in parallel (one after another is {20 * START_DELAY:.0f} s)"
    )
    # No waiting here: `running` is only reported once the server's tools are in the catalogue,
    # and two servers finishing at once must not drop each other's tools.
    assert await listed_tools(hub) == expected_tools(names)
    assert len(api_get(hub, "tools")) == 20 * TOOLS_EACH

    # A new hub lists every tool at once from the cache, while its servers are still starting,
    # and a call to a server that is still starting waits for it.
    assert hub.stop() == 0
    hub = start_hub()
    with anyio.fail_after(START_DELAY):
        assert await listed_tools(hub) == expected_tools(names)
    still_starting = [n for n, v in states(hub).items() if v["state"] == "starting"]
    assert still_starting, "the list came from the cache, before the servers were up"
    async with mcp_session(hub.url, hub.secret) as session:
        result = await session.call_tool(f"{still_starting[0]}__tool_04", {"text": "wait"})
    assert not result.is_error, result
    assert "tool_04" in text_of(result)


async def test_a_hanging_and_a_crashing_server_do_not_delay_the_others(
    sandbox: Sandbox, start_hub: Callable[..., Hub]
) -> None:
    healthy = [f"ok{i:02}" for i in range(18)]
    servers: dict[str, list[str]] = {n: [] for n in healthy}
    write_servers(sandbox, servers)
    hub = start_hub()
    wait_until(
        lambda: all(v["state"] == "running" for v in states(hub).values()),
        15,
        "the 18 healthy servers reach `running`",
        interval=0.05,
    )
    # Two broken servers join the running hub.
    servers["hangs"] = ["--mode", "hang"]  # reads `initialize`, never answers
    servers["crashes"] = ["--mode", "crash"]  # exits before answering anything
    write_servers(sandbox, servers)
    wait_until(lambda: "hangs" in states(hub), 10, "the edited config is applied")

    # Listing and calling answer at once, while `hangs` has not answered its handshake.
    with anyio.fail_after(5):
        assert await listed_tools(hub) == expected_tools(healthy)
        async with mcp_session(hub.url, hub.secret) as session:
            result = await session.call_tool("ok07__tool_03", {"text": "hello"})
    assert not result.is_error, result
    assert json.loads(text_of(result)) == {"tool": "tool_03", "arguments": {"text": "hello"}}
    assert states(hub)["hangs"]["state"] == "starting", "the hanging server is still starting"
    crashed = wait_until(
        lambda: (s := states(hub)["crashes"])["state"] == "restarting" and s.get("last_error") and s,
        15,
        "the crashing server shows `restarting` with an error",
    )
    # The server's own last words on stderr come with the error, not only in its log.
    assert "crashing on purpose" in crashed["last_error"], crashed
    assert all(states(hub)[n]["state"] == "running" for n in healthy)


def text_of(result: types.CallToolResult) -> str:
    first = result.content[0]
    assert isinstance(first, types.TextContent), result
    return first.text
