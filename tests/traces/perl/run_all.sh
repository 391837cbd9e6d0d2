#!/bin/sh
# Regenerate (default) or check (--check) the reference traces created here
# (the ones semantics.md section 9 marks with a dagger, which are not shipped
# with the spec).  Needs Perl with POE 1.370 (Debian: apt-get install
# libpoe-perl).  Each NN_name.pl prints a deterministic trace on stdout; the
# Rust ports compare against ../expected/NN_name.out, which holds
# stdout+stderr of one run.
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
