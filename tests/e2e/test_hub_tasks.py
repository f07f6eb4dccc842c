"""Tasks of the 2025-11-25 revision through the hub, from session clients: server-everything's
`simulate-research-query` (`taskSupport: "required"`) run as a task by the TypeScript SDK's client
(`clients/tasks_client.mjs`: it makes the call a task because the hub kept the tool's
`execution`), its id naming the server, polled with `tasks/get`, its result fetched with
`tasks/result` (the server's elicitation during the task answered by the calling client), listed
by `tasks/list`, and read again from another client (the Python SDK); a lazy server is not
stopped for idleness while it holds a running task. And the same tool from a stateless
2026-07-28 client through the tasks extension (`io.modelcontextprotocol/tasks`, its wire
written out here: no client library speaks it yet): a task handle, `tasks/get` polled through
`input_required`, `tasks/update` with the answer, and the result. Both of those with
server-everything as a stdio server and as a remote one (Streamable HTTP on 127.0.0.1)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import mcp.types as types
import pytest
from patchbay_harness import (
    PEERS,
    Hub,
    Sandbox,
    everything_cmd,
    everything_http,
    http_messages,
    mcp_session,
    server_status,
    wait_server_running,
    wait_until,
)

pytestmark = pytest.mark.anyio

TOOL = "everything__simulate-research-query"
CLIENT = Path(__file__).parent / "clients" / "tasks_client.mjs"
RUN_LIMIT = 90  # four 1 s stages, polling, and a slow machine


@pytest.fixture(params=["stdio", "remote"])
def everything(request: pytest.FixtureRequest, sandbox: Sandbox) -> Iterator[None]:
    """server-everything in the sandbox's config as `everything`: a stdio server, or a remote one
    (Streamable HTTP on 127.0.0.1), whose answers reach the hub through rmcp's HTTP client."""
    if request.param == "stdio":
        sandbox.add_server("everything", everything_cmd())
        yield
        return
    with everything_http(sandbox.root) as url:
        sandbox.config_file.write_text(f"[servers.everything]\nurl = {json.dumps(url)}\n")
        yield


def task_client(hub: Hub, arguments: dict[str, Any], hold_ms: int | None = None) -> subprocess.Popen[str]:
    command = ["node", str(CLIENT), str(PEERS), hub.url, hub.secret, TOOL, json.dumps(arguments)]
    if hold_ms is not None:
        command.append(str(hold_ms))
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(client: subprocess.Popen[str]) -> dict[str, Any]:
    try:
        out, err = client.communicate(timeout=RUN_LIMIT)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    assert client.returncode == 0, f"the client failed ({client.returncode}): {err[-2000:]}"
    return json.loads(out.strip().splitlines()[-1])


def events(seen: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e for e in seen["events"] if e["type"] == kind]


def report(seen: dict[str, Any]) -> str:
    [result] = events(seen, "result")
    return "".join(block.get("text", "") for block in result["result"]["content"])


async def test_a_session_client_runs_a_task_through_the_hub_to_its_result(
    sandbox: Sandbox, start_hub: Callable[..., Hub], everything: None
) -> None:
    hub = start_hub()
    wait_server_running(sandbox, "everything")
    seen = finish(task_client(hub, {"topic": "tides"}))

    assert (seen["capabilities"] or {}).get("tasks", {}).get("requests", {}).get("tools"), (
        f"the hub declares tasks for tools/call: {seen['capabilities']}"
    )
    assert seen["execution"] == {"taskSupport": "required"}, f"the tool's `execution` is kept: {seen['execution']}"
    assert not events(seen, "error"), events(seen, "error")
    [created] = events(seen, "taskCreated")
    task_id = created["task"]["taskId"]
    assert task_id.startswith("everything/") and len(task_id) > len("everything/"), task_id
    assert task_id in seen["listed"], f"tasks/list shows it: {seen['listed']}"
    statuses = [e["task"]["status"] for e in events(seen, "taskStatus")]
    assert statuses and statuses[-1] == "completed", f"polled to its end: {statuses}"
    assert all(e["task"]["taskId"] == task_id for e in events(seen, "taskStatus"))
    assert "Research Report: tides" in report(seen), report(seen)

    # Another client reads the same task by its id: ids route without the session that made it.
    async with mcp_session(hub.url, hub.secret) as session:
        got = await session.send_request(
            types.GetTaskRequest(params=types.GetTaskRequestParams(task_id=task_id)), types.GetTaskResult
        )
        assert (got.task_id, got.status) == (task_id, "completed"), got
        unknown = types.GetTaskRequest(params=types.GetTaskRequestParams(task_id="nosuch/1"))
        with pytest.raises(Exception, match="unknown task"):
            await session.send_request(unknown, types.GetTaskResult)


async def test_a_question_during_a_task_goes_to_the_client_that_fetches_its_result(
    sandbox: Sandbox, start_hub: Callable[..., Hub]
) -> None:
    sandbox.add_server("everything", everything_cmd())
    hub = start_hub()
    wait_server_running(sandbox, "everything")
    seen = finish(task_client(hub, {"topic": "bridges", "ambiguous": True}))
    assert not events(seen, "error"), events(seen, "error")
    assert seen["asked"] and "bridges" in seen["asked"][0], f"the calling client was asked: {seen['asked']}"
    assert "historical" in report(seen), f"the server got the client's answer: {report(seen)}"


