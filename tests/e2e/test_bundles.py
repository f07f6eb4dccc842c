"""MCP Bundles (`.mcpb`) from the command line: `patchbay add --mcpb FILE`. The bundle is made
by the real packer (`mcpb pack`, npm `@anthropic-ai/mcpb`) from `servers/weather-bundle`, a node
server on the MCP SDK with its dependencies inside; its `user_config` asks a sensitive token
(mapped into the environment), units (a default) and several folders (one argument each). It is
added with answers on stdin, called through the hub, and removed; a bundle Patchbay cannot run
honestly is refused with nothing saved or unpacked."""

from __future__ import annotations

import hashlib
import json
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from oauth_bed import keyring_bus_address
from patchbay_harness import PEERS, Hub, Sandbox, mcp_session

pytestmark = pytest.mark.anyio

TOKEN = "bundle-t0ken-for-the-test"


@pytest.fixture
def keyring(sandbox: Sandbox) -> Sandbox:
    """The sandbox, with the session's Secret Service (`scripts/keyring-session`)."""
    sandbox.env["DBUS_SESSION_BUS_ADDRESS"] = keyring_bus_address()
    return sandbox


def bundles_dir(sandbox: Sandbox) -> Path:
    return sandbox.home / "bundles"


def unpacked(sandbox: Sandbox) -> list[str]:
    """What is under the bundles directory (temporary directories included)."""
    root = bundles_dir(sandbox)
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def present_node() -> str:
    """The version of the node on PATH, as `node --version` prints it without its `v`."""
    return subprocess.run(["node", "--version"], capture_output=True, text=True, check=True).stdout.strip().lstrip("v")


def rewritten(bundle: Path, out: Path, change: Callable[[str, bytes], tuple[str, bytes] | None]) -> Path:
    """A copy of `bundle` with each entry passed through `change` (None drops it)."""
    with zipfile.ZipFile(bundle) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            kept = change(info.filename, source.read(info))
            if kept is not None:
                target.writestr(kept[0], kept[1])
    return out


async def test_a_packed_bundle_runs_behind_the_hub_with_its_values_and_is_removed_whole(
    keyring: Sandbox, weather_bundle: Path, start_hub: Callable[..., Hub]
) -> None:
    sandbox = keyring
    folders = [sandbox.root / "maps", sandbox.root / "old maps"]
    for folder in folders:
        folder.mkdir()
    # Answers in the manifest's order: the token, units (empty: the default), the folders.
    answers = f"{TOKEN}\n\n{folders[0]}:{folders[1]}\n"
    added = sandbox.run_cli("add", "--mcpb", str(weather_bundle), "--yes", input=answers, timeout=60)
    assert added.returncode == 0, added.stderr
    directory = bundles_dir(sandbox) / "weather-bundle"
    for said in ("`weather-bundle` 1.0.0", "unsigned", f"Unpacks to: {directory}", "Kept in the keychain: WEATHER_TOKEN",
                 "with your user's rights", f"node >=20.0.0 (found {present_node()})",
                 f"node {directory}/server/index.mjs --units metric"):
        assert said in added.stderr, f"the consent says {said!r}:\n{added.stderr}"
    assert TOKEN not in added.stderr, "the secret is not shown"
    assert (directory / "server" / "index.mjs").is_file() and (directory / "manifest.json").is_file()
    assert unpacked(sandbox) == ["weather-bundle"], "no temporary directory left"

    config = sandbox.config_file.read_text()
    assert 'secret_env = ["WEATHER_TOKEN"]' in config, config
    assert f'bundle = {{ name = "weather-bundle", version = "1.0.0", dir = "{directory}" }}' in config, config
    stored = json.loads(sandbox.run_cli("secret", "list", "--json").stdout)
    assert any(s.get("server") == "weather-bundle" and s.get("var") == "WEATHER_TOKEN" and s.get("stored") for s in stored), stored

    hub = start_hub()
    async with mcp_session(hub.url, hub.secret) as session:
        called = await session.call_tool("weather-bundle__started_with", {})
        assert not called.is_error, called
        report = json.loads(called.content[0].text)
    assert report["args"] == ["--units", "metric", str(folders[0]), str(folders[1])], "each folder one argument"
    assert report["token_sha256"] == hashlib.sha256(TOKEN.encode()).hexdigest(), "the token arrived from the keychain"
    assert report["cwd"] == str(directory) and report["home"] == str(sandbox.user_home), report
    hub.stop()

    for path in sandbox.root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert TOKEN.encode() not in path.read_bytes(), f"the secret is in {path}"

    removed = sandbox.run_cli("remove", "weather-bundle")
    assert removed.returncode == 0, removed.stderr
    assert not directory.exists(), "the unpacked bundle is deleted with its server"
    assert "weather-bundle" not in sandbox.config_file.read_text()
    assert not json.loads(sandbox.run_cli("secret", "list", "--json").stdout), "its secret is deleted"


