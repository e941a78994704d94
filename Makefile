# SPDX-License-Identifier: MIT
# stagetrace top-level build. Out-of-tree into build/, dependency files via
# -MMD -MP, quiet unless V=1. Generated code (vmlinux.h, skeletons, protobuf)
# lives in build/, never in git.

.DELETE_ON_ERROR:
.SUFFIXES:

O        ?= build
V        ?= 0
CC       ?= gcc
CLANG    ?= clang
BPFTOOL  ?= bpftool
PROTOC_C ?= protoc-c

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

HOST_ARCH := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
ARCH     := $(HOST_ARCH)

# Cross build (tests/vm/run-arm64.sh): `make CROSS=aarch64-linux-gnu-
# ARCH=arm64 O=build-arm64` compiles C with the cross compiler against the
# multiarch arm64 -dev packages; BPF stays clang -target bpf, built for the
# target's pt_regs layout (-D__TARGET_ARCH_$(ARCH)). The host's BTF has no
# arm64 register types, so a cross vmlinux.h gets bpf/vmlinux_arm64.h
# appended (types only, the layout of arm64's UAPI user_pt_regs).
CROSS    ?=
ifneq ($(CROSS),)
CC       := $(CROSS)gcc
AR       := $(CROSS)ar
endif
AR       ?= ar

CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter \
            -Wno-missing-field-initializers -D_GNU_SOURCE
CPPFLAGS += -I. -I$(O) -I$(O)/proto -Icommon -MMD -MP
LDLIBS   += -lbpf -lelf -lz -lnng -lprotobuf-c -luv -ljson-c -lsqlite3 -lmnl -lpthread -lm

BPF_CFLAGS = -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -I$(O) -I. -Icommon \
             -Wall -Werror -Wno-unused-function -mcpu=v3