async def test_a_lazy_server_holding_a_running_task_is_not_stopped_for_idleness(
    sandbox: Sandbox, start_hub: Callable[..., Hub]
) -> None:
    [program, *args] = everything_cmd()
    sandbox.config_file.write_text(
        f"[servers.everything]\ncommand = {json.dumps(program)}\nargs = {json.dumps(args)}\n"
        'start = "lazy"\nidle_timeout = "1s"\n'
    )
    hub = start_hub()
    # The hub declares tasks once it has the server's tools (from its first listing).
    wait_until(lambda: (server_status(sandbox, "everything") or {}).get("tools"), 20, "the tools are listed")
    client = task_client(hub, {"topic": "glaciers"}, hold_ms=4000)
    try:
        assert client.stdout is not None
        line = client.stdout.readline()
        assert line.startswith("created everything/"), f"the task was made: {line!r}"
        running = server_status(sandbox, "everything") or {}
        assert running.get("state") == "running", running
        # Past its idle time-out (1 s, checked every 0.25 s), no request in flight.
        time.sleep(3)
        now = server_status(sandbox, "everything") or {}
        assert now.get("state") == "running" and now.get("pid") == running.get("pid"), (
            f"the server holding the task kept running: {now}"
        )
    finally:
        seen = finish(client)
    # An idle stop would have ended the task with its server: the result would not come.
    assert not events(seen, "error"), events(seen, "error")
    assert "glaciers" in report(seen), seen
    assert (server_status(sandbox, "everything") or {}).get("pid") in (running.get("pid"), None)
    wait_until(
        lambda: (server_status(sandbox, "everything") or {}).get("state") == "idle",
        20,
        "with its task ended, the server goes idle again",
    )


TASKS = "io.modelcontextprotocol/tasks"


class Stateless:
    """A 2026-07-28 client's requests, as the tasks extension's specification writes them:
    `_meta` with the revision, the client and its capabilities (elicitation and tasks), and
    the `Mcp-Method` / `Mcp-Name` headers."""

    def __init__(self, hub: Hub, http: httpx2.Client) -> None:
        self.hub, self.http, self.next_id = hub, http, 1

    def request(self, method: str, params: dict[str, Any], name: str | None = None) -> dict[str, Any]:
        request_id, self.next_id = self.next_id, self.next_id + 1
        params = {**params, "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "raw-2026", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}, "extensions": {TASKS: {}}},
        }}  # fmt: skip
        headers = {"Mcp-Method": method, "MCP-Protocol-Version": "2026-07-28"}
        if name is not None:
            headers["Mcp-Name"] = name
        message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        answer = self.http.post(self.hub.url, json=message, headers=headers)
        (reply,) = [m for m in http_messages(answer) if m.get("id") == request_id]
        assert "error" not in reply, f"{method}: {reply}"
        return reply["result"]


def test_a_stateless_client_runs_a_task_through_the_tasks_extension(
    sandbox: Sandbox, start_hub: Callable[..., Hub], everything: None
) -> None:
    hub = start_hub()
    wait_server_running(sandbox, "everything")
    headers = {"Accept": "application/json, text/event-stream", **hub.auth_headers}
    with httpx2.Client(headers=headers, timeout=30) as http:
        client = Stateless(hub, http)
        discovered = client.request("server/discover", {})
        assert TASKS in (discovered["capabilities"].get("extensions") or {}), discovered["capabilities"]

        created = client.request("tools/call", {"name": TOOL, "arguments": {"topic": "rivers", "ambiguous": True}}, TOOL)
        assert created.get("resultType") == "task", f"a task handle: {created}"
        task_id = created["taskId"]
        assert task_id.startswith("everything/") and created["status"] == "working", created

        statuses: list[str] = []
        answered = False
        deadline = time.monotonic() + RUN_LIMIT
        while True:
            assert time.monotonic() < deadline, f"the task ends in time: {statuses}"
            got = client.request("tasks/get", {"taskId": task_id}, task_id)
            assert got["taskId"] == task_id, got
            if not statuses or statuses[-1] != got["status"]:
                statuses.append(got["status"])
            if got["status"] == "input_required":
                [(key, question)] = got["inputRequests"].items()
                assert question["method"] == "elicitation/create" and "rivers" in question["params"]["message"], question
                answer = {"action": "accept", "content": {"interpretation": "historical"}}
                client.request("tasks/update", {"taskId": task_id, "inputResponses": {key: answer}}, task_id)
                answered = True
            elif got["status"] in ("completed", "failed", "cancelled"):
                break
            time.sleep((got.get("pollIntervalMs") or 500) / 1000)
    assert answered and statuses[-1] == "completed", f"asked once, then done: {statuses}"
    text = "".join(block.get("text", "") for block in got["result"]["content"])
    assert "Research Report: rivers (historical)" in text, text
