"""The client under test for `@modelcontextprotocol/conformance client --suite auth`: drives
`patchbay connect` against the scenario's server, then calls a tool through the hub.

The suite runs `<command> <server-url>` (through a shell; the command is split on spaces) with
MCP_CONFORMANCE_SCENARIO (e.g. `auth/scope-step-up`) and, in some scenarios,
MCP_CONFORMANCE_CONTEXT (JSON: `name` plus e.g. `client_id` and `client_secret` for
`auth/pre-registration`). It kills the client after --timeout ms (default 30000).

What this adapter expects in its environment (set by the test that starts the suite):
  PATCHBAY_BIN            the binary under test
  PATCHBAY_HOME, HOME...  a sandbox whose hub is already running (`patchbay serve`), started with
                          BROWSER (the scripted browser) and the keyring's D-Bus address in its
                          environment: with a hub, the sign-in runs inside the hub
  BROWSER                 tests/oauth/browser.py, PATCHBAY_BROWSER_LOG (the hub's own matter)

Steps:
  1. `patchbay connect URL --name c-<scenario> --client-metadata-url CIMD_URL
     [--client-id ID --client-secret S]`; it must exit 0 once tokens are stored (the hub opens
     the browser through $BROWSER). CIMD_URL is the suite's Client ID Metadata Document URL:
     Patchbay presents it only where the authorization server advertises
     `client_id_metadata_document_supported` (auth/basic-cimd), else registers (DCR); a
     configured client id (auth/pre-registration) comes first. With PATCHBAY_CLIENT_METADATA_URL
     in the environment the flag is left out: Patchbay must find the URL itself.
     The `auth/client-credentials-*` scenarios (context: `client_id` with `client_secret`, or
     `private_key_pem` and `signing_algorithm`) connect with `--grant client-credentials
     --client-id ID` and `--client-secret -` (the secret on stdin) or `--private-key-file PEM
     --signing-alg ALG` (a temporary 0600 file, deleted once `connect` returns): no browser.
  2. `patchbay tools --json`: the remote server's tools, `<name>__<tool>` with `server`.
  3. call the scenario server's first tool (`test-tool`) through the hub's MCP endpoint; for
     `auth/scope-step-up` this call is what triggers the 403 and the hub's re-authorization.
Exit 0 when the tool call succeeded, 1 otherwise (the suite tolerates a failing client only in
scenarios that expect one: `auth/scope-retry-limit`).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CONNECT_TIMEOUT = 45.0  # inside the 60 s per scenario that test_oauth_conformance.py gives the suite
CLI_TIMEOUT = 10.0
TOOLS_TIMEOUT = 10.0  # for the hub to serve a server just connected
# The client id the `auth/basic-cimd` scenario expects (a Client ID Metadata Document URL).
CONFORMANCE_CIMD_URL = "https://conformance-test.local/client-metadata.json"

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))


def log(message: str) -> None:
    print(f"conformance-adapter: {message}", file=sys.stderr, flush=True)


def server_name(scenario: str) -> str:
    """A server name per scenario, so that the suite's parallel scenarios share one hub."""
    # Server names are at most 32 characters: `c-` and the scenario without its `auth/`.
    name = re.sub(r"[^a-z0-9]+", "-", scenario.lower().removeprefix("auth/")).strip("-")
    return "c-" + name[:30]


def patchbay(*args: str, timeout: float = CLI_TIMEOUT, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Runs the binary under test; `stdin` is piped in (a secret), else stdin is /dev/null."""
    cmd = [os.environ["PATCHBAY_BIN"], *args]
    log(f"run {' '.join(args)}")
    if stdin is None:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    else:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=stdin)
    if result.stderr:
        log(f"stderr of {args[0]}: {result.stderr.strip()[-2000:]}")
    return result


def tool_name_for(tools: Any, name: str) -> str | None:
    """The hub's name for the first tool of server `name` in `patchbay tools --json`."""
    entries = tools.get("tools", tools) if isinstance(tools, dict) else tools
    for entry in entries or []:
        if isinstance(entry, dict) and entry.get("server") == name:
            return str(entry.get("name"))
    return None


def hub_endpoint() -> tuple[str, str]:
    """The running hub's MCP URL and bearer secret, from its discovery file."""
    home = Path(os.environ["PATCHBAY_HOME"])
    info = json.loads((home / "state" / "hub.json").read_text())
    secret_file = Path(info.get("secret_file") or home / "state" / "secret")
    return info["url"], secret_file.read_text().strip()


async def call_tool(tool: str) -> bool:
    from patchbay_harness import mcp_session

    url, secret = hub_endpoint()
    async with mcp_session(url, secret) as session:
        result = await session.call_tool(tool, {})
    log(f"tool {tool}: is_error={result.is_error}")
    return not result.is_error


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        log("usage: conformance_adapter.py SERVER_URL")
        return 2
    url = argv[1]
    scenario = os.environ.get("MCP_CONFORMANCE_SCENARIO", "unknown")
    context = json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT") or "{}")
    name = server_name(scenario)
    log(f"scenario {scenario} on {url} as {name}")

    args = ["connect", url, "--name", name]
    secret_in = None
    with tempfile.TemporaryDirectory(prefix="pb-adapter-") as keys:
        if scenario.startswith("auth/client-credentials-"):
            # The client credentials grant: the secret through stdin, the key through a file
            # that lives only as long as `connect` (Patchbay keeps both in the keychain).
            args += ["--grant", "client-credentials", "--client-id", context["client_id"]]
            if context.get("client_secret"):
                args += ["--client-secret", "-"]
                secret_in = context["client_secret"]
            if context.get("private_key_pem"):
                key_file = Path(keys) / "client-key.pem"
                key_file.write_text(context["private_key_pem"])
                key_file.chmod(0o600)
                args += ["--private-key-file", str(key_file)]
                if context.get("signing_algorithm"):
                    args += ["--signing-alg", context["signing_algorithm"]]
        else:
            # With PATCHBAY_CLIENT_METADATA_URL set (in the hub's environment too), Patchbay
            # must present it by itself, as a release build presents its baked-in URL.
            if "PATCHBAY_CLIENT_METADATA_URL" not in os.environ:
                args += ["--client-metadata-url", CONFORMANCE_CIMD_URL]
            if context.get("client_id"):
                args += ["--client-id", context["client_id"]]
                if context.get("client_secret"):
                    args += ["--client-secret", context["client_secret"]]
        connected = patchbay(*args, timeout=CONNECT_TIMEOUT, stdin=secret_in)
    if connected.returncode != 0:
        log(f"connect exited {connected.returncode}")
        return 1

    # The hub picks the new config entry up and connects; wait (bounded) for its tools.
    deadline = time.monotonic() + TOOLS_TIMEOUT
    while True:
        listed = patchbay("tools", "--json")
        if listed.returncode != 0:
            return 1
        tool = tool_name_for(json.loads(listed.stdout), name)
        if tool is not None:
            break
        if time.monotonic() > deadline:
            log(f"no tool of `{name}` in `patchbay tools --json` after {TOOLS_TIMEOUT} s: {listed.stdout[:2000]}")
            return 1
        time.sleep(0.2)
    return 0 if asyncio.run(call_tool(tool)) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
