// Package httpstatus remembers the status an HTTP handler answered with:
// the gateway's access log counts requests by it, and the test FHIR server
// (fhirtest) records it beside each request. It sits under connectors,
// the leaf that the gateway and the connectors' test kits may both import.
package httpstatus

import (
	"bufio"
	"errors"
	"net"
	"net/http"
)

// Writer is a ResponseWriter that remembers the status its handler
// answered with. Status is 0 until the handler writes a header, or a body
// (200 then), and 101 once the connection is hijacked, as a WebSocket
// upgrade does; only the first status written counts.
type Writer struct {
	http.ResponseWriter
	Status int
}

// WriteHeader remembers code, if it is the first, and passes it on.
func (w *Writer) WriteHeader(code int) {
	if w.Status == 0 {
		w.Status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write passes b on; a body written before any header is answered 200.
func (w *Writer) Write(b []byte) (int, error) {
	if w.Status == 0 {
		w.Status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Hijack passes Hijack through, so WebSocket upgrades work behind the
// Writer.
func (w *Writer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("httpstatus: connection cannot be hijacked")
	}
	w.Status = http.StatusSwitchingProtocols
	return h.Hijack()
}

// Unwrap is the ResponseWriter wrapped, for http.ResponseController.
func (w *Writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }
