# Thin wrapper around CMake. `make` builds build/medseal; `make test` runs every test; `make demo`
# runs the main job on a synthetic study made by the project's own code.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE ?= cmake

PREFIX ?= /usr/local

.PHONY: all build install test test-asan demo bench fuzz fuzz-smoke eval-phi eval-analyst deps clean format check-style

all: build

build/CMakeCache.txt:
	$(CMAKE) -S . -B build -DCMAKE_BUILD_TYPE=Release

build: build/CMakeCache.txt
	$(CMAKE) --build build -j $(JOBS)

# build/medseal into PREFIX/bin and its man page (generated from --help) into PREFIX/share/man/man1
install: build
	$(CMAKE) --build build --target medseal_man
	$(CMAKE) --install build --prefix $(PREFIX)

test: build
	./build/medseal_tests $(T)

build-asan/CMakeCache.txt:
	CC=clang $(CMAKE) -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DMS_ASAN=ON

test-asan: build-asan/CMakeCache.txt
	$(CMAKE) --build build-asan -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  MEDSEAL_TEST_TIMEOUT=1200 ./build-asan/medseal_tests $(T)

demo: build
	./scripts/demo.sh

bench: build
	./bench/run.sh $(B)

build-fuzz/CMakeCache.txt:
	CC=clang $(CMAKE) -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DMS_FUZZ=ON

fuzz: build-fuzz/CMakeCache.txt
	$(CMAKE) --build build-fuzz -j $(JOBS)

# Each fuzz target for FUZZ_SECONDS (default 30) over its corpus; any finding fails.
fuzz-smoke: fuzz
	./scripts/fuzz.sh $${FUZZ_SECONDS:-30}

eval-phi: build
	./scripts/eval-phi.sh

# The analyst on tests/analyst_corpus (issue 16's table); EVAL_ARGS=--verbose lists every miss.
eval-analyst: build
	/usr/bin/python3 scripts/analyst-eval.py --bin build/medseal $(EVAL_ARGS)

deps:
	./scripts/install-deps.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

check-style:
	./scripts/check-style.sh

clean:
	rm -rf build build-asan build-fuzz
