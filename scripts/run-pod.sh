#!/usr/bin/env bash
# run-pod.sh: the whole pod on this machine on embedded defaults, with a demo
# network, the way `make run` starts it. Ctrl-C stops everything.
#
#   client ─► authsidecar :8000 ─► apiserver 127.0.0.1:8080 (embedded store, demo network)
#               └─ audit JSONL ─► auditshipper (stdout sink, log in var/log)
#   nodeagent :9103 ─► apiserver (eBPF telemetry of this machine)
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-bin}
VAR=${MESHQ_RUN_DIR:-var/run-pod}
SIDECAR_PORT=${SIDECAR_PORT:-8000}
API_ADDR=${API_ADDR:-127.0.0.1:8080}
mkdir -p "$VAR"/{data,log,shipper,audit}
VAR=$(cd "$VAR" && pwd) # absolute, so every daemon reads the same paths

# A fresh key for this run (never reuse the demo key elsewhere).
API_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "$API_KEY" >"$VAR/api_key"
chmod 600 "$VAR/api_key"

# The example policy of the product documentation (seeds §13.6), taken from
# the ConfigMap in k8s/ so the two never differ.
sed -n '/rbac.yaml: |/,$p' k8s/rbac-policy.yaml | tail -n +2 | sed 's/^    //' >"$VAR/rbac.yaml"

pids=()
cleanup() {
  trap - EXIT INT TERM
  echo
  echo "stopping the pod..."
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

wait_http() { # URL NAME LOGFILE
  for _ in $(seq 1 150); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "$2 did not become ready at $1; last log lines:" >&2
  tail -n 20 "$3" >&2
  exit 1
}

API_LISTEN=$API_ADDR MESHQ_DATA_DIR=$VAR/data MESHQ_DEMO=true \
  "$BIN/apiserver" >"$VAR/log/apiserver.log" 2>&1 &
pids+=($!)
wait_http "http://$API_ADDR/health/ready" apiserver "$VAR/log/apiserver.log"

LISTEN_ADDR=127.0.0.1:$SIDECAR_PORT UPSTREAM=http://$API_ADDR AUTH_MODE=api_key API_KEY=$API_KEY \
  RBAC_POLICY_FILE=$VAR/rbac.yaml AUDIT_LOG_ENABLED=true AUDIT_LOG_FILE=$VAR/audit/audit.jsonl \
  "$BIN/authsidecar" >"$VAR/log/authsidecar.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$SIDECAR_PORT/readyz" authsidecar "$VAR/log/authsidecar.log"

AUDIT_LOG_PATH="$VAR/audit/audit.jsonl" AUDIT_LOG_BACKEND=stdout SHIPPER_STATE_DIR=$VAR/shipper \
  SHIPPER_LISTEN=127.0.0.1:9102 "$BIN/auditshipper" >"$VAR/log/audit-shipped.jsonl" 2>"$VAR/log/auditshipper.log" &
pids+=($!)
wait_http "http://127.0.0.1:9102/livez" auditshipper "$VAR/log/auditshipper.log"

NODEAGENT_LISTEN=127.0.0.1:9103 APISERVER_URL=http://$API_ADDR \
  "$BIN/nodeagent" >"$VAR/log/nodeagent.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:9103/livez" nodeagent "$VAR/log/nodeagent.log"

S=http://127.0.0.1:$SIDECAR_PORT
LICENSE=$(curl -fsS "$S/health/license" 2>/dev/null | grep -o '"demo_mode":[a-z]*\|"plan":"[^"]*"' | tr '\n' ' ')
cat <<MSG

The MeshOptixIQ pod is running on this machine with a demo network.

  authsidecar  $S            (the only door: API key, RBAC, audit)
  apiserver    http://$API_ADDR   (behind the sidecar; embedded store in $VAR/data)
  auditshipper http://127.0.0.1:9102/metrics (audit records shipped to $VAR/log/audit-shipped.jsonl)
  nodeagent    http://127.0.0.1:9103/metrics (eBPF TCP telemetry of this machine)

Licence: $LICENSE
  (no licence key: demo mode, every feature on; see apiserver/README.md "Plans and licence")

API key for this run (also in $VAR/api_key):
  export MESHQ_API_KEY=$API_KEY

Try:
  curl -s $S/queries/ -H "X-API-Key: \$MESHQ_API_KEY"
  curl -s -X POST $S/queries/summary_stats/execute -H "X-API-Key: \$MESHQ_API_KEY" -d '{}'
  # what breaks if core-sw-01 fails? (nothing: everything is dual-homed) and if access-sw-0001 does?
  curl -s -X POST $S/queries/blast_radius_from_device/execute -H "X-API-Key: \$MESHQ_API_KEY" \\
       -d '{"parameters":{"hostname":"core-sw-01"}}'
  curl -s -X POST $S/queries/blast_radius_from_device/execute -H "X-API-Key: \$MESHQ_API_KEY" \\
       -d '{"parameters":{"hostname":"access-sw-0001"}}'
  # where is 10.32.0.12 plugged in?
  curl -s -X POST $S/queries/locate_endpoint_by_ip/execute -H "X-API-Key: \$MESHQ_API_KEY" \\
       -d '{"parameters":{"ip":"10.32.0.12"}}'
  # does the firewall permit 10.32.0.12 -> 10.128.0.10 tcp/443, and by which rule? (try dst_port 22)
  curl -s -X POST $S/queries/path_analysis/execute -H "X-API-Key: \$MESHQ_API_KEY" \\
       -d '{"parameters":{"src_ip":"10.32.0.12","dst_ip":"10.128.0.10","protocol":"tcp","dst_port":443}}'
  curl -s $S/ebpf/metrics -H "X-API-Key: \$MESHQ_API_KEY"
  tail -f $VAR/log/audit-shipped.jsonl      # every request, audited and shipped
  # or with the command-line client (meshq/README.md):
  $BIN/meshq login --server $S --api-key < $VAR/api_key
  $BIN/meshq query summary_stats

Logs: $VAR/log/. Press Ctrl-C to stop.
MSG
wait -n "${pids[@]}"
echo "a daemon exited; see $VAR/log/" >&2
exit 1
