"""Install links from the command line: `patchbay link NAME` prints a link for a configured
server, `patchbay add --link LINK` adds what a link names through the same consent as `add
--from-registry`. A link made in one installation adds the same entry in another (the secret
asked, kept in the real keychain, and reaching the server through the hub); a registry-name link
resolves against the stand-in registry of test_catalog.py; hostile links are refused with the
cause and nothing is saved."""

from __future__ import annotations

import base64
import hashlib
import json
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from oauth_bed import keyring_bus_address
from patchbay_harness import Hub, Sandbox, mcp_session
from test_catalog import ADD_TIMEOUT, TIME, registry  # noqa: F401 (the stand-in registry fixture)

pytestmark = pytest.mark.anyio

PROBE = Path(__file__).parent / "servers" / "env_probe.py"


def server_link(description: dict[str, object], name: str = "shared") -> str:
    encoded = base64.urlsafe_b64encode(json.dumps(description).encode()).decode().rstrip("=")
    return f"patchbay://install?v=1&name={name}&server={encoded}"


def files_containing(root: Path, needle: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and p.stat().st_size < 10_000_000 and needle.encode() in p.read_bytes()]


async def test_a_shared_link_adds_the_same_entry_elsewhere_with_the_secret_asked(
    sandbox: Sandbox, tmp_path: Path, start_hub: Callable[..., Hub]
) -> None:
    origin = Sandbox(tmp_path / "origin")
    added = origin.run_cli("add", "probe", "--yes", "--env", "UNITS=metric", "--secret-env", "API_KEY",
                           "--", sys.executable, str(PROBE))
    assert added.returncode == 0, added.stderr
    made = origin.run_cli("link", "probe")
    assert made.returncode == 0, made.stderr
    link = made.stdout.strip()
    assert link.startswith("patchbay://install?v=1&name=probe&server="), link
    assert "metric" not in base64.urlsafe_b64decode(link.split("server=")[1] + "==").decode(), \
        "plain env values stay out of a link unless --env-values"

    # The recipient: this test's sandbox, with the real keychain.
    sandbox.env["DBUS_SESSION_BUS_ADDRESS"] = keyring_bus_address()
    secret = f"pb-link-{uuid.uuid4().hex}"
    unasked = sandbox.run_cli("add", "--link", link, input="metric\n" + secret + "\n")
    assert unasked.returncode == 7 and "nothing was added" in unasked.stderr, unasked.stderr
    # The values the link leaves open, from stdin in order: the plain one, then the secret.
    taken = sandbox.run_cli("add", "--link", link, "--yes", input="metric\n" + secret + "\n")
    assert taken.returncode == 0, taken.stderr
    assert "From an install link: `probe`" in taken.stderr, taken.stderr

    def entry(box: Sandbox) -> dict[str, object]:
        listed = box.run_cli("list", "--json")
        assert listed.returncode == 0, listed.stderr
        [server] = [s for s in json.loads(listed.stdout) if s["name"] == "probe"]
        return {k: server.get(k) for k in ("command", "args", "env", "secret_env", "url")}

    assert entry(sandbox) == entry(origin), "the same entry in both installations"
    secrets = json.loads(sandbox.run_cli("secret", "list", "--json").stdout)
    assert any(s.get("server") == "probe" and s.get("var") == "API_KEY" and s.get("stored") for s in secrets), secrets
    assert not files_containing(sandbox.root, secret), "the secret is in the keychain only"

    hub = start_hub()
    async with mcp_session(hub.url, hub.secret) as session:
        told = await session.call_tool("probe__env_digest", {"name": "API_KEY"})
        assert told.content[0].text == f"{len(secret)}:{hashlib.sha256(secret.encode()).hexdigest()}", told
        units = await session.call_tool("probe__env_digest", {"name": "UNITS"})
        assert units.content[0].text == f"6:{hashlib.sha256(b'metric').hexdigest()}", units


def test_a_registry_name_link_adds_the_record(sandbox: Sandbox, registry: tuple[str, Path]) -> None:  # noqa: F811
    link = f"patchbay://install?v=1&name={TIME.replace('/', '%2F')}&version=2025.1.1"
    added = sandbox.run_cli("add", "--link", link, "--name", "clock", "--yes", input="Europe/Paris\nt0ken\n", timeout=ADD_TIMEOUT)
    assert added.returncode == 0, added.stderr
    assert "From the MCP Registry" in added.stderr and TIME in added.stderr, added.stderr
    config = sandbox.config_file.read_text()
    assert "[servers.clock]" in config, config
    assert 'args = ["mcp-server-time==2025.1.1", "--local-timezone", "Europe/Paris"]' in config, config
    assert f'registry = {{ name = "{TIME}", version = "2025.1.1" }}' in config, config


def test_hostile_links_are_refused_with_the_cause_and_nothing_is_saved(sandbox: Sandbox) -> None:
    sandbox.env["DBUS_SESSION_BUS_ADDRESS"] = keyring_bus_address()
    sandbox.config_file.write_text("# nothing yet\n")
    before = sandbox.config_file.read_bytes()
    refusals = {
        server_link({"command": "sh", "args": ["-c", "touch pwned; id"]}): "shell metacharacter",
        server_link({"command": "npx", "env": {"X": "a\nb"}}): "shell metacharacter",
        server_link({"url": "http://mcp.example.com/mcp"}): "plain http",
        server_link({"command": "npx", "env": {"API_KEY": "k"}, "secret_env": ["API_KEY"]}): "secret `API_KEY`",
        "patchbay://install?v=9&name=io.github.acme%2Fweather": "version `9`",
        "patchbay://uninstall?v=1&name=x": "not an install link",
        "patchbay://install?v=1&server=!!!": "not base64url",
    }
    for link, reason in refusals.items():
        refused = sandbox.run_cli("add", "--link", link, "--yes", input="x\n")
        assert refused.returncode not in (0, 2), f"{link}: {refused.returncode} {refused.stderr}"
        assert reason in refused.stderr and "nothing was added" in refused.stderr, f"{link}: {refused.stderr}"
    assert sandbox.config_file.read_bytes() == before, "the config is untouched"
    assert not (sandbox.root / "pwned").exists()
    listed = sandbox.run_cli("secret", "list", "--json")
    assert not json.loads(listed.stdout), listed.stdout
