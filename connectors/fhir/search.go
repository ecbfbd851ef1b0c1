package fhir

import (
	"context"

	"github.com/scribegate/scribegate/connectors"
)

// SearchPatients finds patients in the EHR for the recorder's lookup, as
// the connector files notes under them (fhirclient.Client.SearchPatients).
func (c *Connector) SearchPatients(ctx context.Context, q connectors.PatientQuery) ([]connectors.PatientMatch, error) {
	return c.client.SearchPatients(ctx, c.profile.PatientSystem, q)
}
