#!/usr/bin/env bash
# Sets up everything the CRM needs on a Debian machine and runs it or its tests.
#
#   ./scripts/dev.sh run            set up, seed demo data, run web + worker + beat
#   ./scripts/dev.sh test [ARGS]    set up, run the whole test suite (ARGS go to pytest)
#   ./scripts/dev.sh stop           stop the private PostgreSQL and Redis
#   ./scripts/dev.sh shell [CMD]    a shell (or CMD) with the project's environment
#
# Every step is idempotent and skips work already done, so the second run is fast.
# PostgreSQL and Redis run privately from .run/ on loopback ports of their own, so they
# neither need nor disturb any system-wide server.
#
# Settings (environment variables):
#   CRM_PG_PORT     port of the private PostgreSQL   (default 54329)
#   CRM_REDIS_PORT  port of the private Redis        (default 63799)
#   CRM_WEB_PORT    port of the development server   (default 8000)
#   CRM_PYTHON      Python 3.11 interpreter to build .venv with (default: python3.11 or python3)
set -euo pipefail

# pwd -P: Redis reports its folder with symlinks resolved, and we compare against it.
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$REPO_ROOT"

export CRM_PG_PORT="${CRM_PG_PORT:-54329}"
export CRM_REDIS_PORT="${CRM_REDIS_PORT:-63799}"
export CRM_WEB_PORT="${CRM_WEB_PORT:-8000}"

REQUIRED_PYTHON="3.11"
VENV_DIR="$REPO_ROOT/.venv"
RUN_DIR="$REPO_ROOT/.run"
PG_DIR="$RUN_DIR/pg"          # also the unix-socket folder
PG_DATA="$PG_DIR/data"
PG_LOG="$PG_DIR/log"
REDIS_DIR="$RUN_DIR/redis"

# Debian package names. postgresql-contrib only matters where it still exists as a
# package of its own: since PostgreSQL 10 Debian ships pg_trgm inside postgresql-NN.
APT_PACKAGES=(postgresql redis-server chromium fonts-wqy-zenhei gettext dovecot-imapd)
APT_OPTIONAL_PACKAGES=(postgresql-contrib)

# ---------------------------------------------------------------------------- helpers

if [[ -t 2 ]]; then BLUE=$'\033[1;34m' RED=$'\033[1;31m' PLAIN=$'\033[0m'; else BLUE="" RED="" PLAIN=""; fi
say() { printf '%s==>%s %s\n' "$BLUE" "$PLAIN" "$*" >&2; }
die() { printf '%sdev.sh: %s%s\n' "$RED" "$*" "$PLAIN" >&2; exit 1; }

# A hash of the given files, to tell whether an install made from them is still current.
hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

stamp_is_current() {  # stamp_is_current STAMP-FILE HASH
    [[ -f "$1" && "$(cat "$1")" == "$2" ]]
}

as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        die "'$*' needs root and sudo is missing: run it as root, then run dev.sh again"
    fi
}

# ---------------------------------------------------------------- a. Debian packages

package_is_installed() {
    # Compared as a string: with pipefail, `dpkg -s | grep -q` can fail on SIGPIPE.
    [[ "$(dpkg -s "$1" 2>/dev/null)" == *$'\nStatus: install ok installed'* ]]
}

python_has_venv() {  # Debian's own python3 can make venvs only with python3-venv
    "$1" -c 'import ensurepip, venv' >/dev/null 2>&1
}

