#!/bin/bash
# Creates the hub's topics (idempotent): one inbound topic per source
# system, the dead-letter topic and the alert topic. Run by the kafka-init
# service of docker-compose.yaml.
set -euo pipefail

BOOTSTRAP="${BOOTSTRAP:-kafka:9092}"
PARTITIONS="${PARTITIONS:-3}"
SOURCES="${SOURCES:-ehr lis ris pharmacy registration scheduling billing telemedicine hie}"
topics=/opt/kafka/bin/kafka-topics.sh

create() { # topic [--config k=v ...]
  local topic="$1"; shift
  "$topics" --bootstrap-server "$BOOTSTRAP" --create --if-not-exists \
    --topic "$topic" --partitions "$PARTITIONS" --replication-factor 1 "$@"
}

for s in $SOURCES; do
  create "hub.in.$s"
done
# Dead letters carry encrypted payloads; keep them for review (30 days).
create hub.deadletter --config retention.ms=2592000000
create hub.alerts
"$topics" --bootstrap-server "$BOOTSTRAP" --list
