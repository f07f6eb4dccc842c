"""Remote MCP servers behind OAuth 2.1 (issue 3), end to end: `patchbay connect` signs in through
the OAuth test bed (oidc-provider, a protected MCP server, the scripted browser as $BROWSER),
keeps the tokens in the OS keychain (GNOME Keyring's Secret Service, scripts/keyring-session),
and the hub serves the server's tools, refreshes, revokes, steps up and asks for a new sign-in.

Every assertion reads an independent witness: the authorization server's and the resource
server's event logs (token fingerprints only), the scripted browser's log, the keychain through
`secret-tool` (a separate process, as any other keychain client), the hub's event stream and its
MCP endpoint. Raw token values are only ever read back from the keychain.

Token values seen in the keychain go to a module-wide ledger. When the module's tests are done
(teardown of the module fixture `ledger`; under xdist, on each worker for the tests it ran),
every file under those tests' directories (PATCHBAY_HOME with config, logs and state, the fake
HOME and XDG dirs, the TMPDIR given to Patchbay, the hub's stdout and stderr, the bed's logs)
and every CLI output is searched for them.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import tomllib
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp.shared.exceptions import MCPError
from oauth_bed import AuthServer, ResourceServer, ScriptedBrowser, fingerprint, keyring_bus_address
from patchbay_harness import (
    Hub,
    Sandbox,
    await_until,
    mcp_session,
    server_status,
    wait_server_running,
    wait_until,
)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(150)]

SIGN_IN_CLI_TIMEOUT = 60.0  # one `connect` or `login` with the scripted browser (2-4 s here)
SIGN_IN_TIMEOUT = "30"  # PATCHBAY_SIGNIN_TIMEOUT for every test: a flow that hangs ends in 30 s
SHORT_SIGN_IN_TIMEOUT = 3  # the no-callback test's PATCHBAY_SIGNIN_TIMEOUT
SHORT_TTL = 3  # an access token from the sign-in that expires during the test
LONG_TTL = 3600  # every refreshed access token: outlives the test, so exactly one refresh is due
BURST_TTL = 8  # the sign-in token of the 50-call test: the hub connects and lists tools with it
REFRESH_DELAY = 9.0  # that test's refreshes are answered this late: longer than BURST_TTL + 0.5,
# so whenever after the sign-in a refresh starts, it is still under way when the calls begin
READY_TIMEOUT = 30.0
LOOP_WINDOW = 3.0  # how long a server that needs a sign-in is watched for retries (the
# supervisor's backoff starts at 0.5 s, so a retry loop shows several attempts in 3 s)
TOKEN_FIELDS = {
    "server", "url", "issuer", "client_id", "scopes", "expires_at", "expires_in", "refresh_token", "state",
}
SIGN_IN_STAGES = ("discovering", "registering", "waiting_for_browser", "exchanging", "verifying", "done")
ALL_STAGES = {*SIGN_IN_STAGES, "failed", "cancelled"}
CHUNK_HEAD = b"patchbay-chunked:v1:"  # crates/patchbay-core/src/vault/chunk.rs


# --- the ledger of secrets seen, scanned for at the end ---------------------------------------


@dataclass
class Ledger:
    """Secret values seen during the module's tests, the directories those tests wrote to, and
    every CLI output; `leaks()` says where a value turns up (never the value itself)."""

    secrets: dict[str, str] = field(default_factory=dict)
    roots: list[Path] = field(default_factory=list)
    outputs: list[tuple[str, str]] = field(default_factory=list)

    def secret(self, value: str | None, what: str) -> None:
        if value and len(value) >= 8:
            self.secrets.setdefault(value, what)

    def output(self, label: str, text: str) -> None:
        self.outputs.append((label, text))

    def leaks(self) -> list[str]:
        found = []
        needles = [(value.encode(), what) for value, what in self.secrets.items()]
        for root in self.roots:
            for path in sorted(root.rglob("*")):
                if path.is_symlink() or not path.is_file():
                    continue
                with suppress(OSError):
                    data = path.read_bytes()
                    found += [f"{what} in {path}" for needle, what in needles if needle in data]
        for label, text in self.outputs:
            found += [f"{what} in the output of `{label}`" for value, what in self.secrets.items() if value in text]
        return found


@pytest.fixture(scope="module")
def ledger() -> Iterator[Ledger]:
    """The module's ledger; at teardown, after every test's hub and bed have stopped, no token
    value read from the keychain may be found in any file or CLI output of the module's tests."""
    book = Ledger()
    yield book
    leaks = book.leaks()
    assert not leaks, f"token values were written outside the keychain ({len(book.secrets)} values searched):\n" + "\n".join(leaks)


# --- the keychain, read by another process ----------------------------------------------------


def fnv1a64(data: bytes) -> int:
    """FNV-1a 64, as crates/patchbay-core/src/vault/chunk.rs hashes service and issuer names."""
    value = 0xCBF29CE484222325
    for byte in data:
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return value


class Keychain:
    """A sandbox's entries in the Secret Service (service `patchbay@<fnv of PATCHBAY_HOME>`,
    accounts as in vault.rs), read with `secret-tool`; every secret read goes to the ledger."""

    def __init__(self, sandbox: Sandbox, ledger: Ledger) -> None:
        self.sandbox = sandbox
        self.ledger = ledger
        self.service = f"patchbay@{fnv1a64(str(sandbox.home).encode()):016x}"

    def _secret_tool(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["secret-tool", *args], env=self.sandbox.env, capture_output=True, timeout=15)

    def accounts(self) -> list[str]:
        """Every account under the service, chunk entries included (secret-tool prints the
        attributes of each item it finds on stderr)."""
        found = self._secret_tool("search", "--all", "service", self.service)
        lines = found.stderr.decode(errors="replace").splitlines()
        return sorted({line.split(" = ", 1)[1] for line in lines if line.startswith("attribute.username = ")})

    def server_accounts(self, server: str) -> list[str]:
        return [a for a in self.accounts() if a.startswith(f"server/{server}/")]

    def _lookup(self, account: str) -> bytes | None:
        found = self._secret_tool("lookup", "service", self.service, "username", account)
        return found.stdout if found.returncode == 0 else None

    def record(self, account: str) -> dict[str, Any] | None:
        """The JSON record at `account`, joined from its chunks when it was stored chunked."""
        raw = self._lookup(account)
        if raw is None:
            return None
        if raw.startswith(CHUNK_HEAD):
            generation, count, length, _checksum = raw[len(CHUNK_HEAD) :].decode().split(":")
            chunks = [self._lookup(f"{account}#{generation}.{i}") for i in range(1, int(count) + 1)]
            assert all(c is not None for c in chunks), f"`{account}`: a chunk of generation {generation} is missing"
            raw = b"".join(c for c in chunks if c is not None)
            assert len(raw) == int(length), f"`{account}`: chunks hold {len(raw)} bytes, the head says {length}"
        record = json.loads(raw)
        for key in ("access_token", "refresh_token", "value", "client_secret", "registration_access_token", "private_key"):
            if isinstance(record.get(key), str):
                self.ledger.secret(record[key], f"the {key} of `{account}`")
        return record

    def tokens(self, server: str) -> dict[str, Any] | None:
        return self.record(f"server/{server}/oauth")

    def client(self, issuer: str) -> dict[str, Any] | None:
        return self.record(f"client/{fnv1a64(issuer.encode()):016x}")

    def remember_all(self) -> None:
        """Reads every record once more, so the ledger holds the last values too."""
        for account in self.accounts():
            if "#" not in account:
                with suppress(ValueError, AssertionError, subprocess.SubprocessError):
                    self.record(account)


# --- the hub's event stream -------------------------------------------------------------------


