package main

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestREADMEDocumentsEveryKey: every configuration key (a scalar, or a map
// such as connectors.instances) is named in the README's configuration
// table, as `a.b.c` or under a `a.b.*` row, so a key cannot be added
// undocumented.
func TestREADMEDocumentsEveryKey(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	i := strings.Index(readme, "\n## Configuration\n")
	if i < 0 {
		t.Fatal("README.md has no Configuration section")
	}
	section := readme[i:]
	if j := strings.Index(section[1:], "\n## "); j >= 0 {
		section = section[:j+1]
	}
	var keys []string
	configKeys(reflect.TypeOf(Config{}), "", &keys)
	if len(keys) < 50 {
		t.Fatalf("found only %d keys; the walk is broken", len(keys))
	}
	for _, k := range keys {
		if documented(section, k) {
			continue
		}
		t.Errorf("configuration key %s is not in the README's configuration table", k)
	}
}

// documented reports whether section names key, or a wildcard row over it.
func documented(section, key string) bool {
	if strings.Contains(section, "`"+key+"`") {
		return true
	}
	for p := key; strings.Contains(p, "."); {
		p = p[:strings.LastIndex(p, ".")]
		if strings.Contains(section, "`"+p+".*`") {
			return true
		}
	}
	return false
}

// configKeys appends the dotted yaml path of every leaf of t: a scalar, a
// map or a yaml node (maps are file-only and documented as one key).
func configKeys(t reflect.Type, prefix string, keys *[]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		path := prefix + name
		if f.Type.Kind() == reflect.Struct && f.Type.PkgPath() == t.PkgPath() {
			configKeys(f.Type, path+".", keys)
			continue
		}
		*keys = append(*keys, path)
	}
}
