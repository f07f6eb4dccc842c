"""The catalogue from the command line: `patchbay search`, `show` and `add --from-registry`
against a registry on 127.0.0.1 (`servers/registry.py`, a stand-in: the public MCP Registry
cannot be reached from here) serving records written to the registry's published schema. Real
servers behind them: server-everything from npm (`npx`), mcp-server-time from PyPI (`uvx`),
server-everything over Streamable HTTP as a remote entry, and an `.mcpb` bundle packed by the real
packer and served by the stand-in; each is added and called through the hub. Hostile records
(a bundle whose bytes are not the ones its record names among them) are refused with the
reason, and nothing is saved."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from oauth_bed import keyring_bus_address
from patchbay_harness import (
    PEERS,
    Hub,
    Sandbox,
    everything_http,
    mcp_session,
    pid_alive,
    server_status,
    stop_process,
    wait_until,
)

pytestmark = pytest.mark.anyio

REGISTRY = Path(__file__).parent / "servers" / "registry.py"
PYTHON = PEERS / "venv" / "bin" / "python"
EVERYTHING = "io.github.modelcontextprotocol/server-everything"
TIME = "io.github.modelcontextprotocol/mcp-server-time"
BUNDLE = "io.github.patchbay-tests/weather-bundle"
REMOTE = "io.github.patchbay-tests/everything-remote"
ADD_TIMEOUT = 120.0  # a cold npx or uvx fetches the package first
NAME = re.compile(r"^[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+$")


def record(name: str, version: str, latest: bool = True, **server: Any) -> dict[str, Any]:
    """A `ServerResponse` as the registry's API answers it."""
    detail = {"$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
              "name": name, "description": f"{name} for the tests", "version": version, **server}
    official = {"status": "active", "isLatest": latest, "publishedAt": "2026-12-01T00:00:00Z"}
    return {"server": detail, "_meta": {"io.modelcontextprotocol.registry/official": official}}


def npm(identifier: str, version: str, **package: Any) -> dict[str, Any]:
    return {"registryType": "npm", "identifier": identifier, "version": version, "transport": {"type": "stdio"}, **package}


def check(response: dict[str, Any]) -> None:
    """The published schema's rules for a record (ServerResponse / ServerDetail / Package), so
    that the stand-in serves nothing the real registry would not."""
    server = response["server"]
    assert NAME.match(server["name"]) and 3 <= len(server["name"]) <= 200, server["name"]
    assert server["description"] and len(server["description"]) <= 100
    assert server["version"] and server["version"] != "latest"
    for package in server.get("packages", []):
        assert {"registryType", "identifier", "transport"} <= package.keys(), package
        assert package.get("version") != "latest"
        assert package["transport"]["type"] in ("stdio", "streamable-http", "sse")
        if "fileSha256" in package:
            assert re.fullmatch(r"[a-f0-9]{64}", package["fileSha256"])
    for remote in server.get("remotes", []):
        assert remote["type"] in ("streamable-http", "sse") and re.match(r"^https?://\S+$", remote["url"])


