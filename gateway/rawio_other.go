//go:build !unix

package gateway

import (
	"net"

	"github.com/gorilla/websocket"
)

// inPlaceWriter is nil: Durable goes through the writer goroutine.
func inPlaceWriter(*websocket.Conn) tryWriter { return nil }

// fastIO returns c: reads and writes go through the runtime as usual.
func fastIO(c net.Conn) net.Conn { return c }
