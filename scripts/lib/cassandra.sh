# shellcheck shell=bash
# Cassandra for scripts/testenv: one Apache Cassandra 5.0 node on 127.0.0.1,
# run straight from the Maven Central jars on JDK 17. Sourced after common.sh.
#
# Files: scripts/cassandra/{pom.xml,cassandra.yaml.in,logback.xml,jvm17.options}.
# State: $TESTENV_DIR/cassandra/ holds the rendered cassandra.yaml, the data,
# commit log, hints, saved caches and cdc dirs, cassandra.pid and cassandra.log;
# the jars live in $TESTENV_DIR/cassandra/lib (apart from Kafka's: their
# Netty, Jackson and slf4j versions differ).
#
# The settings trade durability and peak throughput for a fast start and
# fast schema changes (no fsync, no snapshots on DROP, schema changes not
# flushed, C1 JIT only; see the comments in scripts/cassandra/): fine for
# tests only.

_cass_conf=$REPO_ROOT/scripts/cassandra
_cass_dir=$TESTENV_DIR/cassandra
_cass_lib=$_cass_dir/lib
_cass_pidfile=$_cass_dir/cassandra.pid
_cass_log=$_cass_dir/cassandra.log
_cass_cql_port=${HOOKD_TESTENV_CASSANDRA_PORT:-19042}
_cass_storage_port=${HOOKD_TESTENV_CASSANDRA_STORAGE_PORT:-17000}
_cass_main=org.apache.cassandra.service.CassandraDaemon
# Logged by the node once its CQL port accepts clients.
_cass_ready_line='Starting listening for CQL clients'

# _cassandra_check_ports fails unless both port variables are port numbers.
_cassandra_check_ports() {
	local p
	for p in "$_cass_cql_port" "$_cass_storage_port"; do
		case $p in
		'' | *[!0-9]*) die "cassandra: port '$p' is not a number (check HOOKD_TESTENV_CASSANDRA_PORT / HOOKD_TESTENV_CASSANDRA_STORAGE_PORT)" ;;
		esac
		if [ "$p" -lt 1 ] || [ "$p" -gt 65534 ]; then
			die "cassandra: port $p is out of range"
		fi
	done
}

# _cassandra_pid_is_ours succeeds when the pid file names a live Cassandra
# JVM (not some unrelated process that reused a stale pid).
_cassandra_pid_is_ours() {
	local pid
	pid_alive "$_cass_pidfile" || return 1
	pid=$(cat "$_cass_pidfile")
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$_cass_main"
}

# _cassandra_ready: the CQL port accepts connections and this run's log
# (the log is truncated at every start) says the native transport is up.
_cassandra_ready() {
	port_open "$_cass_cql_port" && grep -qF "$_cass_ready_line" "$_cass_log" 2>/dev/null
}