def records(remote_url: str, bundle_sha256: str) -> list[dict[str, Any]]:
    everything = npm("@modelcontextprotocol/server-everything", "2026.8.31",
                     packageArguments=[{"type": "positional", "value": "stdio"}])
    time = {"registryType": "pypi", "identifier": "mcp-server-time", "version": "2026.10.19", "transport": {"type": "stdio"},
            "packageArguments": [{"type": "named", "name": "--local-timezone", "isRequired": True, "default": "UTC",
                                  "description": "The zone the server calls local"}],
            "environmentVariables": [{"name": "TIME_API_TOKEN", "isRequired": True, "isSecret": True,
                                      "description": "A token (the server ignores it)"}]}
    # Served by the stand-in itself (`{self}`); 0.9.0's record names other bytes than those served.
    bundle = {"registryType": "mcpb", "identifier": "{self}/files/weather-bundle.mcpb", "version": "1.0.0",
              "fileSha256": bundle_sha256, "transport": {"type": "stdio"}}
    tampered = {**bundle, "version": "0.9.0", "fileSha256": "0" * 64}
    return [
        record(EVERYTHING, "2026.8.31", packages=[everything]),
        record(TIME, "2025.1.1", latest=False, packages=[{**time, "version": "2025.1.1"}]),
        record(TIME, "2026.10.19", packages=[time]),
        record(REMOTE, "1.0.0", remotes=[{"type": "streamable-http", "url": remote_url}]),
        record(BUNDLE, "0.9.0", latest=False, packages=[tampered]),
        record(BUNDLE, "1.0.0", packages=[bundle]),
        record("io.github.evil/injector", "1.0.0",
               packages=[npm("evil-mcp", "1.0.0", packageArguments=[{"type": "positional", "value": "x; touch pwned"}])]),
        record("io.github.evil/unknown-type", "1.0.0",
               packages=[{"registryType": "cargo", "identifier": "weather", "version": "1.0.0", "transport": {"type": "stdio"}}]),
    ]


