"""The hub's loopback endpoint with raw HTTP requests: Host, Origin and bearer checks, the body
cap, malformed JSON, and a listener bound to 127.0.0.1 only. Nothing leaves the machine."""

from __future__ import annotations

import errno
import json
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from patchbay_harness import Hub, Sandbox

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}},
}
MCP_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
FOUR_MIB = 4 * 1024 * 1024


@pytest.fixture
def client() -> Iterator[httpx2.Client]:
    """A fresh connection per request: how the hub treats a reused connection after refusing a
    request is its own test (`test_refusal_leaves_the_connection_usable_or_says_close`)."""
    with httpx2.Client(timeout=10, limits=httpx2.Limits(max_keepalive_connections=0)) as http:
        yield http


def post_mcp(client: httpx2.Client, hub: Hub, body: bytes | str | None = None, **headers: str) -> httpx2.Response:
    merged = {**MCP_HEADERS, **hub.auth_headers, **headers}
    merged = {k: v for k, v in merged.items() if v is not None}
    content = json.dumps(INIT) if body is None else body
    return client.post(f"http://127.0.0.1:{hub.port}/mcp", content=content, headers=merged)


def jsonrpc_messages(response: httpx2.Response) -> list[dict[str, Any]]:
    """The JSON-RPC messages of a response, whether plain JSON or an SSE stream."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        return [json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:") and line[5:].strip()]
    return [response.json()]


def assert_initialized(response: httpx2.Response) -> None:
    assert response.status_code == 200, f"a proper request is served: {response.status_code} {response.text[:300]}"
    (message,) = [m for m in jsonrpc_messages(response) if m.get("id") == 1]
    assert message["result"]["serverInfo"]["name"] == "patchbay", message


# --- Origin --------------------------------------------------------------------------------------


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://localhost:1", "https://127.0.0.1"])
def test_foreign_origin_is_refused_with_403(hub: Hub, client: httpx2.Client, origin: str) -> None:
    response = post_mcp(client, hub, Origin=origin)
    assert response.status_code == 403, f"Origin `{origin}` is not allowed: expected 403, got {response.status_code}"
    api = client.get(f"http://127.0.0.1:{hub.port}/api/v1/status", headers={**hub.auth_headers, "Origin": origin})
    assert api.status_code == 403, f"the control API checks Origin too: got {api.status_code}"


def test_allowed_origin_from_config_is_served(sandbox: Sandbox, start_hub: Callable[..., Hub], client: httpx2.Client) -> None:
    sandbox.config_file.write_text('[hub]\nallowed_origins = ["http://localhost:5173"]\n')
    hub = start_hub()
    assert_initialized(post_mcp(client, hub, Origin="http://localhost:5173"))
    assert post_mcp(client, hub, Origin="http://localhost:5174").status_code == 403, "only the listed origin passes"


def test_request_without_origin_is_served(hub: Hub, client: httpx2.Client) -> None:
    assert_initialized(post_mcp(client, hub))


# --- bearer --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong", "Bearer", "Basic dXNlcjpwYXNz", "SECRET-ONLY"],
    ids=["missing", "wrong", "empty", "basic", "no-scheme"],
)
def test_missing_or_wrong_bearer_is_refused_with_401(hub: Hub, client: httpx2.Client, authorization: str | None) -> None:
    value = hub.secret if authorization == "SECRET-ONLY" else authorization
    response = post_mcp(client, hub, Authorization=value)
    assert response.status_code == 401, f"Authorization {authorization!r}: expected 401, got {response.status_code}"
    assert response.headers.get("www-authenticate", "").startswith("Bearer"), "a 401 names the scheme it wants"
    assert hub.secret not in response.text, "the refusal never echoes the secret"
    api = client.get(f"http://127.0.0.1:{hub.port}/api/v1/status", headers={"Authorization": value} if value else {})
    assert api.status_code == 401, f"the control API needs the bearer too: got {api.status_code}"


def test_secret_prefix_or_suffix_is_not_enough(hub: Hub, client: httpx2.Client) -> None:
    for token in (hub.secret[:-1], hub.secret + "x", hub.secret.upper() if hub.secret.upper() != hub.secret else "x"):
        response = post_mcp(client, hub, Authorization=f"Bearer {token}")
        assert response.status_code == 401, f"a near-miss token must be refused: got {response.status_code}"


def test_secret_file_is_private(hub: Hub) -> None:
    secret_file = Path(hub.info["secret_file"])
    mode = secret_file.stat().st_mode & 0o777
    assert mode & 0o077 == 0, f"the bearer secret must be readable by its owner only: {oct(mode)}"


# --- Host ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1:1", "192.0.2.1:{port}"])
def test_foreign_host_is_rejected(hub: Hub, client: httpx2.Client, host: str) -> None:
    value = host.format(port=hub.port)
    response = post_mcp(client, hub, Host=value)
    assert 400 <= response.status_code < 500, f"Host `{value}` (DNS rebinding) must be refused, got {response.status_code}"
    assert response.status_code == 421, f"the documented answer is 421 Misdirected Request, got {response.status_code}"


@pytest.mark.parametrize("host", ["localhost:{port}", "127.0.0.1:{port}"])
def test_loopback_host_names_are_served(hub: Hub, client: httpx2.Client, host: str) -> None:
    assert_initialized(post_mcp(client, hub, Host=host.format(port=hub.port)))


# --- body size -----------------------------------------------------------------------------------


def test_body_over_4_mib_is_refused_with_413(hub: Hub, client: httpx2.Client) -> None:
    response = post_mcp(client, hub, b"x" * (FOUR_MIB + 1))
    assert response.status_code == 413, f"a body over 4 MiB (Content-Length) gets 413, got {response.status_code}"


def test_chunked_body_over_4_mib_is_refused(hub: Hub, client: httpx2.Client) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(5):
            yield b" " * (1024 * 1024)

    headers = {**MCP_HEADERS, **hub.auth_headers}
    try:
        response = client.post(f"http://127.0.0.1:{hub.port}/mcp", content=chunks(), headers=headers)
    except httpx2.TransportError:
        pass  # the hub may close the connection while the body still streams in: refused too
    else:
        assert response.status_code == 413, (
            f"a body without Content-Length is capped while it is read: expected 413, got {response.status_code}"
        )
    assert_initialized(post_mcp(client, hub))


def test_body_just_under_4_mib_is_not_refused_for_size(hub: Hub, client: httpx2.Client) -> None:
    message = dict(INIT)
    message["params"] = {**INIT["params"], "_meta": {"pad": ""}}
    overhead = len(json.dumps(message))
    message["params"]["_meta"]["pad"] = "a" * (FOUR_MIB - overhead - 16)
    body = json.dumps(message)
    assert len(body) < FOUR_MIB
    response = post_mcp(client, hub, body)
    assert response.status_code != 413, "the cap is 4 MiB: a smaller body is accepted"
    assert_initialized(response)


# --- malformed JSON ------------------------------------------------------------------------------


@pytest.mark.parametrize("body", ["{not json", "[1, 2", '{"jsonrpc": "2.0", "id": 1, "method": '])
def test_malformed_json_gets_a_jsonrpc_parse_error_and_the_hub_keeps_serving(
    hub: Hub, client: httpx2.Client, body: str
) -> None:
    response = post_mcp(client, hub, body)
    # First: the hub survives it and serves the next request.
    assert_initialized(post_mcp(client, hub))
    assert response.headers.get("content-type", "").startswith("application/json"), (
        f"bad JSON must be answered with a JSON-RPC error object, got {response.status_code} "
        f"{response.headers.get('content-type')!r}: {response.text[:200]!r}"
    )
    assert response.status_code == 400, f"a body that is not JSON is a 400 Bad Request, got {response.status_code}"
    answer = response.json()
    assert set(answer) == {"jsonrpc", "id", "error"}, f"a JSON-RPC error response and nothing else: {answer}"
    assert answer["jsonrpc"] == "2.0" and answer["id"] is None, f"a parse error has id null: {answer}"
    assert answer["error"]["code"] == -32700, f"the JSON-RPC parse error code is -32700: {answer}"
    assert answer["error"]["message"].startswith("parse error"), answer


@pytest.mark.parametrize("body", ['{"foo": 1}', '{"jsonrpc": "2.0", "id": 1}', "42"])
def test_json_that_is_no_jsonrpc_message_gets_an_invalid_request_error(hub: Hub, client: httpx2.Client, body: str) -> None:
    """Well-formed JSON with the right Content-Type that is not a JSON-RPC message is a JSON-RPC
    Invalid Request (-32600), not an HTTP 415 (the media type was right) with a plain-text body."""
    response = post_mcp(client, hub, body)
    assert_initialized(post_mcp(client, hub))
    assert response.status_code == 400 and response.headers.get("content-type", "").startswith("application/json"), (
        f"expected 400 with a JSON-RPC error, got {response.status_code} "
        f"{response.headers.get('content-type')!r}: {response.text[:200]!r}"
    )
    answer = response.json()
    assert answer.get("jsonrpc") == "2.0" and answer.get("error", {}).get("code") == -32600, answer


# --- keep-alive after a refusal ------------------------------------------------------------------


def read_response(sock: socket.socket) -> tuple[bytes, bytes]:
    """One HTTP/1.1 response with a Content-Length body: (head, body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed before a full response head: {data!r}")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head, body


def raw_request(hub: Hub, body: bytes, extra: str) -> tuple[bytes, bytes]:
    head = (
        f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{hub.port}\r\nContent-Type: application/json\r\n"
        f"Accept: application/json, text/event-stream\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    )
    return head.encode(), body


@pytest.mark.parametrize("refusal", ["wrong-bearer", "foreign-origin"])
def test_refusal_leaves_the_connection_usable_or_says_close(hub: Hub, refusal: str) -> None:
    """Clients pool HTTP/1.1 connections. When the request body arrives after its headers (as it
    often does), the hub answers the refusal early; it must then either keep the connection usable
    or say `Connection: close`, else the client's next request dies on a silently closed socket."""
    extra = "Authorization: Bearer wrong\r\n" if refusal == "wrong-bearer" else (
        f"Authorization: Bearer {hub.secret}\r\nOrigin: http://evil.example\r\n"
    )
    with socket.create_connection(("127.0.0.1", hub.port), timeout=5) as sock:
        head, body = raw_request(hub, json.dumps(INIT).encode(), extra)
        sock.sendall(head)
        time.sleep(0.2)  # the body comes in a later packet
        sock.sendall(body)
        first_head, _ = read_response(sock)
        assert first_head.split(b" ")[1] in (b"401", b"403"), first_head
        if b"connection: close" in first_head.lower():
            return  # the hub said it closes: a client will not reuse the connection
        head, body = raw_request(hub, json.dumps(INIT).encode(), f"Authorization: Bearer {hub.secret}\r\n")
        try:
            sock.sendall(head + body)
            second_head, _ = read_response(sock)
        except (ConnectionError, OSError) as e:
            pytest.fail(
                f"after `{first_head.splitlines()[0].decode()}` without `Connection: close`, the hub closed the "
                f"kept-alive connection: the next request on it failed ({e!r})",
                pytrace=False,
            )
        assert second_head.startswith(b"HTTP/1.1 200"), second_head


# --- binding -------------------------------------------------------------------------------------


def listening_sockets(port: int) -> list[str]:
    """Local addresses (hex, as in /proc/net/tcp*) of sockets listening on `port`."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].rsplit(":", 1)
            if int(port_hex, 16) == port and fields[3] == "0A":  # 0A = LISTEN
                found.append(address)
    return found


def local_addresses() -> list[str]:
    """This machine's own IPv4 addresses other than loopback (from the kernel's routing table)."""
    lines = Path("/proc/net/fib_trie").read_text().splitlines()
    addresses = {lines[i - 1].split()[-1] for i, line in enumerate(lines) if "/32 host LOCAL" in line}
    return sorted(a for a in addresses if not a.startswith("127."))


def test_listener_is_bound_to_127_0_0_1_only(hub: Hub) -> None:
    sockets = listening_sockets(hub.port)
    assert sockets == ["0100007F"], f"the hub's only listening socket is 127.0.0.1:{hub.port}; found {sockets}"

    for address in local_addresses():  # this machine's own addresses: the traffic stays local
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            code = s.connect_ex((address, hub.port))
        assert code == errno.ECONNREFUSED, f"{address}:{hub.port} must refuse connections, connect_ex gave {code}"
