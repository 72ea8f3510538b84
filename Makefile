# stepgate — the two commands:
#   make demo   run stepgate in front of a local API server and try kubectl against it
#   make test   build what the tests need (cached) and run every test, end-to-end included
#
# The API server, etcd, kwok and kubectl are built from the Go module proxy
# on first use and cached outside the clone ($STEPGATE_CACHE_DIR, default
# ~/.cache/stepgate), keyed by version: about 10 minutes cold, seconds warm.

GO       ?= go
BIN      ?= bin
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
TEST_TIMEOUT ?= 40m

.PHONY: all build demo test unit e2e tools vet fmt bench microbench clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/stepgate ./cmd/stepgate

demo: build
	$(BIN)/stepgate demo

# tools builds (or finds cached) kube-apiserver, etcd, kwok and kubectl
# before any test binary starts, so go test's timeout never covers a cold
# build.
tools:
	$(GO) run ./test/harness/buildtools

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1)
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /test/)

e2e: tools
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./test/...

# test: the unit tests under the race detector, then the end-to-end
# suites (real API server, kubectl, SQLite) and the benchmark's smoke run.
test: vet tools unit
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./test/...

# bench: the hot path's Go benchmarks, then stepgate against the API server
# and a bare proxy in one run (table on stdout, JSON in bench-result.json).
bench: build tools microbench
	$(BIN)/stepgate bench --json bench-result.json

microbench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 1s ./rules ./session ./proxy

clean:
	rm -rf $(BIN)
