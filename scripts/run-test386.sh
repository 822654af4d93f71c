#!/bin/sh
# Runs test386.asm (https://github.com/barotto/test386.asm) on emu and checks its verdict.
#
#   scripts/run-test386.sh PATH/test386.bin [PATH/test386-EE-reference.txt]
#
# Build test386.bin with POST_PORT equ 0x80 and OUT_PORT equ 0xE9 in src/configuration.asm
# (emu's POST port and 0xE9 debug console; everything else as shipped), then `make`.
# Passes when the last POST code is FF (every test ran) and, given the reference, the 0xE9
# output (the POST EE results) equals it. Set EMU to use another binary than
# target/release/emu (built with `cargo build --release -p emu`).
set -u
bin=${1:?usage: $0 test386.bin [test386-EE-reference.txt]}
ref=${2:-}
root=$(cd "$(dirname "$0")/.." && pwd)
emu=${EMU:-$root/target/release/emu}
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
"$emu" --headless --rom "$bin" --deterministic --no-reboot --serial none --timeout 120 ${EMU_ARGS:-} >"$out" 2>"$err"
code=$?
post=$(sed -n 's/^emu: POST code \([0-9A-F][0-9A-F]\)$/\1/p' "$err" | tail -n 1)
echo "emu exit status $code; last POST code ${post:-none}"
grep -v '^emu: POST code' "$err" | sed 's/^/  stderr: /'
status=0
if [ "$post" != FF ]; then
    echo "FAIL: test386 stopped at POST code ${post:-none} (see the POST table in its README)"
    status=1
fi
if [ -n "$ref" ]; then
    if diff -u "$ref" "$out" >/dev/null; then
        echo "0xE9 output equals the reference ($(wc -l <"$ref") lines)"
    else
        echo "FAIL: 0xE9 output differs from the reference; first differences:"
        diff -u "$ref" "$out" | head -n 20
        status=1
    fi
fi
[ $status = 0 ] && echo PASS
exit $status
