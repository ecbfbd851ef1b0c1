package leveltest

import (
	"encoding/binary"
	"slices"
	"testing"
)

// TestLabelNamesEachBurst cuts Audio into its bursts and silences, as a
// segmenter would, and checks every burst is named by its index and every
// silence by nothing.
func TestLabelNamesEachBurst(t *testing.T) {
	const n = 12
	pcm := Audio(n)
	samples := make([]int16, len(pcm)/2)
	for i := range samples {
		samples[i] = int16(binary.LittleEndian.Uint16(pcm[2*i:]))
	}
	burst, gap := SampleRate*6/10, SampleRate*9/10
	if len(samples) != n*(burst+gap) {
		t.Fatalf("Audio(%d) is %d samples, want %d", n, len(samples), n*(burst+gap))
	}
	var got []string
	for k := range n {
		at := k * (burst + gap)
		got = append(got, Label(samples[at:at+burst]))
		if l := Label(samples[at+burst : at+burst+gap]); l != "" {
			t.Errorf("silence after burst %d labelled %q", k, l)
		}
	}
	if !slices.Equal(got, Want(n)) {
		t.Errorf("labels %v, want %v", got, Want(n))
	}
}