@pytest.fixture
def registry(sandbox: Sandbox, weather_bundle: Path) -> Iterator[tuple[str, Path]]:
    """The stand-in registry with `records`, configured as the only one; its URL and its log."""
    with everything_http(sandbox.root) as remote_url:
        served = records(remote_url, hashlib.sha256(weather_bundle.read_bytes()).hexdigest())
        for response in served:
            check(response)
        path, port_file, log = sandbox.root / "records.json", sandbox.root / "registry.port", sandbox.root / "registry.log"
        path.write_text(json.dumps(served))
        proc = subprocess.Popen([str(PYTHON), str(REGISTRY), str(path), "--port-file", str(port_file), "--log", str(log),
                                 "--files", str(weather_bundle.parent)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        (sandbox.root / "registry.pid").write_text(str(proc.pid))  # for a test that stops it early
        try:
            wait_until(lambda: port_file.exists() and port_file.read_text(), 10, "the registry listens")
            url = f"http://127.0.0.1:{port_file.read_text()}"
            sandbox.config_file.write_text(f'[catalog]\nregistries = ["{url}"]\n')
            # The runtimes the entries need, from the test peers; their caches kept across runs.
            sandbox.env["PATH"] = f"{PEERS / 'venv' / 'bin'}{os.pathsep}{sandbox.env['PATH']}"
            sandbox.env["UV_CACHE_DIR"] = str(PEERS / "uv-cache")
            sandbox.env["npm_config_cache"] = str(PEERS / "npm-cache")
            sandbox.env["DBUS_SESSION_BUS_ADDRESS"] = keyring_bus_address()
            yield url, log
        finally:
            stop_process(proc)


def test_search_follows_pages_and_shows_the_latest_version_of_each(sandbox: Sandbox, registry: tuple[str, Path]) -> None:
    _, log = registry
    found = sandbox.run_cli("search", "--json")
    assert found.returncode == 0, found.stderr
    names = [(r["server"]["name"], r["server"]["version"]) for r in json.loads(found.stdout)]
    assert (TIME, "2026.10.19") in names and (TIME, "2025.1.1") not in names, names
    assert len(names) == 6 and len({n for n, _ in names}) == 6, names
    pages = [line for line in log.read_text().splitlines() if line.startswith("/v0.1/servers?")]
    assert len(pages) == 3 and "cursor=4" in pages[-1], f"three pages of two, cursors followed: {pages}"

    table = sandbox.run_cli("search", "time")
    assert table.returncode == 0, table.stderr
    [line] = table.stdout.splitlines()
    assert line.split()[:3] == [TIME, "2026.10.19", "pypi"], line

    shown = sandbox.run_cli("show", TIME)
    assert shown.returncode == 0, shown.stderr
    assert "uvx mcp-server-time==2026.10.19 --local-timezone UTC" in shown.stdout, shown.stdout
    asks = [line.strip() for line in shown.stdout.splitlines() if line.strip().startswith("asks")]
    assert asks[0].startswith("asks 1. --local-timezone") and asks[1].startswith("asks 2. TIME_API_TOKEN"), asks
    assert "keychain" in asks[1]
    older = sandbox.run_cli("show", TIME, "--version", "2025.1.1", "--json")
    assert json.loads(older.stdout)["server"]["version"] == "2025.1.1"
    missing = sandbox.run_cli("show", "io.github.nobody/nothing")
    assert missing.returncode == 4 and "no registry lists" in missing.stderr, missing.stderr


async def test_entries_of_each_kind_are_added_and_their_tools_called_through_the_hub(
    sandbox: Sandbox, registry: tuple[str, Path], start_hub: Callable[..., Hub]
) -> None:
    added = sandbox.run_cli("add", "--from-registry", EVERYTHING, "--yes", timeout=ADD_TIMEOUT)
    assert added.returncode == 0, added.stderr
    assert "npx -y @modelcontextprotocol/server-everything@2026.8.31 stdio" in added.stderr, added.stderr
    # Values from stdin, in `show`'s order: the default time zone (empty line), then the secret.
    added = sandbox.run_cli("add", "--from-registry", TIME, "--yes", input="\nt0ken-for-the-test\n", timeout=ADD_TIMEOUT)
    assert added.returncode == 0, added.stderr
    added = sandbox.run_cli("add", "--from-registry", REMOTE, "--name", "far", "--yes", timeout=ADD_TIMEOUT)
    assert added.returncode == 0, added.stderr

    config = sandbox.config_file.read_text()
    assert '[servers.server-everything]' in config and '[servers.mcp-server-time]' in config, config
    assert 'args = ["mcp-server-time==2026.10.19", "--local-timezone", "UTC"]' in config, config
    assert f'registry = {{ name = "{TIME}", version = "2026.10.19" }}' in config, config
    assert 'secret_env = ["TIME_API_TOKEN"]' in config, config
    assert "[servers.far]" in config, config
    secrets = sandbox.run_cli("secret", "list", "--json")
    assert any(s.get("server") == "mcp-server-time" and s.get("var") == "TIME_API_TOKEN" and s.get("stored")
               for s in json.loads(secrets.stdout)), secrets.stdout
    for path in sandbox.root.rglob("*"):
        if path.is_file() and path.stat().st_size < 10_000_000:
            assert b"t0ken-for-the-test" not in path.read_bytes(), f"the secret is in {path}"

    hub = start_hub()
    async with mcp_session(hub.url, hub.secret) as session:
        echoed = await session.call_tool("server-everything__echo", {"message": "from the registry"})
        assert "from the registry" in echoed.content[0].text, echoed
        told = await session.call_tool("mcp-server-time__get_current_time", {"timezone": "UTC"})
        assert not told.is_error and "UTC" in told.content[0].text, told
        far = await session.call_tool("far__echo", {"message": "remote"})
        assert "remote" in far.content[0].text, far


def test_hostile_or_unrunnable_records_are_refused_and_nothing_is_saved(sandbox: Sandbox, registry: tuple[str, Path]) -> None:
    before = sandbox.config_file.read_bytes()
    refusals = {
        "io.github.evil/injector": "shell metacharacter",
        "io.github.evil/unknown-type": "`cargo` is not one Patchbay runs",
        f"{BUNDLE}@0.9.0": f"not the {'0' * 64} its record names; refused",
    }
    for name, reason in refusals.items():
        name, _, version = name.partition("@")
        refused = sandbox.run_cli("add", "--from-registry", name, *(["--version", version] if version else []), "--yes")
        assert refused.returncode not in (0, 2), f"{name}: {refused.returncode} {refused.stderr}"
        assert reason in refused.stderr, f"{name}: {refused.stderr}"
    assert not (sandbox.home / "bundles").exists() or not any((sandbox.home / "bundles").iterdir()), "nothing unpacked"
    unasked = sandbox.run_cli("add", "--from-registry", EVERYTHING)
    assert unasked.returncode == 7 and "nothing was added" in unasked.stderr, unasked.stderr
    short = sandbox.run_cli("add", "--from-registry", TIME, "--yes", input="\n")
    assert short.returncode == 1 and "asks for 2 values" in short.stderr, short.stderr
    assert sandbox.config_file.read_bytes() == before, "the config is untouched"
    listed = sandbox.run_cli("secret", "list", "--json")
    assert not json.loads(listed.stdout), listed.stdout


async def test_a_bundle_from_the_registry_is_downloaded_checked_unpacked_and_called(
    sandbox: Sandbox, registry: tuple[str, Path], start_hub: Callable[..., Hub]
) -> None:
    (sandbox.root / "maps").mkdir()
    added = sandbox.run_cli("add", "--from-registry", BUNDLE, "--yes", input=f"t0ken\nimperial\n{sandbox.root / 'maps'}\n",
                            timeout=ADD_TIMEOUT)
    assert added.returncode == 0, added.stderr
    url, log = registry
    assert f"downloading {url}/files/weather-bundle.mcpb" in added.stderr, added.stderr
    assert "/files/weather-bundle.mcpb" in log.read_text(), "fetched from the stand-in"
    assert "Needs: node >=20.0.0 (found " in added.stderr, "a registry bundle's runtime is checked too"
    directory = sandbox.home / "bundles" / "weather-bundle"
    assert (directory / "server" / "index.mjs").is_file()
    config = sandbox.config_file.read_text()
    assert f'registry = {{ name = "{BUNDLE}", version = "1.0.0" }}' in config, config
    assert f'dir = "{directory}"' in config, config

    hub = start_hub()
    async with mcp_session(hub.url, hub.secret) as session:
        called = await session.call_tool("weather-bundle__started_with", {})
        assert not called.is_error, called
        report = json.loads(called.content[0].text)
    assert report["args"] == ["--units", "imperial", str(sandbox.root / "maps")], report
    assert report["token_sha256"] == hashlib.sha256(b"t0ken").hexdigest(), report


def test_an_older_version_shows_as_outdated_and_moves_to_the_latest_on_yes(
    sandbox: Sandbox, registry: tuple[str, Path]
) -> None:
    added = sandbox.run_cli("add", "--from-registry", TIME, "--version", "2025.1.1", "--yes", input="Europe/Paris\nt\n")
    assert added.returncode == 0, added.stderr
    with sandbox.config_file.open("a") as config:
        config.write("# a note of mine\n")
    late = sandbox.run_cli("outdated", "--json")
    assert late.returncode == 0, late.stderr
    assert json.loads(late.stdout) == [
        {"name": "mcp-server-time", "registry_name": TIME, "installed": "2025.1.1", "latest": "2026.10.19"}
    ], late.stdout

    unasked = sandbox.run_cli("update", "mcp-server-time")
    assert unasked.returncode == 7, unasked.stderr
    assert "mcp-server-time==2025.1.1" in sandbox.config_file.read_text(), "not updated without a yes"
    updated = sandbox.run_cli("update", "mcp-server-time", "--yes")
    assert updated.returncode == 0, updated.stderr
    assert "uvx mcp-server-time==2026.10.19 --local-timezone Europe/Paris" in updated.stderr, updated.stderr
    config = sandbox.config_file.read_text()
    assert 'args = ["mcp-server-time==2026.10.19", "--local-timezone", "Europe/Paris"]' in config, config
    assert f'registry = {{ name = "{TIME}", version = "2026.10.19" }}' in config, config
    assert "# a note of mine" in config and 'secret_env = ["TIME_API_TOKEN"]' in config, config
    assert json.loads(sandbox.run_cli("outdated", "--json").stdout) == []


def test_the_release_snapshot_is_refreshed_from_a_registry_and_read_by_search(
    sandbox: Sandbox, registry: tuple[str, Path]
) -> None:
    """`scripts/registry-snapshot`, which the release workflow runs, against the stand-in: the
    latest runnable records, cursors followed; nothing written when the registry cannot be read."""
    url, _ = registry
    out = sandbox.root / "snapshot.json"
    script = Path(__file__).resolve().parents[2] / "scripts" / "registry-snapshot"
    made = subprocess.run([str(PYTHON), str(script), "--registry", url, "--out", str(out)], capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    names = [r["server"]["name"] for r in json.loads(out.read_text())["servers"]]
    assert names == [EVERYTHING, TIME, REMOTE, "io.github.evil/injector"], (
        f"the latest of each, the bundle and the unknown type left out: {names}"
    )
    gone = subprocess.run([str(PYTHON), str(script), "--registry", "http://127.0.0.1:1", "--out", str(out)],
                          capture_output=True, text=True, timeout=60)
    assert gone.returncode == 1 and "the snapshot stays" in gone.stderr, gone.stderr
    assert [r["server"]["name"] for r in json.loads(out.read_text())["servers"]] == names


def test_the_hub_keeps_each_registrys_listing_and_search_falls_back_to_it(
    sandbox: Sandbox, registry: tuple[str, Path], start_hub: Callable[..., Hub]
) -> None:
    """`[catalog] refresh`: the hub reads the registry's whole listing in the background, then
    asks whether it changed (`If-None-Match`; the stand-in answers 304), and reads it again when
    it did. A server installed at an older version shows the newer one in its status until it
    is updated. With the registry gone, `search` and `show` use that listing, not the snapshot."""
    url, log = registry
    sandbox.config_file.write_text(f'[catalog]\nregistries = ["{url}"]\nrefresh = "1s"\n')
    records_file = sandbox.root / "records.json"

    def lists() -> list[str]:
        return [line for line in log.read_text().splitlines() if line.startswith("/v0.1/servers?")] if log.exists() else []

    added = sandbox.run_cli(
        "add", "--from-registry", TIME, "--version", "2025.1.1", "--disabled", "--yes", input="Europe/Paris\nt\n"
    )
    assert added.returncode == 0, added.stderr

    start_hub()
    wait_until(lambda: any(line.endswith(" 304") for line in lists()), 30, "a conditional refresh answered 304")
    full = [line for line in lists() if line.endswith(" 200")]
    assert len(full) == 3 and "search=" not in "".join(full), f"one full read of the three pages first: {full}"
    assert server_status(sandbox, "mcp-server-time")["update"] == "2026.10.19", "status names the newer version"
    told = sandbox.run_cli("status")
    assert "notice: `mcp-server-time` 2026.10.19 is in the registry; `patchbay update mcp-server-time`" in told.stderr
    assert sandbox.run_cli("update", "mcp-server-time", "--yes").returncode == 0
    wait_until(
        lambda: "update" not in (server_status(sandbox, "mcp-server-time") or {"update": 1}),
        15,
        "the hub applies the update and says no newer version any more",
    )

    changed = json.loads(records_file.read_text())
    [latest_time] = [r for r in changed if r["server"]["name"] == TIME and r["server"]["version"] == "2026.10.19"]
    latest_time["server"]["description"] = "Rewritten for the refresh test"
    records_file.write_text(json.dumps(changed))
    wait_until(lambda: len([line for line in lists() if line.endswith(" 200")]) >= 6, 30, "a changed registry is read again")

    pid = int((sandbox.root / "registry.pid").read_text())
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not pid_alive(pid), 10, "the registry stopped")
    found = sandbox.run_cli("search", "--json")
    assert found.returncode == 0, found.stderr
    assert "listing as the hub last read it" in found.stderr and "snapshot" not in found.stderr, found.stderr
    descriptions = {r["server"]["name"]: r["server"]["description"] for r in json.loads(found.stdout)}
    assert descriptions.get(TIME) == "Rewritten for the refresh test", descriptions
    assert len(descriptions) == 6, descriptions
    shown = sandbox.run_cli("show", TIME)
    assert shown.returncode == 0 and "2026.10.19" in shown.stdout, shown.stdout + shown.stderr

