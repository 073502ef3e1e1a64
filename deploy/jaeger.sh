#!/usr/bin/env bash
# A local Jaeger v2 all-in-one on 127.0.0.1: OTLP in, in-memory trace storage,
# query HTTP API (+ UI) out. Built from the Go module github.com/jaegertracing/jaeger
# (command cmd/jaeger, the OpenTelemetry-collector based Jaeger v2) with the Go
# toolchain, once, and cached outside the repository, so a warm start is one
# process launch. The config is deploy/jaeger/config.yaml.
#
#   deploy/jaeger.sh start  [--dir DIR]   prints the endpoints, as KEY=VALUE lines
#   deploy/jaeger.sh stop   [--dir DIR]   stops it by its PID
#   deploy/jaeger.sh status [--dir DIR]
#   deploy/jaeger.sh fetch                only builds the cached binary; prints its path
#
# Ports, from the environment (0 picks a free port):
#   JAEGER_OTLP_GRPC_PORT  (4317)   OTLP/gRPC receiver
#   JAEGER_OTLP_HTTP_PORT  (4318)   OTLP/HTTP receiver (POST /v1/traces)
#   JAEGER_QUERY_HTTP_PORT (16686)  query HTTP API (/api/...) and UI
#   JAEGER_QUERY_GRPC_PORT (16685)  query gRPC API
# DIR (default $RAYTABLES_JAEGER_DIR or /tmp/raytables-jaeger) holds jaeger.log,
# jaeger.pid and endpoints (what start prints).
#
# Why not `go install github.com/jaegertracing/jaeger/cmd/jaeger@VERSION`: Jaeger's
# go.mod has a `replace` directive (github.com/Shopify/sarama), and `go install
# pkg@version` refuses any module whose go.mod has one. So fetch downloads the
# module at the pinned version into the Go module cache (`go mod download`,
# checksum-verified) and runs `go install ./cmd/jaeger` inside it, which builds
# with Jaeger's own go.mod/go.sum, replace included, as upstream's release does.
# The module's v2.x tags are not usable by `go` (the module path has no /v2
# suffix); each release is also tagged v1.N, which is what is pinned here.
#
# Quirk: the Jaeger UI's JavaScript assets are not in the Go module (upstream
# embeds them from the jaeger-ui submodule at release time), so :16686/ serves
# Jaeger's placeholder page; the query API under /api/ is complete.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
jaeger_module=github.com/jaegertracing/jaeger
# the module tag of the release that is Jaeger v2.12.0 (v1.76.0 / v2.13.0 is on the
# module proxy too, but is not among the versions approved for this workplace)
jaeger_version=v1.75.0
jaeger_v2=v2.12.0
root="${RAYTABLES_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/raytables}"
cache="$root/jaeger-$jaeger_version"
bin="$cache/bin/jaeger"
python="${PYTHON:-python3}"

cmd="${1:-}"; shift || true
dir="${RAYTABLES_JAEGER_DIR:-/tmp/raytables-jaeger}"
start_timeout="${JAEGER_START_TIMEOUT:-30}"
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir="$2"; shift 2 ;;
    *) echo "jaeger.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

log() { echo "jaeger.sh: $*" >&2; }

