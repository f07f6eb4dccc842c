"""The hub as an MCP server, seen through the official Python SDK over Streamable HTTP, with two
real upstreams behind it: server-everything (npm) and mcp-server-time (PyPI).

Every protocol test runs twice: `initialize` (the 2025-11-25 handshake, with a session) and
`discover` (the stateless 2026-07-28 revision), since the hub speaks both to its clients.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import types
from mcp.shared.exceptions import MCPError
from patchbay_harness import (
    Hub,
    Sandbox,
    arun_cli,
    await_until,
    everything_cmd,
    mcp_session,
    mcp_stdio_session,
    time_cmd,
    wait_server_running,
)

pytestmark = pytest.mark.anyio

MODES = pytest.mark.parametrize("mode", ["initialize", "discover"])
EVERYTHING_TOOLS = {"echo", "get-sum", "get-tiny-image", "get-annotated-message", "get-structured-content",
                    "trigger-long-running-operation"}  # fmt: skip
DOC_URI = "demo://resource/static/document/features.md"


@pytest.fixture
def two_servers(sandbox: Sandbox, start_hub: Callable[..., Hub]) -> Hub:
    """A hub serving server-everything as `everything` and mcp-server-time as `time`, both up."""
    sandbox.add_server("everything", everything_cmd())
    sandbox.add_server("time", time_cmd())
    hub = start_hub()
    wait_server_running(sandbox, "everything", "time")
    return hub


def text_of(result: types.CallToolResult) -> str:
    return "".join(c.text for c in result.content if isinstance(c, types.TextContent))


# --- tools ---------------------------------------------------------------------------------------


@MODES
async def test_tools_of_both_servers_are_listed_namespaced(two_servers: Hub, mode: str) -> None:
    async with mcp_session(two_servers.url, two_servers.secret, mode=mode) as session:
        names = {tool.name for tool in (await session.list_tools()).tools}
    assert {f"everything__{t}" for t in EVERYTHING_TOOLS} <= names, f"server-everything's tools, prefixed: {sorted(names)}"
    assert {"time__get_current_time", "time__convert_time"} <= names, f"mcp-server-time's tools, prefixed: {sorted(names)}"
    assert all(re.fullmatch(r"(everything|time)__[A-Za-z0-9_.-]+", n) and len(n) <= 128 for n in names), (
        f"every exposed name is `<server>__<tool>` within the MCP name rule: {sorted(names)}"
    )


@MODES
async def test_echo_and_time_calls_route_to_their_servers(two_servers: Hub, mode: str) -> None:
    async with mcp_session(two_servers.url, two_servers.secret, mode=mode) as session:
        echoed = await session.call_tool("everything__echo", {"message": "hello through the hub"})
        before = datetime.now(UTC)
        told = await session.call_tool("time__get_current_time", {"timezone": "UTC"})
    assert not echoed.is_error and text_of(echoed) == "Echo: hello through the hub", echoed
    assert not told.is_error, told
    assert told.structured_content is not None and told.structured_content["timezone"] == "UTC", told
    now = datetime.fromisoformat(told.structured_content["datetime"])
    assert abs(now - before) < timedelta(minutes=1), f"time's answer {now} is not now ({before})"


async def test_tool_call_right_after_hub_start_reaches_the_starting_server(
    sandbox: Sandbox, start_hub: Callable[..., Hub]
) -> None:
    """A client may call a tool it knows (from its own cache, or the bridge replaying after a hub
    restart) the moment the hub answers. A server that is still starting is not an unknown tool:
    the call waits for it (bounded) and succeeds."""
    sandbox.add_server("everything", everything_cmd())
    hub = start_hub()  # returns as soon as hub.json is written: the child is still starting
    async with mcp_session(hub.url, hub.secret) as session:
        with anyio.fail_after(20):
            echoed = await session.call_tool("everything__echo", {"message": "early"})
    assert text_of(echoed) == "Echo: early", echoed


@MODES
async def test_unknown_tool_is_a_clear_error(two_servers: Hub, mode: str) -> None:
    async with mcp_session(two_servers.url, two_servers.secret, mode=mode) as session:
        with pytest.raises(MCPError) as caught:
            await session.call_tool("nosuch__tool", {})
        # The hub stays usable after the error.
        names = {t.name for t in (await session.list_tools()).tools}
    assert "nosuch__tool" in str(caught.value), f"the error names the unknown tool: {caught.value}"
    assert "everything__echo" in names


@MODES
async def test_structured_content_passes_through(two_servers: Hub, mode: str) -> None:
    async with mcp_session(two_servers.url, two_servers.secret, mode=mode) as session:
        weather = await session.call_tool("everything__get-structured-content", {"location": "New York"})
        told = await session.call_tool("time__get_current_time", {"timezone": "Europe/Paris"})
    for result in (weather, told):
        assert not result.is_error, result
        assert isinstance(result.structured_content, dict), f"structuredContent was dropped by the hub: {result}"
        assert json.loads(text_of(result)) == result.structured_content, "the text mirrors the structured content"
    assert set(weather.structured_content) == {"temperature", "conditions", "humidity"}, weather.structured_content
    assert told.structured_content["timezone"] == "Europe/Paris", told.structured_content


@MODES
async def test_image_content_and_annotations_pass_through(two_servers: Hub, mode: str) -> None:
    args = {"messageType": "error", "includeImage": True}
    async with mcp_stdio_session(everything_cmd()) as direct:
        want_image = await direct.call_tool("get-tiny-image", {})
        want_annotated = await direct.call_tool("get-annotated-message", args)
    async with mcp_session(two_servers.url, two_servers.secret, mode=mode) as session:
        image = await session.call_tool("everything__get-tiny-image", {})
        annotated = await session.call_tool("everything__get-annotated-message", args)

    images = [c for c in image.content if isinstance(c, types.ImageContent)]
    assert len(images) == 1 and images[0].mime_type == "image/png", image.content
    assert base64.b64decode(images[0].data).startswith(b"\x89PNG\r\n\x1a\n"), "the image data is a PNG"
    assert image.content == want_image.content, "image content arrives exactly as server-everything sent it"

    assert annotated.content == want_annotated.content, "annotated content arrives exactly as sent"
    first = annotated.content[0]
    assert first.annotations is not None and first.annotations.priority == 1.0, f"annotations were dropped: {first}"
    assert set(first.annotations.audience or []) == {"user", "assistant"}, first.annotations
    assert any(isinstance(c, types.ImageContent) for c in annotated.content), "the annotated image is kept"


# --- prompts and resources -----------------------------------------------------------------------


@MODES
async def test_prompts_are_listed_namespaced_and_routed_back(two_servers: Hub, mode: str) -> None:
    async with mcp_session(two_servers.url, two_servers.secret, mode=mode) as session:
        prompts = {p.name: p for p in (await session.list_prompts()).prompts}
        assert {"everything__simple-prompt", "everything__args-prompt"} <= set(prompts), sorted(prompts)
        got = await session.get_prompt("everything__args-prompt", {"city": "Lisbon"})
    texts = [m.content.text for m in got.messages if isinstance(m.content, types.TextContent)]
    assert any("Lisbon" in t for t in texts), f"the prompt was rendered by server-everything with our argument: {texts}"


@MODES
async def test_resources_are_listed_and_read_back_from_their_server(two_servers: Hub, mode: str) -> None:
    async with mcp_stdio_session(everything_cmd()) as direct:
        want = await direct.read_resource(DOC_URI)
    async with mcp_session(two_servers.url, two_servers.secret, mode=mode) as session:
        uris = {str(r.uri) for r in (await session.list_resources()).resources}
        templates = {t.uri_template for t in (await session.list_resource_templates()).resource_templates}
        got = await session.read_resource(DOC_URI)
        dynamic = await session.read_resource("demo://resource/dynamic/text/7")
    assert DOC_URI in uris, f"server-everything's resources are listed with their own URIs: {sorted(uris)}"
    assert "demo://resource/dynamic/text/{resourceId}" in templates, templates
    assert got.contents == want.contents, "reading through the hub returns what server-everything returns"
    assert dynamic.contents and "Resource 7" in dynamic.contents[0].text, dynamic


# --- progress and cancellation -------------------------------------------------------------------


@MODES
async def test_progress_notifications_reach_the_client(two_servers: Hub, mode: str) -> None:
    progress: list[tuple[float, float | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total))

    async with mcp_session(two_servers.url, two_servers.secret, mode=mode) as session:
        with anyio.fail_after(20):
            result = await session.call_tool(
                "everything__trigger-long-running-operation", {"duration": 2, "steps": 4}, progress_callback=on_progress
            )
    assert not result.is_error, result
    assert progress == [(1, 4), (2, 4), (3, 4), (4, 4)], (
        f"server-everything sends one progress per step; the hub must map the token back to this client: {progress}"
    )


def upstream_messages(log: Path) -> list[dict[str, Any]]:
    """The JSON-RPC messages the hub wrote to a child's stdin (captured by `tee`)."""
    messages = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            messages.append(json.loads(line))
        except ValueError:
            pass
    return messages


