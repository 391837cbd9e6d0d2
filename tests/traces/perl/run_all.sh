#!/bin/sh
# Regenerate (default) or check (--check) every POE reference trace.
# Each NN_name.pl here exercises one behaviour of POE::Kernel (described in
# its header comment) and prints a deterministic trace on stdout; its
# recorded output, stdout+stderr of one run, is ../expected/NN_name.out, and
# the Rust port tests/traces/tNN_name.rs must print the same bytes.
# --check re-runs every script under real POE and compares its output with
# the recorded one, printing "ok" or "DIFF" per script; it exits non-zero if
# any differs.  Without --check the recorded outputs are rewritten.
# Needs Perl with POE 1.370 (Debian: apt-get install libpoe-perl).
cd "$(dirname "$0")" || exit 1
mode=${1:-generate}
status=0
for pl in [0-9][0-9]_*.pl; do
  out=../expected/${pl%.pl}.out
  if [ "$mode" = "--check" ]; then
    if perl "$pl" 2>&1 | cmp -s - "$out"; then echo "ok   $pl"; else echo "DIFF $pl"; status=1; fi
  else
    perl "$pl" > "$out" 2>&1
  fi
done
exit $status
