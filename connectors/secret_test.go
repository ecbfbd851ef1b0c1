package connectors_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/connectortest"

	"gopkg.in/yaml.v3"
)

func TestReadSecret(t *testing.T) {
	good := connectortest.SecretFile(t, "s3cret\n")
	empty := connectortest.SecretFile(t, "\n")
	t.Setenv("SCRIBEGATE_TEST_SECRET", " from-env ")
	t.Setenv("SCRIBEGATE_TEST_EMPTY", "")
	for _, tc := range []struct {
		file, env, want string
		ok              bool
	}{
		{good, "", "s3cret", true},
		{"", "SCRIBEGATE_TEST_SECRET", "from-env", true},
		{empty, "", "", false},
		{filepath.Join(t.TempDir(), "missing"), "", "", false},
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

// TestTimeout: a timeout setting decoded as connectors decode theirs (a
// time.Duration from YAML) and checked with Timeout.
func TestTimeout(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 7 * time.Second, true},
		{"timeout: 5s", 5 * time.Second, true},
		{"timeout: 1m30s", 90 * time.Second, true},
		{"timeout: -1s", 0, false},
		{"timeout: 0", 7 * time.Second, true}, // a bare 0 is unset
		{"timeout: 30", 0, false},             // a bare number: the unit was forgotten
		{"timeout: 30ns", 0, false},           // under a millisecond
		{"timeout: soon", 0, false},
	} {
		var s struct {
			Timeout time.Duration `yaml:"timeout"`
		}
		var n yaml.Node
		err := yaml.Unmarshal([]byte("kind: x\n"+tc.in+"\n"), &n)
		if err == nil {
			err = connectors.DecodeSettings(n, &s)
		}
		got := time.Duration(0)
		if err == nil {
			got, err = connectors.Timeout(s.Timeout, 7*time.Second)
		}
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%q: timeout %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
