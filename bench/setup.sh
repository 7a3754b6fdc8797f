#!/usr/bin/env bash
# Create bench/.venv and install ferrocorn plus its peers into it.
#
#   bash bench/setup.sh              # everything (idempotent; re-run to rebuild ferrocorn)
#   bash bench/setup.sh ferrocorn    # only (re)install ferrocorn from the repo root
#   bash bench/setup.sh gunicorn uwsgi   # only these
#   bash bench/setup.sh floor        # only the no-Python reference servers (bench/floor, cargo)
#
# Each package is installed on its own, so one that fails to build does not
# stop the others. The outcome of each is written to
# bench/.venv/install-status/<name>.{ok,failed}; a .failed file holds the reason
# (the last lines of pip's output), which bench/run.py prints.
set -u

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname "$BENCH_DIR")"
VENV="$BENCH_DIR/.venv"
STATUS_DIR="$VENV/install-status"
LOG_DIR="$VENV/install-logs"
PYTHON="${PYTHON:-python3}"

ALL_PACKAGES=(gunicorn uwsgi granian bjoern meinheld waitress django ferrocorn floor)

log() { printf '[setup] %s\n' "$*" >&2; }

make_venv() {
    if [ ! -x "$VENV/bin/python" ]; then
        log "creating venv $VENV with $("$PYTHON" --version 2>&1)"
        "$PYTHON" -m venv "$VENV" || { log "venv creation failed"; exit 1; }
        "$VENV/bin/pip" install --quiet --upgrade pip wheel setuptools
    fi
    mkdir -p "$STATUS_DIR" "$LOG_DIR"
}

# bjoern links against libev; install the Debian headers if they are missing.
ensure_libev() {
    dpkg -s libev-dev >/dev/null 2>&1 && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        log "installing libev-dev (needed by bjoern)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q libev-dev >"$LOG_DIR/libev-dev.log" 2>&1 \
            || log "apt-get install libev-dev failed; see $LOG_DIR/libev-dev.log"
    else
        log "libev-dev missing and cannot apt-get it; bjoern will probably fail"
    fi
}

# pip_install NAME PIP-ARGS...: install, record .ok or .failed with the reason.
pip_install() {
    local name="$1"; shift
    local logfile="$LOG_DIR/$name.log"
    rm -f "$STATUS_DIR/$name.ok" "$STATUS_DIR/$name.failed"
    log "installing $name ..."
    if "$VENV/bin/pip" install --disable-pip-version-check "$@" >"$logfile" 2>&1; then
        "$VENV/bin/pip" show "$name" 2>/dev/null | sed -n 's/^Version: //p' >"$STATUS_DIR/$name.ok"
        log "$name: ok ($(cat "$STATUS_DIR/$name.ok"))"
        return 0
    fi
    # Keep the most telling lines: maturin's "Caused by", then compiler errors, then pip's.
    { grep -E 'Caused by' "$logfile"
      grep -E 'error(\[E[0-9]+\])?:|fatal error' "$logfile" | grep -vE 'subprocess-exited-with-error|metadata-generation-failed|failed-wheel-build'
      grep -E 'ERROR:|error:' "$logfile"
    } | sed 's/^[[:space:]]*//' | awk '!seen[$0]++' | head -n 6 >"$STATUS_DIR/$name.failed"
    echo "(full log: $logfile)" >>"$STATUS_DIR/$name.failed"
    log "$name: FAILED (see $logfile)"
    return 1
}

# floor_build: build the no-Python reference servers (bench/floor: floor-hyper, floor-epoll)
# with cargo and copy them into the venv's bin; record .ok ("built") or .failed like pip_install.
floor_build() {
    local name=floor logfile="$LOG_DIR/floor.log" target="$BENCH_DIR/.target/floor"
    rm -f "$STATUS_DIR/$name.ok" "$STATUS_DIR/$name.failed"
    log "building $name (cargo, bench/floor) ..."
    if ! command -v cargo >/dev/null; then
        echo "cargo not found on PATH (install Rust, e.g. with rustup)" >"$STATUS_DIR/$name.failed"
        log "$name: FAILED (no cargo)"
        return 1
    fi
    if CARGO_TARGET_DIR="$target" cargo build --release --manifest-path "$BENCH_DIR/floor/Cargo.toml" >"$logfile" 2>&1 \
        && cp "$target/release/floor-hyper" "$target/release/floor-epoll" "$VENV/bin/" >>"$logfile" 2>&1; then
        echo built >"$STATUS_DIR/$name.ok"
        log "$name: ok (built)"
        return 0
    fi
    { grep -E 'error(\[E[0-9]+\])?:|cp:' "$logfile"; tail -n 3 "$logfile"; } \
        | sed 's/^[[:space:]]*//' | awk '!seen[$0]++' | head -n 6 >"$STATUS_DIR/$name.failed"
    echo "(full log: $logfile)" >>"$STATUS_DIR/$name.failed"
    log "$name: FAILED (see $logfile)"
    return 1
}

install_one() {
    case "$1" in
        bjoern)    ensure_libev; pip_install bjoern bjoern ;;
        meinheld)
            # meinheld 1.0.2 pins greenlet<0.5, which does not build on modern
            # Pythons; try it as published, then with a current greenlet.
            pip_install meinheld meinheld && return 0
            cp "$LOG_DIR/meinheld.log" "$LOG_DIR/meinheld-as-published.log"
            pip_install meinheld --no-deps meinheld greenlet || return 1
            echo "$(cat "$STATUS_DIR/meinheld.ok") (installed --no-deps with greenlet $("$VENV/bin/pip" show greenlet | sed -n 's/^Version: //p'): its greenlet<0.5 pin does not build here)" \
                >"$STATUS_DIR/meinheld.ok" ;;
        ferrocorn)
            # A maturin project: pip builds the Rust extension in release mode.
            # Its own cargo target dir, so it never waits on (or for) a developer's build.
            CARGO_TARGET_DIR="${FERROCORN_BENCH_TARGET:-$BENCH_DIR/.target}" \
                pip_install ferrocorn --force-reinstall "$REPO_DIR" ;;
        floor)     floor_build ;;
        *)         pip_install "$1" "$1" ;;
    esac
}

main() {
    make_venv
    local pkgs=("$@")
    [ ${#pkgs[@]} -eq 0 ] && pkgs=("${ALL_PACKAGES[@]}")
    local failed=0
    for p in "${pkgs[@]}"; do
        install_one "$p" || failed=$((failed + 1))
    done
    log "done; $failed package(s) failed (status in $STATUS_DIR)"
    return 0
}

main "$@"
