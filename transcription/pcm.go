package transcription

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"unsafe"
)

// Errors for audio the gateway cannot take. They are sentinels, wrapped with
// details, so a caller can map them to a stable code with errors.Is.
var (
	// ErrOddLength reports linear16 bytes that do not make whole samples.
	ErrOddLength = errors.New("transcription: linear16 audio has an odd number of bytes")
	// ErrNotWAV reports input that is not a RIFF/WAVE file.
	ErrNotWAV = errors.New("transcription: not a RIFF/WAVE file")
	// ErrMalformedWAV reports a RIFF/WAVE file whose chunks do not add up.
	ErrMalformedWAV = errors.New("transcription: malformed WAV file")
	// ErrNotPCM16 reports a WAV file in an encoding other than 16-bit PCM.
	ErrNotPCM16 = errors.New("transcription: WAV file is not 16-bit PCM")
)

// DecodeLinear16 decodes little-endian signed 16-bit samples. An odd length
// is ErrOddLength: a whole buffer should hold whole samples. Streams, whose
// frames may split a sample, use a Linear16Decoder instead.
func DecodeLinear16(b []byte) ([]int16, error) {
	if len(b)%2 != 0 {
		return nil, fmt.Errorf("%w (%d bytes)", ErrOddLength, len(b))
	}
	var d Linear16Decoder
	return d.Decode(nil, b), nil
}

// Linear16Decoder decodes little-endian 16-bit samples from a stream whose
// chunks may end in the middle of a sample: the odd byte is carried to the
// next chunk. WebSocket clients frame audio however they like, so the
// gateway must not assume even-length frames. The zero value is ready.
type Linear16Decoder struct {
	carry    byte
	hasCarry bool
}

// Decode appends the samples completed by b to dst and returns it.
func (d *Linear16Decoder) Decode(dst []int16, b []byte) []int16 {
	if len(b) == 0 {
		return dst
	}
	if d.hasCarry {
		dst = append(dst, int16(uint16(d.carry)|uint16(b[0])<<8))
		b = b[1:]
		d.hasCarry = false
	}
	n := len(b) / 2
	dst = slices.Grow(dst, n)
	out := dst[len(dst) : len(dst)+n]
	// Written for speed (every frame of every session passes here): on a
	// little-endian machine the bytes are the samples already, and one copy
	// decodes them.
	if nativeLittleEndian() {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(out))), 2*n), b[:2*n])
	} else {
		decodeLE(out, b)
	}
	if len(b)%2 == 1 {
		d.carry, d.hasCarry = b[len(b)-1], true
	}
	return dst[:len(dst)+n]
}

// decodeLE decodes len(out) little-endian samples from b on any machine:
// four per 8-byte load rather than one at a time.
func decodeLE(out []int16, b []byte) {
	n, i := len(out), 0
	for ; i+4 <= n; i += 4 {
		x := binary.LittleEndian.Uint64(b[2*i:])
		o := out[i : i+4 : i+4]
		o[0], o[1], o[2], o[3] = int16(x), int16(x>>16), int16(x>>32), int16(x>>48)
	}
	for ; i < n; i++ {
		out[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
}

// nativeLittleEndian reports whether int16s are held little-endian in
// memory, as linear16 audio is sent.
func nativeLittleEndian() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}

// decodeAtMost decodes at most n samples from the start of b onto dst, and
// returns dst and the bytes it did not take. A dst with room for n samples
// is written in place, never moved. (2n bytes make n samples, or n
// samples and a byte carried when a byte was carried already.)
func (d *Linear16Decoder) decodeAtMost(dst []int16, b []byte, n int) ([]int16, []byte) {
	k := min(2*n, len(b))
	return d.Decode(dst, b[:k]), b[k:]
}

// Pending reports whether half a sample is waiting for its other byte; at
// the end of a stream that byte is dropped.
func (d *Linear16Decoder) Pending() bool { return d.hasCarry }

// EncodeLinear16 encodes samples as little-endian bytes.
func EncodeLinear16(samples []int16) []byte {
	b := make([]byte, 2*len(samples))
	for i, s := range samples {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(s))
	}
	return b
}

