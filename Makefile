# edgepm: the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/edgepm/edgepm/edge.Version=$(VERSION)
export ONNXRUNTIME_LIB ?= $(CURDIR)/.local/lib/libonnxruntime.so.1
BENCHTIME ?= 1s
FUZZTIME ?= 30s
TEST_TIMEOUT ?= 20m
PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: all build run loop test test-short vet fmt-check bench bench-e2e fuzz model model-fd001 example-pytorch deps onnxruntime mosquitto telegraf tahu install clean dist test-arm64 test-package test-prometheus test-ui

all: build

## deps: install what the tests and the demo need (ONNX Runtime library,
## Mosquitto, a minimal telegraf for the telegraf end-to-end test, the
## Eclipse Tahu client of the sparkplug_b test)
deps: onnxruntime mosquitto telegraf tahu

onnxruntime:
	@scripts/fetch-onnxruntime.sh

mosquitto:
	@scripts/install-mosquitto.sh

## telegraf: build telegraf (inputs.file, outputs.mqtt, JSON) from the Go
## module proxy into .local/bin; about 2 minutes the first time, cached
telegraf:
	@scripts/install-telegraf.sh

## tahu: npm ci of edge/testdata/tahu (Eclipse Tahu's sparkplug-client, pinned
## by its package-lock.json); without npm the Tahu test skips (fails with CI=true)
tahu:
	@if [[ -d edge/testdata/tahu/node_modules/sparkplug-client ]]; then :; \
	elif command -v npm >/dev/null; then (cd edge/testdata/tahu && npm ci --no-audit --no-fund --silent); \
	else echo "npm not found: the sparkplug_b Tahu test will skip (apt-get install nodejs npm)"; fi

## build: the appliance, the simulator and the dev tools into bin/
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/ ./cmd/edgepm ./cmd/firmware-sim ./cmd/devstack ./cmd/demo

## run: the self-contained demo (dev stack + appliance + simulator + live view)
run: onnxruntime build
	bin/demo --bin bin $(DEMO_ARGS)

## loop: the retraining loop of docs/models.md ("Closing the loop"),
## unattended, about 5 minutes: a plant that changes, drift, a retrain from
## Kafka, champion/challenger evaluation, shadow on a canary, promotion.
## Exit 0 when every step happened; the figures and the target: .local/loop/loop.json.
loop: onnxruntime mosquitto
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/ ./cmd/edgepm ./cmd/edgepm-train ./cmd/firmware-sim ./cmd/loop
	bin/loop --bin bin $(LOOP_ARGS)

## test: vet, then unit and integration tests (race detector on) against a
## private Mosquitto and kfake that the tests start themselves
test: deps vet fmt-check test-prometheus
	$(GO) test -race -timeout $(TEST_TIMEOUT) -count=1 ./...

## test-prometheus: promtool checks and unit-tests deploy/prometheus/edgepm-rules.yml
## (installs Debian's prometheus package for promtool if missing)
test-prometheus:
	@scripts/need.sh promtool prometheus
	promtool check rules deploy/prometheus/edgepm-rules.yml
	cd deploy/prometheus && promtool test rules edgepm-rules.test.yml

## test-ui: the status page in headless Chromium against a running appliance
## (Mosquitto, kfake, readings) and the fleet console against a small fleet;
## checks the rendered DOM and saves .local/test-output/status-page.png and
## fleet-console.png (installs Debian's chromium if missing)
test-ui: deps
	@scripts/need.sh chromium chromium
	EDGEPM_TEST_UI=1 $(GO) test -count=1 -run 'TestStatusPageInChromium|TestFleetConsoleInChromium' -v ./edge ./fleet 2>&1 | grep -v '^time='; exit $${PIPESTATUS[0]}

test-short:
	$(GO) test -short -count=1 ./...

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [[ -n "$$out" ]]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## bench: package benchmarks (figures go to docs/benchmarks.md)
bench: deps
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) ./buffer/... ./inference/... ./bridge/... ./firmware-sim/...

## bench-e2e: firmware-sim -> Mosquitto -> edgepm -> kfake; rates vs a bare paho
## subscriber, publish-to-prediction latency, CPU and peak RSS
bench-e2e: deps
	$(GO) test -tags benche2e -run TestBenchE2E -count=1 -timeout 30m -v ./cmd/edgepm 2>&1 | grep -v '^=== RUN'

## fuzz: each fuzz target for FUZZTIME
fuzz:
	@scripts/fuzz-all.sh $(FUZZTIME)

## model: retrain the committed default model from simulator data
model:
	$(GO) run ./cmd/edgepm-train -out models/default

DATASETS ?= ../shared/datasets

## model-fd001: retrain the C-MAPSS FD001 remaining-useful-life model (docs/models.md)
model-fd001:
	$(GO) run ./cmd/edgepm-train -dataset cmapss-fd001 -data $(DATASETS)/cmapss -out models/cmapss-fd001

