"""Run the real desktop app under Xvfb with a private D-Bus session, and drive its window.

The app is the build `scripts/app-build` makes (`PATCHBAY_APP`; `scripts/test` builds and sets
the debug one), started by
`tauri-driver` + `WebKitWebDriver` (W3C WebDriver over loopback HTTP, spoken here with httpx2),
so the window is a real WebKitGTK webview and every command goes through Tauri's IPC and the
window's capability. The hub it starts is the `patchbay` of `PATCHBAY_BIN`. Every process is
started in its own session and stopped by pid; every wait is bounded.

`Window` drives the page as a user does: elements are found by their `data-testid` (the stable
hooks of ui/TESTIDS.md), clicked and typed into with WebDriver element commands. Screenshots
are taken of the app's private X display with `scrot` into `tests/artifacts/screenshots/`
(`PATCHBAY_APP_SCREENSHOTS`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest
from patchbay_harness import REPO, Sandbox, free_port, patchbay_bin, stop_process, wait_until

TOOLS = Path(os.environ.get("PATCHBAY_APP_TOOLS", REPO / ".cache" / "app-tools")).resolve()
SCREENSHOTS = Path(os.environ.get("PATCHBAY_APP_SCREENSHOTS", REPO / "tests" / "artifacts" / "screenshots"))
START_TIMEOUT = 30.0
SCREEN = (1280, 860)  # the private X display's size
UI_TIMEOUT = 15.0  # an element the window shows after a click or a hub event
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C WebDriver key of an element reference
CONTROL, BACKSPACE, ENTER = "\ue009", "\ue003", "\ue007"  # WebDriver key codes
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def app_bin() -> str:
    """The app under test, from PATCHBAY_APP; a missing one fails the test, never skips it."""
    path = os.environ.get("PATCHBAY_APP")
    if not path:
        pytest.fail("PATCHBAY_APP is not set: run the tests with `scripts/test` (it builds the app), or "
                    "`scripts/app-build --debug deb` and PATCHBAY_APP=target/debug/patchbay-app", pytrace=False)
    if not os.access(path, os.X_OK):
        pytest.fail(f"PATCHBAY_APP `{path}` is not an executable file", pytrace=False)
    return str(Path(path).resolve())


def log_tail(path: Path, chars: int = 4000) -> str:
    """The end of a log file, for a failure message; `(no log)` when there is none."""
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"


def _tool(name: str, path: Path | None = None) -> str:
    found = str(path) if path and path.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"`{name}` not found: run `bash scripts/app-deps.sh`", pytrace=False)
    return found


@contextmanager
def display() -> Iterator[str]:
    """A private X display (Xvfb), its number picked by Xvfb itself."""
    read, write = os.pipe()
    proc = subprocess.Popen(
        [_tool("Xvfb"), "-displayfd", str(write), "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24", "-nolisten", "tcp"],
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


KEYRING_PASSWORD = "patchbay-app-test-keyring"


def _bus_name_owned(bus: str, name: str) -> bool:
    answer = subprocess.run(
        ["dbus-send", f"--bus={bus}", "--print-reply", "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus",
         "org.freedesktop.DBus.NameHasOwner", f"string:{name}"],
        capture_output=True, text=True, timeout=5,
    )
    return "boolean true" in answer.stdout


@contextmanager
def session_bus(root: Path) -> Iterator[str]:
    """A private D-Bus session bus with a throwaway, unlocked GNOME Keyring on it (under `root`).

    The app's single-instance name and its tray live on this bus, and the hub the app starts
    keeps its tokens in this keyring (the real Secret Service), so app tests never share a bus.
    """
    proc = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    keyring = None
    try:
        assert proc.stdout is not None
        address = proc.stdout.readline().strip()
        if not address:
            pytest.fail("dbus-daemon did not start", pytrace=False)
        data, runtime = root / "keyring-data", root / "keyring-run"
        for d in (data / "keyrings", runtime):
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
        keyring = subprocess.Popen(
            [_tool("gnome-keyring-daemon"), "--foreground", "--unlock", "--components=secrets"],
            env={**os.environ, "DBUS_SESSION_BUS_ADDRESS": address, "XDG_DATA_HOME": str(data),
                 "XDG_RUNTIME_DIR": str(runtime)},
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        assert keyring.stdin is not None
        keyring.stdin.write(KEYRING_PASSWORD.encode())
        keyring.stdin.close()
        wait_until(lambda: _bus_name_owned(address, "org.freedesktop.secrets"), START_TIMEOUT,
                   "GNOME Keyring never took org.freedesktop.secrets on the app's bus")
        yield address
    finally:
        if keyring is not None:
            stop_process(keyring)
        stop_process(proc)


@dataclass
class Desktop:
    """A private desktop for one app: an X display and a session bus with a keyring."""

    display: str
    bus: str

    def env(self, sandbox: Sandbox, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The environment the app (and the hub it starts) runs with."""
        env = dict(sandbox.env)
        env.update(
            DISPLAY=self.display,
            DBUS_SESSION_BUS_ADDRESS=self.bus,
            PATCHBAY_BIN=patchbay_bin(),
            GDK_BACKEND="x11",
            # Software rendering: no GPU here, and WebKit's DMA-BUF renderer needs one.
            WEBKIT_DISABLE_DMABUF_RENDERER="1",
            LIBGL_ALWAYS_SOFTWARE="1",
            WEBKIT_DISABLE_COMPOSITING_MODE="1",
        )
        env.update(extra or {})
        return env


