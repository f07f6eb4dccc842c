"""The Linux package the Tauri CLI builds (`scripts/app-build` -> target/<profile>/bundle/deb):
unpacked into a scratch root with `dpkg -x`, both binaries must be there and run, and the CLI
inside the package must write client configs that point at itself (the bundle's sidecar).

The package is found beside the app under test (`PATCHBAY_APP`), so the debug package of the
test build and a release package are checked the same way.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from app_harness import app_bin
from patchbay_harness import Sandbox

pytestmark = pytest.mark.timeout(120)


def the_deb() -> Path:
    bundle = Path(app_bin()).parent / "bundle" / "deb"
    debs = sorted(bundle.glob("Patchbay_*.deb"), key=lambda p: p.stat().st_mtime)
    if not debs:
        pytest.fail(f"no Patchbay_*.deb in {bundle}: run `scripts/app-build` (or `--debug`)", pytrace=False)
    deb = debs[-1]
    if deb.stat().st_mtime < Path(app_bin()).stat().st_mtime - 600:
        pytest.fail(f"{deb} is older than the app beside it: build the bundle again", pytrace=False)
    return deb


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("deb-root")
    subprocess.run(["dpkg-deb", "-x", str(the_deb()), str(root)], check=True, timeout=60)
    return root


def test_the_package_holds_both_binaries_and_each_runs(unpacked: Path) -> None:
    version = json.loads((Path(__file__).parents[2] / "tauri.conf.json").read_text())["version"]
    for name in ("patchbay-app", "patchbay"):
        binary = unpacked / "usr" / "bin" / name
        assert binary.is_file() and os.access(binary, os.X_OK), f"{binary} is not in the package"
        ran = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30)
        assert ran.returncode == 0, f"{name} --version: {ran.stderr}"
        assert ran.stdout.strip() == f"{name} {version}", ran.stdout


def test_the_package_declares_its_libraries_and_a_desktop_entry(unpacked: Path) -> None:
    info = subprocess.run(
        ["dpkg-deb", "-f", str(the_deb()), "Package", "Version", "Depends"],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout
    fields = dict(line.split(": ", 1) for line in info.splitlines())
    assert fields["Package"] == "patchbay"
    depends = {d.strip().split(" ")[0] for d in fields["Depends"].split(",")}
    assert {"libwebkit2gtk-4.1-0", "libayatana-appindicator3-1"} <= depends, fields["Depends"]
    entries = list((unpacked / "usr" / "share" / "applications").glob("*.desktop"))
    assert len(entries) == 1, entries
    entry = entries[0].read_text()
    assert "Exec=patchbay-app" in entry and "Name=Patchbay" in entry, entry


def test_the_packaged_cli_points_client_configs_at_itself(unpacked: Path, sandbox: Sandbox) -> None:
    cli = unpacked / "usr" / "bin" / "patchbay"
    cursor = sandbox.user_home / ".cursor" / "mcp.json"
    cursor.parent.mkdir(parents=True)
    cursor.write_text(json.dumps({"mcpServers": {"mine": {"command": "mine"}}}))
    ran = subprocess.run(
        [str(cli), "install", "cursor"], env=sandbox.env, capture_output=True, text=True, timeout=30
    )
    assert ran.returncode == 0, ran.stderr
    written = json.loads(cursor.read_text())
    assert written["mcpServers"]["mine"] == {"command": "mine"}, "the user's own entry is kept"
    entry = written["mcpServers"]["patchbay"]
    assert entry["command"] == str(cli) and entry["args"] == ["bridge"], entry