@MODES
async def test_client_cancellation_cancels_the_upstream_call(
    sandbox: Sandbox, start_hub: Callable[..., Hub], mode: str
) -> None:
    # server-everything behind `tee`, so the test sees exactly what the hub sends upstream.
    stdin_log = sandbox.root / "everything.stdin.jsonl"
    wrapped = f"tee -a {shlex.quote(str(stdin_log))} | exec {shlex.join(everything_cmd())}"
    sandbox.add_server("everything", ["sh", "-c", wrapped])
    hub = start_hub()
    wait_server_running(sandbox, "everything")

    async with mcp_session(hub.url, hub.secret, mode=mode) as session:
        started = time.monotonic()
        with anyio.move_on_after(1.5) as scope:
            await session.call_tool("everything__trigger-long-running-operation", {"duration": 30, "steps": 30})
        assert scope.cancelled_caught, "the 30 s operation cannot have finished in 1.5 s"

        def upstream_call_and_cancel() -> tuple[Any, bool] | None:
            msgs = upstream_messages(stdin_log)
            calls = [
                m for m in msgs
                if m.get("method") == "tools/call" and m["params"]["name"] == "trigger-long-running-operation"
            ]  # fmt: skip
            if not calls:
                return None
            cancelled = any(
                m.get("method") == "notifications/cancelled" and m["params"].get("requestId") == calls[0]["id"]
                for m in msgs
            )
            return (calls[0]["id"], True) if cancelled else None

        await await_until(
            upstream_call_and_cancel,
            5,
            "the hub must send notifications/cancelled for the upstream request when its client gives up",
        )

        with anyio.fail_after(5):
            after = await session.call_tool("everything__echo", {"message": "still here"})
        assert text_of(after) == "Echo: still here", after
        assert time.monotonic() - started < 15, "the hub answered promptly after the cancellation"


