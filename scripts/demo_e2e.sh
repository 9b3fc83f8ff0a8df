#!/usr/bin/env bash
# End to end on the simulated cluster: simulate → load into Prometheus → labels → join → train → predict.
#
#   scripts/demo_e2e.sh [OUT_DIR] [WORKLOADS] [HOURS]      (defaults: data/e2e 20 2)
#
# Needs the Debian package `prometheus` (prometheus + promtool). The Prometheus it starts listens on
# 127.0.0.1 only and is stopped on exit. Every step is a plain `python -m app …` command, so this
# script is also the documented recipe for a real cluster (skip the first three steps there).
set -euo pipefail

OUT=${1:-data/e2e}
WORKLOADS=${2:-20}
HOURS=${3:-2}
PY=${PYTHON:-python}
for bin in prometheus promtool; do
  command -v "$bin" >/dev/null || { echo "error: $bin not found; install it with: apt-get install prometheus" >&2; exit 2; }
done
rm -rf "$OUT"
mkdir -p "$OUT"

echo "== 1. simulate $WORKLOADS workloads over ${HOURS} h" >&2
$PY -m app simulate --out "$OUT" --workloads "$WORKLOADS" --hours "$HOURS" --history --scrape 60

echo "== 2. load the history into a TSDB" >&2
promtool tsdb create-blocks-from openmetrics "$OUT/history.om" "$OUT/tsdb" >/dev/null
rm -f "$OUT/history.om"

echo "== 3. start Prometheus on loopback" >&2
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'global:\n  scrape_interval: 1h\nscrape_configs: []\n' >"$OUT/prometheus.yml"
prometheus --config.file="$OUT/prometheus.yml" --storage.tsdb.path="$OUT/tsdb" \
  --storage.tsdb.retention.time=100y --web.listen-address="127.0.0.1:$PORT" >"$OUT/prometheus.log" 2>&1 &
PROM_PID=$!
trap 'kill "$PROM_PID" 2>/dev/null; wait "$PROM_PID" 2>/dev/null || true' EXIT
URL="http://127.0.0.1:$PORT"
for _ in $(seq 1 300); do
  if $PY -c "import httpx,sys; sys.exit(httpx.get('$URL/-/ready').status_code != 200)" 2>/dev/null; then break; fi
  sleep 0.2
done

read -r START END < <($PY -c "
import pandas as pd
gt = pd.read_parquet('$OUT/ground_truth.parquet')
print(int(gt.start_s.min()) // 60 * 60, int(gt.end_s.max()))")

echo "== 4. labels from $URL ($START .. $END)" >&2
$PY -m app labels --prom "$URL" --check --start "$START" --end "$END" >&2
$PY -m app labels --prom "$URL" --start "$START" --end "$END" --step 60s --mode job --out "$OUT/labels.parquet"

echo "== 5. encode the manifests, join with the labels" >&2
$PY -m app encode fit --input "$OUT/manifests.yaml" --out "$OUT/encoder.npz" --features "$OUT/features.parquet"
$PY -m app join --features "$OUT/features.parquet" --labels "$OUT/labels.parquet" --out "$OUT/train.parquet"

echo "== 6. train" >&2
$PY -m app train --train "$OUT/train.parquet" --encoder "$OUT/encoder.npz" --out "$OUT/knn_energy.npz" --splits 3

echo "== 7. predict" >&2
$PY -m app predict "$OUT/manifests.yaml" --encoder "$OUT/encoder.npz" --model "$OUT/knn_energy.npz" \
  --out "$OUT/predictions.ndjson"
echo "wrote $OUT/predictions.ndjson ($(wc -l <"$OUT/predictions.ndjson") predictions)" >&2
