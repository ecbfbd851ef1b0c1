#!/bin/sh
# Regenerates speech.wav, the synthetic speech fixture for the segmenter and
# the offline engine: two phrases from espeak-ng with a pause between them,
# converted to 16 kHz mono PCM16 (what engines take) with sox.
# Needs espeak-ng and sox. Synthetic voice: no patient data.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
espeak-ng -m -s 175 -w "$tmp/raw.wav" \
  'The patient has a cough and a fever. <break time="900ms"/> Please check the blood pressure.'
sox "$tmp/raw.wav" -r 16000 -c 1 -b 16 speech.wav
