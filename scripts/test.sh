#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs, builds and installs ferrocorn,
# then runs format/lint checks, the Rust tests and the pytest suite against real processes.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}

# Debian packages the tests drive for real (installed only when missing).
need_apt=()
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v nginx >/dev/null 2>&1 || need_apt+=(nginx-light)   # real nginx in front (proxy_pass, uwsgi_pass, fastcgi_pass)
[ -x /usr/sbin/apache2 ] || need_apt+=(apache2)                 # real Apache in front (mod_proxy_uwsgi, mod_proxy_fcgi)
[ -e /usr/lib/apache2/modules/mod_fcgid.so ] || need_apt+=(libapache2-mod-fcgid)  # Apache starting ferrocorn (FastCGI on fd 0)
command -v cgi-fcgi >/dev/null 2>&1 || need_apt+=(libfcgi-bin) # cgi-fcgi -bind -connect
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== apt-get install ${need_apt[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

echo "== pip install test requirements"
"$PY" -m pip install -q --disable-pip-version-check -r tests/requirements.txt

echo "== build and install ferrocorn"
"$PY" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps .

echo "== cargo fmt / clippy"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

echo "== cargo test"
cargo test --workspace --exclude ferrocorn-py

echo "== pytest"
"$PY" -m pytest tests -q -p no:cacheprovider "$@"
