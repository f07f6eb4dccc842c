"""MCP Apps behind the hub: two real app servers from npm that serve their apps at the same
`ui://` URI, each tool's app read through the hub from its own server, byte for byte, by a
2025-11-25 session client and by a stateless 2026-07-28 one (the Python SDK both times)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest
from mcp import types
from patchbay_harness import Hub, Sandbox, app_server_cmd, app_server_dir, mcp_session, wait_server_running

pytestmark = pytest.mark.anyio

MIME_TYPE = "text/html;profile=mcp-app"
SHARED_URI = "ui://get-time/mcp-app.html"


@pytest.fixture
def two_apps(sandbox: Sandbox, start_hub: Callable[..., Hub]) -> Hub:
    for flavour in ("vanilla", "preact"):
        sandbox.add_server(flavour, app_server_cmd(flavour))
    hub = start_hub()
    wait_server_running(sandbox, "vanilla", "preact")
    return hub


@pytest.mark.parametrize("mode", ["initialize", "discover"])
async def test_each_tools_app_is_its_own_servers_html_byte_for_byte(two_apps: Hub, mode: str) -> None:
    async with mcp_session(two_apps.url, two_apps.secret, mode=mode) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        listed = {str(r.uri): r for r in (await session.list_resources()).resources}
        seen: dict[str, str] = {}
        for flavour in ("vanilla", "preact"):
            tool = tools[f"{flavour}__get-time"]
            uri = (tool.meta or {})["ui"]["resourceUri"]
            assert uri == f"ui://{flavour}/get-time/mcp-app.html", f"{flavour}'s tool names its own app: {tool.meta}"
            assert listed[uri].mime_type == MIME_TYPE, f"the app is listed with its content type: {listed[uri]}"
            read = await session.read_resource(uri)
            (contents,) = read.contents
            assert isinstance(contents, types.TextResourceContents), contents
            assert str(contents.uri) == uri and contents.mime_type == MIME_TYPE, contents
            seen[flavour] = contents.text
            called = await session.call_tool(f"{flavour}__get-time", {})
            (text,) = [c.text for c in called.content if isinstance(c, types.TextContent)]
            assert not called.is_error and datetime.fromisoformat(text), called
    assert SHARED_URI not in listed, f"no server's app is listed under the URI both use: {sorted(listed)}"
    for flavour, html in seen.items():
        on_disk = (app_server_dir(flavour) / "dist/mcp-app.html").read_text(encoding="utf-8")
        assert html == on_disk, f"{flavour}'s tool opens {flavour}'s own HTML, byte for byte"
    assert seen["vanilla"] != seen["preact"], "the two apps differ, so the test can tell them apart"
