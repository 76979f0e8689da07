#!/usr/bin/env bash
# Interop with the official Python SDK (rstreamlabs-rstream 0.7.0): builds a
# venv, starts rstream-local-engine, runs the engine checks, then the webhook
# checks. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/../.."

SDK="rstreamlabs-rstream[asgi,api,realtime]==0.7.0"
VENV="${RSTREAM_INTEROP_VENV:-target/interop-venv}"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(m.version("rstreamlabs-rstream") != "0.7.0")' 2>/dev/null \
  || ! "$VENV/bin/python" -c 'import h11, httpx, websockets' 2>/dev/null; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$SDK"
fi

cargo build --locked -p rstream-local-engine -p rstream-interop-peer
BIN="target/debug/rstream-local-engine"
PEER="target/debug/rstream-interop-peer"

LOG="$(mktemp)"
"$BIN" --token "tok_interop_$RANDOM$RANDOM" >"$LOG" &
ENGINE_PID=$!
cleanup() {
  kill "$ENGINE_PID" 2>/dev/null || true
  wait "$ENGINE_PID" 2>/dev/null || true
  rm -f "$LOG" "${EMPTY_CONFIG:-}"
}
trap cleanup EXIT

for _ in $(seq 1 100); do
  if [ -s "$LOG" ]; then break; fi
  if ! kill -0 "$ENGINE_PID" 2>/dev/null; then
    echo "rstream-local-engine exited early" >&2
    exit 1
  fi
  sleep 0.1
done
ENGINE_JSON="$(head -n 1 "$LOG")"
if [ -z "$ENGINE_JSON" ]; then
  echo "rstream-local-engine printed nothing" >&2
  exit 1
fi
echo "local engine: $ENGINE_JSON"

field() {
  printf '%s' "$ENGINE_JSON" | "$VENV/bin/python" -c "import json, sys; print(json.load(sys.stdin)['$1'])"
}
# Both the Python SDK and our runtime trust the engine's CA through SSL_CERT_FILE.
CA_FILE="$(field ca_file)"

status=0
SSL_CERT_FILE="$CA_FILE" \
  "$VENV/bin/python" tests/interop/engine_interop.py --engine-json "$ENGINE_JSON" || status=1

# An empty config, so a developer's own rstream config cannot interfere.
EMPTY_CONFIG="$(mktemp)"
printf 'version: 1\n' >"$EMPTY_CONFIG"
SSL_CERT_FILE="$CA_FILE" RSTREAM_CONFIG="$EMPTY_CONFIG" \
  "$VENV/bin/python" tests/interop/runtime_interop.py \
  --engine "$(field engine)" --token "$(field token)" --peer "$PEER" || status=1

"$VENV/bin/python" tests/interop/webhooks.py || status=1
"$VENV/bin/python" tests/interop/config_differential.py --peer "$PEER" || status=1
exit "$status"