// EncodeWAV wraps mono samples in a minimal RIFF/WAVE PCM16 file, the one
// container every speech-to-text API accepts without a codec.
func EncodeWAV(samples []int16, rate int) []byte {
	dataLen := 2 * len(samples)
	b := make([]byte, 44+dataLen)
	copy(b[0:], "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+dataLen))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], 1) // PCM
	binary.LittleEndian.PutUint16(b[22:], 1) // mono
	binary.LittleEndian.PutUint32(b[24:], uint32(rate))
	binary.LittleEndian.PutUint32(b[28:], uint32(rate*2))
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(dataLen))
	for i, s := range samples {
		binary.LittleEndian.PutUint16(b[44+2*i:], uint16(s))
	}
	return b
}

// WAVFormat describes the audio in a WAV file.
type WAVFormat struct {
	SampleRate    int
	Channels      int
	BitsPerSample int
}

// maxWAVChunk bounds a single non-data chunk, so that a hostile header
// cannot make ReadWAV allocate gigabytes for metadata it skips anyway.
const maxWAVChunk = 1 << 20

// ReadWAV reads a RIFF/WAVE file and returns its format and its raw
// little-endian PCM16 data (interleaved when there are several channels).
// Chunks other than "fmt " and "data" (LIST, fact, bext …) are skipped;
// WAVE_FORMAT_EXTENSIBLE files holding PCM are accepted. A data chunk whose
// declared size runs past the end of the file — what streaming recorders
// write — is read to the end. Errors wrap ErrNotWAV, ErrMalformedWAV or
// ErrNotPCM16.
func ReadWAV(r io.Reader) (WAVFormat, []byte, error) {
	f, size, err := ReadWAVHeader(r)
	if err != nil {
		return f, nil, err
	}
	pcm, err := io.ReadAll(io.LimitReader(r, size))
	if err != nil {
		return f, nil, fmt.Errorf("%w: data chunk: %v", ErrMalformedWAV, err)
	}
	frame := 2 * f.Channels
	pcm = pcm[:len(pcm)/frame*frame] // a truncated last frame is dropped, not misread
	return f, pcm, nil
}

// ReadWAVHeader reads a WAV file's header, as ReadWAV does, up to the
// start of its data, which the caller then reads from r as it comes (a
// file streamed or uploaded). Errors are ReadWAV's.
// size is the data chunk's declared size.
func ReadWAVHeader(r io.Reader) (f WAVFormat, size int64, err error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return f, 0, fmt.Errorf("%w: %v", ErrNotWAV, err)
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return f, 0, ErrNotWAV
	}
	gotFmt := false
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			return f, 0, fmt.Errorf("%w: no data chunk", ErrMalformedWAV)
		}
		id, size := string(ch[0:4]), int64(binary.LittleEndian.Uint32(ch[4:8]))
		switch id {
		case "fmt ":
			if size < 16 || size > maxWAVChunk {
				return f, 0, fmt.Errorf("%w: fmt chunk of %d bytes", ErrMalformedWAV, size)
			}
			body := make([]byte, size+size%2)
			if _, err := io.ReadFull(r, body); err != nil {
				return f, 0, fmt.Errorf("%w: fmt chunk: %v", ErrMalformedWAV, err)
			}
			tag := binary.LittleEndian.Uint16(body[0:2])
			f.Channels = int(binary.LittleEndian.Uint16(body[2:4]))
			f.SampleRate = int(binary.LittleEndian.Uint32(body[4:8]))
			f.BitsPerSample = int(binary.LittleEndian.Uint16(body[14:16]))
			if tag == 0xFFFE && size >= 26 { // extensible: the sub-format GUID begins with the real tag
				tag = binary.LittleEndian.Uint16(body[24:26])
			}
			if tag != 1 || f.BitsPerSample != 16 {
				return f, 0, fmt.Errorf("%w: format tag %d, %d bits per sample", ErrNotPCM16, tag, f.BitsPerSample)
			}
			if f.Channels < 1 || f.SampleRate < 1 {
				return f, 0, fmt.Errorf("%w: %d channels at %d Hz", ErrMalformedWAV, f.Channels, f.SampleRate)
			}
			gotFmt = true
		case "data":
			if !gotFmt {
				return f, 0, fmt.Errorf("%w: data chunk before fmt chunk", ErrMalformedWAV)
			}
			return f, size, nil
		default:
			if _, err := io.CopyN(io.Discard, r, size+size%2); err != nil {
				return f, 0, fmt.Errorf("%w: chunk %q: %v", ErrMalformedWAV, id, err)
			}
		}
	}
}

