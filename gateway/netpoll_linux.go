package gateway

import (
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// pollBusy is how many sockets the poller must hold for it to wait for
// the next round rather than for the next ready socket. Clients' frames
// arrive spread over their period (each session started when its
// consultation did): at 100 and 300 sessions, each sending a frame per
// 100 ms, pacing used 5-8% less CPU than waking for each socket, and at
// 500 a tenth less. A few sessions are read as their frames come.
const pollBusy = 32

// pollIdleWait bounds an idle poller's wait, so that it notices it has
// no sockets left.
const pollIdleWait = 100 * time.Millisecond

// poller watches the session sockets with an epoll instance of its own
// and reads them in rounds. With a goroutine per connection, the
// runtime's poller wakes a thread and a goroutine for every frame that
// arrives: at a frame every 100 ms from each of a thousand clients, those
// wake-ups cost more CPU than reading the frames. This one reads every
// ready socket and takes its frames (inlineReader) on its one goroutine,
// in rounds. While it holds many sockets (pollBusy), rounds are an
// interval apart, and after each the audio writer is told (afterRound)
// to store the round's audio and send its Durables at once: a frame waits
// for the next round instead of for the writer's interval, so Durable
// comes no later than before. With fewer, the next round starts as soon
// as a socket is ready, waiting for it in the runtime's poller, and the
// writer keeps its own interval: pacing a few sessions' frames would cost
// the wake-ups it saves. Its goroutine runs while it has sockets.
type poller struct {
	interval time.Duration
	busy     int                    // pollBusy; tests lower it
	after    atomic.Pointer[func()] // run after each round

	mu      sync.Mutex
	epfd    int      // -1 while no goroutine runs
	file    *os.File // epfd, for the runtime's poller
	conns   map[int32]*pollConn
	running bool
	inline  []*inlineReader // this round's, the goroutine's own
}

// newPoller returns a poller whose rounds are interval apart.
func newPoller(interval time.Duration) *poller {
	return &poller{interval: interval, busy: pollBusy, epfd: -1, conns: make(map[int32]*pollConn)}
}

// afterRound makes f run after each round, once its frames are taken.
func (p *poller) afterRound(f func()) {
	if p != nil {
		p.after.Store(&f)
	}
}

// adopt takes c's socket out of the runtime's poller (the runtime's
// descriptor is closed, a duplicate kept) and returns a net.Conn on it
// whose waits are this poller's; c as fastIO makes it when c is not a TCP
// socket, the socket cannot be moved, or p is nil.
func (p *poller) adopt(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok || p == nil {
		return fastIO(c)
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return fastIO(c)
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) {
		var r uintptr
		var e syscall.Errno
		r, _, e = syscall.Syscall(syscall.SYS_FCNTL, s, syscall.F_DUPFD_CLOEXEC, 0)
		if e != 0 {
			derr = e
			return
		}
		fd = int(r)
	}); err != nil || derr != nil {
		return fastIO(c)
	}
	pc := &pollConn{
		fd:     fd,
		p:      p,
		laddr:  tc.LocalAddr(),
		raddr:  tc.RemoteAddr(),
		rready: make(chan struct{}, 1),
		wready: make(chan struct{}, 1),
	}
	pc.rtimer.fire = func() {
		wake(pc.rready)
		if r := pc.reader.Load(); r != nil {
			r.deadlinePassed()
		}
	}
	pc.wtimer.fire = func() { wake(pc.wready) }
	if err := p.add(pc); err != nil {
		syscall.Close(fd)
		return fastIO(c)
	}
	// The duplicate shares the socket, which stays non-blocking; closing
	// the runtime's descriptor takes it out of the runtime's poller.
	tc.Close()
	return pc
}

// add registers c, starting the goroutine when it is not running.
func (p *poller) add(c *pollConn) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.epfd < 0 {
		fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			return os.NewSyscallError("epoll_create1", err)
		}
		// Non-blocking, so that the runtime's poller watches it: an idle
		// poller waits there, as any goroutine waiting for a socket does.
		if err := syscall.SetNonblock(fd, true); err != nil {
			syscall.Close(fd)
			return os.NewSyscallError("fcntl", err)
		}
		p.epfd, p.file = fd, os.NewFile(uintptr(fd), "epoll")
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLOUT | syscall.EPOLLRDHUP | epollET, Fd: int32(c.fd)}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	p.conns[int32(c.fd)] = c
	if !p.running {
		p.running = true
		go p.run(p.epfd, p.file)
	}
	return nil
}

// epollET is EPOLLET as the unsigned events mask wants it.
const epollET = 1 << 31

// remove unregisters c; its descriptor is still open.
func (p *poller) remove(c *pollConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns[int32(c.fd)] == c {
		delete(p.conns, int32(c.fd))
		syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, c.fd, nil)
	}
}

