//go:build !cgo || noopus

package opus

// available: this build has no Opus decoder (no cgo, or the noopus tag).
const available = false

func newPacketDecoder(rate, channels int) (packetDecoder, error) { return nil, ErrUnavailable }