// MixToMono averages interleaved channels into one, for WAV files recorded
// in stereo; the streaming protocol itself is mono.
func MixToMono(samples []int16, channels int) []int16 {
	if channels <= 1 {
		return samples
	}
	out := make([]int16, len(samples)/channels)
	for i := range out {
		sum := 0
		for c := 0; c < channels; c++ {
			sum += int(samples[i*channels+c])
		}
		out[i] = int16(sum / channels)
	}
	return out
}

// Resampler converts a stream of mono samples from one rate to another.
//
// It is a windowed-sinc interpolator (Blackman window, 16 zero crossings,
// cutoff at 90% of the lower Nyquist frequency), evaluated at each output
// sample's exact rational position in the input. Linear interpolation would
// be cheaper but aliases badly when going down from 44.1/48 kHz, and aliased
// energy in 4–8 kHz is exactly where fricatives (s, f, th) live; a sinc
// filter keeps them clean for the recogniser at a cost of a few dozen
// multiply-adds per output sample. For the usual rates the filter of each
// of the few output phases is tabulated exactly; for odd rates (8001 Hz)
// the kernel is tabulated at 512 points per zero crossing and linearly
// interpolated.
//
// State is carried across calls: feeding audio in one chunk or in many gives
// the same samples, so chunk boundaries add no clicks. Output lags input by
// about half the filter length; Flush drains it at the end.
type Resampler struct {
	in, out     int64
	passthrough bool

	fc       float64   // cutoff in cycles per input sample
	half     int       // filter half-width in input samples
	table    []float64 // kernel sampled every 1/tableRes input samples from 0 to half
	tableRes float64
	// poly holds the exact, normalised filter for each phase when the
	// ratio has few phases (all the usual rates): 2·half taps per phase.
	poly []float64
	g    int64 // gcd(in, out): phase = (n·in mod out) / g

	buf      []float64 // pending input, buf[0] is input sample bufStart
	bufStart int64
	inCount  int64 // input samples seen
	next     int64 // index of the next output sample
}

// RateError reports a sample rate outside what the gateway supports.
type RateError struct{ Rate int }

func (e *RateError) Error() string {
	return fmt.Sprintf("transcription: sample rate %d Hz is not supported (want %d to %d)", e.Rate, MinSampleRate, MaxSampleRate)
}

// The sample rates a session may send, as in Deepgram's live API.
const (
	MinSampleRate = 8000
	MaxSampleRate = 48000
)

