# pushpull — build, test and benchmark entry points.
#   make            build bin/pushpull-server, bin/pushpull-client, bin/pushpull-relay
#   make test       unit + integration tests; last line "N passed, N failed"
#   make test SANITIZE=address,undefined   the same under ASan+UBSan
#   make test-browser   the live page in headless chromium (tests/browser/)
#   make bench      bench/quick.scn: the four transports compared, results/
#   make bench-full bench/full.scn: every sweep and network profile
#   make bench-peers bench/peers.scn: pushpull-server and the four peers side by side
#   make bench-library bench/library.scn: socket.io beside express + ws, with churn
#   make docs       regenerate docs/TRANSPORTS.md's captures and figures (scripts/docs.py)
#   make report RESULTS=results/<folder>   re-render a folder's report.md
#   make bench-server   /poll req/s against nginx's static answer (wrk)
#   make bench-client   client poll rate against wrk; client vs server CPU/msg
#   make bench-scale    ~20k concurrent SSE + WS subscribers: RSS, connect rate, p99
#   make bench-fanout   one channel's fan-out against Nchan: CPU/msg, p99, RSS/sub
#   make bench-broker   bench/broker.scn: the Redis broker hop per transport; --workers 2 vs 1
#   make install        PREFIX (/usr/local), DESTDIR: programs, page files, docs

VERSION := 0.1.0
CC      ?= cc
CFLAGS  ?= -O2 -g
SANITIZE ?=

# Debian's libwslay-dev has no .pc file: mk/pkgconfig stands in (appended,
# so a system wslay.pc wins where one exists).
export PKG_CONFIG_PATH := $(if $(PKG_CONFIG_PATH),$(PKG_CONFIG_PATH):)$(CURDIR)/mk/pkgconfig

SERVER_PKGS := libmicrohttpd gnutls libevent jansson openssl wslay hiredis
CLIENT_PKGS := libcurl libevent libevent_pthreads jansson openssl wslay
RELAY_PKGS  := libevent
ALL_PKGS    := $(sort $(SERVER_PKGS) $(CLIENT_PKGS))

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wpointer-arith -Wformat=2 -Werror=implicit-function-declaration
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE -DPUSHPULL_VERSION='"$(VERSION)"' \
              $(WARN) $(CFLAGS) -Icommon -MMD -MP
ALL_LDFLAGS := $(LDFLAGS)

# A sanitized build lives apart so it never mixes objects with a plain one.
ifneq ($(SANITIZE),)
  ALL_CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
  ALL_LDFLAGS += -fsanitize=$(SANITIZE)
  OUT := build/san
else
  OUT := build/plain
endif
BIN := $(if $(SANITIZE),$(OUT)/bin,bin)

# make 4.3 does not pass exported variables to $(shell): name it here.
pkg_cflags = $(shell PKG_CONFIG_PATH='$(PKG_CONFIG_PATH)' pkg-config --cflags $(1) 2>/dev/null)
pkg_libs   = $(shell PKG_CONFIG_PATH='$(PKG_CONFIG_PATH)' pkg-config --libs $(1) 2>/dev/null)

Q = @
quiet = @printf '  %-6s %s\n' $(1) $(2);

