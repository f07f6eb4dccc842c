"""One-click install into MCP clients: `patchbay install/uninstall/restore/clients/import`.

Every client file lives under the sandbox's temporary HOME (and XDG dirs), never the real one.
The end-to-end proof is the one a real client gives: read the command Patchbay wrote into the
client's config, start it the way the client would (the Python SDK's stdio client), and call a
tool through the hub.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import tomllib
from contextlib import suppress
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import types
from patchbay_harness import (
    Hub,
    Sandbox,
    api_get,
    cli_json,
    everything_cmd,
    mcp_stdio_session,
    patchbay_bin,
    pid_alive,
    stop_process,
    time_cmd,
    wait_until,
)

DRIFT_TIMEOUT = 15.0


@pytest.fixture
def configured(sandbox: Sandbox) -> Sandbox:
    """server-everything configured, no hub running; a background hub takes a free port."""
    sandbox.config_file.write_text("[hub]\nport = 0\n")
    sandbox.add_server("everything", everything_cmd())
    return sandbox


def client_row(sandbox: Sandbox, client: str) -> dict[str, Any]:
    rows = cli_json(sandbox, "clients")
    return next(r for r in rows if r["id"] == client)


def client_file(sandbox: Sandbox, client: str) -> Path:
    path = Path(client_row(sandbox, client)["path"])
    assert path.is_relative_to(sandbox.user_home), f"{client}'s file {path} must be under the sandbox HOME"
    return path


def install(sandbox: Sandbox, *args: str) -> str:
    result = sandbox.run_cli("install", *args)
    assert result.returncode == 0, f"`patchbay install {' '.join(args)}` failed:\n{result.stderr}"
    return result.stderr


def text_of(result: types.CallToolResult) -> str:
    return "".join(c.text for c in result.content if isinstance(c, types.TextContent))


async def echo_through_entry(entry: dict[str, Any], env: dict[str, str], message: str, how: str) -> None:
    """Run a client entry's command as the client would, with `env`, wait (bounded) for
    `everything__echo` to be listed, and call it with `message`."""
    async with mcp_stdio_session([entry["command"], *entry["args"]], env=env) as session:
        seen: set[str] = set()
        for _ in range(100):
            seen = {t.name for t in (await session.list_tools()).tools}
            if "everything__echo" in seen:
                break
        assert "everything__echo" in seen, f"tools through {how}: {sorted(seen)}"
        echoed = await session.call_tool("everything__echo", {"message": message})
        assert text_of(echoed) == f"Echo: {message}", echoed


def stop_background_hub(sandbox: Sandbox) -> None:
    info = sandbox.read_hub_file()
    if info and pid_alive(info["pid"]):
        os.kill(info["pid"], signal.SIGTERM)
        wait_until(lambda: not pid_alive(info["pid"]), 10, "the background hub stops on SIGTERM")


@pytest.mark.anyio
@pytest.mark.timeout(120)
@pytest.mark.parametrize("client", ["claude-desktop", "cursor"])
async def test_written_entry_starts_the_bridge_and_reaches_a_tool(configured: Sandbox, client: str) -> None:
    sandbox = configured
    told = install(sandbox, client)
    assert "next:" in told and ("restart" in told or "refresh" in told or "quit" in told), told

    path = client_file(sandbox, client)
    entry = json.loads(path.read_text())["mcpServers"]["patchbay"]
    assert entry["command"] == patchbay_bin(), f"the entry runs this patchbay by absolute path: {entry}"
    assert entry["args"] == ["bridge"], entry
    secret_words = [sandbox.secret_file.read_text().strip()] if sandbox.secret_file.exists() else []
    assert not any(w in path.read_text() for w in secret_words), "the bearer is never in a client's file"

    # Start exactly what the client would: the entry's command, args and env. PATCHBAY_HOME is
    # taken out of the test's env, so only the entry's own env can point the bridge at this home.
    env = {k: v for k, v in sandbox.env.items() if k != "PATCHBAY_HOME"}
    env.update(entry.get("env", {}))
    assert env.get("PATCHBAY_HOME") == str(sandbox.home), f"the entry carries PATCHBAY_HOME: {entry}"
    try:
        await echo_through_entry(entry, env, f"via {client}", "the installed entry")
    finally:
        stop_background_hub(sandbox)

    row = client_row(sandbox, client)
    assert row["installed"] and row["entry"] == "intact" and row["mode"] == "bridge", row


def test_install_twice_changes_nothing_and_uninstall_keeps_other_servers(sandbox: Sandbox) -> None:
    cursor = sandbox.user_home / ".cursor" / "mcp.json"
    cursor.parent.mkdir(parents=True)
    original = {"mcpServers": {"time": {"command": time_cmd()[0], "args": []}}, "theme": "dark"}
    cursor.write_text(json.dumps(original, indent=2))
    install(sandbox, "cursor")
    once = cursor.read_bytes()
    again = sandbox.run_cli("install", "cursor")
    assert again.returncode == 0 and "nothing changed" in again.stderr, again.stderr
    assert cursor.read_bytes() == once, "a second install writes nothing"

    result = sandbox.run_cli("uninstall", "cursor")
    assert result.returncode == 0, result.stderr
    assert json.loads(cursor.read_text()) == original, "uninstall removes only our entry"
    backups = cli_json(sandbox, "restore", "cursor", "--list")
    assert len(backups) == 2, f"one backup per changing command: {backups}"

    restored = sandbox.run_cli("restore", "cursor")
    assert restored.returncode == 0, restored.stderr
    assert cursor.read_bytes() == once, "restore puts back the newest backup (taken before uninstall)"


def test_unparseable_client_file_is_refused_with_line_and_column(sandbox: Sandbox) -> None:
    claude = sandbox.user_home / ".config" / "Claude" / "claude_desktop_config.json"
    claude.parent.mkdir(parents=True)
    broken = b'{\n  "mcpServers": {\n    "a": {"command": "x",}\n  }\n}\n'
    claude.write_bytes(broken)
    result = sandbox.run_cli("install", "claude-desktop")
    assert result.returncode == 3, f"a config error exits 3: {result.returncode}\n{result.stderr}"
    assert f"error: {claude}:3:" in result.stderr, result.stderr
    assert "hint:" in result.stderr, result.stderr
    assert claude.read_bytes() == broken, "the file is byte-for-byte unchanged"


def test_direct_is_refused_where_the_secret_would_have_to_be_written(sandbox: Sandbox, hub: Hub) -> None:
    refused = sandbox.run_cli("install", "claude-desktop", "--direct")
    assert refused.returncode == 1 and "only accepts stdio" in refused.stderr, refused.stderr

    # A fixed port is what a URL entry needs (this hub runs on another; nothing connects here).
    sandbox.config_file.write_text("[hub]\nport = 45977\n")
    told = install(sandbox, "cursor", "--direct")
    assert "PATCHBAY_BEARER" in told and hub.secret not in told, told
    written = client_file(sandbox, "cursor").read_text()
    assert hub.secret not in written, "the bearer is never written into a client's file"
    entry = json.loads(written)["mcpServers"]["patchbay"]
    assert entry["url"] == "http://127.0.0.1:45977/mcp", entry
    assert entry["headers"]["Authorization"] == "Bearer ${env:PATCHBAY_BEARER}", entry
    listing = sandbox.run_cli("clients", "--json")
    assert hub.secret not in listing.stdout + listing.stderr


def test_import_offers_each_server_with_its_exact_command(sandbox: Sandbox) -> None:
    cursor = sandbox.user_home / ".cursor" / "mcp.json"
    cursor.parent.mkdir(parents=True)
    cmd = time_cmd()
    cursor.write_text(
        json.dumps(
            {
                "mcpServers": {
                    "time": {"command": cmd[0], "args": ["--local-timezone", "UTC"]},
                    "web": {"url": "https://mcp.example.com/mcp"},
                }
            }
        )
    )
    declined = sandbox.run_cli("import", "cursor")
    assert declined.returncode == 7, f"no terminal and no --yes: declined\n{declined.stderr}"
    assert f"{cmd[0]} --local-timezone UTC" in declined.stderr, declined.stderr
    result = sandbox.run_cli("import", "cursor", "--yes")
    assert result.returncode == 0, result.stderr
    assert "skipping `web`" in result.stderr, result.stderr
    listed = {s["name"]: s for s in cli_json(sandbox, "list")}
    assert listed["time"]["command"] == cmd[0] and listed["time"]["args"] == ["--local-timezone", "UTC"], listed


def _watch_events(
    hub: Hub, found: list[dict[str, Any]], subscribed: threading.Event, stop: threading.Event, client: str
) -> None:
    with httpx2.stream(
        "GET", f"http://127.0.0.1:{hub.port}/api/v1/events", headers=hub.auth_headers, timeout=DRIFT_TIMEOUT * 2
    ) as response:
        assert response.status_code == 200, response.status_code
        subscribed.set()
        kind = None
        for line in response.iter_lines():
            if stop.is_set():
                return
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and kind == "client_drift":
                event = json.loads(line.split(":", 1)[1])
                if event["client"] == client:
                    found.append(event)
                    return


@pytest.mark.timeout(90)
def test_dropped_entry_is_reported_announced_and_repaired(sandbox: Sandbox, start_hub: Any) -> None:
    install(sandbox, "claude-desktop")
    claude = client_file(sandbox, "claude-desktop")
    hub = start_hub()
    assert next(r for r in api_get(hub, "clients") if r["id"] == "claude-desktop")["entry"] == "intact"

    found: list[dict[str, Any]] = []
    subscribed, stop = threading.Event(), threading.Event()
    watcher = threading.Thread(
        target=_watch_events, args=(hub, found, subscribed, stop, "claude-desktop"), daemon=True
    )
    watcher.start()
    assert subscribed.wait(10), "the event stream answers"
    # What Claude Desktop has been seen to do: rewrite its file without `mcpServers`.
    claude.write_text('{\n  "globalShortcut": "Ctrl+Space"\n}\n')
    watcher.join(DRIFT_TIMEOUT)
    stop.set()
    assert found, "the hub announces a `client_drift` event when our entry goes missing"
    assert found[0]["client"] == "claude-desktop" and found[0]["entry"] == "missing", found

    assert client_row(sandbox, "claude-desktop")["entry"] == "missing"
    assert next(r for r in api_get(hub, "clients") if r["id"] == "claude-desktop")["entry"] == "missing"
    human = sandbox.run_cli("clients")
    assert "patchbay install claude-desktop" in human.stderr, human.stderr

    repaired = install(sandbox, "claude-desktop")
    assert "repaired" in repaired, repaired
    written = json.loads(claude.read_text())
    assert written["globalShortcut"] == "Ctrl+Space" and "patchbay" in written["mcpServers"], written
    assert client_row(sandbox, "claude-desktop")["entry"] == "intact"


@pytest.mark.timeout(90)
def test_client_installed_while_the_hub_runs_is_watched_too(sandbox: Sandbox, hub: Hub) -> None:
    install(sandbox, "cursor")
    cursor = client_file(sandbox, "cursor")
    found: list[dict[str, Any]] = []
    subscribed, stop = threading.Event(), threading.Event()
    watcher = threading.Thread(target=_watch_events, args=(hub, found, subscribed, stop, "cursor"), daemon=True)
    watcher.start()
    assert subscribed.wait(10), "the event stream answers"
    # The hub picks up the new install record, then watches Cursor's directory; until it does,
    # a rewrite may go unseen, so rewrite (bounded) until the event comes.
    for attempt in range(10):
        cursor.write_text(json.dumps({"mcpServers": {}, "attempt": attempt}))
        watcher.join(1.5)
        if found:
            break
    stop.set()
    assert found and found[0]["entry"] == "missing", f"no `client_drift` for cursor: {found}"


# --- entries that survive a stripped environment ------------------------------------------------

MOVED_XDG = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME")


def entry_of(path: Path, client: str) -> dict[str, Any]:
    if client == "codex":
        return tomllib.loads(path.read_text())["mcp_servers"]["patchbay"]
    return json.loads(path.read_text())["mcpServers"]["patchbay"]


@pytest.mark.anyio
@pytest.mark.timeout(150)
@pytest.mark.parametrize("client", ["codex", "claude-desktop"])
async def test_entry_reaches_the_same_hub_from_a_stripped_environment(sandbox: Sandbox, client: str) -> None:
    """Patchbay's files under moved XDG directories (no PATCHBAY_HOME); the client starts the
    entry the way Codex and Claude Desktop do, with only HOME, PATH and USER plus the entry's
    own env. The bridge must reach the hub already running there, not start a second, empty one
    under the default directories."""
    moved = sandbox.user_home / "elsewhere"
    sandbox.env.pop("PATCHBAY_HOME")
    for name in MOVED_XDG:
        sandbox.env[name] = str(moved / name.lower())
    config = moved / "xdg_config_home" / "patchbay" / "config.toml"
    state = moved / "xdg_state_home" / "patchbay"
    config.parent.mkdir(parents=True)
    config.write_text("[hub]\nport = 0\n")
    sandbox.add_server("everything", everything_cmd())
    assert config.read_text().count("everything") >= 1, "the server went into the moved config"

    errors = (sandbox.root / "hub.stderr.log").open("wb")
    hub = subprocess.Popen(
        [patchbay_bin(), "serve"],
        env=sandbox.env,
        cwd=sandbox.root,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=errors,
        start_new_session=True,
    )
    default_state = sandbox.user_home / ".local" / "state" / "patchbay"
    try:
        wait_until(lambda: (state / "hub.json").exists(), 20, "the hub publishes under the moved XDG_STATE_HOME")
        info = json.loads((state / "hub.json").read_text())
        assert info["pid"] == hub.pid, info

        install(sandbox, client)
        path = client_file(sandbox, client)
        entry = entry_of(path, client)
        assert entry["command"] == patchbay_bin() and entry["args"] == ["bridge"], entry
        assert entry.get("env") == {name: sandbox.env[name] for name in MOVED_XDG}, (
            f"the entry carries what locates Patchbay's files: {entry}"
        )
        assert client_row(sandbox, client)["entry"] == "intact"

        # What the client gives its servers: HOME, PATH, USER, and the entry's env.
        stripped = {k: sandbox.env[k] for k in ("HOME", "PATH") if k in sandbox.env}
        stripped["USER"] = sandbox.env.get("USER", "patchbay-test")
        stripped.update(entry.get("env", {}))
        await echo_through_entry(entry, stripped, f"stripped {client}", "the entry from a stripped env")

        assert json.loads((state / "hub.json").read_text())["pid"] == hub.pid, "still the same hub"
        assert not (default_state / "hub.json").exists(), "no second hub under the default directories"
        assert not default_state.exists(), f"nothing written to the default state dir: {list(default_state.iterdir())}"
    finally:
        second = default_state / "hub.json"
        if second.exists():
            with suppress(ProcessLookupError, ValueError, KeyError):
                os.kill(json.loads(second.read_text())["pid"], signal.SIGTERM)
        stop_process(hub)
        errors.close()


def test_old_entry_without_the_locating_env_is_reported_and_repaired(sandbox: Sandbox) -> None:
    """An entry written before Patchbay's files moved (or by an older Patchbay) would start a
    second hub from a stripped environment: it is shown as changed, and install repairs it."""
    sandbox.env.pop("PATCHBAY_HOME")
    sandbox.env["XDG_STATE_HOME"] = str(sandbox.root / "moved-state")
    install(sandbox, "cursor")
    cursor = client_file(sandbox, "cursor")
    written = json.loads(cursor.read_text())
    entry = written["mcpServers"]["patchbay"]
    assert entry["env"] == {"XDG_STATE_HOME": sandbox.env["XDG_STATE_HOME"]}, entry
    # The old shape, plus a variable of the user's own.
    entry["env"] = {"PATCHBAY_LOG": "debug"}
    cursor.write_text(json.dumps(written, indent=2))
    assert client_row(sandbox, "cursor")["entry"] == "changed"
    repaired = install(sandbox, "cursor")
    assert "repaired" in repaired, repaired
    entry = json.loads(cursor.read_text())["mcpServers"]["patchbay"]
    assert entry["env"] == {"PATCHBAY_LOG": "debug", "XDG_STATE_HOME": sandbox.env["XDG_STATE_HOME"]}, entry
    assert client_row(sandbox, "cursor")["entry"] == "intact"


GEMINI_SETTINGS = """// Gemini CLI settings
{
  /* how it looks */
  "theme": "GitHub", // my favourite
  "mcpServers": {
    // the time server
    "time": { "command": "uvx", "args": ["mcp-server-time"] }
  }
}
"""


def test_gemini_settings_with_comments_are_installed_and_uninstalled(sandbox: Sandbox) -> None:
    settings = sandbox.user_home / ".gemini" / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text(GEMINI_SETTINGS)
    install(sandbox, "gemini-cli")
    written = settings.read_text()
    for line in GEMINI_SETTINGS.splitlines():
        assert line.rstrip(",") in written, f"line {line!r} kept:\n{written}"
    assert '"patchbay"' in written and patchbay_bin() in written, written
    assert client_row(sandbox, "gemini-cli")["entry"] == "intact"
    result = sandbox.run_cli("uninstall", "gemini-cli")
    assert result.returncode == 0, result.stderr
    assert settings.read_text() == GEMINI_SETTINGS, "uninstall gives the file back byte for byte"
