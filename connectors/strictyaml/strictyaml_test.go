package strictyaml

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

type inner struct {
	Wait time.Duration `yaml:"wait"`
}

type shared struct {
	Grace time.Duration `yaml:"grace"`
}

type settings struct {
	Name     string                   `yaml:"name"`
	Timeout  time.Duration            `yaml:"timeout"`
	Inner    inner                    `yaml:"inner"`
	Ptr      *inner                   `yaml:"ptr"`
	List     []inner                  `yaml:"list"`
	ByClinic map[string]time.Duration `yaml:"by_clinic"`
	Raw      map[string]yaml.Node     `yaml:"raw"`
	Shared   shared                   `yaml:",inline"`
	Count    int                      `yaml:"count"`
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name, src string
		check     func(settings) bool
		wantErr   string
	}{
		{"with a unit", "timeout: 1m30s\ninner: {wait: 500ms}\n", func(s settings) bool { return s.Timeout == 90*time.Second && s.Inner.Wait == 500*time.Millisecond }, ""},
		{"bare zero is zero", "timeout: 0\ninner: {wait: 0.0}\n", func(s settings) bool { return s.Timeout == 0 && s.Inner.Wait == 0 }, ""},
		{"inline struct's duration", "grace: 2s\n", func(s settings) bool { return s.Shared.Grace == 2*time.Second }, ""},
		{"quoted duration", `timeout: "2h"`, func(s settings) bool { return s.Timeout == 2*time.Hour }, ""},
		{"negative", "timeout: -1s\n", func(s settings) bool { return s.Timeout == -time.Second }, ""},
		{"null leaves the field", "timeout: ~\n", func(s settings) bool { return s.Timeout == 0 }, ""},
		{"empty document", "", func(s settings) bool { return s.Name == "" }, ""},
		{"map of durations", "by_clinic: {c1: 5m, c2: 0}\n", func(s settings) bool { return s.ByClinic["c1"] == 5*time.Minute && s.ByClinic["c2"] == 0 }, ""},
		{"nodes are left to their owner", "raw: {x: {timeout: 30}}\n", func(s settings) bool { return s.Raw["x"].Kind == yaml.MappingNode }, ""},

		{"bare number", "timeout: 30\n", nil, `timeout: 30 has no unit: write a duration such as 30s`},
		{"bare float", "inner: {wait: 1.5}\n", nil, `inner.wait: 1.5 has no unit`},
		{"quoted bare number", `timeout: "30"`, nil, `timeout: 30 has no unit`},
		{"through a pointer", "ptr: {wait: 7}\n", nil, `ptr.wait: 7 has no unit`},
		{"in a list", "list: [{wait: 1s}, {wait: 2}]\n", nil, `list[1].wait: 2 has no unit`},
		{"in a map", "by_clinic: {c1: 10}\n", nil, `by_clinic.c1: 10 has no unit`},
		{"inline struct", "grace: 5\n", nil, `grace: 5 has no unit`},
		{"not a duration", "timeout: soon\n", nil, `timeout: "soon" is not a duration`},
		{"every problem at once", "timeout: 3\ninner: {wait: 4}\n", nil, `timeout: 3 has no unit: write a duration such as 3s; inner.wait: 4 has no unit`},
		{"unknown key", "timeout: 1s\ntimout: 2s\n", nil, "field timout not found"},
		{"type error names its key", "name: x\ncount: many\n", nil, "count: cannot unmarshal !!str `many` into int"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s settings
			err := Decode([]byte(tt.src), &s)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Decode(%q) = %v, want an error containing %q", tt.src, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode(%q): %v", tt.src, err)
			}
			if !tt.check(s) {
				t.Errorf("Decode(%q) = %+v", tt.src, s)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"0": 0, " 0 ": 0, "0s": 0, "250ms": 250 * time.Millisecond, "1h": time.Hour, "-1s": -time.Second} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"30", "1.5", "", "soon", "5 s"} {
		if got, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, got)
		}
	}
}
