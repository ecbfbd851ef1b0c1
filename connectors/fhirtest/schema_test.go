package fhirtest_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/scribegate/scribegate/connectors/fhirtest"
)

const validDoc = `{
  "resourceType": "DocumentReference",
  "status": "current",
  "subject": {"reference": "Patient/123"},
  "content": [{"attachment": {"contentType": "text/plain", "data": "aGVsbG8="}}]
}`

func TestValidate(t *testing.T) {
	v := fhirtest.Schema(t)
	tests := []struct {
		name      string
		body      string
		wantPaths []string // substrings that must appear among problem paths
	}{
		{name: "minimal DocumentReference", body: validDoc},
		{name: "status null", body: strings.Replace(validDoc, `"current"`, `null`, 1), wantPaths: []string{"/status"}},
		{name: "unknown status code", body: strings.Replace(validDoc, `"current"`, `"bogus"`, 1), wantPaths: []string{"/status"}},
		{name: "content null", body: `{"resourceType":"DocumentReference","status":"current","content":null}`, wantPaths: []string{"/content"}},
		{name: "content missing", body: `{"resourceType":"DocumentReference","status":"current"}`, wantPaths: []string{""}},
		// The official schema gives complex types no "type": "object", so a
		// bare string where a Reference belongs is not caught; unknown
		// properties are.
		{name: "unknown property in subject", body: strings.Replace(validDoc, `{"reference": "Patient/123"}`, `{"ref": "Patient/123"}`, 1), wantPaths: []string{"/subject"}},
		{name: "bad date", body: strings.Replace(validDoc, `"status"`, `"date": "yesterday", "status"`, 1), wantPaths: []string{"/date"}},
		{name: "size as string", body: strings.Replace(validDoc, `"data"`, `"size": "5", "data"`, 1), wantPaths: []string{"/content/0/attachment/size"}},
		{name: "unknown resource type", body: `{"resourceType":"Nope"}`, wantPaths: []string{"/resourceType"}},
		{name: "no resourceType", body: `{"status":"current"}`, wantPaths: []string{"/resourceType"}},
		{name: "not JSON", body: `{`, wantPaths: []string{""}},
		{name: "valid Provenance", body: `{"resourceType":"Provenance","target":[{"reference":"DocumentReference/1"}],"recorded":"2024-05-01T10:00:00Z","agent":[{"who":{"display":"x"}}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := v.Validate([]byte(tt.body))
			if len(tt.wantPaths) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var e *fhirtest.SchemaError
			if !errors.As(err, &e) {
				t.Fatalf("Validate = %v, want *fhirtest.SchemaError", err)
			}
			for _, want := range tt.wantPaths {
				found := false
				for _, p := range e.Problems {
					if p.Path == want {
						found = true
					}
				}
				if !found {
					t.Errorf("problems %+v lack path %q", e.Problems, want)
				}
			}
			t.Logf("%v", err)
		})
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := fhirtest.LoadSchema("testdata/does-not-exist.json"); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}

func BenchmarkValidate(b *testing.B) {
	v := fhirtest.Schema(b)
	for b.Loop() {
		if err := v.Validate([]byte(validDoc)); err != nil {
			b.Fatal(err)
		}
	}
}
