#!/bin/sh
# One-shot setup of the Kafka broker in docker-compose.yml (service kafka-init):
#   1. the SCRAM-SHA-512 user hookd logs in with;
#   2. the events topics producers publish to.
# It talks to the broker's internal PLAINTEXT listener, which is reachable only
# inside the compose network. Safe to run again: both steps are idempotent.
set -eu

bin=/opt/kafka/bin
bootstrap="${BOOTSTRAP_SERVER:?}"
user="${SCRAM_USERNAME:?}"
password="${SCRAM_PASSWORD:?}"
topics="${EVENTS_TOPICS:?}"
partitions="${EVENTS_PARTITIONS:-6}"

# The broker reports healthy before the first metadata is always served;
# retry the first admin call for a while.
tries=0
until "$bin/kafka-configs.sh" --bootstrap-server "$bootstrap" \
    --alter --entity-type users --entity-name "$user" \
    --add-config "SCRAM-SHA-512=[iterations=8192,password=${password}]"; do
  tries=$((tries + 1))
  if [ "$tries" -ge 30 ]; then
    echo "kafka-init: could not create SCRAM user ${user}" >&2
    exit 1
  fi
  sleep 2
done
echo "kafka-init: SCRAM-SHA-512 credentials set for user ${user}"

# Comma-separated list, as in HOOKD_KAFKA_EVENTS_TOPICS.
for topic in $(echo "$topics" | tr ',' ' '); do
  "$bin/kafka-topics.sh" --bootstrap-server "$bootstrap" \
    --create --if-not-exists --topic "$topic" \
    --partitions "$partitions" --replication-factor 1
done

"$bin/kafka-topics.sh" --bootstrap-server "$bootstrap" --list
echo "kafka-init: done"
