"""The Windows build end to end, under wine: `patchbay.exe serve` with server-everything run by
Node for Windows, one server configured as plain `npx` (what every README tells users to write),
a client on this host, and no server process left once the hub is gone, also when it is killed.

Run by `scripts/windows-test` (inside its mount namespace, where the wine chroot has the target
dir bind-mounted), which sets PATCHBAY_WIN_EXE, WINE_ROOT and WINEPREFIX; scripts/windows-deps.sh
installed Node for Windows at C:\\node and server-everything at C:\\everything with Windows npm.
Outside that lane these tests are skipped with the reason, unless PATCHBAY_REQUIRE_WINDOWS=1.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path, PureWindowsPath

import httpx2
import pytest
from patchbay_harness import mcp_session, wait_until

EVERYTHING_VERSION = json.loads((Path(__file__).resolve().parents[1] / "peers/package.json").read_text())[
    "dependencies"
]["@modelcontextprotocol/server-everything"]
HUB_START_TIMEOUT = 90.0  # wine starts slowly, and so does Node under it
SERVER_START_TIMEOUT = 120.0
GONE_TIMEOUT = 30.0

EXE = os.environ.get("PATCHBAY_WIN_EXE")
ROOT = os.environ.get("WINE_ROOT")
PREFIX = os.environ.get("WINEPREFIX")
if not (EXE and ROOT and PREFIX):
    reason = "the Windows lane (scripts/windows-test) sets PATCHBAY_WIN_EXE, WINE_ROOT and WINEPREFIX"
    if os.environ.get("PATCHBAY_REQUIRE_WINDOWS") == "1":
        pytest.fail(f"PATCHBAY_REQUIRE_WINDOWS=1 but {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def host_path(windows: str) -> Path:
    r"""A `Z:\...` path of the wine prefix as this host sees it (Z: is the chroot's root)."""
    path = PureWindowsPath(windows)
    assert path.drive.upper() == "Z:", f"not on Z: `{windows}`"
    return Path(ROOT, *path.parts[1:])


def wine_env(home: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": "/root",
        "WINEPREFIX": PREFIX,
        "WINEDEBUG": "-all",
        "WINEPATH": r"C:\node",
        "PATCHBAY_HOME": home,
        "RUST_LOG": "info",
    }


def wine(home: str, *args: str, **kw) -> subprocess.Popen:
    chroot = shutil.which("chroot") or "/usr/sbin/chroot"
    return subprocess.Popen([chroot, ROOT, "wine", EXE, *args], env=wine_env(home), start_new_session=True, **kw)


def windows_processes(needle: str) -> list[int]:
    """Host pids of wine processes whose command line names `needle` (case-insensitive)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            cmd = Path("/proc", name, "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if needle.lower() in cmd.lower():
            found.append(int(name))
    return found


class WinHub:
    """One installation under the chroot's /tmp and the hub serving it under wine."""

    def __init__(self, tmp_name: str) -> None:
        self.windows_home = rf"Z:\tmp\pb\{tmp_name}"
        self.home = host_path(self.windows_home)
        self.home.mkdir(parents=True)
        self.proc: subprocess.Popen | None = None
        self.stderr = self.home / "hub.stderr"

    def write_config(self, npx_enabled: bool = True) -> None:
        everything = r"C:\everything\node_modules\@modelcontextprotocol\server-everything\dist\index.js"
        self.home.joinpath("config.toml").write_text(
            "[hub]\nport = 0\n\n"
            "[servers.everything]\n"
            'command = "node"\n'
            f"args = [{json.dumps(everything)}, \"stdio\"]\n"
            'start = "eager"\n\n'
            "[servers.viaNpx]\n"
            'command = "npx"\n'
            f'args = ["-y", "@modelcontextprotocol/server-everything@{EVERYTHING_VERSION}", "stdio"]\n'
            'cwd = "C:\\\\everything"\n'
            'start = "eager"\n'
            f"enabled = {'true' if npx_enabled else 'false'}\n"
        )

    def run(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
        proc = wine(self.windows_home, *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
        return subprocess.CompletedProcess(proc.args, proc.returncode, out.decode(), err.decode())

    def start(self) -> dict:
        with self.stderr.open("ab") as err:
            self.proc = wine(self.windows_home, "serve", stdout=subprocess.DEVNULL, stderr=err)
        discovery = self.home / "state" / "hub.json"

        def ready():
            if self.proc.poll() is not None:
                pytest.fail(f"patchbay.exe serve exited with {self.proc.returncode}:\n{self.stderr_tail()}")
            try:
                return json.loads(discovery.read_text())
            except (OSError, ValueError):
                return None

        self.discovery = wait_until(ready, HUB_START_TIMEOUT, "the hub under wine writes hub.json")
        self.secret = host_path(self.discovery["secret_file"]).read_text().strip()
        self.url = f"http://127.0.0.1:{self.discovery['port']}"
        return self.discovery

    def stderr_tail(self) -> str:
        try:
            return "\n".join(self.stderr.read_text(errors="replace").splitlines()[-40:])
        except OSError:
            return ""

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}

    def servers(self) -> dict[str, dict]:
        rows = httpx2.get(f"{self.url}/api/v1/servers", headers=self.headers(), timeout=10).json()
        return {row["name"]: row for row in rows}

    def wait_running(self, *names: str) -> dict[str, dict]:
        def running():
            rows = self.servers()
            if all(rows.get(n, {}).get("state") == "running" for n in names):
                return rows
            return None

        try:
            return wait_until(running, SERVER_START_TIMEOUT, f"servers {names} running under wine")
        except Exception:
            print(self.stderr_tail())
            for name in names:
                log = self.home / "logs" / f"{name}.log"
                if log.exists():
                    print(f"--- {name}.log\n{log.read_text(errors='replace')[-3000:]}")
            raise

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


@pytest.fixture
def win_hub() -> Iterator[WinHub]:
    hub = WinHub(f"e2e-{secrets.token_hex(4)}")
    hub.write_config()
    try:
        yield hub
    finally:
        hub.stop()
        for pid in server_processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        print(f"--- hub stderr (shown if the test failed)\n{hub.stderr_tail()}")
        shutil.rmtree(hub.home, ignore_errors=True)


def server_processes() -> list[int]:
    """Every Windows process of the two servers (Windows paths: never a Linux test's server)."""
    needles = (r"C:\everything", r"@modelcontextprotocol\server-everything")
    return sorted({pid for needle in needles for pid in windows_processes(needle)} | set(npx_tree()))


def servers_gone() -> bool:
    return not server_processes()


async def list_and_call(hub: WinHub) -> list[str]:
    async with mcp_session(f"{hub.url}/mcp", hub.secret) as session:
        names = [tool.name for tool in (await session.list_tools()).tools]
        for server in ("everything", "viaNpx"):
            result = await session.call_tool(f"{server}__echo", {"message": f"hello from {server}"})
            text = "".join(getattr(c, "text", "") for c in result.content)
            assert f"hello from {server}" in text, f"{server}__echo answered {result}"
        return names


@pytest.mark.timeout(300)
def test_doctor_finds_npx_cmd_and_node_exe(win_hub: WinHub) -> None:
    done = win_hub.run("doctor", "--json")
    report = json.loads(done.stdout)
    npx = next(c for c in report["checks"] if c["check"] == "npx")
    node = next(c for c in report["checks"] if c["check"] == "node")
    assert npx["ok"] and npx["detail"].lower().endswith(r"\npx.cmd"), f"doctor must find npx.cmd: {npx}"
    assert node["ok"] and node["detail"].lower().endswith(r"\node.exe"), f"doctor must find node.exe: {node}"
    server = next(c for c in report["checks"] if c["check"] == "server" and "viaNpx" in c["detail"])
    assert server["ok"], f"a server run as plain `npx` is runnable: {server}"


@pytest.mark.anyio
@pytest.mark.timeout(420)
async def test_hub_under_wine_serves_node_servers_and_leaves_none_behind(win_hub: WinHub) -> None:
    win_hub.start()
    rows = win_hub.wait_running("everything", "viaNpx")
    assert rows["viaNpx"]["pid"], rows["viaNpx"]
    names = await list_and_call(win_hub)
    assert "everything__echo" in names and "viaNpx__echo" in names, names
    assert windows_processes(r"C:\everything"), "the servers run as Windows Node processes"

    # A graceful stop: the control API's shutdown, as the app's Quit does.
    httpx2.post(f"{win_hub.url}/api/v1/shutdown", headers=win_hub.headers(), timeout=10)
    wait_until(lambda: win_hub.proc.poll() is not None, GONE_TIMEOUT, "the hub exits after shutdown")
    wait_until(servers_gone, GONE_TIMEOUT, "no server process outlives a stopped hub")

    # Killed outright: the job objects end every server's process tree with the hub.
    win_hub.start()
    win_hub.wait_running("everything", "viaNpx")
    assert windows_processes(r"C:\everything")
    started = time.monotonic()
    # The chroot's pid became wine's and then patchbay.exe's own: one process to kill.
    assert win_hub.proc.pid in windows_processes("patchbay.exe"), windows_processes("patchbay.exe")
    os.kill(win_hub.proc.pid, signal.SIGKILL)
    wait_until(lambda: win_hub.proc.poll() is not None, GONE_TIMEOUT, "the killed hub is gone")
    wait_until(servers_gone, GONE_TIMEOUT, "no server process outlives a killed hub (job object)")
    print(f"servers gone {time.monotonic() - started:.1f} s after the hub was killed")


def npx_tree() -> list[int]:
    """The processes of the server run as `npx`: cmd.exe running npx.cmd, npx's node, and the
    server node started through the package's `.bin` shim (`everything` runs by another path)."""
    needles = (r"\npx.cmd", r"\npx-cli.js", r"node_modules\.bin")
    return sorted({pid for needle in needles for pid in windows_processes(needle)})


@pytest.mark.timeout(300)
def test_a_stopped_server_takes_its_whole_process_tree_along(win_hub: WinHub) -> None:
    win_hub.start()
    win_hub.wait_running("everything", "viaNpx")
    tree = npx_tree()
    assert len(tree) >= 2, f"npx runs the server as a tree (cmd.exe, npx, the server): {tree}"
    # Disabled by an edit of the config file: the hub stops the server (close stdin, wait, then
    # end the job), and nothing of its tree may outlive it.
    win_hub.write_config(npx_enabled=False)
    wait_until(lambda: not npx_tree(), GONE_TIMEOUT, f"the npx server's tree {tree} ends with it")
    rows = win_hub.servers()
    assert rows["everything"]["state"] == "running", rows["everything"]
    assert windows_processes(r"server-everything\dist\index.js"), "the other server runs on"
