//go:build !linux

package gateway

import "github.com/gorilla/websocket"

// readInline reports false: without the poller every connection has a
// reader goroutine.
func (ss *session) readInline(*websocket.Conn, chan<- readEnd, <-chan struct{}, chan<- struct{}) bool {
	return false
}
