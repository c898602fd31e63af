# shellcheck shell=bash
# PostgreSQL 15 from Debian packages, one throwaway cluster for the tests.

PG_PORT=${HOOKD_TESTENV_PG_PORT:-15432}
PG_USER=hookd
PG_PASSWORD=hookd
PG_STATE=$TESTENV_DIR/postgres
PG_PIDFILE=$PG_STATE/postgres.pid
PG_LOG=$PG_STATE/postgres.log

pg_bindir() {
	local d
	for d in "${HOOKD_PG_BINDIR:-}" /usr/lib/postgresql/15/bin; do
		[ -n "$d" ] && [ -x "$d/postgres" ] && { echo "$d"; return 0; }
	done
	return 1
}

# The server refuses to run as root, so as root it runs as the postgres
# system user, which must be able to reach its data directory. A work tree
# under a private directory (mktemp -d is 0700) is not reachable, so the
# data then lives in a directory of its own under /var/tmp.
pg_datadir() {
	if [ -n "${HOOKD_TESTENV_PG_DATA:-}" ]; then
		echo "$HOOKD_TESTENV_PG_DATA"
	elif is_root && ! setpriv --reuid=postgres --regid=postgres --clear-groups test -x "$PG_STATE" 2>/dev/null; then
		echo "/var/tmp/hookd-testenv-$(printf '%s' "$PG_STATE" | sha256sum | cut -c1-12)/postgres"
	else
		echo "$PG_STATE/data"
	fi
}

# as_pg runs a command as the cluster's owner (exec, so $! is the server).
as_pg() {
	if is_root; then
		exec setpriv --reuid=postgres --regid=postgres --init-groups "$@"
	fi
	exec "$@"
}

postgres_install() {
	pg_bindir >/dev/null && { ! is_root || id postgres >/dev/null 2>&1; } && return 0
	apt_install postgresql-15
	pg_bindir >/dev/null || die "postgres: PostgreSQL 15 binaries not found after install"
}

postgres_running() {
	local bindir
	pid_alive "$PG_PIDFILE" || return 1
	bindir=$(pg_bindir) || return 1
	"$bindir/pg_isready" -q -h "$TESTENV_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres
}

postgres_start() {
	local bindir data pwfile
	bindir=$(pg_bindir) || die "postgres: not installed"
	require_free_ports postgres "$PG_PORT"
	mkdir -p "$PG_STATE"
	data=$(pg_datadir)
	if is_root; then
		# Make our state dir reachable by the server user when it can be.
		chmod 0755 "$TESTENV_DIR" "$PG_STATE" 2>/dev/null || true
		data=$(pg_datadir)
	fi
	if [ ! -f "$data/PG_VERSION" ]; then
		log "postgres: creating a cluster in $data"
		rm -rf "$data"
		mkdir -p "$data"
		pwfile=$(mktemp)
		echo "$PG_PASSWORD" >"$pwfile"
		if is_root; then
			chown postgres:postgres "$data" "$pwfile"
			chmod 0755 "$(dirname "$data")"
		fi
		if ! (as_pg "$bindir/initdb" -D "$data" -U "$PG_USER" --pwfile="$pwfile" \
			--auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8) >"$PG_LOG" 2>&1; then
			rm -f "$pwfile"
			fail_with_log postgres "$PG_LOG" "initdb failed"
		fi
		rm -f "$pwfile"
	fi
	: >"$PG_LOG"
	# Durability settings are off: a test cluster is rebuilt, not recovered.
	(as_pg "$bindir/postgres" -D "$data" \
		-c listen_addresses="$TESTENV_HOST" -p "$PG_PORT" \
		-c unix_socket_directories='' \
		-c fsync=off -c synchronous_commit=off -c full_page_writes=off \
		-c max_connections=300 -c shared_buffers=128MB \
		-c log_min_messages=warning -c log_min_error_statement=panic) >>"$PG_LOG" 2>&1 </dev/null &
	echo $! >"$PG_PIDFILE"
	wait_ready postgres "$PG_PIDFILE" "$PG_LOG" 60 \
		"$bindir/pg_isready" -q -h "$TESTENV_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres
}

postgres_stop() {
	stop_pid postgres "$PG_PIDFILE"
}

postgres_env() {
	printf "export HOOKD_TEST_POSTGRES_DSN='postgres://%s:%s@%s:%s/postgres?sslmode=disable'\n" \
		"$PG_USER" "$PG_PASSWORD" "$TESTENV_HOST" "$PG_PORT"
}

postgres_address() {
	echo "$TESTENV_HOST:$PG_PORT"
}
