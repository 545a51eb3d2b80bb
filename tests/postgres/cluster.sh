#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for the tests (issue #17).
#
#   tests/postgres/cluster.sh start DIR   initdb into DIR (if new), start it,
#                                          print the registry URL to use
#   tests/postgres/cluster.sh stop DIR    stop it (DIR is left for removal)
#
# The server listens on a Unix socket in DIR, and on 127.0.0.1 at a port
# free when the cluster was made (DIR/port), with TLS on: at the first
# start a throw-away CA signs a server certificate for `localhost` and
# 127.0.0.1 (DIR/tls/ca.crt is the root to trust; DIR/tls/other-ca.crt is
# a CA that signed nothing, for tests of a wrong root) and a client
# certificate (DIR/tls/client.crt, .key) that the role so_cert_user must
# show over TCP (where it may connect with TLS only). Nothing outside the
# machine can reach it. initdb refuses to run as root: as root, the cluster
# belongs to an unprivileged user (SECOND_OPINION_PG_USER, default
# `postgres`, else `nobody`). Authentication is `trust` (on the socket,
# whose directory only that user and the tests can reach, and on
# loopback).
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

# The test CA, the server's certificate it signs (SAN localhost and
# 127.0.0.1, as verify-full checks them), a client certificate it signs
# and another CA, in DIR/tls.
make_certificates() {
    local tls="$dir/tls"
    mkdir -p "$tls"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=second-opinion test CA" \
        -keyout "$tls/ca.key" -out "$tls/ca.crt" 2>/dev/null
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=second-opinion other CA" \
        -keyout "$tls/other-ca.key" -out "$tls/other-ca.crt" 2>/dev/null
    openssl req -new -newkey rsa:2048 -nodes -subj "/CN=localhost" \
        -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$tls/server.ext"
    openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" \
        -CAcreateserial -days 3650 -extfile "$tls/server.ext" -out "$tls/server.crt" 2>/dev/null
    # A client certificate for the role so_cert_user, whom pg_hba.conf
    # lets in over TLS only with it (the tests make the role).
    openssl req -new -newkey rsa:2048 -nodes -subj "/CN=so_cert_user" \
        -keyout "$tls/client.key" -out "$tls/client.csr" 2>/dev/null
    openssl x509 -req -in "$tls/client.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" \
        -CAcreateserial -days 3650 -out "$tls/client.crt" 2>/dev/null
    rm -f "$tls/server.csr" "$tls/client.csr" "$tls/server.ext" "$tls/ca.srl"
    # The server refuses a key others may read; the tests read the rest.
    chmod 755 "$tls"
    chmod 644 "$tls"/*.crt
    chmod 600 "$tls"/*.key
    if [ "$(id -u)" = 0 ]; then chown -R "$owner" "$tls"; fi
}

case "$action" in
start)
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown "$owner" "$dir"; fi
    chmod 700 "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as_owner "$bin/initdb" --pgdata="$dir/data" --username=postgres --auth=trust \
            --encoding=UTF8 --locale=C >"$dir/initdb.log" 2>&1 \
            || { cat "$dir/initdb.log" >&2; exit 1; }
        # so_cert_user: over TCP with TLS and its certificate only. Before
        # initdb's `trust` lines, which would let it in without either.
        as_owner sed -i -e '1i hostssl all so_cert_user 127.0.0.1/32 cert' \
            -e '1i hostnossl all so_cert_user 127.0.0.1/32 reject' "$dir/data/pg_hba.conf"
    fi
    # A port of the cluster's own, kept across restarts. The socket's name
    # holds it too, so the URL below names it.
    if [ ! -f "$dir/port" ]; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' \
            >"$dir/port"
    fi
    port=$(cat "$dir/port")
    if [ ! -f "$dir/tls/server.crt" ]; then
        make_certificates
    fi
    # fsync off: a test cluster need not survive a power cut, and it makes
    # the tests' commits cheap.
    as_owner "$bin/pg_ctl" --pgdata="$dir/data" status >/dev/null 2>&1 \
        || as_owner "$bin/pg_ctl" --pgdata="$dir/data" --log="$dir/server.log" --wait \
        -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='$dir' \
            -c ssl=on -c ssl_cert_file='$dir/tls/server.crt' -c ssl_key_file='$dir/tls/server.key' \
            -c ssl_ca_file='$dir/tls/ca.crt' \
            -c fsync=off -c max_connections=200" start >/dev/null \
        || { cat "$dir/server.log" >&2; exit 1; }
    # The tests connect as the superuser `postgres` through the socket and
    # make a database of their own each.
    chmod 755 "$dir"
    echo "postgresql://postgres@$(printf %s "$dir" | sed 's|/|%2F|g'):$port/postgres"
    ;;
stop)
    as_owner "$bin/pg_ctl" --pgdata="$dir/data" --mode=fast --wait stop >/dev/null
    ;;
*)
    echo "usage: cluster.sh start|stop DIR" >&2
    exit 2
    ;;
esac
