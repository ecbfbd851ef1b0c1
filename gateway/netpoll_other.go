//go:build !linux

package gateway

import (
	"net"
	"time"
)

// poller is Linux's: elsewhere sockets stay with the runtime's poller.
type poller struct{ busy int }

func newPoller(time.Duration) *poller { return &poller{} }

// afterRound does nothing: there are no rounds.
func (p *poller) afterRound(func()) {}

// adopt returns c as fastIO makes it (p may be nil).
func (p *poller) adopt(c net.Conn) net.Conn { return fastIO(c) }
