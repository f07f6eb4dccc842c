"""Lazy servers (`start = "lazy"`): started by the first call that needs one, stopped after
`idle_timeout` without calls, their lists served from the on-disk cache meanwhile, and lists that
changed while stopped reconciled (with `list_changed`) on the next start.

The server is the Python reference server `mcp-server-time`, with a 2 s idle time-out.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from typing import Any

import mcp.types as types
import pytest
from patchbay_harness import (
    Hub,
    Sandbox,
    await_until,
    mcp_session,
    pid_alive,
    server_status,
    time_cmd,
    wait_server_running,
    wait_until,
)

pytestmark = pytest.mark.anyio

IDLE = "2s"
IDLE_WAIT = 20.0  # the time-out, the idle check's tick, and a slow machine


def write_lazy(sandbox: Sandbox, name: str = "time") -> None:
    [program, *args] = time_cmd()
    sandbox.config_file.write_text(
        f'[servers.{name}]\ncommand = {json.dumps(program)}\nargs = {json.dumps(args)}\n'
        f'start = "lazy"\nidle_timeout = "{IDLE}"\n'
    )


def state_of(sandbox: Sandbox, name: str = "time") -> dict[str, Any]:
    return server_status(sandbox, name) or {}


def wait_idle(sandbox: Sandbox, name: str = "time") -> dict[str, Any]:
    return wait_until(
        lambda: (s := state_of(sandbox, name)).get("state") == "idle" and s,
        IDLE_WAIT,
        f"`{name}` goes idle after {IDLE} without calls",
    )


def cache_file(sandbox: Sandbox, name: str = "time") -> Any:
    return sandbox.home / "cache" / "lists" / f"{name}.json"


def cache_lists_then_stop(sandbox: Sandbox, start_hub: Callable[..., Hub]) -> None:
    """A first hub runs the lazy server once, which caches its lists; then that hub stops."""
    write_lazy(sandbox)
    first_hub = start_hub()
    wait_server_running(sandbox, "time")
    wait_until(cache_file(sandbox).exists, 10, "the lists are cached on disk")
    assert first_hub.stop() == 0


async def tool_names(hub: Hub) -> set[str]:
    async with mcp_session(hub.url, hub.secret) as session:
        return {t.name for t in (await session.list_tools()).tools}


async def test_idle_server_stops_and_the_next_call_starts_it(
    sandbox: Sandbox, start_hub: Callable[..., Hub]
) -> None:
    write_lazy(sandbox)
    hub = start_hub()
    # No cache yet: the hub starts it once to learn its lists.
    first = wait_server_running(sandbox, "time")["time"]
    old_pid = first["pid"]
    assert old_pid and pid_alive(old_pid)

    idle = wait_idle(sandbox)
    assert idle["pid"] is None and idle["tools"] == first["tools"], idle
    wait_until(lambda: not pid_alive(old_pid), 5, "the idle server's process is gone (0 idle children)")
    assert "time__get_current_time" in await tool_names(hub), "its tools are still listed"
    assert state_of(sandbox)["state"] == "idle", "listing does not start it"

    async with mcp_session(hub.url, hub.secret) as session:
        told = await session.call_tool("time__get_current_time", {"timezone": "UTC"})
    assert not told.is_error and told.structured_content["timezone"] == "UTC", told
    again = state_of(sandbox)
    assert again["state"] == "running" and again["pid"] not in (None, old_pid), again


async def test_cached_lists_are_served_without_starting_it_and_a_call_reports_progress(
    sandbox: Sandbox, start_hub: Callable[..., Hub]
) -> None:
    cache_lists_then_stop(sandbox, start_hub)

    hub = start_hub()
    status = wait_until(
        lambda: (s := state_of(sandbox)).get("state") in ("idle", "running", "starting") and s,
        10,
        "the hub reports the lazy server",
    )
    assert status["state"] == "idle" and status["pid"] is None, f"not started at hub start: {status}"
    names = await tool_names(hub)
    assert {"time__get_current_time", "time__convert_time"} <= names, names
    assert state_of(sandbox)["state"] == "idle", "answered from the cache"
    assert "lists from the cache" in sandbox.log_file("time").read_text()

    heard: list[tuple[float, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        heard.append((progress, message))

    async with mcp_session(hub.url, hub.secret) as session:
        told = await session.call_tool(
            "time__get_current_time", {"timezone": "Europe/Paris"}, progress_callback=on_progress
        )
    assert not told.is_error and told.structured_content["timezone"] == "Europe/Paris", told
    assert any("starting server `time`" in (m or "") for _, m in heard), f"progress while it starts: {heard}"
    assert state_of(sandbox)["state"] == "running"


async def test_lists_changed_while_stopped_are_reconciled_on_the_next_start(
    sandbox: Sandbox, start_hub: Callable[..., Hub]
) -> None:
    cache_lists_then_stop(sandbox, start_hub)
    # As if the server had lost a tool since: the cache says one thing, the server another.
    entry = json.loads(cache_file(sandbox).read_text())
    entry["catalog"]["tools"] = [t for t in entry["catalog"]["tools"] if t["name"] != "convert_time"]
    cache_file(sandbox).write_text(json.dumps(entry))

    hub = start_hub()
    seen: list[Any] = []

    async def inbox(message: Any) -> None:
        seen.append(message)

    async with mcp_session(hub.url, hub.secret, message_handler=inbox) as session:
        before = {t.name for t in (await session.list_tools()).tools}
        assert "time__convert_time" not in before and "time__get_current_time" in before, before
        told = await session.call_tool("time__get_current_time", {"timezone": "UTC"})
        assert not told.is_error, told
        await await_until(
            lambda: any(isinstance(m, types.ToolListChangedNotification) for m in seen),
            15,
            "tools/list_changed once the started server's lists differ from the cache",
        )
        after = {t.name for t in (await session.list_tools()).tools}
    assert "time__convert_time" in after, after
    fresh = json.loads(cache_file(sandbox).read_text())
    assert "convert_time" in {t["name"] for t in fresh["catalog"]["tools"]}, "the cache is brought up to date"


async def test_new_servers_are_lazy_by_default_and_the_default_is_configurable(sandbox: Sandbox) -> None:
    sandbox.add_server("first", time_cmd())
    assert tomllib.loads(sandbox.config_file.read_text())["servers"]["first"]["start"] == "lazy"
    text = sandbox.config_file.read_text()
    sandbox.config_file.write_text('[hub]\ndefault_start = "eager"\n\n' + text)
    sandbox.add_server("second", time_cmd())
    saved = tomllib.loads(sandbox.config_file.read_text())["servers"]
    assert saved["second"].get("start", "eager") == "eager", saved["second"]
    assert saved["first"]["start"] == "lazy"
