"""The desktop app's figures (issue 6): start-to-tray time and total RSS, with 10 servers configured.

    python tests/e2e/bench_app.py --app target/release/patchbay-app \
        --bare target/release/examples/bare_window [--runs N]

`scripts/bench --app` builds both in release and runs this with the peers' Python. It is a
benchmark, not a test: it prints its figures and the issue's targets as pass or MISS, and exits
non-zero only when it could not measure.

Each run is a fresh sandbox (its own PATCHBAY_HOME and HOME) and a private desktop from
app_harness.py: an Xvfb display and a session bus with an unlocked GNOME Keyring, where the
test's StatusNotifierWatcher (tray_bus.py) owns `org.kde.StatusNotifierWatcher` before the app
starts, as a desktop shell's does. The config has 10 eager stdio servers (servers/sized_server.py,
5 tools each).

- start-to-tray: from spawning `patchbay-app --tray` to its StatusNotifierItem registering with
  the watcher (the icon is visible), polled every 5 ms; and to the menu listing all ten servers
  `running` (read with dbusmenu GetLayout every 20 ms). "cold": no hub runs, so the app starts
  `patchbay serve` (PATCHBAY_BIN) and the servers start with it; "hub running": a hub with its
  servers up was started first. One untimed run first warms the disk cache.
- RSS: the sum of VmRSS over the app and its descendants (its WebKit processes), without any
  `patchbay` process and its subtree (the hub is not the app's), once the figure is steady
  (within 1% for 2 s, at most 30 s). PSS (shared pages split between the processes that map
  them) is printed beside it. "tray only": `--tray`, the menu filled. "window open": the app
  started again with no argument, which opens the first one's window (single instance). "bare
  window": `bare_window`, a Tauri window showing a one-line page, same build profile and desktop,
  once with GTK's GL off as the app runs (`GDK_GL=disable`) and once as Tauri leaves it. The
  app's other setting for memory, JavaScriptCore without its JIT (src-tauri/src/engine.rs), is
  the app's own and not given to the bare window.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import pytest  # noqa: E402
from app_harness import Desktop, desktop, log_tail  # noqa: E402
from patchbay_harness import Sandbox, parent_pid, start_hub, stop_process, wait_server_running  # noqa: E402
from tray_bus import Layout, StatusNotifierHost  # noqa: E402

SERVERS = 10
NAMES = [f"s{i:02}" for i in range(SERVERS)]
TOOLS_EACH = 5
SIZED = HERE / "servers" / "sized_server.py"
REGISTER_TIMEOUT = 30.0
MENU_TIMEOUT = 60.0
STEADY_WITHIN = 0.01  # relative change that counts as steady
STEADY_FOR = 2.0  # seconds
STEADY_TIMEOUT = 30.0
MB = 1_000_000
MIB = 1 << 20

TARGET_TRAY_MB = 80.0
TARGET_WINDOW_OVER_BARE = 0.10
TARGET_START_S = 1.0


class BenchError(Exception):
    pass


def log(message: str) -> None:
    print(f"bench-app: {message}", file=sys.stderr, flush=True)


def write_servers(sandbox: Sandbox) -> None:
    blocks = [
        f"[servers.{name}]\ncommand = {json.dumps(sys.executable)}\n"
        f"args = {json.dumps([str(SIZED), '--tools', str(TOOLS_EACH)])}\nstart = \"eager\"\n"
        for name in NAMES
    ]
    sandbox.config_file.write_text("\n".join(blocks))


def all_running(layout: Layout) -> bool:
    return all(layout.find(f"{name}: running (*") for name in NAMES)


# --- processes ------------------------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for pid in (int(name) for name in os.listdir("/proc") if name.isdigit()):
        if (ppid := parent_pid(pid)) is not None:
            kids.setdefault(ppid, []).append(pid)
    return kids


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def app_tree(root: int) -> list[int]:
    """`root` and its descendants, without `patchbay` processes (the hub) and theirs."""
    kids, out, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        if pid != root and _comm(pid) == "patchbay":
            continue
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def _status_kib(pid: int, path: str, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/{path}").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class Footprint:
    rss: int  # bytes, summed
    pss: int
    processes: list[str]
    per_process: dict[str, int]  # RSS bytes by process name (comm)


def footprint(root: int) -> Footprint:
    pids = app_tree(root)
    per_process: dict[str, int] = {}
    for p in pids:
        per_process[_comm(p)] = per_process.get(_comm(p), 0) + _status_kib(p, "status", "VmRSS") * 1024
    return Footprint(
        rss=sum(per_process.values()),
        pss=sum(_status_kib(p, "smaps_rollup", "Pss") for p in pids) * 1024,
        processes=sorted(_comm(p) for p in pids),
        per_process=per_process,
    )


def steady_footprint(proc: subprocess.Popen[bytes], log: Path,
                     ready: Callable[[Footprint], bool] = lambda f: True) -> Footprint:
    """The footprint once `ready` holds and the RSS sum stayed within STEADY_WITHIN for STEADY_FOR."""
    root = proc.pid
    deadline = time.monotonic() + STEADY_TIMEOUT
    base: Footprint | None = None
    since = time.monotonic()
    while True:
        if proc.poll() is not None:
            raise BenchError(f"{proc.args[0]} exited with {proc.returncode} while measured:\n{log_tail(log)}")
        now = footprint(root)
        if not ready(now):
            base, since = None, time.monotonic()
        elif base is None or abs(now.rss - base.rss) > STEADY_WITHIN * base.rss:
            base, since = now, time.monotonic()
        elif time.monotonic() - since >= STEADY_FOR:
            return now
        if time.monotonic() > deadline:
            raise BenchError(f"the footprint of {root} never settled in {STEADY_TIMEOUT} s (last {now})")
        time.sleep(0.25)


# --- one app run ----------------------------------------------------------------------------


@dataclass
class Run:
    sandbox: Sandbox
    host: StatusNotifierHost
    proc: subprocess.Popen[bytes]
    started: float

    def log(self) -> str:
        return log_tail(self.sandbox.root / "app.log")

    def wait_registered(self) -> float:
        deadline = self.started + REGISTER_TIMEOUT
        while not self.host.items():
            if self.proc.poll() is not None:
                raise BenchError(f"the app exited with {self.proc.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise BenchError(f"no tray item in {REGISTER_TIMEOUT} s:\n{self.log()}")
            time.sleep(0.005)
        return time.monotonic() - self.started

    def wait_menu_filled(self) -> float:
        item = self.host.items()[0]
        deadline = time.monotonic() + MENU_TIMEOUT
        while not all_running(layout := item.layout()):
            if time.monotonic() > deadline:
                raise BenchError(f"the menu never listed {SERVERS} running servers:\n{layout}")
            time.sleep(0.02)
        return time.monotonic() - self.started


@contextmanager
def sandbox_desktop() -> Iterator[tuple[Sandbox, Desktop, StatusNotifierHost]]:
    with tempfile.TemporaryDirectory(prefix="patchbay-bench-app-") as tmp:
        sandbox = Sandbox(Path(tmp))
        write_servers(sandbox)
        try:
            with desktop(sandbox) as desk, StatusNotifierHost(desk.bus) as host:
                sandbox.env["DBUS_SESSION_BUS_ADDRESS"] = desk.bus
                yield sandbox, desk, host
        finally:
            sandbox.stop_leftovers()


@contextmanager
def app(app_bin: str, sandbox: Sandbox, desk: Desktop, host: StatusNotifierHost, *args: str) -> Iterator[Run]:
    with (sandbox.root / "app.log").open("ab") as out:
        started = time.monotonic()
        proc = subprocess.Popen([app_bin, *args], env=desk.env(sandbox), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        yield Run(sandbox, host, proc, started)
    finally:
        stop_process(proc)


def start_to_tray(app_bin: str, hub_first: bool) -> tuple[float, float]:
    with sandbox_desktop() as (sandbox, desk, host):
        hub = None
        if hub_first:
            hub = start_hub(sandbox)
            wait_server_running(sandbox, *NAMES, timeout=MENU_TIMEOUT)
        try:
            with app(app_bin, sandbox, desk, host, "--tray") as run:
                return run.wait_registered(), run.wait_menu_filled()
        finally:
            if hub is not None:
                hub.stop()


@dataclass
class Memory:
    tray: Footprint
    window: Footprint
    bare: Footprint  # the bare window as the app runs it: GTK's GL off
    bare_gl: Footprint  # the bare window with GTK's default (GL set up at start)


def has_web_process(f: Footprint) -> bool:
    return any(p.startswith("WebKitWebProces") for p in f.processes)


def bare_footprint(bare_bin: str, env: dict[str, str], log: Path) -> Footprint:
    with log.open("ab") as out:
        proc = subprocess.Popen([bare_bin], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        return steady_footprint(proc, log, has_web_process)
    finally:
        stop_process(proc)


def memory(app_bin: str, bare_bin: str) -> Memory:
    with sandbox_desktop() as (sandbox, desk, host):
        hub = start_hub(sandbox)
        try:
            with app(app_bin, sandbox, desk, host, "--tray") as run:
                run.wait_registered()
                run.wait_menu_filled()
                tray = steady_footprint(run.proc, sandbox.root / "app.log")
                if has_web_process(tray):
                    raise BenchError(f"a WebKit process runs with only the tray: {tray.processes}")
                second = subprocess.run([app_bin], env=desk.env(sandbox), capture_output=True, timeout=30)
                if second.returncode != 0:
                    raise BenchError(f"the second instance exited with {second.returncode}: {second.stderr!r}")
                window = steady_footprint(run.proc, sandbox.root / "app.log", has_web_process)
        finally:
            hub.stop()
        bare = bare_footprint(bare_bin, desk.env(sandbox, {"GDK_GL": "disable"}), sandbox.root / "bare.log")
        bare_gl = bare_footprint(bare_bin, desk.env(sandbox), sandbox.root / "bare-gl.log")
    return Memory(tray, window, bare, bare_gl)


# --- report ---------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def mib(n: float) -> str:
    return f"{n / MIB:.1f}"


def verdict(ok: bool) -> str:
    return "pass" if ok else "MISS"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app", required=True, help="the patchbay-app binary")
    parser.add_argument("--bare", required=True, help="the bare_window example binary")
    parser.add_argument("--runs", type=int, default=5, help="timed start-up runs per case (default 5)")
    parser.add_argument("--memory-runs", type=int, default=3, help="footprint runs (default 3)")
    opts = parser.parse_args()
    if not os.environ.get("PATCHBAY_BIN"):
        raise BenchError("PATCHBAY_BIN must name the `patchbay` the app starts")
    app_bin, bare_bin = str(Path(opts.app).resolve()), str(Path(opts.bare).resolve())

    log("warm-up run (untimed)")
    start_to_tray(app_bin, hub_first=False)
    starts: dict[str, list[tuple[float, float]]] = {"cold (the app starts the hub)": [], "hub running": []}
    for i in range(opts.runs):
        for case, hub_first in (("cold (the app starts the hub)", False), ("hub running", True)):
            log(f"start-to-tray, {case}, run {i + 1}/{opts.runs}")
            starts[case].append(start_to_tray(app_bin, hub_first))
    mems = []
    for i in range(opts.memory_runs):
        log(f"footprint run {i + 1}/{opts.memory_runs}")
        mems.append(memory(app_bin, bare_bin))

    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} cores; 1-minute load average {load:.2f} at the end\n")
    print(f"### Desktop app: start-to-tray, {SERVERS} stdio servers configured ({opts.runs} runs each)\n")
    print("| case | tray registered: median ms | max ms | menu lists all servers running: median ms | max ms |")
    print("|---|---:|---:|---:|---:|")
    for case, runs in starts.items():
        reg, menu = [r for r, _ in runs], [m for _, m in runs]
        print(f"| {case} | {ms(statistics.median(reg))} | {ms(max(reg))} | "
              f"{ms(statistics.median(menu))} | {ms(max(menu))} |")

    def med(pick: Callable[[Memory], Footprint], field: str) -> float:
        return statistics.median(getattr(pick(m), field) for m in mems)

    rows = [("tray only (`--tray`)", lambda m: m.tray), ("window open", lambda m: m.window),
            ("bare Tauri window, GTK's GL off as in the app (`GDK_GL=disable bare_window`)", lambda m: m.bare),
            ("bare Tauri window, GTK's default (`bare_window`)", lambda m: m.bare_gl)]
    print(f"\n### Desktop app: total memory of the app and its WebKit processes, hub excluded "
          f"(median of {opts.memory_runs} runs)\n")
    print("| state | RSS MiB | RSS MB | PSS MiB | RSS MiB by process (first run) |")
    print("|---|---:|---:|---:|---|")
    for name, pick in rows:
        rss, pss = med(pick, "rss"), med(pick, "pss")
        by_process = ", ".join(f"{n} {mib(b)}" for n, b in sorted(pick(mems[0]).per_process.items()))
        print(f"| {name} | {mib(rss)} | {rss / MB:.1f} | {mib(pss)} | {by_process} |")

    tray_rss, window_rss, bare_rss = med(rows[0][1], "rss"), med(rows[1][1], "rss"), med(rows[2][1], "rss")
    bare_gl_rss = med(rows[3][1], "rss")
    worst_start = max(r for runs in starts.values() for r, _ in runs)
    over = window_rss / bare_rss - 1
    print("\n### Desktop app targets (reported, not asserted)\n")
    print("| target | figure | limit | result |")
    print("|---|---|---|---|")
    print(f"| tray-only total RSS | {tray_rss / MB:.1f} MB | <= {TARGET_TRAY_MB:.0f} MB | "
          f"{verdict(tray_rss / MB <= TARGET_TRAY_MB)} |")
    print(f"| window open vs bare Tauri window with GTK's GL off | {window_rss / MB:.1f} MB vs {bare_rss / MB:.1f} MB: "
          f"{over * 100:+.1f}% | <= +{TARGET_WINDOW_OVER_BARE * 100:.0f}% | {verdict(over <= TARGET_WINDOW_OVER_BARE)} |")
    over_gl = window_rss / bare_gl_rss - 1
    print(f"| window open vs bare Tauri window as Tauri sets it up | {window_rss / MB:.1f} MB vs {bare_gl_rss / MB:.1f} MB: "
          f"{over_gl * 100:+.1f}% | <= +{TARGET_WINDOW_OVER_BARE * 100:.0f}% | {verdict(over_gl <= TARGET_WINDOW_OVER_BARE)} |")
    print(f"| start-to-tray (slowest run, either case) | {ms(worst_start)} ms | <= {TARGET_START_S * 1000:.0f} ms | "
          f"{verdict(worst_start <= TARGET_START_S)} |")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (BenchError, pytest.fail.Exception) as e:  # the harness fails as it would a test
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