class HubEvents:
    """The hub's `/api/v1/events` (SSE), collected by a background thread from subscription on."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.items: list[dict[str, Any]] = []
        self.error: str | None = None
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._closing = False
        self._response: Any = None
        self._thread = threading.Thread(target=self._run, name="hub-events", daemon=True)

    def start(self) -> HubEvents:
        self._thread.start()
        assert self._subscribed.wait(10) and self.error is None, f"the hub's event stream answers: {self.error}"
        return self

    def _run(self) -> None:
        url = f"http://127.0.0.1:{self.hub.port}/api/v1/events"
        try:
            with (
                httpx2.Client(timeout=httpx2.Timeout(10.0, read=None)) as client,
                client.stream("GET", url, headers=self.hub.auth_headers) as response,
            ):
                self._response = response
                if response.status_code != 200:
                    self.error = f"GET /api/v1/events -> {response.status_code}"
                    return
                self._subscribed.set()
                kind = None
                for line in response.iter_lines():
                    if line.startswith("event:"):
                        kind = line.split(":", 1)[1].strip()
                    elif line.startswith("data:"):
                        with suppress(ValueError):
                            event = json.loads(line.split(":", 1)[1])
                            if isinstance(event, dict):
                                event.setdefault("kind", kind)
                                with self._lock:
                                    self.items.append(event)
        except Exception as e:  # the stream ends when the test closes it or the hub stops
            if not self._closing:
                self.error = f"{type(e).__name__}: {e}"
        finally:
            self._subscribed.set()

    def of(self, kind: str, **match: Any) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.items if e.get("kind") == kind and all(e.get(k) == v for k, v in match.items())]

    def sign_in(self, server: str) -> list[dict[str, Any]]:
        return self.of("sign_in", server=server)

    def wait_for(self, kind: str, timeout: float = READY_TIMEOUT, **match: Any) -> dict[str, Any]:
        found = wait_until(lambda: self.of(kind, **match), timeout, f"a `{kind}` event {match} on the hub's stream")
        return found[0]

    def close(self) -> None:
        self._closing = True
        with suppress(Exception):
            if self._response is not None:
                self._response.close()


# --- the bed, the sandbox and the binary together ---------------------------------------------


@dataclass
class Bed:
    """One test's world: a sandbox with the keychain's bus, the scripted browser as $BROWSER,
    servers of the OAuth bed on demand, and (when the test starts one) a hub with its events."""

    sandbox: Sandbox
    browser: ScriptedBrowser
    keychain: Keychain
    ledger: Ledger
    start_authz: Callable[..., AuthServer]
    start_resource: Callable[..., ResourceServer]
    start_hub_process: Callable[..., Hub]
    hub: Hub | None = None
    events: HubEvents | None = None

    def servers(self, **authz_options: Any) -> tuple[AuthServer, ResourceServer]:
        """An authorization server (`start_authz` options) and the MCP server it protects, whose
        401 challenge names scope `mcp:tools`; both ready."""
        authz = self.start_authz(wait=False, **authz_options)
        mcp = self.start_resource(authz=authz, challenge_scope="mcp:tools", wait=False)
        authz.wait_ready()
        mcp.wait_ready()
        return authz, mcp

    def use_browser(self, **options: Any) -> None:
        """Scripted-browser options (see `ScriptedBrowser.configure`) for the sign-ins that follow;
        a hub sees them only when it starts afterwards."""
        for key in [k for k in self.sandbox.env if k.startswith("PATCHBAY_BROWSER_")]:
            del self.sandbox.env[key]
        self.browser.configure(**options)
        self.sandbox.env.update(self.browser.env)

    def start_hub(self) -> Hub:
        self.hub = self.start_hub_process()
        self.events = HubEvents(self.hub).start()
        return self.hub

    def cli(self, *args: str, input: str | None = None, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        result = self.sandbox.run_cli(*args, input=input, timeout=timeout)
        self.ledger.output(f"patchbay {' '.join(args)}", result.stdout + result.stderr)
        return result

    def connect(self, url: str, name: str, *extra: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.cli("connect", url, "--name", name, *extra, input=input, timeout=SIGN_IN_CLI_TIMEOUT)

    def connected(self, url: str, name: str, *extra: str) -> subprocess.CompletedProcess[str]:
        result = self.connect(url, name, *extra)
        assert result.returncode == 0, f"`patchbay connect {url} --name {name}` exited {result.returncode}:\n{result.stderr}"
        return result

    def token_rows(self) -> dict[str, dict[str, Any]]:
        listed = self.cli("tokens", "list", "--json")
        assert listed.returncode == 0, f"`patchbay tokens list --json` exited {listed.returncode}:\n{listed.stderr}"
        return {row["server"]: row for row in json.loads(listed.stdout)}

    def token_row(self, name: str) -> dict[str, Any]:
        rows = self.token_rows()
        assert name in rows, f"`tokens list --json` has no row for `{name}`: {sorted(rows)}"
        return rows[name]

    def saved_servers(self) -> dict[str, Any]:
        config = self.sandbox.config_file
        return tomllib.loads(config.read_text()).get("servers", {}) if config.exists() else {}

    def assert_nothing_saved(self, name: str) -> None:
        assert name not in self.saved_servers(), f"a failed sign-in saved `{name}` to the config"
        assert self.keychain.server_accounts(name) == [], f"a failed sign-in left entries in the keychain for `{name}`"
        assert name not in self.token_rows(), f"`tokens list` shows `{name}` after a failed sign-in"


@pytest.fixture
def bed(
    sandbox: Sandbox,
    scripted_browser: ScriptedBrowser,
    start_authz_server: Callable[..., AuthServer],
    start_resource_server: Callable[..., ResourceServer],
    start_hub: Callable[..., Hub],
    ledger: Ledger,
) -> Iterator[Bed]:
    sandbox.env["DBUS_SESSION_BUS_ADDRESS"] = keyring_bus_address()
    tmp = sandbox.root / "tmp"  # Patchbay's temporary files land here, inside the leak scan
    tmp.mkdir()
    sandbox.env.update(TMPDIR=str(tmp), PATCHBAY_SIGNIN_TIMEOUT=SIGN_IN_TIMEOUT)
    ledger.roots.append(sandbox.root)
    world = Bed(
        sandbox, scripted_browser, Keychain(sandbox, ledger), ledger, start_authz_server, start_resource_server, start_hub
    )
    world.use_browser()
    yield world
    if world.events is not None:
        world.events.close()
    with suppress(Exception):
        world.keychain.remember_all()


# --- helpers ----------------------------------------------------------------------------------


def text_of(result: Any) -> str:
    assert not result.is_error, f"tool call failed: {result}"
    return "".join(getattr(c, "text", "") for c in result.content)


def scopes_of(value: str | None) -> set[str]:
    return set((value or "").split())


def as_client(authz: AuthServer, keychain: Keychain, endpoint: str, form: dict[str, str], client_id: str) -> httpx2.Response:
    """POST `form` to the provider's `endpoint` (a metadata field name) as the client Patchbay
    registered, with the client credentials read back from the keychain."""
    registration = keychain.client(authz.issuer) or {}
    secret = registration.get("client_secret")
    method = registration.get("token_endpoint_auth_method") or ("client_secret_basic" if secret else "none")
    data, auth = dict(form), None
    if secret and method == "client_secret_basic":
        auth = (urllib.parse.quote(client_id, safe=""), urllib.parse.quote(secret, safe=""))
    else:
        data["client_id"] = client_id
        if secret:
            data["client_secret"] = secret
    return httpx2.post(authz.metadata()[endpoint], data=data, auth=auth, timeout=10.0)


def refresh_by_hand(authz: AuthServer, bed: Bed, refresh_token: str, client_id: str, resource: str) -> httpx2.Response:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "resource": resource}
    return as_client(authz, bed.keychain, "token_endpoint", form, client_id)


async def expiry_passed(event: dict[str, Any]) -> None:
    """Waits until the access token of a `token` event has expired (plus a margin)."""
    await anyio.sleep(max(0.0, event["t"] + event["expires_in"] + 0.5 - time.time()))


def port_closed(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) != 0


def redirect_port(auth_url: str) -> int:
    redirect = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(auth_url).query))["redirect_uri"]
    port = urllib.parse.urlsplit(redirect).port
    assert port is not None, redirect
    return port


def normalized(url: str) -> tuple[str, str, str, list[tuple[str, str]]]:
    """A URL compared by meaning: its query decoded and sorted (the browser's log re-encodes it)."""
    parts = urllib.parse.urlsplit(url)
    return parts.scheme, parts.netloc, parts.path, sorted(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))


def shown_urls(text: str) -> list[tuple[str, str, str, list[tuple[str, str]]]]:
    """Every http(s) URL printed in `text`, normalized."""
    return [normalized(u.rstrip(".,;:)")) for u in re.findall(r"https?://[^\s'\"`<>]+", text)]


def stages_in_order(stages: list[str]) -> bool:
    positions = [SIGN_IN_STAGES.index(s) for s in stages]
    return positions == sorted(positions)


