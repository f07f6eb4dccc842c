"""The real peers installed by scripts/deps.sh answer the real Python SDK client directly.

Needs no patchbay binary: it proves the test dependencies work before any hub test runs.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from patchbay_harness import everything_cmd, mcp_stdio_session, time_cmd

pytestmark = pytest.mark.anyio


async def test_server_everything_lists_and_echoes() -> None:
    async with mcp_stdio_session(everything_cmd()) as session:
        assert session.server_info is not None and session.server_info.name == "mcp-servers/everything"
        names = {tool.name for tool in (await session.list_tools()).tools}
        assert {"echo", "get-sum", "trigger-long-running-operation"} <= names, f"tools seen: {sorted(names)}"

        result = await session.call_tool("echo", {"message": "hello from patchbay"})
        assert not result.is_error
        assert [(c.type, c.text) for c in result.content] == [("text", "Echo: hello from patchbay")]


async def test_server_everything_reports_progress() -> None:
    progress: list[tuple[float, float | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total))

    async with mcp_stdio_session(everything_cmd()) as session:
        result = await session.call_tool(
            "trigger-long-running-operation", {"duration": 0.4, "steps": 2}, progress_callback=on_progress
        )
    assert not result.is_error, result
    assert progress == [(1, 2), (2, 2)], "one progress notification per step, each with the total"


async def test_mcp_server_time_tells_utc_time() -> None:
    async with mcp_stdio_session(time_cmd()) as session:
        names = {tool.name for tool in (await session.list_tools()).tools}
        assert names == {"get_current_time", "convert_time"}

        before = datetime.now(UTC)
        result = await session.call_tool("get_current_time", {"timezone": "UTC"})
    assert not result.is_error, result
    data = result.structured_content
    assert data is not None and data["timezone"] == "UTC"
    assert json.loads(result.content[0].text) == data, "text content mirrors the structured content"
    told = datetime.fromisoformat(data["datetime"])
    assert abs(told - before) < timedelta(minutes=1), f"{told} is not now ({before})"
