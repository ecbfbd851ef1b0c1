package transcription

import (
	"context"
	"testing"
)

// BenchmarkStreamWrite measures the audio path a session's Write runs, as
// the gateway drives it: a consultation in 100 ms frames of 16 kHz
// linear16 (decode, segment; no resampling at 16 kHz), and synthetic tones
// in 20 ms frames at 48 kHz (decode, resample, segment). One op is the whole
// audio; utterances go to the SyntheticEngine.
func BenchmarkStreamWrite(b *testing.B) {
	b.Run("consultation-16k", func(b *testing.B) {
		benchStreamWrite(b, 16000, EncodeLinear16(consultation(b, "chf-followup.wav")), 3200)
	})
	b.Run("tone-48k", func(b *testing.B) {
		benchStreamWrite(b, 48000, toneAudio(48000, 1.0, 2.0, 1.0, 2.0), 48000*2/50)
	})
}

func benchStreamWrite(b *testing.B, rate int, audio []byte, frame int) {
	s, err := NewStream(context.Background(), StreamConfig{Engine: SyntheticEngine{}, SampleRate: rate})
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
// silence) and under room noise, where the noise floor keeps moving.
func BenchmarkSegmenterWrite(b *testing.B) {
	clean := consultation(b, "chf-followup.wav")
	for _, c := range []struct {
		name    string
		samples []int16
	}{{"clean", clean}, {"noisy", noisy(clean, 40)}} {
		b.Run(c.name, func(b *testing.B) {
			const frame = 1600
			seg := NewSegmenter(SegmenterConfig{})
			var ev []SegmentEvent
			b.SetBytes(int64(2 * len(c.samples)))
			for b.Loop() {
				for off := 0; off < len(c.samples); off += frame {
					ev = seg.Write(ev[:0], c.samples[off:min(off+frame, len(c.samples))])
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
