# scribegate — `make run` serves the gateway on its embedded defaults;
# `make test` runs `deps` (the one step that installs anything), then vet
# and every test. `vet` and `test-only` install nothing.

GO       ?= go
CONFIG   ?=
PKGS     ?= ./...
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT      := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get
SPHINX_MODEL := /usr/share/pocketsphinx/model/en-us/en-us/mdef

.PHONY: all deps run build test test-only test-race bench eval lint vet fmt clean

all: build

## deps: install the Debian packages the offline engine and the tests need
## (PocketSphinx for offline speech recognition, redis-server for the Redis
## store tests, Chromium for the web UI tests, npm for the web UI tests to
## fetch axe-core into a cache folder outside the repository, libopus and
## libopusfile for Ogg/WebM Opus audio, opus-tools for the Opus tests).
## Does nothing when they are already there.
deps:
	@missing=""; \
	pkg-config --exists pocketsphinx 2>/dev/null || missing="$$missing libpocketsphinx-dev"; \
	test -f $(SPHINX_MODEL) || missing="$$missing pocketsphinx-en-us"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v pkg-config >/dev/null || missing="$$missing pkg-config"; \
	pkg-config --exists opus 2>/dev/null || missing="$$missing libopus-dev"; \
	pkg-config --exists opusfile 2>/dev/null || missing="$$missing libopusfile-dev"; \
	command -v opusenc >/dev/null || missing="$$missing opus-tools"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(APT) update -qq && $(APT) install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

## run: start the gateway (offline engine, rule-based drafter, SQLite store,
## documents written to var/documents). CONFIG=path.yaml to use a file.
run: deps
	$(GO) run ./cmd/scribegate serve $(if $(CONFIG),-config $(CONFIG))

## build: the scribegate binary in bin/
build: deps
	$(GO) build -o bin/scribegate ./cmd/scribegate

## test: deps, then vet, then every test (Redis tests start their own
## redis-server). CI runs this one target on a fresh machine.
test: deps
	@$(MAKE) --no-print-directory vet test-only

## test-only: the tests alone, installing nothing (PKGS=./gateway/... to narrow)
test-only:
	$(GO) test -count=1 -timeout 15m $(PKGS)

## test-race: the race detector over the concurrent parts
test-race: deps
	$(GO) test -race -count=1 -timeout 20m ./gateway/... ./review/... ./transcription/... ./connectors/...

## bench: the Go benchmarks, then the load tool for 100 and 1,000
## concurrent real-time sessions against a gateway subprocess with the
## synthetic engine, each beside the bare gorilla/websocket baseline
## (interim results on), and 1,000 again as plain recorders (no interim);
## then the scale-out harness: two gateways on Redis with Sentinel behind a
## load balancer, each fault once (kill -9 a gateway, kill -9 the primary,
## kill and revive it on its old address, stall it), counting what was
## acknowledged and lost
bench: deps
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2s $(PKGS)
	$(GO) build -o bin/scribegate ./cmd/scribegate
	./bin/scribegate load -sessions 100 -duration 20s -ramp 5s
	./bin/scribegate load -sessions 1000 -duration 25s -ramp 10s
	./bin/scribegate load -sessions 1000 -duration 25s -ramp 10s -interim=false -baseline=false
	./bin/scribegate load -instances 2 -sessions 100 -duration 45s -ramp 5s -approvals 130 \
	  -chaos gateway-kill,primary-kill,primary-restart,primary-stall

## eval: score the offline drafter on ACI-Bench (valid split), then the support
## check's seeded-error table (errors planted in train+valid drafts)
eval:
	$(GO) run ./cmd/scribegate eval

## vet: go vet, installing nothing (the cgo engine needs `make deps` once)
vet:
	$(GO) vet $(PKGS)

## lint: vet plus formatting
lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin var
