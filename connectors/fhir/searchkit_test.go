package fhir

import (
	"testing"

	"github.com/scribegate/scribegate/connectors/connectortest"
	"github.com/scribegate/scribegate/connectors/fhirtest"
)

func TestSearchConformance(t *testing.T) {
	for _, tc := range []struct {
		name   string
		system string
	}{{"by Patient id", ""}, {"by identifier", "urn:oid:1.2.36.146.595.217.0.1"}} {
		t.Run(tc.name, func(t *testing.T) {
			connectortest.RunSearch(t, connectortest.SearchHarness{
				Setup: func(t *testing.T) (connectortest.Searcher, connectortest.SearchTarget) {
					srv := fhirtest.NewServer(t)
					c, err := New(Settings{BaseURL: srv.URL, PatientSystem: tc.system}, nil, nil)
					if err != nil {
						t.Fatal(err)
					}
					return c, &connectortest.FHIRSearchTarget{Server: srv, System: tc.system, ByIdentifier: tc.system != ""}
				},
			})
		})
	}
}