ensure_apt_packages() {
    local missing=() pkg
    for pkg in "${APT_PACKAGES[@]}" "${APT_OPTIONAL_PACKAGES[@]}"; do
        package_is_installed "$pkg" || missing+=("$pkg")
    done
    # The machine normally has node + npm; fall back to Debian's when it has not.
    command -v npm >/dev/null || missing+=(nodejs npm)
    if command -v python3 >/dev/null && [[ "$(command -v python3)" == /usr/bin/python3 ]] \
            && ! python_has_venv /usr/bin/python3; then
        missing+=(python3-venv)
    fi
    [[ ${#missing[@]} -eq 0 ]] && return

    say "Installing Debian packages: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    local installable=()
    for pkg in "${missing[@]}"; do
        if [[ " ${APT_OPTIONAL_PACKAGES[*]} " == *" $pkg "* ]] \
                && ! apt-cache show "$pkg" >/dev/null 2>&1; then
            continue  # optional and no longer a package of its own here
        fi
        installable+=("$pkg")
    done
    [[ ${#installable[@]} -eq 0 ]] && return
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${installable[@]}"
}

# ------------------------------------------------------------------ b. Python venv

python_version_of() {
    "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true
}

find_python() {
    local candidate
    for candidate in ${CRM_PYTHON:-} python3.11 python3; do
        if command -v "$candidate" >/dev/null \
                && [[ "$(python_version_of "$candidate")" == "$REQUIRED_PYTHON" ]]; then
            command -v "$candidate"
            return
        fi
    done
    local found="none"
    command -v python3 >/dev/null && found="$(python3 --version 2>&1) at $(command -v python3)"
    die "the CRM needs Python $REQUIRED_PYTHON, but python3 is $found.
Install Python $REQUIRED_PYTHON (Debian bookworm's python3 is 3.11) or point CRM_PYTHON
at a 3.11 interpreter, e.g. CRM_PYTHON=/usr/local/bin/python3.11 ./scripts/dev.sh ..."
}

ensure_python_venv() {
    # A venv made by another Python (or broken by moving the checkout) is remade.
    if [[ -d "$VENV_DIR" && "$(python_version_of "$VENV_DIR/bin/python")" != "$REQUIRED_PYTHON" ]]; then
        say "Removing .venv: it does not run Python $REQUIRED_PYTHON"
        rm -rf "$VENV_DIR"
    fi
    if [[ ! -x "$VENV_DIR/bin/python" ]]; then
        local python
        python="$(find_python)"
        say "Creating .venv with $python"
        "$python" -m venv "$VENV_DIR"
    fi
    local stamp="$VENV_DIR/.crm-installed" want
    want="$(hash_of pyproject.toml)"
    stamp_is_current "$stamp" "$want" && return
    say "Installing Python packages (pip install -e '.[dev]')"
    "$VENV_DIR/bin/python" -m pip install --disable-pip-version-check -q -e '.[dev]'
    echo "$want" >"$stamp"
}

# ---------------------------------------------------------------- c. front-end files

ensure_node_modules() {
    local stamp="node_modules/.crm-installed" want
    want="$(hash_of package.json package-lock.json)"
    stamp_is_current "$stamp" "$want" && return
    say "Installing front-end packages (npm ci)"
    npm ci --no-audit --no-fund --loglevel=error
    echo "$want" >"$stamp"
}

ensure_vendor_assets() {
    local stamp="static/vendor/.crm-built" want
    want="$(hash_of package-lock.json scripts/build_assets.sh)"
    stamp_is_current "$stamp" "$want" && return
    say "Copying front-end files into static/vendor/"
    bash scripts/build_assets.sh
    echo "$want" >"$stamp"
}

# --------------------------------------------------------------- d. private PostgreSQL

PG_BIN=""
locate_pg_bin() {  # the newest installed PostgreSQL: its version is never hard-coded
    local version
    # shellcheck disable=SC2012  # the folder holds version numbers only
    version="$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -1)"
    [[ -n "$version" && -x "/usr/lib/postgresql/$version/bin/pg_ctl" ]] \
        || die "no PostgreSQL server under /usr/lib/postgresql (apt-get install postgresql)"
    PG_BIN="/usr/lib/postgresql/$version/bin"
}

# initdb and pg_ctl refuse to run as root, so root runs them as the postgres user, from
# inside .run/pg because postgres may not be allowed into the caller's folder.
as_pg_owner() {
    if [[ $EUID -eq 0 ]]; then
        (cd "$PG_DIR" && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

check_postgres_can_reach() {  # every folder above .run/pg must be traversable by postgres
    runuser -u postgres -- test -x "$PG_DIR" && return
    # Find the culprit from the top down: below it every folder looks closed too.
    local dir="" part
    local -a parts
    IFS=/ read -ra parts <<<"${PG_DIR#/}"
    for part in "${parts[@]}"; do
        dir="$dir/$part"
        if ! runuser -u postgres -- test -x "$dir"; then
            die "PostgreSQL runs as the 'postgres' user, which cannot enter $dir.
Allow it with 'chmod o+x $dir' or move the checkout (e.g. under /work or /tmp)."
        fi
    done
    die "the 'postgres' user cannot use $PG_DIR"
}

prepare_pg_dir() {
    mkdir -p "$PG_DIR"
    if [[ $EUID -eq 0 ]]; then
        id postgres >/dev/null 2>&1 || die "no 'postgres' user: is the postgresql package installed?"
        chown postgres:postgres "$PG_DIR"
        check_postgres_can_reach
    fi
}

init_pg_cluster() {
    [[ -f "$PG_DATA/PG_VERSION" ]] && return
    say "Creating a private PostgreSQL cluster in .run/pg/data"
    rm -rf "$PG_DATA"
    as_pg_owner "$PG_BIN/initdb" -D "$PG_DATA" -E UTF8 --locale=C.UTF-8 -U postgres \
        --auth=trust >"$PG_DIR/initdb.log" 2>&1 \
        || { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
    # Settings that change with CRM_PG_PORT live in crm.conf, rewritten before each start.
    echo "include_if_exists = 'crm.conf'" | as_pg_owner tee -a "$PG_DATA/postgresql.conf" >/dev/null
}

write_pg_settings() {
    # Unix sockets paths are limited to 107 bytes; a deeply nested checkout gets TCP only.
    local socket_dir="$PG_DIR"
    (( ${#PG_DIR} > 90 )) && socket_dir=""
    as_pg_owner tee "$PG_DATA/crm.conf" >/dev/null <<EOF
# Written by scripts/dev.sh before each start; edits are lost.
listen_addresses = '127.0.0.1'
port = $CRM_PG_PORT
unix_socket_directories = '$socket_dir'
# A throw-away development cluster: trade crash safety for speed (tests create and
# drop a database on every run).
fsync = off
synchronous_commit = off
full_page_writes = off
# Large imports commit in parts, each a prepared transaction (crm/imports/parts.py).
max_prepared_transactions = 8
# The cluster's defaults are sized for a small machine (128 MB of shared buffers, checkpoints every 1 GB of WAL):
# an import of 100,000 customers then has its backends write pages out themselves and sits through checkpoints.
shared_buffers = '1GB'
max_wal_size = '4GB'
EOF
}

pg_is_running() {
    as_pg_owner "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}

pg_running_port() {  # the 4th line of postmaster.pid is the port the server listens on
    sed -n 4p "$PG_DATA/postmaster.pid" 2>/dev/null || true
}

start_pg() {
    if pg_is_running; then
        [[ "$(pg_running_port)" == "$CRM_PG_PORT" ]] && return
        say "Restarting PostgreSQL: it listens on port $(pg_running_port), CRM_PG_PORT is $CRM_PG_PORT"
        as_pg_owner "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null
    fi
    write_pg_settings
    say "Starting PostgreSQL on 127.0.0.1:$CRM_PG_PORT (log: .run/pg/log)"
    if ! as_pg_owner "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 start >/dev/null; then
        tail -n 20 "$PG_LOG" >&2 || true
        die "PostgreSQL did not start (is port $CRM_PG_PORT taken? set CRM_PG_PORT)"
    fi
}

psql_admin() {  # psql as the cluster's superuser over TCP (trust auth on loopback)
    "$PG_BIN/psql" "host=127.0.0.1 port=$CRM_PG_PORT user=postgres dbname=postgres" \
        -v ON_ERROR_STOP=1 -qtAX "$@"
}

ensure_crm_role_and_database() {
    # SUPERUSER so that the tests can create the test database and the pg_trgm extension.
    if [[ -z "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = 'crm'")" ]]; then
        say "Creating PostgreSQL role crm"
        psql_admin -c "CREATE ROLE crm LOGIN SUPERUSER PASSWORD 'crm'"
    fi
    if [[ -z "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = 'crm'")" ]]; then
        say "Creating PostgreSQL database crm"
        psql_admin -c "CREATE DATABASE crm OWNER crm"
    fi
}

ensure_postgres() {
    locate_pg_bin
    prepare_pg_dir
    init_pg_cluster
    start_pg
    ensure_crm_role_and_database
}

stop_postgres() {
    [[ -f "$PG_DATA/PG_VERSION" ]] || return 0
    locate_pg_bin
    if pg_is_running; then
        say "Stopping PostgreSQL"
        as_pg_owner "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null
    fi
}

# -------------------------------------------------------------------- e. private Redis

redis_answers() {
    [[ "$(redis-cli -h 127.0.0.1 -p "$CRM_REDIS_PORT" ping 2>/dev/null)" == PONG ]]
}

check_redis_is_ours() {  # another checkout's Redis on the same port would mix data
    local dir
    dir="$(redis-cli -h 127.0.0.1 -p "$CRM_REDIS_PORT" config get dir 2>/dev/null | sed -n 2p)"
    [[ "$dir" == "$REDIS_DIR" ]] \
        || die "port $CRM_REDIS_PORT is served by another Redis (its dir is '$dir'); set CRM_REDIS_PORT"
}

ensure_redis() {
    mkdir -p "$REDIS_DIR"
    if ! redis_answers; then
        say "Starting Redis on 127.0.0.1:$CRM_REDIS_PORT (log: .run/redis/redis.log)"
        redis-server --bind 127.0.0.1 --port "$CRM_REDIS_PORT" --daemonize yes \
            --dir "$REDIS_DIR" --pidfile "$REDIS_DIR/redis.pid" \
            --logfile "$REDIS_DIR/redis.log" --save "" --appendonly no
        for _ in $(seq 50); do
            redis_answers && break
            sleep 0.1
        done
        redis_answers || { tail -n 20 "$REDIS_DIR/redis.log" >&2 || true; die "Redis did not start"; }
    fi
    check_redis_is_ours
}

stop_redis() {
    local pidfile="$REDIS_DIR/redis.pid" pid
    [[ -f "$pidfile" ]] || return 0
    pid="$(cat "$pidfile")"
    if kill -0 "$pid" 2>/dev/null; then
        say "Stopping Redis"
        kill "$pid"  # SIGTERM: Redis shuts down cleanly and removes its pid file
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    fi
    rm -f "$pidfile"
}

# ------------------------------------------------------------------ f. environment

export_environment() {  # export_environment SETTINGS-MODULE
    export DATABASE_URL="postgres://crm:crm@127.0.0.1:$CRM_PG_PORT/crm"
    export REDIS_URL="redis://127.0.0.1:$CRM_REDIS_PORT/0"
    export DJANGO_SETTINGS_MODULE="$1"
    export VIRTUAL_ENV="$VENV_DIR"
    export PATH="$VENV_DIR/bin:$PATH"
    export PYTHONUNBUFFERED=1  # honcho shows each process's lines as they come
}

# ------------------------------------------------------------ g. Django housekeeping

compile_translations() {
    # compilemessages fails outright when no locale folder exists yet, so look first.
    if [[ -z "$(find . \( -path ./.venv -o -path ./node_modules -o -path ./.run \) -prune \
            -o -name '*.po' -print -quit)" ]]; then
        return
    fi
    python manage.py compilemessages --ignore=.venv --ignore=node_modules --ignore=.run -v 0
}

migrate_database() {
    python manage.py migrate --noinput
}

require_manage_py() {
    [[ -f manage.py ]] || die "manage.py is missing: the Django project is not in $REPO_ROOT yet"
}

# ---------------------------------------------------------------------- sub-commands

set_up_services() {  # steps a-f
    ensure_apt_packages
    ensure_python_venv
    ensure_node_modules
    ensure_vendor_assets
    ensure_postgres
    ensure_redis
    export_environment "$1"
}

set_up_django() {  # step g
    require_manage_py
    compile_translations
    migrate_database
}

# The servers connect as the application's role, as in production (crm/audit/app_role.py): it may not change or
# delete audit rows. Migrations, the demo data and `shell` stay with the owner, crm; so do the tests, whose
# tests/audit/test_app_role.py grants a role of its own on the test database.
APP_DB_ROLE="crm_app"
APP_DB_PASSWORD="crm_app"

use_app_role() {  # run after migrate, as the owner: re-grants (new tables included), then switches DATABASE_URL
    CRM_DB_APP_PASSWORD="$APP_DB_PASSWORD" python manage.py grant_app_role --role "$APP_DB_ROLE"
    export DATABASE_URL="postgres://$APP_DB_ROLE:$APP_DB_PASSWORD@127.0.0.1:$CRM_PG_PORT/crm"
}

cmd_run() {
    set_up_services crm.settings.dev
    set_up_django
    say "Loading demo data"
    python manage.py seed_demo --customers 2000 --print-logins
    python manage.py seed_sales_demo
    python manage.py seed_marketing_demo
    python manage.py seed_activity_demo
    say "Granting the application's database role $APP_DB_ROLE (audit rows: read and insert only)"
    use_app_role
    say "The CRM is at http://127.0.0.1:$CRM_WEB_PORT/  (Ctrl-C stops it)"
    # -e /dev/null: honcho would otherwise load .env, which holds docker compose settings.
    exec honcho start -f Procfile -e /dev/null
}

cmd_test() {
    set_up_services crm.settings.test
    export DJANGO_ALLOW_ASYNC_UNSAFE=true  # Playwright's sync API runs inside an event loop
    export CRM_CHROMIUM=/usr/bin/chromium  # Debian's Chromium; Playwright's own can't be fetched
    set_up_django
    python manage.py collectstatic --noinput -v 0
    exec pytest "$@"
}

cmd_stop() {
    stop_postgres
    stop_redis
}

cmd_shell() {
    set_up_services crm.settings.dev
    if [[ $# -gt 0 ]]; then
        exec "$@"
    fi
    say "A shell with the CRM's environment (DATABASE_URL, REDIS_URL, .venv); 'exit' leaves it"
    exec "${SHELL:-bash}" -i
}

usage() {
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

main() {
    local command="${1:-}"
    [[ $# -gt 0 ]] && shift
    case "$command" in
        run) cmd_run "$@" ;;
        test) cmd_test "$@" ;;
        stop) cmd_stop ;;
        shell) cmd_shell "$@" ;;
        # Not in the README: steps a-f only, for working on the set-up itself.
        setup-services) set_up_services crm.settings.dev ;;
        *) usage ;;
    esac
}

main "$@"
