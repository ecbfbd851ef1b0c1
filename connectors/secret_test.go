package connectors_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/scribegate/scribegate/connectors"
)

func TestReadSecret(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	os.WriteFile(good, []byte("s3cret\n"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	t.Setenv("SCRIBEGATE_TEST_SECRET", " from-env ")
	t.Setenv("SCRIBEGATE_TEST_EMPTY", "")
	for _, tc := range []struct {
		file, env, want string
		ok              bool
	}{
		{good, "", "s3cret", true},
		{"", "SCRIBEGATE_TEST_SECRET", "from-env", true},
		{empty, "", "", false},
		{filepath.Join(dir, "missing"), "", "", false},
		{"", "SCRIBEGATE_TEST_EMPTY", "", false},
		{good, "SCRIBEGATE_TEST_SECRET", "", false},
		{"", "", "", false},
	} {
		got, err := connectors.ReadSecret(tc.file, tc.env)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ReadSecret(%q, %q) = %q, %v; want %q ok=%v", tc.file, tc.env, got, err, tc.want, tc.ok)
		}
	}
}

func TestParseTimeout(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 7 * time.Second, true},
		{"5s", 5 * time.Second, true},
		{"0s", 0, false},
		{"-1s", 0, false},
		{"soon", 0, false},
	} {
		got, err := connectors.ParseTimeout(tc.in, 7*time.Second)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseTimeout(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