def test_bundles_that_cannot_be_run_honestly_are_refused_and_nothing_is_kept(
    keyring: Sandbox, weather_bundle: Path, tmp_path: Path
) -> None:
    sandbox = keyring
    (sandbox.root / "maps").mkdir()
    answers = f"{TOKEN}\n\n{sandbox.root / 'maps'}\n"

    def manifest_with(edit: Callable[[dict], None]) -> Callable[[str, bytes], tuple[str, bytes]]:
        def change(name: str, data: bytes) -> tuple[str, bytes]:
            if name == "manifest.json":
                manifest = json.loads(data)
                edit(manifest)
                data = json.dumps(manifest).encode()
            return name, data

        return change

    def bad_type(m: dict) -> None:
        m["server"]["type"] = "ruby"

    def token_in_argv(m: dict) -> None:
        m["server"]["mcp_config"]["args"].append("--token=${user_config.token}")

    def future_node(m: dict) -> None:
        m["compatibility"]["runtimes"] = {"node": ">=999"}

    def odd_range(m: dict) -> None:
        m["compatibility"]["runtimes"] = {"node": ">=eighteen"}

    cases = {
        "bad-type": (rewritten(weather_bundle, tmp_path / "bad-type.mcpb", manifest_with(bad_type)),
                     "manifest field `server.type` is `ruby`"),
        "secret-in-argv": (rewritten(weather_bundle, tmp_path / "argv.mcpb", manifest_with(token_in_argv)),
                           "sensitive `token` in its arguments"),
        "traversal": (rewritten(weather_bundle, tmp_path / "climb.mcpb",
                                lambda name, data: ("../../escaped.js" if name == "server/index.mjs" else name, data)),
                      "`../../escaped.js` climbs out of the bundle"),
        "not-a-zip": (tmp_path / "plain.mcpb", "not an .mcpb bundle"),
        "future-node": (rewritten(weather_bundle, tmp_path / "future.mcpb", manifest_with(future_node)),
                        f"`weather-bundle` needs node >=999, found {present_node()}"),
        "odd-range": (rewritten(weather_bundle, tmp_path / "odd.mcpb", manifest_with(odd_range)),
                      "manifest field `compatibility.runtimes.node` is `>=eighteen`"),
    }
    (tmp_path / "plain.mcpb").write_text("hello")
    for case, (bundle, reason) in cases.items():
        refused = sandbox.run_cli("add", "--mcpb", str(bundle), "--yes", input=answers, timeout=60)
        assert refused.returncode == 1, f"{case}: {refused.returncode} {refused.stderr}"
        assert reason in refused.stderr, f"{case}: {refused.stderr}"
        assert not sandbox.config_file.exists(), f"{case}: nothing saved"
        assert unpacked(sandbox) == [], f"{case}: nothing unpacked: {unpacked(sandbox)}"
    no_node = tmp_path / "no-node"
    no_node.mkdir()
    sandbox.env["PATH"], path = str(no_node), sandbox.env.get("PATH", "")
    refused = sandbox.run_cli("add", "--mcpb", str(weather_bundle), "--yes", input=answers, timeout=60)
    sandbox.env["PATH"] = path
    assert refused.returncode == 1, refused.stderr
    assert "`weather-bundle` needs node >=20.0.0; node not found" in refused.stderr, refused.stderr
    assert not sandbox.config_file.exists() and unpacked(sandbox) == [], "no node: nothing kept"
    assert not list(sandbox.root.rglob("escaped.js")), "nothing written outside"
    assert not json.loads(sandbox.run_cli("secret", "list", "--json").stdout), "no secret stored"

    unasked = sandbox.run_cli("add", "--mcpb", str(weather_bundle), input=answers)
    assert unasked.returncode == 7 and "nothing was added" in unasked.stderr, unasked.stderr
    short = sandbox.run_cli("add", "--mcpb", str(weather_bundle), "--yes", input=f"{TOKEN}\n")
    assert short.returncode == 1 and "asks for 3 values" in short.stderr, short.stderr
    missing_dir = sandbox.run_cli("add", "--mcpb", str(weather_bundle), "--yes", input=f"{TOKEN}\n\n/nowhere/at/all\n")
    assert missing_dir.returncode == 1 and "takes an existing directory" in missing_dir.stderr, missing_dir.stderr
    assert not sandbox.config_file.exists() and unpacked(sandbox) == []


