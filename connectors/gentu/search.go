package gentu

import (
	"context"
	"fmt"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/auident"
)

// SearchPatients finds patients for the recorder's lookup. Magentus
// publishes no patient search for Gentu (its partner API's reference is
// not public, and its published FHIR implementation guide,
// https://ig.fhir.pm.staging.magentus.com, covers ordering and bookings,
// not a patient lookup), so this assumes what the connector already
// assumes of base_url: a FHIR R4 API with standard Patient search — a
// name= for each word of the name, birthdate, and an identifier by its
// kind: an IHI or Medicare number as identifier=system|value with the AU
// Base system, a Gentu id as _id (auident.PatientSearchParam). The match's
// id is the Gentu patient id (Patient.id), which the connector files
// under. As experimental as the connector: check it against the partner
// sandbox.
func (c *Connector) SearchPatients(ctx context.Context, q connectors.PatientQuery) ([]connectors.PatientMatch, error) {
	found, err := c.fhir.SearchPatientsAs(ctx, "", q, auident.PatientSearchParam)
	if err != nil {
		return nil, fmt.Errorf("gentu: patient search: %w", err)
	}
	return found, nil
}
