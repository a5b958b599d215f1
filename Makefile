# optimist -- build, test and run.
#
#   make            build bin/optimist-fcgi, bin/optimistctl, build/liboptimist.a
#                   (the release build: hardened, no test hooks)
#   make test       unit, integration (real MariaDB) and end-to-end (nginx)
#                   tests, on the test build (build/test: -Werror and
#                   -DOPTIMIST_TESTHOOKS, fcgi/core/testhook.c)
#   make asan       the whole test suite under AddressSanitizer + UBSan
#                   (build/asan, also a test build)
#   make lint       cppcheck;  make format / format-check: clang-format
#   make run        the whole stack under var/ on http://127.0.0.1:$(PORT)
#   make stop       stop what `make run` started
#   make reload     the pool of `make run` reads its options and the
#                   declared tables (var/tables.d/) again (SIGHUP)
#   make cluster    the stack on a 3-node Galera cluster under var/cluster/
#                   (two pools, one nginx over both; scripts/cluster.sh)
#   make cluster-stop  stop it
#   make test-cluster  the cluster tests (tests/cluster/; not in `make test`)
#   make bench      optimist against PHP-FPM, Node, Go and the ceiling
#                   (tests/bench/bench.py; not part of `make test`)
#   make stress     the lost-update checker under faults, STRESS_SECONDS
#   make faults     fault injection inside lib/, under ASan
#   make fuzz       the libFuzzer targets, FUZZ_SECONDS each
#
# Dependencies come from Debian packages; `make run` and `make test` install
# the missing ones when run as root (scripts/deps.sh).

PORT     ?= 8080
SAN      ?=
BUILD    ?= build
BIN      ?= bin

CC       ?= cc
DB_CFLAGS := $(shell mariadb_config --cflags 2>/dev/null || mysql_config --cflags 2>/dev/null)
DB_LIBS   := $(shell mariadb_config --libs 2>/dev/null || mysql_config --libs 2>/dev/null)
JSON_CFLAGS := $(shell pkg-config --cflags json-c 2>/dev/null)
JSON_LIBS   := $(shell pkg-config --libs json-c 2>/dev/null || echo -ljson-c)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null || echo -lcmocka)
CRYPTO_LIBS := $(shell pkg-config --libs libcrypto 2>/dev/null || echo -lcrypto)
# sd_notify for Type=notify units (fcgi/pool/notify.c); optional at build time.
SYSTEMD_LIBS := $(shell pkg-config --libs libsystemd 2>/dev/null)
SYSTEMD_CFLAGS := $(if $(SYSTEMD_LIBS),-DHAVE_SYSTEMD $(shell pkg-config --cflags libsystemd 2>/dev/null))

# Warnings are errors in the test builds (make test, make asan, CI), not
# in a user's plain `make`: a newer compiler's new warning must not stop
# someone from building a release.
WERROR   ?=
WARN     := -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral -Wno-format-truncation
ifeq ($(WERROR),1)
WARN     += -Werror
endif
OPT      ?= -O2 -g
# Hardening (as Debian's dpkg-buildflags): fortified libc calls, stack
# protector, position-independent executables, read-only relocations.
HARDEN   := -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
LDHARDEN := -pie -Wl,-z,relro,-z,now
ifeq ($(SAN),1)
OPT      := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
            -fno-sanitize-recover=undefined
LDSAN    := -fsanitize=address,undefined
HARDEN   := -fPIE
endif
# TESTHOOKS=1: the test build, with fcgi/core/testhook.c (see testhook.h).
TESTHOOKS ?=
ifeq ($(TESTHOOKS),1)
HARDEN   += -DOPTIMIST_TESTHOOKS
endif
# fcgi/ is one folder a layer (README, "Layout"); every folder and lib/ are
# on the quote include path, so a file includes "reply.h" wherever it is
# (-iquote: a header named like a system one, limits.h, never shadows it).
FCGI_DIRS := $(sort $(dir $(wildcard fcgi/*/*.c fcgi/*/*.h)))
INCLUDES := $(addprefix -iquote ,$(FCGI_DIRS:%/=%)) -iquote lib
CFLAGS   += $(WARN) $(OPT) $(HARDEN) -MMD -MP -D_GNU_SOURCE $(INCLUDES) $(DB_CFLAGS) $(JSON_CFLAGS) $(SYSTEMD_CFLAGS)
LDFLAGS  += $(LDSAN) $(LDHARDEN)
LIBS     := $(DB_LIBS) $(JSON_LIBS) $(CRYPTO_LIBS) -lfcgi -lm $(SYSTEMD_LIBS)

