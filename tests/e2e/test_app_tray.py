"""The desktop app's tray menu, read and clicked over D-Bus as a desktop shell does.

The app runs with only its tray (`--tray`) on a private X display and session bus (with an
unlocked GNOME Keyring) from app_harness.py. The test's StatusNotifierWatcher (tray_bus.py) owns
`org.kde.StatusNotifierWatcher` on that bus before the app starts, so the app's tray registers
with it; the menu is then read with `com.canonical.dbusmenu.GetLayout` and items are clicked with
its `Event` method. Everything the menu says is checked against the hub the app started (its CLI,
its control API), and every click against what it should change: the provider's revocation and
introspection for "Revoke token", files in the sandbox's home for "Start at login" and the
installs, the processes for "Open Patchbay" (the window's web process) and the two Quit items.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from app_harness import Desktop, app_process, desktop, log_tail
from oauth_bed import RS_CLIENT_ID, AuthServer, ResourceServer, ScriptedBrowser, fingerprint
from patchbay_harness import (
    Hub,
    Sandbox,
    cli_json,
    parent_pid,
    pid_alive,
    sandbox_processes,
    time_cmd,
    wait_for_hub,
    wait_until,
)
from tray_bus import DBusCallError, Layout, MenuNode, StatusNotifierHost, TrayItem

pytestmark = pytest.mark.timeout(180)

REGISTER_TIMEOUT = 30.0  # the app starts and its tray registers with the watcher
MENU_TIMEOUT = 45.0  # a change in the hub shows in the menu (a server starting, a crash noticed)
SIGN_IN_TIMEOUT = 60.0  # `patchbay connect` or "Sign in again" through the scripted browser
EXIT_TIMEOUT = 15.0
SETTLE = 2.0  # long enough for the app to read the hub after a click and change its menu
FIXED_ITEMS = [
    "----",
    "Install into Claude Desktop",
    "Install into Cursor",
    "----",
    "Open Patchbay",
    "Start at login",
    "Check for updates…",
    "----",
    "Quit",
    "Quit Patchbay and stop the hub",
]
CHUNK_HEAD = b"patchbay-chunked:v1:"  # crates/patchbay-core/src/vault/chunk.rs


@dataclass
class TrayApp:
    """The app under test with its tray item, on `desk`."""

    sandbox: Sandbox
    desk: Desktop
    host: StatusNotifierHost
    proc: subprocess.Popen[bytes]
    item: TrayItem

    def log(self) -> str:
        return "the app's log:\n" + log_tail(self.sandbox.root / "app.log")

    def wait_menu(self, label: str, timeout: float = MENU_TIMEOUT, why: str = "") -> tuple[Layout, MenuNode]:
        """The menu once it has an item labelled `label` (a `*` at the end: label starts so)."""
        layout = self.item.wait_layout(lambda l: l.find(label), timeout, why or f"the tray menu never showed `{label}`")
        return layout, layout.item(label)

    def click(self, label: str) -> Layout:
        """Click the item labelled `label` in the menu as it is now; returns the menu clicked in.

        The app replaces its menu when what it shows changes; a click that reached the menu
        just after (its item id gone, so it did nothing) is made again on the new menu, as a
        user opens the menu again."""
        deadline = time.monotonic() + MENU_TIMEOUT
        while True:
            layout = self.item.layout()
            node = layout.item(label)
            assert node.enabled, f"`{label}` is disabled: a shell would not let it be clicked\n{layout}"
            try:
                self.item.click(node)
                return layout
            except DBusCallError as e:
                if "does not refer to a menu item" not in str(e) or time.monotonic() > deadline:
                    raise

    def wait_exit(self, timeout: float = EXIT_TIMEOUT) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the app still runs {timeout} s after the click\n{self.log()}", pytrace=False)


@contextmanager
def tray_app(sandbox: Sandbox, env: dict[str, str] | None = None, app: str | None = None) -> Iterator[TrayApp]:
    """The app started with `--tray` on its own desktop, the test's watcher there first; yields
    once its tray item registered. The sandbox's CLI uses the same bus (and so the keyring).
    `app` runs another build than PATCHBAY_APP's."""
    with desktop(sandbox) as desk, StatusNotifierHost(desk.bus) as host:
        sandbox.env["DBUS_SESSION_BUS_ADDRESS"] = desk.bus
        with app_process(sandbox, "--tray", desk=desk, env=env, app=app) as proc:
            item = host.wait_item(REGISTER_TIMEOUT, lambda: f"the app's log:\n{log_tail(sandbox.root / 'app.log')}")
            yield TrayApp(sandbox, desk, host, proc, item)


