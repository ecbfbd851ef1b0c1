package transcription

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/cmplx"
	"math/rand/v2"
	"slices"
	"testing"
)

func sine(freq float64, rate int, seconds float64, amp float64) []int16 {
	n := int(float64(rate) * seconds)
	s := make([]int16, n)
	for i := range s {
		s[i] = int16(amp * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)))
	}
	return s
}

func TestLinear16RoundTrip(t *testing.T) {
	in := []int16{0, 1, -1, math.MaxInt16, math.MinInt16, 12345, -23456}
	b := EncodeLinear16(in)
	got, err := DecodeLinear16(b)
	if err != nil || !slices.Equal(got, in) {
		t.Fatalf("round trip = %v, %v", got, err)
	}
	if _, err := DecodeLinear16(b[:3]); !errors.Is(err, ErrOddLength) {
		t.Errorf("odd length: err = %v", err)
	}
	// Any split, including odd ones, decodes to the same samples.
	for split := 0; split <= len(b); split++ {
		var d Linear16Decoder
		out := d.Decode(nil, b[:split])
		out = d.Decode(out, b[split:])
		if !slices.Equal(out, in) || d.Pending() {
			t.Errorf("split at %d: %v pending %v", split, out, d.Pending())
		}
	}
	var d Linear16Decoder
	var out []int16
	for i := range b { // one byte at a time
		out = d.Decode(out, b[i:i+1])
	}
	if !slices.Equal(out, in) {
		t.Errorf("byte by byte: %v", out)
	}
}

// TestLinear16DecodeLong checks the decoder's four-at-a-time loop against
// sample-by-sample decoding, appending after samples already in dst, for
// every length around a multiple of four and split at odd bytes.
func TestLinear16DecodeLong(t *testing.T) {
	in := make([]int16, 1003)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range in {
		in[i] = int16(rng.Uint32())
	}
	in[0], in[1] = math.MinInt16, math.MaxInt16
	b := EncodeLinear16(in)
	for n := 990; n <= len(in); n++ {
		for _, split := range []int{0, 1, 7, 2*n - 3} {
			var d Linear16Decoder
			prefix := []int16{42, -42}
			out := d.Decode(slices.Clone(prefix), b[:split])
			out = d.Decode(out, b[split:2*n])
			if want := append(prefix, in[:n]...); !slices.Equal(out, want) || d.Pending() {
				t.Fatalf("%d samples split at byte %d: decoded differently (pending %v)", n, split, d.Pending())
			}
		}
	}
}

func TestWAVRoundTrip(t *testing.T) {
	in := sine(440, 16000, 0.25, 10000)
	f, pcm, err := ReadWAV(bytes.NewReader(EncodeWAV(in, 16000)))
	if err != nil {
		t.Fatal(err)
	}
	if f != (WAVFormat{SampleRate: 16000, Channels: 1, BitsPerSample: 16}) {
		t.Errorf("format = %+v", f)
	}
	got, _ := DecodeLinear16(pcm)
	if !slices.Equal(got, in) {
		t.Error("samples differ after round trip")
	}
}

// buildWAV assembles a RIFF file from chunks, to test the parser on layouts
// EncodeWAV never writes.
func buildWAV(chunks ...[]byte) []byte {
	var body bytes.Buffer
	body.WriteString("WAVE")
	for _, c := range chunks {
		body.Write(c)
	}
	var b bytes.Buffer
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(body.Len()))
	b.Write(body.Bytes())
	return b.Bytes()
}

func chunk(id string, body []byte) []byte {
	var b bytes.Buffer
	b.WriteString(id)
	binary.Write(&b, binary.LittleEndian, uint32(len(body)))
	b.Write(body)
	if len(body)%2 == 1 {
		b.WriteByte(0)
	}
	return b.Bytes()
}

func fmtChunk(tag, channels uint16, rate uint32, bits uint16, ext ...byte) []byte {
	var b bytes.Buffer
	w := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	w(tag)
	w(channels)
	w(rate)
	w(rate * uint32(channels) * uint32(bits) / 8)
	w(channels * bits / 8)
	w(bits)
	b.Write(ext)
	return chunk("fmt ", b.Bytes())
}

