# Two commands a newcomer needs:
#   make run    build and start the pooler in front of a throwaway PostgreSQL
#               (MODE=session|transaction|statement, PORT=, TMP_PG_PORT=,
#               or PG_PORT=/PG_HOST= for an existing server; scripts/run.sh)
#   make test   run the whole test suite (what CI runs); it first checks what
#               the tests need and, as root, installs the missing Debian
#               packages (scripts/test-deps.sh)

GO ?= go

.PHONY: run test build vet fuzz bench

run:
	scripts/run.sh

test:
	GO=$(GO) scripts/test-deps.sh
	$(GO) test -race -count=1 -timeout 20m ./...

build:
	$(GO) build -o bin/odyssey ./cmd/odyssey

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }

# Short runs of every fuzz target (each FUZZTIME long).
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

# Compare with PostgreSQL and PgBouncer (installs pgbouncer with apt-get if
# missing). BENCHFLAGS, e.g. "-duration 5s -rounds 1 -only select-16".
BENCHFLAGS ?=
bench:
	@command -v pgbouncer >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer; }
	$(GO) run ./bench $(BENCHFLAGS)
