# Portcullis: build, run, test, lint, bench, fuzz.
GO        ?= go
BIN       := bin
TOOLS     := $(CURDIR)/bin/tools
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
STATICCHECK_VERSION := v0.8.2
GOSEC_VERSION       := v2.30.0
FUZZTIME  ?= 30s
# make fuzz-long: the request parsers, the normalizer, the WAF's pruning
# and the token and JSON checks, FUZZTIME_LONG each (9 targets: about 45
# minutes at 5m). Short runs missed faults these found in minutes
# (docs/performance.md, "A faster host, and what is left").
FUZZTIME_LONG ?= 5m
FUZZ_LONG_TARGETS ?= FuzzRequestAgainstNetHTTP FuzzChunkedDecoder FuzzResponseAgainstNetHTTP FuzzCanonicalize FuzzCheckHost FuzzPrunedSameVerdicts FuzzScreenSound FuzzJWTAuthenticate FuzzCheck

.PHONY: build run demo test lint tools bench fuzz fuzz-long clean

build: ## the gateway and the demo upstream, static binaries
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/portcullis ./cmd/portcullis
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/demo-upstream ./cmd/demo-upstream

run: demo

demo: ## the gateway with examples/quickstart.yaml in front of the demo upstream
	./scripts/demo.sh

test: ## unit and end-to-end tests, with the race detector
	$(GO) test -race -count=1 -timeout 15m ./...

tools:
	@mkdir -p $(TOOLS)
	@test -x $(TOOLS)/staticcheck || GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	@test -x $(TOOLS)/gosec || GOBIN=$(TOOLS) $(GO) install github.com/securego/gosec/v2/cmd/gosec@$(GOSEC_VERSION)

lint: tools ## gofmt, go vet, staticcheck, gosec
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(TOOLS)/staticcheck ./...
	@# G104 (unchecked errors) is off: it flags writes to bufio.Writers whose
	@# error is checked once at Flush; go vet and staticcheck cover the rest.
	$(TOOLS)/gosec -quiet -exclude-generated -exclude=G104 -exclude-dir=bench -exclude-dir=test ./...

# The compile and reload benchmarks cost 10-200 ms an iteration: 2000 of
# them would be ten minutes, so they run a few times each.
SLOW_BENCH := Compile5000Routes|Reload5000Routes|StoreChangeCompile

bench: build ## Go benchmarks of the hot paths, then the load harness against nginx and a plain Go proxy
	$(GO) test -run '^$$' -bench . -skip '$(SLOW_BENCH)' -benchmem -benchtime 2000x ./internal/router ./internal/normalize ./internal/upstream ./internal/gateway >$(BIN)/bench-go.txt 2>&1; \
		s=$$?; cat $(BIN)/bench-go.txt; exit $$s
	$(GO) test -run '^$$' -bench '$(SLOW_BENCH)' -benchmem -benchtime 5x ./internal/gateway
	@# The report's bars table takes the allocation bar from the Go benchmark above.
	ALLOCS=$$(awk '$$1 ~ /^BenchmarkEngineProxyPlain(-[0-9]+)?$$/ { for (i = 2; i < NF; i++) if ($$(i + 1) == "allocs/op") print $$i }' $(BIN)/bench-go.txt) \
		./bench/run.sh

fuzz: ## every fuzz target in the module, FUZZTIME each (default 30s)
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

fuzz-long: ## the security-critical fuzz targets (FUZZ_LONG_TARGETS), FUZZTIME_LONG each (default 5m)
	FUZZTIME=$(FUZZTIME_LONG) FUZZ_TARGETS="$(FUZZ_LONG_TARGETS)" ./scripts/fuzz.sh

clean:
	rm -rf $(BIN)