// run reads the ready sockets in rounds until no socket is left.
func (p *poller) run(epfd int, file *os.File) {
	evs := make([]syscall.EpollEvent, 256)
	var n int
	rc, err := file.SyscallConn()
	if err != nil {
		panic(err) // cannot happen: an *os.File has one
	}
	harvest := func(fd uintptr) bool {
		n = epollPoll(int(fd), evs)
		return n > 0
	}
	scratch := make([]byte, 64<<10)
	busy := false
	for {
		start := time.Now()
		if busy {
			n = epollPoll(epfd, evs)
		} else {
			// Wait in the runtime's poller for the first readiness.
			file.SetReadDeadline(start.Add(pollIdleWait))
			if rc.Read(harvest) != nil {
				n = 0
			}
			start = time.Now()
		}
		for n > 0 {
			p.deliver(evs[:n])
			for i, ir := range p.inline {
				ir.readable(scratch)
				p.inline[i] = nil
			}
			p.inline = p.inline[:0]
			if n < len(evs) {
				break
			}
			n = epollPoll(epfd, evs) // more may be waiting
		}
		held := p.held()
		busy = held >= p.busy
		if f := p.after.Load(); busy && f != nil {
			(*f)()
		}
		if !busy {
			if held == 0 && p.stopIfEmpty() {
				return
			}
			continue
		}
		if d := p.interval - time.Since(start); d > 0 {
			time.Sleep(d)
		}
	}
}

// held is how many sockets the poller watches.
func (p *poller) held() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// stopIfEmpty ends the goroutine, closing epfd, when no socket is left.
func (p *poller) stopIfEmpty() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.conns) > 0 {
		return false
	}
	p.running = false
	p.epfd = -1
	p.file.Close()
	p.file = nil
	return true
}

// deliver lists the inline readers of the sockets in evs for the round,
// and wakes the sockets' other readers (a goroutine in Read) and writers
// waiting for room.
func (p *poller) deliver(evs []syscall.EpollEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ev := range evs {
		c := p.conns[ev.Fd]
		if c == nil {
			continue
		}
		if ev.Events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
			c.ended.Store(true)
		}
		if ev.Events&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
			if ir := c.reader.Load(); ir != nil {
				p.inline = append(p.inline, ir)
			} else {
				wake(c.rready)
			}
		}
		if ev.Events&(syscall.EPOLLOUT|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 && c.wwaiting.Load() {
			wake(c.wready)
		}
	}
}

// epollPoll is epoll_wait that does not wait: a raw system call, which
// the runtime need not be told of (see fastIO).
func epollPoll(epfd int, evs []syscall.EpollEvent) int {
	n, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(epfd),
		uintptr(unsafe.Pointer(unsafe.SliceData(evs))), uintptr(len(evs)), 0, 0, 0)
	if e != 0 {
		return 0
	}
	return int(n)
}

// wake leaves a token in c (of capacity one) unless one is there.
func wake(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// pollConn is a TCP connection whose socket the poller watches; reads
// and writes are raw system calls on the non-blocking socket (see
// fastIO), and a read or write that must wait waits for the poller's
// token, its deadline or Close. Stray tokens are harmless: the operation
// is tried again.
type pollConn struct {
	fd           int
	p            *poller
	laddr, raddr net.Addr

	// fdMu keeps fd open while a system call uses it: Close takes it
	// whole once closed is set.
	fdMu   sync.RWMutex
	closed atomic.Bool

	rmu     sync.Mutex // one Read at a time
	drained bool       // the last read emptied the socket: wait first
	// ended: the peer closed or the socket failed. Once it has, a read
	// that empties the socket leaves the end to read, which no further
	// readiness announces.
	ended  atomic.Bool
	rready chan struct{}
	rtimer deadline
	// reader, when set, takes the socket's input in the poller's rounds
	// instead of a goroutine waiting in Read.
	reader atomic.Pointer[inlineReader]

	wmu      sync.Mutex // one Write at a time
	wready   chan struct{}
	wwaiting atomic.Bool // a write waits for room: the poller wakes it
	wtimer   deadline
}

// deadline is one direction's deadline: a timer that, when it fires,
// wakes the waiting operation, which then finds the deadline passed.
type deadline struct {
	mu   sync.Mutex
	t    *time.Timer
	at   time.Time // zero: none
	fire func()
}

func (d *deadline) set(at time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.at = at
	if at.IsZero() {
		if d.t != nil {
			d.t.Stop()
		}
		return
	}
	wait := time.Until(at)
	if d.t == nil {
		d.t = time.AfterFunc(wait, d.fire)
	} else {
		d.t.Reset(wait)
	}
}

func (d *deadline) passed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.at.IsZero() && !time.Now().Before(d.at)
}

