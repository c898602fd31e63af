# shellcheck shell=bash
# Kafka for scripts/testenv: Apache Kafka 3.9.1 from Maven Central, one KRaft
# node (broker and controller in one JVM) on 127.0.0.1, run on JDK 17.
# Sourced after common.sh, never executed.
#
# Listeners (ports overridable, see below):
#   19092 SASL_PLAINTEXT  PLAIN, SCRAM-SHA-256, SCRAM-SHA-512   for clients
#   19095 SASL_SSL        the same, TLS with a CA made here      for clients
#   19093 CONTROLLER      PLAINTEXT, KRaft controller only
#   19094 INTERNAL        PLAINTEXT, inter-broker only
#
# Everything it makes lives in $TESTENV_DIR/kafka:
#   lib/          the jars (scripts/kafka/pom.xml, fetched by Maven)
#   config/       server.properties, rendered from scripts/kafka/server.properties.in
#   certs/        ca.pem, server.p12 (+ PEM), client.pem/client.key (PKCS#8)
#   data/         the log and KRaft metadata directory
#   kafka.pid     the broker JVM's pid; kafka.log its output (kafka.log.prev
#                 keeps the previous run's); format.log, certs.log
#
# Test credentials are fixed (they guard nothing but a loopback test broker):
# a PLAIN user in the listeners' JAAS config and a SCRAM user (SHA-256 and
# SHA-512) written into the metadata log when the storage is formatted.

_kafka_port=${HOOKD_TESTENV_KAFKA_PORT:-19092}
_kafka_tls_port=${HOOKD_TESTENV_KAFKA_TLS_PORT:-19095}
_kafka_controller_port=${HOOKD_TESTENV_KAFKA_CONTROLLER_PORT:-19093}
_kafka_internal_port=${HOOKD_TESTENV_KAFKA_INTERNAL_PORT:-19094}

# A fixed cluster id: 22 characters of unpadded base64url for 16 bytes (here
# the bytes of "hookd-testenv-k1"), as `kafka-storage format -t` wants.
_kafka_cluster_id=aG9va2QtdGVzdGVudi1rMQ
_kafka_plain_user=hookd-plain
_kafka_plain_password=hookd-plain-secret
_kafka_scram_user=hookd-scram
_kafka_scram_password=hookd-scram-secret
_kafka_keystore_password=hookd-testenv

