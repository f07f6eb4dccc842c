"""Drive the `patchbay` binary and the real MCP peers from end-to-end tests.

Every process started here runs in its own process group and is stopped by pid; every wait is
bounded; every server listens on 127.0.0.1. A `Sandbox` is one isolated installation: its own
PATCHBAY_HOME and a fake HOME (plus XDG dirs), so nothing touches the real home directory.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

import anyio
import httpx2
import pytest
from mcp import Client, ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

REPO = Path(__file__).resolve().parents[2]
PEERS = Path(os.environ.get("PATCHBAY_PEERS", REPO / ".cache" / "peers")).resolve()

CLI_TIMEOUT = 30.0
HUB_START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
MCP_CONNECT_TIMEOUT = 20.0
MCP_READ_TIMEOUT = 30.0
POLL_INTERVAL = 0.05


def _peer(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"missing test peer `{path}`: run `bash scripts/deps.sh` first", pytrace=False)
    return path


def everything_cmd() -> list[str]:
    """The reference server `@modelcontextprotocol/server-everything` over stdio."""
    entry = PEERS / "node_modules/@modelcontextprotocol/server-everything/dist/index.js"
    return ["node", str(_peer(entry)), "stdio"]


APP_SERVERS = {"vanilla": "server-basic-vanillajs", "preact": "server-basic-preact"}


WEATHER_BUNDLE = Path(__file__).parent / "servers" / "weather-bundle"


def pack_bundle(out: Path) -> Path:
    """The test bundle `servers/weather-bundle` packed by the real packer (`mcpb pack` from npm
    `@anthropic-ai/mcpb`) into `out/weather-bundle.mcpb`, self-contained: the MCP SDK its server
    imports, and that SDK's dependencies, copied from the test peers into its `node_modules`."""
    packer = _peer(PEERS / "node_modules/.bin/mcpb")
    source = out / "weather-bundle"
    shutil.copytree(WEATHER_BUNDLE, source)
    modules = PEERS / "node_modules"
    wanted, seen = ["@modelcontextprotocol/sdk"], set()
    while wanted:
        name = wanted.pop()
        manifest = modules / name / "package.json"
        if name in seen or not manifest.exists():
            continue
        seen.add(name)
        shutil.copytree(modules / name, source / "node_modules" / name)
        wanted.extend(json.loads(manifest.read_text()).get("dependencies", {}))
    bundle = out / "weather-bundle.mcpb"
    packed = subprocess.run([str(packer), "pack", str(source), str(bundle)], capture_output=True, text=True, timeout=120)
    assert packed.returncode == 0 and bundle.is_file(), f"mcpb pack failed:\n{packed.stdout}\n{packed.stderr}"
    return bundle


LOOPBACK_ONLY = Path(__file__).parent / "servers" / "loopback_only.cjs"


@contextmanager
def everything_http(root: Path) -> Iterator[str]:
    """server-everything over Streamable HTTP, as a remote server: its URL while it runs. It
    would listen on every interface; `loopback_only.cjs` keeps it on 127.0.0.1."""
    node, entry, _ = everything_cmd()
    port = free_port()
    log_path = root / f"everything-http-{port}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([node, "--require", str(LOOPBACK_ONLY), entry, "streamableHttp"],
                                env={**os.environ, "PORT": str(port)}, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: port_open(port) or proc.poll() is not None, 20, "server-everything listens")
            assert proc.poll() is None, f"server-everything exited: {log_path.read_text()[-2000:]}"
            yield f"http://127.0.0.1:{port}/mcp"
        finally:
            stop_process(proc)


def free_port() -> int:
    """A port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    """Whether something listens on 127.0.0.1:`port`."""
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def app_server_dir(flavour: str) -> Path:
    """Where an MCP Apps example server from npm (`vanilla` or `preact`) is installed."""
    return _peer(PEERS / "node_modules/@modelcontextprotocol" / APP_SERVERS[flavour])


def app_server_cmd(flavour: str) -> list[str]:
    """An MCP Apps example server from npm over stdio; both serve `ui://get-time/mcp-app.html`."""
    return ["node", str(_peer(app_server_dir(flavour) / "dist/index.js")), "--stdio"]


def time_cmd() -> list[str]:
    """The Python reference server `mcp-server-time` over stdio."""
    return [str(_peer(PEERS / "venv/bin/mcp-server-time"))]


def inspector_cmd() -> list[str]:
    """The Inspector's launcher; add `--cli URL --transport http --method tools/list ...`."""
    return [str(_peer(PEERS / "node_modules/.bin/mcp-inspector"))]