LIB_SRC  := $(wildcard lib/*.c)
APP_SRC  := $(filter-out fcgi/pool/main.c fcgi/core/testhook.c,$(wildcard fcgi/*/*.c))
ifeq ($(TESTHOOKS),1)
APP_SRC  += fcgi/core/testhook.c
endif
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
APP_OBJ  := $(APP_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:%.c=$(BUILD)/%)
INTEG_SRC := $(wildcard tests/integration/test_*.c)
INTEG_BIN := $(INTEG_SRC:%.c=$(BUILD)/%)


# Every target that names no file.
.PHONY: all check-deps test unit integration e2e asan test-nodeps run stop reload \
        cluster cluster-stop test-cluster bench bench-cluster bench-streams \
        lint format format-check install deb test-package clean stress \
        faults faults-nodeps proof-bins fuzz fuzz-bins

all: $(BIN)/optimist-fcgi $(BIN)/optimistctl $(BUILD)/liboptimist.a \
     $(BUILD)/man/optimist.conf.5

# Header dependencies: -MMD -MP writes a .d file beside every object.
$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

-include $(wildcard $(BUILD)/lib/*.d $(BUILD)/fcgi/*/*.d $(BUILD)/tools/*.d \
                    $(BUILD)/tests/*/*.d $(BUILD)/bench/*.d)

$(BUILD)/liboptimist.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/libfcgiapp.a: $(APP_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(BIN)/optimist-fcgi: $(BUILD)/fcgi/pool/main.o $(BUILD)/libfcgiapp.a $(BUILD)/liboptimist.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# optimistctl reads the pool's option table (fcgi/core/conf.c) from libfcgiapp.a.
$(BIN)/optimistctl: $(BUILD)/tools/optimistctl.o $(BUILD)/libfcgiapp.a $(BUILD)/liboptimist.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/unit/%: tests/unit/%.c $(BUILD)/libfcgiapp.a $(BUILD)/liboptimist.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.c %.a,$^) $(CMOCKA_LIBS) $(LIBS) -lpthread

$(BUILD)/tests/integration/%: tests/integration/%.c $(BUILD)/libfcgiapp.a $(BUILD)/liboptimist.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.c %.a,$^) $(CMOCKA_LIBS) $(LIBS) -lpthread

# optimist.conf(5) is generated from the option table (fcgi/core/conf.c)
# through `optimist-fcgi --help`: `man -l build/man/optimist.conf.5`.
$(BUILD)/man/optimist.conf.5: $(BIN)/optimist-fcgi scripts/conf-man.sh
	@mkdir -p $(dir $@)
	scripts/conf-man.sh $(BIN)/optimist-fcgi >$@.tmp && mv $@.tmp $@

check-deps:
	@scripts/deps.sh

# The test suite: unit tests, then integration tests against a MariaDB the
# runner starts in a temporary folder, then end-to-end tests through nginx.
# All of it runs on the test build, in folders of its own (SUITES picks
# suites: unit, integration, e2e).
TEST_MAKE := $(MAKE) --no-print-directory WERROR=1 TESTHOOKS=1
test: check-deps
	@$(TEST_MAKE) BUILD=build/test BIN=build/test/bin test-nodeps

unit integration e2e:
	@$(TEST_MAKE) BUILD=build/test BIN=build/test/bin SUITES=$@ test-nodeps

asan: check-deps
	@$(TEST_MAKE) SAN=1 BUILD=build/asan BIN=build/asan/bin test-nodeps

SUITES ?=
test-nodeps: all $(UNIT_BIN) $(INTEG_BIN) proof-bins
	@BUILD=$(BUILD) BIN=$(BIN) SAN=$(SAN) tests/run.sh $(SUITES)

run: check-deps all
	@PORT=$(PORT) scripts/run.sh

stop:
	@scripts/stop.sh

reload:
	@scripts/reload.sh

# The cluster twin of run/stop: http://127.0.0.1:$(CLUSTER_PORT) over both
# pools, +1 pool A alone, +2 pool B alone.
CLUSTER_PORT ?= 8090
cluster: check-deps all
	@PORT=$(CLUSTER_PORT) scripts/cluster.sh start

cluster-stop:
	@scripts/cluster.sh stop

test-cluster: check-deps all
	@BIN=$(BIN) python3 -u tests/cluster/test_cluster.py

# The cluster row of the benchmark: GET and PATCH through both pools of a
# 3-node cluster next to one MariaDB and one pool (build/bench/cluster.md).
bench-cluster: check-deps all
	@command -v wrk >/dev/null || scripts/bench-deps.sh
	@BIN=$(BIN) python3 -u tests/bench/cluster_bench.py

# The benchmark: its own stack in a temporary folder, wrk against optimist,
# the PHP and Node references (tests/bench/peers/) and the raw database
# ceiling (rawdb). BENCH_SECONDS=2 for a short run; see tests/bench/bench.py.
$(BUILD)/bench/rawdb: tests/bench/rawdb.c $(BUILD)/liboptimist.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.c %.a,$^) $(DB_LIBS) $(CRYPTO_LIBS) -lpthread

# What a system call and a round trip between two processes cost on this
# machine: the floor under the pool's CPU per answer (bench.py prints it).
$(BUILD)/bench/switchcost: tests/bench/switchcost.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $<

# The Go reference, from Debian's golang-go and go-sql-driver/mysql in
# GOPATH mode: nothing downloaded.
$(BUILD)/bench/gopeer: tests/bench/peers/go/main.go
	@mkdir -p $(dir $@)
	GO111MODULE=off GOPATH=/usr/share/gocode GOPROXY=off GOFLAGS= \
	  GOCACHE=$(abspath $(BUILD))/bench/gocache go build -o $@ ./tests/bench/peers/go

bench: check-deps
	@scripts/bench-deps.sh
	@$(MAKE) --no-print-directory all $(BUILD)/bench/rawdb $(BUILD)/bench/gopeer \
	  $(BUILD)/bench/switchcost
	@BUILD=$(BUILD) BIN=$(BIN) python3 tests/bench/bench.py
	@BIN=$(BIN) python3 tests/bench/streams_bench.py

# What STREAMS open streams cost (2,000 by default; the C10K row is
# `make bench-streams STREAMS=10000`): GET req/s with and without them
# while CHANGES changes a second are delivered, delivery latency (also
# under a 20 s row lock), the hub's database statements, memory per
# stream (tests/bench/streams_bench.py).
STREAMS ?= 2000
CHANGES ?= 200
bench-streams: all
	@BIN=$(BIN) STREAMS=$(STREAMS) CHANGES=$(CHANGES) python3 tests/bench/streams_bench.py

lint:
	@scripts/deps.sh lint
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability \
	  --suppress=missingIncludeSystem --inline-suppr -D_GNU_SOURCE \
	  $(subst -iquote ,-I,$(INCLUDES)) $(DB_CFLAGS) $(JSON_CFLAGS) lib fcgi tools

# clang-format (.clang-format) on every C file of the tree.
FORMAT_FILES := $(wildcard fcgi/*/*.[ch] lib/*.[ch] tools/*.[ch] \
                           tests/*/*.[ch])