_kafka_src=$REPO_ROOT/scripts/kafka
_kafka_dir=$TESTENV_DIR/kafka
case $_kafka_dir in /*) ;; *) _kafka_dir=$PWD/$_kafka_dir ;; esac
_kafka_lib=$_kafka_dir/lib
_kafka_conf=$_kafka_dir/config/server.properties
_kafka_certs=$_kafka_dir/certs
_kafka_data=$_kafka_dir/data
_kafka_pidfile=$_kafka_dir/kafka.pid
_kafka_log=$_kafka_dir/kafka.log

kafka_install() {
	command -v openssl >/dev/null 2>&1 || apt_install openssl
	java17 >/dev/null
	fetch_jars "$_kafka_src" "$_kafka_lib"
}

kafka_running() {
	_kafka_pid_ours && _kafka_ready
}

kafka_start() {
	local java
	mkdir -p "$_kafka_dir"
	if _kafka_pid_ours; then
		# A broker we started is still coming up (another `up`, or one
		# that was interrupted): wait for it instead of starting a second.
		log "kafka: pid $(cat "$_kafka_pidfile") is still starting; waiting for it"
		wait_ready kafka "$_kafka_pidfile" "$_kafka_log" 120 _kafka_ready
		return
	fi
	rm -f "$_kafka_pidfile"
	_kafka_check_ports
	require_free_ports kafka "$_kafka_port" "$_kafka_tls_port" "$_kafka_controller_port" "$_kafka_internal_port"
	java=$(java17) || exit 1
	[ -f "$_kafka_lib/kafka_2.13-3.9.1.jar" ] || kafka_install
	_kafka_make_certs
	_kafka_render_config
	_kafka_format "$java"
	_kafka_launch "$java"
	wait_ready kafka "$_kafka_pidfile" "$_kafka_log" 120 _kafka_ready
}

kafka_stop() {
	if pid_alive "$_kafka_pidfile" && ! _kafka_pid_ours; then
		log "kafka: pid $(cat "$_kafka_pidfile") in $_kafka_pidfile is not our broker; leaving it alone and removing the stale pid file"
		rm -f "$_kafka_pidfile"
		return 0
	fi
	stop_pid kafka "$_kafka_pidfile"
}

kafka_env() {
	_kafka_export HOOKD_TEST_KAFKA_BROKERS "$TESTENV_HOST:$_kafka_port"
	_kafka_export HOOKD_TEST_KAFKA_TLS_BROKERS "$TESTENV_HOST:$_kafka_tls_port"
	_kafka_export HOOKD_TEST_KAFKA_CA_FILE "$_kafka_certs/ca.pem"
	_kafka_export HOOKD_TEST_KAFKA_CLIENT_CERT_FILE "$_kafka_certs/client.pem"
	_kafka_export HOOKD_TEST_KAFKA_CLIENT_KEY_FILE "$_kafka_certs/client.key"
	_kafka_export HOOKD_TEST_KAFKA_PLAIN_USER "$_kafka_plain_user"
	_kafka_export HOOKD_TEST_KAFKA_PLAIN_PASSWORD "$_kafka_plain_password"
	_kafka_export HOOKD_TEST_KAFKA_SCRAM_USER "$_kafka_scram_user"
	_kafka_export HOOKD_TEST_KAFKA_SCRAM_PASSWORD "$_kafka_scram_password"
}

kafka_address() {
	echo "sasl $TESTENV_HOST:$_kafka_port, sasl_ssl $TESTENV_HOST:$_kafka_tls_port"
}

# --- helpers -----------------------------------------------------------------

# _kafka_export NAME VALUE prints an eval-able, single-quoted export line.
_kafka_export() {
	local q="'\\''"
	printf "export %s='%s'\n" "$1" "${2//\'/$q}"
}

# _kafka_pid_ours succeeds when the pid file names a live JVM running our
# broker with our config (not some other process that reused the pid).
_kafka_pid_ours() {
	local pid cmd
	pid_alive "$_kafka_pidfile" || return 1
	pid=$(cat "$_kafka_pidfile" 2>/dev/null) || return 1
	cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
	[[ $cmd == *"kafka.Kafka $_kafka_conf"* ]]
}

# _kafka_ready: this run's log says the server started and both client
# listeners accept connections. (The log is started afresh by every launch.)
_kafka_ready() {
	grep -qF 'Kafka Server started' "$_kafka_log" 2>/dev/null &&
		port_open "$_kafka_port" && port_open "$_kafka_tls_port"
}

_kafka_check_ports() {
	local p
	for p in "$_kafka_port" "$_kafka_tls_port" "$_kafka_controller_port" "$_kafka_internal_port"; do
		if ! [[ $p =~ ^[0-9]{1,5}$ ]] || [ "$p" -lt 1 ] || [ "$p" -gt 65535 ]; then
			die "kafka: '$p' is not a port number (check the HOOKD_TESTENV_KAFKA_*PORT variables)"
		fi
	done
	[ "$(printf '%s\n' "$_kafka_port" "$_kafka_tls_port" "$_kafka_controller_port" "$_kafka_internal_port" | sort -u | wc -l)" -eq 4 ] ||
		die "kafka: the client, TLS, controller and internal ports must all differ ($_kafka_port, $_kafka_tls_port, $_kafka_controller_port, $_kafka_internal_port)"
}

# _kafka_openssl ARGS... runs openssl, logging to certs.log; dies on failure.
_kafka_openssl() {
	local logf=$_kafka_dir/certs.log
	printf '+ openssl %s\n' "$*" >>"$logf"
	openssl "$@" >>"$logf" 2>&1 </dev/null ||
		fail_with_log kafka "$logf" "could not make its certificates (openssl $1 failed)"
}

# _kafka_make_certs makes, once, a throw-away CA, the broker's certificate
# (SAN IP:127.0.0.1, DNS:localhost) as PEM and PKCS12, and a client
# certificate with an unencrypted PKCS#8 key. All are signed by the CA.
_kafka_make_certs() {
	local f tmp cnf=$_kafka_src/openssl.cnf pw=$_kafka_keystore_password
	for f in ca.pem server.p12 client.pem client.key; do
		[ -s "$_kafka_certs/$f" ] || break
		[ "$f" = client.key ] && return 0
	done
	log "kafka: making a test CA and certificates in $_kafka_certs"
	: >"$_kafka_dir/certs.log"
	rm -rf "$_kafka_certs.new"
	tmp=$_kafka_certs.new
	mkdir -p "$tmp"
	# genpkey writes unencrypted PKCS#8 ("BEGIN PRIVATE KEY").
	_kafka_openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/ca.key"
	_kafka_openssl req -new -x509 -config "$cnf" -extensions ca_ext -key "$tmp/ca.key" \
		-subj "/CN=hookd testenv CA" -days 3650 -sha256 -out "$tmp/ca.pem"
	for f in server client; do
		_kafka_openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/$f.key"
		_kafka_openssl req -new -config "$cnf" -key "$tmp/$f.key" \
			-subj "/CN=$([ $f = server ] && echo localhost || echo hookd-testenv-client)" -out "$tmp/$f.csr"
		_kafka_openssl x509 -req -in "$tmp/$f.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" \
			-set_serial "0x$(openssl rand -hex 16)" -days 3650 -sha256 \
			-extfile "$cnf" -extensions "${f}_ext" -out "$tmp/$f.pem"
		rm -f "$tmp/$f.csr"
	done
	_kafka_openssl pkcs12 -export -name kafka -in "$tmp/server.pem" -inkey "$tmp/server.key" \
		-certfile "$tmp/ca.pem" -passout "pass:$pw" -out "$tmp/server.p12"
	rm -rf "$_kafka_certs"
	mv "$tmp" "$_kafka_certs"
}

# _kafka_render_config writes config/server.properties from the template on
# every start, so a changed template or port override always takes effect.
_kafka_render_config() {
	local t kv out=$_kafka_conf
	t=$(<"$_kafka_src/server.properties.in") || die "kafka: cannot read $_kafka_src/server.properties.in"
	for kv in \
		"PORT=$_kafka_port" "TLS_PORT=$_kafka_tls_port" \
		"CONTROLLER_PORT=$_kafka_controller_port" "INTERNAL_PORT=$_kafka_internal_port" \
		"PLAIN_USER=$_kafka_plain_user" "PLAIN_PASSWORD=$_kafka_plain_password" \
		"KEYSTORE_PASSWORD=$_kafka_keystore_password" \
		"CERT_DIR=$_kafka_certs" "DATA_DIR=$_kafka_data"; do
		t=${t//"@${kv%%=*}@"/"${kv#*=}"}
	done
	[[ ! $t =~ @[A-Z_]+@ ]] || die "kafka: unfilled marker ${BASH_REMATCH[0]} in $_kafka_src/server.properties.in"
	mkdir -p "$(dirname "$out")"
	printf '%s\n' "$t" >"$out.tmp" && mv -f "$out.tmp" "$out"
}

# _kafka_format JAVA formats the storage once (cluster id and SCRAM users).
# If it was formatted with other settings, the test data is wiped first.
_kafka_format() {
	local java=$1 stamp
	stamp="$_kafka_cluster_id $_kafka_scram_user $(printf '%s' "$_kafka_scram_password" | sha256sum | cut -c1-16)"
	if [ -f "$_kafka_data/meta.properties" ] && [ "$(cat "$_kafka_dir/format.stamp" 2>/dev/null)" = "$stamp" ]; then
		return 0
	fi
	if [ -e "$_kafka_data" ]; then
		log "kafka: storage in $_kafka_data was formatted with other settings; wiping it"
		rm -rf "$_kafka_data"
	fi
	rm -f "$_kafka_dir/format.stamp"
	mkdir -p "$_kafka_data" "$_kafka_dir/tmp"
	if ! "$java" -Xmx256m -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
		-Djava.io.tmpdir="$_kafka_dir/tmp" \
		-Dlog4j.configuration="file:$_kafka_src/log4j.properties" \
		-cp "$_kafka_lib/*" kafka.tools.StorageTool format \
		-t "$_kafka_cluster_id" -c "$_kafka_conf" \
		--add-scram "SCRAM-SHA-256=[name=$_kafka_scram_user,password=$_kafka_scram_password]" \
		--add-scram "SCRAM-SHA-512=[name=$_kafka_scram_user,password=$_kafka_scram_password]" \
		--ignore-formatted </dev/null >"$_kafka_dir/format.log" 2>&1; then
		fail_with_log kafka "$_kafka_dir/format.log" "could not format its storage"
	fi
	echo "$stamp" >"$_kafka_dir/format.stamp"
}

# _kafka_launch JAVA starts the broker in its own session, detached from the
# caller, and waits for its pid file. The launcher shell writes its own pid
# and then execs java, so the pid file names the JVM itself.
_kafka_launch() {
	local java=$1 tries
	local opts=(
		-Xms512m -Xmx512m
		-XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
		-XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -XX:+ExitOnOutOfMemoryError
		-Djava.awt.headless=true
		# zstd-jni and snappy unpack native code here; /tmp may be noexec.
		-Djava.io.tmpdir="$_kafka_dir/tmp"
		-Dlog4j.configuration="file:$_kafka_src/log4j.properties"
		-cp "$_kafka_lib/*"
	)
	mkdir -p "$_kafka_dir/tmp"
	[ -f "$_kafka_log" ] && mv -f "$_kafka_log" "$_kafka_log.prev"
	# shellcheck disable=SC2016 # $$ and $@ belong to the launcher shell
	setsid nohup bash -c 'p=$1; shift; echo $$ >"$p.tmp" && mv -f "$p.tmp" "$p" && exec "$@"' \
		kafka-launch "$_kafka_pidfile" "$java" "${opts[@]}" kafka.Kafka "$_kafka_conf" \
		</dev/null >"$_kafka_log" 2>&1 &
	for ((tries = 0; tries < 100; tries++)); do
		[ -s "$_kafka_pidfile" ] && return 0
		sleep 0.1
	done
	fail_with_log kafka "$_kafka_log" "did not start (no pid file after 10s)"
}
