#!/usr/bin/env bash
# Makes sure PostgreSQL server programs (initdb, pg_ctl, pg_basebackup, pg_rewind, pgbench) are on
# this machine, installing Debian's packages when they are absent and we are root. Used by
# `npm run demo`, `npm test` and .ci/run, so the README's two commands work on a fresh machine.
set -euo pipefail

have_server() {
  command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}
have_pgbench() {
  command -v pgbench >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pgbench >/dev/null 2>&1
}

missing=()
have_server || missing+=(postgresql)
have_pgbench || missing+=(postgresql-contrib)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "PostgreSQL server programs are missing; install them: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "installing ${missing[*]} (apt-get)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# PostgreSQL refuses to run as root: pgfollower runs its programs as this unprivileged user.
if [ "$(id -u)" = 0 ] && ! getent passwd postgres >/dev/null; then
  useradd --system --create-home --home-dir /var/lib/postgresql --shell /bin/bash postgres
fi
