package opus

import (
	"errors"
	"io"
)

// NewReader returns the audio of the Ogg Opus or WebM Opus file read from
// r, decoded as it is read: little-endian 16-bit mono samples at rate (see
// NewDecoder). A file that ends inside a page or element ends with the
// audio before it.
func NewReader(container string, rate int, r io.Reader) (io.Reader, error) {
	d, err := NewDecoder(container, rate)
	if err != nil {
		return nil, err
	}
	return &reader{d: d, r: r, in: make([]byte, 16<<10)}, nil
}

type reader struct {
	d   *Decoder
	r   io.Reader
	in  []byte
	out []byte // decoded, not yet read
	err error
}

func (r *reader) Read(p []byte) (int, error) {
	for len(r.out) == 0 && r.err == nil {
		n, err := r.r.Read(r.in)
		if n > 0 {
			var derr error
			r.out, derr = r.d.Decode(r.out[:0], r.in[:n])
			if derr != nil {
				err = derr
			}
		}
		if err != nil {
			r.err = err
		}
	}
	if len(r.out) > 0 {
		n := copy(p, r.out)
		r.out = r.out[n:]
		return n, nil
	}
	if errors.Is(r.err, io.EOF) {
		return 0, io.EOF
	}
	return 0, r.err
}
