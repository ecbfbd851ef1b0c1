//go:build !unix

package audiofile

import (
	"errors"
	"os"
)

// mapSegment is unsupported here: records are read with ReadAt.
func mapSegment(*os.File, int64) ([]byte, error) { return nil, errors.ErrUnsupported }

func unmapSegment([]byte) error { return nil }
