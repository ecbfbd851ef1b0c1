package review

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Summary is one note's row for the rollout figures: who, which template,
// when each step of its life happened and how much it was changed. It
// holds ids, times and counts, never note text, except RejectReason,
// which a store keeps sealed as it keeps notes. Stores write it with the
// note, in the same transaction, and return the rows of a period with
// Summaries.
type Summary struct {
	NoteID    string
	Clinic    string
	Clinician string
	Template  string
	Connector string
	State     State
	CreatedAt time.Time
	Rollup
	// RejectReason is the reason given, trimmed to 200 bytes.
	RejectReason string
}

// SummaryOf returns the summary row of n.
func SummaryOf(n *Note) Summary {
	s := Summary{
		NoteID: n.ID, Clinic: n.Clinic, Clinician: n.Clinician, Template: n.Template, Connector: n.Connector,
		State: n.State, CreatedAt: n.CreatedAt,
	}
	if n.Rollup != nil {
		s.Rollup = *n.Rollup
		s.Drafted = nil
	}
	if s.LastAt.IsZero() {
		s.LastAt = n.UpdatedAt
	}
	if n.State == StateRejected {
		s.RejectReason = truncateUTF8(strings.TrimSpace(n.RejectReason), 200)
	}
	return s
}

// Open reports whether the note still waits for its first decision
// (approval or rejection): open notes are read for the backlog whatever
// the period asked.
func (s *Summary) Open() bool { return s.ApprovedAt.IsZero() && s.RejectedAt.IsZero() }

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// summaryFormat is the first byte of an encoded Summary.
const summaryFormat = 1

// MarshalBinary encodes s compactly (varints and length-prefixed
// strings): a period's rows are read by the hundred thousand, and JSON
// took several times as long to decode.
func (s *Summary) MarshalBinary() ([]byte, error) {
	return s.AppendBinary(make([]byte, 0, 96+len(s.RejectReason)))
}

// AppendBinary appends the encoding of s to b.
func (s *Summary) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, summaryFormat)
	for _, v := range []string{s.NoteID, s.Clinic, s.Clinician, s.Template, s.Connector, string(s.State), s.RejectReason} {
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	for _, t := range []time.Time{s.CreatedAt, s.EndedAt, s.ApprovedAt, s.PushedAt, s.RejectedAt, s.LastAt} {
		b = binary.AppendVarint(b, unixNanos(t))
	}
	b = binary.AppendVarint(b, s.ConsultMS)
	for _, v := range []int{s.DraftSentences, s.DraftWords, s.Changed, s.Added, s.Removed, s.WordEdits, s.FlagsRaised, s.FlagsAcked} {
		b = binary.AppendUvarint(b, uint64(v))
	}
	b = binary.AppendUvarint(b, uint64(len(s.Failures)))
	for _, f := range s.Failures {
		b = binary.AppendUvarint(b, uint64(len(f.Connector)))
		b = append(b, f.Connector...)
		b = binary.AppendUvarint(b, uint64(len(f.Reason)))
		b = append(b, f.Reason...)
		b = binary.AppendVarint(b, unixNanos(f.At))
	}
	return b, nil
}

func unixNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

var errSummary = errors.New("review: malformed summary")

// UnmarshalBinary decodes what MarshalBinary encoded.
func (s *Summary) UnmarshalBinary(b []byte) error {
	d := decoder{b: b}
	if len(b) == 0 || b[0] != summaryFormat {
		return fmt.Errorf("%w: unknown format", errSummary)
	}
	d.b = d.b[1:]
	var state string
	for _, p := range []*string{&s.NoteID, &s.Clinic, &s.Clinician, &s.Template, &s.Connector, &state, &s.RejectReason} {
		*p = d.str()
	}
	s.State = State(state)
	for _, p := range []*time.Time{&s.CreatedAt, &s.EndedAt, &s.ApprovedAt, &s.PushedAt, &s.RejectedAt, &s.LastAt} {
		*p = fromUnixNanos(d.varint())
	}
	s.ConsultMS = d.varint()
	for _, p := range []*int{&s.DraftSentences, &s.DraftWords, &s.Changed, &s.Added, &s.Removed, &s.WordEdits, &s.FlagsRaised, &s.FlagsAcked} {
		*p = int(d.uvarint())
	}
	n := d.uvarint()
	s.Failures = nil
	if n > uint64(len(d.b)) {
		return fmt.Errorf("%w: %d failures in %d bytes", errSummary, n, len(d.b))
	}
	for range n {
		f := PushFailure{Connector: d.str(), Reason: d.str(), At: fromUnixNanos(d.varint())}
		s.Failures = append(s.Failures, f)
	}
	if d.err != nil {
		return d.err
	}
	if len(d.b) != 0 {
		return fmt.Errorf("%w: %d bytes left over", errSummary, len(d.b))
	}
	return nil
}

// decoder reads varints and strings, remembering the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	v := string(d.b[:n])
	d.b = d.b[n:]
	return v
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated", errSummary)
	}
	d.b = nil
}

// Day numbers the UTC day of t (days since 1970-01-01): the summary rows
// are kept and read by the day of the note's creation.
func Day(t time.Time) int64 { return t.Unix() / 86400 }

// DayStart is the first instant of day d (UTC).
func DayStart(d int64) time.Time { return time.Unix(d*86400, 0).UTC() }
