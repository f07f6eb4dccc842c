"""The revisions clients speak today, each served: 2025-06-18 and 2025-11-25 through the
`initialize` handshake (with a session), 2026-07-28 statelessly (`server/discover`, covered by
the `discover` runs of test_hub_mcp.py). Plus a second real client: the MCP Inspector's CLI.
"""

from __future__ import annotations

import json
import subprocess

import httpx2
import pytest
from patchbay_harness import Hub, Sandbox, inspector_cmd
from patchbay_harness import http_messages as messages


@pytest.mark.parametrize("revision", ["2025-06-18", "2025-11-25"])
def test_handshake_revision_is_negotiated_and_a_call_served(everything: Hub, revision: str) -> None:
    headers = {"Accept": "application/json, text/event-stream", **everything.auth_headers}
    init = {
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": revision, "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}},
    }  # fmt: skip
    with httpx2.Client(headers=headers, timeout=15) as http:
        answer = http.post(everything.url, json=init)
        (result,) = [m["result"] for m in messages(answer) if m.get("id") == 1]
        assert result["protocolVersion"] == revision, f"the hub speaks {revision} when asked: {result}"
        session = {"mcp-session-id": answer.headers["mcp-session-id"], "mcp-protocol-version": revision}
        http.post(everything.url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=session)
        call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                "params": {"name": "everything__echo", "arguments": {"message": revision}}}  # fmt: skip
        (reply,) = [m for m in messages(http.post(everything.url, json=call, headers=session)) if m.get("id") == 2]
    assert reply["result"]["content"][0]["text"] == f"Echo: {revision}", reply
    assert "resultType" not in reply["result"], f"{revision} results carry no resultType: {reply}"


def test_inspector_cli_lists_and_calls_tools_through_the_hub(everything: Hub, sandbox: Sandbox) -> None:
    base = [*inspector_cmd(), "--cli", everything.url, "--transport", "http",
            "--header", f"Authorization: Bearer {everything.secret}"]  # fmt: skip
    listed = subprocess.run(
        [*base, "--method", "tools/list"], env=sandbox.env, capture_output=True, text=True, timeout=60
    )
    assert listed.returncode == 0, f"the Inspector lists tools: {listed.stderr[-2000:]}"
    names = {tool["name"] for tool in json.loads(listed.stdout)["tools"]}
    assert "everything__echo" in names, sorted(names)
    called = subprocess.run(
        [*base, "--method", "tools/call", "--tool-name", "everything__echo", "--tool-arg", "message=inspected"],
        env=sandbox.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert called.returncode == 0, f"the Inspector calls a tool: {called.stderr[-2000:]}"
    assert json.loads(called.stdout)["content"][0]["text"] == "Echo: inspected", called.stdout
