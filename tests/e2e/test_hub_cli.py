"""The `patchbay` CLI: saving servers, refusing bad input with the documented exit codes, and
reporting a running hub (one per user) as JSON.

Exit codes under test: 3 config error, 4 not found, 5 conflict, 7 declined.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
import tomllib
from collections.abc import Callable
from typing import Any

import pytest
from patchbay_harness import (
    Hub,
    Sandbox,
    cli_json,
    cmdline,
    everything_cmd,
    patchbay_bin,
    pid_alive,
    patchbay_processes,
    server_status,
    wait_server_running,
    wait_until,
)

LONG_ARG = "--long=" + "x" * 300 + "-end"


def saved_servers(sandbox: Sandbox) -> dict[str, Any]:
    if not sandbox.config_file.exists():
        return {}
    return tomllib.loads(sandbox.config_file.read_text()).get("servers", {})


# --- add -----------------------------------------------------------------------------------------


def test_add_shows_the_exact_untruncated_command_and_saves_it(sandbox: Sandbox) -> None:
    cmd = [*everything_cmd(), "arg with spaces", LONG_ARG]
    result = sandbox.run_cli("add", "everything", "--yes", "--", *cmd)
    assert result.returncode == 0, f"add failed:\n{result.stderr}"

    shown = [line.strip() for line in result.stderr.splitlines() if LONG_ARG in line]
    assert shown, f"the long argument must be shown in full (not cut or ellipsised) before saving:\n{result.stderr}"
    assert shlex.split(shown[0]) == cmd, (
        f"the command shown must be exactly the argv that will run (quoted so spaces stay visible):\n"
        f"shown:    {shown[0]}\nexpected: {shlex.join(cmd)}"
    )
    assert result.stderr.index(LONG_ARG) < result.stderr.index("added"), "the command is shown before it is saved"

    server = saved_servers(sandbox).get("everything")
    assert server is not None, f"`everything` not saved in {sandbox.config_file}:\n{sandbox.config_file.read_text()}"
    assert [server["command"], *server["args"]] == cmd, "the saved argv is the given one, byte for byte"
    assert server.get("enabled", True) is True


def test_add_saves_env_and_cwd_and_shows_them(sandbox: Sandbox) -> None:
    result = sandbox.run_cli(
        "add", "env-demo", "--yes", "--env", "GREETING=hello world", "--env", "MODE=test",
        "--cwd", str(sandbox.root), "--", "echo", "hi",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "GREETING='hello world'" in result.stderr and str(sandbox.root) in result.stderr, (
        f"the approval text shows the environment and the working directory the server gets:\n{result.stderr}"
    )
    server = saved_servers(sandbox)["env-demo"]
    assert server["env"] == {"GREETING": "hello world", "MODE": "test"}
    assert server["cwd"] == str(sandbox.root)


@pytest.mark.parametrize("stdin", [None, "y\n"], ids=["stdin-devnull", "stdin-pipe-saying-y"])
def test_add_without_yes_on_non_tty_refuses_with_exit_7_and_saves_nothing(sandbox: Sandbox, stdin: str | None) -> None:
    result = sandbox.run_cli("add", "everything", "--", *everything_cmd(), input=stdin)
    assert result.returncode == 7, f"no approval is possible without a terminal: expected exit 7, got {result.returncode}\n{result.stderr}"
    assert "error:" in result.stderr and "--yes" in result.stderr, f"the refusal says how to approve:\n{result.stderr}"
    assert "everything" not in saved_servers(sandbox), "a declined server must not be saved"


def test_add_of_a_taken_name_exits_5_and_keeps_the_first(sandbox: Sandbox) -> None:
    sandbox.add_server("everything", everything_cmd())
    before = sandbox.config_file.read_bytes()
    result = sandbox.run_cli("add", "everything", "--yes", "--", "echo", "other")
    assert result.returncode == 5, f"a taken name is a conflict (exit 5), got {result.returncode}:\n{result.stderr}"
    assert "already exists" in result.stderr, result.stderr
    assert sandbox.config_file.read_bytes() == before, "the config file is untouched by a refused add"


@pytest.mark.parametrize("name", ["bad name", "a__b", "_lead", "x" * 33, "ünï", "a/b"])
def test_add_of_an_invalid_name_exits_3_and_saves_nothing(sandbox: Sandbox, name: str) -> None:
    result = sandbox.run_cli("add", name, "--yes", "--", "echo", "hi")
    assert result.returncode == 3, f"`{name}` is not a valid server name: expected exit 3, got {result.returncode}\n{result.stderr}"
    assert "invalid server name" in result.stderr, result.stderr
    assert saved_servers(sandbox) == {}, "nothing is saved for an invalid name"


# --- list / status -------------------------------------------------------------------------------


def test_list_and_status_json_without_a_hub(sandbox: Sandbox) -> None:
    assert cli_json(sandbox, "list") == [], "a fresh installation lists no servers"
    sandbox.add_server("everything", everything_cmd())

    listed = cli_json(sandbox, "list")
    assert [s["name"] for s in listed] == ["everything"]
    assert [listed[0]["command"], *listed[0]["args"]] == everything_cmd()
    assert listed[0]["enabled"] is True

    status = cli_json(sandbox, "status")
    assert status["hub"]["running"] is False, "no hub was started"
    assert status["config_file"] == str(sandbox.config_file)
    (server,) = status["servers"]
    assert server["name"] == "everything" and server["state"] == "stopped", server
    assert server["pid"] is None and server["uptime_secs"] is None, "a stopped server has no pid or uptime"
    assert server["command"] == shlex.join(everything_cmd())


def test_list_and_status_json_with_a_running_hub(sandbox: Sandbox, start_hub: Callable[..., Hub]) -> None:
    sandbox.add_server("everything", everything_cmd())
    hub = start_hub()
    server = wait_server_running(sandbox, "everything")["everything"]

    status = cli_json(sandbox, "status")
    assert status["hub"]["running"] is True
    assert status["hub"]["pid"] == hub.pid and status["hub"]["url"] == hub.url, status["hub"]

    assert isinstance(server["pid"], int) and pid_alive(server["pid"]), f"status names the live child: {server}"
    assert cmdline(server["pid"]) == everything_cmd(), f"the pid is server-everything's: {cmdline(server['pid'])}"
    assert server["tools"] >= 13, f"server-everything has at least 13 tools: {server}"
    assert isinstance(server["uptime_secs"], int) and server["uptime_secs"] >= 0, server
    assert server["restarts"] == 0 and server["last_error"] is None, server

    later = wait_until(
        lambda: (s := server_status(sandbox, "everything")) and s["uptime_secs"] > server["uptime_secs"] and s,
        5,
        "uptime_secs must grow while the server runs",
    )
    assert later["pid"] == server["pid"], "the same child keeps running"

    listed = {s["name"]: s for s in cli_json(sandbox, "list")}
    assert listed["everything"]["state"] == "running" and listed["everything"]["tools"] == server["tools"], listed

    tools = cli_json(sandbox, "tools")
    names = {t["name"] for t in tools}
    assert "everything__echo" in names and len(tools) == server["tools"], f"`tools --json` lists the hub's tools: {names}"
    echo = next(t for t in tools if t["name"] == "everything__echo")
    assert echo["server"] == "everything" and echo["original"] == "echo", echo


def test_json_output_into_a_closed_pipe_does_not_panic(sandbox: Sandbox) -> None:
    """`patchbay list --json | head -1` is ordinary shell use: a closed stdout must end the
    command quietly, not with a Rust panic and a backtrace."""
    # More output than a pipe buffers (64 KiB), so the CLI is still writing when the reader goes.
    sandbox.config_file.write_text(
        "".join(f'[servers.s{i}]\ncommand = "echo"\nargs = ["{"x" * 2000}"]\n\n' for i in range(80))
    )
    proc = subprocess.Popen(
        [patchbay_bin(), "list", "--json"],
        env=sandbox.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(10)
    proc.stdout.close()  # like `| head -c 10`
    try:
        err = proc.stderr.read().decode(errors="replace")
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "panicked" not in err, f"a closed pipe made the CLI panic:\n{err[:800]}"


# --- remove / enable / disable -------------------------------------------------------------------


def test_remove_deletes_the_server_and_stops_its_child(sandbox: Sandbox, start_hub: Callable[..., Hub]) -> None:
    sandbox.add_server("everything", everything_cmd())
    sandbox.add_server("other", everything_cmd())
    start_hub()
    child = wait_server_running(sandbox, "everything")["everything"]["pid"]

    result = sandbox.run_cli("remove", "everything")
    assert result.returncode == 0, result.stderr
    assert set(saved_servers(sandbox)) == {"other"}, "only the removed server leaves the config"
    wait_until(lambda: not pid_alive(child), 10, f"the removed server's child {child} must stop")
    wait_until(
        lambda: [s["name"] for s in cli_json(sandbox, "status")["servers"]] == ["other"],
        5,
        "status must stop listing a removed server",
    )

    missing = sandbox.run_cli("remove", "everything")
    assert missing.returncode == 4, f"removing an unknown server is `not found` (4), got {missing.returncode}"


def test_disable_and_enable_are_saved(sandbox: Sandbox) -> None:
    sandbox.add_server("everything", everything_cmd())
    assert sandbox.run_cli("disable", "everything").returncode == 0
    assert saved_servers(sandbox)["everything"]["enabled"] is False
    assert sandbox.run_cli("enable", "everything").returncode == 0
    assert saved_servers(sandbox)["everything"]["enabled"] is True
    assert sandbox.run_cli("enable", "nope").returncode == 4, "enabling an unknown server is `not found`"


# --- one hub per user ----------------------------------------------------------------------------


def test_second_serve_exits_5_naming_the_first_hub_and_starts_nothing(sandbox: Sandbox, hub: Hub) -> None:
    result = sandbox.run_cli("serve", "--port", "0", timeout=15)
    assert result.returncode == 5, f"a second hub is a conflict (exit 5), got {result.returncode}:\n{result.stderr}"
    assert str(hub.pid) in result.stderr and hub.url in result.stderr, (
        f"the refusal names the running hub's pid {hub.pid} and url {hub.url}:\n{result.stderr}"
    )
    info = sandbox.read_hub_file()
    assert info is not None and info["pid"] == hub.pid and info["url"] == hub.url, f"hub.json still names the first hub: {info}"
    serves = patchbay_processes(sandbox, "serve")
    assert serves == [hub.pid], f"exactly one `patchbay serve` runs for this PATCHBAY_HOME: {serves}"
    assert cli_json(sandbox, "status")["hub"]["pid"] == hub.pid


def test_stale_hub_file_of_a_sigkilled_hub_is_replaced_by_the_next_serve(
    sandbox: Sandbox, start_hub: Callable[..., Hub]
) -> None:
    first = start_hub()
    os.kill(first.pid, signal.SIGKILL)
    assert first.proc is not None
    first.proc.wait(5)  # reap it, as its parent would: a zombie's pid still looks alive to kill(pid, 0)
    stale = sandbox.read_hub_file()
    assert stale is not None and stale["pid"] == first.pid, "a SIGKILLed hub cannot clean up: its hub.json stays"

    assert cli_json(sandbox, "status")["hub"]["running"] is False, "status must see through a stale hub.json"

    second = start_hub()
    assert second.pid != first.pid
    info = sandbox.read_hub_file()
    assert info is not None and info["pid"] == second.pid and pid_alive(second.pid), f"hub.json names the new hub: {info}"
    status = cli_json(sandbox, "status")
    assert status["hub"]["running"] is True and status["hub"]["pid"] == second.pid, status["hub"]


def test_hub_file_is_removed_when_the_hub_stops(sandbox: Sandbox, hub: Hub) -> None:
    assert sandbox.hub_file.exists()
    assert hub.stop() == 0, f"SIGTERM is a clean stop (exit 0), got {hub.exit_code}\n{hub.stderr_tail()}"
    assert not sandbox.hub_file.exists(), "a hub that stops cleanly removes its discovery file"
    assert cli_json(sandbox, "status")["hub"]["running"] is False


# --- doctor --------------------------------------------------------------------------------------


def test_doctor_json_reports_the_config_ok(sandbox: Sandbox) -> None:
    # A free port of its own: the default port may be in use by someone else on a shared machine,
    # which doctor rightly reports.
    sandbox.config_file.write_text("[hub]\nport = 0\n")
    sandbox.add_server("everything", everything_cmd())
    result = sandbox.run_cli("doctor", "--json")
    report = json.loads(result.stdout)
    failed = [c for c in report["checks"] if not c["ok"]]
    assert result.returncode == 0 and not failed, f"doctor exited {result.returncode}; failed checks: {failed}"
    checks = {c["check"]: c for c in report["checks"]}
    assert checks["config"]["ok"] is True and str(sandbox.config_file) in checks["config"]["detail"], checks["config"]
    assert report["ok"] is True, f"a healthy installation passes every check: {report}"
    assert all(isinstance(c["ok"], bool) and c["detail"] for c in report["checks"]), report


def test_doctor_json_reports_a_broken_config_with_its_position(sandbox: Sandbox) -> None:
    sandbox.config_file.write_text('[servers.everything\ncommand = "node"\n')
    result = sandbox.run_cli("doctor", "--json")
    assert result.returncode != 0, "a failed check makes doctor exit non-zero"

    checks = {c["check"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["config"]["ok"] is False
    assert f"{sandbox.config_file}:1:" in checks["config"]["detail"], f"the detail names file:line:col: {checks['config']}"


# --- config watching must not spin ---------------------------------------------------------------


def test_cli_commands_do_not_make_an_idle_hub_reapply_its_config_in_a_loop(
    sandbox: Sandbox, start_hub: Callable[..., Hub]
) -> None:
    """An unchanged config is not re-applied: a CLI command that only reads the config must not
    start a reload every debounce period (log noise, wasted work, ever-growing logs)."""
    sandbox.add_server("everything", everything_cmd())
    hub = start_hub()
    wait_server_running(sandbox, "everything")
    assert sandbox.run_cli("list").returncode == 0
    assert sandbox.run_cli("status").returncode == 0
    time.sleep(3)
    assert hub.stderr_log is not None
    applied = hub.stderr_log.read_text(errors="replace").count("config applied")
    assert applied <= 1, f"the hub re-applied an unchanged config {applied} times in 3 s after `patchbay list`"
