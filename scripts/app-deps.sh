#!/usr/bin/env bash
# Installs what building and testing the desktop app needs, from the package registries only.
#
#   Debian packages (when missing): WebKitGTK 4.1 and GTK headers, the tray (Ayatana
#   AppIndicator), librsvg, libxdo (the tray's menus), Xvfb (a display for the window tests),
#   WebKitWebDriver (webkit2gtk-driver), dbus-daemon (a private session bus), xdg-utils and
#   desktop-file-utils (the install-link test opens `patchbay://` through the desktop entry).
#   $PATCHBAY_APP_TOOLS (default <repo>/.cache/app-tools):
#     node_modules/.bin/tauri   the Tauri CLI (npm @tauri-apps/cli, pinned below) that bundles the app
#     bin/tauri-driver          the WebDriver proxy the window tests drive the app through (crates.io, pinned)
#   ui/dist                     the window, built from ui/ (npm ci + vite build); the app crate embeds it
#
# Idempotent: each part is skipped while its pinned version is installed.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools=${PATCHBAY_APP_TOOLS:-$repo/.cache/app-tools}
TAURI_CLI_VERSION=2.12.5
TAURI_DRIVER_VERSION=2.0.6

log() { printf 'app-deps: %s\n' "$*" >&2; }

ensure_apt() {
    [[ $(uname -s) == Linux ]] || return 0
    local wanted=(libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev libxdo-dev
        xvfb webkit2gtk-driver dbus-daemon file scrot xdg-utils desktop-file-utils) missing=()
    for pkg in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    if ((${#missing[@]})); then
        if [[ $(id -u) != 0 ]]; then
            log "error: missing Debian packages: ${missing[*]}; install them with: sudo apt-get install ${missing[*]}"
            exit 1
        fi
        log "apt-get install ${missing[*]}"
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    fi
}

ensure_tauri_cli() {
    local have
    have=$("$tools/node_modules/.bin/tauri" --version 2>/dev/null || true)
    if [[ $have == "tauri-cli $TAURI_CLI_VERSION" ]]; then
        return
    fi
    log "npm install @tauri-apps/cli@$TAURI_CLI_VERSION into $tools"
    mkdir -p "$tools"
    (cd "$tools" && npm install --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
        "@tauri-apps/cli@$TAURI_CLI_VERSION" >&2)
}

ensure_tauri_driver() {
    local have
    have=$("$tools/bin/tauri-driver" --version 2>/dev/null || true)
    if [[ $have == *"$TAURI_DRIVER_VERSION"* ]]; then
        return
    fi
    log "cargo install tauri-driver $TAURI_DRIVER_VERSION into $tools"
    cargo install --quiet --locked --root "$tools" --version "$TAURI_DRIVER_VERSION" tauri-driver >&2
}

# The window (ui/) built into ui/dist: the app crate embeds it, so nothing compiles it before
# this (not even clippy). Rebuilt when a source or the lockfile is newer than the build.
ensure_ui() {
    local ui=$repo/ui stamp=$repo/ui/dist/.built
    if [[ -f $stamp ]] && [[ -z $(find "$ui/src" "$ui/index.html" "$ui/package-lock.json" "$ui/vite.config.ts" \
        -newer "$stamp" -print -quit) ]]; then
        return
    fi
    log "building the window (ui/: npm ci, npm run build)"
    (cd "$ui" && npm ci --no-audit --no-fund --loglevel=error >&2 && npm run build >&2)
    touch "$stamp"
}

ensure_apt
ensure_tauri_cli
ensure_ui
if [[ ${1:-} != --no-driver ]]; then
    ensure_tauri_driver
fi
log "done: PATCHBAY_APP_TOOLS=$tools"
