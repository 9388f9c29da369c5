#!/usr/bin/env bash
# eima's C++ under sanitizers, each in a build directory of its own (-DEIMA_SANITIZE; the
# BPF objects are clang's as always), its tests run there through CTest. Any report fails:
#
#   scripts/sanitize.sh [asan|asan-ci|tsan|ci] [ctest args...]
#
#   asan     (default) ASan + UBSan (leaks too) in build-asan/: the unit tests, the BPF
#            logic test and every host end-to-end and command-line test (ctest -E
#            '^(kernel|package)'). Not the VM tests (the guest runs the normal build), not
#            package.* (they install the normal build's .deb and image, into a root
#            without the sanitizer runtimes).
#   asan-ci  the same build; the unit, BPF and command-line tests and the host end-to-end
#            tests that run eimad's whole path (measure, policy, attest, vTPM, restart,
#            faults, ...), leaving out those that mostly exercise another program
#            (podman, containerd, the service's capabilities) or memory bounds that
#            ASan's quarantine inflates (cli.sbom_memory). What .ci/run runs.
#   tsan     TSan in build-tsan/: unit_agent only, the agent's threaded parts (the TPM
#            extender, the background disposer, vTPMs, quotes) and their users (and the
#            test helpers built, not run: that a sanitized build links them).
#   ci       asan-ci, then tsan.
#
# Reports go to BUILD/sanitizer-reports/ (log_path), because eimad and eima run under the
# end-to-end scripts with their stderr in a log: a report in any process fails the run
# even when the process's exit status is not what the test looked at. Build directories:
# EIMA_ASAN_BUILD_DIR, EIMA_TSAN_BUILD_DIR.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
mode=asan
case ${1:-} in
asan | asan-ci | tsan | ci) mode=$1; shift ;;
esac
jobs=$(nproc)

# Every test of unit_agent: the threaded parts (the TPM extender, the disposer, vTPMs,
# quotes) and the event loop's code that drives them. Not HostileClientTest: the control
# server is single-threaded, and its ticks must stay under 250 ms while building a 1 MiB
# reply, which TSan's slowdown takes away on a busy machine.
tsan_tests=(-R '^agent\.' -E '^agent\.HostileClientTest\.')
# What the tsan build builds: unit_agent, and the test helpers, which cost seconds: a check
# in CI that a sanitized build still links them (a -static helper once broke every ASan
# build, unnoticed because CI builds only this).
tsan_targets=(unit_agent eima-test-container eima-test-truncate)
asan_exclude='^(kernel|package)'
asan_ci_exclude='^(kernel|package)|^cli\.sbom_memory$|^e2e\.(podman|containerd|service_caps)\.'

# build DIR SANITIZERS [targets...]: configures and builds DIR with those sanitizers.
build() {
	local dir=$1 sanitizers=$2
	shift 2
	cmake -S "$here" -B "$dir" -G "Unix Makefiles" -DEIMA_SANITIZE="$sanitizers" \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	local targets=()
	for t in "$@"; do targets+=(--target "$t"); done
	local start=$SECONDS
	cmake --build "$dir" -j"$jobs" "${targets[@]}"
	echo "sanitize: built $dir ($sanitizers) in $((SECONDS - start)) s"
}

# run DIR ctest-args...: runs the tests with reports to DIR/sanitizer-reports; fails on a
# failed test or on any report file.
run() {
	local dir=$1
	shift
	local reports=$dir/sanitizer-reports
	rm -rf "$reports"
	mkdir -p "$reports"
	local start=$SECONDS rc=0
	(
		cd "$dir"
		export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:log_path=$reports/asan
		export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan
		export LSAN_OPTIONS=log_path=$reports/lsan
		export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:log_path=$reports/tsan
		ctest --output-on-failure --timeout 900 "$@"
	) || rc=$?
	echo "sanitize: tests in $dir took $((SECONDS - start)) s"
	local found
	found=$(find "$reports" -type f | sort)
	if [[ -n $found ]]; then
		echo "sanitize: reports in $reports:"
		for f in $found; do
			echo "== $f"
			cat "$f"
		done
		rc=1
	fi
	return "$rc"
}

asan_dir=${EIMA_ASAN_BUILD_DIR:-$here/build-asan}
tsan_dir=${EIMA_TSAN_BUILD_DIR:-$here/build-tsan}
bash "$here/scripts/setup.sh"
case $mode in
asan)
	build "$asan_dir" address,undefined
	run "$asan_dir" -E "$asan_exclude" "$@"
	;;
asan-ci)
	build "$asan_dir" address,undefined
	run "$asan_dir" -E "$asan_ci_exclude" "$@"
	;;
tsan)
	build "$tsan_dir" thread "${tsan_targets[@]}"
	run "$tsan_dir" "${tsan_tests[@]}" "$@"
	;;
ci)
	rc=0
	build "$asan_dir" address,undefined
	run "$asan_dir" -E "$asan_ci_exclude" "$@" || rc=1
	build "$tsan_dir" thread "${tsan_targets[@]}"
	run "$tsan_dir" "${tsan_tests[@]}" "$@" || rc=1
	exit "$rc"
	;;
esac
