"""Results pass through the hub whole: the same raw JSON-RPC requests are sent to server-everything
directly over stdio and through the hub over HTTP, and the `result` objects must be equal as JSON,
with the member order of the servers' own free-form objects (schemas, structured content) kept.
Only the differences the hub owns are allowed: the `<server>__` prefix on names, and `resultType`,
which the hub's own protocol layer manages per client revision."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from patchbay_harness import Hub, Sandbox, everything_cmd, kill_pids, stop_process, wait_server_running

REVISION = "2025-11-25"
MCP_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
# Every tool of server-everything whose result needs no client capability and no wait.
CALLS: list[tuple[str, dict[str, Any]]] = [
    ("echo", {"message": "ünïcode ✓ and \"quotes\""}),
    ("get-sum", {"a": 2, "b": 40.5}),
    ("get-tiny-image", {}),
    ("get-annotated-message", {"messageType": "error", "includeImage": True}),
    ("get-structured-content", {"location": "Chicago"}),
    ("get-resource-links", {"count": 3}),
    ("get-resource-reference", {"resourceType": "Text", "resourceId": 2}),
    ("get-resource-reference", {"resourceType": "Blob", "resourceId": 3}),
]

def ordered(text: str) -> Any:
    """JSON parsed with object key order kept: each object becomes a list of (key, value)."""
    return json.loads(text, object_pairs_hook=list)


def field(pairs: Any, key: str) -> Any:
    return dict(pairs).get(key)


def without(pairs: Any, keys: set[str]) -> Any:
    return [(k, v) for k, v in pairs if k not in keys]


def plain(value: Any) -> Any:
    """The ordered form as ordinary JSON values (objects as dicts, compared without order)."""
    if isinstance(value, list) and all(isinstance(p, tuple) and len(p) == 2 for p in value) and value:
        return {k: plain(v) for k, v in value}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def member_order(pairs: Any, *path: str) -> list[str]:
    """The member names, in order, of the object at `path` (a free-form object the server wrote)."""
    for key in path:
        pairs = field(pairs, key)
    return [k for k, _ in pairs]


class StdioPeer:
    """A raw newline-delimited JSON-RPC client of one stdio server: the reference path."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            everything_cmd(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.next_id = 0
        # One reader thread: `select` on the pipe cannot see lines already in the file's buffer,
        # so a burst of two lines (a notification and the answer) would look like silence.
        self.lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(b"")

    def request(self, method: str, params: dict[str, Any]) -> Any:
        """The `result` of one request, in the order the server wrote it."""
        self.next_id += 1
        self._send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        deadline = time.monotonic() + 20
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            assert line, "server-everything closed its stdout"
            message = ordered(line)
            if field(message, "id") == self.next_id and field(message, "method") is None:
                assert field(message, "result") is not None, line
                return field(message, "result")
        raise AssertionError(f"no answer to {method} within 20 s")

    def notify(self, method: str) -> None:
        self._send({"jsonrpc": "2.0", "method": method})

    def _send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        _, group = stop_process(self.proc)
        kill_pids(group)


