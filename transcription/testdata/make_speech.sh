#!/bin/sh
# Regenerates speech.wav, the synthetic speech fixture for the segmenter and
# the offline engine: two phrases from espeak-ng with a pause between them,
# converted to 16 kHz mono PCM16 (what engines take) with sox.
# Needs espeak-ng and sox. Synthetic voice: no patient data.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Counting and a greeting: words PocketSphinx's general model recognises
# even in espeak's synthetic voice, so the offline engine's test can assert
# what it heard.
espeak-ng -v en-us -s 140 -m -w "$tmp/raw.wav" \
  'One two three four five six. <break time="900ms"/> How are you today?'
sox "$tmp/raw.wav" -r 16000 -c 1 -b 16 speech.wav
