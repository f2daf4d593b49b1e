#!/usr/bin/env bash
# Coverage-guided fuzzing of the TypeScript side's untrusted inputs with Jazzer.js (libFuzzer
# driving instrumented JavaScript). Each target (fuzz/ts/<target>.fuzz.ts) is bundled to
# CommonJS with esbuild (Jazzer.js 2.1 instruments CommonJS only) and run for a number of inputs.
#   fuzz/ts/run.sh [runs-per-target] [target...]     default 1000000, all targets
# Corpora (seeded from fuzz/seeds/<target>/), bundles and logs go to build/fuzz-ts/. A crash
# (an exception or a failed property), a hang (an input over the per-input timeout) or an
# unhandled rejection is a failure: the input is saved as build/fuzz-ts/<target>/crash-*.
# Exit status: 0 when every target ran all its inputs and found nothing; 77 when clang/libFuzzer
# is missing (SKIP); 1 otherwise. FUZZ_TS_OUT moves build/fuzz-ts; FUZZ_TS_TIMEOUT_MS sets the
# per-input timeout (default 10000); FUZZ_TS_MAX_SECONDS bounds each target's run (libFuzzer's
# -max_total_time: a run it cuts short has not run its inputs, so it fails). The `canary` target (not in the default list) has planted
# faults that the smoke test expects to be found.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
RUNS=1000000
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then RUNS=$1; shift; fi
ALL=(mqtt-command signaling-message signaling-router config-load)
TARGETS=("$@")
((${#TARGETS[@]})) || TARGETS=("${ALL[@]}")
OUT=${FUZZ_TS_OUT:-build/fuzz-ts}
TIMEOUT_MS=${FUZZ_TS_TIMEOUT_MS:-10000}
MAX_TIME=()
[ -n "${FUZZ_TS_MAX_SECONDS:-}" ] && MAX_TIME=(-max_total_time="$FUZZ_TS_MAX_SECONDS")
mkdir -p "$OUT"
exec 9>"$OUT/.lock" # one run at a time per checkout: bundles, corpora and logs are shared
flock -w 900 9 || { echo "another fuzz/ts/run.sh holds $OUT/.lock"; exit 1; }
set +e
build=$(bash fuzz/ts/native/build.sh 2>&1)
rc=$?
set -e
if ((rc == 77)); then echo "$build"; exit 77; fi
((rc == 0)) || { echo "building the Jazzer.js addon failed:"; echo "$build"; exit 1; }
# Synchronous targets run faster; the MQTT dispatcher is asynchronous.
declare -A SYNC=([signaling-message]=--sync [signaling-router]=--sync [config-load]=--sync [mqtt-command]= [canary]=)
[ "${FUZZ_CANARY:-}" = loop ] && SYNC[canary]=--sync
status=0
for t in "${TARGETS[@]}"; do
  [ -f "fuzz/ts/$t.fuzz.ts" ] || { echo "no target fuzz/ts/$t.fuzz.ts (targets: ${ALL[*]})"; status=1; continue; }
  dir=$OUT/$t
  mkdir -p "$dir/corpus"
  [ -d "fuzz/seeds/$t" ] && cp -n fuzz/seeds/"$t"/* "$dir/corpus/" 2>/dev/null || true
  # import.meta.url (createRequire in ts/config/load.ts) becomes the bundle's own file URL.
  node_modules/.bin/esbuild "fuzz/ts/$t.fuzz.ts" --bundle --platform=node --format=cjs --target=node20 \
    --packages=external --sourcemap=inline --log-level=error --outfile="$dir/$t.fuzz.cjs" \
    --banner:js="const __bundle_url = require('node:url').pathToFileURL(__filename).href;" --define:import.meta.url=__bundle_url
  echo "== $t: $RUNS runs"
  start=$(date +%s.%N)
  # Instrumented: the bundle (the project's code and the target); not node_modules. No
  # NODE_OPTIONS: a test runner's preloads (tap's processinfo) would end the fuzzer's process early.
  # shellcheck disable=SC2086
  if (cd "$dir" && env -u NODE_OPTIONS NODE_PATH="$ROOT/node_modules" node --enable-source-maps "$ROOT/node_modules/@jazzer.js/core/dist/cli.js" "$t.fuzz.cjs" corpus \
    -i "$t.fuzz.cjs" ${SYNC[$t]} --timeout="$TIMEOUT_MS" -- \
    -runs="$RUNS" -seed=1 -max_len=8192 -rss_limit_mb=2048 -print_final_stats=1 "${MAX_TIME[@]}") >"$dir/fuzz.log" 2>&1; then
    end=$(date +%s.%N)
    # A run that ends early without a finding (the process left its loop) is a failure too.
    done_line=$(grep -aE '^Done [0-9]+ runs' "$dir/fuzz.log" | tail -n 1 || true)
    if [ "$done_line" = "${done_line#"Done $RUNS runs"}" ]; then
      echo "$t FAILED: did not run $RUNS inputs (${done_line:-no Done line}):"; tail -n 40 "$dir/fuzz.log"; status=1; continue
    fi
    echo "$done_line"
    grep -aE '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$dir/fuzz.log" | tail -n 1 | sed -E 's/.*(cov: [0-9]+ ft: [0-9]+ corp: [^ ]+).*(exec\/s: [0-9]+).*/final \1 \2/'
    awk -v s="$start" -v e="$end" 'BEGIN { printf "wall %.1f s\n", e - s }'
  else
    echo "$t FAILED:"; tail -n 40 "$dir/fuzz.log"; status=1
  fi
done
exit $status
