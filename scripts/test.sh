#!/usr/bin/env bash
# The test command: every test of the workspace on SQLite and PostgreSQL.
#
# Makes sure a PostgreSQL server answers (starting or installing one on
# Debian if needed), points the tests at it through SMSFLOW_TEST_POSTGRES_URL,
# runs `cargo test --workspace --locked`, and fails if no PostgreSQL test ran:
# a green run on SQLite alone is not a green run.
set -euo pipefail

cd "$(dirname "$0")/.."

PG_HOST=127.0.0.1
PG_PORT=5432
export SMSFLOW_TEST_POSTGRES_URL="${SMSFLOW_TEST_POSTGRES_URL:-postgres://postgres@${PG_HOST}:${PG_PORT}/postgres}"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf '\nERROR: %s\n\n' "$*" >&2; exit 1; }

# Runs a command as root: directly, through sudo, or not at all.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

# Runs a command as the postgres system user.
as_postgres() {
    if [ "$(id -un)" = postgres ]; then
        "$@"
    elif [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        sudo -n -u postgres "$@"
    fi
}

pg_answers() {
    command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h "$PG_HOST" -p "$PG_PORT"
}

pg_cluster_version() {
    ls /etc/postgresql 2>/dev/null | sort -V | tail -1
}

ensure_postgres() {
    # Only the default local server is managed here; any other URL is the
    # caller's server and must already be up.
    case "$SMSFLOW_TEST_POSTGRES_URL" in
        *"@${PG_HOST}:${PG_PORT}/"* | *"@localhost:${PG_PORT}/"*) ;;
        *)
            say "using PostgreSQL at the given SMSFLOW_TEST_POSTGRES_URL"
            return 0
            ;;
    esac
    if pg_answers; then
        say "PostgreSQL answers on ${PG_HOST}:${PG_PORT}"
        return 0
    fi
    if [ -z "$(pg_cluster_version)" ]; then
        say "PostgreSQL is not installed; installing it with apt-get"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
    fi
    local version
    version="$(pg_cluster_version)"
    [ -n "$version" ] || die "PostgreSQL is installed but /etc/postgresql has no cluster"
    local hba="/etc/postgresql/${version}/main/pg_hba.conf"
    # Tests connect as postgres over TCP without a password.
    if ! as_root grep -Eq '^host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
        say "allowing trust authentication from 127.0.0.1 in $hba"
        as_root sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
    fi
    say "starting PostgreSQL ${version}/main"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload || true
    for _ in $(seq 1 60); do
        if pg_answers; then
            say "PostgreSQL answers on ${PG_HOST}:${PG_PORT}"
            return 0
        fi
        sleep 1
    done
    die "PostgreSQL did not answer on ${PG_HOST}:${PG_PORT} within 60 s (see /var/log/postgresql/)"
}

ensure_postgres

log="$(mktemp -t smsflow-test.XXXXXX)"
# The delivery harnesses append their summary lines here (see
# crates/testkit/src/summary.rs); they are printed after the run.
export SMSFLOW_TEST_SUMMARY
SMSFLOW_TEST_SUMMARY="$(mktemp -t smsflow-summary.XXXXXX)"
trap 'rm -f "$log" "$SMSFLOW_TEST_SUMMARY"' EXIT

say "cargo test --workspace --locked (PostgreSQL at ${SMSFLOW_TEST_POSTGRES_URL#*@})"
status=0
cargo test --workspace --locked "$@" 2>&1 | tee "$log" || status=$?
[ "$status" -eq 0 ] || die "cargo test failed (exit $status)"

postgres_ok="$(grep -Ec '^test .*postgres.* \.\.\. ok$' "$log" || true)"
if [ "$postgres_ok" -eq 0 ]; then
    die "no PostgreSQL test ran: the suite must run every storage test on PostgreSQL too"
fi
say "delivery harness summary:"
sort "$SMSFLOW_TEST_SUMMARY" >&2
if [ "$#" -eq 0 ]; then
    # A full run must include the kill -9 harness on both backends.
    for backend in postgres sqlite; do
        grep -q "^fault-injection backend=${backend} " "$SMSFLOW_TEST_SUMMARY" \
            || die "the kill -9 harness did not report on ${backend}"
    done
fi
say "all tests passed; ${postgres_ok} of them on PostgreSQL"
