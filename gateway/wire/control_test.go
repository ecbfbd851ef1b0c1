package wire

import (
	"encoding/json"
	"errors"
	"testing"
)

func FuzzControlMessage(f *testing.F) {
	for _, s := range []string{`{"type":"KeepAlive"}`, `{"type":"Finalize","channel":0}`, `{"type":"CloseStream"}`,
		`{"type":"Configure"}`, `{"type":3}`, `[]`, `null`, `{"type":"KeepAlive"} x`, "\xff", `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		typ, err := ParseControl(b)
		if err != nil {
			var ce *ControlError
			if !errors.As(err, &ce) || ce.Description == "" || typ != "" {
				t.Fatalf("ParseControl(%q) = %q, %v", b, typ, err)
			}
			return
		}
		switch typ {
		case KeepAlive, Finalize, CloseStream:
		default:
			t.Fatalf("ParseControl(%q) accepted type %q", b, typ)
		}
		var m map[string]any
		if json.Unmarshal(b, &m) != nil || m["type"] != typ {
			t.Fatalf("ParseControl(%q) = %q but the JSON says %v", b, typ, m["type"])
		}
	})
}
