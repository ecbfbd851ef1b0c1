//go:build cgo && !noopus

package opus

import libopus "gopkg.in/hraban/opus.v2"

// available: this build decodes with libopus.
const available = true

type libopusDecoder struct{ dec *libopus.Decoder }

func newPacketDecoder(rate, channels int) (packetDecoder, error) {
	dec, err := libopus.NewDecoder(rate, channels)
	if err != nil {
		return nil, err
	}
	return libopusDecoder{dec}, nil
}

func (l libopusDecoder) decode(packet []byte, pcm []int16) (int, error) {
	return l.dec.Decode(packet, pcm)
}
