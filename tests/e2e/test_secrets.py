"""`patchbay secret`: env secrets for stdio servers live in the real OS keychain (GNOME Keyring's
Secret Service, as scripts/keyring-session provides), reach the child, and never appear in the
config file, logs, errors or `--json` output.

Exit codes under test: 4 not found, 8 keychain unreachable.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from hashlib import sha256
from pathlib import Path

import pytest
from oauth_bed import keyring_bus_address
from patchbay_harness import Hub, Sandbox, cli_json, mcp_session, server_status, wait_server_running, wait_until

PROBE = Path(__file__).resolve().parent / "servers" / "env_probe.py"
UNREACHABLE_EXIT = 8


@pytest.fixture
def keyring(sandbox: Sandbox) -> Sandbox:
    """The sandbox, with the session bus of the test keyring passed through to its processes."""
    sandbox.env["DBUS_SESSION_BUS_ADDRESS"] = keyring_bus_address()
    return sandbox


@pytest.fixture
def value() -> str:
    """A secret value unique to this test, easy to search for anywhere."""
    return f"pb-secret-{uuid.uuid4().hex}-Ünï"


def probe_cmd() -> list[str]:
    return [sys.executable, str(PROBE)]


def secret_list(sandbox: Sandbox) -> list[dict[str, object]]:
    return cli_json(sandbox, "secret", "list")


def lookup(sandbox: Sandbox, service: str, account: str) -> str | None:
    """Read an entry from a separate process, the way any other keychain client would."""
    result = subprocess.run(
        ["secret-tool", "lookup", "service", service, "username", account],
        env=sandbox.env,
        capture_output=True,
        text=True,
        timeout=15,
    )
    return result.stdout if result.returncode == 0 else None


def files_containing(root: Path, needle: str) -> list[Path]:
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            try:
                if needle.encode() in path.read_bytes():
                    found.append(path)
            except OSError:
                pass
    return found


def add_probe(sandbox: Sandbox) -> subprocess.CompletedProcess[str]:
    result = sandbox.run_cli("add", "probe", "--yes", "--secret-env", "API_KEY", "--", *probe_cmd())
    assert result.returncode == 0, f"add failed:\n{result.stderr}"
    return result


def test_secret_reaches_the_child_and_nothing_else(keyring: Sandbox, start_hub, value: str) -> None:
    sandbox = keyring
    added = add_probe(sandbox)
    assert "API_KEY=<from the keychain>" in added.stderr, f"approval text shows where the value comes from:\n{added.stderr}"
    assert "patchbay secret set probe API_KEY" in added.stderr, f"add says the value is still missing:\n{added.stderr}"

    stored = sandbox.run_cli("secret", "set", "probe", "API_KEY", input=value + "\n")
    assert stored.returncode == 0, f"secret set failed:\n{stored.stderr}"

    rows = secret_list(sandbox)
    assert [(r["server"], r["var"], r["stored"], r["referenced"]) for r in rows] == [("probe", "API_KEY", True, True)]
    service, account = rows[0]["service"], rows[0]["account"]
    assert account == "server/probe/env/API_KEY"
    assert lookup(sandbox, str(service), str(account)) == value, (
        "a separate process reads exactly the stored value from the Secret Service"
    )

    config = sandbox.config_file.read_text()
    assert 'secret_env = ["API_KEY"]' in config and value not in config, f"the config holds only the name:\n{config}"

    hub: Hub = start_hub()
    status = wait_server_running(sandbox, "probe")["probe"]
    environ = Path(f"/proc/{status['pid']}/environ").read_bytes().split(b"\0")
    assert f"API_KEY={value}".encode() in environ, "the child process got the value in its environment"

    async def digest() -> str:
        async with mcp_session(hub.url, hub.secret) as session:
            result = await session.call_tool("probe__env_digest", {"name": "API_KEY"})
            return result.content[0].text

    import anyio

    expected = f"{len(value)}:{sha256(value.encode()).hexdigest()}"
    assert anyio.run(digest) == expected, "the server itself sees the exact value"

    outputs = [
        sandbox.run_cli("list", "--json").stdout,
        sandbox.run_cli("status", "--json").stdout,
        sandbox.run_cli("secret", "list", "--json").stdout,
        sandbox.run_cli("secret", "list").stdout,
        sandbox.run_cli("logs", "probe").stdout,
        stored.stdout + stored.stderr,
        added.stdout + added.stderr,
    ]
    assert not [o for o in outputs if value in o], "no command prints the value"
    hub.stop()
    leaks = files_containing(sandbox.root, value)
    assert not leaks, f"the value was written to plain files: {leaks}"


def test_missing_secret_is_a_clear_error_until_it_is_set(keyring: Sandbox, start_hub, value: str) -> None:
    sandbox = keyring
    add_probe(sandbox)
    start_hub()
    expected = "secret API_KEY for server probe is not in the keychain; run `patchbay secret set probe API_KEY`"

    def failing() -> dict[str, object] | None:
        s = server_status(sandbox, "probe")
        return s if s and s.get("last_error") == expected and not s.get("pid") else None

    wait_until(failing, 20, "the server is not started without its secret, and says why")

    stored = sandbox.run_cli("secret", "set", "probe", "API_KEY", input=value)
    assert stored.returncode == 0, stored.stderr
    assert "restarted `probe`" in stored.stderr, f"set restarts the server in the running hub:\n{stored.stderr}"
    status = wait_server_running(sandbox, "probe")["probe"]
    assert status["last_error"] is None


def test_set_moves_a_plain_value_out_of_the_config(keyring: Sandbox, value: str) -> None:
    sandbox = keyring
    sandbox.add_server("plain", probe_cmd(), env={"API_KEY": value, "TZ": "UTC"})
    assert value in sandbox.config_file.read_text()
    stored = sandbox.run_cli("secret", "set", "plain", "API_KEY", input=value)
    assert stored.returncode == 0, stored.stderr
    config = sandbox.config_file.read_text()
    assert value not in config and 'secret_env = ["API_KEY"]' in config and "TZ" in config, config
    listed = cli_json(sandbox, "list")
    assert listed[0]["secret_env"] == ["API_KEY"] and listed[0]["env"] == ["TZ"], listed


def test_rm_and_remove_delete_from_the_keychain(keyring: Sandbox, value: str) -> None:
    sandbox = keyring
    add_probe(sandbox)
    for var in ("API_KEY", "OTHER"):
        result = sandbox.run_cli("secret", "set", "probe", var, input=value)
        assert result.returncode == 0, result.stderr
    rows = {r["var"]: r for r in secret_list(sandbox)}
    assert rows["OTHER"]["referenced"] is True, "set adds the reference for a configured server"
    service = str(rows["API_KEY"]["service"])

    rm = sandbox.run_cli("secret", "rm", "probe", "OTHER")
    assert rm.returncode == 0, rm.stderr
    assert "will not start until it is set again" in rm.stderr, rm.stderr
    assert lookup(sandbox, service, "server/probe/env/OTHER") is None
    again = sandbox.run_cli("secret", "rm", "probe", "OTHER")
    assert again.returncode == 4 and "no secret `OTHER`" in again.stderr, again.stderr

    removed = sandbox.run_cli("remove", "probe")
    assert removed.returncode == 0, removed.stderr
    assert lookup(sandbox, service, "server/probe/env/API_KEY") is None, "remove deletes the server's secrets"
    assert secret_list(sandbox) == []


def test_set_rejects_bad_names_and_empty_values_before_storing(keyring: Sandbox) -> None:
    sandbox = keyring
    bad = sandbox.run_cli("secret", "set", "probe", "1BAD", input="x")
    assert bad.returncode == 1 and "invalid environment variable `1BAD`" in bad.stderr, bad.stderr
    empty = sandbox.run_cli("secret", "set", "probe", "API_KEY", input="\n")
    assert empty.returncode == 1 and "empty" in empty.stderr, empty.stderr
    assert secret_list(sandbox) == []


@pytest.fixture
def no_keychain(sandbox: Sandbox, tmp_path: Path) -> Iterator[Sandbox]:
    sandbox.env["DBUS_SESSION_BUS_ADDRESS"] = f"unix:path={tmp_path / 'no-bus-here'}"
    yield sandbox


def test_no_keychain_is_a_clear_error_and_nothing_is_written(no_keychain: Sandbox, value: str) -> None:
    sandbox = no_keychain
    add_probe(sandbox)
    before = sandbox.config_file.read_text()
    result = sandbox.run_cli("secret", "set", "probe", "API_KEY", input=value)
    assert result.returncode == UNREACHABLE_EXIT, f"exit {result.returncode}:\n{result.stderr}"
    assert result.stderr.startswith(
        "error: no keychain reachable: no Secret Service on the D-Bus session bus"
    ), result.stderr
    assert "hint:" in result.stderr and "gnome-keyring" in result.stderr and "plain file" in result.stderr, result.stderr
    assert value not in result.stderr + result.stdout
    assert sandbox.config_file.read_text() == before, "the config is untouched"
    assert not files_containing(sandbox.root, value), "no plaintext fallback anywhere"

    listed = sandbox.run_cli("secret", "list", "--json")
    assert listed.returncode == UNREACHABLE_EXIT and listed.stdout == "", listed
    assert json.loads(sandbox.run_cli("list", "--json").stdout)[0]["secret_env"] == ["API_KEY"]


def test_doctor_reports_the_keychain_a_server_needs(no_keychain: Sandbox) -> None:
    sandbox = no_keychain
    clean = json.loads(sandbox.run_cli("doctor", "--json").stdout)
    keychain = next(c for c in clean["checks"] if c["check"] == "keychain")
    assert keychain["ok"] is True and "no configured server needs it" in keychain["detail"], keychain
    add_probe(sandbox)
    result = sandbox.run_cli("doctor", "--json")
    keychain = next(c for c in json.loads(result.stdout)["checks"] if c["check"] == "keychain")
    assert result.returncode != 0 and keychain["ok"] is False, keychain
    assert "needed by `probe`" in keychain["detail"] and "gnome-keyring" in keychain["hint"], keychain