format:
	@scripts/deps.sh lint
	clang-format -i $(FORMAT_FILES)

format-check:
	@scripts/deps.sh lint
	clang-format --dry-run --Werror $(FORMAT_FILES)

# ---- install and package ------------------------------------------------
#
#   make install [PREFIX=/usr/local] [DESTDIR=]   binaries, migrations, nginx
#                snippets, man pages, unit, logrotate, commented config
#   make deb     build/deb/optimist_<version>_<arch>.deb (dpkg-deb; lintian)
#   make test-package   installs that .deb on this machine (root) and
#                serves a request through it (tests/package/run.sh)
PREFIX     ?= /usr/local
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR    ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)
DATADIR    := $(PREFIX)/share/optimist
INSTALL    ?= install

install: all
	$(INSTALL) -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin \
	  $(DESTDIR)$(DATADIR)/sql $(DESTDIR)$(DATADIR)/nginx $(DESTDIR)$(DATADIR)/web \
	  $(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)$(PREFIX)/share/man/man5 \
	  $(DESTDIR)$(SYSCONFDIR)/optimist \
	  $(DESTDIR)$(SYSCONFDIR)/logrotate.d $(DESTDIR)$(UNITDIR)
	$(INSTALL) -m 0755 $(if $(STRIP),-s) $(BIN)/optimist-fcgi $(DESTDIR)$(PREFIX)/sbin/optimist-fcgi
	$(INSTALL) -m 0755 $(if $(STRIP),-s) $(BIN)/optimistctl $(DESTDIR)$(PREFIX)/bin/optimistctl
	$(INSTALL) -m 0644 sql/*.sql $(DESTDIR)$(DATADIR)/sql/
	$(INSTALL) -m 0644 web/*.html web/*.js web/*.css $(DESTDIR)$(DATADIR)/web/
	$(INSTALL) -m 0644 nginx/optimist.conf nginx/optimist-fallback.conf nginx/optimist-cors.conf \
	  packaging/nginx/optimist-upstream.conf packaging/nginx/optimist-site.conf \
	  packaging/nginx/optimist-streams.conf \
	  $(DESTDIR)$(DATADIR)/nginx/
	$(INSTALL) -m 0644 packaging/man/optimist-fcgi.8 packaging/man/optimistctl.8 \
	  $(DESTDIR)$(PREFIX)/share/man/man8/
	scripts/conf-man.sh $(BIN)/optimist-fcgi \
	  >$(DESTDIR)$(PREFIX)/share/man/man5/optimist.conf.5
	chmod 0644 $(DESTDIR)$(PREFIX)/share/man/man5/optimist.conf.5
	sed -e 's|/usr/sbin/optimist-fcgi|$(PREFIX)/sbin/optimist-fcgi|g' \
	    -e 's|/etc/optimist/|$(SYSCONFDIR)/optimist/|g' \
	  packaging/systemd/optimist-fcgi.service >$(DESTDIR)$(UNITDIR)/optimist-fcgi.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/optimist-fcgi.service
	$(INSTALL) -m 0644 packaging/logrotate/optimist $(DESTDIR)$(SYSCONFDIR)/logrotate.d/optimist
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/optimist/optimist.conf ]; then \
	  echo "keeping $(DESTDIR)$(SYSCONFDIR)/optimist/optimist.conf"; \
	else \
	  scripts/conf-template.sh $(BIN)/optimist-fcgi >$(DESTDIR)$(SYSCONFDIR)/optimist/optimist.conf && \
	  chmod 0640 $(DESTDIR)$(SYSCONFDIR)/optimist/optimist.conf; \
	fi
	@# Readable by the service's group (optimistctl check as optimist), not
	@# by everyone; a package build (DESTDIR) leaves this to its postinst.
	@if [ -z "$(DESTDIR)" ] && getent group optimist >/dev/null; then \
	  chown root:optimist $(SYSCONFDIR)/optimist/optimist.conf && \
	  chmod 0640 $(SYSCONFDIR)/optimist/optimist.conf; \
	fi

# The package is built from a release build of its own (no -Werror
# surprises from a newer compiler are possible there: same flags as `make`).
deb: check-deps
	@scripts/deps.sh package
	rm -rf build/deb
	$(MAKE) --no-print-directory BUILD=build/deb/obj BIN=build/deb/bin all
	$(MAKE) --no-print-directory BUILD=build/deb/obj BIN=build/deb/bin \
	  PREFIX=/usr DESTDIR=$(CURDIR)/build/deb/root STRIP=1 install
	scripts/build-deb.sh build/deb/root build/deb
	lintian --fail-on error,warning \
	  build/deb/optimist_*.deb

test-package: deb
	tests/package/run.sh build/deb/optimist_*.deb

clean:
	rm -rf build bin

# ---------------------------------------------------------------------------
# The proof: the lost-update checker under faults, fault injection inside
# the record library, fuzzing. See tests/README.md, "Stress, fault
# injection and fuzzing".

# Fault injection inside the record library (tests/faults/): the test
# binaries reach libmysqlclient through tests/faults/faultsim.c, by the
# linker's --wrap; lib/ is built as it ships. `make test` runs them on the
# plain build, `make asan` and `make faults` under ASan + UBSan.
FAULT_WRAP := mysql_real_connect mysql_real_query mysql_stmt_prepare \
              mysql_stmt_execute mysql_stmt_store_result
FAULT_SRC  := $(wildcard tests/faults/test_*.c)
FAULT_BIN  := $(FAULT_SRC:%.c=$(BUILD)/%)

$(BUILD)/tests/faults/%: tests/faults/%.c tests/faults/faultsim.c \
		tests/faults/faultsim.h $(BUILD)/libfcgiapp.a $(BUILD)/liboptimist.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $(foreach f,$(FAULT_WRAP),-Wl,--wrap=$(f)) \
	  -o $@ $(filter %.c %.a,$^) $(CMOCKA_LIBS) $(LIBS) -lpthread

# The integration tests relinked with the simulator, for the sweep.
FAULT_INTEG := $(INTEG_SRC:tests/integration/%.c=$(BUILD)/tests/faults/integ_%)

$(BUILD)/tests/faults/integ_%: tests/integration/%.c tests/faults/faultsim.c \
		tests/faults/faultsim.h $(BUILD)/libfcgiapp.a $(BUILD)/liboptimist.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $(foreach f,$(FAULT_WRAP),-Wl,--wrap=$(f)) \
	  -o $@ $(filter %.c %.a,$^) $(CMOCKA_LIBS) $(LIBS) -lpthread

# make faults: tests/faults under ASan, then the integration suite once
# per offset of a fault every FAULTS_STRIDE calls (tests/faults/sweep.sh).
FAULTS_STRIDE ?= 25
faults: check-deps
	@$(MAKE) --no-print-directory SAN=1 BUILD=build/asan BIN=build/asan/bin \
	  all faults-nodeps

# Fuzzing (tests/fuzz/): one libFuzzer target a parser, each with its seed
# corpus in tests/fuzz/<target>/. `make test` replays the corpora through
# replay_<target> (the target with a plain main, built like the tests);
# `make fuzz` builds the targets with clang -fsanitize=fuzzer,address,
# undefined into build/fuzz and runs each for FUZZ_SECONDS.
FUZZ_TARGETS := body jpath precond router conf coltype
FUZZ_SECONDS ?= 60
JANSSON_CFLAGS := $(shell pkg-config --cflags jansson 2>/dev/null)
JANSSON_LIBS   := $(shell pkg-config --libs jansson 2>/dev/null || echo -ljansson)
FUZZ_REPLAY := $(FUZZ_TARGETS:%=$(BUILD)/tests/fuzz/replay_%)

# json-c before jansson on the line: both export json_object_get, and the
# service's references must reach json-c's (tests/fuzz/oracle_jansson.c).
FUZZ_COMMON := tests/fuzz/fuzz_util.c tests/fuzz/oracle_jansson.c \
               tests/fuzz/fuzz.h tests/fuzz/oracle.h

$(BUILD)/tests/fuzz/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c \
		$(FUZZ_COMMON) $(BUILD)/libfcgiapp.a $(BUILD)/liboptimist.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(JANSSON_CFLAGS) $(LDFLAGS) -o $@ \
	  $(filter %.c %.a,$^) $(LIBS) $(JANSSON_LIBS) -ldl

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_COMMON) \
		$(BUILD)/libfcgiapp.a $(BUILD)/liboptimist.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(JANSSON_CFLAGS) -fsanitize=fuzzer,address,undefined \
	  -o $@ $(filter %.c %.a,$^) $(LIBS) $(JANSSON_LIBS) -ldl

fuzz-bins: $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)

fuzz: check-deps
	@$(MAKE) --no-print-directory CC=clang BUILD=build/fuzz \
	  OPT="-O1 -g -fno-omit-frame-pointer -Wno-unknown-warning-option \
	  -fsanitize=fuzzer-no-link,address,undefined \
	  -fno-sanitize-recover=undefined" fuzz-bins
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh build/fuzz/fuzz/fuzz \
	  $(FUZZ_TARGETS)

# What `make test` (and `make asan`) build for the suites below.
proof-bins: $(FAULT_BIN) $(FUZZ_REPLAY)

faults-nodeps: all $(FAULT_BIN) $(FAULT_INTEG)
	@BUILD=$(BUILD) BIN=$(BIN) SAN=$(SAN) tests/run.sh faults
	@BUILD=$(BUILD) BIN=$(BIN) SAN=$(SAN) FAULTS_STRIDE=$(FAULTS_STRIDE) \
	  tests/faults/sweep.sh

# The lost-update checker, long: its own stack, STRESS_CLIENTS clients,
# a fault every STRESS_FAULT_INTERVAL seconds, the built-in resources and a
# declared table with a plain-SQL writer beside the HTTP clients
# (STRESS_MODE=builtin or tables for one of them; make test runs 30 s of
# the first as tests/e2e/test_stress.py and 15 s of the second as
# tests/e2e/test_tables_stress.py).
STRESS_SECONDS ?= 300
stress: check-deps all
	@BUILD=$(BUILD) BIN=$(BIN) STRESS_SECONDS=$(STRESS_SECONDS) \
	  python3 tests/stress/stress.py
