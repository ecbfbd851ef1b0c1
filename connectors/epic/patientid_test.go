package epic

import (
	"testing"

	"github.com/scribegate/scribegate/connectors/connectortest"
)

func TestValidatePatientID(t *testing.T) {
	connectortest.CheckPatientIDs(t, &Connector{}, connectortest.FHIRPatientIDs(), nil)
}
