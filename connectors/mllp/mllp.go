package mllp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/hl7v2"
	"github.com/scribegate/scribegate/connectors/ledger"
)

// Kind is the connector kind name used in configuration.
const Kind = "mllp"

func init() { connectors.Register(Kind, connectors.Opener(Kind, New)) }

// MLLP framing (HL7 v2 Minimal Lower Layer Protocol, release 2): a block
// starts with VT and ends with FS CR.
const (
	startBlock = 0x0b
	endBlock   = 0x1c
	maxAck     = 1 << 20
)

// Settings are an instance's configuration keys.
type Settings struct {
	// Address is the interface engine's MLLP listener, host:port.
	Address string `yaml:"address"`
	// TLS wraps the connection in TLS (MLLP over TLS); CAFile trusts a
	// private CA, ServerName overrides the name checked, CertFile and
	// KeyFile present a client certificate where the engine asks for one.
	TLS        bool   `yaml:"tls"`
	CAFile     string `yaml:"ca_file"`
	ServerName string `yaml:"server_name"`
	CertFile   string `yaml:"cert_file"`
	KeyFile    string `yaml:"key_file"`
	// ConnectTimeout bounds a dial (default 10s); AckTimeout the wait for
	// the acknowledgement of one message (default 30s).
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	AckTimeout     time.Duration `yaml:"ack_timeout"`
	// MSH-3..6 (defaults SCRIBEGATE, the instance name, and empty).
	SendingApplication   string `yaml:"sending_application"`
	SendingFacility      string `yaml:"sending_facility"`
	ReceivingApplication string `yaml:"receiving_application"`
	ReceivingFacility    string `yaml:"receiving_facility"`
	// ProcessingID is MSH-11: P (production, the default), T (training)
	// or D (debugging).
	ProcessingID string `yaml:"processing_id"`
	// PatientIDAuthority and PatientIDType qualify the patient id in PID-3
	// (CX components 4 and 5), e.g. the hospital's MRN namespace and "MR".
	PatientIDAuthority string `yaml:"patient_id_authority"`
	PatientIDType      string `yaml:"patient_id_type"`
	// PatientClass is PV1-2 (HL7 table 0004; default O, outpatient).
	PatientClass string `yaml:"patient_class"`
	// Timezone is the IANA zone of the message's timestamps (default UTC).
	Timezone string `yaml:"timezone"`
}

// Connector sends notes to one interface engine over one MLLP connection.
type Connector struct {
	name    string
	addr    string
	tls     *tls.Config
	connect time.Duration
	ackWait time.Duration
	header  header
	loc     *time.Location
	log     *slog.Logger
	sent    ledger.Ledger // documents the engine acknowledged
	now     func() time.Time
	dial    func(ctx context.Context) (net.Conn, error)

	mu   sync.Mutex // one message in flight on conn at a time
	conn net.Conn
	rd   *bufio.Reader
}

