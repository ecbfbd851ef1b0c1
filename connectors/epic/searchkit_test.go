package epic_test

import (
	"testing"

	"github.com/scribegate/scribegate/connectors/connectortest"
)

func TestSearchConformance(t *testing.T) {
	connectortest.RunSearch(t, connectortest.SearchHarness{
		Setup: func(t *testing.T) (connectortest.Searcher, connectortest.SearchTarget) {
			e := newEnv(t, rsaKey(), "RS384")
			return e.connector(t, rsaKey(), nil), &connectortest.FHIRSearchTarget{Server: e.srv.FHIR}
		},
	})
}
