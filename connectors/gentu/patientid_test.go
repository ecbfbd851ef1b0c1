package gentu

import (
	"testing"

	"github.com/scribegate/scribegate/connectors/auident"
	"github.com/scribegate/scribegate/connectors/connectortest"
)

func TestValidatePatientID(t *testing.T) {
	connectortest.CheckPatientIDs(t, &Connector{}, connectortest.AUPatientIDs(), auident.ErrInvalid)
}
