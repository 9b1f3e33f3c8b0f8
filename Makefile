# Pregón — the two commands: `make run` and `make test`.
GO      ?= go
BIN     := bin/pregon
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: run build test vet fmt-check bench chaos deps clean

## run: install what is missing, build, and start Pregón with the demo workspace and simulator
run: build
	@scripts/ensure-deps.sh postgres
	PREGON_DEMO=$${PREGON_DEMO:-true} ./$(BIN) serve

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/pregon

## test: the whole suite on a real Postgres (started automatically) and a real Chromium
test:
	@scripts/ensure-deps.sh postgres chromium
	$(GO) test -count=1 -timeout 25m ./...

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

## bench: every benchmark with the sizes the issues name (slow: tens of minutes)
bench:
	@scripts/ensure-deps.sh postgres
	scripts/bench.sh

## chaos: 100,000 recipients (PREGON_CHAOS_RECIPIENTS), 3 workers SIGKILLed every few seconds,
## 5xx/timeouts/130429 storms, Postgres restarted once; checks exactly-once and prints figures
chaos:
	@scripts/ensure-deps.sh postgres
	PREGON_CHAOS=1 $(GO) test -count=1 -timeout 60m -run '^TestChaos$$' -v ./cmd/pregon/

clean:
	rm -rf bin