free_port() {
  "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

port_free() {
  "$python" -c 'import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1",int(sys.argv[1])))' "$1" 2>/dev/null
}

fetch() {
  if [ -x "$bin" ] && [ -f "$cache/.complete" ]; then return 0; fi
  local go; go="$(command -v go || echo /usr/local/go/bin/go)"
  [ -x "$go" ] || { log "the Go toolchain (go) is needed once to build Jaeger $jaeger_v2"; exit 1; }
  log "building Jaeger $jaeger_v2 ($jaeger_module@$jaeger_version, cmd/jaeger) into $cache/bin (first run only: several minutes)"
  rm -rf "$cache"; mkdir -p "$cache"
  (
    # Go's module cache (and GOPATH, where go keeps its checksum-database state)
    # live beside the binary's cache, not in ~/go: a re-fetch of this version
    # downloads nothing again, another version only what changed. -modcacherw keeps
    # them deletable with rm -rf. The build cache (~1.5 GB) is only a scratch
    # directory here, dropped after the build unless JAEGER_KEEP_BUILD_CACHE=1.
    export GOPATH="$root/go" GOMODCACHE="$root/go/pkg/mod" GOCACHE="$root/go/build-cache"
    export GOWORK=off CGO_ENABLED=0
    export GOFLAGS="-modcacherw -buildvcs=false -p=${JAEGER_BUILD_JOBS:-2}"
    cd "$cache"
    local json src
    if ! json="$("$go" mod download -json "$jaeger_module@$jaeger_version")"; then
      log "go mod download $jaeger_module@$jaeger_version failed:"; echo "$json" >&2; exit 1
    fi
    src="$(echo "$json" | "$python" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
    cd "$src"
    GOBIN="$cache/bin" "$go" install -trimpath \
      -ldflags "-X $jaeger_module/internal/version.latestVersion=$jaeger_v2" ./cmd/jaeger >&2
  )
  [ "${JAEGER_KEEP_BUILD_CACHE:-0}" = 1 ] || rm -rf "$root/go/build-cache"
  "$bin" version >/dev/null 2>&1 || { log "the built $bin does not run"; exit 1; }
  touch "$cache/.complete"
}

running_pid() {
  local pidfile="$dir/jaeger.pid"
  [ -f "$pidfile" ] || return 1
  local pid; pid="$(cat "$pidfile")"
  kill -0 "$pid" 2>/dev/null || return 1
  # a recycled PID is not ours
  if [ -r "/proc/$pid/cmdline" ] && ! tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q jaeger; then return 1; fi
  echo "$pid"
}

start() {
  if pid="$(running_pid)"; then
    log "already running (pid $pid)"; cat "$dir/endpoints"; return 0
  fi
  fetch
  mkdir -p "$dir"
  export JAEGER_OTLP_GRPC_PORT="${JAEGER_OTLP_GRPC_PORT:-4317}"
  export JAEGER_OTLP_HTTP_PORT="${JAEGER_OTLP_HTTP_PORT:-4318}"
  export JAEGER_QUERY_HTTP_PORT="${JAEGER_QUERY_HTTP_PORT:-16686}"
  export JAEGER_QUERY_GRPC_PORT="${JAEGER_QUERY_GRPC_PORT:-16685}"
  local var
  for var in JAEGER_OTLP_GRPC_PORT JAEGER_OTLP_HTTP_PORT JAEGER_QUERY_HTTP_PORT JAEGER_QUERY_GRPC_PORT; do
    if [ "${!var}" = 0 ]; then
      printf -v "$var" '%s' "$(free_port)"
    elif ! port_free "${!var}"; then
      # checked up front: readiness polls the query port, and must not find someone else there
      log "127.0.0.1:${!var} ($var) is already in use; set $var to another port (0 = any free one)"; exit 1
    fi
  done
  # setsid: Jaeger must not die with the shell or test that started it;
  # it is stopped by PID through `jaeger.sh stop`.
  (cd "$dir" && exec setsid "$bin" --config "$here/jaeger/config.yaml") > "$dir/jaeger.log" 2>&1 < /dev/null &
  echo $! > "$dir/jaeger.pid"
  cat > "$dir/endpoints" <<EOF
JAEGER_OTLP_GRPC_ENDPOINT=127.0.0.1:$JAEGER_OTLP_GRPC_PORT
JAEGER_OTLP_HTTP_ENDPOINT=http://127.0.0.1:$JAEGER_OTLP_HTTP_PORT
JAEGER_QUERY_URL=http://127.0.0.1:$JAEGER_QUERY_HTTP_PORT
JAEGER_QUERY_GRPC_ENDPOINT=127.0.0.1:$JAEGER_QUERY_GRPC_PORT
EOF
  if ! "$python" "$here/jaeger/ready.py" "http://127.0.0.1:$JAEGER_QUERY_HTTP_PORT" "$start_timeout" \
       "$(cat "$dir/jaeger.pid")" "127.0.0.1:$JAEGER_OTLP_GRPC_PORT" "127.0.0.1:$JAEGER_OTLP_HTTP_PORT"; then
    log "jaeger did not become ready within ${start_timeout}s; last lines of $dir/jaeger.log:"
    tail -20 "$dir/jaeger.log" >&2
    stop; exit 1
  fi
  cat "$dir/endpoints"
}

stop() {
  local pid
  if ! pid="$(running_pid)"; then rm -f "$dir/jaeger.pid"; return 0; fi
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then log "jaeger $pid ignored SIGTERM for 15s; killing"; kill -9 "$pid" 2>/dev/null || true; fi
  rm -f "$dir/jaeger.pid"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  fetch) fetch; echo "$bin" ;;
  status) if pid="$(running_pid)"; then echo "running pid $pid"; cat "$dir/endpoints"; else echo "stopped"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status|fetch [--dir DIR]" >&2; exit 2 ;;
esac
