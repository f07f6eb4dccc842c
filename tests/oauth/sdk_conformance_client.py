"""A reference client for the conformance suite's auth scenarios: the Python SDK's own OAuth
client, with the scripted browser (browser.py) playing the user and a loopback listener catching
the redirect, the same arrangement `conformance_adapter.py` uses for `patchbay connect`.

It proves the suite, the browser and this repository's way of driving them work together, and
gives a baseline to compare Patchbay's results with. Run by the suite as
`python sdk_conformance_client.py <server-url>` with MCP_CONFORMANCE_SCENARIO and, for some
scenarios, MCP_CONFORMANCE_CONTEXT (JSON: `client_id`, `client_secret`, ...) in the environment.
Exit 0 on success; the suite judges the rest from what it saw on the wire.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import os
import queue
import subprocess
import sys
import threading
import urllib.parse
from pathlib import Path

import httpx2
from mcp import ClientSession
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

BROWSER = Path(__file__).resolve().with_name("browser.py")
# The client id the `auth/basic-cimd` scenario expects a client to present (a Client ID Metadata
# Document URL); the SDK uses it only where the server advertises CIMD support.
CONFORMANCE_CIMD_URL = "https://conformance-test.local/client-metadata.json"
CALLBACK_TIMEOUT = 20.0


class Storage:
    def __init__(self, client_info: OAuthClientInformationFull | None) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info = client_info

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


def start_listener() -> tuple[http.server.HTTPServer, "queue.Queue[dict[str, str]]"]:
    got: queue.Queue[dict[str, str]] = queue.Queue()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            got.put(dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query)))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"done")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, got


async def main(url: str) -> int:
    context = json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT") or "{}")
    server, callbacks = start_listener()
    redirect_uri = f"http://127.0.0.1:{server.server_port}/callback"
    client_info = None
    if context.get("client_id"):
        client_info = OAuthClientInformationFull(
            client_id=context["client_id"],
            client_secret=context.get("client_secret"),
            redirect_uris=[redirect_uri],
            token_endpoint_auth_method="client_secret_basic" if context.get("client_secret") else "none",
        )

    async def open_browser(authorization_url: str) -> None:
        env = {**os.environ, "PATCHBAY_BROWSER_FOREGROUND": "1"}
        await asyncio.to_thread(subprocess.run, [sys.executable, str(BROWSER), authorization_url], env=env, timeout=30)

    async def wait_callback() -> AuthorizationCodeResult:
        query = await asyncio.to_thread(callbacks.get, True, CALLBACK_TIMEOUT)
        return AuthorizationCodeResult(code=query["code"], state=query.get("state"), iss=query.get("iss"))

    provider = OAuthClientProvider(
        server_url=url,
        client_metadata=OAuthClientMetadata(
            client_name="patchbay conformance reference (python sdk)",
            redirect_uris=[redirect_uri],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
        ),
        storage=Storage(client_info),
        redirect_handler=open_browser,
        callback_handler=wait_callback,
        client_metadata_url=CONFORMANCE_CIMD_URL,
    )
    try:
        async with (
            httpx2.AsyncClient(auth=provider, timeout=20.0) as http,
            streamable_http_client(url, http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            tools = (await session.list_tools()).tools
            if tools:
                await session.call_tool(tools[0].name, {})
    finally:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1])))
