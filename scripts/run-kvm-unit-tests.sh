#!/bin/sh
# Runs kvm-unit-tests' i386 kernels (https://gitlab.com/kvm-unit-tests/kvm-unit-tests) on emu.
#
#   scripts/run-kvm-unit-tests.sh DIR [TEST...]
#
# DIR is a kvm-unit-tests tree built with `./configure --arch=i386 && make` (the .flat kernels
# are in DIR/x86). Each test is booted as a multiboot kernel, with QEMU's pc-testdev as
# kvm-unit-tests' own x86/run adds it:
#   emu --kernel DIR/x86/NAME.flat --headless --deterministic --timeout 60 --serial stdio --pc-testdev
# and judged by its summary line ("SUMMARY: n tests, m unexpected failures") and exit status
# (kvm-unit-tests writes its verdict to isa-debug-exit: status 1 is a pass). Logs are kept in
# $LOGDIR (default /tmp/emu-kvm-unit-tests). EMU overrides the binary (target/release/emu).
set -u
dir=${1:?usage: $0 KVM_UNIT_TESTS_DIR [TEST...]}
shift
root=$(cd "$(dirname "$0")/.." && pwd)
emu=${EMU:-$root/target/release/emu}
logs=${LOGDIR:-/tmp/emu-kvm-unit-tests}
mkdir -p "$logs"
tests=${*:-realmode sieve taskswitch taskswitch2 setjmp cmpxchg8b smap umip eventinj tsc emulator msr}
failed=0
printf '%-12s %-6s %-5s %s\n' TEST RESULT EXIT SUMMARY
for t in $tests; do
    flat=$dir/x86/$t.flat
    if [ ! -f "$flat" ]; then
        printf '%-12s %-6s %-5s %s\n' "$t" MISSING - "$flat not built"
        failed=$((failed + 1))
        continue
    fi
    "$emu" --kernel "$flat" --headless --deterministic --timeout 60 --serial stdio --pc-testdev ${EMU_ARGS:-} \
        </dev/null >"$logs/$t.log" 2>"$logs/$t.err"
    code=$?
    summary=$(grep -a '^SUMMARY:' "$logs/$t.log" | tail -n 1)
    if [ $code = 1 ]; then result=PASS; else result=FAIL; failed=$((failed + 1)); fi
    [ -n "$summary" ] || summary="$(grep -ac '^PASS' "$logs/$t.log") PASS, $(grep -ac '^FAIL' "$logs/$t.log") FAIL lines; $(grep -av '^emu: POST' "$logs/$t.err" | tail -n 1)"
    printf '%-12s %-6s %-5s %s\n' "$t" "$result" "$code" "$summary"
done
echo "logs in $logs; $failed failed"
[ $failed = 0 ]