def server_line(status: dict[str, Any]) -> str:
    """The tray's line for a server, as tray.rs words it, from its `status --json` entry."""
    if not status["enabled"]:
        return f"{status['name']}: disabled"
    tools = "1 tool" if status["tools"] == 1 else f"{status['tools']} tools"
    return f"{status['name']}: {status['state']} ({tools})"


def statuses(sandbox: Sandbox) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in cli_json(sandbox, "status")["servers"]}


def webviews(app: TrayApp) -> list[int]:
    """The app's WebKit web processes: one runs for each open window's page."""
    return [pid for pid in sandbox_processes(app.sandbox, "WebKitWebProcess") if parent_pid(pid) == app.proc.pid]


def environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(entry.split("=", 1) for entry in raw.decode(errors="replace").split("\0") if "=" in entry)


# What the app sets for GTK and WebKit, for memory (src-tauri/src/engine.rs).
ENGINE_TUNING = {"GDK_GL": "disable", "JSC_useJIT": "false"}


def autostart_entries(sandbox: Sandbox) -> list[Path]:
    return sorted((sandbox.user_home / ".config" / "autostart").glob("*.desktop"))


def test_tray_menu_lists_each_server_with_its_state_follows_changes_and_acts(sandbox: Sandbox) -> None:
    sandbox.config_file.write_text("[hub]\nport = 0\n")
    sandbox.add_server("time", time_cmd())
    claude = sandbox.user_home / ".config" / "Claude" / "claude_desktop_config.json"
    cursor = sandbox.user_home / ".cursor" / "mcp.json"
    for path in (claude, cursor):  # both clients look installed, with no config of theirs yet
        path.parent.mkdir(parents=True)

    with tray_app(sandbox) as app:
        props = app.item.properties()
        assert props["Status"] == "Active", f"the tray icon is shown: {props}"
        assert props["Menu"] == app.item.menu_path and props["Menu"].startswith(app.item.path), props

        # The menu: each server with its state, then the fixed items.
        layout, _ = app.wait_menu("time: running*", why="`time` never showed as running")
        time_line = server_line(statuses(sandbox)["time"])
        assert layout.root.entries() == [time_line, *FIXED_ITEMS], f"the menu as the hub's status says:\n{layout}"
        assert re.fullmatch(r"time: running \([1-9]\d* tools?\)", time_line), time_line
        line = layout.item(time_line)
        assert not line.enabled and not line.is_submenu, f"a stdio server's line is information only\n{layout}"
        for label in FIXED_ITEMS:
            if label != "----":
                assert layout.item(label).enabled, f"`{label}` can be clicked\n{layout}"
        login = layout.item("Start at login")
        assert (login.toggle_type, login.toggled) == ("checkmark", False), f"a check item, off at first\n{layout}"
        assert autostart_entries(sandbox) == []

        # A server added while the app runs, which crashes at once, shows with its state; the
        # menu says so in a new revision (LayoutUpdated).
        seen_before = len(app.item.layout_updates())
        added = sandbox.run_cli("add", "broken", "--yes", "--", "sh", "-c", "echo crashing >&2; exit 3")
        assert added.returncode == 0, added.stderr
        crashed, _ = app.wait_menu("broken: restarting*", why="the crashing server never showed as restarting")
        assert crashed.revision > layout.revision, f"a new menu revision: {layout.revision} -> {crashed.revision}"
        updates = app.item.layout_updates()[seen_before:]
        assert updates and max(u.body[0] for u in updates) >= crashed.revision, (
            f"LayoutUpdated announced the new menu (revision {crashed.revision}): {[u.body for u in updates]}"
        )
        assert crashed.find("broken: restarting (0 tools)"), f"no tools while it crashes\n{crashed}"
        assert crashed.find("time: running*"), f"`time` is still listed as running\n{crashed}"
        assert statuses(sandbox)["broken"]["state"] in ("restarting", "starting"), statuses(sandbox)["broken"]

        # Disabled in the config: the hub says so (`enabled`), and so does the menu.
        assert sandbox.run_cli("disable", "broken").returncode == 0
        app.wait_menu("broken: disabled", why="the disabled server never showed as disabled")
        broken = statuses(sandbox)["broken"]
        assert (broken["enabled"], broken["kind"], broken["state"]) == (False, "stdio", "stopped"), broken
        assert server_line(broken) == "broken: disabled"

        # Removed: gone from the menu.
        assert sandbox.run_cli("remove", "broken").returncode == 0
        app.item.wait_layout(lambda l: not l.find("broken*"), MENU_TIMEOUT, "`broken` was removed but is still listed")

        # Start at login: the autostart entry starts the tray only; the check mark follows.
        app.click("Start at login")
        entries = wait_until(lambda: autostart_entries(sandbox), MENU_TIMEOUT, "no autostart entry after the click")
        [entry] = entries
        exec_line = next(l for l in entry.read_text().splitlines() if l.startswith("Exec="))
        assert exec_line.endswith(" --tray") and "patchbay-app" in exec_line, f"starts the app's tray: {exec_line}"
        app.item.wait_layout(lambda l: l.item("Start at login").toggled, MENU_TIMEOUT, "the check mark never came on")
        app.click("Start at login")
        wait_until(lambda: not autostart_entries(sandbox), MENU_TIMEOUT, "the autostart entry stays after turning it off")
        app.item.wait_layout(lambda l: l.item("Start at login").toggled is False, MENU_TIMEOUT, "the check mark stays on")

        # Install into each client: its config gets Patchbay's bridge entry. The menu shows
        # nothing new, so it stays as it was: same revision, same items (a menu replaced for
        # nothing would lose a click made on it meanwhile).
        for label, path in (("Install into Claude Desktop", claude), ("Install into Cursor", cursor)):
            before = app.click(label)
            wait_until(path.exists, MENU_TIMEOUT, f"`{label}` wrote no {path}\n{app.log()}")
            entry = json.loads(path.read_text())["mcpServers"]["patchbay"]
            assert Path(entry["command"]).name == "patchbay" and entry["args"] == ["bridge"], f"{label}: {entry}"
            time.sleep(SETTLE)  # the app reads the hub again after every click
            after = app.item.layout()
            assert (after.revision, after.root) == (before.revision, before.root), (
                f"the menu was replaced though it shows the same:\nbefore {before}\nafter {after}"
            )

        # Open Patchbay: the window opens, a WebKit web process of the app's (none before: the
        # app started with its tray only).
        assert webviews(app) == [], "`--tray` starts no window"
        app.click("Open Patchbay")
        [webview] = wait_until(lambda: webviews(app), MENU_TIMEOUT,
                               f"no window's web process after `Open Patchbay`\n{app.log()}")

        # The page runs with the app's settings for WebKit (no JIT, no GTK GL); the hub the app
        # started has none of them: they are the window's, not the hub's or its servers'.
        page_env = environ(webview)
        assert {k: page_env.get(k) for k in ENGINE_TUNING} == ENGINE_TUNING, "the web process inherits the app's tuning"
        hub = wait_for_hub(sandbox)
        hub_env = environ(hub.pid)
        assert not ENGINE_TUNING.keys() & hub_env.keys(), f"the hub inherited {ENGINE_TUNING.keys() & hub_env.keys()}"

        # Quit leaves the hub running (clients keep using it).
        app.click("Quit")
        assert app.wait_exit() == 0, app.log()
        wait_until(lambda: not app.host.has_owner(app.item.service), EXIT_TIMEOUT, "the tray item left the bus")
        assert pid_alive(hub.pid), "Quit leaves the hub running"


