package bestpractice

import (
	"context"
	"errors"
	"fmt"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/auident"
)

// Searching is a Bp Premier connector on transport fhir, which can also
// find patients for the recorder's lookup. Best Practice publishes no
// patient search for the hl7file transport (a folder Bp Premier imports
// from answers nothing), so only this transport offers one: Open returns
// a Searching for it and a plain Connector otherwise, and the gateway
// tells a clinic on hl7file that lookup is unavailable.
type Searching struct{ *Connector }

// SearchPatients finds patients through Halo Connect's FHIR API for Bp
// Premier, which documents Patient read and search
// (https://docs.haloconnect.io/halo-cloud/fhir-api/capabilities; each
// site's CapabilityStatement lists its search parameters): a name= for
// each word of the name, birthdate, and an identifier by its kind — an IHI
// or Medicare number as identifier=system|value with the AU Base system,
// a Bp Premier id as _id (auident.PatientSearchParam). The match's id is
// the Bp Premier patient id (Patient.id), which the connector files
// under; its identifiers (IHI, Medicare) are listed to tell namesakes
// apart.
func (s Searching) SearchPatients(ctx context.Context, q connectors.PatientQuery) ([]connectors.PatientMatch, error) {
	found, err := s.fhir.fc.SearchPatientsAs(ctx, "", q, auident.PatientSearchParam)
	if err != nil {
		var re *connectors.SearchRefusedError
		var qe *connectors.QueryError
		if !errors.As(err, &re) && !errors.As(err, &qe) {
			// prefix rewrites a PushError, and would drop the type the
			// gateway answers a refusal or a mistyped identifier by.
			err = prefix(err)
		}
		return nil, fmt.Errorf("bestpractice: patient search: %w", err)
	}
	return found, nil
}
