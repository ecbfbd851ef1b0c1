package cerner_test

import (
	"testing"

	"github.com/scribegate/scribegate/connectors/connectortest"
)

func TestSearchConformance(t *testing.T) {
	connectortest.RunSearch(t, connectortest.SearchHarness{
		Setup: func(t *testing.T) (connectortest.Searcher, connectortest.SearchTarget) {
			m := newMillennium(t)
			return m.open(t).(connectortest.Searcher), &connectortest.FHIRSearchTarget{Server: m.fhir}
		},
	})
}