def assert_one_clean_flow(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The `sign_in` events of one server: one flow, its stages in order, ending in `done`;
    returns its `waiting_for_browser` event."""
    stages = [e["stage"] for e in events]
    assert set(stages) <= ALL_STAGES, f"unknown sign-in stages: {stages}"
    assert stages and stages[-1] == "done" and stages_in_order(stages), f"sign-in stages out of order: {stages}"
    assert len({e["flow"] for e in events}) == 1, f"one flow id for one sign-in: {events}"
    waiting = [e for e in events if e["stage"] == "waiting_for_browser"]
    assert waiting and waiting[0].get("url"), f"the browser stage carries the authorization URL: {events}"
    return waiting[0]


@pytest.fixture(params=["in_process", "in_hub"])
def where(request: pytest.FixtureRequest) -> str:
    """Where the flow runs: in the CLI (no hub), or in a hub that the CLI follows."""
    return request.param


def start_hub_if(bed: Bed, where: str) -> None:
    if where == "in_hub":
        bed.start_hub()


# --- the whole journey ------------------------------------------------------------------------


async def test_hub_signs_in_serves_refreshes_once_for_fifty_calls_and_revokes(bed: Bed) -> None:
    """The whole journey with a hub. The sign-in's access token lives BURST_TTL s; the 50 calls
    start once it has expired, and every refresh is held back REFRESH_DELAY s by the provider,
    so the calls meet the refresh under way (or start it) whatever margin the hub refreshes at."""
    authz, mcp = bed.servers(access_token_ttl=BURST_TTL)
    authz.control(refresh_access_token_ttl=LONG_TTL, token_delay={"seconds": REFRESH_DELAY, "grant_type": "refresh_token"})
    hub = bed.start_hub()
    # With a hub the flow runs in the hub: a CLI that opened a browser itself would log here.
    trap = bed.sandbox.root / "cli-browser.jsonl"
    bed.sandbox.env.update(PATCHBAY_BROWSER_LOG=str(trap), PATCHBAY_BROWSER_MODE="ignore")

    connected = bed.connect(mcp.url, "bed")
    assert not trap.exists(), "the CLI opened no browser itself: the hub ran the sign-in"
    assert connected.returncode == 0, f"exit {connected.returncode}:\n{connected.stderr}"
    assert bed.events is not None
    bed.events.wait_for("sign_in", server="bed", stage="done")
    waiting = assert_one_clean_flow(bed.events.sign_in("bed"))
    auth_url = waiting["url"]
    assert auth_url.startswith(authz.metadata()["authorization_endpoint"] + "?"), auth_url
    invoked = [normalized(r["url"]) for r in bed.browser.records("invoked")]
    assert invoked == [normalized(auth_url)], "the hub opened $BROWSER on that URL"
    assert bed.browser.wait_done(1)[0]["outcome"] == "called_back"
    assert normalized(auth_url) in shown_urls(connected.stderr), f"the CLI shows the authorization URL:\n{connected.stderr}"

    [authorization] = authz.events("authorization")
    assert authorization["code_challenge_method"] == "S256" and authorization["resource"] == mcp.url, authorization
    assert "mcp:tools" in scopes_of(authorization["scope"]), f"the challenge's scope is asked for: {authorization}"
    [exchange] = authz.token_events("authorization_code")
    assert exchange["status"] == 200 and exchange["has_code_verifier"] and exchange["resource"] == mcp.url, exchange
    assert exchange["expires_in"] == BURST_TTL
    assert bed.saved_servers()["bed"]["url"] == mcp.url

    await anyio.to_thread.run_sync(lambda: wait_server_running(bed.sandbox, "bed", timeout=READY_TIMEOUT))
    listed = bed.cli("tools", "--json")
    assert listed.returncode == 0, listed.stderr
    served = {t["name"]: t for t in json.loads(listed.stdout) if t.get("server") == "bed"}
    assert {"bed__whoami", "bed__echo", "bed__add", "bed__admin_report"} <= served.keys(), served.keys()
    async with mcp_session(hub.url, hub.secret) as session:
        assert "bed__echo" in {t.name for t in (await session.list_tools()).tools}
        who = json.loads(text_of(await session.call_tool("bed__whoami", {})))
    assert who["sub"] == "alice" and who["aud"] == mcp.url and who["iss"] == authz.issuer, who

    stored = bed.keychain.tokens("bed")
    assert stored, f"no `server/bed/oauth` under {bed.keychain.service}: {bed.keychain.accounts()}"
    issued = authz.token_events(ok=True)
    assert fingerprint(stored["access_token"]) in {e["issued_fp"] for e in issued}, "the keychain holds an issued access token"
    assert fingerprint(stored["refresh_token"]) in {e.get("refresh_fp") for e in issued}, "and an issued refresh token"
    assert stored["issuer"] == authz.issuer and stored["resource"] == mcp.url, {k: stored[k] for k in ("issuer", "resource")}

    await expiry_passed(exchange)
    results: dict[int, str] = {}
    failures: dict[int, str] = {}
    burst_started = time.time()

    async with mcp_session(hub.url, hub.secret) as session:

        async def call(i: int) -> None:
            try:
                results[i] = text_of(await session.call_tool("bed__echo", {"text": f"call {i}"}))
            except Exception as e:
                failures[i] = f"{type(e).__name__}: {e}"

        async with anyio.create_task_group() as tg:
            for i in range(50):
                tg.start_soon(call, i)
    assert not failures, f"{len(failures)} of 50 calls failed after the expiry: {list(failures.items())[:5]}"
    assert results == {i: f"call {i}" for i in range(50)}
    refreshes = authz.refreshes(ok=None)
    assert len(refreshes) == 1, f"exactly one refresh for 50 concurrent calls: {refreshes}"
    [refresh] = refreshes
    assert refresh["status"] == 200 and refresh["presented_fp"] == exchange["refresh_fp"], refresh
    assert refresh["resource"] == mcp.url, "`resource` on the refresh too (RFC 8707)"
    assert refresh["t"] > burst_started, (
        f"the refresh was answered {refresh['t'] - burst_started:.1f} s after the calls began: they met it under way"
    )
    assert len(mcp.tool_calls("echo")) == 50
    echo_tokens = {e["fp"] for e in mcp.requests("ok") if e.get("tool") == "echo"}
    assert echo_tokens == {refresh["issued_fp"]}, "every call that got through used the refreshed token"
    current = bed.keychain.tokens("bed")
    assert current is not None
    assert fingerprint(current["access_token"]) == refresh["issued_fp"], "the refreshed access token is stored"
    assert fingerprint(current["refresh_token"]) == refresh["refresh_fp"], "the rotated refresh token is stored"

    authz.control(token_delay={"seconds": 0})
    revoked = bed.cli("tokens", "revoke", "bed")
    assert revoked.returncode == 0, revoked.stderr
    assert re.search(r"(?i)revoked", revoked.stderr + revoked.stdout), revoked.stderr
    revocations = authz.events("revocation")
    assert [(r["fp"], r.get("token_type_hint")) for r in revocations] == [
        (fingerprint(current["refresh_token"]), "refresh_token"),
        (fingerprint(current["access_token"]), "access_token"),
    ], f"the refresh token is revoked first, then the access token: {revocations}; cli said: {revoked.stderr}"
    assert all(r["status"] == 200 for r in revocations), revocations

    rejected = refresh_by_hand(authz, bed, current["refresh_token"], current["client_id"], mcp.url)
    assert rejected.status_code == 400 and rejected.json()["error"] == "invalid_grant", rejected.text
    assert authz.refreshes(ok=False)[-1]["presented_fp"] == fingerprint(current["refresh_token"])
    assert bed.keychain.server_accounts("bed") == [], "the tokens are deleted locally"
    row = bed.token_row("bed")
    assert row["state"] == "revoked" and row["refresh_token"] is False, row
    await await_until(
        lambda: (server_status(bed.sandbox, "bed") or {}).get("state") == "needs_sign_in",
        READY_TIMEOUT,
        "`bed` waits for a sign-in after the revoke",
    )


def test_connect_without_a_hub_signs_in_in_process_and_the_hub_uses_the_tokens(bed: Bed) -> None:
    authz, mcp = bed.servers()
    connected = bed.connected(mcp.url, "bed")
    assert bed.sandbox.read_hub_file() is None, "no hub was started for the sign-in"
    [invoked] = bed.browser.records("invoked")
    assert normalized(invoked["url"]) in shown_urls(connected.stderr), f"the authorization URL is shown:\n{connected.stderr}"
    assert bed.browser.wait_done(1)[0]["outcome"] == "called_back"
    assert bed.saved_servers()["bed"]["url"] == mcp.url

    [registration] = authz.events("registration")
    assert registration["application_type"] == "native", registration
    assert all(u.startswith("http://127.0.0.1") and u.endswith("/callback") for u in registration["redirect_uris"]), registration
    [exchange] = authz.token_events("authorization_code")
    assert exchange["status"] == 200 and exchange["has_code_verifier"], exchange
    stored = bed.keychain.tokens("bed")
    assert stored, f"no `server/bed/oauth` under {bed.keychain.service}: {bed.keychain.accounts()}"
    assert fingerprint(stored["access_token"]) == exchange["issued_fp"]
    assert fingerprint(stored["refresh_token"]) == exchange["refresh_fp"]

    listed = bed.cli("tokens", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert TOKEN_FIELDS <= row.keys(), f"missing fields: {TOKEN_FIELDS - row.keys()}"
    assert (row["server"], row["url"], row["issuer"]) == ("bed", mcp.url, authz.issuer), row
    assert row["client_id"] == registration["client_id"] == stored["client_id"], row
    assert set(row["scopes"]) == scopes_of(exchange["granted_scope"]), (row["scopes"], exchange["granted_scope"])
    assert isinstance(row["expires_at"], int) and abs(row["expires_at"] - (exchange["t"] + LONG_TTL)) <= 5, row
    assert isinstance(row["expires_in"], int) and LONG_TTL - 60 <= row["expires_in"] <= LONG_TTL, row
    assert row["refresh_token"] is True and row["state"] == "valid", row
    for value in (stored["access_token"], stored["refresh_token"]):
        assert value not in listed.stdout, "no token value in `tokens list --json`"
    human = bed.cli("tokens", "list")
    assert human.returncode == 0 and "bed" in human.stdout + human.stderr, human

    hub = bed.start_hub()
    wait_server_running(bed.sandbox, "bed", timeout=READY_TIMEOUT)

    async def echo() -> str:
        async with mcp_session(hub.url, hub.secret) as session:
            return text_of(await session.call_tool("bed__echo", {"text": "stored tokens"}))

    assert anyio.run(echo) == "stored tokens"
    assert len(authz.events("authorization")) == 1 and len(bed.browser.records("invoked")) == 1, "no second sign-in"
    assert {e["fp"] for e in mcp.requests("ok")} == {exchange["issued_fp"]}, "the hub used the token the CLI stored"


def test_a_server_moved_to_another_authorization_server_gets_a_new_registration(bed: Bed) -> None:
    """Registrations are per issuer: the MCP server (same URL) now names a second authorization
    server; `login` registers anew there, and the first issuer's client id is never presented to
    the second (witnesses: the second server's log, and every URL the browser was sent to)."""
    first, mcp = bed.servers()
    bed.connected(mcp.url, "bed")
    [old] = first.events("registration")
    assert bed.keychain.client(first.issuer)["client_id"] == old["client_id"]

    second = bed.start_authz(wait=False)
    mcp.stop()
    moved = bed.start_resource(authz=second, challenge_scope="mcp:tools", port=mcp.port, wait=False)
    second.wait_ready()
    moved.wait_ready()
    assert moved.url == mcp.url and second.issuer != first.issuer

    login = bed.cli("login", "bed", timeout=SIGN_IN_CLI_TIMEOUT)
    assert login.returncode == 0, login.stderr
    [new] = second.events("registration")
    assert new["client_id"] != old["client_id"], "the second issuer issued its own client id"
    assert new["application_type"] == "native", new
    presented = {e["client_id"] for e in second.events() if e.get("client_id")}
    assert presented == {new["client_id"]}, f"client ids presented to the second issuer: {presented}"
    [_, invoked] = bed.browser.records("invoked")
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(invoked["url"]).query))
    assert invoked["url"].startswith(second.origin) and query["client_id"] == new["client_id"], invoked
    assert len(first.events("registration")) == 1 and len(first.events("authorization")) == 1, "nothing more at the first"

    assert bed.keychain.client(second.issuer)["client_id"] == new["client_id"]
    assert bed.keychain.client(first.issuer)["client_id"] == old["client_id"], "the first issuer keeps its own"
    row = bed.token_row("bed")
    assert (row["issuer"], row["client_id"]) == (second.issuer, new["client_id"]), row