# --- list_changed and live config ----------------------------------------------------------------


class Collector:
    """A `message_handler` that keeps every server notification."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    async def __call__(self, message: Any) -> None:
        self.seen.append(message)

    def count(self, kind: type) -> int:
        return sum(isinstance(m, kind) for m in self.seen)


async def test_patchbay_add_announces_tools_list_changed_and_new_tools_are_served(
    sandbox: Sandbox, start_hub: Callable[..., Hub]
) -> None:
    sandbox.add_server("everything", everything_cmd())
    hub = start_hub()
    wait_server_running(sandbox, "everything")
    inbox = Collector()
    async with mcp_session(hub.url, hub.secret, mode="initialize", message_handler=inbox) as session:
        names = {t.name for t in (await session.list_tools()).tools}
        assert "time__get_current_time" not in names
        already = inbox.count(types.ToolListChangedNotification)

        added = await arun_cli(sandbox, "add", "time", "--yes", "--", *time_cmd())
        assert added.returncode == 0, added.stderr

        await await_until(
            lambda: inbox.count(types.ToolListChangedNotification) > already,
            15,
            "a connected session must get notifications/tools/list_changed after `patchbay add`",
        )
        names = {t.name for t in (await session.list_tools()).tools}
        assert {"time__get_current_time", "time__convert_time"} <= names, f"the new server's tools: {sorted(names)}"
        told = await session.call_tool("time__get_current_time", {"timezone": "UTC"})
        assert not told.is_error and told.structured_content["timezone"] == "UTC", told


async def test_a_session_subscribed_to_a_resource_hears_its_updates(
    sandbox: Sandbox, start_hub: Callable[..., Hub]
) -> None:
    sandbox.add_server("everything", everything_cmd())
    hub = start_hub()
    wait_server_running(sandbox, "everything")
    inbox = Collector()
    async with mcp_session(hub.url, hub.secret, mode="initialize", message_handler=inbox) as session:
        resources = (await session.list_resources()).resources
        assert session.server_capabilities.resources.subscribe, "the hub takes resources/subscribe"
        uri = str(resources[0].uri)
        await session.subscribe_resource(uri)
        # server-everything sends updates of subscribed resources once this tool turns them on.
        await session.call_tool("everything__toggle-subscriber-updates", {})
        updated = lambda: [  # noqa: E731
            m for m in inbox.seen if isinstance(m, types.ResourceUpdatedNotification) and str(m.params.uri) == uri
        ]
        await await_until(updated, 20, f"notifications/resources/updated for {uri}")
        await session.unsubscribe_resource(uri)


async def test_broken_config_keeps_old_tools_and_reload_reports_file_line_col(
    sandbox: Sandbox, start_hub: Callable[..., Hub]
) -> None:
    sandbox.add_server("everything", everything_cmd())
    hub = start_hub()
    wait_server_running(sandbox, "everything")
    good = sandbox.config_file.read_text()
    broken_line = len(good.splitlines()) + 2
    inbox = Collector()
    async with mcp_session(hub.url, hub.secret, mode="initialize", message_handler=inbox) as session:
        names_before = {t.name for t in (await session.list_tools()).tools}

        sandbox.config_file.write_text(good + '\n[servers.broken\ncommand = "node"\n')
        assert hub.stderr_log is not None
        pattern = re.compile(rf"config not applied: {re.escape(str(sandbox.config_file))}:(\d+):(\d+): \S")
        logged = await await_until(
            lambda: pattern.search(hub.stderr_log.read_text(errors="replace")),
            5,
            "the hub logs `config not applied: FILE:LINE:COL: message` for a hand edit that does not parse",
        )
        assert int(logged.group(1)) == broken_line, f"the logged line is the broken one ({broken_line}): {logged.group(0)}"

        reload = await arun_cli(sandbox, "reload")
        assert reload.returncode == 3, f"reload of a broken file is a config error (3): {reload.returncode}\n{reload.stderr}"
        assert f"{sandbox.config_file}:{broken_line}:" in reload.stderr, f"reload names file:line:col:\n{reload.stderr}"

        names_after = {t.name for t in (await session.list_tools()).tools}
        assert names_after == names_before, "the last good config keeps serving"
        echoed = await session.call_tool("everything__echo", {"message": "still serving"})
        assert text_of(echoed) == "Echo: still serving"

        # Fixing the file by hand (adding a server) applies live and announces the change.
        already = inbox.count(types.ToolListChangedNotification)
        sandbox.config_file.write_text(good + f"\n[servers.time]\ncommand = {json.dumps(time_cmd()[0])}\n")
        await await_until(
            lambda: inbox.count(types.ToolListChangedNotification) > already,
            15,
            "a hand edit that fixes the file applies without `reload` and announces tools/list_changed",
        )
        names_fixed = {t.name for t in (await session.list_tools()).tools}
        assert {"time__get_current_time", *names_before} <= names_fixed, sorted(names_fixed)
        fixed = await arun_cli(sandbox, "reload")
        assert fixed.returncode == 0, f"reload of the fixed file succeeds:\n{fixed.stderr}"
