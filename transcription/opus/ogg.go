package opus

import (
	"encoding/binary"
	"fmt"
)

// oggDemuxer reads Ogg pages (RFC 3533) as they come and hands the Opus
// stream's packets to its Decoder: the first packet is the OpusHead, the
// second the OpusTags (skipped), the rest audio (RFC 7845). Pages of other
// logical streams multiplexed beside it are skipped; a new Opus stream
// (a beginning-of-stream page after the first stream) starts over.
type oggDemuxer struct {
	d       *Decoder
	buf     []byte // bytes not yet a whole page
	serial  uint32
	started bool   // an Opus stream is being read (serial is its)
	packets int    // packets of the stream so far
	packet  []byte // a packet continued on the next page
}

const (
	oggHeaderLen = 27
	oggBOS       = 0x02
)

func (o *oggDemuxer) push(b []byte) error {
	o.buf = append(o.buf, b...)
	for {
		n, err := o.page(o.buf)
		if err != nil || n == 0 {
			return err // a partial page waits in buf for the next push
		}
		o.buf = o.buf[n:]
	}
}

// page reads the page b starts with, if whole, and returns its length (0
// when more bytes are needed).
func (o *oggDemuxer) page(b []byte) (int, error) {
	if len(b) < oggHeaderLen {
		return 0, nil
	}
	if string(b[:4]) != "OggS" || b[4] != 0 {
		return 0, fmt.Errorf("%w: not an Ogg page", ErrMalformed)
	}
	flags, serial, nseg := b[5], binary.LittleEndian.Uint32(b[14:18]), int(b[26])
	if len(b) < oggHeaderLen+nseg {
		return 0, nil
	}
	lacing := b[oggHeaderLen : oggHeaderLen+nseg]
	size := oggHeaderLen + nseg
	for _, l := range lacing {
		size += int(l)
	}
	if len(b) < size {
		return 0, nil
	}
	if got, want := oggCRC(b[:size]), binary.LittleEndian.Uint32(b[22:26]); got != want {
		return 0, fmt.Errorf("%w: an Ogg page fails its checksum", ErrMalformed)
	}
	if flags&oggBOS != 0 {
		body := b[oggHeaderLen+nseg : size]
		isOpus := len(body) >= 8 && string(body[:8]) == "OpusHead"
		switch {
		case isOpus:
			o.started, o.serial, o.packets, o.packet = true, serial, 0, o.packet[:0]
		case !o.started:
			// Another codec's stream (Vorbis, Theora…) may sit beside an
			// Opus one; if none follows, the first audio page says so.
			return size, nil
		}
	}
	if !o.started {
		return 0, fmt.Errorf("%w: the Ogg stream is not Opus (its first page is not an OpusHead)", ErrNotOpus)
	}
	if serial != o.serial {
		return size, nil // another logical stream multiplexed beside it
	}
	body := b[oggHeaderLen+nseg : size]
	for _, l := range lacing {
		o.packet = append(o.packet, body[:l]...)
		body = body[l:]
		if len(o.packet) > maxPacket {
			return 0, fmt.Errorf("%w: an Ogg packet over %d bytes", ErrMalformed, maxPacket)
		}
		if l == 255 {
			continue // the packet goes on in the next segment
		}
		if err := o.opusPacket(o.packet); err != nil {
			return 0, err
		}
		o.packet = o.packet[:0]
	}
	return size, nil
}

// opusPacket takes the stream's next packet.
func (o *oggDemuxer) opusPacket(p []byte) error {
	o.packets++
	switch o.packets {
	case 1:
		return o.d.start(p)
	case 2:
		return nil // OpusTags: the encoder's name and the recording's tags
	}
	return o.d.packet(p)
}

// oggCRCTable is the CRC-32 of Ogg pages: polynomial 0x04c11db7, not
// reflected (hash/crc32 only does reflected ones), initial value 0.
var oggCRCTable = func() (t [256]uint32) {
	for i := range t {
		r := uint32(i) << 24
		for range 8 {
			if r&0x80000000 != 0 {
				r = r<<1 ^ 0x04c11db7
			} else {
				r <<= 1
			}
		}
		t[i] = r
	}
	return t
}()

// oggCRC is the checksum of page, computed with its checksum field as
// zeros (RFC 3533 6).
func oggCRC(page []byte) uint32 {
	var crc uint32
	for i, c := range page {
		if i >= 22 && i < 26 {
			c = 0
		}
		crc = crc<<8 ^ oggCRCTable[byte(crc>>24)^c]
	}
	return crc
}
