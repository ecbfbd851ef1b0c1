package connectors_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/scribegate/scribegate/connectors"
)

// TestPushErrorLogValue: a PushError logged as it is returned (an error)
// shows its class, status, wait and cause, never the EHR's words.
func TestPushErrorLogValue(t *testing.T) {
	var err error = &connectors.PushError{StatusCode: 429, Message: "Patient Jane Citizen: too many requests", RetryAfter: 2 * time.Second, Err: errors.New("fhirclient: HTTP 429")}
	var b bytes.Buffer
	slog.New(slog.NewJSONHandler(&b, nil)).Warn("create failed", "err", err)
	got := b.String()
	if strings.Contains(got, "Citizen") {
		t.Errorf("the log carries the EHR's words: %s", got)
	}
	for _, want := range []string{`"permanent":false`, `"status":429`, `"retry_after":2000000000`, `"cause":"fhirclient: HTTP 429"`} {
		if !strings.Contains(got, want) {
			t.Errorf("the log lacks %s: %s", want, got)
		}
	}
}

// TestPermanent: a refusal the EHR will never take is permanent, carries
// its cause and shows the cause's words; nil stays nil.
func TestPermanent(t *testing.T) {
	if err := connectors.Permanent(nil); err != nil {
		t.Errorf("Permanent(nil) = %v", err)
	}
	cause := errors.New("patient: not an IHI")
	var pe *connectors.PushError
	if err := connectors.Permanent(cause); !errors.As(err, &pe) || !pe.Permanent || pe.Message != cause.Error() || !errors.Is(err, cause) {
		t.Errorf("Permanent(%v) = %#v", cause, err)
	}
}
