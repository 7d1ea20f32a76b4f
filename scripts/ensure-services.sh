#!/usr/bin/env bash
# Make sure the services the test suite talks to are up: PostgreSQL and Redis, and that
# Chromium and Dovecot, which the tests start themselves, are installed.
# In CI (CI=true) a missing service is installed and started, or the run fails; on a
# developer's machine a missing service only makes the tests that need it skip.
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_up() { (exec 3<>/dev/tcp/127.0.0.1/6379 && printf 'PING\r\n' >&3 && head -c5 <&3 | grep -q PONG) 2>/dev/null; }

in_ci() { [ "${CI:-}" = "true" ]; }

apt_install() {
  if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! pg_up; then
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    in_ci || { echo "PostgreSQL not running: its tests will skip."; exit 0; }
    apt_install postgresql
  fi
  if in_ci || [ "$(id -u)" = 0 ]; then
    version=$(ls /etc/postgresql | sort -n | tail -1)
    conf=/etc/postgresql/$version/main
    # Local trust auth, as on a developer's laptop; the tests create their own databases.
    if ! grep -q "zabota-test" "$conf/pg_hba.conf"; then
      sed -i '1i host all all 127.0.0.1/32 trust # zabota-test\nlocal all all trust # zabota-test' "$conf/pg_hba.conf"
    fi
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 30); do pg_up && break; sleep 1; done
  fi
fi
if ! pg_up; then
  in_ci && { echo "PostgreSQL is required in CI and could not be started." >&2; exit 1; }
  echo "PostgreSQL not running: its tests will skip."
fi
if pg_up; then
  psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" postgres | grep -q 1 \
    || psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE test" postgres >/dev/null
fi

if ! redis_up; then
  if ! command -v redis-server >/dev/null 2>&1; then
    in_ci || { echo "Redis not running: its tests will skip."; exit 0; }
    apt_install redis-server
  fi
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 30); do redis_up && break; sleep 0.5; done
fi
if ! redis_up; then
  in_ci && { echo "Redis is required in CI and could not be started." >&2; exit 1; }
  echo "Redis not running: its tests will skip."
fi
# Browser tests drive Debian's Chromium (Playwright cannot download its own browser here).
if ! command -v chromium >/dev/null 2>&1; then
  if in_ci || [ "$(id -u)" = 0 ]; then
    apt_install chromium || true
  fi
  if ! command -v chromium >/dev/null 2>&1; then
    in_ci && { echo "Chromium is required in CI and could not be installed." >&2; exit 1; }
    echo "Chromium not installed: browser tests will skip (apt-get install chromium)."
  fi
fi
# E-mail tests start a private Dovecot (IMAP) of their own from Debian's dovecot-imapd.
if [ ! -x /usr/sbin/dovecot ]; then
  if in_ci || [ "$(id -u)" = 0 ]; then
    apt_install dovecot-imapd || true
  fi
  if [ ! -x /usr/sbin/dovecot ]; then
    in_ci && { echo "Dovecot is required in CI and could not be installed." >&2; exit 1; }
    echo "Dovecot not installed: IMAP tests will skip (apt-get install dovecot-imapd)."
  fi
fi
echo "Services ready."
