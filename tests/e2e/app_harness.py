"""Run the real desktop app under Xvfb with a private D-Bus session, and drive its window.

The app is the release build `scripts/app-build` makes (`PATCHBAY_APP`), started by
`tauri-driver` + `WebKitWebDriver` (W3C WebDriver over loopback HTTP, spoken here with httpx2),
so the window is a real WebKitGTK webview and every command goes through Tauri's IPC and the
window's capability. The hub it starts is the `patchbay` of `PATCHBAY_BIN`. Every process is
started in its own session and stopped by pid; every wait is bounded.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from patchbay_harness import REPO, Sandbox, patchbay_bin, stop_process, wait_until

TOOLS = Path(os.environ.get("PATCHBAY_APP_TOOLS", REPO / ".cache" / "app-tools")).resolve()
SCREENSHOTS = Path(os.environ.get("PATCHBAY_APP_SCREENSHOTS", REPO / "target" / "app-screenshots"))
START_TIMEOUT = 30.0


def app_bin() -> str:
    """The app under test, from PATCHBAY_APP; a missing one fails the test, never skips it."""
    path = os.environ.get("PATCHBAY_APP")
    if not path:
        pytest.fail("PATCHBAY_APP is not set: `scripts/app-build`, then point PATCHBAY_APP at target/release/patchbay-app", pytrace=False)
    if not os.access(path, os.X_OK):
        pytest.fail(f"PATCHBAY_APP `{path}` is not an executable file", pytrace=False)
    return str(Path(path).resolve())


def _tool(name: str, path: Path | None = None) -> str:
    found = str(path) if path and path.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"`{name}` not found: run `bash scripts/app-deps.sh`", pytrace=False)
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def display() -> Iterator[str]:
    """A private X display (Xvfb), its number picked by Xvfb itself."""
    read, write = os.pipe()
    proc = subprocess.Popen(
        [_tool("Xvfb"), "-displayfd", str(write), "-screen", "0", "1280x860x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    os.close(write)
    try:
        with os.fdopen(read) as pipe:
            number = pipe.readline().strip()
        if not number:
            pytest.fail("Xvfb did not start", pytrace=False)
        yield f":{number}"
    finally:
        stop_process(proc)


@contextmanager
def session_bus() -> Iterator[str]:
    """A private D-Bus session bus (the app's single-instance name and tray live there)."""
    proc = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        address = proc.stdout.readline().strip()
        if not address:
            pytest.fail("dbus-daemon did not start", pytrace=False)
        yield address
    finally:
        stop_process(proc)


@dataclass
class Window:
    """A WebDriver session on the app's window."""

    url: str
    session: str
    http: httpx2.Client

    def command(self, command: str, /, **args: Any) -> Any:
        """Call one of the app's commands through the window's IPC; returns its answer or raises
        `CommandError` with the `{code, message}` the window receives."""
        script = (
            "const [cmd, args, done] = arguments;"
            "window.__TAURI_INTERNALS__.invoke(cmd, args)"
            ".then(ok => done({ok}), err => done({err}));"
        )
        answer = self._post("execute/async", {"script": script, "args": [command, args]})
        if "err" in answer:
            raise CommandError(answer["err"])
        return answer.get("ok")

    def title(self) -> str:
        return self._get("title")

    def eval(self, expression: str) -> Any:
        return self._post("execute/sync", {"script": f"return ({expression});", "args": []})

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        path.write_bytes(base64.b64decode(self._get("screenshot")))
        return path

    def _get(self, path: str) -> Any:
        response = self.http.get(f"{self.url}/session/{self.session}/{path}")
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
        return response.json()["value"]

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        response = self.http.post(f"{self.url}/session/{self.session}/{path}", json=body)
        assert response.status_code == 200, f"POST {path}: {response.status_code} {response.text}"
        return response.json()["value"]


class CommandError(Exception):
    def __init__(self, error: Any) -> None:
        super().__init__(error)
        self.error = error


@contextmanager
def app_window(sandbox: Sandbox, *app_args: str) -> Iterator[Window]:
    """The app started by tauri-driver in `sandbox`, on its own display and session bus."""
    app = app_bin()
    driver = _tool("tauri-driver", TOOLS / "bin" / "tauri-driver")
    _tool("WebKitWebDriver")
    with display() as disp, session_bus() as bus:
        port, native = free_port(), free_port()
        env = dict(sandbox.env)
        env.update(
            DISPLAY=disp,
            DBUS_SESSION_BUS_ADDRESS=bus,
            PATCHBAY_BIN=patchbay_bin(),
            TAURI_WEBVIEW_AUTOMATION="true",
            GDK_BACKEND="x11",
            # Software rendering: no GPU here, and WebKit's DMA-BUF renderer needs one.
            WEBKIT_DISABLE_DMABUF_RENDERER="1",
            LIBGL_ALWAYS_SOFTWARE="1",
            WEBKIT_DISABLE_COMPOSITING_MODE="1",
        )
        log = sandbox.root / "tauri-driver.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [driver, "--port", str(port), "--native-port", str(native)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        url = f"http://127.0.0.1:{port}"
        http = httpx2.Client(timeout=30.0)
        session = None
        try:
            def ready() -> bool:
                try:
                    return http.get(f"{url}/status", timeout=2.0).status_code == 200
                except httpx2.HTTPError:
                    return False

            wait_until(ready, START_TIMEOUT, f"tauri-driver never answered:\n{log.read_text(errors='replace')}")
            caps = {"capabilities": {"alwaysMatch": {"tauri:options": {"application": app, "args": list(app_args)}}}}
            response = http.post(f"{url}/session", json=caps)
            assert response.status_code == 200, f"no WebDriver session: {response.text}\n{log.read_text(errors='replace')}"
            session = response.json()["value"]["sessionId"]
            window = Window(url, session, http)
            wait_until(
                lambda: window.eval("!!(window.__TAURI_INTERNALS__ && document.readyState === 'complete')"),
                START_TIMEOUT,
                "the window never loaded",
            )
            yield window
        finally:
            if session is not None:
                with_timeout = time.monotonic() + 10
                while time.monotonic() < with_timeout:
                    try:
                        http.delete(f"{url}/session/{session}", timeout=10.0)
                        break
                    except httpx2.HTTPError:
                        time.sleep(0.2)
            http.close()
            stop_process(proc)
            # The hub the app started outlives it by design; the sandbox stops it by pid.
            sandbox.stop_leftovers()
