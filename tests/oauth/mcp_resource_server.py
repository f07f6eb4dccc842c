"""The protected MCP server of the OAuth test bed: a real MCP server (the Python SDK's MCPServer
over Streamable HTTP) behind a resource-server layer that validates bearer tokens by RFC 7662
introspection at the authorization server, checks that their audience is this server's URL and
that they come from the expected issuer, and answers like the MCP authorization spec says:

  - 401 with `WWW-Authenticate: Bearer resource_metadata="<url>"` (plus `scope="..."` when
    --challenge-scope is given, and `error="invalid_token"` for a token that was presented);
  - 403 with `Bearer error="insufficient_scope", scope="..."` for a tool whose scope the token
    lacks (`admin_report` needs `mcp:admin`), or any request without --required-scope;
  - RFC 9728 protected-resource metadata at `/.well-known/oauth-protected-resource<path>` and
    at the root `/.well-known/oauth-protected-resource` (--prm chooses which are served).

Modes (--auth): `oauth` (above), `none` (no auth at all), `static` (a fixed secret in a header:
`Authorization: Bearer <secret>` or, with --static-header NAME, `NAME: <secret>`; the secret comes
from the environment variable BED_STATIC_SECRET).

Tools: `whoami` (the token's subject, client, scopes and audience as JSON), `echo`, `add`,
`admin_report` (needs scope `mcp:admin`).

Event log (--events FILE, JSONL; also GET /test/events): one `request` record per HTTP request to
the MCP endpoint (`auth` is ok, missing, invalid, wrong_audience, wrong_issuer, insufficient_scope,
static_ok, static_bad or none; `rpc` the JSON-RPC method; `tool` the tool name) and one `tool_call`
record per tool run. Token values are never logged, only `fp` (16 hex digits of sha256).

Listens on 127.0.0.1 only; prints {"ready": true, "url": ..., "port": ..., "pid": ...} when ready.
The introspection client's secret comes from BED_RS_CLIENT_SECRET.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import socket
import sys
import time
from typing import Any

import httpx2
import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOOL_SCOPES = {"admin_report": "mcp:admin"}
SCOPES_SUPPORTED = ["mcp:tools", "mcp:admin"]
INTROSPECTION_TIMEOUT = 10.0


def fingerprint(value: str | None) -> str | None:
    return hashlib.sha256(value.encode()).hexdigest()[:16] if value else None


class EventLog:
    def __init__(self, path: str | None) -> None:
        self.path = path
        self.events: list[dict[str, Any]] = []

    def record(self, type_: str, **fields: Any) -> None:
        event = {"seq": len(self.events) + 1, "t": time.time(), "type": type_}
        event.update({k: v for k, v in fields.items() if v is not None})
        self.events.append(event)
        if self.path:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(event) + "\n")


def build_mcp(events: EventLog) -> MCPServer:
    mcp = MCPServer("patchbay-oauth-bed", version="1.0.0")

    def caller(ctx: Context) -> dict[str, Any]:
        request = ctx.request_context.request
        scope = getattr(request, "scope", None) or {}
        return scope.get("bed_auth") or {}

    @mcp.tool(description="Who the bearer token was issued to: subject, client id, scopes, audience.")
    def whoami(ctx: Context) -> str:
        who = caller(ctx)
        events.record("tool_call", tool="whoami", sub=who.get("sub"))
        return json.dumps(who)

    @mcp.tool(description="Returns its input.")
    def echo(text: str, ctx: Context) -> str:
        events.record("tool_call", tool="echo", sub=caller(ctx).get("sub"))
        return text

    @mcp.tool(description="Adds two numbers.")
    def add(a: float, b: float, ctx: Context) -> str:
        events.record("tool_call", tool="add", sub=caller(ctx).get("sub"))
        return str(a + b)

    @mcp.tool(description="Needs the wider scope `mcp:admin`.")
    def admin_report(ctx: Context) -> str:
        events.record("tool_call", tool="admin_report", sub=caller(ctx).get("sub"))
        return "admin report: all systems nominal"

    return mcp


class ResourceGuard:
    """ASGI middleware in front of the MCP endpoint: authentication and scope checks."""

    def __init__(self, app: ASGIApp, opts: argparse.Namespace, events: EventLog, url: str, origin: str) -> None:
        self.app = app
        self.opts = opts
        self.events = events
        self.url = url
        self.prm_url = f"{origin}/.well-known/oauth-protected-resource{opts.path}"
        if opts.prm == "root":
            self.prm_url = f"{origin}/.well-known/oauth-protected-resource"
        self.introspection_endpoint: str | None = None
        self.http = httpx2.AsyncClient(timeout=INTROSPECTION_TIMEOUT)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].rstrip("/") == self.opts.path.rstrip("/"):
            await self.app(scope, receive, send)
            return
        body, receive = await _buffer(receive)
        rpc, tool = _rpc_of(body)
        record = {"method": scope["method"], "rpc": rpc, "tool": tool}
        headers = {k.decode().lower(): v.decode(errors="replace") for k, v in scope["headers"]}

        if self.opts.auth == "none":
            scope["bed_auth"] = {"mode": "none"}
            await self._pass(scope, receive, send, record, "none")
        elif self.opts.auth == "static":
            await self._static(scope, receive, send, headers, record)
        else:
            await self._oauth(scope, receive, send, headers, record, tool)

    async def _pass(self, scope: Scope, receive: Receive, send: Send, record: dict[str, Any], auth: str) -> None:
        status: list[int] = []

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self.events.record("request", auth=auth, status=status[0] if status else None, **record)

    async def _static(
        self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str], record: dict[str, Any]
    ) -> None:
        secret = os.environ.get("BED_STATIC_SECRET", "")
        name = self.opts.static_header.lower()
        presented = headers.get(name, "")
        if name == "authorization":
            presented = presented[7:] if presented.lower().startswith("bearer ") else ""
        if secret and presented == secret:
            scope["bed_auth"] = {"mode": "static", "header": name}
            await self._pass(scope, receive, send, record, "static_ok")
            return
        self.events.record("request", auth="static_bad", status=401, fp=fingerprint(presented), **record)
        challenge = 'Bearer error="invalid_token"' if name == "authorization" else f'ApiKey header="{name}"'
        await _error(send, 401, {"error": "invalid_token"}, challenge)

    def _challenge(self, error: str | None = None, description: str | None = None, scope: str | None = None) -> str:
        parts = []
        if error:
            parts.append(f'error="{error}"')
        if description:
            parts.append(f'error_description="{description}"')
        if scope:
            parts.append(f'scope="{scope}"')
        parts.append(f'resource_metadata="{self.prm_url}"')
        return "Bearer " + ", ".join(parts)

    async def _oauth(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: dict[str, str],
        record: dict[str, Any],
        tool: str | None,
    ) -> None:
        auth = headers.get("authorization", "")
        if not auth.lower().startswith("bearer ") or not auth[7:].strip():
            self.events.record("request", auth="missing", status=401, **record)
            body = {"error": "invalid_request", "error_description": "bearer token required"}
            await _error(send, 401, body, self._challenge(scope=self.opts.challenge_scope))
            return
        token = auth[7:].strip()
        record["fp"] = fingerprint(token)
        info = await self._introspect(token)
        verdict = "ok"
        if not info.get("active"):
            verdict = "invalid"
        else:
            aud = info.get("aud")
            audiences = aud if isinstance(aud, list) else [aud]
            if self.url not in audiences:
                verdict = "wrong_audience"
            elif info.get("iss") != self.opts.issuer:
                verdict = "wrong_issuer"
        if verdict != "ok":
            self.events.record("request", auth=verdict, status=401, **record)
            description = {
                "invalid": "token is not active",
                "wrong_audience": "token was not issued for this resource",
                "wrong_issuer": "token was not issued by the expected authorization server",
            }[verdict]
            await _error(
                send,
                401,
                {"error": "invalid_token", "error_description": description},
                self._challenge("invalid_token", description, self.opts.challenge_scope),
            )
            return
        granted = set((info.get("scope") or "").split())
        needed = [s for s in (self.opts.required_scope, TOOL_SCOPES.get(tool or "")) if s]
        if any(s not in granted for s in needed):
            wanted = " ".join(sorted(granted | set(needed)))
            self.events.record("request", auth="insufficient_scope", status=403, scope=" ".join(sorted(granted)), **record)
            await _error(
                send,
                403,
                {"error": "insufficient_scope", "error_description": f"needs scope {' '.join(needed)}"},
                self._challenge("insufficient_scope", None, wanted),
            )
            return
        scope["bed_auth"] = {
            "mode": "oauth",
            "sub": info.get("sub"),
            "client_id": info.get("client_id"),
            "scopes": sorted(granted),
            "aud": info.get("aud"),
            "iss": info.get("iss"),
        }
        await self._pass(scope, receive, send, record, "ok")

    async def _introspect(self, token: str) -> dict[str, Any]:
        if self.introspection_endpoint is None:
            meta = await self.http.get(f"{self.opts.issuer}/.well-known/openid-configuration")
            meta.raise_for_status()
            self.introspection_endpoint = meta.json()["introspection_endpoint"]
        response = await self.http.post(
            self.introspection_endpoint,
            data={"token": token, "token_type_hint": "access_token"},
            auth=(self.opts.rs_client_id, os.environ.get("BED_RS_CLIENT_SECRET", "")),
        )
        if response.status_code != 200:
            return {"active": False}
        return response.json()


async def _buffer(receive: Receive) -> tuple[bytes, Receive]:
    """Reads the whole request body and returns it with a `receive` that replays it."""
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


def _rpc_of(body: bytes) -> tuple[str | None, str | None]:
    try:
        message = json.loads(body) if body else None
    except ValueError:
        return None, None
    if not isinstance(message, dict):
        return None, None
    method = message.get("method")
    params = message.get("params") or {}
    tool = params.get("name") if method == "tools/call" and isinstance(params, dict) else None
    return method, tool


async def _error(send: Send, status: int, body: dict[str, Any], challenge: str) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                (b"www-authenticate", challenge.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--listen-fd", type=int, help="a listening 127.0.0.1 socket handed over by the caller")
    parser.add_argument("--path", default="/mcp", help="the MCP endpoint's path")
    parser.add_argument("--auth", choices=["oauth", "none", "static"], default="oauth")
    parser.add_argument("--issuer", help="the authorization server's issuer (oauth mode)")
    parser.add_argument("--rs-client-id", default="bed-resource-server")
    parser.add_argument("--challenge-scope", help="scope to put in the 401 challenge")
    parser.add_argument("--required-scope", help="scope every request needs (else 403)")
    parser.add_argument("--static-header", default="Authorization")
    parser.add_argument("--prm", choices=["both", "suffixed", "root", "none"], default="both")
    parser.add_argument("--prm-resource", help="`resource` to claim in the metadata (default: own URL)")
    parser.add_argument("--events", help="JSONL event log")
    opts = parser.parse_args()
    if opts.auth == "oauth" and not opts.issuer:
        parser.error("--issuer is required with --auth oauth")

    if opts.listen_fd is not None:
        sock = socket.socket(fileno=opts.listen_fd)
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", opts.port))
        sock.listen(128)
    host, port = sock.getsockname()[:2]
    if host != "127.0.0.1":
        parser.error(f"refusing to serve on {host}: 127.0.0.1 only")
    origin = f"http://127.0.0.1:{port}"
    url = f"{origin}{opts.path}"

    events = EventLog(opts.events)
    mcp = build_mcp(events)
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[f"127.0.0.1:{port}", f"localhost:{port}"],
        allowed_origins=[origin, f"http://localhost:{port}"],
    )
    app = mcp.streamable_http_app(streamable_http_path=opts.path, transport_security=security)

    metadata = {
        "resource": opts.prm_resource or url,
        "authorization_servers": [opts.issuer] if opts.issuer else [],
        "scopes_supported": SCOPES_SUPPORTED,
        "bearer_methods_supported": ["header"],
        "resource_name": "Patchbay OAuth test bed",
    }

    async def prm(request: Request) -> JSONResponse:
        events.record("prm", path=request.url.path)
        return JSONResponse(metadata)

    async def test_events(request: Request) -> JSONResponse:
        since = int(request.query_params.get("since", "0"))
        return JSONResponse([e for e in events.events if e["seq"] > since])

    prm_paths = {
        "both": ["/.well-known/oauth-protected-resource" + opts.path, "/.well-known/oauth-protected-resource"],
        "suffixed": ["/.well-known/oauth-protected-resource" + opts.path],
        "root": ["/.well-known/oauth-protected-resource"],
        "none": [],
    }[opts.prm]
    if opts.auth == "oauth":
        for path in prm_paths:
            app.router.routes.append(Route(path, prm, methods=["GET"]))
    app.router.routes.append(Route("/test/events", test_events, methods=["GET"]))

    guarded = ResourceGuard(app, opts, events, url, origin)
    config = uvicorn.Config(guarded, log_level="warning", lifespan="on", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)

    async def serve() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        for _ in range(200):
            if server.started or task.done():
                break
            await asyncio.sleep(0.05)
        if server.started:
            print(json.dumps({"ready": True, "url": url, "port": port, "pid": os.getpid()}), flush=True)
        await task

    asyncio.run(serve())


if __name__ == "__main__":
    sys.exit(main())