// New builds a Connector from decoded settings; the registered Factory
// (connectors.Opener) decodes them from the instance's configuration.
// It does not connect: the first Push (or Check) does.
func New(c connectors.Config, s Settings) (*Connector, error) {
	if s.Address == "" {
		return nil, errors.New("mllp: address is required")
	}
	if _, _, err := net.SplitHostPort(s.Address); err != nil {
		return nil, fmt.Errorf("mllp: address: %w", err)
	}
	switch s.ProcessingID {
	case "":
		s.ProcessingID = "P"
	case "P", "T", "D":
	default:
		return nil, fmt.Errorf("mllp: processing_id %q: want P, T or D", s.ProcessingID)
	}
	loc, err := time.LoadLocation(cmpOr(s.Timezone, "UTC"))
	if err != nil {
		return nil, fmt.Errorf("mllp: timezone: %w", err)
	}
	connect, err := connectors.Timeout(s.ConnectTimeout, 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("mllp: connect_timeout: %w", err)
	}
	ackWait, err := connectors.Timeout(s.AckTimeout, 30*time.Second)
	if err != nil {
		return nil, fmt.Errorf("mllp: ack_timeout: %w", err)
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	conn := &Connector{
		name:    c.Name,
		addr:    s.Address,
		connect: connect,
		ackWait: ackWait,
		header: header{
			sendingApplication:   cmpOr(s.SendingApplication, "SCRIBEGATE"),
			sendingFacility:      cmpOr(s.SendingFacility, c.Name),
			receivingApplication: s.ReceivingApplication,
			receivingFacility:    s.ReceivingFacility,
			processingID:         s.ProcessingID,
			patientAuthority:     s.PatientIDAuthority,
			patientIDType:        cmpOr(s.PatientIDType, "MR"),
			patientClass:         cmpOr(s.PatientClass, "O"),
		},
		loc: loc,
		log: log,
		now: time.Now,
	}
	if s.TLS {
		conn.tls, err = tlsConfig(s)
		if err != nil {
			return nil, err
		}
	} else if s.CAFile != "" || s.CertFile != "" || s.ServerName != "" {
		return nil, errors.New("mllp: ca_file, cert_file and server_name need tls: true")
	}
	// MLLP has no way to ask an engine what it holds, so the ledger is
	// the only memory of what was acknowledged: a push repeated after
	// success (the gateway crashed before recording it) is answered from
	// it rather than sent again.
	path, err := c.StateFile("ledger.json")
	if err != nil {
		return nil, fmt.Errorf("mllp: %w", err)
	}
	if path != "" {
		if conn.sent, err = ledger.OpenFile(path); err != nil {
			return nil, fmt.Errorf("mllp: %w", err)
		}
	} else {
		log.Warn("mllp: no state directory; acknowledged documents are remembered in memory only", "instance", c.Name)
		conn.sent = ledger.NewMemory()
	}
	conn.dial = conn.dialNet
	return conn, nil
}

func tlsConfig(s Settings) (*tls.Config, error) {
	host, _, _ := net.SplitHostPort(s.Address)
	cfg := &tls.Config{ServerName: cmpOr(s.ServerName, host), MinVersion: tls.VersionTLS12}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("mllp: ca_file: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, errors.New("mllp: ca_file holds no PEM certificate")
		}
	}
	if s.CertFile != "" || s.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("mllp: client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func (c *Connector) dialNet(ctx context.Context) (net.Conn, error) {
	d := &net.Dialer{Timeout: c.connect, KeepAlive: 30 * time.Second}
	if c.tls != nil {
		return (&tls.Dialer{NetDialer: d, Config: c.tls}).DialContext(ctx, "tcp", c.addr)
	}
	return d.DialContext(ctx, "tcp", c.addr)
}

// Push sends d as MDM^T02 (T10 for an amendment) and judges the engine's
// acknowledgement: AA files it; AE (application error) is transient, the
// engine may take it later; AR (application reject) is permanent, with
// the engine's reason. A document the engine acknowledged before is not
// sent again.
func (c *Connector) Push(ctx context.Context, d *connectors.Document) (connectors.Receipt, error) {
	if err := d.Check(); err != nil {
		err = fmt.Errorf("mllp: %w", err)
		return connectors.Receipt{}, connectors.Permanent(err)
	}
	if err := ctx.Err(); err != nil {
		return connectors.Receipt{}, &connectors.PushError{Message: "the push was cancelled", Err: err}
	}
	ident := connectors.Identifier(d.NoteID, d.Version)
	log := c.log.With("instance", c.name, "note", d.NoteID, "version", d.Version)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch e, ok, err := c.sent.Get(ctx, ident); {
	case err != nil:
		return connectors.Receipt{}, &connectors.PushError{Message: "the push ledger could not be read", Err: err}
	case ok && e.ExternalID != "":
		return connectors.Receipt{ExternalID: e.ExternalID, Duplicate: true}, nil
	}
	msg := buildMDM(d, c.header, c.loc, c.now())
	ack, err := c.exchange(ctx, []byte(msg.String()))
	if err != nil {
		log.WarnContext(ctx, "mllp: no acknowledgement", "err", err)
		return connectors.Receipt{}, &connectors.PushError{Message: "the interface engine did not acknowledge the message", Err: err}
	}
	dup, err := judge(ack, hl7v2.ControlID(ident))
	if err != nil {
		var pe *connectors.PushError
		if errors.As(err, &pe) && pe.Err != nil && errors.Is(pe.Err, errProtocol) {
			c.drop() // out of step with the engine: start afresh
		}
		return connectors.Receipt{}, err
	}
	if err := c.sent.Put(ctx, ident, ledger.Entry{Attempts: 1, ExternalID: ident, Updated: c.now()}); err != nil {
		// Acknowledged but not recorded: a retry resends the same
		// document number, which the engine recognises.
		log.ErrorContext(ctx, "mllp: acknowledged but not recorded", "err", err)
	}
	log.InfoContext(ctx, "mllp: acknowledged", "duplicate", dup)
	return connectors.Receipt{ExternalID: ident, Duplicate: dup}, nil
}

// exchange writes one framed message and reads one framed reply, on the
// open connection or a new one. A connection the engine closed while idle
// fails on first use; the message is then sent once more on a fresh
// connection (it carries the same control id, so that is safe).
func (c *Connector) exchange(ctx context.Context, msg []byte) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		reused := c.conn != nil
		if c.conn == nil {
			conn, err := c.dial(ctx)
			if err != nil {
				return nil, fmt.Errorf("connect to %s: %w", c.addr, err)
			}
			c.conn, c.rd = conn, bufio.NewReader(conn)
		}
		ack, sentAll, err := c.roundTrip(ctx, msg)
		if err == nil {
			return ack, nil
		}
		c.drop()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !reused || attempt > 0 || sentAll && !closedByPeer(err) {
			return nil, err
		}
	}
}