func (d *deadline) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.t != nil {
		d.t.Stop()
	}
}

// Read reads what the socket holds, waiting while it holds nothing.
func (c *pollConn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for {
		if c.closed.Load() {
			return 0, c.opError("read", net.ErrClosed)
		}
		if c.rtimer.passed() {
			return 0, c.opError("read", os.ErrDeadlineExceeded)
		}
		if !c.drained {
			n, err := c.sys(rawRead, b)
			switch {
			case err == syscall.EAGAIN:
				c.drained = true
			case err == syscall.EINTR:
				continue
			case err != nil:
				return 0, c.opError("read", err)
			case n == 0:
				return 0, io.EOF
			default:
				// A short read emptied the socket: whatever comes next
				// brings a token (unless what came was the end).
				c.drained = n < len(b) && !c.ended.Load()
				return n, nil
			}
		}
		<-c.rready
		c.drained = false
	}
}

// sys runs a raw read or write on the descriptor unless it is closed.
func (c *pollConn) sys(op func(uintptr, []byte) (int, error), b []byte) (int, error) {
	c.fdMu.RLock()
	defer c.fdMu.RUnlock()
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	return op(uintptr(c.fd), b)
}

// Write writes all of b, waiting while the socket takes no more.
func (c *pollConn) Write(b []byte) (int, error) {
	n, err := c.write(b, false)
	if err != nil {
		return n, c.opError("write", err)
	}
	return n, nil
}

// tryWrite implements tryWriter: one write that takes what the socket
// takes and never waits for more.
func (c *pollConn) tryWrite(b []byte) (int, error) { return c.write(b, true) }

func (c *pollConn) write(b []byte, try bool) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	n := 0
	for n < len(b) {
		if c.closed.Load() {
			return n, net.ErrClosed
		}
		if !try && c.wtimer.passed() {
			return n, os.ErrDeadlineExceeded
		}
		m, err := c.sys(rawWrite, b[n:])
		switch {
		case err == syscall.EINTR:
		case err == syscall.EAGAIN:
			if try {
				return n, nil
			}
			if !c.wwaiting.Load() {
				// Ask for the poller's token, then try once more: room
				// made before the ask brings none.
				c.wwaiting.Store(true)
				continue
			}
			<-c.wready
		case err != nil:
			c.wwaiting.Store(false)
			return n, err
		default:
			n += m
			if try {
				return n, nil
			}
		}
	}
	c.wwaiting.Store(false)
	return n, nil
}

// Close closes the socket, failing operations in progress.
func (c *pollConn) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return c.opError("close", net.ErrClosed)
	}
	wake(c.rready)
	wake(c.wready)
	if r := c.reader.Load(); r != nil {
		go r.connClosed()
	}
	c.rtimer.stop()
	c.wtimer.stop()
	c.fdMu.Lock()
	defer c.fdMu.Unlock()
	c.p.remove(c)
	if err := syscall.Close(c.fd); err != nil {
		return c.opError("close", err)
	}
	return nil
}

// LocalAddr implements net.Conn.
func (c *pollConn) LocalAddr() net.Addr { return c.laddr }

// RemoteAddr implements net.Conn.
func (c *pollConn) RemoteAddr() net.Addr { return c.raddr }

// SetDeadline implements net.Conn.
func (c *pollConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetReadDeadline implements net.Conn.
func (c *pollConn) SetReadDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opError("set", net.ErrClosed)
	}
	c.rtimer.set(t)
	return nil
}

// SetWriteDeadline implements net.Conn.
func (c *pollConn) SetWriteDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opError("set", net.ErrClosed)
	}
	c.wtimer.set(t)
	return nil
}

// opError is err as net.Conn reports it.
func (c *pollConn) opError(op string, err error) error {
	return tcpOpError(op, c.laddr, c.raddr, err)
}

// CloseWrite shuts down the writing side, as net.TCPConn's does.
func (c *pollConn) CloseWrite() error {
	c.fdMu.RLock()
	defer c.fdMu.RUnlock()
	if c.closed.Load() {
		return c.opError("close", net.ErrClosed)
	}
	if err := syscall.Shutdown(c.fd, syscall.SHUT_WR); err != nil {
		return c.opError("close", err)
	}
	return nil
}

// SetWriteBuffer sets the socket's send buffer, as net.TCPConn's does.
func (c *pollConn) SetWriteBuffer(bytes int) error {
	c.fdMu.RLock()
	defer c.fdMu.RUnlock()
	if c.closed.Load() {
		return c.opError("set", net.ErrClosed)
	}
	if err := syscall.SetsockoptInt(c.fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF, bytes); err != nil {
		return c.opError("set", err)
	}
	return nil
}
