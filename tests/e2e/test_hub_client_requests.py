"""Requests a server sends to the client in the middle of a call (sampling, elicitation) and
roots, through the hub: each must reach the client session that made the call, and only it.

A session client (the 2025-11-25 handshake) is asked directly. A stateless 2026-07-28 client
gets the server's question in an `input_required` result and answers it in its retry; the SDK's
`Client` does that through the same callbacks, over HTTP and through `patchbay bridge`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest
from mcp import types
from patchbay_harness import (
    Hub,
    Sandbox,
    everything_cmd,
    mcp_client,
    mcp_session,
    patchbay_bin,
    wait_server_running,
)

pytestmark = pytest.mark.anyio


def text_of(result: types.CallToolResult) -> str:
    return "".join(c.text for c in result.content if isinstance(c, types.TextContent))


def sampler(log: list[str], answer: str) -> Callable[..., Any]:
    async def sample(_context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        log.append("".join(m.content.text for m in params.messages if isinstance(m.content, types.TextContent)))
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text=answer), model="test-model"
        )

    return sample


async def test_sampling_request_reaches_the_calling_client_and_its_answer_the_server(everything: Hub) -> None:
    asked: list[str] = []
    async with mcp_session(everything.url, everything.secret, sampling_callback=sampler(asked, "sampled!")) as session:
        result = await session.call_tool("everything__trigger-sampling-request", {"prompt": "ping", "maxTokens": 5})
    assert not result.is_error, result
    assert asked and "ping" in asked[0], f"the client's sampling callback saw the server's prompt: {asked}"
    assert "sampled!" in text_of(result), f"the server received the client's sampling answer: {text_of(result)}"


async def test_sampling_goes_to_the_caller_not_to_another_connected_client(everything: Hub) -> None:
    caller_log: list[str] = []
    bystander_log: list[str] = []
    async with (
        mcp_session(everything.url, everything.secret, sampling_callback=sampler(bystander_log, "wrong")) as bystander,
        mcp_session(everything.url, everything.secret, sampling_callback=sampler(caller_log, "right")) as caller,
    ):
        await bystander.list_tools()
        result = await caller.call_tool("everything__trigger-sampling-request", {"prompt": "who", "maxTokens": 5})
    assert "right" in text_of(result), f"the answer came from the calling client: {text_of(result)}"
    assert caller_log and not bystander_log, f"only the caller was asked: caller={caller_log} other={bystander_log}"


async def test_elicitation_request_reaches_the_calling_client(everything: Hub) -> None:
    seen: list[str] = []

    async def elicit(_context: Any, params: Any) -> types.ElicitResult:
        seen.append(params.message)
        return types.ElicitResult(action="decline")

    async with mcp_session(everything.url, everything.secret, elicitation_callback=elicit) as session:
        result = await session.call_tool("everything__trigger-elicitation-request", {})
    assert seen, "the client's elicitation callback was asked"
    assert "declined" in text_of(result), f"the server got the client's decline: {text_of(result)}"


async def test_servers_see_the_connected_clients_roots(everything: Hub) -> None:
    async def roots(_context: Any) -> types.ListRootsResult:
        return types.ListRootsResult(roots=[types.Root(uri="file:///work/project-a", name="project-a")])

    async with mcp_session(everything.url, everything.secret, list_roots_callback=roots) as session:
        # server-everything asked for roots at its own start, before this client existed; the
        # hub tells it the roots changed when a client with roots connects.
        listed = ""
        with anyio.move_on_after(10):
            while "file:///work/project-a" not in listed:
                listed = text_of(await session.call_tool("everything__get-roots-list", {}))
                await anyio.sleep(0.2)
    assert "file:///work/project-a" in listed, f"server-everything lists the client's root: {listed}"


async def test_server_log_messages_reach_connected_clients_marked_with_the_server(everything: Hub) -> None:
    got: list[types.LoggingMessageNotificationParams] = []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        got.append(params)

    async with mcp_session(everything.url, everything.secret, logging_callback=on_log) as session:
        await session.call_tool("everything__toggle-simulated-logging", {})
        try:
            with anyio.move_on_after(15):  # server-everything logs every few seconds
                while not any((p.logger or "").startswith("everything") for p in got):
                    await anyio.sleep(0.2)
        finally:
            await session.call_tool("everything__toggle-simulated-logging", {})
    loggers = {p.logger for p in got}
    assert any((name or "").startswith("everything") for name in loggers), (
        f"a log message from server-everything arrived, its logger prefixed with the server name: {loggers}"
    )


async def test_progress_of_concurrent_calls_on_two_servers_reaches_each_caller_only(
    sandbox: Sandbox, start_hub: Callable[..., Hub]
) -> None:
    # Two identical servers see the same request sequence from the hub, so the hub's own
    # progress tokens on them coincide: routing must tell the servers apart.
    sandbox.add_server("one", everything_cmd())
    sandbox.add_server("two", everything_cmd())
    hub = start_hub()
    wait_server_running(sandbox, "one", "two")
    seen: dict[str, list[float]] = {"one": [], "two": []}

    async def call(server: str) -> None:
        async def progressed(progress: float, _total: float | None, _message: str | None) -> None:
            seen[server].append(progress)

        async with mcp_session(hub.url, hub.secret) as session:
            result = await session.call_tool(
                f"{server}__trigger-long-running-operation",
                {"duration": 1, "steps": 4},
                progress_callback=progressed,
            )
            assert not result.is_error, result

    async with anyio.create_task_group() as tg:
        tg.start_soon(call, "one")
        tg.start_soon(call, "two")
    assert seen == {"one": [1, 2, 3, 4], "two": [1, 2, 3, 4]}, f"each caller got its own four steps: {seen}"


@pytest.mark.parametrize("way", ["http", "bridge"])
async def test_a_stateless_client_answers_elicitation_and_sampling_through_input_required(
    everything: Hub, sandbox: Sandbox, way: str
) -> None:
    asked: list[str] = []
    elicited: list[str] = []

    async def elicit(_context: Any, params: Any) -> types.ElicitResult:
        elicited.append(params.message)
        return types.ElicitResult(action="decline")

    target = (
        {"url": None, "secret": None, "stdio": [patchbay_bin(), "bridge"], "env": sandbox.env}
        if way == "bridge"
        else {"url": everything.url, "secret": everything.secret}
    )
    async with mcp_client(**target, sampling_callback=sampler(asked, "sampled!"), elicitation_callback=elicit) as client:
        assert client.session.protocol_version == "2026-07-28", f"the client speaks {client.session.protocol_version}"
        sampled = await client.call_tool("everything__trigger-sampling-request", {"prompt": "ping", "maxTokens": 5})
        declined = await client.call_tool("everything__trigger-elicitation-request", {})
    assert asked and "ping" in asked[0], f"the sampling callback saw the server's prompt: {asked}"
    assert "sampled!" in text_of(sampled), f"the server got the client's sampling answer: {text_of(sampled)}"
    assert elicited, "the client's elicitation callback was asked"
    assert "declined" in text_of(declined), f"the server got the client's decline: {text_of(declined)}"