@pytest.mark.parametrize("confidential", [False, True], ids=["public", "confidential"])
def test_configured_client_is_used_instead_of_registering(bed: Bed, confidential: bool) -> None:
    """`--client-id` (and `--client-secret`) at an authorization server where that client is
    pre-registered (the bed's `--static-client`; a secret means `client_secret_basic` there)."""
    secret = f"pb-client-secret-{uuid.uuid4().hex}"
    bed.ledger.secret(secret, "the configured client secret")
    authz, mcp = bed.servers(static_clients=[f"pb-client:{secret}" if confidential else "pb-client"])
    extra = ["--client-secret", secret] if confidential else []

    bed.connected(mcp.url, "bed", "--client-id", "pb-client", *extra)
    assert not authz.events("registration"), "a configured client id is never registered"
    assert [a["client_id"] for a in authz.events("authorization")] == ["pb-client"]
    [exchange] = authz.token_events("authorization_code")
    assert exchange["status"] == 200, exchange
    if confidential:
        assert exchange["auth_header"] == "Basic", f"the secret goes in HTTP Basic, as the client is registered: {exchange}"
    else:
        assert exchange["client_id"] == "pb-client" and not exchange.get("auth_header"), exchange
    assert bed.token_row("bed")["client_id"] == "pb-client"
    assert secret not in bed.sandbox.config_file.read_text(), "the client secret is not in the config"

    # `login` later remembers the configured client (from the keychain): still no registration.
    assert bed.cli("tokens", "revoke", "bed").returncode == 0
    login = bed.cli("login", "bed", timeout=SIGN_IN_CLI_TIMEOUT)
    assert login.returncode == 0, login.stderr
    assert not authz.events("registration"), "login reuses the configured client id"
    assert [a["client_id"] for a in authz.events("authorization")] == ["pb-client", "pb-client"]
    exchanges = authz.token_events("authorization_code")
    assert len(exchanges) == 2 and exchanges[-1]["status"] == 200, exchanges
    if confidential:
        assert exchanges[-1]["auth_header"] == "Basic", exchanges[-1]


# --- the client credentials grant -------------------------------------------------------------


