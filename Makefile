# Order saga - build, run and test.
#   make            build everything (build/release)
#   make up         install what is missing, build, start stack + daemons, place a sample order
#   make test       install what is missing, build with sanitizers, start the stack, run all tests
# See README.md.

VARIANT ?= release
RATE ?= 200
DURATION ?= 60
MIX ?= ok=90,declined=5,stock=5
B := build/$(VARIANT)

CC ?= cc
PKGS := rdkafka libmicrohttpd libpq avro-c jansson hiredis uuid libcrypto
WARN := -std=c11 -Wall -Wextra -Wpedantic -Wformat=2 -Wstrict-prototypes \
	-Wmissing-prototypes -Wshadow -Wvla -Wwrite-strings -Werror
ifeq ($(VARIANT),asan)
OPT := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDOPT := -fsanitize=address,undefined
else ifeq ($(VARIANT),fuzz)
CC := clang
OPT := -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
	-Wno-gnu-statement-expression
LDOPT := -fsanitize=address,undefined
else
OPT := -O2 -g
LDOPT :=
endif

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CPPFLAGS += -D_GNU_SOURCE -Icommon $(PKG_CFLAGS)
CFLAGS += $(WARN) $(OPT) -MMD -MP
LDLIBS += $(PKG_LIBS) -lpthread -lm

COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(B)/%.o) $(B)/gen/common_migrations.o $(B)/gen/schemas.o
SCHEMA_FILES := $(sort $(wildcard schemas/*.avsc)) $(sort $(wildcard schemas/released/*.avsc))
COMMON_MIGRATIONS := $(sort $(wildcard common/migrations/*.sql))
LIBCOMMON := $(B)/libcommon.a

SERVICES := $(notdir $(wildcard services/*))
TOOLS := $(basename $(notdir $(wildcard tools/*.c)))
SERVICE_BINS := $(SERVICES:%=$(B)/bin/%)
TOOL_BINS := $(TOOLS:%=$(B)/bin/%) $(B)/bin/loadgen

# Services' domain modules (everything but main.c), for unit tests and fuzzing.
SERVICE_LIB_OBJS := $(patsubst %.c,$(B)/%.o,$(filter-out %/main.c,$(wildcard services/*/*.c)))
UNIT_SRC := $(wildcard tests/unit/*.c)
UNIT_BIN := $(B)/tests/bin/unit
INTEG_SRC := $(sort $(wildcard tests/integration/[0-9]*.c))
INTEG_BINS := $(INTEG_SRC:tests/integration/%.c=$(B)/tests/bin/%)
E2E_SRC := $(sort $(wildcard tests/e2e/[0-9]*.c))
E2E_BINS := $(E2E_SRC:tests/e2e/%.c=$(B)/tests/bin/e2e-%)
TEST_SUPPORT := $(wildcard tests/support/*.c)
CHAOS_BINS := $(B)/bin/chaos-client $(B)/bin/chaos-judge

.PHONY: all build tests chaos replay clean schemas-check fuzz bench bench-stream bench-peer bench-plumbing loadtest compose-check compose-env compose-images compose-test contract-test new-service install stack-up stack-down stack-status test unit integration \
	format format-check lint up down

all: build
build: $(SERVICE_BINS) $(TOOL_BINS) schemas-check
FUZZ_TARGETS := $(basename $(notdir $(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_REPLAY_BINS := $(FUZZ_TARGETS:fuzz_%=$(B)/tests/bin/fuzz-replay-%)

tests: build $(UNIT_BIN) $(INTEG_BINS) $(E2E_BINS) $(FUZZ_REPLAY_BINS) $(B)/bin/testd $(CHAOS_BINS) \
	$(B)/bin/sse-readers

V ?= 0
ifeq ($(V),0)
Q := @
else
Q :=
endif

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(B)/tests/%.o: CPPFLAGS += -Itests/support -Itests/load $(patsubst %,-Iservices/%,$(SERVICES))

$(LIBCOMMON): $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(Q)$(AR) rcs $@ $^

# Each service: its sources plus its migrations compiled in.
define service_rules
$(B)/gen/$(1)_migrations.c: $$(sort $$(wildcard services/$(1)/migrations/*.sql)) tools/embed.sh
	@mkdir -p $$(dir $$@)
	$$(Q)sh tools/embed.sh $$@ migrate.h migration service_migrations service_nmigrations \
		$$(sort $$(wildcard services/$(1)/migrations/*.sql))
$(B)/bin/$(1): $$(patsubst %.c,$(B)/%.o,$$(wildcard services/$(1)/*.c)) $(B)/gen/$(1)_migrations.o $(LIBCOMMON)
	@mkdir -p $$(dir $$@)
	@$$(if $$(Q),echo "  LD      $$@")
	$$(Q)$$(CC) $$(LDOPT) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach s,$(SERVICES),$(eval $(call service_rules,$(s))))

$(B)/gen/common_migrations.c: $(COMMON_MIGRATIONS) tools/embed.sh
	@mkdir -p $(dir $@)
	$(Q)sh tools/embed.sh $@ migrate.h migration common_migrations common_nmigrations $(COMMON_MIGRATIONS)

$(B)/gen/schemas.c: $(SCHEMA_FILES) tools/embed.sh
	@mkdir -p $(dir $@)
	$(Q)sh tools/embed.sh $@ codec.h codec_source codec_builtin_schemas codec_nbuiltin_schemas $(SCHEMA_FILES)

$(B)/gen/%.o: $(B)/gen/%.c
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

# The daemon the integration tests drive: the template's handler, configured
# by environment variables (tests/testd/testd.c).
$(B)/bin/testd: $(B)/tests/testd/testd.o $(B)/services/template/template.o \
		$(B)/gen/template_migrations.o $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDOPT) -o $@ $^ $(LDLIBS)

# The chaos run's clients and judge (tests/chaos/run.sh); CHAOS_BINS is set
# above, before the rules that need it.
$(B)/bin/chaos-client: $(B)/tests/chaos/client.o $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDOPT) -o $@ $^ $(LDLIBS)

$(B)/bin/chaos-judge: $(B)/tests/chaos/judge.o $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDOPT) -o $@ $^ $(LDLIBS)

$(B)/bin/sse-readers: $(B)/tests/ui/readers.o $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDOPT) -o $@ $^ $(LDLIBS)

$(B)/bin/loadgen: $(B)/tests/load/loadgen.o $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDOPT) -o $@ $^ $(LDLIBS)

$(B)/bin/%: $(B)/tools/%.o $(LIBCOMMON)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDOPT) -o $@ $^ $(LDLIBS)

$(UNIT_BIN): $(UNIT_SRC:%.c=$(B)/%.o) $(SERVICE_LIB_OBJS) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDOPT) -o $@ $^ $(LDLIBS) -lcriterion

$(B)/tests/bin/%: $(B)/tests/integration/%.o $(TEST_SUPPORT:%.c=$(B)/%.o) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDOPT) -o $@ $^ $(LDLIBS) -lcriterion

$(B)/tests/bin/e2e-%: $(B)/tests/e2e/%.o $(TEST_SUPPORT:%.c=$(B)/%.o) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDOPT) -o $@ $^ $(LDLIBS) -lcriterion

$(B)/tests/bin/fuzz-replay-%: $(B)/tests/fuzz/fuzz_%.o $(B)/tests/fuzz/replay.o $(SERVICE_LIB_OBJS) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDOPT) -o $@ $^ $(LDLIBS)

# libFuzzer (clang): each harness runs FUZZ_SECONDS on a copy of its corpus.
FUZZ_SECONDS ?= 60
fuzz: install
	@command -v clang >/dev/null || { echo "[fuzz] installing clang"; \
		$$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y -q clang libclang-rt-14-dev >/dev/null; }
	@$(MAKE) --no-print-directory VARIANT=fuzz $(FUZZ_TARGETS:%=build/fuzz/bin/%)
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p .run/fuzz/$$t && cp tests/fuzz/corpus/$${t#fuzz_}/* .run/fuzz/$$t/; \
		echo "[fuzz] $$t for $(FUZZ_SECONDS) s"; \
		build/fuzz/bin/$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			.run/fuzz/$$t || exit 1; \
	done

build/fuzz/bin/fuzz_%: build/fuzz/tests/fuzz/fuzz_%.o $(SERVICE_LIB_OBJS) build/fuzz/libcommon.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDOPT) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

# --- the local stack -------------------------------------------------------

install:
	@bash deploy/local/install.sh

stack-up: $(B)/bin/topics
	@BUILD_DIR=$(B) bash deploy/local/stack.sh up

stack-down:
	@bash deploy/local/stack.sh down

# The whole system: stack, daemons, and a look at it working.
up: install
	@$(MAKE) --no-print-directory build
	@$(MAKE) --no-print-directory stack-up
	@BUILD_DIR=$(B) bash deploy/local/daemons.sh start
	@bash deploy/local/sample-order.sh

down:
	@bash deploy/local/daemons.sh stop
	@bash deploy/local/stack.sh down

stack-status:
	@bash deploy/local/stack.sh status
	@bash deploy/local/daemons.sh status || true

# --- tests -----------------------------------------------------------------

# Everything a fresh machine needs, then every suite under ASan+UBSan.
test: install
	@$(MAKE) --no-print-directory VARIANT=asan tests
	@$(MAKE) --no-print-directory VARIANT=release tests
	@bash tests/run.sh build/asan

unit: install
	@$(MAKE) --no-print-directory VARIANT=asan tests
	@bash tests/run.sh build/asan unit

# --- style -----------------------------------------------------------------

FORMAT_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null)

format:
	clang-format -i $(FORMAT_FILES)

format-check:
	@clang-format --dry-run --Werror $(FORMAT_FILES) && echo "format-check: ok"

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance \
		--std=c11 --inline-suppr -D_GNU_SOURCE -Icommon --suppress=missingIncludeSystem \
		common services tools

# What readers of the event stream cost the saga (tests/ui/bench.sh):
# ROUNDS, RATE, DURATION, READERS, READER_PRIORITY=idle|normal.
bench-stream: build $(B)/bin/sse-readers
	@BUILD_DIR=$(B) bash tests/ui/bench.sh

# Open-loop load on the running stack (make up first, or it is started here).
# RATE=orders/s DURATION=s MIX=ok=90,declined=5,stock=5; report in .run/load/.
# STEP=N: steps of N orders/s until one is not sustainable (tests/load/step.sh).
# IDLE=S: no load, the cores each process uses over S seconds (tests/load/idle.sh).
loadtest: build
	@bash deploy/local/daemons.sh status >/dev/null 2>&1 || $(MAKE) --no-print-directory up
	@if [ -n "$(IDLE)" ]; then \
		IDLE_S=$(IDLE) bash tests/load/idle.sh; \
	elif [ -n "$(STEP)" ]; then \
		BUILD_DIR=$(B) STEP=$(STEP) DURATION=$(DURATION) MIX=$(MIX) bash tests/load/step.sh; \
	else \
		BUILD_DIR=$(B) RATE=$(RATE) DURATION=$(DURATION) MIX=$(MIX) bash tests/load/run.sh; \
	fi

# The machine's limits (PostgreSQL, Kafka) next to the saga's orders/s.
bench: build
	@bash deploy/local/daemons.sh status >/dev/null 2>&1 || $(MAKE) --no-print-directory up
	@BUILD_DIR=$(B) bash tests/load/bench.sh

# The plumbing's throughput and latency on this machine (a report, not a test).
bench-plumbing: build
	@bash deploy/local/stack.sh status >/dev/null 2>&1 || $(MAKE) --no-print-directory stack-up
	@set -a && . .run/stack.env && set +a && DATABASE_URL=$$TEST2_DATABASE_URL \
		build/release/bin/bench-plumbing

# The relay next to Debezium (Kafka Connect with the PostgreSQL connector and
# its outbox EventRouter, fetched from Maven Central once): throughput, hop
# latency and CPU per 1,000 events of each (a report in .run/bench/peer.md).
bench-peer: build
	@bash deploy/local/stack.sh status >/dev/null 2>&1 || $(MAKE) --no-print-directory stack-up
	@BUILD_DIR=$(B) bash tests/load/bench-peer.sh

# The saga under crashes and freezes, judged from the clients' history
# (tests/chaos/run.sh): SEED, RATE, DURATION, FAULTS; KAFKA_BROKERS=3 for a
# replicated Kafka. The report is in .run/chaos/latest/report.txt.
CHAOS_VARS := $(foreach v,SEED RATE DURATION FAULTS FREEZE_S,$(if $(filter command line environment,$(origin $(v))),$(v)=$($(v))))
chaos: build $(CHAOS_BINS)
	@BUILD_DIR=$(B) $(CHAOS_VARS) bash tests/chaos/run.sh

# Every saga consumer group re-consumes its topics from the start; the
# services' tables and the read model must not change (tests/chaos/replay.sh).
replay: build
	@BUILD_DIR=$(B) bash tests/chaos/replay.sh

# A new service from the template: make new-service NAME=x CONSUMES=topic PRODUCES=Event
new-service:
	@bash tools/new-service.sh "$(NAME)" "$(CONSUMES)" "$(PRODUCES)"

# compose.yaml: accepted by docker-compose and consistent with the code.
compose-check:
	@out=$$(/usr/bin/python3 tests/compose/check.py); rc=$$?; \
		printf '%s\n' "$$out" | grep -v '^ok ' ; exit $$rc

# .env for `docker compose up`, with fresh random passwords and API key.
compose-env:
	@sh deploy/compose/make-env.sh

# Where no registry is reachable: the Debian base from debootstrap (once),
# the servers' stand-ins from Debian's packages and Kafka's jars, their
# names added to .env (KAFKA_IMAGE=...), then the saga's own image.
compose-images: compose-env
	@bash deploy/compose/images.sh .env
	@docker-compose build

# The compose stack for real, as make test runs it (a Docker engine is
# started if none answers): up, the API and every saga path, refusals, a
# crash, the checker, the dashboard's metrics, the load test, down.
compose-test: install
	@bash tests/compose/run.sh

# The HTTP API against docs/openapi.yaml: schemathesis (from PyPI) against
# the running stack (make up first).
contract-test:
	@bash tests/contract/run.sh

# Every schema must stay compatible, both ways, with its released version;
# with REGISTRY=on, also by the running schema registry's rules (the
# stack's, from .run/stack.env). The status is the checker's: a pipe into
# tail would hide a failure.
schemas-check: $(B)/bin/schemas-check
	@if [ "$(REGISTRY)" = on ]; then \
		set -a; . .run/stack.env; set +a; \
		export SCHEMA_REGISTRY_USER=saga-admin SCHEMA_REGISTRY_PASSWORD="$$REGISTRY_ADMIN_PASSWORD"; \
		out=$$($(B)/bin/schemas-check --registry "$$REGISTRY_URL" schemas schemas/released); rc=$$?; \
	else out=$$($(B)/bin/schemas-check schemas schemas/released); rc=$$?; fi; \
		printf '%s\n' "$$out" | grep -v '^ok ' ; exit $$rc

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
