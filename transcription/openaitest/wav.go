package openaitest

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// wavFile is an uploaded WAV file. The parser is deliberately independent of
// package transcription's so that the stand-in server checks what a client
// sends rather than agreeing with it by construction.
type wavFile struct {
	rate, channels int
	samples        []int16
}

func parseWAV(b []byte) (wavFile, error) {
	var w wavFile
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return w, errors.New("not a RIFF/WAVE file")
	}
	b = b[12:]
	gotFmt := false
	for len(b) >= 8 {
		id, size := string(b[0:4]), int(binary.LittleEndian.Uint32(b[4:8]))
		b = b[8:]
		if size > len(b) {
			if id == "data" { // streamed WAVs may carry a bogus size; take what is there
				size = len(b)
			} else {
				return w, fmt.Errorf("chunk %q truncated", id)
			}
		}
		body := b[:size]
		switch id {
		case "fmt ":
			if size < 16 {
				return w, errors.New("fmt chunk too short")
			}
			format := binary.LittleEndian.Uint16(body[0:2])
			w.channels = int(binary.LittleEndian.Uint16(body[2:4]))
			w.rate = int(binary.LittleEndian.Uint32(body[4:8]))
			bits := binary.LittleEndian.Uint16(body[14:16])
			if format == 0xFFFE && size >= 26 { // WAVE_FORMAT_EXTENSIBLE: sub-format GUID starts with the format tag
				format = binary.LittleEndian.Uint16(body[24:26])
			}
			if format != 1 || bits != 16 {
				return w, fmt.Errorf("format %d with %d bits per sample is not PCM16", format, bits)
			}
			if w.channels < 1 || w.rate < 1000 || w.rate > 384000 {
				return w, fmt.Errorf("implausible %d channels at %d Hz", w.channels, w.rate)
			}
			gotFmt = true
		case "data":
			if !gotFmt {
				return w, errors.New("data chunk before fmt chunk")
			}
			w.samples = make([]int16, size/2)
			for i := range w.samples {
				w.samples[i] = int16(binary.LittleEndian.Uint16(body[2*i:]))
			}
			return w, nil
		}
		if size%2 == 1 && size < len(b) { // chunks are word aligned
			size++
		}
		b = b[size:]
	}
	return w, errors.New("no data chunk")
}