def client_key(directory: Path) -> tuple[str, Path]:
    """A fresh P-256 private key as PKCS#8 PEM, and its public JWKS written under `directory`
    for the bed's `--cc-jwt-client`."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from jwt.algorithms import ECAlgorithm

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    jwk = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    jwks = directory / "cc-client.jwks.json"
    jwks.write_text(json.dumps({"keys": [{**jwk, "alg": "ES256", "use": "sig"}]}))
    return pem, jwks


@pytest.mark.parametrize("auth", ["client_secret_basic", "private_key_jwt"])
async def test_client_credentials_sign_in_needs_no_browser_and_the_hub_renews_it(bed: Bed, auth: str) -> None:
    """`connect --grant client-credentials`: a client that signs in on its own with its secret
    (read from stdin) or an RFC 7523 assertion (`--private-key-file`), no browser. Its token
    lives SHORT_TTL s and comes without a refresh token; the hub renews it by running the grant
    again, so calls go on working. The secret or key is only in the keychain: the module's leak
    scan looks for both in every file and output."""
    extra: list[str] = []
    stdin = None
    if auth == "client_secret_basic":
        secret = f"cc-secret-{uuid.uuid4().hex}"
        bed.ledger.secret(secret, "the client credentials secret")
        authz, mcp = bed.servers(access_token_ttl=SHORT_TTL, extra_args=["--cc-client", f"robot:{secret}"])
        extra, stdin = ["--client-secret", "-"], secret
    else:
        pem, jwks = client_key(bed.sandbox.root)
        body = [line for line in pem.splitlines() if not line.startswith("-----")]
        for line in body[:2]:
            bed.ledger.secret(line, "a line of the client's private key")
        authz, mcp = bed.servers(access_token_ttl=SHORT_TTL, extra_args=["--cc-jwt-client", f"robot={jwks}"])
        key_file = bed.sandbox.root / "robot.pem"
        key_file.write_text(pem)
        extra = ["--private-key-file", str(key_file)]
    hub = bed.start_hub()
    assert bed.events is not None
    connected = bed.connect(mcp.url, "robot", "--grant", "client-credentials", "--client-id", "robot", *extra, input=stdin)
    if auth == "private_key_jwt":
        key_file.unlink()  # the user's own file; Patchbay keeps its copy in the keychain
    assert connected.returncode == 0, f"`connect --grant client-credentials` exited {connected.returncode}:\n{connected.stderr}"
    assert not bed.browser.records("invoked"), "the client credentials grant opens no browser"
    assert not authz.events("authorization") and not authz.events("registration"), "no authorization, no registration"
    # The first token is the sign-in's; the hub may already have renewed it (it lives 3 s).
    first = authz.token_events("client_credentials")[0]
    assert first["status"] == 200 and first["resource"] == mcp.url, first
    if auth == "client_secret_basic":
        assert first["auth_header"] == "Basic", f"the secret goes in HTTP Basic: {first}"
    else:
        assert first["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", first
        assert not first.get("auth_header"), first

    row = bed.token_row("robot")
    assert row["grant"] == "client_credentials" and row["refresh_token"] is False, row
    assert row["actions"]["refresh"] is True, f"renewable without a refresh token: {row}"
    registration = bed.keychain.client(authz.issuer)
    assert registration and registration["grant"] == "client_credentials", registration
    assert registration["token_endpoint_auth_method"] == auth, registration
    assert (registration.get("client_secret") is not None) == (auth == "client_secret_basic"), "the secret is kept"
    assert (registration.get("private_key") is not None) == (auth == "private_key_jwt"), "the key is kept"

    await anyio.to_thread.run_sync(lambda: wait_server_running(bed.sandbox, "robot", timeout=READY_TIMEOUT))
    async with mcp_session(hub.url, hub.secret) as session:
        assert text_of(await session.call_tool("robot__echo", {"text": "first"})) == "first"
    latest = authz.token_events("client_credentials")[-1]
    await expiry_passed(latest)
    async with mcp_session(hub.url, hub.secret) as session:
        assert text_of(await session.call_tool("robot__echo", {"text": "renewed"})) == "renewed"

    stored = bed.keychain.tokens("robot")
    grants = authz.token_events("client_credentials")
    assert len(grants) >= 2 and all(g["status"] == 200 for g in grants), f"the hub ran the grant again: {grants}"
    renewed = {g["issued_fp"] for g in grants if g["seq"] > latest["seq"]}
    assert not authz.token_events("refresh_token"), "nothing to refresh with: no refresh_token grant"
    flows = bed.events.sign_in("robot")
    assert len({e["flow"] for e in flows}) == 1, f"renewed without a second sign-in: {flows}"
    assert "waiting_for_browser" not in {e["stage"] for e in flows} and not bed.browser.records("invoked"), flows
    last_call = [r for r in mcp.requests("ok") if r.get("tool") == "echo"][-1]
    assert last_call["fp"] in renewed, "the call after expiry carried a token of a later grant"
    assert stored and stored["grant"] == "client_credentials", stored
    assert fingerprint(stored["access_token"]) in renewed, "the renewed token is stored"
    assert not bed.events.of("token_state", server="robot", state="needs_sign_in")

    # After a revoke, `login` finds the client's credentials in the keychain and runs the grant.
    assert bed.cli("tokens", "revoke", "robot").returncode == 0
    before = len(authz.token_events("client_credentials"))
    login = bed.cli("login", "robot", timeout=SIGN_IN_CLI_TIMEOUT)
    assert login.returncode == 0, f"`login robot` exited {login.returncode}:\n{login.stderr}"
    assert len(authz.token_events("client_credentials")) > before, "login ran the grant again"
    assert not bed.browser.records("invoked") and not authz.events("authorization"), "and opened no browser"
    assert bed.token_row("robot")["state"] in ("valid", "expiring"), "signed in again (the 3 s token may be due already)"


# --- refresh --------------------------------------------------------------------------------


async def test_rotated_refresh_token_is_stored_and_the_old_one_is_dead(bed: Bed) -> None:
    authz, mcp = bed.servers()
    hub = bed.start_hub()
    bed.connected(mcp.url, "bed")
    await anyio.to_thread.run_sync(lambda: wait_server_running(bed.sandbox, "bed", timeout=READY_TIMEOUT))
    first = bed.keychain.tokens("bed")
    assert first is not None

    refreshed = bed.cli("tokens", "refresh", "bed")
    assert refreshed.returncode == 0, refreshed.stderr
    assert re.search(r"(?i)refreshed", refreshed.stderr + refreshed.stdout), f"says so:\n{refreshed.stderr}"
    [refresh] = authz.refreshes(ok=None)
    assert refresh["status"] == 200 and refresh["presented_fp"] == fingerprint(first["refresh_token"]), refresh
    assert refresh["refresh_fp"] and refresh["refresh_fp"] != refresh["presented_fp"], "the provider rotated it"
    second = bed.keychain.tokens("bed")
    assert second is not None
    assert fingerprint(second["refresh_token"]) == refresh["refresh_fp"], "the keychain holds the rotated refresh token"
    assert fingerprint(second["access_token"]) == refresh["issued_fp"]

    async with mcp_session(hub.url, hub.secret) as session:
        assert text_of(await session.call_tool("bed__echo", {"text": "after rotation"})) == "after rotation"
    # The resource server logs a request once its answer is sent: wait (bounded) for the line.
    echo_requests = mcp.wait_event("request", auth="ok", tool="echo")
    assert [e["fp"] for e in echo_requests] == [refresh["issued_fp"]], "the hub calls with the refreshed access token"

    # Last: presenting a consumed refresh token makes oidc-provider revoke the whole grant.
    old = refresh_by_hand(authz, bed, first["refresh_token"], first["client_id"], mcp.url)
    assert old.status_code == 400 and old.json()["error"] == "invalid_grant", old.text


def test_refresh_without_a_new_refresh_token_keeps_the_old_one(bed: Bed) -> None:
    authz, mcp = bed.servers()
    bed.connected(mcp.url, "bed")
    first = bed.keychain.tokens("bed")
    assert first is not None
    authz.control(rotate_refresh_tokens=False, refresh_omits_refresh_token=True)

    refreshed = bed.cli("tokens", "refresh", "bed")
    assert refreshed.returncode == 0, refreshed.stderr
    [refresh] = authz.refreshes(ok=None)
    assert refresh["status"] == 200 and refresh["refresh_token_omitted"] is True, refresh
    second = bed.keychain.tokens("bed")
    assert second is not None
    assert second["refresh_token"] == first["refresh_token"], "the old refresh token is kept when none comes back"
    assert fingerprint(second["access_token"]) == refresh["issued_fp"] != fingerprint(first["access_token"])
    row = bed.token_row("bed")
    assert row["refresh_token"] is True and row["state"] == "valid", row

    again = bed.cli("tokens", "refresh", "bed")
    assert again.returncode == 0, again.stderr
    last = authz.refreshes(ok=None)[-1]
    assert last["status"] == 200 and last["presented_fp"] == fingerprint(first["refresh_token"]), (
        f"the kept refresh token still works: {last}"
    )


def hub_settings(bed: Bed, *lines: str) -> None:
    """Put `lines` in the `[hub]` table of a sandbox whose config has none yet."""
    config = bed.sandbox.config_file
    rest = config.read_text() if config.exists() else ""
    assert "[hub]" not in rest, rest
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("[hub]\n" + "".join(f"{line}\n" for line in lines) + rest)


def revoke_at_the_provider(bed: Bed, authz: AuthServer, name: str) -> None:
    """Revoke `name`'s refresh token at the provider, behind the hub's back (oidc-provider then
    drops the whole grant: the access token too)."""
    tokens = bed.keychain.tokens(name)
    assert tokens is not None
    form = {"token": tokens["refresh_token"], "token_type_hint": "refresh_token"}
    revoked = as_client(authz, bed.keychain, "revocation_endpoint", form, tokens["client_id"])
    assert revoked.status_code == 200, revoked.text


async def test_refresh_token_revoked_behind_the_hubs_back_asks_for_login_and_login_restores(bed: Bed) -> None:
    """With `sign_in_wait = "off"`, a call fails at once with the hint (the default waits)."""
    authz, mcp = bed.servers()
    hub_settings(bed, 'sign_in_wait = "off"')
    hub = bed.start_hub()
    assert bed.events is not None
    bed.connected(mcp.url, "bed")
    await anyio.to_thread.run_sync(lambda: wait_server_running(bed.sandbox, "bed", timeout=READY_TIMEOUT))
    revoke_at_the_provider(bed, authz, "bed")

    async with mcp_session(hub.url, hub.secret) as session:
        with pytest.raises(MCPError, match=r"patchbay login bed"):
            await session.call_tool("bed__echo", {"text": "after the revocation"})

        def needs_sign_in() -> bool:
            status = server_status(bed.sandbox, "bed")
            return bool(status and status["state"] == "needs_sign_in")

        await await_until(needs_sign_in, READY_TIMEOUT, "`status --json` says `bed` needs a sign-in")
        await await_until(
            lambda: bed.events.of("token_state", server="bed", state="needs_sign_in"),
            READY_TIMEOUT,
            "a `token_state` event announces it",
        )
        assert bed.token_row("bed")["state"] == "needs_sign_in"
        shown = await anyio.to_thread.run_sync(lambda: bed.cli("status"))
        assert "notice: `bed` needs a new sign-in; run `patchbay login bed`" in shown.stderr, shown.stderr

        seen = (len(authz.token_events()), len(mcp.requests()))
        await anyio.sleep(LOOP_WINDOW)
        with pytest.raises(MCPError, match=r"patchbay login bed"):
            await session.call_tool("bed__echo", {"text": "still signed out"})
        assert (len(authz.token_events()), len(mcp.requests())) == seen, (
            "no retry loop: neither the provider nor the server hears from the hub until a new sign-in"
        )

    valid_before = len(bed.events.of("token_state", server="bed", state="valid"))
    login = await anyio.to_thread.run_sync(lambda: bed.cli("login", "bed", timeout=SIGN_IN_CLI_TIMEOUT))
    assert login.returncode == 0, login.stderr
    assert len(authz.events("authorization")) == 2, "login went through the browser again"
    await await_until(
        lambda: len(bed.events.of("token_state", server="bed", state="valid")) > valid_before,
        READY_TIMEOUT,
        "a `token_state` event says `valid` again",
    )
    await anyio.to_thread.run_sync(lambda: wait_server_running(bed.sandbox, "bed", timeout=READY_TIMEOUT))
    async with mcp_session(hub.url, hub.secret) as session:
        assert text_of(await session.call_tool("bed__echo", {"text": "signed in again"})) == "signed in again"
    assert bed.token_row("bed")["state"] == "valid"


WAITING_CALLS = 10


async def echo_all(hub: Hub, heard: list[str]) -> list[str | BaseException]:
    """`WAITING_CALLS` concurrent `bed__echo` calls over one session, the first asking for
    progress (its messages go to `heard`): each call's text, or what it raised."""
    outcomes: list[str | BaseException] = [""] * WAITING_CALLS

    async def progressed(progress: float, total: float | None, message: str | None) -> None:
        heard.append(message or "")

    async with mcp_session(hub.url, hub.secret) as session:

        async def one(i: int) -> None:
            try:
                result = await session.call_tool(
                    "bed__echo", {"text": f"call {i}"}, progress_callback=progressed if i == 0 else None
                )
                outcomes[i] = text_of(result)
            except Exception as err:  # noqa: BLE001 (each call's failure is the finding)
                outcomes[i] = err

        async with anyio.create_task_group() as group:
            for i in range(WAITING_CALLS):
                group.start_soon(one, i)
    return outcomes