func TestReadWAV(t *testing.T) {
	data := chunk("data", EncodeLinear16([]int16{1, 2, 3, 4}))
	extensible := append([]byte{22, 0, 16, 0, 4, 0, 0, 0}, 1, 0) // cbSize, valid bits, mask, GUID starting with PCM tag
	extensible = append(extensible, make([]byte, 14)...)
	tests := []struct {
		name     string
		file     []byte
		wantErr  error
		wantPCM  int
		wantChan int
	}{
		{"plain", buildWAV(fmtChunk(1, 1, 8000, 16), data), nil, 8, 1},
		{"LIST and odd chunk skipped", buildWAV(chunk("LIST", []byte("INFOabc")), fmtChunk(1, 1, 8000, 16), chunk("fact", []byte{1, 2, 3}), data), nil, 8, 1},
		{"stereo", buildWAV(fmtChunk(1, 2, 44100, 16), data), nil, 8, 2},
		{"extensible PCM", buildWAV(fmtChunk(0xFFFE, 1, 16000, 16, extensible...), data), nil, 8, 1},
		{"streamed data size", buildWAV(fmtChunk(1, 1, 8000, 16), append([]byte("data\xff\xff\xff\xff"), 1, 0, 2, 0, 3)), nil, 4, 1},
		{"float", buildWAV(fmtChunk(3, 1, 8000, 32), data), ErrNotPCM16, 0, 0},
		{"8 bit", buildWAV(fmtChunk(1, 1, 8000, 8), data), ErrNotPCM16, 0, 0},
		{"mu-law", buildWAV(fmtChunk(7, 1, 8000, 8), data), ErrNotPCM16, 0, 0},
		{"no fmt", buildWAV(data), ErrMalformedWAV, 0, 0},
		{"no data", buildWAV(fmtChunk(1, 1, 8000, 16)), ErrMalformedWAV, 0, 0},
		{"zero channels", buildWAV(fmtChunk(1, 0, 8000, 16), data), ErrMalformedWAV, 0, 0},
		{"not riff", []byte("ID3\x04 this is an mp3"), ErrNotWAV, 0, 0},
		{"empty", nil, ErrNotWAV, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, pcm, err := ReadWAV(bytes.NewReader(tt.file))
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && (len(pcm) != tt.wantPCM || f.Channels != tt.wantChan) {
				t.Errorf("got %d bytes, %d channels", len(pcm), f.Channels)
			}
		})
	}
}

func FuzzReadWAV(f *testing.F) {
	f.Add(EncodeWAV([]int16{1, -1, 300}, 16000))
	f.Add(buildWAV(chunk("LIST", []byte("INFO")), fmtChunk(1, 2, 8000, 16), chunk("data", []byte{1, 2, 3, 4})))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVE"))
	f.Fuzz(func(t *testing.T, b []byte) {
		format, pcm, err := ReadWAV(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, ErrNotWAV) && !errors.Is(err, ErrMalformedWAV) && !errors.Is(err, ErrNotPCM16) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if format.BitsPerSample != 16 || format.Channels < 1 || format.SampleRate < 1 {
			t.Fatalf("accepted format %+v", format)
		}
		if len(pcm)%(2*format.Channels) != 0 || len(pcm) > len(b) {
			t.Fatalf("%d bytes of pcm for %d channels from %d input bytes", len(pcm), format.Channels, len(b))
		}
	})
}

func TestMixToMono(t *testing.T) {
	got := MixToMono([]int16{100, 300, -10, -20}, 2)
	if !slices.Equal(got, []int16{200, -15}) {
		t.Errorf("got %v", got)
	}
}

func resampleAll(t testing.TB, from, to int, in []int16, chunks []int) []int16 {
	rs, err := NewResampler(from, to)
	if err != nil {
		t.Fatal(err)
	}
	var out []int16
	for len(in) > 0 {
		n := len(in)
		if len(chunks) > 0 {
			n = min(chunks[0], len(in))
			chunks = append(chunks[1:], chunks[0])
		}
		out = rs.Write(out, in[:n])
		in = in[n:]
	}
	return rs.Flush(out)
}

