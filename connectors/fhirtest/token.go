package fhirtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
)

// TokenFaults puts a stand-in's token endpoint (SMART Backend Services,
// OAuth 2.0 client credentials) behind the faults a real one produces, so
// that a connector's token handling is tested as hard as its creates: 503
// or 429 with Retry-After, a refusal (an OAuth error such as
// invalid_client, RFC 6749 section 5.2), a token issued whose reply is lost,
// and a stall. Faults are the Server's Fault; Method and ResourceType are
// ignored. It is safe for concurrent use.
type TokenFaults struct {
	// Handler is the token endpoint itself.
	Handler http.Handler

	faults
}

// ServeHTTP applies the next fault, if any, then hands the request on.
func (t *TokenFaults) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, faulted := t.Take(nil)
	if !faulted {
		t.Handler.ServeHTTP(w, r)
		return
	}
	// Read the body first: only then does the server notice a client
	// that gives up while the request is held.
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	r.Body = io.NopCloser(bytes.NewReader(body))
	if !f.stall(r.Context()) {
		return
	}
	switch {
	case f.Drop:
		// The token is issued, and the reply never arrives.
		t.Handler.ServeHTTP(httptest.NewRecorder(), r)
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	case f.Status != 0:
		code := "invalid_client"
		switch {
		case f.Status == http.StatusTooManyRequests:
			code = "slow_down"
		case f.Status >= 500:
			code = "temporarily_unavailable"
		}
		desc := f.Message
		if desc == "" {
			desc = "fhirtest: injected HTTP " + strconv.Itoa(f.Status)
		}
		f.setRetryAfter(w.Header())
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(f.Status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
	default:
		t.Handler.ServeHTTP(w, r)
	}
}