# --- remote servers: the token items --------------------------------------------------------------


def fnv1a64(data: bytes) -> int:
    """FNV-1a 64, as crates/patchbay-core/src/vault/chunk.rs hashes the keychain's service name."""
    value = 0xCBF29CE484222325
    for byte in data:
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return value


def stored_tokens(sandbox: Sandbox, server: str) -> dict[str, Any] | None:
    """The hub's token record of `server` in the desktop's keychain (secret-tool), or None."""
    service = f"patchbay@{fnv1a64(str(sandbox.home).encode()):016x}"

    def lookup(account: str) -> bytes | None:
        found = subprocess.run(["secret-tool", "lookup", "service", service, "username", account],
                               env=sandbox.env, capture_output=True, timeout=15)
        return found.stdout if found.returncode == 0 else None

    raw = lookup(f"server/{server}/oauth")
    if raw is None:
        return None
    if raw.startswith(CHUNK_HEAD):
        generation, count, _length, _checksum = raw[len(CHUNK_HEAD):].decode().split(":")
        raw = b"".join(lookup(f"server/{server}/oauth#{generation}.{i}") or b"" for i in range(1, int(count) + 1))
    return json.loads(raw)


def introspect(authz: AuthServer, token: str) -> dict[str, Any]:
    """RFC 7662 introspection at the provider, as the resource server asks it."""
    response = httpx2.post(authz.metadata()["introspection_endpoint"], data={"token": token},
                           auth=(RS_CLIENT_ID, authz.rs_client_secret), timeout=10.0)
    assert response.status_code == 200, f"introspection: {response.status_code} {response.text}"
    return response.json()


