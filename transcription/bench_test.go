package transcription

import (
	"context"
	"testing"
)

// BenchmarkStreamWrite measures the audio path a session's Write runs, as
// the gateway drives it: a consultation in 100 ms frames of 16 kHz
// linear16 (decode, segment; no resampling at 16 kHz), and synthetic tones
// in 20 ms frames at 48 kHz (decode, resample, segment). One op is the whole
// audio; utterances go to the SyntheticEngine. The stream has Buffers, as
// the gateway's do.
func BenchmarkStreamWrite(b *testing.B) {
	b.Run("consultation-16k", func(b *testing.B) {
		benchStreamWrite(b, 16000, EncodeLinear16(consultation(b, "chf-followup.wav")), 3200)
	})
	b.Run("tone-48k", func(b *testing.B) {
		benchStreamWrite(b, 48000, toneAudio(48000, 1.0, 2.0, 1.0, 2.0), 48000*2/50)
	})
}

func benchStreamWrite(b *testing.B, rate int, audio []byte, frame int) {
	s, err := NewStream(context.Background(), StreamConfig{Engine: SyntheticEngine{}, SampleRate: rate, Buffers: NewBuffers(16 << 20)})
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		for range s.Events() {
		}
	}()
	b.SetBytes(int64(len(audio)))
	frames := (len(audio) + frame - 1) / frame
	for b.Loop() {
		for off := 0; off < len(audio); off += frame {
			if err := s.Write(audio[off:min(off+frame, len(audio))]); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*frames), "ns/frame")
	b.StopTimer()
	s.Close()
}

// BenchmarkSegmenterWrite measures the segmenter alone on a consultation
// written in 100 ms frames of samples: as recorded (its pauses are digital
// silence) and under room noise, where the noise floor keeps moving. Each
// utterance's samples go back to its Buffers, as a Stream's do.
func BenchmarkSegmenterWrite(b *testing.B) {
	clean := consultation(b, "chf-followup.wav")
	for _, c := range []struct {
		name    string
		samples []int16
	}{{"clean", clean}, {"noisy", noisy(clean, 40)}} {
		b.Run(c.name, func(b *testing.B) {
			const frame = 1600
			bufs := NewBuffers(16 << 20)
			seg := NewSegmenter(SegmenterConfig{Buffers: bufs})
			var ev []SegmentEvent
			b.SetBytes(int64(2 * len(c.samples)))
			for b.Loop() {
				for off := 0; off < len(c.samples); off += frame {
					ev = seg.Write(ev[:0], c.samples[off:min(off+frame, len(c.samples))])
					putUtterances(bufs, ev)
				}
			}
		})
	}
}

// BenchmarkLinear16Decode measures decoding one 100 ms frame.
func BenchmarkLinear16Decode(b *testing.B) {
	pcm := EncodeLinear16(consultation(b, "chf-followup.wav"))[:3200]
	var d Linear16Decoder
	var out []int16
	b.SetBytes(int64(len(pcm)))
	for b.Loop() {
		out = d.Decode(out[:0], pcm)
	}
}

// BenchmarkSegmenterSessions runs many segmenters side by side, as a
// gateway does: each session plays the consultation from its own offset
// (noisy, so each has its own floor), and one op is one 100 ms frame
// written to every session in turn. The segmenters share one Buffers, as
// a gateway's streams do, and each utterance's samples go back to it a
// round after they were emitted (standing in for the engine call).
// B/op is what the segmenters allocate per round of frames: the buffers
// the Buffers had none idle of; held-KiB/session is the audio they hold on
// average (buffered, sampled every 100 rounds), idle-KiB/session what the
// Buffers keeps idle for reuse, per session; misses/op the buffers
// allocated.
func BenchmarkSegmenterSessions(b *testing.B) {
	const sessions, frame = 200, 1600
	samples := noisy(consultation(b, "chf-followup.wav"), 40)
	bufs := NewBuffers(sessions * 32 << 10)
	segs := make([]*Segmenter, sessions)
	pos := make([]int, sessions)
	for i := range segs {
		segs[i] = NewSegmenter(SegmenterConfig{Buffers: bufs})
		pos[i] = i * len(samples) / sessions / frame * frame
	}
	var ev, recognising []SegmentEvent
	var held, idle, samplings int
	b.SetBytes(int64(2 * frame * sessions))
	before := bufs.Stats()
	for b.Loop() {
		if samplings++; samplings%100 == 0 {
			for _, seg := range segs {
				held += seg.buffered()
			}
			idle += bufs.Stats().IdleBytes
		}
		putUtterances(bufs, recognising)
		recognising = recognising[:0]
		for i, seg := range segs {
			if pos[i]+frame > len(samples) {
				pos[i] = 0
			}
			ev = seg.Write(ev[:0], samples[pos[i]:pos[i]+frame])
			recognising = append(recognising, ev...)
			pos[i] += frame
		}
	}
	if n := samplings / 100; n > 0 {
		b.ReportMetric(float64(held)/float64(n*sessions)/1024, "held-KiB/session")
		b.ReportMetric(float64(idle)/float64(n*sessions)/1024, "idle-KiB/session")
	}
	b.ReportMetric(float64(bufs.Stats().Misses-before.Misses)/float64(b.N), "misses/op")
}

// putUtterances gives the samples of the utterances in ev back to bufs.
func putUtterances(bufs *Buffers, ev []SegmentEvent) {
	for _, e := range ev {
		if e.Kind == SegmentUtterance {
			bufs.Put(e.Utterance.Samples)
		}
	}
}
