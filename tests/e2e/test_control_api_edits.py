"""The control API's editing routes, the ones the desktop app uses instead of the CLI.

Each route is checked against what the CLI does with the same request: the config file it
writes, the command line it shows, the client file it edits. Every client file lives under the
sandbox's temporary HOME.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import pytest
from patchbay_harness import Hub, Sandbox, api_get, cli_json, everything_cmd, time_cmd, wait_until


def api(hub: Hub, method: str, path: str, body: Any = None, timeout: float = 20.0) -> httpx2.Response:
    return httpx2.request(
        method,
        f"http://127.0.0.1:{hub.port}/api/v1/{path}",
        headers=hub.auth_headers,
        json=body,
        timeout=timeout,
    )


def server_state(hub: Hub, name: str) -> dict[str, Any] | None:
    return next((s for s in api_get(hub, "servers") if s["name"] == name), None)


@pytest.fixture
def hub(sandbox: Sandbox, start_hub: Any) -> Hub:
    sandbox.config_file.write_text("[hub]\nport = 0\n")
    return start_hub()


def test_preview_shows_the_exact_command_and_saves_nothing(sandbox: Sandbox, hub: Hub) -> None:
    body = {
        "name": "time",
        "command": time_cmd()[0],
        "args": ["--local-timezone", "Europe/Paris", "it's"],
        "env": {"GREETING": "hello world"},
    }
    answer = api(hub, "POST", "servers?preview=true", body)
    assert answer.status_code == 200, answer.text
    shown = answer.json()
    assert shown["saved"] is False
    assert shown["command_line"] == (
        f"GREETING='hello world' {time_cmd()[0]} --local-timezone Europe/Paris 'it'\\''s'"
    ), "the preview is the command exactly as a shell would take it, env first"
    assert "time" not in sandbox.config_file.read_text(), "a preview must not touch the config file"

    # The CLI shows the same line for the same server.
    cli = sandbox.run_cli(
        "add", "time", "--env", "GREETING=hello world", "--", *body["command"].split(), *body["args"], input="n\n"
    )
    assert shown["command_line"] in cli.stderr, f"CLI and API must show the same command:\n{cli.stderr}"


def test_add_runs_the_server_and_lists_its_tools_then_remove_stops_it(sandbox: Sandbox, hub: Hub) -> None:
    answer = api(hub, "POST", "servers", {"name": "everything", "command": everything_cmd()[0], "args": everything_cmd()[1:]})
    assert answer.status_code == 201, answer.text
    assert answer.json()["saved"] is True
    assert "[servers.everything]" in sandbox.config_file.read_text()

    wait_until(
        lambda: (s := server_state(hub, "everything")) and s["state"] == "running" and s["tools"],
        30.0,
        "the added server never ran with tools",
    )
    tools = api_get(hub, "servers/everything/tools")
    names = {t["name"] for t in tools}
    assert "everything__echo" in names and all(t["server"] == "everything" for t in tools)

    taken = api(hub, "POST", "servers", {"name": "everything", "command": "true"})
    assert taken.status_code == 422 and "already exists" in taken.json()["error"]

    removed = api(hub, "DELETE", "servers/everything")
    assert removed.status_code == 200, removed.text
    assert "everything" not in sandbox.config_file.read_text()
    wait_until(lambda: server_state(hub, "everything") is None, 15.0, "the removed server is still listed")
    assert api(hub, "DELETE", "servers/everything").status_code == 404
    assert api(hub, "GET", "servers/everything/tools").status_code == 404


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"name": "bad__name", "command": "x"}, "invalid server name"),
        ({"name": "ok", "command": "  "}, "no command given"),
        ({"name": "ok", "command": "x", "env": {"A=B": "1"}}, "not an environment variable name"),
        ({"name": "ok", "command": "x", "cwd": "relative/dir"}, "not an absolute path"),
        ({"name": "ok", "command": "x", "shell": True}, "unknown field"),
    ],
)
def test_add_refuses_what_the_cli_refuses_with_a_readable_error(hub: Hub, body: dict[str, Any], said: str) -> None:
    answer = api(hub, "POST", "servers", body)
    assert answer.status_code in (400, 422), answer.text
    assert said in answer.json()["error"], answer.text


def test_install_uninstall_restore_edit_the_client_files_like_the_cli(sandbox: Sandbox, hub: Hub) -> None:
    claude = sandbox.user_home / ".config/Claude/claude_desktop_config.json"
    claude.parent.mkdir(parents=True)
    claude.write_text(json.dumps({"mcpServers": {"mine": {"command": "mine"}}, "theme": "dark"}, indent=2))

    done = api(hub, "POST", "clients/claude-desktop/install", {})
    assert done.status_code == 200, done.text
    change = done.json()
    assert change["changed"] is True and Path(change["path"]) == claude
    written = json.loads(claude.read_text())
    entry = written["mcpServers"]["patchbay"]
    assert entry["args"] == ["bridge"] and Path(entry["command"]).name == "patchbay"
    assert written["mcpServers"]["mine"] == {"command": "mine"} and written["theme"] == "dark"
    assert "restart" in change["next"].lower() or change["next"]

    again = api(hub, "POST", "clients/claude-desktop/install", {}).json()
    assert again["changed"] is False, "installing twice changes nothing"

    cursor = api(hub, "POST", "clients/cursor/install", {})
    assert cursor.status_code == 200, cursor.text
    cursor_file = sandbox.user_home / ".cursor/mcp.json"
    assert json.loads(cursor_file.read_text())["mcpServers"]["patchbay"]["args"] == ["bridge"]

    rows = {r["id"]: r for r in cli_json(sandbox, "clients")}
    assert rows["claude-desktop"]["entry"] == "intact" and rows["cursor"]["entry"] == "intact"

    gone = api(hub, "POST", "clients/claude-desktop/uninstall")
    assert gone.status_code == 200 and gone.json()["changed"] is True
    assert "patchbay" not in json.loads(claude.read_text())["mcpServers"]

    back = api(hub, "POST", "clients/claude-desktop/restore", {})
    assert back.status_code == 200, back.text
    assert "patchbay" in json.loads(claude.read_text())["mcpServers"], "restore puts back the newest backup"

    assert api(hub, "POST", "clients/no-such-client/install", {}).status_code == 404
    profile = api(hub, "POST", "clients/cursor/install", {"profile": "nope"})
    assert profile.status_code == 404 and "no profile named `nope`" in profile.json()["error"]


def test_install_refuses_an_unparseable_file_and_leaves_it(sandbox: Sandbox, hub: Hub) -> None:
    cursor_file = sandbox.user_home / ".cursor/mcp.json"
    cursor_file.parent.mkdir(parents=True)
    cursor_file.write_bytes(b'{"mcpServers": {')
    answer = api(hub, "POST", "clients/cursor/install", {})
    assert answer.status_code == 422, answer.text
    assert "mcp.json" in answer.json()["error"]
    assert cursor_file.read_bytes() == b'{"mcpServers": {'
