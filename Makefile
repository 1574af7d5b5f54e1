# The two commands the README starts with:
#   make demo   build and start a local server on 127.0.0.1:2218 (no root)
#   make test   run every test
GO ?= go
DEMO_ADDR ?= 127.0.0.1:2218
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS := -X main.version=$(VERSION)
# -auth pam:SERVICE needs cgo and the PAM headers (libpam0g-dev): built in
# when they are installed, left out otherwise (README, "Builds").
TAGS ?= $(shell test -e /usr/include/security/pam_appl.h && echo pam)

.PHONY: all build demo test lint fuzz bench bench-go clean man

all: build

build:
	$(GO) build -tags "$(TAGS)" -trimpath -ldflags "$(LDFLAGS)" -o mppd .
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o mpp ./cmd/mpp

# A local server a person can talk to: user "demo", password "demo"; mail
# lands in demo/mailbox. Try: nc -C 127.0.0.1 2218
demo: build
	mkdir -p demo
	@echo "mppd demo on $(DEMO_ADDR): user demo, password demo; mail goes to demo/mailbox"
	./mppd -listen $(DEMO_ADDR) -passwd examples/demo.passwd \
		-sendmail "$(CURDIR)/examples/demo-sendmail $(CURDIR)/demo/mailbox" \
		-log stderr -fail-delay 1s -hostname mppd-demo

# Every test. Tests that need a real component (Postfix, inetd, xinetd,
# systemd-socket-activate, dovecot, vsftpd, root) skip with a reason when it
# is missing; .ci/run sets MPPD_REQUIRE_REAL=1 to make those skips failures.
test:
	$(GO) test -tags "$(TAGS)" -count=1 -timeout 20m ./...

lint:
	test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	$(if $(TAGS),$(GO) vet -tags "$(TAGS)" ./... && $(GO) tool staticcheck -tags "$(TAGS)" ./...)

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzSession -fuzztime 60s .

# The man pages, each from its one source docs/NAME.SECTION.md (go-md2man,
# pinned in go.mod).
man: docs/mppd.8 docs/mpp.1
docs/%: docs/%.md
	$(GO) tool go-md2man -in $< -out $@

# The performance table of BENCHMARKS.md (a few minutes): mppd against the
# limit of its hops and against msmtpd, side by side. bench-go: the Go
# micro-benchmarks alone.
bench:
	GO=$(GO) sh bench/run.sh

bench-go:
	$(GO) test -tags "$(TAGS)" -run '^$$' -bench . -benchmem .

clean:
	rm -rf mppd mpp demo dist docs/mppd.8 docs/mpp.1
