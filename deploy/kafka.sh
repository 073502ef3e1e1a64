#!/usr/bin/env bash
# A local single-node Apache Kafka (KRaft) on 127.0.0.1, from the broker's jars
# on Maven Central. The jars are resolved once with Maven and cached outside the
# repository, so a warm start is one JVM launch.
#
#   deploy/kafka.sh start [--dir DIR] [--port PORT] [--fresh]
#                                  prints the bootstrap address; a restart keeps the
#                                  topics and the port unless --fresh
#   deploy/kafka.sh stop  [--dir DIR]                 stops the broker by its PID
#   deploy/kafka.sh status [--dir DIR]
#   deploy/kafka.sh fetch                             only fills the jar cache
#
# DIR (default $RAYTABLES_KAFKA_DIR or /tmp/raytables-kafka) holds the config,
# the KRaft log directory, broker.log, broker.pid and bootstrap (host:port).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
kafka_version="$(sed -n 's#.*<kafka.version>\(.*\)</kafka.version>.*#\1#p' "$here/kafka/pom.xml")"
cache="${RAYTABLES_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/raytables}/kafka-$kafka_version"
python="${PYTHON:-python3}"

cmd="${1:-}"; shift || true
dir="${RAYTABLES_KAFKA_DIR:-/tmp/raytables-kafka}"
port=""
fresh=0
start_timeout="${KAFKA_START_TIMEOUT:-90}"
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --fresh) fresh=1; shift ;;
    *) echo "kafka.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

log() { echo "kafka.sh: $*" >&2; }

free_port() {
  "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

fetch() {
  if [ -f "$cache/.complete" ]; then return 0; fi
  command -v mvn >/dev/null || { log "Maven (mvn) is needed once to download Kafka $kafka_version"; exit 1; }
  command -v java >/dev/null || { log "Java 17+ is needed to run Kafka"; exit 1; }
  log "downloading Apache Kafka $kafka_version and its dependencies into $cache (first run only)"
  rm -rf "$cache"; mkdir -p "$cache/libs"
  mvn -q -B -f "$here/kafka/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$cache/libs" >&2
  touch "$cache/.complete"
}

running_pid() {
  local pidfile="$dir/broker.pid"
  [ -f "$pidfile" ] || return 1
  local pid; pid="$(cat "$pidfile")"
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

start() {
  if pid="$(running_pid)"; then
    log "already running (pid $pid)"; cat "$dir/bootstrap"; return 0
  fi
  fetch
  mkdir -p "$dir"
  # a restart keeps the topics (and the address) of the previous run, so stores
  # persisted by apps stay consistent with their changelogs; --fresh wipes them
  if [ "$fresh" = 1 ]; then rm -rf "$dir/data" "$dir/bootstrap"; fi
  if [ -z "$port" ] && [ -f "$dir/bootstrap" ]; then port="$(cut -d: -f2 "$dir/bootstrap")"; fi
  [ -n "$port" ] || port="$(free_port)"
  local cport; cport="$(free_port)"
  cat > "$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
# topics are created explicitly, with their partition counts and configs: a typo
# must not silently create a one-partition topic
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.cleaner.backoff.ms=1000
EOF
  local cp="$cache/libs/*"
  local cluster_id; cluster_id="$("$python" -c 'import base64,uuid; print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))')"
  if [ ! -f "$dir/data/meta.properties" ]; then
    java -cp "$cp" kafka.tools.StorageTool format --cluster-id="$cluster_id" -c "$dir/server.properties" \
        > "$dir/format.log" 2>&1 || { log "formatting the KRaft log directory failed:"; cat "$dir/format.log" >&2; exit 1; }
  fi
  # setsid: the broker must not die with the shell or test that started it;
  # it is stopped by PID through `kafka.sh stop`.
  setsid java ${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g} -XX:+UseG1GC -Djava.awt.headless=true \
      -cp "$cp" kafka.Kafka "$dir/server.properties" > "$dir/broker.log" 2>&1 < /dev/null &
  echo $! > "$dir/broker.pid"
  echo "127.0.0.1:$port" > "$dir/bootstrap"
  if ! "$python" "$here/kafka_ready.py" "127.0.0.1:$port" "$start_timeout" "$(cat "$dir/broker.pid")"; then
    log "broker did not answer metadata requests within ${start_timeout}s; last lines of $dir/broker.log:"
    tail -20 "$dir/broker.log" >&2
    stop; exit 1
  fi
  cat "$dir/bootstrap"
}

stop() {
  local pid
  if ! pid="$(running_pid)"; then rm -f "$dir/broker.pid"; return 0; fi
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then log "broker $pid ignored SIGTERM for 15s; killing"; kill -9 "$pid" 2>/dev/null || true; fi
  rm -f "$dir/broker.pid"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  fetch) fetch; echo "$cache/libs" ;;
  status) if pid="$(running_pid)"; then echo "running pid $pid at $(cat "$dir/bootstrap")"; else echo "stopped"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status|fetch [--dir DIR] [--port PORT]" >&2; exit 2 ;;
esac