async def test_calls_during_a_lapsed_sign_in_wait_for_one_browser_sign_in_and_then_succeed(bed: Bed) -> None:
    """The refresh token revoked at the provider, then ten calls at once: they wait, the hub
    opens exactly one sign-in in the browser (the scripted browser counts its runs), and every
    call then succeeds, served once each; a caller that asked for progress hears why it waits."""
    authz, mcp = bed.servers()
    hub_settings(bed, 'sign_in_wait = "60s"')
    hub = bed.start_hub()
    bed.connected(mcp.url, "bed")
    await anyio.to_thread.run_sync(lambda: wait_server_running(bed.sandbox, "bed", timeout=READY_TIMEOUT))
    assert len(bed.browser.records("invoked")) == 1
    revoke_at_the_provider(bed, authz, "bed")

    heard: list[str] = []
    outcomes = await echo_all(hub, heard)
    assert outcomes == [f"call {i}" for i in range(WAITING_CALLS)], outcomes
    assert len(bed.browser.records("invoked")) == 2, "exactly one browser sign-in for all the waiting calls"
    assert len(authz.events("authorization")) == 2 and len(authz.token_events("authorization_code")) == 2
    served = mcp.tool_calls("echo")
    assert len(served) == WAITING_CALLS, f"each call served once, none twice: {served}"
    assert any("sign in to `bed`: a browser window is open" in m for m in heard), heard
    assert bed.token_row("bed")["state"] == "valid"


async def test_calls_during_a_lapsed_sign_in_fail_together_when_it_is_declined(bed: Bed) -> None:
    """The same ten calls, with the user declining the one sign-in the hub opens: all ten fail
    with the `patchbay login` hint well within the bound, after one browser run; the next call
    fails at once without opening another tab."""
    authz, mcp = bed.servers()
    bed.connected(mcp.url, "bed")  # without a hub: in-process, with the browser that consents
    hub_settings(bed, 'sign_in_wait = "60s"')
    bed.use_browser(mode="deny")  # the hub's sign-ins get the browser that declines
    hub = bed.start_hub()
    await anyio.to_thread.run_sync(lambda: wait_server_running(bed.sandbox, "bed", timeout=READY_TIMEOUT))
    revoke_at_the_provider(bed, authz, "bed")

    started = time.monotonic()
    outcomes = await echo_all(hub, [])
    took = time.monotonic() - started
    assert all(isinstance(o, MCPError) for o in outcomes), outcomes
    for failure in outcomes:
        assert re.search(r"needs a new sign-in and the sign-in failed.*run `patchbay login bed`", str(failure)), failure
    assert took < 60, f"the calls failed with the declined sign-in, not at the bound ({took:.1f} s)"
    runs = bed.browser.records("invoked")
    assert len(runs) == 2, f"one browser run for the hub's sign-in, after the CLI's: {runs}"
    assert bed.browser.wait_done(2)[-1]["outcome"] == "denied"

    async with mcp_session(hub.url, hub.secret) as session:
        with pytest.raises(MCPError, match=r"the last one, \d+ s ago, did not succeed: run `patchbay login bed`"):
            await session.call_tool("bed__echo", {"text": "right after"})
    assert len(bed.browser.records("invoked")) == 2, "no new tab for a call right after the user declined"


def test_tokens_refresh_reports_the_providers_rejection_and_asks_for_login(bed: Bed, where: str) -> None:
    """`tokens refresh` with the provider answering `invalid_grant`: exit 1 with the provider's
    error, the rejected refresh token cleared. With a hub the server is `needs_sign_in` (status,
    event, `tokens list`); without one `tokens list` can only read the keychain, where nothing
    is left to refresh with, so `none` is as right there as `needs_sign_in`."""
    authz, mcp = bed.servers()
    start_hub_if(bed, where)
    bed.connected(mcp.url, "bed")
    before = bed.keychain.tokens("bed")
    assert before is not None and before.get("refresh_token")
    authz.fail_token_requests(1, "invalid_grant", grant_type="refresh_token")

    refreshed = bed.cli("tokens", "refresh", "bed")
    assert refreshed.returncode == 1, f"exit {refreshed.returncode}:\n{refreshed.stderr}"
    assert "error:" in refreshed.stderr and "invalid_grant" in refreshed.stderr, refreshed.stderr
    assert [e["error"] for e in authz.refreshes(ok=False)] == ["invalid_grant"]
    after = bed.keychain.tokens("bed")
    assert after is None or after.get("refresh_token") != before["refresh_token"], "the rejected refresh token is cleared"
    row = bed.token_row("bed")
    assert row["refresh_token"] is False, row
    if where == "in_process":
        assert row["state"] in ("needs_sign_in", "none"), row
        return
    assert row["state"] == "needs_sign_in", row
    assert bed.events is not None
    bed.events.wait_for("token_state", server="bed", state="needs_sign_in")
    wait_until(
        lambda: (s := server_status(bed.sandbox, "bed")) and s["state"] == "needs_sign_in",
        READY_TIMEOUT,
        "`status --json` says `bed` needs a sign-in",
    )


