package epic_test

import (
	"testing"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/connectortest"
)

// TestConformance runs the connector kit against the Epic stand-in, which
// checks every token request's signed assertion with the registered public
// key and every note against Epic's clinical-note create rules.
func TestConformance(t *testing.T) {
	var envs connectortest.PerTest[*env]
	connectortest.Run(t, connectortest.Harness{
		Setup: func(t *testing.T) (connectors.Connector, connectortest.Target) {
			e := newEnv(t, rsaKey(), "RS384")
			envs.Set(t, e)
			c := e.connector(t, rsaKey(), nil)
			return c, &connectortest.FHIRTarget{
				Server:     e.srv.FHIR,
				NoteSystem: e.settings().IdentifierSystem,
				Expire:     func() bool { e.srv.Auth.RevokeAll(); return true },
				Token:      e.srv.Token,
				Issued:     e.srv.Auth.Issued,
			}
		},
		Document: func(t *testing.T, i int) *connectors.Document {
			e := envs.Get(t)
			d := connectortest.Document(t, i)
			d.Patient, d.Encounter = e.patient, e.encounter
			return d
		},
	})
}