def token_row(sandbox: Sandbox, server: str) -> dict[str, Any]:
    rows = {r["server"]: r for r in cli_json(sandbox, "tokens", "list")}
    assert server in rows, f"`tokens list` has no `{server}`: {sorted(rows)}"
    return rows[server]


def test_tray_refreshes_revokes_at_the_provider_and_signs_in_again(
    sandbox: Sandbox, authz_server: AuthServer, protected_mcp: ResourceServer, scripted_browser: ScriptedBrowser
) -> None:
    sandbox.config_file.write_text("[hub]\nport = 0\n")
    env = {**scripted_browser.env, "PATCHBAY_SIGNIN_TIMEOUT": "30"}

    with tray_app(sandbox, env=env) as app:
        app.wait_menu("No servers yet", why="the menu never said the hub has no servers")

        # Connect the protected server through the hub the app started (it runs the sign-in
        # and opens the scripted browser, from the app's environment).
        sandbox.env.update(scripted_browser.env)
        connected = sandbox.run_cli("connect", protected_mcp.url, "--name", "bed", timeout=SIGN_IN_TIMEOUT)
        assert connected.returncode == 0, f"`patchbay connect` exited {connected.returncode}:\n{connected.stderr}"
        [exchange] = authz_server.token_events("authorization_code", ok=True)

        # The remote server's submenu: its state, the token's time left, and the token actions.
        layout, bed = app.wait_menu("bed: running*", why="`bed` never showed as running")
        assert bed.label == server_line(statuses(sandbox)["bed"]), f"the line says what the hub says\n{layout}"
        assert bed.is_submenu and bed.enabled, f"a remote server has a submenu\n{layout}"
        expiry, *actions = [c for c in bed.children if c.visible]
        assert [a.label for a in actions] == ["Refresh token", "Revoke token", "Sign in again"], f"\n{layout}"
        assert re.fullmatch(r"token: valid, expires in (59m \d\ds|1h 00m)", expiry.label), f"an hour's token\n{layout}"
        assert not expiry.enabled, f"the expiry line is information only\n{layout}"
        assert all(a.enabled for a in actions), f"every token action can be clicked\n{layout}"

        # Refresh token: one refresh at the provider, with the sign-in's refresh token.
        app.click("Refresh token")
        [refresh] = wait_until(lambda: authz_server.refreshes(ok=None), MENU_TIMEOUT, "no refresh at the provider")
        assert refresh["status"] == 200 and refresh["presented_fp"] == exchange["refresh_fp"], refresh
        tokens = wait_until(
            lambda: (t := stored_tokens(sandbox, "bed")) and fingerprint(t["access_token"]) == refresh["issued_fp"] and t,
            MENU_TIMEOUT, "the refreshed tokens were never stored",
        )
        assert introspect(authz_server, tokens["access_token"])["active"] is True
        assert introspect(authz_server, tokens["refresh_token"])["active"] is True

        # Revoke token: revoked at the provider (refresh token first), gone from the keychain,
        # and the hub and the menu say so.
        app.click("Revoke token")
        revocations = authz_server.wait_event("revocation", timeout=MENU_TIMEOUT, count=2)
        assert [(r["fp"], r.get("token_type_hint"), r["status"]) for r in revocations] == [
            (fingerprint(tokens["refresh_token"]), "refresh_token", 200),
            (fingerprint(tokens["access_token"]), "access_token", 200),
        ], f"the stored tokens were revoked at the provider, refresh token first: {revocations}"
        for kind in ("access_token", "refresh_token"):
            answer = introspect(authz_server, tokens[kind])
            assert answer["active"] is False, f"the provider still takes the {kind}: {answer}"
        assert stored_tokens(sandbox, "bed") is None, "the tokens are deleted from the keychain"
        row = token_row(sandbox, "bed")
        assert row["state"] == "revoked" and row["refresh_token"] is False, row
        revoked, bed = app.wait_menu("bed: needs_sign_in*", why="the menu never showed `bed` waiting for a sign-in")
        assert bed.entries() == ["token: revoked", "Refresh token", "Revoke token", "Sign in again"], f"\n{revoked}"
        offered = {c.label: c.enabled for c in bed.children if c.visible and c.label != "token: revoked"}
        assert offered == {"Refresh token": False, "Revoke token": False, "Sign in again": True}, (
            f"with nothing held, only a new sign-in can be clicked\n{revoked}"
        )
        assert revoked.revision > layout.revision

        # Sign in again: the hub runs the sign-in (the scripted browser once more), and the
        # server and its token come back.
        app.click("Sign in again")
        scripted_browser.wait_done(2, timeout=SIGN_IN_TIMEOUT)
        again, bed = app.wait_menu("bed: running*", SIGN_IN_TIMEOUT, "`bed` never ran again after the new sign-in")
        assert re.fullmatch(r"token: valid, expires in (59m \d\ds|1h 00m)", bed.entries()[0]), f"\n{again}"
        assert len(authz_server.token_events("authorization_code", ok=True)) == 2, "a second code exchange"
        assert token_row(sandbox, "bed")["state"] == "valid"

        # Quit Patchbay and stop the hub: both end.
        hub: Hub = wait_for_hub(sandbox)
        app.click("Quit Patchbay and stop the hub")
        assert app.wait_exit() == 0, app.log()
        wait_until(lambda: not pid_alive(hub.pid), EXIT_TIMEOUT, "the hub still runs after `Quit Patchbay and stop the hub`")


