"""The desktop app in a real window: its commands through Tauri's IPC, against a real hub.

Built once by `scripts/app-build` (release); run under Xvfb with a private session bus and
driven through tauri-driver + WebKitWebDriver (see app_harness.py). Screenshots are not taken
yet: WebKitWebDriver's screenshot command does not answer under Xvfb here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from app_harness import CommandError, app_window
from patchbay_harness import Sandbox, everything_cmd, wait_until

pytestmark = pytest.mark.timeout(180)


def test_window_adds_a_stdio_server_sees_it_running_and_installs_into_clients(sandbox: Sandbox) -> None:
    sandbox.config_file.write_text("[hub]\nport = 0\n")
    claude = sandbox.user_home / ".config/Claude/claude_desktop_config.json"
    claude.parent.mkdir(parents=True)
    claude.write_text(json.dumps({"mcpServers": {}, "keep": True}))
    with app_window(sandbox) as window:
        assert window.title() == "Patchbay"
        status = window.command("hub_status")
        assert status["servers"] == [], "the app started a hub of this sandbox, with no servers"
        assert sandbox.read_hub_file()["pid"] == status["pid"], "the app talks to the hub of the discovery file"

        command, *args = everything_cmd()
        preview = window.command("preview_server", name="everything", command=command, args=args, env={"DEBUG": "1"})
        assert preview["command_line"] == f"DEBUG=1 {command} {' '.join(args)}" and preview["saved"] is False

        added = window.command("add_server", name="everything", command=command, args=args, env={"DEBUG": "1"})
        assert added["saved"] is True
        running = wait_until(
            lambda: next(
                (s for s in window.command("list_servers") if s["state"] == "running" and s["tools"]), None
            ),
            60.0,
            "the server added from the window never ran with tools",
        )
        assert running["name"] == "everything"
        tools = window.command("server_tools", name="everything")
        assert "everything__echo" in {t["name"] for t in tools}

        with pytest.raises(CommandError) as refused:
            window.command("add_server", name="everything", command="true")
        assert refused.value.error == {"code": "invalid", "message": "a server named `everything` already exists"}

        for client in ("claude-desktop", "cursor"):
            change = window.command("install_client", id=client)
            assert change["changed"] is True, f"{client}: {change}"
        written = json.loads(claude.read_text())
        assert written["keep"] is True and written["mcpServers"]["patchbay"]["args"] == ["bridge"]
        cursor = json.loads((sandbox.user_home / ".cursor/mcp.json").read_text())
        assert Path(cursor["mcpServers"]["patchbay"]["command"]).name == "patchbay"
        rows = {r["id"]: r for r in window.command("list_clients")}
        assert rows["claude-desktop"]["entry"] == "intact" and rows["cursor"]["entry"] == "intact"

        assert window.command("remove_server", name="everything")["removed"] == "everything"
        assert window.command("list_servers") == []
