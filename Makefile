# CareCrest Hub. `make help` lists the targets.
GO      ?= go
PKGS    ?= ./...
BENCH   ?= .
FUZZTIME ?= 10s

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@awk 'BEGIN{FS=":.*## "} /^[a-zA-Z_-]+:.*## /{printf "  \033[1m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build hub and hubctl into bin/
	$(GO) build -o bin/ ./cmd/...

.PHONY: demo
demo: ## Run the whole hub on embedded defaults with synthetic hospital traffic (Ctrl-C to stop)
	$(GO) run ./cmd/hub demo

.PHONY: test
test: ## Run every test (Go and Rego) with the race detector
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

.PHONY: bench
bench: ## Run the benchmarks and write BENCHMARKS.md
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -count=1 -timeout 30m $(PKGS) | tee bench.out
	cat bench.out $(wildcard bench-scale.out) | $(GO) run ./cmd/benchreport > BENCHMARKS.md
	@echo "wrote BENCHMARKS.md"

SCALE_EVENTS ?= 10000000

.PHONY: bench-scale
bench-scale: ## Audit queries and verify at SCALE_EVENTS (10 million) audit events on ClickHouse (needs CLICKHOUSE_ADDR); merged into BENCHMARKS.md
	@test -n "$(CLICKHOUSE_ADDR)" || { echo "bench-scale: set CLICKHOUSE_ADDR (scripts/clickhouse-dev.sh start)"; exit 2; }
	CARECREST_BENCH_EVENTS=$(SCALE_EVENTS) CARECREST_BENCH_BACKENDS=clickhouse $(GO) test -run '^$$' -bench AuditQueries -benchtime 200x -timeout 120m ./report/ | tee bench-scale.out
	cat $(wildcard bench.out) bench-scale.out | $(GO) run ./cmd/benchreport > BENCHMARKS.md
	@echo "wrote BENCHMARKS.md"

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each (default 10s)
	@for target in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
	  for f in $$(grep -h '^func Fuzz' $$target/*_test.go | sed 's/func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do \
	    echo "== $$target $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$target || exit 1; \
	  done; \
	done

.PHONY: clean
clean: ## Remove build output and local demo data
	rm -rf bin data bench.out bench-scale.out
