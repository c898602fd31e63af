# shellcheck shell=bash
# Shared helpers for scripts/testenv. Sourced, never executed.
#
# Every service keeps its state below $TESTENV_DIR/<service>: a pid file
# (only processes we started are ever stopped), a log file and its data.

REPO_ROOT=${REPO_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
TESTENV_DIR=${HOOKD_TESTENV_DIR:-$REPO_ROOT/.cache/testenv}
TESTENV_HOST=127.0.0.1

log() { printf 'testenv: %s\n' "$*" >&2; }
die() { printf 'testenv: error: %s\n' "$*" >&2; exit 1; }

# is_root reports whether we run as root (CI and fresh machines do).
is_root() { [ "$(id -u)" -eq 0 ]; }

# apt_install installs Debian packages that are missing; `apt-get update`
# runs at most once per invocation.
_apt_updated=0
apt_install() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	local sudo=()
	if ! is_root; then
		command -v sudo >/dev/null || die "need root (or sudo) to install: ${missing[*]}"
		sudo=(sudo)
	fi
	log "installing Debian packages: ${missing[*]}"
	if [ $_apt_updated -eq 0 ]; then
		"${sudo[@]}" apt-get update -qq >/dev/null || die "apt-get update failed"
		_apt_updated=1
	fi
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
		|| die "apt-get install ${missing[*]} failed"
}

# java17 prints the path of a JDK 17 java binary, installing one if needed.
# Cassandra 5.0 runs on JDK 11 or 17 only, so the machine default is not used.
java17() {
	local j
	for j in "${HOOKD_JAVA17:-}" /usr/lib/jvm/java-17-openjdk-amd64/bin/java /usr/lib/jvm/java-17-openjdk-arm64/bin/java /usr/lib/jvm/java-17-openjdk/bin/java; do
		[ -n "$j" ] && [ -x "$j" ] && { echo "$j"; return 0; }
	done
	apt_install openjdk-17-jdk-headless
	for j in /usr/lib/jvm/java-17-openjdk-*/bin/java; do
		[ -x "$j" ] && { echo "$j"; return 0; }
	done
	die "no JDK 17 found; set HOOKD_JAVA17 to a JDK 17 java binary"
}

# ensure_mvn makes sure Maven is available to fetch the server jars.
ensure_mvn() {
	command -v mvn >/dev/null 2>&1 || apt_install maven
}

# fetch_jars POM_DIR LIB_DIR copies the dependencies of the tiny pom in
# POM_DIR into LIB_DIR. Maven's local repository is the download cache; the
# lib dir is rebuilt only when the pom changes.
fetch_jars() {
	local pom_dir=$1 lib_dir=$2 stamp
	stamp=$(sha256sum "$pom_dir/pom.xml" | cut -c1-16)
	if [ -f "$lib_dir/.stamp" ] && [ "$(cat "$lib_dir/.stamp")" = "$stamp" ]; then
		return 0
	fi
	ensure_mvn
	JAVA_HOME=$(dirname "$(dirname "$(java17)")")
	export JAVA_HOME
	log "fetching jars for $(basename "$pom_dir") (first run only; cached in Maven's local repository)"
	rm -rf "$lib_dir"
	mkdir -p "$lib_dir"
	if ! mvn -B -q -f "$pom_dir/pom.xml" dependency:copy-dependencies \
		-DoutputDirectory="$lib_dir" -DincludeScope=runtime >"$lib_dir.mvn.log" 2>&1; then
		tail -n 40 "$lib_dir.mvn.log" >&2
		die "Maven could not fetch the jars for $(basename "$pom_dir") (log: $lib_dir.mvn.log)"
	fi
	echo "$stamp" >"$lib_dir/.stamp"
}

# pid_alive PIDFILE succeeds when the pid file names a live process.
pid_alive() {
	local pid
	[ -f "$1" ] || return 1
	pid=$(cat "$1" 2>/dev/null)
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# port_open PORT succeeds when something accepts TCP connections on it.
port_open() {
	(exec 3<>"/dev/tcp/$TESTENV_HOST/$1") 2>/dev/null
}

# require_free_ports SERVICE PORT... fails clearly when another process
# already holds one of the service's ports.
require_free_ports() {
	local svc=$1 p
	shift
	for p in "$@"; do
		if port_open "$p"; then
			die "$svc: port $TESTENV_HOST:$p is already in use by another process (not started by testenv); stop it or change the port (see scripts/testenv help)"
		fi
	done
}

# wait_ready SERVICE PIDFILE LOGFILE TIMEOUT CHECK... polls CHECK until it
# succeeds; if the process dies or the timeout passes, prints the log tail
# and fails, naming the service.
wait_ready() {
	local svc=$1 pidfile=$2 logfile=$3 timeout=$4 start
	shift 4
	start=$SECONDS
	while ! "$@" >/dev/null 2>&1; do
		if ! pid_alive "$pidfile"; then
			fail_with_log "$svc" "$logfile" "exited during start-up"
		fi
		if [ $((SECONDS - start)) -ge "$timeout" ]; then
			fail_with_log "$svc" "$logfile" "not ready after ${timeout}s"
		fi
		sleep 0.5
	done
	log "$svc ready in $((SECONDS - start))s"
}

fail_with_log() {
	local svc=$1 logfile=$2 why=$3
	{
		printf 'testenv: error: %s %s. Last lines of %s:\n' "$svc" "$why" "$logfile"
		tail -n 40 "$logfile" 2>/dev/null | sed 's/^/    /'
	} >&2
	exit 1
}

# stop_pid SERVICE PIDFILE stops the process we started: SIGTERM, then
# SIGKILL after a grace period. Never touches a process we did not start.
stop_pid() {
	local svc=$1 pidfile=$2 pid i
	if ! pid_alive "$pidfile"; then
		rm -f "$pidfile"
		return 0
	fi
	pid=$(cat "$pidfile")
	log "stopping $svc (pid $pid)"
	kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 1 60); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.5
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "$svc did not stop in 30s; killing pid $pid"
		kill -KILL "$pid" 2>/dev/null || true
		sleep 0.5
	fi
	rm -f "$pidfile"
}

# rss_of PIDFILE prints the resident memory of the process, in MiB.
rss_of() {
	local pid
	pid_alive "$1" || { echo "-"; return; }
	pid=$(cat "$1")
	awk '/^VmRSS:/ { printf "%d MiB", $2 / 1024 }' "/proc/$pid/status" 2>/dev/null || echo "-"
}