COMMON_SRC := $(wildcard common/*.c)
SERVER_SRC := $(wildcard server/*.c)
CLIENT_SRC := $(wildcard client/*.c)
RELAY_SRC  := $(wildcard relay/*.c)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)

COMMON_OBJ := $(COMMON_SRC:%.c=$(OUT)/%.o)
SERVER_OBJ := $(SERVER_SRC:%.c=$(OUT)/%.o)
CLIENT_OBJ := $(CLIENT_SRC:%.c=$(OUT)/%.o)
RELAY_OBJ  := $(RELAY_SRC:%.c=$(OUT)/%.o)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(OUT)/tests/%)

.PHONY: FORCE all deps test test-browser bench bench-full bench-peers bench-library docs report bench-server bench-client bench-scale \
        bench-fanout bench-broker install clean
PROGRAMS := $(BIN)/pushpull-server $(BIN)/pushpull-client \
            $(BIN)/pushpull-relay
all: $(PROGRAMS)

# Install missing packages when root; otherwise name the apt-get line.
deps:
	$(Q)pkg-config --exists $(ALL_PKGS) && command -v curl >/dev/null \
	  && /usr/bin/python3 -c 'import websockets' 2>/dev/null \
	  || scripts/install-deps.sh

$(OUT)/common/%.o: common/%.c | deps
	$(call quiet,CC,$<)mkdir -p $(@D) && $(CC) $(ALL_CFLAGS) $(call pkg_cflags,jansson openssl) -c $< -o $@

$(OUT)/server/%.o: server/%.c | deps
	$(call quiet,CC,$<)mkdir -p $(@D) && $(CC) $(ALL_CFLAGS) $(call pkg_cflags,$(SERVER_PKGS)) -c $< -o $@

# The live page is part of the binary: mk/embed.sh writes web/'s bytes as C
# (the folder is a prerequisite too, so an added or removed file counts).
WEB_FILES := $(sort $(wildcard web/*.html web/*.js web/*.css web/*.svg))
WEB_OBJ   := $(OUT)/gen/web_files.o

$(OUT)/gen/web_files.c: $(WEB_FILES) web mk/embed.sh
	$(call quiet,GEN,$@)mkdir -p $(@D) && sh mk/embed.sh $(WEB_FILES) >$@.tmp && mv $@.tmp $@

$(WEB_OBJ): $(OUT)/gen/web_files.c | deps
	$(call quiet,CC,$<)$(CC) $(ALL_CFLAGS) -Iserver $(call pkg_cflags,libmicrohttpd) -c $< -o $@

# Server modules other than main.c go in an archive so unit tests can link
# exactly the modules they use.
SERVER_LIB_OBJ := $(filter-out $(OUT)/server/main.o,$(SERVER_OBJ)) $(WEB_OBJ)

$(OUT)/libcommon.a: $(COMMON_OBJ)
	$(call quiet,AR,$@)rm -f $@ && ar rcs $@ $^

$(OUT)/libserver.a: $(SERVER_LIB_OBJ)
	$(call quiet,AR,$@)rm -f $@ && ar rcs $@ $^

# The git revision goes into the client's result manifest. The header is
# rewritten only when the revision changes, so only report.o rebuilds.
GIT_REV := $(shell git rev-parse --short HEAD 2>/dev/null)$(shell git diff --quiet HEAD -- 2>/dev/null || echo -dirty)
$(OUT)/gitrev.h: FORCE
	$(Q)mkdir -p $(@D) && echo '#define PUSHPULL_GIT_REV "$(GIT_REV)"' > $@.tmp && \
	  { cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@; }
FORCE:
$(OUT)/client/report.o: $(OUT)/gitrev.h
$(OUT)/client/report.o: ALL_CFLAGS += $(if $(GIT_REV),-include $(OUT)/gitrev.h)

$(OUT)/client/%.o: client/%.c | deps
	$(call quiet,CC,$<)mkdir -p $(@D) && $(CC) $(ALL_CFLAGS) $(call pkg_cflags,$(CLIENT_PKGS)) -c $< -o $@

CLIENT_LIB_OBJ := $(filter-out $(OUT)/client/main.o,$(CLIENT_OBJ))

$(OUT)/libclient.a: $(CLIENT_LIB_OBJ)
	$(call quiet,AR,$@)rm -f $@ && ar rcs $@ $^

$(BIN)/pushpull-client: $(OUT)/client/main.o $(OUT)/libclient.a $(OUT)/libcommon.a
	$(call quiet,LD,$@)mkdir -p $(@D) && $(CC) $(ALL_LDFLAGS) $^ $(call pkg_libs,$(CLIENT_PKGS)) -lm -o $@

$(BIN)/pushpull-server: $(OUT)/server/main.o $(OUT)/libserver.a $(OUT)/libcommon.a
	$(call quiet,LD,$@)mkdir -p $(@D) && $(CC) $(ALL_LDFLAGS) $^ $(call pkg_libs,$(SERVER_PKGS)) -o $@

# The delay relay stands in for netem on kernels without it (network profiles).
$(OUT)/relay/%.o: relay/%.c | deps
	$(call quiet,CC,$<)mkdir -p $(@D) && $(CC) $(ALL_CFLAGS) $(call pkg_cflags,$(RELAY_PKGS)) -c $< -o $@

RELAY_LIB_OBJ := $(filter-out $(OUT)/relay/relay.o,$(RELAY_OBJ))

$(OUT)/librelay.a: $(RELAY_LIB_OBJ)
	$(call quiet,AR,$@)rm -f $@ && ar rcs $@ $^

$(BIN)/pushpull-relay: $(OUT)/relay/relay.o $(OUT)/librelay.a $(OUT)/libcommon.a
	$(call quiet,LD,$@)mkdir -p $(@D) && $(CC) $(ALL_LDFLAGS) $^ $(call pkg_libs,$(RELAY_PKGS)) -o $@

# bench/rawsub.c: the minimal raw-socket subscriber make bench-client
# measures the client against (plain libc, no library).
RAWSUB := $(OUT)/bench/rawsub
$(RAWSUB): bench/rawsub.c
	$(call quiet,CC,$<)mkdir -p $(@D) && $(CC) $(ALL_CFLAGS) $< $(ALL_LDFLAGS) -lm -o $@

TEST_LIBS := $(OUT)/libserver.a $(OUT)/libclient.a $(OUT)/librelay.a $(OUT)/libcommon.a

$(OUT)/tests/%: tests/unit/%.c tests/unit/unit.h $(TEST_LIBS) | deps
	$(call quiet,CC,$<)mkdir -p $(@D) && $(CC) $(ALL_CFLAGS) -Iserver -Iclient -Irelay -Itests/unit \
	  $(call pkg_cflags,$(ALL_PKGS)) $< $(TEST_LIBS) \
	  $(ALL_LDFLAGS) $(call pkg_libs,$(ALL_PKGS)) -lm -o $@

test: all $(UNIT_BIN)
	$(Q)PUSHPULL_BIN=$(CURDIR)/$(BIN) PUSHPULL_UNIT=$(CURDIR)/$(OUT)/tests \
	  SANITIZE='$(SANITIZE)' tests/run.sh

# Debian's chromium driven by playwright-core (tests/browser/node_modules,
# installed from its lockfile); not part of `make test`.
test-browser: all
	$(Q)scripts/install-deps.sh --browser && \
	  PUSHPULL_BIN=$(CURDIR)/$(BIN) node tests/browser/test_page.mjs

# The scenario runner (scripts/bench.py, bench/README.md) writes
# results/<UTC time>-<scenario>/ and its report.
bench: all
	$(Q)scripts/install-deps.sh --bench && PUSHPULL_BIN=$(CURDIR)/$(BIN) /usr/bin/python3 scripts/bench.py bench/quick.scn

bench-full: all
	$(Q)scripts/install-deps.sh --bench && PUSHPULL_BIN=$(CURDIR)/$(BIN) /usr/bin/python3 scripts/bench.py bench/full.scn

# The same workloads on pushpull-server and the peers (peers/NAME/run;
# install-deps installs Nginx and Nchan), interleaved; under 6 minutes.
bench-peers: all
	$(Q)scripts/install-deps.sh --bench && PUSHPULL_BIN=$(CURDIR)/$(BIN) /usr/bin/python3 scripts/bench.py bench/peers.scn

# socket.io against express + ws on node, with and without churn (the
# guide's "A library on top"); about 2 minutes.
bench-library: all
	$(Q)scripts/install-deps.sh --bench && PUSHPULL_BIN=$(CURDIR)/$(BIN) /usr/bin/python3 scripts/bench.py bench/library.scn

# The guide's generated parts: traffic captured from the server just built,
# figures from results/reference/{quick,peers,library} (scripts/docs.py).
docs: all
	$(Q)PUSHPULL_BIN=$(CURDIR)/$(BIN) /usr/bin/python3 scripts/docs.py

report:
	$(if $(RESULTS),,$(error usage: make report RESULTS=results/<folder>))
	$(Q)/usr/bin/python3 scripts/report.py $(RESULTS)

bench-server: all
	$(Q)scripts/install-deps.sh --bench && PUSHPULL_BIN=$(CURDIR)/$(BIN) scripts/bench-server.sh

bench-client: all $(RAWSUB)
	$(Q)scripts/install-deps.sh --bench && PUSHPULL_BIN=$(CURDIR)/$(BIN) RAWSUB=$(CURDIR)/$(RAWSUB) scripts/bench-client.sh

# ~20 000 concurrent SSE + WebSocket subscribers for 60 s (scripts/bench-scale.py;
# SCALE_ARGS passes its flags, e.g. SCALE_ARGS="--sse 5000 --ws 5000").
bench-scale: all
	$(Q)PUSHPULL_BIN=$(CURDIR)/$(BIN) /usr/bin/python3 scripts/bench-scale.py $(SCALE_ARGS)

# One channel's SSE and WebSocket fan-out, pushpull-server against Nchan
# (peers/nchan), alternating, ~5 minutes (scripts/bench-fanout.py;
# FANOUT_ARGS passes its flags, e.g. FANOUT_ARGS="--points 100x1000").
bench-fanout: all
	$(Q)PUSHPULL_BIN=$(CURDIR)/$(BIN) /usr/bin/python3 scripts/bench-fanout.py $(FANOUT_ARGS)

# The broker hop per transport (in memory, one instance through Redis, two
# instances) and --workers 2 beside one process: the broker profiles, each
# with its own redis-server; under 8 minutes.
bench-broker: all
	$(Q)scripts/install-deps.sh --bench && PUSHPULL_BIN=$(CURDIR)/$(BIN) /usr/bin/python3 scripts/bench.py bench/broker.scn

# ---- hardening: fuzzing and valgrind (issue 6) ------------------------------
#   make fuzz          build the libFuzzer drivers (tests/fuzz/) with clang into
#                      build/fuzz/ and run each for FUZZ_SECONDS (60) on a copy
#                      of its committed corpus (build/fuzz/corpus/<driver>/)
#   make fuzz-smoke    the same, 15 s per driver (CI)
#   make test-valgrind the integration suite, the server under valgrind memcheck
# The drivers and the modules they reach get coverage, ASan and UBSan; the
# rest of the build never sees clang. Crash inputs land in build/fuzz/crashes/.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_OUT     := build/fuzz
FUZZ_PKGS    := jansson openssl wslay
FUZZ_CFLAGS   = -std=c11 -D_GNU_SOURCE $(WARN) -g -O1 -fno-omit-frame-pointer \
                -fsanitize=address,undefined -fno-sanitize-recover=all \
                -Icommon -Iclient -Iserver -MMD -MP $(call pkg_cflags,$(FUZZ_PKGS))
FUZZ_NAMES   := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
# What the drivers drive: common/, the client's SSE parser and socket.io
# packet decoder, the server's bus (with the cursor check and fanout), the
# WebSocket session (with its queue and the shared messages), the server's
# edge checks.
FUZZ_MOD_OBJ := $(patsubst %.c,$(FUZZ_OUT)/obj/%.o,$(COMMON_SRC) client/sse_parser.c client/sio_packet.c \
                  server/bus.c server/cursor.c server/fanout.c server/edge.c \
                  server/wssession.c server/outq.c server/shbuf.c server/wire.c \
                  server/ratebucket.c)

.PHONY: fuzz fuzz-smoke fuzz-build fuzz-deps test-valgrind
fuzz-deps:
	$(Q)scripts/install-deps.sh --fuzz

$(FUZZ_OUT)/obj/%.o: %.c | fuzz-deps
	$(call quiet,FUZZCC,$<)mkdir -p $(@D) && \
	  $(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

# A driver's object is an intermediate of the chain: keep it, or every make
# would delete and rebuild it.
.PRECIOUS: $(FUZZ_OUT)/obj/%.o
# An archive, so a driver links only the modules it calls.
$(FUZZ_OUT)/libfuzzmods.a: $(FUZZ_MOD_OBJ)
	$(call quiet,AR,$@)rm -f $@ && ar rcs $@ $^

$(FUZZ_OUT)/bin/%: $(FUZZ_OUT)/obj/tests/fuzz/%.o $(FUZZ_OUT)/libfuzzmods.a
	$(call quiet,LD,$@)mkdir -p $(@D) && $(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer \
	  $^ $(call pkg_libs,$(FUZZ_PKGS)) -o $@

fuzz-build: $(FUZZ_NAMES:%=$(FUZZ_OUT)/bin/%)

fuzz: fuzz-build
	$(Q)FUZZ_OUT=$(FUZZ_OUT) FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh $(FUZZ_NAMES)

fuzz-smoke:
	$(Q)$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=15

# Every server the harness starts runs under memcheck with its own log; the
# harness checks each log (no definite leak, no invalid access) as a test.
# Unit tests are left out: they start no server.
VALGRIND_OUT := build/valgrind
test-valgrind: all
	$(Q)scripts/install-deps.sh --valgrind && rm -rf $(VALGRIND_OUT) && mkdir -p $(VALGRIND_OUT) && \
	  PUSHPULL_BIN=$(CURDIR)/$(BIN) PUSHPULL_UNIT=$(CURDIR)/$(VALGRIND_OUT)/no-unit-tests \
	  PUSHPULL_WRAP='valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 --log-file=$(CURDIR)/$(VALGRIND_OUT)/server.%p.log' \
	  tests/run.sh
# ---- end of hardening -------------------------------------------------------

# The page is inside pushpull-server (mk/embed.sh); its files are installed
# as well, for a front proxy that would rather serve them itself.
PREFIX  ?= /usr/local
DESTDIR ?=
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/pushpull/web \
	  $(DESTDIR)$(PREFIX)/share/doc/pushpull
	install -m 755 $(PROGRAMS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(WEB_FILES) $(DESTDIR)$(PREFIX)/share/pushpull/web/
	install -m 644 README.md docs/*.md $(DESTDIR)$(PREFIX)/share/doc/pushpull/

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
