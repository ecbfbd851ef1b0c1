package sealed

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func newKey(t *testing.T) string {
	t.Helper()
	k := make([]byte, 32)
	rand.Read(k)
	return base64.StdEncoding.EncodeToString(k)
}

func TestSealOpenRotateFailClosed(t *testing.T) {
	k1, k2 := "k1:"+newKey(t), "k2:"+newKey(t)
	old, err := ParseKeys(k1)
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte(`{"transcript":"chest pain since Tuesday"}`)
	v := old.Seal(plain, "notes")
	if strings.Contains(v, "chest") || !IsSealed(v) || !strings.HasPrefix(v, Prefix+"k1:") {
		t.Fatalf("sealed value %q", v)
	}
	if v2 := old.Seal(plain, "notes"); v2 == v {
		t.Error("two seals of one value are equal (nonce reused)")
	}
	// Rotated: k2 is newest, k1 still in the ring.
	rotated, err := ParseKeys(k2 + "\n# the old key, until nothing needs it\n" + k1)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := rotated.Open(v, "notes"); err != nil || !bytes.Equal(got, plain) {
		t.Errorf("rotated ring opens old value: %q %v", got, err)
	}
	if nv := rotated.Seal(plain, "notes"); !strings.HasPrefix(nv, Prefix+"k2:") {
		t.Errorf("new value not sealed with the newest key: %q", nv[:20])
	}
	// Fail closed.
	wrong, _ := ParseKeys("k1:" + newKey(t))
	onlyNew, _ := ParseKeys(k2)
	var none *Ring
	for _, tc := range []struct {
		name string
		r    *Ring
		v    string
		ad   string
		want error
	}{
		{"wrong key under the right id", wrong, v, "notes", ErrAuth},
		{"key dropped from the ring", onlyNew, v, "notes", ErrUnknownKey},
		{"encryption turned off", none, v, "notes", ErrUnknownKey},
		{"moved to another table", old, v, "audit", ErrAuth},
		{"changed byte", old, v[:len(v)-2] + flip(v[len(v)-2]) + v[len(v)-1:], "notes", ErrAuth},
		{"cut short", old, v[:len(Prefix)+8], "notes", ErrMalformed},
	} {
		got, err := tc.r.Open(tc.v, tc.ad)
		if !errors.Is(err, tc.want) || got != nil {
			t.Errorf("%s: %q %v, want %v", tc.name, got, err, tc.want)
		}
	}
	// Values from before encryption stay readable; a nil ring stores as given.
	if got, err := old.Open(`{"a":1}`, "notes"); err != nil || string(got) != `{"a":1}` {
		t.Errorf("plain value: %q %v", got, err)
	}
	if got := none.Seal(plain, "notes"); got != string(plain) {
		t.Errorf("nil ring sealed: %q", got)
	}
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func TestParseKeysErrors(t *testing.T) {
	short := base64.StdEncoding.EncodeToString(make([]byte, 16))
	for _, s := range []string{"", "# nothing", "nokey", "k1:" + short, "k1:not base64!", "bad id:" + newKey(t), "k1:" + newKey(t) + ",k1:" + newKey(t)} {
		if _, err := ParseKeys(s); err == nil {
			t.Errorf("%q accepted", s)
		} else if strings.Contains(err.Error(), "base64!") {
			t.Errorf("error shows the key: %v", err)
		}
	}
}
