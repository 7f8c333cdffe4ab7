# The front door. `make run` and `make test` install what is missing, build and go.
SHELL := /bin/bash
JOBS ?= $(shell nproc)
SCALE ?= 1000000
DATA ?= ./data
LISTEN ?= 127.0.0.1:8080

.PHONY: all deps deps-test build build-asan run test test-release test-asan bench format format-check clean

all: build

deps:
	@scripts/install-deps.sh build

deps-test:
	@scripts/install-deps.sh test

build: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS)

run: build
	./build/release/evident serve --data $(DATA) --listen $(LISTEN)

build-test: deps-test
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS)
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan -j $(JOBS)

test: build-test
	ctest --preset release
	ctest --preset asan

bench: deps-test
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS)
	./build/release/evident-bench --scale $(SCALE) --out bench/results

format:
	@git ls-files '*.cc' '*.h' | xargs clang-format -i

format-check:
	@git ls-files '*.cc' '*.h' | xargs clang-format --dry-run -Werror

clean:
	rm -rf build
