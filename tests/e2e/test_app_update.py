"""The app's own updates: Tauri's updater in the real app, against an update server on
127.0.0.1 serving two signed builds, driven through the real window.

The two builds are the debug app `scripts/app-build` made (the installed version) and the same
app built as the next patch version (`scripts/app-next-build`). Each is marked as an AppImage
the way Tauri's AppImage bundler marks its binary (the bundle type the updater reads to pick
its installer); a real AppImage cannot be made here, since the bundler downloads linuxdeploy
from GitHub. The installed copy is run with `APPIMAGE` naming it, as the AppImage runtime sets
it, so the updater replaces that file. The update is signed here with a throwaway key made by
the Tauri CLI (`tauri signer`, the same tool the release workflow signs with), the signature
bound to its version; the debug app takes that public key from PATCHBAY_UPDATE_PUBKEY (a
release build never reads it).
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from app_harness import TOOLS, CommandError, app_bin, app_window
from patchbay_harness import REPO, Sandbox
from test_app_tray import MENU_TIMEOUT, tray_app

pytestmark = pytest.mark.timeout(180)

MARKS = [b"__TAURI_BUNDLE_TYPE_VAR_UNK", b"__TAURI_BUNDLE_TYPE_VAR_DEB"]
APPIMAGE_MARK = b"__TAURI_BUNDLE_TYPE_VAR_APP"
INSTALL_TIMEOUT = 60.0  # a 70 MB debug build through the updater, two cores


def tauri_cli() -> str:
    cli = TOOLS / "node_modules" / ".bin" / "tauri"
    if not cli.exists():
        pytest.fail(f"the Tauri CLI is not at {cli}: run `bash scripts/app-deps.sh`", pytrace=False)
    return str(cli)


def next_build() -> tuple[str, Path]:
    """The version and path `scripts/app-next-build` made."""
    found = sorted((Path(app_bin()).parent / "update").glob("patchbay-app-*"))
    if len(found) != 1:
        pytest.fail("no next-version build in target/debug/update: run `bash scripts/app-next-build`", pytrace=False)
    return found[0].name.removeprefix("patchbay-app-"), found[0]


def as_appimage(build: Path, to: Path) -> bytes:
    """Copy `build` to `to` marked as an AppImage, as the bundler marks it; its bytes."""
    data = build.read_bytes()
    marks = [m for m in MARKS if m in data]
    assert len(marks) == 1 and data.count(marks[0]) == 1, f"{build} has no single bundle-type mark"
    data = data.replace(marks[0], APPIMAGE_MARK)
    to.write_bytes(data)
    to.chmod(0o755)
    return data


@dataclass
class Signer:
    key: Path
    pubkey: str

    def sign(self, file: Path, version: str | None) -> str:
        """The updater signature of `file` (the `.sig` the CLI writes), bound to `version`; with
        `None`, bound to none, as the CLI signed before `--app-version`."""
        bound = ["--app-version", version] if version else []
        subprocess.run(
            [tauri_cli(), "signer", "sign", "-f", str(self.key), "-p", "", *bound, str(file)],
            check=True, capture_output=True, timeout=60,
        )
        return Path(f"{file}.sig").read_text().strip()


@pytest.fixture
def signer(tmp_path: Path) -> Signer:
    key = tmp_path / "keys" / "updater.key"
    key.parent.mkdir()
    subprocess.run(
        [tauri_cli(), "signer", "generate", "--ci", "-p", "", "-w", str(key)],
        check=True, capture_output=True, timeout=60,
    )
    return Signer(key, Path(f"{key}.pub").read_text().strip())


@pytest.fixture
def update_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A static update server on 127.0.0.1 over `tmp_path/site`: its URL and folder."""
    site = tmp_path / "site"
    site.mkdir()
    handler = partial(SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *_: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def manifest(site: Path, url: str, version: str, file: str, signature: str) -> None:
    """The static update manifest the release workflow publishes (`latest.json`)."""
    (site / "latest.json").write_text(json.dumps({
        "version": version,
        "notes": f"Patchbay {version}: the test release.",
        "pub_date": "2026-12-01T00:00:00Z",
        "platforms": {"linux-x86_64": {"signature": signature, "url": f"{url}/{file}"}},
    }))


@dataclass
class Installed:
    path: Path
    bytes: bytes
    env: dict[str, str]


@pytest.fixture
def installed(tmp_path: Path, signer: Signer, update_server: tuple[str, Path]) -> Installed:
    """The current build installed as an AppImage in its own folder, told where updates are."""
    url, _ = update_server
    home = tmp_path / "Applications"
    home.mkdir()
    path = home / "Patchbay.AppImage"
    data = as_appimage(Path(app_bin()), path)
    env = {
        "APPIMAGE": str(path),
        "PATCHBAY_UPDATE_URL": f"{url}/latest.json",
        "PATCHBAY_UPDATE_PUBKEY": signer.pubkey,
    }
    return Installed(path, data, env)


def current_version() -> str:
    return json.loads((REPO / "tauri.conf.json").read_text())["version"]


def test_window_finds_the_signed_update_and_installs_it_only_after_yes(
    sandbox: Sandbox, tmp_path: Path, signer: Signer, update_server: tuple[str, Path], installed: Installed
) -> None:
    url, site = update_server
    version, build = next_build()
    new = as_appimage(build, site / f"Patchbay_{version}_amd64.AppImage")
    assert new != installed.bytes
    manifest(site, url, version, f"Patchbay_{version}_amd64.AppImage",
             signer.sign(site / f"Patchbay_{version}_amd64.AppImage", version))

    with app_window(sandbox, env=installed.env, app=str(installed.path)) as window:
        window.wait_for("app-update-status", text=f"Patchbay {current_version()}")
        window.click("app-update-check")
        window.wait_for("app-update-status", text=f"Patchbay {version} is available (you have {current_version()})",
                        data_state="available")
        assert window.text("app-update-notes") == f"Patchbay {version}: the test release."
        # A check installs nothing.
        assert installed.path.read_bytes() == installed.bytes
        window.click("app-update-install")
        window.wait_for("app-update-status", INSTALL_TIMEOUT,
                        text=f"Patchbay {version} is installed: restart to use it", data_state="installed")
        window.find("app-update-restart")
    assert installed.path.read_bytes() == new
    assert os.access(installed.path, os.X_OK)
    # The installed file is the new build: it says its version.
    said = subprocess.run([str(installed.path), "--version"], capture_output=True, text=True, timeout=30)
    assert said.stdout.strip() == f"patchbay-app {version}", said


def test_tray_check_finds_the_update_shows_it_and_installs_nothing(
    sandbox: Sandbox, signer: Signer, update_server: tuple[str, Path], installed: Installed
) -> None:
    url, site = update_server
    version, build = next_build()
    file = site / f"Patchbay_{version}_amd64.AppImage"
    as_appimage(build, file)
    manifest(site, url, version, file.name, signer.sign(file, version))
    with tray_app(sandbox, env=installed.env, app=str(installed.path)) as app:
        assert not app.item.layout().find("Update Patchbay to*")
        app.click("Check for updates…")
        app.wait_menu(f"Update Patchbay to {version}…", MENU_TIMEOUT)
        assert installed.path.read_bytes() == installed.bytes


def test_window_refuses_a_tampered_update_and_keeps_the_installed_app(
    sandbox: Sandbox, tmp_path: Path, signer: Signer, update_server: tuple[str, Path], installed: Installed
) -> None:
    url, site = update_server
    version, build = next_build()
    file = site / f"Patchbay_{version}_amd64.AppImage"
    as_appimage(build, file)
    signature = signer.sign(file, version)
    major, minor, patch = version.split(".")
    claimed = f"{major}.{minor}.{int(patch) + 1}"

    with app_window(sandbox, env=installed.env, app=str(installed.path)) as window:

        def refused(announced: str, signature: str) -> str:
            """Publish `announced` with `signature`, check, Install: the refusal shown, the
            installed file untouched."""
            manifest(site, url, announced, file.name, signature)
            window.click("app-update-check")
            window.wait_for("app-update-status", contains=f"Patchbay {announced} is available", data_state="available")
            window.click("app-update-install")
            status = window.wait_for("app-update-status", INSTALL_TIMEOUT, contains="was not installed",
                                     data_state="failed")
            assert f"the update to {announced} was not installed" in status, status
            assert installed.path.read_bytes() == installed.bytes
            return status

        # A manifest that announces a newer version than the one signed.
        status = refused(claimed, signature)
        assert f"signed for version {version}" in status and claimed in status, status

        # A signature bound to no version (an older CLI's) cannot vouch for the one announced.
        assert "does not specify the version" in refused(claimed, signer.sign(file, None))

        # The build changed after it was signed: one byte.
        data = bytearray(file.read_bytes())
        data[len(data) // 2] ^= 0xFF
        file.write_bytes(bytes(data))
        assert "signature verification failed" in refused(version, signature).lower()

        # A manifest signed by another key.
        other = tmp_path / "other.key"
        subprocess.run([tauri_cli(), "signer", "generate", "--ci", "-p", "", "-w", str(other)],
                       check=True, capture_output=True, timeout=60)
        as_appimage(build, file)
        assert "different key" in refused(version, Signer(other, "").sign(file, version)).lower()


def test_a_build_without_an_update_key_says_so_and_offers_no_check(sandbox: Sandbox) -> None:
    with app_window(sandbox) as window:
        status = window.wait_for("app-update-status", contains="updates are off")
        assert "this build has no update key" in status, status
        assert not window.present("app-update-check")
        with pytest.raises(CommandError) as refused:
            window.command("check_app_update")
        assert "updates are off: this build has no update key" in str(refused.value.error), refused.value.error
