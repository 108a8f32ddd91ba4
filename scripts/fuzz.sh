#!/usr/bin/env bash
# Long run of the property-based fuzz targets (proptest, stable Rust; see docs/fuzzing.md):
# every target of tests/tests/fuzz_parsers.rs, tests/tests/fuzz_events.rs and
# functions/tiler/tests/fuzz_router.rs, one after the other, with many cases each, then a
# table: target, cases, time, result.
#
#   bash scripts/fuzz.sh                        # 20000 cases per parser target, 2000 per router target, debug
#   bash scripts/fuzz.sh --cases 5000 --router-cases 500
#   bash scripts/fuzz.sh --release mosaic_ tms_ # release build, targets whose name contains a pattern
#
# Settings (flags win over the environment): FUZZ_CASES (else PROPTEST_CASES, else 20000),
# FUZZ_ROUTER_CASES (else 2000), PROPTEST_RNG_SEED (else a random seed, printed: rerun with
# it to get the same cases). Logs: $FUZZ_LOG_DIR (default target/fuzz-logs). Exit status 1
# when a target fails; its log holds the minimal failing input.
set -uo pipefail
cd "$(dirname "$0")/.."

cases=${FUZZ_CASES:-${PROPTEST_CASES:-20000}}
router_cases=${FUZZ_ROUTER_CASES:-2000}
profile=debug
patterns=()
while [ $# -gt 0 ]; do
  case "$1" in
    --cases) cases=$2; shift 2 ;;
    --router-cases) router_cases=$2; shift 2 ;;
    --release) profile=release; shift ;;
    -h|--help) sed -n '2,/^set /p' "$0" | sed -n 's/^# \{0,1\}//p'; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) patterns+=("$1"); shift ;;
  esac
done
seed=${PROPTEST_RNG_SEED:-$(( (RANDOM << 30) | (RANDOM << 15) | RANDOM ))}
log_dir=${FUZZ_LOG_DIR:-target/fuzz-logs}
mkdir -p "$log_dir"

# package, test file, targets (the property tests; plain regression tests run with `cargo test`)
PARSER_TARGETS=(mosaic_arbitrary_bytes mosaic_arbitrary_json mosaic_mutated_reference
  mosaic_edited_reference mosaic_damaged_gzip tms_arbitrary_text tms_arbitrary_json
  tms_mutated_builtin tms_edited_builtin tms_nonsense_values_are_errors tms_level_ids uri_parse
  gate_admit gate_refuses_metadata_hosts gate_gdal_input stac_items_to_footprints
  stac_arbitrary_items stac_search_pages geojson_mutated_footprints geojson_arbitrary)
EVENT_TARGETS=(events_arbitrary_json events_as_sent events_mutated)
ROUTER_TARGETS=(router_tile_requests router_validate_bodies)

cargo_flags=()
[ "$profile" = release ] && cargo_flags+=(--release)

# Builds one test binary and prints its path.
build() {
  local pkg=$1 test=$2
  cargo test "${cargo_flags[@]}" -p "$pkg" --test "$test" --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for line in sys.stdin:
    try: m = json.loads(line)
    except ValueError: continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == sys.argv[1]:
        print(m["executable"])' "$test" | tail -1
}

echo "building the fuzz targets ($profile)..." >&2
if ! cargo test "${cargo_flags[@]}" -p mosaic-integration-tests --test fuzz_parsers --test fuzz_events --no-run >&2 ||
  ! cargo test "${cargo_flags[@]}" -p tiler --test fuzz_router --no-run >&2; then
  echo "build failed" >&2
  exit 2
fi
parsers_bin=$(build mosaic-integration-tests fuzz_parsers)
events_bin=$(build mosaic-integration-tests fuzz_events)
router_bin=$(build tiler fuzz_router)

# A property test added to a file but not to the lists above would be silently skipped.
for pair in "$parsers_bin:PARSER_TARGETS" "$events_bin:EVENT_TARGETS" "$router_bin:ROUTER_TARGETS"; do
  bin=${pair%%:*}
  declare -n known=${pair##*:}
  while read -r name; do
    case " ${known[*]} " in *" $name "*) ;; *)
      case "$name" in regression_*|broken_*|coord_crs_*|axum_*) ;; *)
        echo "note: $(basename "$bin") has test $name, not in $(basename "$0")'s lists" >&2 ;;
      esac ;;
    esac
  done < <("$bin" --list 2>/dev/null | sed -n 's/: test$//p')
  unset -n known
done

selected() {
  [ ${#patterns[@]} -eq 0 ] && return 0
  local p
  for p in "${patterns[@]}"; do
    case "$1" in *"$p"*) return 0 ;; esac
  done
  return 1
}

rows=()
failed=0
total_start=$(date +%s.%N)
run() {
  local bin=$1 name=$2 n=$3 start end secs status log
  selected "$name" || return 0
  log="$log_dir/$name.log"
  start=$(date +%s.%N)
  PROPTEST_CASES=$n PROPTEST_RNG_SEED=$seed "$bin" --exact "$name" --test-threads=1 >"$log" 2>&1
  status=$?
  end=$(date +%s.%N)
  secs=$(python3 -c "print(f'{$end - $start:.1f}')")
  if [ $status -eq 0 ] && grep -q "test result: ok. 1 passed" "$log"; then
    rows+=("$name|$n|$secs|0|ok")
  else
    failed=$((failed + 1))
    rows+=("$name|$n|$secs|1|FAILED: $log")
  fi
  printf '%-32s %8s cases %8ss  %s\n' "$name" "$n" "$secs" "${rows[-1]##*|}" >&2
}

echo "seed $seed (PROPTEST_RNG_SEED=$seed reproduces this run)" >&2
for t in "${PARSER_TARGETS[@]}"; do run "$parsers_bin" "$t" "$cases"; done
for t in "${EVENT_TARGETS[@]}"; do run "$events_bin" "$t" "$cases"; done
for t in "${ROUTER_TARGETS[@]}"; do run "$router_bin" "$t" "$router_cases"; done
total=$(python3 -c "print(f'{$(date +%s.%N) - $total_start:.1f}')")

echo
echo "fuzz run: $profile build, seed $seed, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
printf '| %-30s | %8s | %8s | %8s | %s |\n' target cases "time (s)" failures result
printf '|%s|%s|%s|%s|%s|\n' -------------------------------- ---------: ---------: ---------: --------
for r in "${rows[@]}"; do
  IFS='|' read -r name n secs fails result <<<"$r"
  printf '| %-30s | %8s | %8s | %8s | %s |\n' "$name" "$n" "$secs" "$fails" "$result"
done
echo "${#rows[@]} targets, $failed failed, ${total}s"
[ "$failed" -eq 0 ]
