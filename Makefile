# caisse — build, test and benchmark entry points.
#   make            build every binary into build/bin
#   make test       the whole test suite (what CI runs)
#   make browser    the hosted checkout page in a real browser (tests/browser/run.sh)
#   make fuzz       every libFuzzer harness for FUZZ_SECONDS (tests/fuzz/run.sh)
#   make up / down  the local stack (PostgreSQL, Kafka, the four services)
#   make bench      the benchmarks (bench/run.sh): table in README.md, bench/results/
#   make format     clang-format the C sources

CC      ?= cc
BUILD   ?= build
OPT     ?= -O2
PKGS     = rdkafka libmicrohttpd jansson libpq libcurl libcrypto icu-i18n icu-uc
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
WARN     = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wformat=2 -Wno-format-nonliteral
CFLAGS  ?= $(OPT) -g
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(EXTRA_CFLAGS) -Icommon -I$(BUILD)/gen $(PKG_CFLAGS) -MMD -MP
LDLIBS   = $(PKG_LIBS) -lpthread -lm

SERVICES  = gateway session-worker expiry-worker webhook-worker
BINARIES  = $(addprefix $(BUILD)/bin/caisse-,$(SERVICES) admin)
# common/ is layered (ARCHITECTURE.md): core <- infra <- model, one library.
COMMON_SRC = $(wildcard common/core/*.c common/infra/*.c common/model/*.c)
MIGRATIONS = $(sort $(wildcard common/migrations/*.sql))
COMMON_OBJ = $(COMMON_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/version.o
# The version /metrics reports (caisse_build_info): git describe at build time.
CAISSE_VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo unknown)

.PHONY: FORCE all clean test unit unit-asan fuzz fuzz-build fuzz-bins fuzz-check integration browser quickstart clang-check compose-check k8s-check structure-check format up down deps bench bench-tools
all: $(BINARIES)

$(BUILD)/gen/migrations.c: common/migrations/embed.sh $(MIGRATIONS)
	@mkdir -p $(dir $@)
	$(Q)sh common/migrations/embed.sh $(MIGRATIONS) > $@.tmp && mv $@.tmp $@

# The gateway serves its OpenAPI document (GET /openapi.json) from its own binary.
$(BUILD)/gen/openapi_document.c: gateway/openapi_embed.sh common/contracts/openapi.json
	@mkdir -p $(dir $@)
	$(Q)sh gateway/openapi_embed.sh common/contracts/openapi.json > $@.tmp && mv $@.tmp $@

# V=1 shows the full compiler command lines.
ifeq ($(V),1)
Q =
else
Q = @
endif

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

# Rewritten only when the version changed, so an unchanged build relinks nothing.
$(BUILD)/gen/version.c: FORCE
	@mkdir -p $(dir $@)
# One temporary file per make process: make test runs the compose and k8s checks beside
# quickstart and browser, and two makes sharing one .tmp lost it to each other.
	$(Q)tmp=$@.tmp.$$$$; printf '#include "core/metrics.h"\nconst char metrics_build_version[] = "%s";\n' \
	    '$(CAISSE_VERSION)' >$$tmp && \
	if cmp -s $$tmp $@; then rm -f $$tmp; else mv -f $$tmp $@; fi

$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

# The migrations are the admin tool's: their table type is declared in admin/migrate.h.
$(BUILD)/obj/gen/migrations.o: ALL_CFLAGS += -Iadmin

# The hosted checkout page's templates, CSS, JavaScript and gettext catalogues
# (gateway/page/) are compiled into the gateway too.
PAGE_FILES = $(sort $(wildcard gateway/page/*.html gateway/page/*.css gateway/page/*.js gateway/page/*.po))
$(BUILD)/gen/page_files.c: gateway/page/embed.sh $(PAGE_FILES)
	@mkdir -p $(dir $@)
	$(Q)sh gateway/page/embed.sh $(PAGE_FILES) > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/gen/page_files.o: $(BUILD)/gen/page_files.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -Igateway -c $< -o $@

$(BUILD)/obj/gen/openapi_document.o: $(BUILD)/gen/openapi_document.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -Igateway -c $< -o $@

$(BUILD)/lib/libcaisse.a: $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(Q)$(AR) rcs $@ $^

# Each service links its own folder's objects with the common library.
define service_rule
$(BUILD)/bin/caisse-$(1): $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard $(1)/*.c)) $(BUILD)/lib/libcaisse.a
	@mkdir -p $$(dir $$@)
	@$$(if $$(Q),echo "  LINK    $$@")
	$$(Q)$$(CC) $$(ALL_CFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach s,$(SERVICES),$(eval $(call service_rule,$(s))))
$(BUILD)/bin/caisse-gateway: $(BUILD)/obj/gen/openapi_document.o $(BUILD)/obj/gen/page_files.o

$(BUILD)/bin/caisse-admin: $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard admin/*.c)) $(BUILD)/obj/gen/migrations.o $(BUILD)/lib/libcaisse.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

# ---- tests -------------------------------------------------------------------
# Unit tests mirror the source tree: tests/unit/common/core/uuid.c tests common/core/uuid.c,
# tests/unit/gateway/validate.c tests gateway/validate.c.
UNIT_SRC = $(sort $(wildcard tests/unit/*/*.c tests/unit/common/*/*.c))
UNIT_BIN = $(BUILD)/bin/unit-tests
# A service with unit tests (tests/unit/<service>/) links its own objects into
# the test binary too, all but main.o (the test binary has its own main).
UNIT_SERVICES = $(filter $(SERVICES),$(notdir $(patsubst %/,%,$(sort $(dir $(UNIT_SRC))))))
UNIT_SERVICE_OBJ = $(foreach s,$(UNIT_SERVICES),$(patsubst %.c,$(BUILD)/obj/%.o,$(filter-out $(s)/main.c,$(wildcard $(s)/*.c))))
UNIT_SERVICE_OBJ += $(if $(filter gateway,$(UNIT_SERVICES)),$(BUILD)/obj/gen/openapi_document.o $(BUILD)/obj/gen/page_files.o)

$(UNIT_BIN): $(UNIT_SRC:%.c=$(BUILD)/obj/%.o) $(UNIT_SERVICE_OBJ) $(BUILD)/lib/libcaisse.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS) -lcriterion

INTEGRATION_SRC = $(sort $(wildcard tests/integration/*.c))
INTEGRATION_BIN = $(BUILD)/bin/integration-tests
# Loaded into a gateway of a test's own (LD_PRELOAD) to make name lookups slow.
SLOW_DNS_SO = $(BUILD)/lib/test-slow-getaddrinfo.so
$(SLOW_DNS_SO): tests/integration/preload/slow_getaddrinfo.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) -fPIC -shared -o $@ $< -ldl

$(INTEGRATION_BIN): $(INTEGRATION_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/lib/libcaisse.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS) -lcriterion

# ---- fuzzing -------------------------------------------------------------------
# libFuzzer harnesses, one per target, mirroring the source (tests/fuzz/gateway/
# routes.c fuzzes gateway/routes.c), built by clang under ASan and UBSan into
# build/fuzz/bin/fuzz/. A harness of a program links that program's objects (not its
# main); the gateway's also link tests/fuzz/fake_mhd.c, which answers http.c's few
# libmicrohttpd calls in memory. tests/fuzz/run.sh runs them (README, Development).
FUZZ_SECONDS ?= 60
FUZZ_CHECK_SECONDS ?= 1
FUZZ_SRC = $(sort $(wildcard $(addprefix tests/fuzz/,$(addsuffix /*.c,$(SERVICES))) tests/fuzz/common/*/*.c))
FUZZ_NAMES = $(FUZZ_SRC:tests/fuzz/%.c=%)
FUZZ_SANITIZE = -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
fuzz_program = $(firstword $(subst /, ,$(1)))
fuzz_program_obj = $(if $(filter $(SERVICES),$(call fuzz_program,$(1))),$(patsubst %.c,$(BUILD)/obj/%.o,$(filter-out $(call fuzz_program,$(1))/main.c,$(wildcard $(call fuzz_program,$(1))/*.c))))
fuzz_extra_obj = $(if $(filter gateway,$(call fuzz_program,$(1))),$(BUILD)/obj/gen/openapi_document.o $(BUILD)/obj/gen/page_files.o $(BUILD)/obj/tests/fuzz/fake_mhd.o $(BUILD)/obj/tests/fuzz/jsonb_model.o)

define fuzz_rule
$(BUILD)/bin/fuzz/$(1): $(BUILD)/obj/tests/fuzz/$(1).o $(BUILD)/obj/tests/fuzz/fuzz_input.o $(call fuzz_program_obj,$(1)) $(call fuzz_extra_obj,$(1)) $(BUILD)/lib/libcaisse.a
	@mkdir -p $$(dir $$@)
	@$$(if $$(Q),echo "  LINK    $$@")
	$$(Q)$$(CC) $$(ALL_CFLAGS) -fsanitize=fuzzer -o $$@ $$^ $$(LDLIBS)
endef
$(foreach f,$(FUZZ_NAMES),$(eval $(call fuzz_rule,$(f))))

fuzz-bins: $(FUZZ_NAMES:%=$(BUILD)/bin/fuzz/%)

# clang's sanitizer and libFuzzer runtimes are a package of their own (libclang-rt-dev).
fuzz-build:
	@bash deploy/install-deps.sh
	@$(MAKE) --no-print-directory BUILD=build/fuzz CC=clang OPT=-O1 EXTRA_CFLAGS="$(FUZZ_SANITIZE)" fuzz-bins

# Each harness for FUZZ_SECONDS (make fuzz FUZZ_SECONDS=600 FUZZ_TARGETS=gateway/routes);
# what it finds is kept under build/fuzz/artifacts/, its corpus grows in build/fuzz/corpus/.
fuzz: fuzz-build
	bash tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# make test's bounded pass: the seed corpora, then FUZZ_CHECK_SECONDS of fuzzing per
# harness (libFuzzer's clock counts whole seconds: about 2 s each, 40 s for all);
# fails on any crash, leak or sanitizer report.
fuzz-check: fuzz-build
	bash tests/fuzz/run.sh --check $(FUZZ_CHECK_SECONDS) $(FUZZ_TARGETS)

# ---- benchmarks ----------------------------------------------------------------
# The benchmark's own programs (bench/): the HTTP ceiling links the gateway's
# objects (not its main) to start libmicrohttpd through the gateway's own
# server_mhd_start; the Kafka lag probe links the common library for its
# Kafka security settings; the load client and the webhook sink stand alone.
BENCH_TOOLS = $(addprefix $(BUILD)/bin/bench-,http-ceiling loadgen webhook-sink kafka-lag)
GATEWAY_OBJ = $(patsubst %.c,$(BUILD)/obj/%.o,$(filter-out gateway/main.c,$(wildcard gateway/*.c))) \
              $(BUILD)/obj/gen/openapi_document.o $(BUILD)/obj/gen/page_files.o

$(BUILD)/obj/bench/http_ceiling.o: ALL_CFLAGS += -Igateway

$(BUILD)/bin/bench-http-ceiling: $(BUILD)/obj/bench/http_ceiling.o $(GATEWAY_OBJ) $(BUILD)/lib/libcaisse.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/bench-loadgen: $(BUILD)/obj/bench/loadgen.o
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/bench-webhook-sink: $(BUILD)/obj/bench/webhook_sink.o
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/bench-kafka-lag: $(BUILD)/obj/bench/kafka_lag.o $(BUILD)/lib/libcaisse.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

bench-tools: $(BENCH_TOOLS)

# Optimized binaries in build/bench, a stack of its own, every benchmark, the
# table in README.md and bench/results/latest.json (see README, Benchmarks).
bench:
	bash bench/run.sh

deps:
	@bash deploy/install-deps.sh

unit: $(UNIT_BIN)
	$(UNIT_BIN) --jobs 2

# The same unit tests under AddressSanitizer and UndefinedBehaviorSanitizer.
unit-asan:
	$(MAKE) --no-print-directory BUILD=build/asan OPT=-O1 \
	    EXTRA_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	    build/asan/bin/unit-tests
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 build/asan/bin/unit-tests --jobs 2

# The dependency rule between common/'s layers and the programs (ARCHITECTURE.md), and
# documents whose links stay inside the repository.
structure-check:
	bash tests/structure/layers.sh
	bash tests/structure/links.sh

# Everything must also build clean under clang, and with NDEBUG as make bench builds it (a
# variable read only by an assert() is unused there). At -O0: clang's warnings come from its
# front end whatever the optimization, and this build only has to compile.
clang-check:
	$(MAKE) --no-print-directory BUILD=build/clang CC=clang OPT=-O0 EXTRA_CFLAGS=-DNDEBUG all bench-tools build/clang/bin/unit-tests build/clang/bin/integration-tests

integration: all $(INTEGRATION_BIN) $(SLOW_DNS_SO)
	bash tests/integration/run.sh

quickstart: all
	bash tests/quickstart/run.sh

# The hosted checkout page in a real browser (Debian's chromium, npm playwright-core) against
# a stack of its own; screenshots of every state into build/screenshots/ (tests/browser/run.sh).
browser: all
	bash tests/browser/run.sh

# No container engine runs here: the compose file and the Dockerfile are validated, not run
# (deploy/OPERATIONS.md, "What the checks assert").
compose-check: all
	bash deploy/check-compose.sh
	bash deploy/docker/check-image.sh

# Renders and validates every Kubernetes overlay (pinned tools in .cache/deploy-tools/), and
# checks deploy/OPERATIONS.md's configuration reference against the binaries' --help.
k8s-check: all
	bash deploy/k8s/check.sh

# The README's test command: installs what is missing, builds, then runs every suite. The
# integration suite (two stacks, tests/integration/run.sh) mostly waits on round trips and
# restarts, a third of two cores busy over its ten minutes when it ran alone, so it runs in
# the background from the start with the static checks (compose-check, k8s-check: no stack,
# no port), while the CPU-bound part runs in the foreground under nice (the unit suites and
# the ASan+UBSan, libFuzzer and clang builds, each using every core, TEST_JOBS) so that the
# stacks' processes keep the CPU when they want it; then the quick start and the browser
# suite (stacks of their own, ports apart). The background suites' output is shown once
# everything is done; any failure fails the whole.
TEST_JOBS ?= $(shell nproc 2>/dev/null || echo 2)
NICE = nice -n 10
test:
	@bash deploy/install-deps.sh
	$(MAKE) --no-print-directory -j$(TEST_JOBS) all $(UNIT_BIN) $(INTEGRATION_BIN) $(SLOW_DNS_SO)
	$(MAKE) --no-print-directory structure-check
	@$(MAKE) --no-print-directory integration >$(BUILD)/integration.log 2>&1 & integration=$$!; \
	  { $(MAKE) --no-print-directory compose-check && $(MAKE) --no-print-directory k8s-check; } \
	    >$(BUILD)/static-checks.log 2>&1 & checks=$$!; \
	  trap 'kill $$integration $$checks 2>/dev/null' INT TERM; \
	  $(NICE) $(MAKE) --no-print-directory unit && \
	  $(NICE) $(MAKE) --no-print-directory -j$(TEST_JOBS) unit-asan && \
	  $(NICE) $(MAKE) --no-print-directory -j$(TEST_JOBS) fuzz-check && \
	  $(NICE) $(MAKE) --no-print-directory -j$(TEST_JOBS) clang-check && \
	  $(MAKE) --no-print-directory quickstart && $(MAKE) --no-print-directory browser; suites=$$?; \
	  wait $$checks; static=$$?; \
	  wait $$integration; integrated=$$?; \
	  echo "--- compose-check and k8s-check (run in the background):"; \
	  cat $(BUILD)/static-checks.log; \
	  echo "--- integration (run in the background; $(BUILD)/integration.log):"; \
	  cat $(BUILD)/integration.log; \
	  [ $$suites -eq 0 ] || echo "a foreground suite FAILED (output above the background suites')" >&2; \
	  [ $$static -eq 0 ] || echo "compose-check or k8s-check FAILED (output above)" >&2; \
	  [ $$integrated -eq 0 ] || echo "the integration suite FAILED (output above)" >&2; \
	  [ $$suites -eq 0 ] && [ $$static -eq 0 ] && [ $$integrated -eq 0 ]

# The README's run command: installs what is missing, builds, starts everything.
up:
	@bash deploy/install-deps.sh
	@$(MAKE) --no-print-directory all
	@bash deploy/stack.sh up

down:
	bash deploy/stack.sh down

format:
	clang-format -i $(shell git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