COMMON_SRCS    := $(sort $(wildcard common/*.c))
AGENT_SRCS     := $(sort $(wildcard agent/*.c))
COLLECTOR_SRCS := $(sort $(wildcard collector/*.c))
CLI_SRCS       := $(sort $(wildcard cli/*.c))
PROTOS         := $(sort $(wildcard proto/*.proto))
BPF_SRCS       := $(sort $(wildcard bpf/*.bpf.c))
UNIT_SRCS      := $(sort $(wildcard tests/unit/*_test.c))
# Every tests/tools/*.c is a program of its own, except vmsim_*.c: the
# parts of vmsim, which is linked from vmsim.c and those (rule below).
VMSIM_PARTS    := $(sort $(wildcard tests/tools/vmsim_*.c))
TOOL_SRCS      := $(filter-out $(VMSIM_PARTS),$(sort $(wildcard tests/tools/*.c)))

PROTO_C   := $(patsubst proto/%.proto,$(O)/proto/%.pb-c.c,$(PROTOS))
PROTO_H   := $(PROTO_C:.c=.h)
PROTO_OBJ := $(PROTO_C:.c=.o)
BPF_OBJS  := $(patsubst bpf/%.bpf.c,$(O)/bpf/%.bpf.o,$(BPF_SRCS))
SKELS     := $(patsubst bpf/%.bpf.c,$(O)/%.skel.h,$(BPF_SRCS))

COMMON_OBJS    := $(patsubst %.c,$(O)/%.o,$(COMMON_SRCS)) $(PROTO_OBJ)
AGENT_OBJS     := $(patsubst %.c,$(O)/%.o,$(AGENT_SRCS))
COLLECTOR_OBJS := $(patsubst %.c,$(O)/%.o,$(COLLECTOR_SRCS))
CLI_OBJS       := $(patsubst %.c,$(O)/%.o,$(CLI_SRCS))
UNIT_BINS      := $(patsubst tests/unit/%.c,$(O)/tests/%,$(UNIT_SRCS))
TOOL_BINS      := $(patsubst tests/tools/%.c,$(O)/tests/tools/%,$(TOOL_SRCS))

# Objects that contain main(): excluded from the libraries unit tests link.
MAIN_OBJS := $(O)/agent/main.o $(O)/collector/main.o $(O)/cli/main.o
AGENT_LIB_OBJS     := $(filter-out $(MAIN_OBJS),$(AGENT_OBJS))
COLLECTOR_LIB_OBJS := $(filter-out $(MAIN_OBJS),$(COLLECTOR_OBJS))
CLI_LIB_OBJS       := $(filter-out $(MAIN_OBJS),$(CLI_OBJS))

# Generated sources are kept (not deleted as intermediates); everything
# else is a plain target, so a missing object is always rebuilt.
.SECONDARY: $(PROTO_C) $(PROTO_H) $(SKELS) $(BPF_OBJS) $(O)/vmlinux.h

BINS := $(O)/stagetrace-agent $(O)/stagetrace-collector $(O)/stagetrace

.PHONY: all deps test unit bpftest e2e vmtest vmtest-arm64 bench bench-store bench-clock demo clean tools
all: $(BINS) tools

tools: $(TOOL_BINS)

# ---- generated: vmlinux.h, protobuf, BPF, skeletons -------------------------
$(O)/vmlinux.h:
	$(call msg,GEN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)if [ -r /sys/kernel/btf/vmlinux ]; then \
		$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@; \
	else \
		echo "note: no kernel BTF; using bpf/vmlinux_fallback.h.xz" >&2; \
		xz -dc bpf/vmlinux_fallback.h.xz > $@; \
	fi
	$(Q)if [ "$(ARCH)" != "$(HOST_ARCH)" ] && [ -r bpf/vmlinux_$(ARCH).h ]; then \
		cat bpf/vmlinux_$(ARCH).h >> $@; \
	fi

$(O)/proto/%.pb-c.c $(O)/proto/%.pb-c.h: proto/%.proto
	$(call msg,PROTOC,$<)
	$(Q)mkdir -p $(O)/proto
	$(Q)$(PROTOC_C) --proto_path=proto --c_out=$(O)/proto $<

$(O)/bpf/%.bpf.o: bpf/%.bpf.c $(O)/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -MMD -MP -c $< -o $@

$(O)/%.skel.h: $(O)/bpf/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@

# ---- C objects -------------------------------------------------------------
$(O)/%.pb-c.o: $(O)/%.pb-c.c
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -Wno-error -c $< -o $@

$(O)/%.o: %.c | $(PROTO_H) $(SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(O)/libcommon.a: $(COMMON_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@; $(AR) rcs $@ $^

$(O)/stagetrace-agent: $(AGENT_OBJS) $(O)/libcommon.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(O)/stagetrace-collector: $(COLLECTOR_OBJS) $(O)/libcommon.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(O)/stagetrace: $(CLI_OBJS) $(O)/libcommon.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

# Unit tests link everything but the mains, so a test of any module can run.
$(O)/tests/%_test: $(O)/tests/unit/%_test.o $(AGENT_LIB_OBJS) $(COLLECTOR_LIB_OBJS) $(CLI_LIB_OBJS) $(O)/libcommon.a
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -lcmocka -o $@

# Per-tool extra libraries, if a tool ever needs one: LDLIBS_<tool>.
$(O)/tests/tools/%: $(O)/tests/tools/%.o $(O)/libcommon.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) $(LDLIBS_$*) -o $@

# vmsim is the one tool made of several files (see tests/tools/vmsim.h).
$(O)/tests/tools/vmsim: $(O)/tests/tools/vmsim.o $(patsubst %.c,$(O)/%.o,$(VMSIM_PARTS)) $(O)/libcommon.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) $(LDLIBS_vmsim) -o $@

# ---- entry points ---------------------------------------------------------
deps:
	scripts/deps.sh

unit: $(UNIT_BINS)
	$(Q)tests/run-unit.sh $(UNIT_BINS)

bpftest: all
	$(Q)tests/bpf/run.sh $(O)

e2e: all
	$(Q)tests/e2e/run.sh $(O)

# The qemu kernel matrix (Debian 6.1 and 6.12 kernels): tests/vm/run.sh.
vmtest: all
	$(Q)tests/vm/run.sh $(O)

# arm64 guests (Debian arm64 6.1 and 6.12 under qemu TCG with EL2): the CLI
# and kvmirq cross-built into $(O_ARM64), tests/vm/run-arm64.sh. Also run by
# `make test` after the x86 matrix (ST_SKIP_ARM64=1 leaves it out).
O_ARM64 ?= build-arm64
vmtest-arm64:
	$(Q)$(MAKE) --no-print-directory CROSS=$(or $(CROSS),aarch64-linux-gnu-) ARCH=arm64 \
		O=$(O_ARM64) $(O_ARM64)/stagetrace $(O_ARM64)/tests/tools/kvmirq
	$(Q)tests/vm/run-arm64.sh $(O_ARM64)

test: all
	$(Q)tests/run-all.sh $(O)

bench: all
	$(Q)tests/bench/run.sh $(O)
	$(Q)tests/bench/store.sh $(O)

bench-store: all
	$(Q)tests/bench/store.sh $(O)

bench-clock: all
	$(Q)tests/bench/clock.sh $(O)

demo: 
	scripts/deps.sh
	$(MAKE) all
	scripts/demo.sh $(O)

clean:
	rm -rf $(O)

-include $(shell find $(O) -name '*.d' 2>/dev/null)
