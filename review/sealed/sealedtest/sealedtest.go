// Package sealedtest makes key rings for tests of sealed storage: fresh
// random keys under given ids, and rings of them as an operator's key
// file would list them.
package sealedtest

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/scribegate/scribegate/review/sealed"
)

// Key returns a ring entry "id:key" with a fresh random 32-byte key, so
// that two calls with one id give a key that should open nothing the
// other sealed.
func Key(id string) string {
	k := make([]byte, 32)
	rand.Read(k)
	return id + ":" + base64.StdEncoding.EncodeToString(k)
}

// Ring parses entries, newest first, into a ring (see sealed.ParseKeys),
// failing tb if they do not parse.
func Ring(tb testing.TB, entries ...string) *sealed.Ring {
	tb.Helper()
	r, err := sealed.ParseKeys(strings.Join(entries, "\n"))
	if err != nil {
		tb.Fatal(err)
	}
	return r
}
