# hookd — build, test and lint. `make test` is the one test command: it starts
# the real PostgreSQL, Kafka and Cassandra (scripts/testenv) and runs every
# Go test against them.

GO              ?= go
GOLANGCI_LINT   := github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
PKG             := github.com/hookd/hookd/internal/buildinfo
VERSION         ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT          ?= $(shell git rev-parse HEAD 2>/dev/null)
DATE            ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS         := -X $(PKG).Version=$(VERSION) -X $(PKG).Commit=$(COMMIT) -X $(PKG).Date=$(DATE)
GOTESTFLAGS     ?= -race -count=1 -timeout 20m

.PHONY: all build dev test test-unit services-up services-down services-status fmt fmt-check lint vet tidy-check clean

all: build

## build: compile hookd and hookctl into bin/ with version information
build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/ ./cmd/hookd ./cmd/hookctl

## dev: run hookd dev: all of hookd in one process, no services (DEV_FLAGS="--port 8081" passes flags)
dev:
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/hookd dev $(DEV_FLAGS)

## test: start the services, then run every test against them
test: services-up
	@set -e; eval "$$(scripts/testenv env)"; $(GO) test $(GOTESTFLAGS) ./...

## test-unit: run the tests without starting services (integration tests skip, or fail under CI=true)
test-unit:
	$(GO) test $(GOTESTFLAGS) ./...

## services-up: install what is missing and start PostgreSQL, Kafka and Cassandra on 127.0.0.1
services-up:
	scripts/testenv up

## services-down: stop the services that scripts/testenv started
services-down:
	scripts/testenv down

## services-status: show each service's state, pid, memory and address
services-status:
	scripts/testenv status

## fmt: format the Go code
fmt:
	gofmt -w $$(git ls-files --cached --others --exclude-standard '*.go')

## fmt-check: fail when a Go file is not gofmt-formatted
fmt-check:
	@out=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go')); \
	if [ -n "$$out" ]; then echo "these files need gofmt (run 'make fmt'):"; echo "$$out"; exit 1; fi

## vet: go vet
vet:
	$(GO) vet ./...

## lint: golangci-lint (pinned; built by the Go toolchain on first use)
lint: fmt-check vet
	$(GO) run $(GOLANGCI_LINT) run ./...

## bench: end-to-end benchmarks on the services (SCENARIO=S1..S5|ALL, BENCHFLAGS="-s4-events 1000000"); tables on stdout, JSON in bench/results/
.PHONY: bench
SCENARIO        ?= ALL
BENCHFLAGS      ?=
bench: services-up
	@set -e; eval "$$(scripts/testenv env)"; mkdir -p .cache/bench; \
	$(GO) build -o .cache/bench/hookd ./cmd/hookd; $(GO) build -o .cache/bench/bench ./bench; \
	.cache/bench/bench run -scenario $(SCENARIO) -hookd .cache/bench/hookd $(BENCHFLAGS)

## clean: remove build output (not the service caches)
clean:
	rm -rf bin dist

## help: list the targets
help:
	@sed -n 's/^## //p' $(MAKEFILE_LIST)