def certificate(tmp_path: Path, name: str, subject: str, issuer: tuple[Path, Path] | None = None) -> tuple[Path, Path]:
    """A certificate and its RSA key made by openssl: self-signed, or issued by `issuer`."""
    cert, key = tmp_path / f"{name}.pem", tmp_path / f"{name}-key.pem"
    if issuer is None:
        command = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                   "-keyout", str(key), "-out", str(cert), "-subj", subject]
        subprocess.run(command, check=True, capture_output=True, timeout=60)
        return cert, key
    request = tmp_path / f"{name}.csr"
    subprocess.run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(request), "-subj", subject], check=True, capture_output=True, timeout=60)
    subprocess.run(["openssl", "x509", "-req", "-in", str(request), "-CA", str(issuer[0]), "-CAkey", str(issuer[1]),
                    "-CAcreateserial", "-days", "2", "-out", str(cert)], check=True, capture_output=True, timeout=60)
    return cert, key


def signed(bundle: Path, out: Path, cert: Path, key: Path) -> Path:
    """A copy of `bundle` signed by the real `mcpb sign` with `cert` and `key`."""
    out.write_bytes(bundle.read_bytes())
    mcpb = PEERS / "node_modules/.bin/mcpb"
    done = subprocess.run([str(mcpb), "sign", str(out), "-c", str(cert), "-k", str(key)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"mcpb sign failed:\n{done.stdout}\n{done.stderr}"
    assert out.read_bytes().endswith(b"MCPB_SIG_END"), "mcpb sign appended its block"
    return out


def test_a_signed_bundle_names_its_signer_and_a_changed_one_is_refused(
    keyring: Sandbox, weather_bundle: Path, tmp_path: Path
) -> None:
    sandbox = keyring
    (sandbox.root / "maps").mkdir()
    answers = f"{TOKEN}\n\n{sandbox.root / 'maps'}\n"
    own = certificate(tmp_path, "own", "/CN=Patchbay Test Signer/O=Patchbay Tests")
    authority = certificate(tmp_path, "ca", "/CN=Patchbay Test CA")
    issued = certificate(tmp_path, "leaf", "/CN=Patchbay Issued Signer", issuer=authority)
    for bundle, said in [
        (signed(weather_bundle, tmp_path / "own.mcpb", *own),
         "signed by CN=Patchbay Test Signer, O=Patchbay Tests (self-signed)"),
        (signed(weather_bundle, tmp_path / "issued.mcpb", *issued),
         "signed by CN=Patchbay Issued Signer, issued by CN=Patchbay Test CA (certificate chain not checked)"),
    ]:
        added = sandbox.run_cli("add", "--mcpb", str(bundle), "--yes", input=answers, timeout=60)
        assert added.returncode == 0, added.stderr
        assert said in added.stderr, f"the consent names the signer:\n{added.stderr}"
        removed = sandbox.run_cli("remove", "weather-bundle")
        assert removed.returncode == 0, removed.stderr

    good = (tmp_path / "own.mcpb").read_bytes()
    block = good.rindex(b"MCPB_SIG_V1")
    flipped = bytearray(good)
    flipped[block // 2] ^= 0x01  # one byte inside the zip
    malformed = bytearray(good)
    malformed[block + len(b"MCPB_SIG_V1") + 4] ^= 0x01  # the PKCS#7's first byte
    cases = {
        "changed": (flipped, "the bundle's signature does not match its content"),
        "malformed": (malformed, "the bundle's signature block is malformed"),
    }
    for case, (data, reason) in cases.items():
        bundle = tmp_path / f"{case}.mcpb"
        bundle.write_bytes(bytes(data))
        refused = sandbox.run_cli("add", "--mcpb", str(bundle), "--yes", input=answers, timeout=60)
        assert refused.returncode == 1, f"{case}: {refused.stderr}"
        assert reason in refused.stderr, f"{case}: {refused.stderr}"
        assert "weather-bundle" not in sandbox.config_file.read_text(), f"{case}: nothing saved"
        assert unpacked(sandbox) == [], f"{case}: nothing unpacked: {unpacked(sandbox)}"
