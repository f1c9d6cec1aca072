# kumo build. Sources are found by wildcard so adding a module never needs an edit here:
#   src/<layer>/*.c   -> build/libkumo.a
#   cli/*.c           -> build/kumo
#   tests/<layer>/test_*.c -> build/tests/<layer>/test_* (each a cmocka program)
#   fuzz/fuzz_*.c     -> build/fuzz/fuzz_* (clang libFuzzer; `make fuzz`)
CC      ?= cc
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
WARN     = -std=c11 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
DEFS     = -D_GNU_SOURCE
INC      = -Iinclude -Isrc
LIBS     = -lcjson -lpcre2-8 -lpthread -lm
SAN      =
BUILD   ?= build

ALL_CFLAGS = $(WARN) $(DEFS) $(INC) $(CFLAGS) $(SAN)

LIB_SRC  = $(sort $(wildcard src/*/*.c))
CLI_SRC  = $(sort $(wildcard cli/*.c))
TEST_SRC = $(sort $(wildcard tests/*/test_*.c))
TEST_SUPPORT_SRC = $(sort $(wildcard tests/support/*.c))
FUZZ_SRC = $(sort $(wildcard fuzz/fuzz_*.c))

LIB_OBJ  = $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ  = $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_SUPPORT_OBJ = $(TEST_SUPPORT_SRC:%.c=$(BUILD)/obj/%.o)
TEST_BIN = $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
LIB      = $(BUILD)/libkumo.a
KUMO     = $(BUILD)/kumo

.PHONY: all test test-asan fuzz clean check-clang
all: $(LIB) $(KUMO) $(TEST_BIN)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(KUMO): $(CLI_OBJ) $(LIB)
	$(CC) $(ALL_CFLAGS) -o $@ $(CLI_OBJ) $(LIB) $(LIBS)

$(BUILD)/tests/%: tests/%.c $(TEST_SUPPORT_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/support -MMD -MP -o $@ $< $(TEST_SUPPORT_OBJ) $(LIB) -lcmocka $(LIBS)

# `make test` runs every test program (and the CLI tests, which use build/kumo) and prints
# one summary line "N passed, N failed".
test: all
	@KUMO_BUILD=$(BUILD) scripts/run-tests $(TEST_BIN)

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer, in its own build dir.
test-asan:
	$(MAKE) BUILD=build-asan OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" test

# libFuzzer targets (clang only): build/fuzz/fuzz_<name>. Run with scripts/fuzz NAME SECONDS.
FUZZ_FLAGS = -std=c11 -D_GNU_SOURCE $(INC) -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
fuzz: $(FUZZ_SRC:fuzz/%.c=build/fuzz/%)
build/fuzz/%: fuzz/%.c $(LIB_SRC)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -o $@ $< $(LIB_SRC) $(LIBS)

# Warning-free under clang too.
check-clang:
	$(MAKE) BUILD=build-clang CC=clang all

clean:
	rm -rf build build-asan build-clang

-include $(shell find $(BUILD)/obj $(BUILD)/tests -name '*.d' 2>/dev/null)
