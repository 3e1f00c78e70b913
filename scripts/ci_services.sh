#!/usr/bin/env bash
# Make the live services the scale-out tests use answer on 127.0.0.1:
# PostgreSQL (5432) with the pgvector extension, Redis (6379), RabbitMQ (5672).
#
#   scripts/ci_services.sh            start whatever is down
#   scripts/ci_services.sh --install  also install pgvector if missing (root; implied by CI=true)
#
# Idempotent: a service that is already up is left alone. pgvector comes from Debian:
# the binary package postgresql-<ver>-pgvector when the configured suites carry it, else
# Debian's own pgvector source package (suite $PGVECTOR_SOURCE_SUITE, default trixie)
# built against postgresql-server-dev-<ver>; Debian 12 ships no pgvector binary for
# PostgreSQL 15. Exits 1, after trying everything, when something is still missing.
set -uo pipefail

INSTALL=false
for arg in "$@"; do
  case "$arg" in
    --install) INSTALL=true ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown option: $arg" >&2; exit 2 ;;
  esac
done
if [ "$(id -u)" = 0 ] && [ "${CI:-}" = true ]; then INSTALL=true; fi

PGVECTOR_SOURCE_SUITE="${PGVECTOR_SOURCE_SUITE:-trixie}"
source "$(dirname "$0")/_debian.sh"
export DEBIAN_FRONTEND=noninteractive
PG_VERSION="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)"
failures=()

say() { echo "ci_services: $*"; }
fail() { echo "ci_services: $2" >&2; failures+=("$1"); }  # fail KEY MESSAGE
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_for() {  # wait_for SECONDS COMMAND...
  local seconds=$1; shift
  for _ in $(seq 1 "$seconds"); do "$@" && return 0; sleep 1; done
  return 1
}

pgvector_installed() {
  [ -f "/usr/share/postgresql/$PG_VERSION/extension/vector.control" ]
}

apt_candidate() {
  apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { print $2 }' | grep -qv '(none)'
}

build_pgvector_from_debian_source() {
  local mirror state build
  mirror="$(debian_mirror)"
  [ -n "$mirror" ] || { echo "no Debian archive in the apt sources" >&2; return 1; }
  apt-get install -y -q "postgresql-server-dev-$PG_VERSION" >/dev/null || return 1
  state=/var/cache/ci-services/apt
  mkdir -p "$state/lists/partial" "$state/cache/archives/partial"
  echo "deb-src $mirror $PGVECTOR_SOURCE_SUITE main" >"$state/sources.list"
  local apt_opts=(
    -o "Dir::Etc::sourcelist=$state/sources.list" -o Dir::Etc::sourceparts=-
    -o "Dir::State::Lists=$state/lists" -o "Dir::Cache=$state/cache"
  )
  apt-get "${apt_opts[@]}" update -q >/dev/null || return 1
  build="$(mktemp -d)"
  chmod 755 "$build"  # apt downloads as the _apt user
  (
    cd "$build" &&
      apt-get "${apt_opts[@]}" source -q pgvector >/dev/null &&
      cd pgvector-*/ &&
      make -s PG_CONFIG="/usr/lib/postgresql/$PG_VERSION/bin/pg_config" >/dev/null &&
      make -s PG_CONFIG="/usr/lib/postgresql/$PG_VERSION/bin/pg_config" install >/dev/null
  )
  local status=$?
  rm -rf "$build"
  return $status
}

install_pgvector() {
  local package="postgresql-$PG_VERSION-pgvector"
  say "installing pgvector for PostgreSQL $PG_VERSION"
  apt-get update -q >/dev/null || return 1
  if apt_candidate "$package"; then
    apt-get install -y -q "$package" >/dev/null
  else
    say "$package is not in the configured suites; building Debian's pgvector source ($PGVECTOR_SOURCE_SUITE)"
    build_pgvector_from_debian_source
  fi
}

postgres_up() { pg_isready -q -h 127.0.0.1 -p 5432; }

ensure_postgres() {
  if [ -z "$PG_VERSION" ]; then
    fail "postgresql" "no PostgreSQL cluster under /etc/postgresql"
    return
  fi
  if ! pgvector_installed; then
    if [ "$INSTALL" = true ] && [ "$(id -u)" = 0 ]; then
      install_pgvector || fail "pgvector" "installing pgvector failed"
    else
      fail "pgvector" "pgvector is not installed; run as root: $0 --install"
    fi
  fi
  if ! postgres_up; then
    say "starting PostgreSQL $PG_VERSION"
    pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" main start 2>&1 || true
    wait_for 30 postgres_up || { fail "postgresql" "PostgreSQL does not answer on 5432"; return; }
  fi
  if pgvector_installed; then
    psql -q -U postgres -h 127.0.0.1 -v ON_ERROR_STOP=1 -d test \
      -c 'SET client_min_messages = warning' -c 'CREATE EXTENSION IF NOT EXISTS vector' >/dev/null ||
      fail "pgvector" "CREATE EXTENSION vector failed in database test"
    local version
    version="$(psql -tA -U postgres -h 127.0.0.1 -d test \
      -c "SELECT extversion FROM pg_extension WHERE extname = 'vector'" 2>/dev/null)"
    say "PostgreSQL $PG_VERSION up, pgvector ${version:-?}"
  fi
}

redis_up() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; }

ensure_redis() {
  if ! redis_up; then
    say "starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
      --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
    wait_for 15 redis_up || { fail "redis" "Redis does not answer on 6379"; return; }
  fi
  say "Redis up"
}

rabbitmq_up() { port_open 5672; }

ensure_rabbitmq() {
  if ! rabbitmq_up; then
    say "starting RabbitMQ"
    rabbitmq-server -detached 2>&1 || true
    wait_for 90 rabbitmq_up || { fail "rabbitmq" "RabbitMQ does not answer on 5672"; return; }
  fi
  say "RabbitMQ up"
}

ensure_postgres
ensure_redis
ensure_rabbitmq

if [ "${#failures[@]}" -gt 0 ]; then
  echo "ci_services: not ready: ${failures[*]}" >&2
  exit 1
fi
