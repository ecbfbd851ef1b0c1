package connectors_test

import (
	"testing"
	"time"

	"github.com/scribegate/scribegate/connectors"
)

func TestProblems(t *testing.T) {
	var p connectors.Problems
	if err := p.Err("x"); err != nil {
		t.Fatalf("no problems: %v", err)
	}
	p.Require("client_id", " ")
	p.Require("practice_id", "195900")
	p.RequireURL("base_url", "")
	p.RequireURL("token_url", "ftp://idp.example/token")
	p.HTTPURL("fhir_url", "")
	p.HTTPURL("api_url", "https://api.example/r4")
	if d := p.Timeout(0, 30*time.Second); d != 30*time.Second {
		t.Errorf("Timeout(0, 30s) = %v", d)
	}
	if d := p.Timeout(30, time.Second); d != 0 {
		t.Errorf("Timeout(30ns) = %v, want 0 and a problem", d)
	}
	p.Addf("algorithm %q must be RS384 or ES384", "HS256")
	want := `athena: client_id is required; base_url is required; ` +
		`token_url must be an absolute http(s) URL; timeout 30ns is not a positive duration of at least 1ms (write it with a unit: 30s); ` +
		`algorithm "HS256" must be RS384 or ES384`
	if err := p.Err("athena"); err == nil || err.Error() != want {
		t.Errorf("Err = %v\nwant %s", err, want)
	}
}
