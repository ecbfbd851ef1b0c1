//go:build unix

package bestpractice

import (
	"fmt"
	"os"
	"syscall"
)

// sameFileSystem reports an error when a and b are on different file
// systems, where a hard link from one into the other cannot work.
func sameFileSystem(a, b string) error {
	fa, err := os.Stat(a)
	if err != nil {
		return err
	}
	fb, err := os.Stat(b)
	if err != nil {
		return err
	}
	sa, ok1 := fa.Sys().(*syscall.Stat_t)
	sb, ok2 := fb.Sys().(*syscall.Stat_t)
	if ok1 && ok2 && sa.Dev != sb.Dev {
		return fmt.Errorf("%s is not on the inbox's file system", a)
	}
	return nil
}