async def test_transient_token_endpoint_failure_is_retried(bed: Bed) -> None:
    authz, mcp = bed.servers(access_token_ttl=SHORT_TTL)
    authz.control(refresh_access_token_ttl=LONG_TTL)
    authz.fail_token_requests(1, "server_error", grant_type="refresh_token")
    hub = bed.start_hub()
    assert bed.events is not None
    bed.connected(mcp.url, "bed")
    [exchange] = authz.token_events("authorization_code")
    await anyio.to_thread.run_sync(lambda: wait_server_running(bed.sandbox, "bed", timeout=READY_TIMEOUT))
    await expiry_passed(exchange)

    async with mcp_session(hub.url, hub.secret) as session:
        assert text_of(await session.call_tool("bed__echo", {"text": "after a 500"})) == "after a 500"
    refreshes = authz.refreshes(ok=None)
    assert [(e["status"], e.get("injected", False)) for e in refreshes] == [(500, True), (200, False)], refreshes
    assert {e["presented_fp"] for e in refreshes} == {exchange["refresh_fp"]}, "the retry presents the same token"
    assert not bed.events.of("token_state", server="bed", state="needs_sign_in"), "a 500 is not a rejection"
    stored = bed.keychain.tokens("bed")
    assert stored is not None and fingerprint(stored["refresh_token"]) == refreshes[-1]["refresh_fp"]
    assert bed.token_row("bed")["state"] == "valid"


def test_revoke_without_a_revocation_endpoint_deletes_locally_and_says_so(bed: Bed) -> None:
    authz, mcp = bed.servers()
    authz.control(metadata_omit=["revocation_endpoint"])
    bed.connected(mcp.url, "bed")
    assert bed.keychain.tokens("bed") is not None

    revoked = bed.cli("tokens", "revoke", "bed")
    assert revoked.returncode == 0, revoked.stderr
    assert re.search(r"(?i)\b(no|not|without)\b.*revocation", revoked.stderr), (
        f"says the provider could not be asked to revoke:\n{revoked.stderr}"
    )
    assert not authz.events("revocation"), "nothing was sent to a provider that advertises no revocation"
    assert bed.keychain.server_accounts("bed") == [], "deleted locally either way"


# --- a sign-in that must fail -----------------------------------------------------------------


def assert_refused(bed: Bed, result: subprocess.CompletedProcess[str], name: str, message: str) -> None:
    """Exit 1, `error:` with a message matching `message`, and nothing saved anywhere."""
    assert result.returncode == 1, f"exit {result.returncode}:\n{result.stderr}"
    assert "error:" in result.stderr and re.search(message, result.stderr), f"no clear error /{message}/:\n{result.stderr}"
    bed.assert_nothing_saved(name)
    if bed.events is not None:
        flow = bed.events.sign_in(name)
        assert flow and flow[-1]["stage"] in ("failed", "cancelled"), f"the hub announces the failure: {flow}"


def test_tampered_state_is_refused(bed: Bed, where: str) -> None:
    authz, mcp = bed.servers()
    bed.use_browser(tamper_state="forged-state")
    start_hub_if(bed, where)
    result = bed.connect(mcp.url, "bed")
    assert bed.browser.wait_done(1)[0]["callback"]["query"]["state"] == "forged-state"
    assert_refused(bed, result, "bed", r"(?i)\bstate\b")
    assert not authz.token_events("authorization_code"), "no code is exchanged after a wrong state"


def test_wrong_issuer_in_the_response_is_refused(bed: Bed, where: str) -> None:
    authz, mcp = bed.servers()
    bed.use_browser(tamper_iss="http://127.0.0.1:1/evil")
    start_hub_if(bed, where)
    result = bed.connect(mcp.url, "bed")
    assert bed.browser.wait_done(1)[0]["callback"]["query"]["iss"] == "http://127.0.0.1:1/evil"
    assert_refused(bed, result, "bed", r"(?i)\biss\b|issuer")
    assert not authz.token_events("authorization_code"), "no code is exchanged after a wrong `iss` (RFC 9207)"


@pytest.mark.parametrize("pkce", ["absent", "plain"])
def test_metadata_without_s256_is_refused_before_the_browser(bed: Bed, where: str, pkce: str) -> None:
    authz, mcp = bed.servers()
    authz.control(pkce_metadata=pkce)
    start_hub_if(bed, where)
    result = bed.connect(mcp.url, "bed")
    assert_refused(bed, result, "bed", r"S256")
    assert bed.browser.records() == [], "the browser is never opened"
    assert not authz.events("authorization")


def test_denied_consent_is_refused(bed: Bed, where: str) -> None:
    authz, mcp = bed.servers()
    bed.use_browser(mode="deny")
    start_hub_if(bed, where)
    result = bed.connect(mcp.url, "bed")
    assert bed.browser.wait_done(1)[0]["outcome"] == "denied"
    assert_refused(bed, result, "bed", r"(?i)access_denied|denied")
    assert not authz.token_events("authorization_code")


def test_missing_callback_times_out_and_closes_the_listener(bed: Bed, where: str) -> None:
    authz, mcp = bed.servers()
    bed.use_browser(mode="no-callback")
    bed.sandbox.env["PATCHBAY_SIGNIN_TIMEOUT"] = str(SHORT_SIGN_IN_TIMEOUT)
    start_hub_if(bed, where)
    started = time.monotonic()
    result = bed.connect(mcp.url, "bed")
    elapsed = time.monotonic() - started
    assert_refused(bed, result, "bed", r"(?i)timed? ?out")
    assert SHORT_SIGN_IN_TIMEOUT - 0.5 <= elapsed < SHORT_SIGN_IN_TIMEOUT + 15, f"gave up after {elapsed:.1f} s"
    [invoked] = bed.browser.records("invoked")
    port = redirect_port(invoked["url"])
    wait_until(lambda: port_closed(port), 5, f"the redirect listener on port {port} is closed after the timeout")


def test_token_endpoint_error_at_the_code_exchange_is_refused(bed: Bed, where: str) -> None:
    authz, mcp = bed.servers()
    authz.fail_token_requests(1, "invalid_grant", grant_type="authorization_code")
    start_hub_if(bed, where)
    result = bed.connect(mcp.url, "bed")
    assert_refused(bed, result, "bed", r"invalid_grant")
    [exchange] = authz.token_events("authorization_code")
    assert exchange["injected"] and exchange["status"] == 400, exchange


@pytest.mark.parametrize("endpoint", ["javascript:alert(document.cookie)//", "file:///etc/passwd"], ids=["javascript", "file"])
def test_authorization_url_that_is_not_http_is_never_opened(bed: Bed, where: str, endpoint: str) -> None:
    """A hostile authorization server (the bed's `metadata_override` switch) advertises a
    `javascript:` or `file:` authorization endpoint. Patchbay must refuse before it runs $BROWSER:
    the scripted browser would refuse it too, but it logs every invocation, so the empty log
    proves Patchbay never handed the URL over."""
    authz, mcp = bed.servers()
    authz.control(metadata_override={"authorization_endpoint": endpoint})
    start_hub_if(bed, where)
    result = bed.connect(mcp.url, "bed")
    scheme = endpoint.split(":", 1)[0]
    assert_refused(bed, result, "bed", rf"(?i)\b{scheme}:")
    assert bed.browser.records() == [], "$BROWSER was never run"
    assert not authz.events("authorization")


def test_hub_stops_cleanly_after_a_failed_sign_in(bed: Bed) -> None:
    """A sign-in that failed inside the hub leaves nothing behind that keeps the hub from
    stopping: SIGTERM ends it with exit 0 (the harness would SIGKILL it after 10 s)."""
    _authz, mcp = bed.servers()
    bed.use_browser(mode="deny")
    hub = bed.start_hub()
    assert bed.connect(mcp.url, "bed").returncode == 1
    assert bed.events is not None
    bed.events.close()
    started = time.monotonic()
    code = hub.stop()
    assert code == 0, f"the hub exited {code} {time.monotonic() - started:.1f} s after SIGTERM:\n{hub.stderr_tail()}"


# --- a static credential ----------------------------------------------------------------------