@contextmanager
def desktop(sandbox: Sandbox) -> Iterator[Desktop]:
    with display() as disp, session_bus(sandbox.root) as bus:
        yield Desktop(disp, bus)


@contextmanager
def app_process(sandbox: Sandbox, *app_args: str, env: dict[str, str] | None = None,
                desk: Desktop | None = None, app: str | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """The app started directly (no WebDriver), e.g. `--tray` for the tray's tests; stopped by pid,
    then every process of the sandbox (the hub it started) too. `app` runs another build than
    PATCHBAY_APP's."""
    app = app or app_bin()
    with desktop(sandbox) if desk is None else nullcontext(desk) as d:
        log = sandbox.root / "app.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [app, *app_args], env=d.env(sandbox, env), stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            yield proc
        finally:
            stop_process(proc)
            sandbox.stop_leftovers()


def by_testid(testid: str) -> str:
    """The CSS selector of a `data-testid` hook."""
    return f'[data-testid="{testid}"]'


class WebDriverError(Exception):
    """A WebDriver command answered with an error (`error` is its W3C code, e.g. `no such element`)."""

    def __init__(self, command: str, status: int, error: str, message: str) -> None:
        super().__init__(f"{command}: {status} {error}: {message}")
        self.error = error


@dataclass
class Window:
    """A WebDriver session on the app's window, on X display `display`.

    Element helpers take a `data-testid` and find the element again on every call, so a list
    the window re-renders never leaves a stale reference behind; the `wait_*` helpers poll
    (bounded by `timeout`) and fail the test with what they last saw."""

    url: str
    session: str
    http: httpx2.Client
    display: str = ""
    # The environment the app runs with: what another process needs to reach it (xdg-open).
    env: dict[str, str] = field(default_factory=dict)

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

    # --- elements, by data-testid ------------------------------------------------------------

    def find_css(self, selector: str) -> str | None:
        """The first element matching `selector` now, or None."""
        try:
            found = self._post("element", {"using": "css selector", "value": selector})
        except WebDriverError as e:
            if e.error == "no such element":
                return None
            raise
        return found[ELEMENT]

    def find_all_css(self, selector: str) -> list[str]:
        return [e[ELEMENT] for e in self._post("elements", {"using": "css selector", "value": selector})]

    def present(self, testid: str) -> bool:
        return self.find_css(by_testid(testid)) is not None

    def find(self, testid: str, timeout: float = UI_TIMEOUT) -> str:
        """The element with `testid`, waiting (bounded) until the window shows it."""
        deadline = time.monotonic() + timeout
        while (element := self.find_css(by_testid(testid))) is None:
            if time.monotonic() > deadline:
                pytest.fail(f"the window never showed `{testid}` in {timeout} s\n{self.shown()}", pytrace=False)
            time.sleep(0.05)
        return element

    def click(self, testid: str, timeout: float = UI_TIMEOUT) -> None:
        """Click the element once it is there and enabled (a click on a disabled button does
        nothing, so it would only hide a bug)."""
        self.click_css(by_testid(testid), timeout)

    def click_css(self, selector: str, timeout: float = UI_TIMEOUT) -> None:
        """`click` for an element without a test id of its own (e.g. a `<summary>`)."""
        deadline = time.monotonic() + timeout
        while True:
            element = self.find_css(selector)
            try:
                if element and self._get(f"element/{element}/enabled"):
                    self._post(f"element/{element}/click", {})
                    return
            except WebDriverError as e:
                if e.error != "stale element reference":
                    raise
            if time.monotonic() > deadline:
                state = "disabled" if element else "absent"
                pytest.fail(f"`{selector}` never became clickable in {timeout} s ({state})\n{self.shown()}", pytrace=False)
            time.sleep(0.05)

    def type(self, testid: str, text: str, clear: bool = True) -> None:
        """Type `text` into an input or textarea as keystrokes, after emptying it as a user does
        (select all, Backspace), so the page sees every edit as `input` events. A newline is
        typed as the Enter key (WebKitWebDriver drops a "\\n" character)."""
        element = self.find(testid)
        if clear and self._get(f"element/{element}/property/value"):
            self._post(f"element/{element}/value", {"text": f"{CONTROL}a{CONTROL}{BACKSPACE}"})
        if text:
            self._post(f"element/{element}/value", {"text": text.replace("\n", ENTER)})

    def text(self, testid: str) -> str:
        """The element's rendered text (empty while it is hidden)."""
        return self._retry_stale(lambda: self._get(f"element/{self.find(testid)}/text"))

    def attr(self, testid: str, name: str) -> str | None:
        return self._retry_stale(lambda: self._get(f"element/{self.find(testid)}/attribute/{name}"))

    def prop(self, testid: str, name: str) -> Any:
        """A DOM property (e.g. `value` of an input, `disabled` of a button)."""
        return self._retry_stale(lambda: self._get(f"element/{self.find(testid)}/property/{name}"))

    def enabled(self, testid: str) -> bool:
        return self._retry_stale(lambda: self._get(f"element/{self.find(testid)}/enabled"))

    def attrs_css(self, selector: str, name: str) -> list[str | None]:
        """Attribute `name` of every element matching `selector` (e.g. each step's stage)."""
        return self._retry_stale(
            lambda: [self._get(f"element/{e}/attribute/{name}") for e in self.find_all_css(selector)]
        )

    def wait_for(
        self,
        testid: str,
        timeout: float = UI_TIMEOUT,
        *,
        text: str | None = None,
        contains: str | None = None,
        **attrs: str | None,
    ) -> str:
        """Wait (bounded) until `testid` is shown with exactly `text`, or text containing
        `contains`, and the given attributes (`data_state="running"` for `data-state`); returns
        its text."""
        wanted = {name.replace("_", "-"): value for name, value in attrs.items()}
        seen: dict[str, Any] = {}

        def matches() -> bool:
            element = self.find_css(by_testid(testid))
            if element is None:
                seen.clear()
                seen["present"] = False
                return False
            try:
                seen["text"] = self._get(f"element/{element}/text")
                for name in wanted:
                    seen[name] = self._get(f"element/{element}/attribute/{name}")
            except WebDriverError as e:
                if e.error == "stale element reference":
                    return False
                raise
            return (
                (text is None or seen["text"] == text)
                and (contains is None or contains in seen["text"])
                and all(seen[name] == value for name, value in wanted.items())
            )

        deadline = time.monotonic() + timeout
        while not matches():
            if time.monotonic() > deadline:
                want = {k: v for k, v in {"text": text, "contains": contains, **wanted}.items() if v is not None}
                pytest.fail(
                    f"`{testid}` never showed {want} in {timeout} s; last seen {seen}\n{self.shown()}", pytrace=False
                )
            time.sleep(0.05)
        return seen["text"]

    def shown(self) -> str:
        """What the window shows now, as text (for failure messages)."""
        try:
            return "the window shows:\n" + str(self.eval("document.body.innerText"))[:3000]
        except (WebDriverError, httpx2.HTTPError) as e:
            return f"(the window's text could not be read: {e})"

    def page(self, name: str) -> None:
        """Open a page from the nav (`servers`, `connect`, `clients`, `tokens`, `activity`)."""
        self.click(f"nav-{name}")
        self.find(f"page-{name}")
        self.wait_for(f"nav-{name}", aria_current="page")

    # --- screenshots --------------------------------------------------------------------------

    def screenshot(self, name: str) -> Path:
        """A PNG of the window (its rectangle on the app's X display) at `SCREENSHOTS/<name>.png`.

        Taken with `scrot`, not WebDriver's screenshot command: under Xvfb WebKitWebDriver answers
        that one after 2 s at best, and now and then never answers it, or the asynchronous script
        (the IPC) that follows it."""
        if not self.display:
            raise AssertionError("this window has no X display to capture")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        path.unlink(missing_ok=True)
        # what the page shows now is painted: two animation frames
        self._post("execute/async", {"script": "const done = arguments[0];"
                   "requestAnimationFrame(() => requestAnimationFrame(() => done(true)));", "args": []})
        rect = self._get("window/rect")
        x, y = max(0, int(rect["x"])), max(0, int(rect["y"]))
        width, height = min(int(rect["width"]), SCREEN[0] - x), min(int(rect["height"]), SCREEN[1] - y)
        taken = subprocess.run(
            [_tool("scrot"), "--overwrite", "--silent", "--autoselect", f"{x},{y},{width},{height}", str(path)],
            env={**os.environ, "DISPLAY": self.display}, capture_output=True, text=True, timeout=20,
        )
        assert taken.returncode == 0 and path.exists(), f"scrot failed ({taken.returncode}): {taken.stderr}"
        return path

    # --- the wire -----------------------------------------------------------------------------

    def _retry_stale(self, read: Any, attempts: int = 5) -> Any:
        """Run `read` again when the element went stale under it (the window re-rendered)."""
        for attempt in range(attempts):
            try:
                return read()
            except WebDriverError as e:
                if e.error != "stale element reference" or attempt == attempts - 1:
                    raise
                time.sleep(0.1)
        raise AssertionError("unreachable")

    def _answer(self, command: str, response: httpx2.Response) -> Any:
        if response.status_code == 200:
            return response.json()["value"]
        try:
            value = response.json()["value"]
            error, message = value.get("error", ""), value.get("message", "")
        except (ValueError, KeyError, AttributeError):
            error, message = "", response.text
        raise WebDriverError(command, response.status_code, error, message)

    def _get(self, path: str) -> Any:
        return self._answer(f"GET {path}", self.http.get(f"{self.url}/session/{self.session}/{path}"))

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        return self._answer(f"POST {path}", self.http.post(f"{self.url}/session/{self.session}/{path}", json=body))


def png_size(path: Path) -> tuple[int, int]:
    """Width and height of a PNG file; fails the test when it is not one."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR", f"{path} is not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


class CommandError(Exception):
    def __init__(self, error: Any) -> None:
        super().__init__(error)
        self.error = error


@contextmanager
def app_window(sandbox: Sandbox, *app_args: str, env: dict[str, str] | None = None,
               app: str | None = None) -> Iterator[Window]:
    """The app started by tauri-driver in `sandbox`, on its own display and session bus; `env` is
    added to the app's environment (the hub it starts inherits it). `app` runs another build
    than PATCHBAY_APP's."""
    app = app or app_bin()
    driver = _tool("tauri-driver", TOOLS / "bin" / "tauri-driver")
    _tool("WebKitWebDriver")
    with desktop(sandbox) as desk:
        port, native = free_port(), free_port()
        env = desk.env(sandbox, {"TAURI_WEBVIEW_AUTOMATION": "true", **(env or {})})
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
            window = Window(url, session, http, desk.display, env)
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