func TestResamplerChunkInvariance(t *testing.T) {
	for _, rate := range []int{8000, 11025, 22050, 44100, 48000, 16000, 8001} {
		in := sine(300, rate, 0.5, 12000)
		whole := resampleAll(t, rate, 16000, in, nil)
		pieces := resampleAll(t, rate, 16000, in, []int{1, 7, 160, 3, 999, 2})
		if !slices.Equal(whole, pieces) {
			t.Errorf("%d Hz: chunked output differs (%d vs %d samples)", rate, len(whole), len(pieces))
		}
		want := int(math.Ceil(float64(len(in)) * 16000 / float64(rate)))
		if len(whole) != want {
			t.Errorf("%d Hz: %d output samples, want %d", rate, len(whole), want)
		}
	}
}

// dominant returns the frequency with most energy, by a DFT scan in 5 Hz
// steps over the middle of the signal (the ends carry filter transients).
func dominant(s []int16, rate int) float64 {
	mid := s[len(s)/4 : 3*len(s)/4]
	best, bestF := 0.0, 0.0
	for f := 50.0; f < float64(rate)/2; f += 5 {
		var acc complex128
		for i, v := range mid {
			acc += complex(float64(v), 0) * cmplx.Exp(complex(0, -2*math.Pi*f*float64(i)/float64(rate)))
		}
		if a := cmplx.Abs(acc); a > best {
			best, bestF = a, f
		}
	}
	return bestF
}

func rms(s []int16) float64 {
	var sum float64
	for _, v := range s {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(max(1, len(s))))
}

func TestResamplerPreservesFrequency(t *testing.T) {
	for _, rate := range []int{8000, 44100, 48000} {
		in := sine(1000, rate, 0.2, 10000)
		out := resampleAll(t, rate, 16000, in, []int{480})
		if f := dominant(out, 16000); math.Abs(f-1000) > 5 {
			t.Errorf("%d Hz: dominant frequency %v, want 1000", rate, f)
		}
		mid := out[len(out)/4 : 3*len(out)/4]
		if r := rms(mid); math.Abs(r-10000/math.Sqrt2) > 150 {
			t.Errorf("%d Hz: rms %v, want about %v", rate, r, 10000/math.Sqrt2)
		}
	}
}

func TestResamplerRejectsAliases(t *testing.T) {
	// 12 kHz at 48 kHz is above the 8 kHz Nyquist of the output: it must be
	// filtered out, not folded down to 4 kHz.
	out := resampleAll(t, 48000, 16000, sine(12000, 48000, 0.2, 10000), nil)
	if r := rms(out[len(out)/4 : 3*len(out)/4]); r > 30 {
		t.Errorf("aliased energy rms %v", r)
	}
}

func TestNewResamplerRates(t *testing.T) {
	for _, r := range []int{0, 7999, 48001, 96000} {
		_, err := NewResampler(r, 16000)
		var re *RateError
		if !errors.As(err, &re) || re.Rate != r {
			t.Errorf("rate %d: err = %v", r, err)
		}
	}
}

func BenchmarkResample48k(b *testing.B) {
	in := sine(440, 48000, 1, 10000)
	rs, _ := NewResampler(48000, 16000)
	var out []int16
	b.SetBytes(int64(2 * len(in)))
	for b.Loop() {
		out = rs.Write(out[:0], in)
	}
}

// TestDecodeLE: the portable decoder, which a little-endian machine never
// runs through Decode, gives what the machine's own copy gives.
func TestDecodeLE(t *testing.T) {
	in := []int16{0, 1, -1, 32767, -32768, 258, -258, 12345, -12345, 7, 99}
	b := EncodeLinear16(in)
	for n := 0; n <= len(in); n++ {
		out := make([]int16, n)
		decodeLE(out, b)
		if !slices.Equal(out, in[:n]) {
			t.Errorf("%d samples: %v, want %v", n, out, in[:n])
		}
	}
}
