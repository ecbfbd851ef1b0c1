#!/usr/bin/env bash
# Makes the synthetic consultation WAVs under testdata/consultations from
# ACI-Bench dialogues (CC BY 4.0; see consultations/README.md), with two
# espeak-ng voices for clinician and patient and a pause between turns.
#
# Usage: testdata/make-audio.sh [path/to/aci-bench]   (needs espeak-ng and sox)
# The outputs are committed; rerun only to change them. Output is 16 kHz
# mono linear16, the rate a typical recorder sends.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
corpus=${1:-$here/../../shared/corpus/aci-bench}
out=$here/consultations
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# encounter id, number of turns to keep, output name
make_one() {
  local id=$1 turns=$2 name=$3
  python3 - "$corpus/valid.csv" "$id" "$turns" > "$tmp/$name.turns" <<'PY'
import csv, sys
path, want, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for row in csv.DictReader(open(path, newline='')):
    if row['encounter_id'] != want:
        continue
    kept = 0
    for line in row['dialogue'].splitlines():
        line = line.strip()
        if not line.startswith('['):
            continue
        role, _, text = line.partition('] ')
        text = text.replace(' ,', ',').replace(' .', '.').replace(' ?', '?').replace(" n't", "n't")
        print(role.strip('[') + '\t' + text)
        kept += 1
        if kept == n:
            break
PY
  local i=0 parts=()
  : > "$out/$name.txt"
  while IFS=$'\t' read -r role text; do
    voice=en-us+m3; speed=165
    [ "$role" = patient ] && { voice=en-us+f3; speed=155; }
    espeak-ng -v "$voice" -s "$speed" -w "$tmp/$name-$i.raw.wav" "$text"
    sox "$tmp/$name-$i.raw.wav" -r 16000 -c 1 -b 16 "$tmp/$name-$i.wav" pad 0 0.9
    parts+=("$tmp/$name-$i.wav")
    printf '[%s] %s\n' "$role" "$text" >> "$out/$name.txt"
    i=$((i+1))
  done < "$tmp/$name.turns"
  sox "${parts[@]}" -r 16000 -c 1 -b 16 -e signed-integer "$out/$name.wav"
  echo "$name.wav: $(soxi -D "$out/$name.wav") s from $id ($i turns)"
}

make_one D2N069 8 knee-pain-short
make_one D2N068 16 chf-followup
