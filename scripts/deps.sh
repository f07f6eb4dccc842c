#!/usr/bin/env bash
# Installs the real MCP peers the end-to-end tests and the benchmark run against, from the package
# registries only.
#
#   $PATCHBAY_PEERS (default <repo>/.cache/peers)
#     node_modules/     npm packages pinned by tests/peers/package-lock.json (npm ci)
#     venv/             Python venv pinned by tests/requirements.txt (SDK client, mcp-server-time, pytest)
#     venv-mcp-proxy/   mcp-proxy, a peer of the benchmark, pinned by tests/requirements-mcp-proxy.txt
#                       (its own venv: it needs mcp<2, the tests pin mcp 2)
#   and, on Linux, the real keychain the vault tests use (Debian packages): dbus-run-session,
#   dbus-send, gnome-keyring (Secret Service) and secret-tool (reads entries back); see
#   scripts/keyring-session.
#
# Idempotent: each part keeps a stamp with the hash of its pins and is skipped while it matches.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
peers=${PATCHBAY_PEERS:-$repo/.cache/peers}
pins_npm=$repo/tests/peers
pins_py=$repo/tests/requirements.txt
pins_mcp_proxy=$repo/tests/requirements-mcp-proxy.txt

log() { printf 'deps: %s\n' "$*" >&2; }

apt_updated=0
apt_install() {
    if [[ $apt_updated == 0 ]]; then
        log "apt-get update"
        apt-get update -qq >&2
        apt_updated=1
    fi
    log "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

# Hash of the given files plus extra words (tool versions), so a changed pin or toolchain reinstalls.
fingerprint() {
    local files=("${@:2}")
    { cat "${files[@]}"; printf '%s\n' "$1"; } | sha256sum | cut -d' ' -f1
}

ensure_tools() {
    local missing=()
    command -v node >/dev/null || missing+=(nodejs)
    command -v npm >/dev/null || missing+=(npm)
    command -v python3 >/dev/null || missing+=(python3)
    # The bundle tests make signing certificates with it (tests/e2e/test_bundles.py).
    command -v openssl >/dev/null || missing+=(openssl)
    if command -v python3 >/dev/null && ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
        missing+=(python3-venv)
    fi
    if ((${#missing[@]})); then
        apt_install "${missing[@]}"
    fi
    local node_major
    node_major=$(node -p 'process.versions.node.split(".")[0]')
    if ((node_major < 20)); then
        log "error: node $(node --version) is too old: the npm peers need Node.js 20 or newer"
        exit 1
    fi
}

ensure_keychain_tools() {
    [[ $(uname -s) == Linux ]] || return 0
    local missing=()
    command -v dbus-run-session >/dev/null || missing+=(dbus-daemon)
    command -v dbus-send >/dev/null || missing+=(dbus-bin)
    command -v gnome-keyring-daemon >/dev/null || missing+=(gnome-keyring)
    command -v secret-tool >/dev/null || missing+=(libsecret-tools)
    if ((${#missing[@]})); then
        apt_install "${missing[@]}"
    fi
}

install_npm() {
    local dir=$peers stamp=$peers/.npm.stamp want
    want=$(fingerprint "node $(node --version) npm $(npm --version)" \
        "$pins_npm/package.json" "$pins_npm/package-lock.json")
    if [[ -f $stamp && $(<"$stamp") == "$want" && -d $dir/node_modules ]]; then
        log "npm peers up to date ($dir/node_modules)"
        return
    fi
    log "npm ci into $dir/node_modules"
    mkdir -p "$dir"
    cp "$pins_npm/package.json" "$pins_npm/package-lock.json" "$dir/"
    rm -f "$stamp"
    (cd "$dir" && npm ci --no-audit --no-fund --prefer-offline --loglevel=error >&2)
    printf '%s\n' "$want" >"$stamp"
}

# install_venv NAME PINS: a venv at $peers/NAME with exactly the pinned requirements.
install_venv() {
    local venv=$peers/$1 stamp=$peers/.$1.stamp pins=$2 want
    want=$(fingerprint "$(python3 -c 'import sys; print(sys.executable, sys.version)')" "$pins")
    if [[ -f $stamp && $(<"$stamp") == "$want" && -x $venv/bin/python ]] && "$venv/bin/python" -c '' 2>/dev/null; then
        log "python venv up to date ($venv)"
        return
    fi
    log "python venv at $venv"
    rm -f "$stamp"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$pins" >&2
    printf '%s\n' "$want" >"$stamp"
}

ensure_tools
ensure_keychain_tools
mkdir -p "$peers"
peers=$(cd "$peers" && pwd)
install_npm
install_venv venv "$pins_py"
install_venv venv-mcp-proxy "$pins_mcp_proxy"
log "done: PATCHBAY_PEERS=$peers"