// closedByPeer reports an error that says the engine had closed the
// connection (rather than that it did not answer in time).
func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// roundTrip sends msg and reads the reply within the ack timeout and the
// context. sentAll says whether the whole message was written.
func (c *Connector) roundTrip(ctx context.Context, msg []byte) (ack []byte, sentAll bool, err error) {
	// The context cuts the wait short through AfterFunc, so that when the
	// read fails, ctx.Err() already says why.
	conn := c.conn
	conn.SetDeadline(time.Now().Add(c.ackWait))
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	frame := make([]byte, 0, len(msg)+3)
	frame = append(append(append(frame, startBlock), msg...), endBlock, '\r')
	if _, err := conn.Write(frame); err != nil {
		return nil, false, err
	}
	ack, err = readFrame(c.rd)
	return ack, true, err
}

// readFrame reads one MLLP block, skipping anything before its start.
func readFrame(r *bufio.Reader) ([]byte, error) {
	if _, err := r.ReadSlice(startBlock); err != nil && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, err
	}
	var out []byte
	for {
		b, err := r.ReadBytes(endBlock)
		out = append(out, b...)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if len(out) > maxAck {
			return nil, fmt.Errorf("%w: acknowledgement over %d bytes", errProtocol, maxAck)
		}
		next, err := r.ReadByte()
		if err != nil {
			return nil, io.ErrUnexpectedEOF
		}
		if next == '\r' {
			return bytes.TrimSuffix(out, []byte{endBlock}), nil
		}
		out = append(out, next)
	}
}

func (c *Connector) drop() {
	if c.conn != nil {
		c.conn.Close()
		c.conn, c.rd = nil, nil
	}
}

// Close closes the connection; the next Push opens a new one.
func (c *Connector) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.drop()
	return nil
}

var errProtocol = errors.New("mllp: protocol error")

// Error condition code 205 (HL7 table 0357, "duplicate key identifier"):
// an engine that refuses a document number it already holds is telling us
// the document was filed.
const duplicateKey = "205"

// judge reads an acknowledgement of the message with control id ctrl.
// Original-mode codes (AA/AE/AR) and enhanced-mode ones (CA/CE/CR) are
// read alike.
func judge(ack []byte, ctrl string) (duplicate bool, err error) {
	p, _, perr := hl7v2.Parse(string(ack))
	if perr != nil || len(p["MSA"]) == 0 {
		return false, &connectors.PushError{Message: "the interface engine's reply is not an HL7 acknowledgement", Err: fmt.Errorf("%w: %v", errProtocol, perr)}
	}
	code, ref := p.Field("MSA", 1), p.Field("MSA", 2)
	if ref != ctrl {
		return false, &connectors.PushError{Message: "the interface engine acknowledged another message", Err: fmt.Errorf("%w: MSA-2 %.20q, want %s", errProtocol, ref, ctrl)}
	}
	reason := ackReason(p)
	switch code {
	case "AA", "CA":
		return false, nil
	case "AE", "CE", "AR", "CR":
		for _, e := range p["ERR"] {
			if len(e) > 3 && hl7v2.Component(e[3], 1) == duplicateKey {
				return true, nil
			}
		}
		msg := "the interface engine refused the document"
		if reason != "" {
			msg += ": " + reason
		}
		if code[1] == 'E' {
			return false, &connectors.PushError{Message: "the interface engine could not process the document (it may later): " + cmpOr(reason, "no reason given")}
		}
		return false, &connectors.PushError{Permanent: true, Message: msg}
	}
	return false, &connectors.PushError{Message: "the interface engine's acknowledgement code is not understood", Err: fmt.Errorf("%w: MSA-1 %.4q", errProtocol, code)}
}

// ackReason is the engine's explanation: MSA-3 (text message, kept for
// backward compatibility), else ERR-8 (user message) or ERR-3's text.
func ackReason(p hl7v2.Parsed) string {
	if t := hl7v2.Unescape(p.Field("MSA", 3)); t != "" {
		return t
	}
	for _, e := range p["ERR"] {
		if len(e) > 8 && e[8] != "" {
			return hl7v2.Unescape(e[8])
		}
		if len(e) > 3 {
			if t := hl7v2.Component(e[3], 2); t != "" {
				return t
			}
		}
	}
	return ""
}

// Check connects to the engine (and completes the TLS handshake): it
// proves the address, the network path and the certificates. It sends no
// message.
func (c *Connector) Check(ctx context.Context) []connectors.CheckResult {
	r := connectors.CheckResult{Name: "MLLP connection", Detail: c.addr}
	conn, err := c.dial(ctx)
	if err != nil {
		r.Detail = err.Error()
		return []connectors.CheckResult{r}
	}
	if tc, ok := conn.(*tls.Conn); ok {
		err = tc.HandshakeContext(ctx)
	}
	conn.Close()
	if err != nil {
		r.Detail = err.Error()
		return []connectors.CheckResult{r}
	}
	r.OK = true
	return []connectors.CheckResult{r}
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
