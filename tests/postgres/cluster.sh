#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for the tests (issue #17).
#
#   tests/postgres/cluster.sh start DIR   initdb into DIR (if new), start it,
#                                          print the registry URL to use
#   tests/postgres/cluster.sh stop DIR    stop it (DIR is left for removal)
#
# The server listens on a Unix socket in DIR only (no TCP port), so it
# cannot clash with anything else on the machine and nothing outside can
# reach it. initdb refuses to run as root: as root, the cluster belongs to
# an unprivileged user (SECOND_OPINION_PG_USER, default `postgres`, else
# `nobody`). Authentication is `trust` on that socket, whose directory
# only that user and the tests can reach.
set -euo pipefail

action=${1:?usage: cluster.sh start|stop DIR}
dir=${2:?usage: cluster.sh start|stop DIR}

bin=""
for candidate in /usr/lib/postgresql/*/bin; do
    [ -x "$candidate/initdb" ] && bin=$candidate
done
if [ -z "$bin" ] && command -v pg_ctl >/dev/null 2>&1; then
    bin=$(dirname "$(command -v pg_ctl)")
fi
[ -n "$bin" ] || { echo "cluster.sh: no PostgreSQL server binaries (initdb, pg_ctl) found" >&2; exit 1; }

as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u "$owner" -- "$@"
    else
        "$@"
    fi
}

owner=$(id -un)
if [ "$(id -u)" = 0 ]; then
    owner=${SECOND_OPINION_PG_USER:-postgres}
    id "$owner" >/dev/null 2>&1 || owner=nobody
fi

case "$action" in
start)
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown "$owner" "$dir"; fi
    chmod 700 "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as_owner "$bin/initdb" --pgdata="$dir/data" --username=postgres --auth=trust \
            --encoding=UTF8 --locale=C >"$dir/initdb.log" 2>&1 \
            || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    # listen_addresses='' : the socket only. fsync off: a test cluster
    # need not survive a power cut, and it makes the tests' commits cheap.
    as_owner "$bin/pg_ctl" --pgdata="$dir/data" status >/dev/null 2>&1 \
        || as_owner "$bin/pg_ctl" --pgdata="$dir/data" --log="$dir/server.log" --wait \
        -o "-c listen_addresses='' -c unix_socket_directories='$dir' -c fsync=off \
            -c max_connections=200" start >/dev/null \
        || { cat "$dir/server.log" >&2; exit 1; }
    # The tests connect as the superuser `postgres` through the socket and
    # make a database of their own each.
    chmod 755 "$dir"
    echo "postgresql://postgres@$(printf %s "$dir" | sed 's|/|%2F|g')/postgres"
    ;;
stop)
    as_owner "$bin/pg_ctl" --pgdata="$dir/data" --mode=fast --wait stop >/dev/null
    ;;
*)
    echo "usage: cluster.sh start|stop DIR" >&2
    exit 2
    ;;
esac