class HubPeer:
    """The same requests as raw HTTP POSTs to the hub's endpoint."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.http = httpx2.Client(timeout=20)
        self.session: str | None = None
        self.next_id = 0

    def _post(self, message: dict[str, Any]) -> httpx2.Response:
        headers = {**MCP_HEADERS, **self.hub.auth_headers, "MCP-Protocol-Version": REVISION}
        if self.session:
            headers["Mcp-Session-Id"] = self.session
        return self.http.post(f"{self.hub.url}", content=json.dumps(message), headers=headers)

    def request(self, method: str, params: dict[str, Any]) -> Any:
        self.next_id += 1
        response = self._post({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        assert response.status_code == 200, response.text[:500]
        self.session = self.session or response.headers.get("mcp-session-id")
        for text in raw_messages(response):
            message = ordered(text)
            if field(message, "id") == self.next_id:
                assert field(message, "result") is not None, text
                return field(message, "result")
        raise AssertionError(f"no answer to {method} in {response.text[:500]}")

    def notify(self, method: str) -> None:
        assert self._post({"jsonrpc": "2.0", "method": method}).status_code == 202

    def close(self) -> None:
        self.http.close()


def raw_messages(response: httpx2.Response) -> list[str]:
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        return [line[5:] for line in response.text.splitlines() if line.startswith("data:") and line[5:].strip()]
    return [response.text]


def initialized(peer: StdioPeer | HubPeer) -> None:
    params = {"protocolVersion": REVISION, "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}
    peer.request("initialize", params)
    peer.notify("notifications/initialized")


@pytest.fixture
def peers(everything: Hub) -> Iterator[tuple[StdioPeer, HubPeer]]:
    direct, through = StdioPeer(), HubPeer(everything)
    try:
        initialized(direct)
        initialized(through)
        yield direct, through
    finally:
        direct.close()
        through.close()


def test_tool_results_pass_through_whole(peers: tuple[StdioPeer, HubPeer]) -> None:
    direct, through = peers
    for tool, arguments in CALLS:
        want = without(direct.request("tools/call", {"name": tool, "arguments": arguments}), {"resultType"})
        got = through.request("tools/call", {"name": f"everything__{tool}", "arguments": arguments})
        got = without(got, {"resultType"})
        assert plain(got) == plain(want), f"{tool}: the hub changed the result\n direct: {want}\n hub:    {got}"
        if field(want, "structuredContent"):
            assert member_order(got, "structuredContent") == member_order(want, "structuredContent"), (
                f"{tool}: the hub reordered the structured content"
            )


def test_tool_definitions_pass_through_whole(peers: tuple[StdioPeer, HubPeer]) -> None:
    direct, through = peers
    upstream = field(direct.request("tools/list", {}), "tools")
    served = {field(t, "name"): t for t in field(through.request("tools/list", {}), "tools")}
    assert upstream, "server-everything lists tools"
    for tool in upstream:
        name = field(tool, "name")
        mine = served.get(f"everything__{name}")
        assert mine is not None, f"{name} is missing from the hub's list"
        # `execution` (task support) included: the hub routes tasks (test_hub_tasks.py).
        want = without(tool, {"name"})
        got = without(mine, {"name"})
        assert plain(got) == plain(want), f"{name}: the hub changed the definition\n direct: {want}\n hub:    {got}"
        # A client shows parameters in schema order; the hub must not sort them.
        for schema in ("inputSchema", "outputSchema"):
            if field(tool, schema) and field(field(tool, schema), "properties"):
                assert member_order(mine, schema, "properties") == member_order(tool, schema, "properties"), (
                    f"{name}: the hub reordered the {schema} properties"
                )


def test_the_reference_results_are_rich(peers: tuple[StdioPeer, HubPeer]) -> None:
    """The comparisons above are not vacuous: they cover every content type, annotations,
    structured output, and schemas with several properties."""
    direct, _ = peers
    seen: set[str] = set()
    keys: set[str] = set()
    for tool, arguments in CALLS:
        result = direct.request("tools/call", {"name": tool, "arguments": arguments})
        keys.update(k for k, _ in result)
        for block in field(result, "content"):
            seen.add(field(block, "type"))
            keys.update(k for k, _ in block)
    assert {"text", "image", "resource_link", "resource"} <= seen, seen
    assert {"structuredContent", "annotations"} <= keys, keys
    tools = field(direct.request("tools/list", {}), "tools")
    assert any(len(member_order(t, "inputSchema", "properties")) >= 3 for t in tools)


def test_quick_answers_come_as_json_and_the_rest_as_a_stream(peers: tuple[StdioPeer, HubPeer]) -> None:
    """The hub answers a request that is done at once with one `application/json` body, and
    keeps the event stream for one that reports progress first or takes longer (both shapes are
    the protocol's; clients must take either)."""
    _, through = peers

    def call(tool: str, arguments: dict[str, Any], meta: dict[str, Any] | None = None) -> httpx2.Response:
        through.next_id += 1
        params: dict[str, Any] = {"name": f"everything__{tool}", "arguments": arguments}
        if meta:
            params["_meta"] = meta
        response = through._post({"jsonrpc": "2.0", "id": through.next_id, "method": "tools/call", "params": params})
        assert response.status_code == 200, response.text[:500]
        return response

    quick = call("echo", {"message": "at once"})
    assert quick.headers["content-type"] == "application/json"
    answer = json.loads(quick.text)
    assert answer["id"] == through.next_id and answer["result"]["content"][0]["text"] == "Echo: at once"

    progress = call("trigger-long-running-operation", {"duration": 0.4, "steps": 2}, {"progressToken": "p1"})
    assert progress.headers["content-type"].startswith("text/event-stream")
    messages = [json.loads(text) for text in raw_messages(progress)]
    methods = [m.get("method") for m in messages]
    assert methods[:-1] and set(methods[:-1]) == {"notifications/progress"}, methods
    assert messages[-1]["id"] == through.next_id and "result" in messages[-1], "the answer ends the stream"

    slow = call("trigger-long-running-operation", {"duration": 1, "steps": 1})
    assert slow.headers["content-type"].startswith("text/event-stream")
    messages = [json.loads(text) for text in raw_messages(slow)]
    assert [m["id"] for m in messages] == [through.next_id] and "result" in messages[0], messages


ODD = Path(__file__).parent / "servers" / "odd_server.py"


def odd_answer(kind: str) -> Any:
    """What `odd_server.py` answers, in the order it writes it."""
    printed = subprocess.run(
        [sys.executable, str(ODD), "--print-answer", kind], capture_output=True, text=True, check=True
    )
    return ordered(printed.stdout)


@pytest.fixture
def odd(sandbox: Sandbox, start_hub: Callable[..., Hub]) -> Iterator[HubPeer]:
    sandbox.add_server("odd", [sys.executable, str(ODD)])
    hub = start_hub()
    wait_server_running(sandbox, "odd")
    peer = HubPeer(hub)
    try:
        initialized(peer)
        yield peer
    finally:
        peer.close()


def test_answers_outside_the_protocol_model_pass_through_whole(odd: HubPeer) -> None:
    """A server answering with what no revision defines (a new content type, a field of its own,
    also beside content the hub's model reads) reaches the client as the server wrote it, member order kept, whether the hub answers with
    one JSON body or with an event stream (after progress, or when the answer is slow); the
    same for a prompt and a resource."""
    tool, prompt, resource = odd_answer("tool"), odd_answer("prompt"), odd_answer("resource")

    def call(name: str, meta: dict[str, Any] | None = None) -> tuple[str, list[Any]]:
        odd.next_id += 1
        params: dict[str, Any] = {"name": name, "arguments": {}}
        if meta:
            params["_meta"] = meta
        response = odd._post({"jsonrpc": "2.0", "id": odd.next_id, "method": "tools/call", "params": params})
        assert response.status_code == 200, response.text[:500]
        return response.headers["content-type"], [ordered(text) for text in raw_messages(response)]

    for name, meta, shape in [
        ("odd__hologram", None, "application/json"),
        ("odd__slow_hologram", None, "text/event-stream"),
        ("odd__slow_hologram", {"progressToken": "p1"}, "text/event-stream"),
    ]:
        content_type, messages = call(name, meta)
        assert content_type.startswith(shape), (name, meta, content_type)
        answers = [m for m in messages if field(m, "id") == odd.next_id]
        assert len(answers) == 1, messages
        got = field(answers[0], "result")
        assert got == tool, f"{name} {meta}: the hub changed the answer\n server: {tool}\n hub:    {got}"
        if meta:
            progress = [m for m in messages if field(m, "method") == "notifications/progress"]
            assert progress, f"the progress before the answer reaches the client: {messages}"

    # An answer the model reads, with what it does not (a content member, a result member):
    # the hub must not narrow it to what it knows.
    content_type, messages = call("odd__extras")
    assert content_type.startswith("application/json"), content_type
    (got,) = [field(m, "result") for m in messages if field(m, "id") == odd.next_id]
    extras = odd_answer("extras")
    assert got == extras, f"the hub narrowed the answer\n server: {extras}\n hub:    {got}"

    got = odd.request("prompts/get", {"name": "odd__hologram"})
    assert got == prompt, f"the hub changed the prompt\n server: {prompt}\n hub:    {got}"
    got = odd.request("resources/read", {"uri": "odd://hologram"})
    assert got == resource, f"the hub changed the resource\n server: {resource}\n hub:    {got}"

    # A stateless (2026-07-28) request, no session: the hub adds the `resultType` that revision
    # requires, and nothing else.
    stateless = "2026-07-28"
    meta = {
        "io.modelcontextprotocol/protocolVersion": stateless,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
    }
    headers = {**MCP_HEADERS, **odd.hub.auth_headers, "MCP-Protocol-Version": stateless,
               "Mcp-Method": "tools/call", "Mcp-Name": "odd__hologram"}  # fmt: skip
    body = {"jsonrpc": "2.0", "id": 99, "method": "tools/call",
            "params": {"name": "odd__hologram", "arguments": {}, "_meta": meta}}  # fmt: skip
    response = odd.http.post(odd.hub.url, content=json.dumps(body), headers=headers)
    assert response.status_code == 200, response.text[:500]
    (answer,) = [ordered(text) for text in raw_messages(response) if field(ordered(text), "id") == 99]
    assert field(answer, "result") == [*tool, ("resultType", "complete")], answer