## example-pytorch: bring your own model (docs/models.md): train a PyTorch
## 1D-CNN on C-MAPSS FD001 from the rows edgepm computes, 5 seeds; build,
## sign, validate and serve seed 1; replay test_FD001 through it and score
EXAMPLE := .local/example-pytorch
EXAMPLE_PY ?= /usr/bin/python3
EXAMPLE_TRAIN ?= --arch timemlp --window 200 --time 8 --hidden 64 --epochs 40 --lr 2e-3 --wd 3e-3 --min-cycle 25
example-pytorch: build
	@$(EXAMPLE_PY) -c 'import torch, onnx' 2>/dev/null || apt-get install -y python3-torch python3-onnx
	mkdir -p $(EXAMPLE)
	test -f $(EXAMPLE)/test.csv || $(EXAMPLE_PY) examples/pytorch-fd001/prep.py $(DATASETS)/cmapss $(EXAMPLE)
	test $(EXAMPLE)/train_rows.csv -nt examples/pytorch-fd001/spec.yaml || bin/edgepm features export --spec examples/pytorch-fd001/spec.yaml \
		--in $(EXAMPLE)/train.csv --out $(EXAMPLE)/train_rows.csv
	test $(EXAMPLE)/test_rows.csv -nt examples/pytorch-fd001/spec.yaml || bin/edgepm features export --spec examples/pytorch-fd001/spec.yaml \
		--train $(EXAMPLE)/train.csv --in $(EXAMPLE)/test.csv --out $(EXAMPLE)/test_rows.csv
	test $(EXAMPLE)/train.npz -nt $(EXAMPLE)/train_rows.csv || rm -f $(EXAMPLE)/train.npz $(EXAMPLE)/test.npz
	echo '$(EXAMPLE_TRAIN)' | cmp -s - $(EXAMPLE)/train.args || { rm -rf $(EXAMPLE)/seed-*; echo '$(EXAMPLE_TRAIN)' >$(EXAMPLE)/train.args; }
	for s in 1 2 3 4 5; do test $(EXAMPLE)/seed-$$s/metrics.json -nt $(EXAMPLE)/train_rows.csv -a \
		$(EXAMPLE)/seed-$$s/metrics.json -nt examples/pytorch-fd001/train.py || \
		$(EXAMPLE_PY) examples/pytorch-fd001/train.py --work $(EXAMPLE) --seed $$s $(EXAMPLE_TRAIN) || exit 1; done
	$(EXAMPLE_PY) examples/pytorch-fd001/summary.py $(EXAMPLE)
	bin/edgepm model build --onnx $(EXAMPLE)/seed-1/model.onnx --spec examples/pytorch-fd001/spec.yaml \
		--train $(EXAMPLE)/train.csv --out $(EXAMPLE)/package
	test -f $(EXAMPLE)/key || bin/edgepm keygen --out $(EXAMPLE)/key
	bin/edgepm model sign $(EXAMPLE)/package --key $(EXAMPLE)/key
	bin/edgepm model validate $(EXAMPLE)/package --public-key $(EXAMPLE)/key.pub
	examples/pytorch-fd001/serve.sh $(EXAMPLE) $(DATASETS)

## dist: release packages for linux/amd64 and linux/arm64 into dist/: Debian
## packages, tarballs with the same files, SHA256SUMS (docs/operations.md)
dist:
	rm -rf dist
	@scripts/install-cross.sh
	@scripts/dist.sh -o dist $(DIST_ARCHES)

## test-arm64: the arm64 build under qemu-user: version, a 10,000-reading
## end-to-end against native Mosquitto and kfake, scores equal to amd64's
test-arm64:
	@scripts/test-arm64.sh

## test-package: install, upgrade, remove and purge the Debian package on
## THIS machine (root; changes /etc/edgepm, /var/lib/edgepm): not in make test
test-package:
	@scripts/test-package.sh

## install: what `make build` and `make onnxruntime` made, as root: binary,
## systemd unit and example config; builds nothing (run those first as
## yourself). On a gateway, install the release package instead.
install:
	@test -x bin/edgepm || { echo "install: bin/edgepm missing; run make build (not as root) first" >&2; exit 1; }
	@test -f $(ONNXRUNTIME_LIB) || { echo "install: $(ONNXRUNTIME_LIB) missing; run make onnxruntime first" >&2; exit 1; }
	install -D -m 0755 bin/edgepm $(DESTDIR)$(PREFIX)/bin/edgepm
	install -d $(DESTDIR)/etc/systemd/system
	sed 's#/usr/bin/edgepm#$(PREFIX)/bin/edgepm#g' deploy/systemd/edgepm.service > $(DESTDIR)/etc/systemd/system/edgepm.service
	install -D -m 0644 deploy/edgepm.yaml $(DESTDIR)/etc/edgepm/edgepm.yaml.example
	test -e $(DESTDIR)/etc/edgepm/edgepm.env || install -D -m 0600 deploy/edgepm.env $(DESTDIR)/etc/edgepm/edgepm.env
	install -D -m 0644 $(ONNXRUNTIME_LIB) $(DESTDIR)/usr/lib/edgepm/libonnxruntime.so.1

clean:
	rm -rf bin/ .local/demo .local/arm64 dist/
