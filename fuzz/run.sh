#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) and runs each for a number of inputs.
#   fuzz/run.sh [runs-per-target]      default 1000000
# Binaries and corpora go to build/fuzz/. Exit status is non-zero if a target crashed.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-1000000}
OUT=build/fuzz
CXX=${CLANGXX:-$(command -v clang++ || command -v clang++-14 || true)}
[ -n "$CXX" ] || { echo "SKIP: clang++ not installed (Debian packages clang, libclang-rt-14-dev)"; exit 77; }
mkdir -p "$OUT"
exec 9>"$OUT/.lock"  # one run at a time per checkout: binaries, corpora and logs are shared
flock -w 900 9 || { echo "another fuzz/run.sh holds $OUT/.lock"; exit 1; }
FLAGS=(-std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Icpp/media -Icpp/rtc)
declare -A SRC=(
  [annexb_split_fuzz]="fuzz/annexb_split_fuzz.cpp cpp/media/annexb.cpp"
  [annexb_parser_fuzz]="fuzz/annexb_parser_fuzz.cpp cpp/media/annexb_parser.cpp cpp/media/annexb.cpp"
  [sei_fuzz]="fuzz/sei_fuzz.cpp cpp/media/h264_sei.cpp cpp/media/annexb.cpp"
  [sdp_fuzz]="fuzz/sdp_fuzz.cpp cpp/rtc/sdp.cpp"
  [rtcp_fuzz]="fuzz/rtcp_fuzz.cpp cpp/rtc/rtp.cpp cpp/rtc/rtcp.cpp cpp/rtc/twcc.cpp"
  [h264_packetizer_fuzz]="fuzz/h264_packetizer_fuzz.cpp cpp/rtc/h264_packetizer.cpp cpp/media/annexb.cpp"
  [ogg_fuzz]="fuzz/ogg_fuzz.cpp cpp/media/ogg.cpp -lopus"
)
# Seeds: a tiny valid stream (SPS, PPS, IDR, P, SEI) so the fuzzer starts from real structure.
seed() { mkdir -p "$OUT/corpus/$1"; printf "$2" >"$OUT/corpus/$1/seed-$3"; }
STREAM='\x00\x00\x00\x01\x67\x42\xc0\x1e\xda\x02\x80\xbf\x00\x00\x01\x68\xce\x3c\x80\x00\x00\x00\x01\x65\x88\x11\x22\x00\x00\x01\x41\x9a\x33\x00\x00\x01\x06\x05\x02\xaa\xbb\x80'
for t in annexb_split_fuzz annexb_parser_fuzz; do seed "$t" "$STREAM" 1; seed "$t" "\x05$STREAM" 2; done
seed sei_fuzz '\x06\x05\x18\x6b\x76\x73\x2d\x65\x64\x67\x65\x9c\x41\x4e\x1d\xa3\x52\x7f\x10\x00\x00\x03\x00\x00\x00\x00\x00\x01\x80' 1
seed sei_fuzz '\x06\xff\x05\xff\x02\x11\x80' 2
# SDP offers captured from real stacks seed the SDP target.
mkdir -p "$OUT/corpus/sdp_fuzz" && cp cpp/test/rtc/offers/*.sdp "$OUT/corpus/sdp_fuzz/"
seed rtcp_fuzz '\x81\xc9\x00\x07\x01\x02\x03\x04\xaa\xbb\xcc\xdd\x40\xff\xff\xfe\x00\x01\x00\x10\x00\x00\x00\x5a\x12\x34\x56\x78\x00\x01\x00\x00\x81\xce\x00\x02\x00\x00\x00\x01\x00\x00\x00\x02' 1
# Transport-wide feedback across the sequence wrap: run, 2-bit and 1-bit vectors, small/large deltas.
seed rtcp_fuzz '\x8f\xcd\x00\x08\x00\x00\x00\x01\x00\x00\x00\x02\xff\xfe\x00\x0c\x00\x00\x10\x07\x20\x03\xc9\x10\xb0\x00\x04\x08\x00\xff\x9c\xff\x01\x02\x03\x00' 2
seed h264_packetizer_fuzz "\x40$STREAM" 1
# Ogg Opus: a short file made by GStreamer (opusenc ! oggmux), CRCs and all.
mkdir -p "$OUT/corpus/ogg_fuzz" && cp fuzz/seeds/tone.ogg "$OUT/corpus/ogg_fuzz/"
status=0
for t in annexb_split_fuzz annexb_parser_fuzz sei_fuzz sdp_fuzz rtcp_fuzz h264_packetizer_fuzz ogg_fuzz; do
  # shellcheck disable=SC2086
  if ! "$CXX" "${FLAGS[@]}" ${SRC[$t]} -o "$OUT/$t"; then
    echo "$t FAILED to build"; status=1; continue
  fi
  echo "== $t: $RUNS runs"
  if "$OUT/$t" -runs="$RUNS" -max_len=4096 -seed=1 -print_final_stats=1 "$OUT/corpus/$t" >"$OUT/$t.log" 2>&1; then
    grep -aE 'Done [0-9]+ runs|stat::number_of_executed_units' "$OUT/$t.log" | tail -n 2
  else
    echo "$t FAILED:"; tail -n 40 "$OUT/$t.log"; status=1
  fi
done
exit $status
