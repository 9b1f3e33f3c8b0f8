#!/usr/bin/env bash
# Installs what `make run` and `make test` need when it is missing, from Debian packages.
# Usage: scripts/ensure-deps.sh postgres|chromium ...
set -euo pipefail

have_postgres() {
  command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && return 0
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}

have_chromium() { [ -x /usr/bin/chromium ] || command -v chromium >/dev/null 2>&1; }

apt_updated=""
install() {
  local what=$1; shift
  if [ "$(id -u)" != "0" ]; then
    echo "pregon: $what is missing. Install it with: sudo apt-get install -y $*" >&2
    exit 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "pregon: $what is missing and this is not a Debian-like system: install the packages '$*' with your package manager" >&2
    exit 1
  fi
  if [ -z "$apt_updated" ]; then
    echo "pregon: installing $what ($*) from Debian packages…" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

for dep in "$@"; do
  case "$dep" in
    postgres) have_postgres || install "the PostgreSQL server" postgresql ;;
    chromium) have_chromium || install "Chromium (browser tests)" chromium fonts-dejavu-core ;;
    *) echo "ensure-deps: unknown dependency $dep" >&2; exit 2 ;;
  esac
done