// NewResampler returns a Resampler from rate from to rate to; both must be in
// MinSampleRate..MaxSampleRate or the error is a *RateError.
func NewResampler(from, to int) (*Resampler, error) {
	for _, r := range []int{from, to} {
		if r < MinSampleRate || r > MaxSampleRate {
			return nil, &RateError{Rate: r}
		}
	}
	rs := &Resampler{in: int64(from), out: int64(to), passthrough: from == to}
	if rs.passthrough {
		return rs, nil
	}
	const zeroCrossings = 16
	rs.fc = 0.5 * 0.9 * math.Min(1, float64(to)/float64(from))
	rs.half = int(math.Ceil(zeroCrossings / (2 * rs.fc)))
	rs.tableRes = 512 * 2 * rs.fc // points per input sample: 512 per zero crossing
	n := int(float64(rs.half)*rs.tableRes) + 2
	rs.table = make([]float64, n)
	for i := range rs.table {
		x := float64(i) / rs.tableRes
		rs.table[i] = rs.kernelExact(x)
	}
	// Rates with a small common divisor structure (48k, 44.1k, 22.05k, 8k
	// …) have few distinct filter phases: tabulate them exactly, which is
	// both faster and more accurate than interpolating the kernel.
	rs.g = int64(gcd(from, to))
	phases, taps := int(rs.out/rs.g), 2*rs.half
	if phases*taps <= 1<<16 {
		rs.poly = make([]float64, phases*taps)
		for p := range phases {
			frac := float64(int64(p)*rs.g) / float64(rs.out)
			row := rs.poly[p*taps : (p+1)*taps]
			var sum float64
			for j := range row { // tap j is input sample center-half+1+j
				row[j] = rs.kernelExact(math.Abs(float64(rs.half-1-j) + frac))
				sum += row[j]
			}
			for j := range row {
				row[j] /= sum
			}
		}
	}
	return rs, nil
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func (rs *Resampler) kernelExact(x float64) float64 {
	w := float64(rs.half)
	if x >= w {
		return 0
	}
	s := 2 * rs.fc
	if x != 0 {
		s = math.Sin(2*math.Pi*rs.fc*x) / (math.Pi * x)
	}
	// Blackman window over [-w, w].
	p := math.Pi * (x + w) / w
	win := 0.42 - 0.5*math.Cos(p) + 0.08*math.Cos(2*p)
	return s * win
}

func (rs *Resampler) kernel(x float64) float64 {
	if x < 0 {
		x = -x
	}
	p := x * rs.tableRes
	i := int(p)
	if i+1 >= len(rs.table) {
		return 0
	}
	f := p - float64(i)
	return rs.table[i]*(1-f) + rs.table[i+1]*f
}

// Write resamples samples and appends the output that is ready to dst.
func (rs *Resampler) Write(dst []int16, samples []int16) []int16 {
	if rs.passthrough {
		return append(dst, samples...)
	}
	for _, s := range samples {
		rs.buf = append(rs.buf, float64(s))
	}
	rs.inCount += int64(len(samples))
	return rs.emit(dst, rs.inCount)
}

// Flush emits the output still held back by the filter, treating the input
// as ended (followed by silence). It ends the stream: write nothing after it.
func (rs *Resampler) Flush(dst []int16) []int16 {
	if rs.passthrough {
		return dst
	}
	end := rs.inCount
	// Pretend the future is silent to complete the tail; the zeros are not
	// counted as input.
	padded := rs.inCount + int64(rs.half) + 1
	for n := rs.bufStart + int64(len(rs.buf)); n < padded; n++ {
		rs.buf = append(rs.buf, 0)
	}
	dst = rs.emitUntil(dst, padded, end)
	rs.buf = rs.buf[:max(0, int(end-rs.bufStart))]
	return dst
}

// emit produces every output sample whose filter window lies within the
// input seen so far.
func (rs *Resampler) emit(dst []int16, avail int64) []int16 {
	return rs.emitUntil(dst, avail, -1)
}

// emitUntil produces outputs whose window ends before avail; when end >= 0
// it also stops at the output that corresponds to input sample end.
func (rs *Resampler) emitUntil(dst []int16, avail, end int64) []int16 {
	for {
		num := rs.next * rs.in // position = num / out input samples
		center := num / rs.out
		if end >= 0 && center >= end {
			break
		}
		if center+int64(rs.half) >= avail {
			break
		}
		lo := center - int64(rs.half) + 1
		var v float64
		if rs.poly != nil {
			taps := 2 * rs.half
			p := int((num % rs.out) / rs.g)
			row := rs.poly[p*taps : (p+1)*taps]
			var acc float64
			if lo >= rs.bufStart {
				in := rs.buf[lo-rs.bufStart : lo-rs.bufStart+int64(taps)]
				for j, w := range row {
					acc += w * in[j]
				}
			} else { // the first outputs: samples before the stream are silence
				for j, w := range row {
					if k := lo + int64(j); k >= rs.bufStart {
						acc += w * rs.buf[k-rs.bufStart]
					}
				}
			}
			v = math.Round(acc)
		} else {
			frac := float64(num%rs.out) / float64(rs.out)
			var acc, norm float64
			for k := lo; k <= center+int64(rs.half); k++ {
				w := rs.kernel(float64(center-k) + frac)
				norm += w
				if k >= rs.bufStart {
					acc += w * rs.buf[k-rs.bufStart]
				}
			}
			v = math.Round(acc / norm)
		}
		dst = append(dst, int16(math.Max(math.MinInt16, math.Min(math.MaxInt16, v))))
		rs.next++
	}
	// Drop input no future output needs.
	keepFrom := rs.next*rs.in/rs.out - int64(rs.half) + 1
	if drop := keepFrom - rs.bufStart; drop > 0 {
		if drop > int64(len(rs.buf)) {
			drop = int64(len(rs.buf))
		}
		rs.buf = append(rs.buf[:0], rs.buf[drop:]...)
		rs.bufStart += drop
	}
	return dst
}
