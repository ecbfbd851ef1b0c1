package notes

import "testing"

// checkMapping checks that f, called name in the messages, maps each key
// of cases to its value: the form of the package's tests of one rewrite
// of a string.
func checkMapping(t *testing.T, name string, f func(string) string, cases map[string]string) {
	t.Helper()
	for in, want := range cases {
		if got := f(in); got != want {
			t.Errorf("%s(%q) = %q, want %q", name, in, got, want)
		}
	}
}
