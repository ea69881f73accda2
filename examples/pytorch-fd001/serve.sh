#!/usr/bin/env bash
# Serve the signed example package and replay test_FD001 through it:
# devstack (MQTT broker + kfake) -> edgepm run -> firmware-sim --replay-cmapss
# -> edgepm.predictions / edgepm.alerts in Kafka -> firmware-sim score.
# usage: serve.sh WORK DATASETS   (run from the repository root after make build)
set -euo pipefail
work=$(realpath "$1") datasets=$2
mqtt=127.0.0.1:21883 kafka=127.0.0.1:29092 http=127.0.0.1:29510
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

bin/devstack --mqtt "$mqtt" --kafka-port "${kafka##*:}" >"$work/devstack.log" 2>&1 &
pids+=($!)
rm -rf "$work/data"
cat >"$work/edgepm.yaml" <<YAML
gateway_id: gw-example
data_dir: $work/data
http: {listen: $http}
mqtt: {broker: tcp://$mqtt}
kafka: {brokers: [$kafka]}
inference: {model_dir: $work/package, public_keys: ["$(cat "$work/key.pub")"]}
YAML
bin/edgepm run --config "$work/edgepm.yaml" >"$work/edgepm.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do # up to 20 s for the broker, Kafka and the model
	curl -fs "http://$http/readyz" >/dev/null 2>&1 && break
	sleep 0.2
done
curl -fs "http://$http/readyz" >/dev/null || { cat "$work/edgepm.log"; exit 1; }
grep -q '"fd001-rul' <(curl -fs "http://$http/api/status") || { echo "edgepm does not serve fd001-rul" >&2; cat "$work/edgepm.log"; exit 1; }

bin/firmware-sim --replay-cmapss "$datasets/cmapss/test_FD001.txt" --broker "tcp://$mqtt" --qos 1 --rate 2000 \
	--interval 1s --truth-file "$work/truth.jsonl"
bin/firmware-sim score --brokers "$kafka" --truth "$work/truth.jsonl" --horizon 30s --idle 5s | tee "$work/score.txt"
curl -fs "http://$http/metrics" | grep -E '^edgepm_(predictions_total|inference_readings_dropped_total)' || true
