# optimist -- build, test and run.
#
#   make            build bin/optimist-fcgi, bin/optimistctl, build/liboptimist.a
#   make test       unit, integration (real MariaDB) and end-to-end (nginx) tests
#   make asan       the whole test suite under AddressSanitizer + UBSan
#   make run        the whole stack under var/ on http://127.0.0.1:$(PORT)
#   make stop       stop what `make run` started
#   make bench      optimist against PHP-FPM, Node and the raw database
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

WARN     := -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral -Wno-format-truncation
OPT      ?= -O2 -g
ifeq ($(SAN),1)
OPT      := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
            -fno-sanitize-recover=undefined
LDSAN    := -fsanitize=address,undefined
endif
CFLAGS   += $(WARN) $(OPT) -D_GNU_SOURCE $(DB_CFLAGS) $(JSON_CFLAGS)
LDFLAGS  += $(LDSAN)
LIBS     := $(DB_LIBS) $(JSON_LIBS) -lfcgi -lm

LIB_SRC  := $(wildcard lib/*.c)
APP_SRC  := $(filter-out fcgi/main.c,$(wildcard fcgi/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
APP_OBJ  := $(APP_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:%.c=$(BUILD)/%)
INTEG_SRC := $(wildcard tests/integration/test_*.c)
INTEG_BIN := $(INTEG_SRC:%.c=$(BUILD)/%)

.PHONY: all test unit integration e2e asan run stop clean deps lint format check-deps bench

all: $(BIN)/optimist-fcgi $(BIN)/optimistctl $(BUILD)/liboptimist.a

$(BUILD)/%.o: %.c $(wildcard lib/*.h fcgi/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/liboptimist.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	ar rcs $@ $^

$(BUILD)/libfcgiapp.a: $(APP_OBJ)
	@mkdir -p $(dir $@)
	ar rcs $@ $^

$(BIN)/optimist-fcgi: $(BUILD)/fcgi/main.o $(BUILD)/libfcgiapp.a $(BUILD)/liboptimist.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BIN)/optimistctl: $(BUILD)/tools/optimistctl.o $(BUILD)/liboptimist.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/unit/%: tests/unit/%.c $(BUILD)/libfcgiapp.a $(BUILD)/liboptimist.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(LIBS) -lpthread

$(BUILD)/tests/integration/%: tests/integration/%.c $(BUILD)/liboptimist.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(LIBS) -lpthread

check-deps:
	@scripts/deps.sh

# The test suite: unit tests, then integration tests against a MariaDB the
# runner starts in a temporary folder, then end-to-end tests through nginx.
test: check-deps
	@$(MAKE) --no-print-directory all $(UNIT_BIN) $(INTEG_BIN) proof-bins
	@BUILD=$(BUILD) BIN=$(BIN) tests/run.sh

unit: all $(UNIT_BIN)
	@BUILD=$(BUILD) BIN=$(BIN) tests/run.sh unit

integration: all $(INTEG_BIN)
	@BUILD=$(BUILD) BIN=$(BIN) tests/run.sh integration

e2e: all
	@BUILD=$(BUILD) BIN=$(BIN) tests/run.sh e2e

asan: check-deps
	@$(MAKE) --no-print-directory SAN=1 BUILD=build/asan BIN=build/asan/bin test-nodeps

test-nodeps: all $(UNIT_BIN) $(INTEG_BIN) proof-bins
	@BUILD=$(BUILD) BIN=$(BIN) SAN=$(SAN) tests/run.sh

run: check-deps all
	@PORT=$(PORT) scripts/run.sh

stop:
	@scripts/stop.sh

# The benchmark: its own stack in a temporary folder, wrk against optimist,
# the PHP and Node references (tests/bench/peers/) and the raw database
# ceiling (rawdb). BENCH_SECONDS=2 for a short run; see tests/bench/bench.py.
$(BUILD)/bench/rawdb: tests/bench/rawdb.c $(BUILD)/liboptimist.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(DB_LIBS) -lpthread

bench: check-deps
	@scripts/bench-deps.sh
	@$(MAKE) --no-print-directory all $(BUILD)/bench/rawdb
	@BUILD=$(BUILD) BIN=$(BIN) python3 tests/bench/bench.py

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability \
	  --suppress=missingIncludeSystem --inline-suppr -D_GNU_SOURCE \
	  $(DB_CFLAGS) $(JSON_CFLAGS) lib fcgi tools

format:
	clang-format -i lib/*.c lib/*.h fcgi/*.c fcgi/*.h tools/*.c

clean:
	rm -rf build bin

# ---------------------------------------------------------------------------
# The proof (issue #11): the lost-update checker under faults, fault
# injection inside the record library, fuzzing. See README, "Stress, fault
# injection and fuzzing".
.PHONY: stress faults faults-nodeps proof-bins fuzz fuzz-bins

# Fault injection inside the record library (tests/faults/): the test
# binaries reach libmysqlclient through tests/faults/faultsim.c, by the
# linker's --wrap; lib/ is built as it ships. `make test` runs them on the
# plain build, `make asan` and `make faults` under ASan + UBSan.
FAULT_WRAP := mysql_real_connect mysql_real_query mysql_stmt_prepare \
              mysql_stmt_execute mysql_stmt_store_result
FAULT_SRC  := $(wildcard tests/faults/test_*.c)
FAULT_BIN  := $(FAULT_SRC:%.c=$(BUILD)/%)

$(BUILD)/tests/faults/%: tests/faults/%.c tests/faults/faultsim.c \
		tests/faults/faultsim.h $(BUILD)/liboptimist.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $(foreach f,$(FAULT_WRAP),-Wl,--wrap=$(f)) \
	  -o $@ $(filter %.c %.a,$^) $(CMOCKA_LIBS) $(LIBS) -lpthread

# The integration tests relinked with the simulator, for the sweep.
FAULT_INTEG := $(INTEG_SRC:tests/integration/%.c=$(BUILD)/tests/faults/integ_%)

$(BUILD)/tests/faults/integ_%: tests/integration/%.c tests/faults/faultsim.c \
		tests/faults/faultsim.h $(BUILD)/liboptimist.a
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
FUZZ_TARGETS := body jpath precond router conf
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
# a fault every STRESS_FAULT_INTERVAL seconds (make test runs 30 s of it
# as tests/e2e/test_stress.py).
STRESS_SECONDS ?= 300
stress: check-deps all
	@BUILD=$(BUILD) BIN=$(BIN) STRESS_SECONDS=$(STRESS_SECONDS) \
	  python3 tests/stress/stress.py