def patchbay_bin() -> str:
    """The binary under test, from PATCHBAY_BIN; a missing one fails the test, never skips it."""
    path = os.environ.get("PATCHBAY_BIN")
    if not path:
        pytest.fail("PATCHBAY_BIN is not set: build patchbay and point PATCHBAY_BIN at it", pytrace=False)
    if not os.access(path, os.X_OK):
        pytest.fail(f"PATCHBAY_BIN `{path}` is not an executable file", pytrace=False)
    return str(Path(path).resolve())


# --- processes -----------------------------------------------------------------------------------


def _proc_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def group_members(pgid: int) -> list[int]:
    """Live pids in process group `pgid` (read from /proc, so zombies and races are tolerated)."""
    members = []
    for pid in _proc_pids():
        with suppress(OSError, ValueError, IndexError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(pid)
    return members


def processes_with_env(key: str, value: str) -> list[int]:
    """Live pids (other than this one) whose environment has `key=value`."""
    needle = f"{key}={value}".encode()
    found = []
    for pid in _proc_pids():
        if pid == os.getpid():
            continue
        with suppress(OSError):
            if needle in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                found.append(pid)
    return found


def _pid_alive(pid: int) -> bool:
    with suppress(OSError):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    return False


def kill_pids(pids: Sequence[int], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM each pid, wait (bounded) for them to go, then SIGKILL the rest."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while any(_pid_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL)
        if not any(_pid_alive(pid) for pid in pids):
            return


def stop_process(proc: subprocess.Popen[Any], timeout: float = STOP_TIMEOUT) -> tuple[int, list[int]]:
    """Stop a child started with `start_new_session=True`: SIGTERM by pid, then SIGKILL its group.

    Returns its exit code and the pids of its group that outlived it (then killed).
    """
    if proc.poll() is None:
        with suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout)
    survivors = group_members(proc.pid)
    if survivors:
        kill_pids(survivors, timeout=2.0)
    return proc.returncode, survivors


# --- a patchbay installation ---------------------------------------------------------------------


@dataclass
class Sandbox:
    """One isolated patchbay installation under `root`: PATCHBAY_HOME, a fake HOME, XDG dirs."""

    root: Path
    home: Path = field(init=False)
    user_home: Path = field(init=False)
    env: dict[str, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.home = self.root / "patchbay"
        self.user_home = self.root / "user"
        runtime = self.root / "runtime"
        for d in (self.home, self.user_home, runtime):
            d.mkdir(parents=True, exist_ok=True)
        runtime.chmod(0o700)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PATCHBAY_", "XDG_", "PYTEST_")) and k != "DBUS_SESSION_BUS_ADDRESS"
        }
        env.update(
            PATCHBAY_HOME=str(self.home),
            HOME=str(self.user_home),
            XDG_CONFIG_HOME=str(self.user_home / ".config"),
            XDG_DATA_HOME=str(self.user_home / ".local/share"),
            XDG_STATE_HOME=str(self.user_home / ".local/state"),
            XDG_CACHE_HOME=str(self.user_home / ".cache"),
            XDG_RUNTIME_DIR=str(runtime),
            NO_COLOR="1",
            RUST_BACKTRACE="1",
            npm_config_update_notifier="false",
        )
        self.env = env

    @property
    def config_file(self) -> Path:
        return self.home / "config.toml"

    @property
    def hub_file(self) -> Path:
        return self.home / "state" / "hub.json"

    @property
    def secret_file(self) -> Path:
        return self.home / "state" / "secret"

    def log_file(self, server: str) -> Path:
        return self.home / "logs" / f"{server}.log"

    def run_cli(
        self, *args: str, input: str | None = None, timeout: float = CLI_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """Run `patchbay ARGS...` to completion (bounded); never raises on a non-zero exit."""
        cmd = [patchbay_bin(), *args]
        proc = subprocess.Popen(
            cmd,
            env=self.env,
            cwd=self.root,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            stop_process(proc, timeout=2.0)
            out, err = proc.communicate()
            pytest.fail(f"`{' '.join(cmd)}` did not finish in {timeout} s\nstdout:\n{out}\nstderr:\n{err}")
        return subprocess.CompletedProcess(cmd, proc.returncode, out, err)

    def add_server(
        self,
        name: str,
        cmd: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """`patchbay add NAME --yes [--env K=V]... [--cwd DIR] -- CMD...`, asserting success."""
        args = ["add", name, "--yes"]
        for key, value in (env or {}).items():
            args += ["--env", f"{key}={value}"]
        if cwd is not None:
            args += ["--cwd", str(cwd)]
        result = self.run_cli(*args, "--", *cmd)
        assert result.returncode == 0, f"`patchbay add {name}` failed:\n{result.stderr}"
        return result

    def read_hub_file(self) -> dict[str, Any] | None:
        """The discovery file, or None while it is absent or half-written."""
        with suppress(OSError, ValueError):
            info = json.loads(self.hub_file.read_text())
            if isinstance(info, dict):
                return info
        return None

    def stop_leftovers(self) -> list[int]:
        """Stop every process still running with this sandbox's PATCHBAY_HOME (e.g. a hub the bridge
        started in the background); returns their pids."""
        pids = processes_with_env("PATCHBAY_HOME", str(self.home))
        if pids:
            kill_pids(pids)
        return pids


@dataclass
class Hub:
    """A running hub as its discovery file describes it."""

    sandbox: Sandbox
    info: dict[str, Any]
    secret: str
    proc: subprocess.Popen[bytes] | None = None
    stdout_log: Path | None = None
    stderr_log: Path | None = None
    exit_code: int | None = None
    survivors: list[int] = field(default_factory=list)

    @property
    def home(self) -> Path:
        return self.sandbox.home

    @property
    def url(self) -> str:
        return self.info["url"]

    @property
    def port(self) -> int:
        return self.info["port"]

    @property
    def pid(self) -> int:
        return self.info["pid"]

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}

    def stderr_tail(self, lines: int = 60) -> str:
        if self.stderr_log is None or not self.stderr_log.exists():
            return ""
        return "\n".join(self.stderr_log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> int | None:
        """SIGTERM the hub by pid and wait (bounded); SIGKILL its group if needed. Idempotent.

        Returns the exit code; `survivors` lists pids of its process group that outlived it.
        """
        if self.proc is not None and self.exit_code is None:
            self.exit_code, self.survivors = stop_process(self.proc)
        elif self.proc is None and _pid_alive(self.pid):
            kill_pids([self.pid])
        return self.exit_code


def wait_for_hub(
    sandbox: Sandbox,
    pid: int | None = None,
    proc: subprocess.Popen[Any] | None = None,
    timeout: float = HUB_START_TIMEOUT,
) -> Hub:
    """Poll (bounded) until the discovery file names a live hub (with `pid`, when given)."""
    deadline = time.monotonic() + timeout
    while True:
        info = sandbox.read_hub_file()
        if info and (pid is None or info.get("pid") == pid) and _pid_alive(info.get("pid", -1)):
            secret_file = Path(info.get("secret_file") or sandbox.secret_file)
            with suppress(OSError):
                secret = secret_file.read_text().strip()
                if secret:
                    return Hub(sandbox=sandbox, info=info, secret=secret, proc=proc)
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"hub exited with code {proc.returncode} before writing {sandbox.hub_file}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"no live hub in {sandbox.hub_file} after {timeout} s (last: {info})")
        time.sleep(POLL_INTERVAL)


def start_hub(sandbox: Sandbox, *extra: str, timeout: float = HUB_START_TIMEOUT) -> Hub:
    """Start `patchbay serve --port 0` in the foreground of its own process group; wait until it
    has written its discovery file."""
    n = sum(1 for _ in sandbox.root.glob("hub-*.stderr.log"))
    stdout_log = sandbox.root / f"hub-{n}.stdout.log"
    stderr_log = sandbox.root / f"hub-{n}.stderr.log"
    with stdout_log.open("wb") as out, stderr_log.open("wb") as err:
        proc = subprocess.Popen(
            [patchbay_bin(), "serve", "--port", "0", *extra],
            env=sandbox.env,
            cwd=sandbox.root,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
    try:
        hub = wait_for_hub(sandbox, pid=proc.pid, proc=proc, timeout=timeout)
    except (RuntimeError, TimeoutError) as e:
        stop_process(proc)
        tail = stderr_log.read_text(errors="replace")[-4000:]
        pytest.fail(f"`patchbay serve` did not come up: {e}\nstderr:\n{tail}", pytrace=False)
    hub.stdout_log, hub.stderr_log = stdout_log, stderr_log
    return hub


# --- MCP clients (official Python SDK 2.x) -------------------------------------------------------


@asynccontextmanager
async def mcp_session(
    url: str,
    secret: str | None,
    *,
    headers: Mapping[str, str] | None = None,
    mode: Literal["initialize", "discover", "none"] = "initialize",
    **session_kwargs: Any,
) -> AsyncIterator[ClientSession]:
    """A `ClientSession` over Streamable HTTP with the bearer secret, handshake done.

    `mode`: "initialize" (2025-11-25 handshake), "discover" (stateless 2026-07-28), or "none".
    Extra keyword arguments go to `ClientSession` (message_handler, sampling_callback, ...).
    """
    all_headers = dict(headers or {})
    if secret is not None:
        all_headers.setdefault("Authorization", f"Bearer {secret}")
    session_kwargs.setdefault("read_timeout_seconds", MCP_READ_TIMEOUT)
    timeout = httpx2.Timeout(MCP_CONNECT_TIMEOUT, read=MCP_READ_TIMEOUT * 2)
    with _unwrapped_errors():
        async with (
            httpx2.AsyncClient(headers=all_headers, timeout=timeout) as http,
            streamable_http_client(url, http_client=http) as (read, write),
            ClientSession(read, write, **session_kwargs) as session,
        ):
            await _handshake(session, mode)
            yield session


@asynccontextmanager
async def mcp_client(
    url: str | None,
    secret: str | None,
    *,
    stdio: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    **client_kwargs: Any,
) -> AsyncIterator[Client]:
    """The SDK's high-level `Client` as real 2026-era clients use it: it probes `server/discover`
    (mode "auto") and, on 2026-07-28, drives `input_required` rounds through its callbacks.
    Over Streamable HTTP to `url` with the bearer, or over stdio to the command `stdio`
    (e.g. `patchbay bridge`) with `env`."""
    client_kwargs.setdefault("read_timeout_seconds", MCP_READ_TIMEOUT)
    with _unwrapped_errors():
        if stdio is not None:
            params = StdioServerParameters(command=stdio[0], args=list(stdio[1:]), env=dict(env or {}))
            async with Client(params, **client_kwargs) as client:
                yield client
            return
        assert url is not None
        headers = {"Authorization": f"Bearer {secret}"} if secret is not None else {}
        timeout = httpx2.Timeout(MCP_CONNECT_TIMEOUT, read=MCP_READ_TIMEOUT * 2)
        async with (
            httpx2.AsyncClient(headers=headers, timeout=timeout) as http,
            Client(streamable_http_client(url, http_client=http), **client_kwargs) as client,
        ):
            yield client


@asynccontextmanager
async def mcp_stdio_session(
    cmd: Sequence[str],
    env: Mapping[str, str] | None = None,
    *,
    cwd: str | Path | None = None,
    errlog: TextIO | None = None,
    mode: Literal["initialize", "discover", "none"] = "initialize",
    **session_kwargs: Any,
) -> AsyncIterator[ClientSession]:
    """A `ClientSession` with a child over stdio (e.g. `patchbay bridge`), handshake done.

    The SDK passes the child only HOME, LOGNAME, PATH, SHELL, TERM, USER plus `env`, so pass a
    sandbox's full `env`. On exit the SDK closes stdin, waits 2 s, then SIGTERMs and SIGKILLs the
    child's process group.
    """
    params = StdioServerParameters(command=cmd[0], args=list(cmd[1:]), env=dict(env or {}), cwd=cwd)
    session_kwargs.setdefault("read_timeout_seconds", MCP_READ_TIMEOUT)
    with _unwrapped_errors():
        async with (
            stdio_client(params, errlog=errlog or sys.stderr) as (read, write),
            ClientSession(read, write, **session_kwargs) as session,
        ):
            await _handshake(session, mode)
            yield session


@contextmanager
def _unwrapped_errors() -> Iterator[None]:
    """Re-raise the one error inside the SDK's nested task-group ExceptionGroups (an MCPError, a
    failed assert in the test body), so tests can `pytest.raises` it and failures read plainly."""
    try:
        yield
    except BaseExceptionGroup as group:
        leaves: list[BaseException] = []
        pending: list[BaseException] = [group]
        while pending:
            e = pending.pop()
            if isinstance(e, BaseExceptionGroup):
                pending.extend(e.exceptions)
            else:
                leaves.append(e)
        if len(leaves) != 1 or not isinstance(leaves[0], Exception):
            raise
        raise leaves[0] from group


async def _handshake(session: ClientSession, mode: str) -> None:
    with anyio.fail_after(MCP_CONNECT_TIMEOUT):
        if mode == "initialize":
            await session.initialize()
        elif mode == "discover":
            await session.discover()


# --- small helpers for the hub tests -------------------------------------------------------------


def pid_alive(pid: int) -> bool:
    """Whether `pid` names a live (non-zombie) process."""
    return _pid_alive(pid)


def cmdline(pid: int) -> list[str]:
    """The argv of `pid`, or [] when it is gone."""
    with suppress(OSError):
        return [a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
    return []


def parent_pid(pid: int) -> int | None:
    """The parent of `pid`, or None when it is gone."""
    with suppress(OSError, ValueError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat[stat.rindex(")") + 2 :].split()[1])
    return None


def sandbox_processes(sandbox: Sandbox, needle: str) -> list[int]:
    """Live pids that run with this sandbox's PATCHBAY_HOME and whose argv mentions `needle`."""
    return [
        pid
        for pid in processes_with_env("PATCHBAY_HOME", str(sandbox.home))
        if _pid_alive(pid) and any(needle in arg for arg in cmdline(pid))
    ]


def patchbay_processes(sandbox: Sandbox, subcommand: str) -> list[int]:
    """Live `patchbay SUBCOMMAND` processes (e.g. "serve", "bridge") of this sandbox."""
    name = Path(patchbay_bin()).name
    found = []
    for pid in processes_with_env("PATCHBAY_HOME", str(sandbox.home)):
        argv = cmdline(pid)
        if _pid_alive(pid) and len(argv) >= 2 and Path(argv[0]).name == name and argv[1] == subcommand:
            found.append(pid)
    return found


def http_messages(response: Any) -> list[dict[str, Any]]:
    """The JSON-RPC messages of an MCP POST's answer: one JSON body, or an event stream's."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        lines = response.text.splitlines()
        return [json.loads(line[5:]) for line in lines if line.startswith("data:") and line[5:].strip()]
    return [response.json()]


def wait_until(predicate: Any, timeout: float, message: str, interval: float = POLL_INTERVAL) -> Any:
    """Poll `predicate()` (bounded) until it returns something truthy, and return that; else fail
    the test with `message` and the last value seen."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{message} (waited {timeout} s; last value: {value!r})", pytrace=False)
        time.sleep(interval)


async def await_until(predicate: Any, timeout: float, message: str, interval: float = POLL_INTERVAL) -> Any:
    """`wait_until` for async tests. A plain callable runs in a worker thread so the event loop
    (and the MCP session on it) keeps running; a coroutine function is awaited."""
    deadline = time.monotonic() + timeout
    while True:
        if inspect.iscoroutinefunction(predicate):
            value = await predicate()
        else:
            value = await anyio.to_thread.run_sync(predicate)
            assert not inspect.isawaitable(value), "await_until got an awaitable; pass the coroutine function"
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{message} (waited {timeout} s; last value: {value!r})", pytrace=False)
        await anyio.sleep(interval)


async def arun_cli(sandbox: Sandbox, *args: str, timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """`sandbox.run_cli` from an async test, off the event loop."""
    return await anyio.to_thread.run_sync(lambda: sandbox.run_cli(*args, timeout=timeout))


def cli_json(sandbox: Sandbox, *args: str) -> Any:
    """Run `patchbay ARGS... --json`, assert it succeeded, and return the parsed JSON."""
    result = sandbox.run_cli(*args, "--json")
    assert result.returncode == 0, f"`patchbay {' '.join(args)} --json` exited {result.returncode}:\n{result.stderr}"
    try:
        return json.loads(result.stdout)
    except ValueError as e:
        pytest.fail(f"`patchbay {' '.join(args)} --json` printed no JSON ({e}):\n{result.stdout}", pytrace=False)


def server_status(sandbox: Sandbox, name: str) -> dict[str, Any] | None:
    """The `status --json` entry of server `name`, or None when it is not listed."""
    status = cli_json(sandbox, "status")
    return next((s for s in status["servers"] if s["name"] == name), None)


def wait_server_running(sandbox: Sandbox, *names: str, timeout: float = HUB_START_TIMEOUT) -> dict[str, dict[str, Any]]:
    """Wait (bounded) until every named server is `running` with tools; returns their status."""

    def all_running() -> dict[str, dict[str, Any]] | None:
        status = {s["name"]: s for s in cli_json(sandbox, "status")["servers"]}
        if all(status.get(n, {}).get("state") == "running" and status[n].get("tools") for n in names):
            return {n: status[n] for n in names}
        return None

    return wait_until(all_running, timeout, f"servers {names} never all reached `running` with tools")


def api_get(hub: Hub, path: str, timeout: float = 5.0) -> Any:
    """GET the hub's control API `/api/v1/PATH` with the bearer; returns the parsed JSON."""
    response = httpx2.get(f"http://127.0.0.1:{hub.port}/api/v1/{path}", headers=hub.auth_headers, timeout=timeout)
    assert response.status_code == 200, f"GET /api/v1/{path} -> {response.status_code}: {response.text}"
    return response.json()