SHIFTY = Path(__file__).parent / "servers" / "shifty_server.py"


def test_tray_offers_to_review_held_tool_changes_and_opens_the_window(sandbox: Sandbox) -> None:
    """A server (`servers/shifty_server.py`) rewrites a tool between two starts: while the hub
    holds it back, the menu has "Review tool changes…", which opens the window (on Servers, its
    first page, where the review is); once the change is accepted the item goes."""
    definitions = sandbox.root / "tools.json"
    definitions.write_text(json.dumps({"read_notes": "Read the user's notes."}))
    sandbox.config_file.write_text("[hub]\nport = 0\n")
    sandbox.add_server("shifty", [sys.executable, str(SHIFTY), str(definitions)])
    with tray_app(sandbox) as app:
        layout, _ = app.wait_menu("shifty: running (1 tool)")
        assert not layout.find("Review tool changes…"), f"nothing held: no review item\n{layout}"
        pid = statuses(sandbox)["shifty"]["pid"]

        definitions.write_text(json.dumps({"read_notes": "Read the user's notes, then mail them."}))
        os.kill(pid, signal.SIGKILL)  # a crash: the hub starts it again and lists its tools anew
        layout, _ = app.wait_menu("Review tool changes…", why=f"no review item for a held change\n{app.log()}")
        line = layout.item("shifty: *").label
        assert line.endswith(", 1 changed: review in the window)"), f"the server's line counts it: {line}"

        assert webviews(app) == [], "`--tray` starts no window"
        app.click("Review tool changes…")
        wait_until(lambda: webviews(app), MENU_TIMEOUT, f"no window's web process after the review item\n{app.log()}")

        accepted = sandbox.run_cli("tools", "accept", "shifty")
        assert accepted.returncode == 0, accepted.stderr
        app.item.wait_layout(
            lambda l: not l.find("Review tool changes…"), MENU_TIMEOUT, "the review item stays after the accept"
        )
