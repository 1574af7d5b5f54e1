# The two commands the README starts with:
#   make demo   build and start a local server on 127.0.0.1:2218 (no root)
#   make test   run every test
GO ?= go
DEMO_ADDR ?= 127.0.0.1:2218
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS := -X main.version=$(VERSION)
# mppd is built without cgo, statically linked: every connection under
# inetd or Accept=yes waits for its start (BENCHMARKS.md). The PAM helper
# mppd-pam is the one cgo program; it is built when a C compiler and the
# PAM headers (libpam0g-dev) are there.
PAM_HEADERS := /usr/include/security/pam_appl.h
PAM_CC := $(firstword $(shell $(GO) env CC))
TAGS ?= $(shell test -e $(PAM_HEADERS) && command -v $(PAM_CC) >/dev/null && echo pam)
# staticcheck, go-md2man and nfpm are pinned in a module of their own, so
# that go.mod lists only what mppd links.
TOOL := $(GO) tool -modfile=tools/go.mod

.PHONY: all build demo test lint cross fuzz bench bench-go clean man package

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o mppd .
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o mpp ./cmd/mpp
	$(if $(filter pam,$(TAGS)),CGO_ENABLED=1 $(GO) build -tags pam -trimpath -ldflags "$(LDFLAGS)" -o mppd-pam ./cmd/mppd-pam,@echo "make build: no $(PAM_HEADERS) (libpam0g-dev) or no C compiler ($(PAM_CC)): mppd-pam, the helper of -auth pam:SERVICE, not built")

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