async def test_static_header_is_kept_in_the_keychain_and_sent_on_every_request(bed: Bed) -> None:
    secret = f"pb-static-{uuid.uuid4().hex}"
    bed.ledger.secret(secret, "the static header value")
    keyed = bed.start_resource(auth="static", static_secret=secret, static_header="X-Api-Key")
    hub = bed.start_hub()
    connected = bed.connect(keyed.url, "keyed", "--header", "X-Api-Key", input=secret + "\n")
    assert connected.returncode == 0, connected.stderr
    assert bed.saved_servers()["keyed"]["url"] == keyed.url
    assert secret not in bed.sandbox.config_file.read_text(), "the header value is not in the config"
    header = bed.keychain.record("server/keyed/header")
    assert header is not None and header["name"].lower() == "x-api-key" and header["value"] == secret, (
        f"the keychain holds the header: {bed.keychain.accounts()}"
    )

    await anyio.to_thread.run_sync(lambda: wait_server_running(bed.sandbox, "keyed", timeout=READY_TIMEOUT))
    async with mcp_session(hub.url, hub.secret) as session:
        who = json.loads(text_of(await session.call_tool("keyed__whoami", {})))
    assert who == {"mode": "static", "header": "x-api-key"}, who
    requests = keyed.requests()
    assert requests and {r["auth"] for r in requests} == {"static_ok"}, (
        f"the header is on every request: {[(r['method'], r.get('rpc'), r['auth']) for r in requests]}"
    )
    row = bed.token_row("keyed")
    assert row["state"] == "header" and row["refresh_token"] is False and row["expires_at"] is None, row
    assert bed.browser.records() == [], "no browser for a static credential"


# --- concurrency and step-up ------------------------------------------------------------------


async def test_two_sign_ins_at_once_do_not_collide(bed: Bed) -> None:
    authz, first = bed.servers()
    second = bed.start_resource(authz=authz, challenge_scope="mcp:tools")
    hub = bed.start_hub()
    assert bed.events is not None

    def both() -> list[subprocess.CompletedProcess[str]]:
        with ThreadPoolExecutor(2) as pool:
            return list(pool.map(lambda job: bed.connect(*job), [(first.url, "one"), (second.url, "two")]))

    for result in await anyio.to_thread.run_sync(both):
        assert result.returncode == 0, result.stderr
    flows = {name: bed.events.sign_in(name) for name in ("one", "two")}
    for events in flows.values():
        assert_one_clean_flow(events)
    assert flows["one"][0]["flow"] != flows["two"][0]["flow"], "two flows, two ids"
    order = [(e["server"], e["stage"]) for e in bed.events.of("sign_in")]
    first_done = min(order.index((name, "done")) for name in ("one", "two"))
    assert all(order.index((name, "waiting_for_browser")) < first_done for name in ("one", "two")), (
        f"the two flows overlapped (both waited for the browser before either finished): {order}"
    )

    runs = bed.browser.wait_done(2)
    assert [r["outcome"] for r in runs] == ["called_back", "called_back"], runs
    assert len({redirect_port(r["auth_url"]) for r in runs}) == 2, "one redirect listener per flow"
    assert {a["resource"] for a in authz.events("authorization")} == {first.url, second.url}
    one, two = bed.keychain.tokens("one"), bed.keychain.tokens("two")
    assert one is not None and two is not None
    assert (one["resource"], two["resource"]) == (first.url, second.url), "each server keeps its own tokens"
    assert one["access_token"] != two["access_token"]

    await anyio.to_thread.run_sync(lambda: wait_server_running(bed.sandbox, "one", "two", timeout=READY_TIMEOUT))
    async with mcp_session(hub.url, hub.secret) as session:
        for name, server in (("one", first), ("two", second)):
            who = json.loads(text_of(await session.call_tool(f"{name}__whoami", {})))
            assert who["aud"] == server.url, f"`{name}` is called with a token for its own server: {who}"
    for name in ("one", "two"):  # two registrations raced at one issuer: each grant still refreshes
        refreshed = bed.cli("tokens", "refresh", name)
        assert refreshed.returncode == 0, f"`tokens refresh {name}`:\n{refreshed.stderr}"
    assert [e["status"] for e in authz.refreshes(ok=None)] == [200, 200]


async def test_insufficient_scope_reauthorizes_with_the_union_and_retries_the_call(bed: Bed) -> None:
    authz, mcp = bed.servers()
    hub = bed.start_hub()
    bed.connected(mcp.url, "bed")
    await anyio.to_thread.run_sync(lambda: wait_server_running(bed.sandbox, "bed", timeout=READY_TIMEOUT))

    async with mcp_session(hub.url, hub.secret) as session:
        report = text_of(await session.call_tool("bed__admin_report", {}))
        assert report.startswith("admin report"), report
        assert text_of(await session.call_tool("bed__echo", {"text": "still fine"})) == "still fine"
    [denied] = mcp.requests("insufficient_scope")
    assert denied["status"] == 403 and denied["tool"] == "admin_report", denied
    assert len(mcp.tool_calls("admin_report")) == 1, "the call was retried once and ran"
    first, second = (scopes_of(a["scope"]) for a in authz.events("authorization"))
    assert "mcp:tools" in first and "mcp:admin" not in first, first
    assert {"mcp:tools", "mcp:admin"} <= second, f"the step-up asks for the union of scopes: {second}"
    assert len(bed.browser.records("invoked")) == 2, "the hub opened the browser again"
    stored = bed.keychain.tokens("bed")
    assert stored is not None and {"mcp:tools", "mcp:admin"} <= set(stored["scopes"]), stored["scopes"]
    assert {"mcp:tools", "mcp:admin"} <= set(bed.token_row("bed")["scopes"])


async def test_step_up_gives_up_after_two_reauthorizations(bed: Bed) -> None:
    authz, mcp = bed.servers()
    hub = bed.start_hub()
    bed.connected(mcp.url, "bed")
    await anyio.to_thread.run_sync(lambda: wait_server_running(bed.sandbox, "bed", timeout=READY_TIMEOUT))
    authz.control(downscope="mcp:tools")  # whatever is asked for, `mcp:admin` is never granted

    async with mcp_session(hub.url, hub.secret) as session:
        try:
            answer = await session.call_tool("bed__admin_report", {})
            failure = "".join(getattr(c, "text", "") for c in answer.content) if answer.is_error else None
        except MCPError as e:
            failure = str(e)
    assert failure is not None, "the call fails once the scope cannot be had"
    assert re.search(r"(?i)scope", failure), f"the error names the missing scope: {failure}"
    reauthorizations = len(authz.events("authorization")) - 1
    assert 1 <= reauthorizations <= 2, f"re-authorized {reauthorizations} times; at most twice"
    assert len(bed.browser.records("invoked")) == 1 + reauthorizations
    assert not mcp.tool_calls("admin_report")


async def test_a_hub_frozen_past_its_token_refreshes_once_when_it_wakes_and_presents_no_expired_token(
    bed: Bed,
) -> None:
    """Sleep and wake, as a laptop lid does it to a process: the hub stopped (SIGSTOP) until
    well past its access token's life, then resumed. Its timers all fire at once on waking
    (the remote server's keepalive among them); the next call still gets through, after
    exactly one refresh at the provider, and the server never sees the expired token."""
    authz, mcp = bed.servers(access_token_ttl=SHORT_TTL)
    authz.control(refresh_access_token_ttl=LONG_TTL)
    hub = bed.start_hub()
    bed.connected(mcp.url, "bed")
    [exchange] = authz.token_events("authorization_code")
    await anyio.to_thread.run_sync(lambda: wait_server_running(bed.sandbox, "bed", timeout=READY_TIMEOUT))
    os.kill(hub.pid, signal.SIGSTOP)
    try:
        await expiry_passed(exchange)
        await anyio.sleep(2 * SHORT_TTL)  # asleep well past the token's life
    finally:
        os.kill(hub.pid, signal.SIGCONT)

    async with mcp_session(hub.url, hub.secret) as session:
        assert text_of(await session.call_tool("bed__echo", {"text": "awake"})) == "awake"
    refreshes = authz.refreshes(ok=None)
    assert [e["status"] for e in refreshes] == [200], f"one refresh on waking: {refreshes}"
    assert refreshes[0]["presented_fp"] == exchange["refresh_fp"], refreshes
    echoes = mcp.wait_event("request", auth="ok", tool="echo")
    assert [e["fp"] for e in echoes] == [refreshes[0]["issued_fp"]], "the call carried the refreshed token"
    presented = [e for e in mcp.requests() if e.get("fp") == exchange["issued_fp"] and e["auth"] != "ok"]
    assert presented == [], f"the expired token was presented: {presented}"
    expired = [e for e in mcp.requests() if e["auth"] == "invalid"]
    assert expired == [], f"no request with a token the server takes for expired: {expired}"
