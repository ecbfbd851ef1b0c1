package fhir_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/scribegate/scribegate/connectors/fhirtest"
)

// withoutLocation answers DocumentReference creates with neither Location
// nor body, as a minimal server might.
func withoutLocation(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/DocumentReference" {
			w = &bareWriter{ResponseWriter: w}
		}
		next.ServeHTTP(w, r)
	})
}

type bareWriter struct{ http.ResponseWriter }

func (b *bareWriter) WriteHeader(code int) {
	b.Header().Del("Location")
	b.Header().Del("Content-Type")
	b.ResponseWriter.WriteHeader(code)
}

func (b *bareWriter) Write(p []byte) (int, error) { return io.Discard.Write(p) }

func newServer(t *testing.T, h http.Handler) string {
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL
}

func mustValidator(tb testing.TB) *fhirtest.Validator { return fhirtest.Schema(tb) }
