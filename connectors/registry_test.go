package connectors_test

import (
	"context"
	"errors"
	"testing"

	"github.com/scribegate/scribegate/connectors"
)

type openerSettings struct{ Name string }

type openerConn struct{ s openerSettings }

func (*openerConn) Push(context.Context, *connectors.Document) (connectors.Receipt, error) {
	return connectors.Receipt{}, nil
}

// TestOpener: the Factory decodes the settings and hands them with the
// Config to New; a decode failure names the kind and a failed New comes
// back as a nil Connector, not a nil pointer inside one.
func TestOpener(t *testing.T) {
	build := func(c connectors.Config, s openerSettings) (*openerConn, error) {
		if s.Name == "" {
			return nil, errors.New("name is required")
		}
		return &openerConn{s: s}, nil
	}
	open := connectors.Opener("demo", build)
	conn, err := open(t.Context(), connectors.Config{Decode: func(v any) error { v.(*openerSettings).Name = "x"; return nil }})
	if err != nil || conn.(*openerConn).s.Name != "x" {
		t.Fatalf("Opener = %v, %v; want the decoded settings", conn, err)
	}
	if _, err := open(t.Context(), connectors.Config{Decode: func(any) error { return errors.New("unknown key") }}); err == nil || err.Error() != "demo: settings: unknown key" {
		t.Errorf("decode failure = %v", err)
	}
	conn, err = open(t.Context(), connectors.Config{Decode: func(any) error { return nil }})
	if err == nil || conn != nil {
		t.Errorf("failed New = %v, %v; want a nil Connector and the error", conn, err)
	}
}
