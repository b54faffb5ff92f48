# reconcile — make targets. mattn/go-sqlite3 needs cgo (gcc) and so does -race.
export CGO_ENABLED := 1

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
BIN     := bin/reconcile

# golangci-lint, pinned in tools/go.mod (its own module: its dependencies stay
# out of go.mod), built into bin/ from the Go module proxy on first use.
GOLANGCI_LINT := bin/golangci-lint
# mailpit, the real SMTP server of the mail tests, pinned in tools/go.mod the
# same way; the tests find it at bin/mailpit (or $$RECONCILE_MAILPIT) and fail
# without it when $$CI is set.
MAILPIT       := bin/mailpit
FUZZTIME      ?= 30s

.PHONY: all build test lint lint-selfcheck demo bench bench-go bench-targets bench-e2e bench-compare bench-scale faults golden fuzz clean

all: lint test build

build:
	go build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/reconcile

# The test suite: unit, integration (simulator over real HTTP, real SQLite
# files), workbook read-back, fault matrix and the sample-output check.
test: $(MAILPIT)
	go test -race -count=1 -timeout 30m ./...

# gofmt check, go vet, golangci-lint (.golangci.yml: govet, staticcheck,
# errcheck, ineffassign, unused, and depguard with the package layers), then
# the self-check that depguard catches planted wrong imports.
lint: $(GOLANGCI_LINT)
	@fmt_out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$fmt_out" ]; then echo "gofmt would change:"; echo "$$fmt_out"; exit 1; fi
	go vet ./...
	$(GOLANGCI_LINT) run ./...
	scripts/lint-selfcheck.sh $(GOLANGCI_LINT)

lint-selfcheck: $(GOLANGCI_LINT)
	scripts/lint-selfcheck.sh $(GOLANGCI_LINT)

$(GOLANGCI_LINT): tools/go.mod tools/go.sum
	cd tools && go build -o ../$(GOLANGCI_LINT) github.com/golangci/golangci-lint/v2/cmd/golangci-lint

$(MAILPIT): tools/go.mod tools/go.sum
	cd tools && go build -o ../$(MAILPIT) github.com/axllent/mailpit

# The monthly close against the built-in simulator: no credentials, no network.
# Built first, with a word about it: on an empty build cache the cgo SQLite
# driver takes a minute or two to compile, and `go run` would show nothing.
demo:
	@echo "building $(BIN) (the first build compiles SQLite with cgo: a minute or two)..."
	go build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/reconcile
	@echo "running the demo close against the built-in simulator..."
	$(BIN) demo --out sample-output

# Regenerate golden files and sample-output/ after an intended change.
golden:
	go test ./internal/report ./internal/report/xlsx ./cmd/reconcile -run 'Golden|Sample' -update

# Go benchmarks (decoder, ledger inserts, engine, workbook writer, simulator),
# then the end-to-end targets against the simulator, printed as target vs
# measured (BENCHMARKS.md, "Targets"). BENCH_CHARGES / BENCH_CUSTOMERS scale
# the end-to-end runs down, BENCH_REPEAT sets the runs per median (3).
bench: bench-go bench-targets

bench-go:
	go test -run '^$$' -bench . -benchmem ./internal/...

# W1M end to end (median of BENCH_REPEAT), with --detail csv, compare of two
# months, ledger bytes per line: scripts/bench-targets.sh.
bench-targets:
	scripts/bench-targets.sh

# The scaling curve: wall, CPU, peak RSS at 10k, 100k, 1M and 3M payable
# lines (BENCH_SCALE="LINES:CUSTOMERS ..."), as a markdown table.
bench-scale:
	scripts/bench-scale.sh

# One detailed run of the reference workload (stage lines, MB/s, profiles).
bench-e2e:
	scripts/bench.sh

# `reconcile compare` of two W1M-sized months (BENCHMARKS.md, "Compare").
bench-compare:
	scripts/bench-compare.sh

# The long fault variants: the SIGKILL crash loop at 60 seeded points (make
# test runs 15), and the fault matrix, verbosely.
faults:
	RECONCILE_CRASH_POINTS=60 go test -count=1 -timeout 30m -run 'Crash' -v ./cmd/reconcile
	go test -count=1 -run 'FaultMatrix|Secrets' -v ./internal/job

# Every fuzz target in the tree (found by scripts/fuzz.sh), FUZZTIME each.
fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

clean:
	rm -rf bin
