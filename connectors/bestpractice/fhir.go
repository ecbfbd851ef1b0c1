package bestpractice

import (
	"context"
	"errors"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/auident"
)

// fhirTransport files notes through Halo Connect's FHIR API.
type fhirTransport struct{}

func newFHIRTransport(c connectors.Config, s Settings) (*fhirTransport, error) {
	return nil, errors.New("bestpractice: transport fhir: not built yet")
}

func (t *fhirTransport) push(ctx context.Context, d *connectors.Document, patient, author auident.Ref) (connectors.Receipt, error) {
	return connectors.Receipt{}, errors.New("not built")
}

func (t *fhirTransport) check(ctx context.Context) []connectors.CheckResult { return nil }
