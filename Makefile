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

.PHONY: all build test test-unit services-up services-down services-status fmt fmt-check lint vet tidy-check clean

all: build

## build: compile hookd and hookctl into bin/ with version information
build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/ ./cmd/hookd ./cmd/hookctl

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

## clean: remove build output (not the service caches)
clean:
	rm -rf bin dist

## help: list the targets
help:
	@sed -n 's/^## //p' $(MAKEFILE_LIST)
