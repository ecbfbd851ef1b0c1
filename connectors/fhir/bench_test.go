package fhir_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/scribegate/scribegate/connectors/connectortest"
	"github.com/scribegate/scribegate/connectors/fhir"
	"github.com/scribegate/scribegate/connectors/fhirtest"
)

// BenchmarkPush measures pushes per second through the connector to a local
// fhirtest server (DocumentReference + Provenance, schema-validated by the
// server), and reports the connector's own share: the time per push minus
// the time the server spent handling its requests.
func BenchmarkPush(b *testing.B) {
	srv := fhirtest.New(mustValidator(b))
	var serverTime time.Duration
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		srv.ServeHTTP(w, r)
		serverTime += time.Since(start) // requests are sequential here
	}))
	b.Cleanup(ts.Close)
	c, err := fhir.New(fhir.Settings{BaseURL: ts.URL, Token: "bench"}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	i := 0
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		d := connectortest.Document(nil, i)
		d.NoteID = fmt.Sprintf("bench-%d", i)
		i++
		if _, err := c.Push(b.Context(), d); err != nil {
			b.Fatal(err)
		}
	}
	total := time.Since(start)
	b.ReportMetric(float64(i)/total.Seconds(), "pushes/s")
	b.ReportMetric(float64((total-serverTime).Microseconds())/float64(i), "client-µs/push")
}