# _cassandra_render_yaml writes $_cass_dir/cassandra.yaml from the template.
_cassandra_render_yaml() {
	local tpl dir
	tpl=$(<"$_cass_conf/cassandra.yaml.in")
	# The template quotes paths in single quotes; double any in the path.
	dir=${_cass_dir//\'/\'\'}
	# Quoted replacements: bash 5.2 would otherwise expand '&'.
	tpl=${tpl//@DIR@/"$dir"}
	tpl=${tpl//@CQL_PORT@/"$_cass_cql_port"}
	tpl=${tpl//@SSL_STORAGE_PORT@/"$((_cass_storage_port + 1))"}
	tpl=${tpl//@STORAGE_PORT@/"$_cass_storage_port"}
	printf '%s\n' "$tpl" >"$_cass_dir/cassandra.yaml"
}

# _cassandra_jvm_flags prints the JVM command-line flags, one per line.
_cassandra_jvm_flags() {
	local line jamm
	echo -Xms1g
	echo -Xmx1g
	while IFS= read -r line || [ -n "$line" ]; do
		line=${line#"${line%%[![:space:]]*}"}
		line=${line%"${line##*[![:space:]]}"}
		case $line in '' | '#'*) continue ;; esac
		echo "$line"
	done <"$_cass_conf/jvm17.options"
	# Cassandra measures object sizes with jamm; the agent is optional in 5.0
	# (it falls back to Unsafe) but costs nothing.
	for jamm in "$_cass_lib"/jamm-*.jar; do
		[ -f "$jamm" ] && echo "-javaagent:$jamm"
	done
	echo "-Dcassandra.config=file://${_cass_dir// /%20}/cassandra.yaml"
	echo "-Dlogback.configurationFile=$_cass_conf/logback.xml"
	echo "-Djava.io.tmpdir=$_cass_dir/tmp"
	echo "-Dcassandra.triggers_dir=$_cass_dir/triggers"
	echo "-XX:ErrorFile=$_cass_dir/hs_err_pid%p.log"
}

cassandra_install() {
	java17 >/dev/null
	fetch_jars "$_cass_conf" "$_cass_lib"
}

cassandra_running() {
	_cassandra_pid_is_ours && _cassandra_ready
}

cassandra_start() {
	local java flags=() jars nolock=()
	_cassandra_check_ports
	mkdir -p "$_cass_dir"
	# A node we started earlier that is still starting up: wait for it
	# instead of starting a second one on the same ports and data.
	if _cassandra_pid_is_ours; then
		log "cassandra is still starting (pid $(cat "$_cass_pidfile")); waiting for it"
		wait_ready cassandra "$_cass_pidfile" "$_cass_log" 180 _cassandra_ready
		return
	fi
	rm -f "$_cass_pidfile"
	require_free_ports cassandra "$_cass_cql_port" "$_cass_storage_port"
	java=$(java17)
	jars=("$_cass_lib"/cassandra-all-*.jar)
	[ -f "${jars[0]}" ] || die "cassandra: no jars in $_cass_lib (run: scripts/testenv up cassandra)"

	mkdir -p "$_cass_dir"/{data,commitlog,saved_caches,hints,cdc_raw,tmp,triggers}
	_cassandra_render_yaml
	mapfile -t flags < <(_cassandra_jvm_flags)
	[ -f "$_cass_log" ] && mv -f "$_cass_log" "$_cass_log.1"
	# Cassandra always calls mlockall(MCL_CURRENT). As root that succeeds,
	# which faults in the whole 1 GiB heap (RSS ~1.5 GiB, ~1 s slower start).
	# Without CAP_IPC_LOCK it fails harmlessly against RLIMIT_MEMLOCK.
	if is_root && command -v setpriv >/dev/null 2>&1; then
		nolock=(setpriv --inh-caps=-ipc_lock --bounding-set=-ipc_lock)
	fi

	# setsid: the node outlives this shell and ignores the terminal's ^C.
	# The subshell execs setsid, which execs (setpriv, which execs) java:
	# setsid only forks when it is a process group leader, and a background
	# subshell never is, so $! is the JVM's own pid.
	(
		cd "$_cass_dir" || exit 1
		exec setsid "${nolock[@]}" "$java" "${flags[@]}" -cp "$_cass_lib/*" "$_cass_main" </dev/null >"$_cass_log" 2>&1
	) &
	echo $! >"$_cass_pidfile"
	log "starting cassandra (pid $!, log $_cass_log)"
	wait_ready cassandra "$_cass_pidfile" "$_cass_log" 180 _cassandra_ready
}

cassandra_stop() {
	if pid_alive "$_cass_pidfile" && ! _cassandra_pid_is_ours; then
		log "cassandra: pid $(cat "$_cass_pidfile") is not our Cassandra; removing the stale pid file"
		rm -f "$_cass_pidfile"
		return 0
	fi
	stop_pid cassandra "$_cass_pidfile"
}

cassandra_env() {
	printf "export HOOKD_TEST_CASSANDRA_HOSTS='%s:%s'\n" "$TESTENV_HOST" "$_cass_cql_port"
}

cassandra_address() {
	echo "cql $TESTENV_HOST:$_cass_cql_port"
}