lint: cross
	test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(TOOL) staticcheck ./...
	$(if $(TAGS),$(GO) vet -tags "$(TAGS)" ./... && $(TOOL) staticcheck -tags "$(TAGS)" ./...)
	@# .ci's scripts run under pipefail: a reader that stops early (head,
	@# grep -q) can kill the writer with SIGPIPE and fail CI (141) at random.
	! grep -nE '\|[[:space:]]*(head|grep[[:space:]]+(-[[:alnum:]]+[[:space:]]+)*-[[:alnum:]]*[qm])' .ci/run .ci/setup.d/*.sh

# mpp, the client and its SMTP bridge, builds for the systems its users
# have besides Linux (mpp(1), CONFIGURATION and FILES: where it keeps its
# settings there); make lint runs this.
cross:
	for os in windows darwin; do \
		CGO_ENABLED=0 GOOS=$$os $(GO) vet ./cmd/mpp ./internal/mpp && \
		CGO_ENABLED=0 GOOS=$$os $(GO) build -o /dev/null ./cmd/mpp || exit 1; \
	done

# Every fuzz target of these packages, FUZZTIME each: go test fuzzes one
# target at a time.
FUZZTIME ?= 30s
FUZZPKGS = . ./cmd/mpp ./internal/mpp
fuzz:
	@for p in $(FUZZPKGS); do \
		for t in $$($(GO) test -list '^Fuzz' $$p | grep '^Fuzz'); do \
			echo "== $$p $$t"; $(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) $$p || exit 1; \
		done; \
	done

# The man pages, each from its one source docs/NAME.SECTION.md (go-md2man,
# pinned in tools/go.mod).
man: docs/mppd.8 docs/mpp.1
docs/%: docs/%.md
	$(TOOL) go-md2man -in $< -out $@

# The .deb and the .rpm, from one description (packaging/nfpm.yaml; nfpm is
# pinned in tools/go.mod). Version: X.Y.Z on a tag vX.Y.Z, else PKG_BASE with a
# "~gitN.HASH" pre-release part, which sorts before PKG_BASE itself.
PKG_BASE ?= 0.1.0
PKG_TAG := $(shell git describe --tags --exact-match --match 'v[0-9]*' 2>/dev/null)
PKG_VERSION ?= $(if $(PKG_TAG),$(patsubst v%,%,$(PKG_TAG)),$(PKG_BASE))
PKG_PRERELEASE ?= $(if $(PKG_TAG),,git$(shell git rev-list --count HEAD 2>/dev/null || echo 0).$(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD 2>/dev/null || echo .dirty))
PKG_FULL := $(PKG_VERSION)$(if $(PKG_PRERELEASE),~$(PKG_PRERELEASE))
PKG_ARCH ?= $(shell $(GO) env GOARCH)
RPM_ARCH := $(or $(word 2,$(subst :, ,$(filter $(PKG_ARCH):%,amd64:x86_64 arm64:aarch64 386:i386 ppc64le:ppc64le s390x:s390x riscv64:riscv64))),$(PKG_ARCH))
PKG_DATE := $(shell git log -1 --format=%cD 2>/dev/null || date -R)
PKG_COMMIT := $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
PKG_MAINTAINER := mppd developers <mppd@users.noreply.github.com>

# The packaged programs, stripped. mpp and the PAM helper: cgo,
# position-independent, full RELRO. mppd: static, without cgo, and not
# position-independent, since relocating a PIE costs every connection's
# start (BENCHMARKS.md; packaging/lintian/mppd says why lintian is told so).
PKG_GOBUILD = CGO_ENABLED=1 GOARCH=$(PKG_ARCH) $(GO) build -trimpath -buildmode=pie \
	-ldflags "-s -w -X main.version=$(PKG_FULL) -linkmode=external -extldflags=-Wl,-z,relro,-z,now"
PKG_GOBUILD_STATIC = CGO_ENABLED=0 GOARCH=$(PKG_ARCH) $(GO) build -trimpath \
	-ldflags "-s -w -X main.version=$(PKG_FULL)"

package: man
	@test -e $(PAM_HEADERS) || { echo "make package: $(PAM_HEADERS) missing: the package's PAM helper needs libpam0g-dev" >&2; exit 1; }
	rm -rf dist/build && mkdir -p dist/build/debian
	$(PKG_GOBUILD_STATIC) -o dist/build/mppd .
	$(PKG_GOBUILD) -o dist/build/mpp ./cmd/mpp
	$(PKG_GOBUILD) -tags pam -o dist/build/mppd-pam ./cmd/mppd-pam
	gzip -9n -c docs/mppd.8 > dist/build/mppd.8.gz
	gzip -9n -c docs/mpp.1 > dist/build/mpp.1.gz
	packaging/copyright.sh dist/build/mppd dist/build/mpp dist/build/mppd-pam > dist/build/copyright
	{ echo "mppd ($(PKG_FULL)) unstable; urgency=medium"; echo; \
	  echo "  * Built from commit $(PKG_COMMIT)."; echo; \
	  echo " -- $(PKG_MAINTAINER)  $(PKG_DATE)"; } | gzip -9n > dist/build/changelog.gz
	printf 'Source: mppd\n\nPackage: mppd\nArchitecture: any\n' > dist/build/debian/control
	cd dist/build && dpkg-shlibdeps -O mpp mppd-pam 2>/dev/null | sed -n 's/^shlibs:Depends=//p' > shlibs
	PKG_ARCH=$(PKG_ARCH) PKG_VERSION=$(PKG_VERSION) PKG_PRERELEASE=$(PKG_PRERELEASE) PKG_MAINTAINER="$(PKG_MAINTAINER)" DEB_SHLIBS="$$(cat dist/build/shlibs)" \
		$(TOOL) nfpm package -f packaging/nfpm.yaml -p deb -t dist/mppd_$(PKG_FULL)_$(PKG_ARCH).deb
	PKG_ARCH=$(PKG_ARCH) PKG_VERSION=$(PKG_VERSION) PKG_PRERELEASE=$(PKG_PRERELEASE) PKG_MAINTAINER="$(PKG_MAINTAINER)" \
		$(TOOL) nfpm package -f packaging/nfpm.yaml -p rpm -t dist/mppd-$(PKG_FULL).$(RPM_ARCH).rpm

# The performance table of BENCHMARKS.md (a few minutes): mppd against the
# limit of its hops and against msmtpd, side by side. bench-go: the Go
# micro-benchmarks alone.
bench:
	GO=$(GO) sh bench/run.sh

bench-go:
	$(GO) test -tags "$(TAGS)" -run '^$$' -bench . -benchmem .

clean:
	rm -rf mppd mpp mppd-pam demo dist docs/mppd.8 docs/mpp.1
