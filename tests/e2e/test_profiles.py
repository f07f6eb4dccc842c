"""Profiles: a named subset of servers and tools, served at `/p/<profile>/mcp`, by
`patchbay bridge --profile`, and installed into a client with `install CLIENT --profile`.
Tools outside the profile are neither listed nor callable (a clear error says why)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import httpx2
import pytest
from mcp.shared.exceptions import MCPError
from patchbay_harness import (
    Hub,
    Sandbox,
    everything_cmd,
    mcp_session,
    mcp_stdio_session,
    patchbay_bin,
    time_cmd,
    wait_server_running,
)

pytestmark = pytest.mark.anyio

WORK_TOOLS = "everything__*,!everything__get-tiny-image"


def profile_url(hub: Hub, name: str) -> str:
    return hub.url.removesuffix("/mcp") + f"/p/{name}/mcp"


@pytest.fixture
def two_servers(sandbox: Sandbox, start_hub: Callable[..., Hub]) -> Hub:
    sandbox.add_server("everything", everything_cmd())
    sandbox.add_server("time", time_cmd())
    made = sandbox.run_cli("profile", "create", "work", "--servers", "everything", "--tools", WORK_TOOLS)
    assert made.returncode == 0, made.stderr
    hub = start_hub()
    wait_server_running(sandbox, "everything", "time")
    return hub


async def test_a_profile_endpoint_lists_and_calls_only_its_tools(two_servers: Hub) -> None:
    hub = two_servers
    async with mcp_session(hub.url, hub.secret) as session:
        everything = {t.name for t in (await session.list_tools()).tools}
    assert {"time__get_current_time", "everything__get-tiny-image", "everything__echo"} <= everything

    async with mcp_session(profile_url(hub, "work"), hub.secret) as session:
        names = {t.name for t in (await session.list_tools()).tools}
        assert names == {n for n in everything if n.startswith("everything__")} - {"everything__get-tiny-image"}, names
        echoed = await session.call_tool("everything__echo", {"message": "in profile"})
        assert not echoed.is_error and echoed.content[0].text == "Echo: in profile", echoed
        for outside in ("time__get_current_time", "everything__get-tiny-image"):
            with pytest.raises(MCPError, match=rf"`{outside}` is not in profile `work`"):
                await session.call_tool(outside, {"timezone": "UTC"})


async def test_an_unknown_profile_is_404(two_servers: Hub) -> None:
    hub = two_servers
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {hub.secret}"}) as http:
        answer = await http.post(
            profile_url(hub, "nope"),
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
            headers={"accept": "application/json, text/event-stream"},
        )
    assert answer.status_code == 404 and "no profile named `nope`" in answer.text, answer.text
    async with httpx2.AsyncClient() as http:
        refused = await http.post(profile_url(hub, "work"), json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert refused.status_code == 401, "the profile endpoint needs the bearer too"


async def test_bridge_with_a_profile_serves_that_profile(sandbox: Sandbox, two_servers: Hub) -> None:
    async with mcp_stdio_session([patchbay_bin(), "bridge", "--profile", "work"], sandbox.env) as session:
        names = {t.name for t in (await session.list_tools()).tools}
    assert "everything__echo" in names and not any(n.startswith("time__") for n in names), names
    unknown = sandbox.run_cli("bridge", "--profile", "nope", input="")
    assert unknown.returncode == 4 and "no profile named `nope`" in unknown.stderr, unknown.stderr


async def test_install_with_a_profile_writes_it_and_refuses_an_unknown_one(
    sandbox: Sandbox, two_servers: Hub
) -> None:
    cursor = sandbox.user_home / ".cursor" / "mcp.json"
    cursor.parent.mkdir(parents=True)
    cursor.write_text('{"mcpServers": {}}\n')
    refused = sandbox.run_cli("install", "cursor", "--profile", "nope")
    assert refused.returncode == 4 and "no profile named `nope`" in refused.stderr, refused.stderr
    assert cursor.read_text() == '{"mcpServers": {}}\n', "nothing written for an unknown profile"

    done = sandbox.run_cli("install", "cursor", "--profile", "work")
    assert done.returncode == 0, done.stderr
    entry = json.loads(cursor.read_text())["mcpServers"]["patchbay"]
    assert entry["args"] == ["bridge", "--profile", "work"], entry
    rows = {r["id"]: r for r in json.loads(sandbox.run_cli("clients", "--json").stdout)}
    assert rows["cursor"]["entry"] == "intact" and rows["cursor"]["profile"] == "work", rows["cursor"]

    shown = json.loads(sandbox.run_cli("profile", "show", "work", "--json").stdout)
    assert "everything__echo" in shown["served_tools"] and "time__get_current_time" not in shown["served_tools"]
    assert shown["servers"] == ["everything"] and shown["tools"] == WORK_TOOLS.split(","), shown


async def test_the_hub_counts_what_each_client_entry_is_served(sandbox: Sandbox, two_servers: Hub) -> None:
    """`GET /api/v1/clients` says how many tools each client's entry gets (its profile's, or the
    whole hub's) and what the user does for the client to pick up a change: the window's
    tool-limit warning and restart note read these."""
    hub = two_servers
    cursor = sandbox.user_home / ".cursor" / "mcp.json"
    cursor.parent.mkdir(parents=True)
    cursor.write_text('{"mcpServers": {}}\n')
    assert sandbox.run_cli("install", "cursor", "--profile", "work").returncode == 0
    async with mcp_session(hub.url, hub.secret) as session:
        every = len((await session.list_tools()).tools)
    async with mcp_session(profile_url(hub, "work"), hub.secret) as session:
        in_work = len((await session.list_tools()).tools)
    assert 0 < in_work < every, (in_work, every)
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {hub.secret}"}) as http:
        answer = await http.get(hub.url.removesuffix("/mcp") + "/api/v1/clients")
    assert answer.status_code == 200, answer.text
    rows = {r["id"]: r for r in answer.json()}
    assert rows["cursor"]["profile"] == "work" and rows["cursor"]["served_tools"] == in_work, rows["cursor"]
    without = [r for r in rows.values() if r["profile"] is None]
    assert without and all(r["served_tools"] == every for r in without), without
    assert all(isinstance(r["reload"], str) and r["reload"] for r in rows.values()), rows


async def test_the_hub_lists_profiles_and_switches_a_clients_profile(sandbox: Sandbox, two_servers: Hub) -> None:
    """`GET /api/v1/profiles` (the window's profile list and picker) says what each profile
    serves; installing again with another profile, as the window's Apply does, rewrites the
    client's entry to serve that one."""
    hub = two_servers
    api = hub.url.removesuffix("/mcp") + "/api/v1"
    made = sandbox.run_cli("profile", "create", "clock", "--servers", "time,notes")
    assert made.returncode == 0, made.stderr
    async with mcp_session(profile_url(hub, "work"), hub.secret) as session:
        in_work = len((await session.list_tools()).tools)
    async with mcp_session(profile_url(hub, "clock"), hub.secret) as session:
        in_clock = len((await session.list_tools()).tools)
    assert in_work > 0 and in_clock > 0, (in_work, in_clock)
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {hub.secret}"}) as http:
        listed = await http.get(f"{api}/profiles")
        assert listed.status_code == 200, listed.text
        rows = {r["name"]: r for r in listed.json()}
        assert list(rows) == ["clock", "work"], rows
        assert rows["work"] == {
            "name": "work",
            "servers": ["everything"],
            "tools": WORK_TOOLS.split(","),
            "unknown_servers": [],
            "served_tools": in_work,
            "path": "/p/work/mcp",
            "problem": None,
        }, rows["work"]
        assert rows["clock"]["unknown_servers"] == ["notes"] and rows["clock"]["served_tools"] == in_clock, rows

        cursor = sandbox.user_home / ".cursor" / "mcp.json"
        cursor.parent.mkdir(parents=True)
        cursor.write_text('{"mcpServers": {"mine": {"command": "x"}}}\n')
        for profile, args in (("work", ["bridge", "--profile", "work"]), ("clock", ["bridge", "--profile", "clock"]), (None, ["bridge"])):
            done = await http.post(f"{api}/clients/cursor/install", json={"profile": profile})
            assert done.status_code == 200, done.text
            servers = json.loads(cursor.read_text())["mcpServers"]
            assert servers["patchbay"]["args"] == args and servers["mine"] == {"command": "x"}, servers
            clients = {r["id"]: r for r in (await http.get(f"{api}/clients")).json()}
            assert clients["cursor"]["profile"] == profile and clients["cursor"]["entry"] == "intact", clients["cursor"]
        refused = await http.post(f"{api}/clients/cursor/install", json={"profile": "nope"})
        assert refused.status_code == 404 and "no profile named `nope`" in refused.text, refused.text


async def test_tool_limit_warnings_name_a_profile_that_fits(sandbox: Sandbox, start_hub: Callable[..., Hub]) -> None:
    """Cursor takes at most 40 tools. A hub serving 50 is warned about by `install`,
    `clients` and `profile show`, each naming the profile that fits; installed with that
    profile, Cursor is not warned about any more."""
    sized = Path(__file__).parent / "servers" / "sized_server.py"
    sandbox.add_server("big", [sys.executable, str(sized), "--tools", "50"])
    for name, tools in (("small", "big__tool_0*"), ("most", "big__tool_0*,big__tool_1*,big__tool_2*"), ("all", None)):
        args = ["profile", "create", name, "--servers", "big"] + (["--tools", tools] if tools else [])
        assert sandbox.run_cli(*args).returncode == 0
    hub = start_hub()
    wait_server_running(sandbox, "big")
    cursor = sandbox.user_home / ".cursor" / "mcp.json"
    cursor.parent.mkdir(parents=True)
    cursor.write_text('{"mcpServers": {}}\n')
    advice = "serve it profile `most` (30 tools): `patchbay install cursor --profile most`"

    async def cursor_row() -> dict:
        """Cursor's row of `GET /api/v1/clients`: the window's warning names its `fitting_profile`."""
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {hub.secret}"}) as http:
            answer = await http.get(hub.url.removesuffix("/mcp") + "/api/v1/clients")
        assert answer.status_code == 200, answer.text
        return next(r for r in answer.json() if r["id"] == "cursor")

    installed = sandbox.run_cli("install", "cursor")
    assert installed.returncode == 0, installed.stderr
    assert "warning: the hub serves 50 tools and Cursor uses at most 40" in installed.stderr, installed.stderr
    assert advice in installed.stderr, installed.stderr
    listed = sandbox.run_cli("clients")
    assert "the hub serves 50 tools and Cursor uses at most 40" in listed.stderr and advice in listed.stderr, listed.stderr
    shown = sandbox.run_cli("profile", "show", "all")
    assert "Cursor shows at most 40 tools; this is 50" in shown.stderr, shown.stderr
    assert "Cursor" not in sandbox.run_cli("profile", "show", "most").stderr
    row = await cursor_row()
    assert row["served_tools"] == 50 and row["fitting_profile"] == {"name": "most", "served_tools": 30}, row

    switched = sandbox.run_cli("install", "cursor", "--profile", "most")
    assert switched.returncode == 0 and "uses at most" not in switched.stderr, switched.stderr
    assert "Cursor" not in sandbox.run_cli("clients").stderr, "within its limit now"
    row = await cursor_row()
    assert row["profile"] == "most" and row["fitting_profile"] is None, row
    with_all = sandbox.run_cli("install", "cursor", "--profile", "all")
    assert "profile `all` serves 50 tools and Cursor uses at most 40" in with_all.stderr, with_all.stderr
    assert advice in with_all.stderr, with_all.stderr
    row = await cursor_row()
    assert row["fitting_profile"] == {"name": "most", "served_tools": 30}, "never the profile it has"
