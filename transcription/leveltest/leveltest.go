// Package leveltest makes test audio whose utterances name themselves by
// their loudness, so a stand-in recogniser can say which utterance it
// heard and a test can see any utterance lost, cut in two or transcribed
// twice whatever the timeline says. For tests only.
package leveltest

import (
	"fmt"
	"sort"
)

// SampleRate is the rate of Audio in Hz.
const SampleRate = 16000

// Audio is n bursts of 0.6 s of 100 Hz square wave, burst k at amplitude
// 2000+400k, each followed by 0.9 s of silence: mono signed 16-bit
// little-endian PCM at SampleRate, as clients stream it.
func Audio(n int) []byte {
	var b []byte
	for k := range n {
		amp := int16(2000 + 400*k)
		for i := range SampleRate * 6 / 10 {
			v := amp
			if (i/80)%2 == 1 {
				v = -amp
			}
			b = append(b, byte(v), byte(uint16(v)>>8))
		}
		b = append(b, make([]byte, SampleRate*2*9/10)...)
	}
	return b
}

// Label names the burst of Audio that samples hold, "u<k>" for burst k,
// by the median amplitude of its loud samples; "" when there is none
// (silence), so a recogniser can answer nothing.
func Label(samples []int16) string {
	var amps []int
	for _, s := range samples {
		a := int(s)
		if a < 0 {
			a = -a
		}
		if a > 1000 {
			amps = append(amps, a)
		}
	}
	if len(amps) == 0 {
		return ""
	}
	sort.Ints(amps)
	return fmt.Sprintf("u%d", (amps[len(amps)/2]-2000+200)/400)
}

// Want is the transcript of Audio(n) heard right: every utterance's
// label once, in order.
func Want(n int) []string {
	var out []string
	for k := range n {
		out = append(out, fmt.Sprintf("u%d", k))
	}
	return out
}
