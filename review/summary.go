package review

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
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
	return s.decode(string(b))
}

// decode decodes one encoded summary; its strings share src's memory
// (one allocation for a row, or for a whole day's packed rows).
func (s *Summary) decode(src string) error {
	if len(src) == 0 || src[0] != summaryFormat {
		return fmt.Errorf("%w: unknown format", errSummary)
	}
	d := decoder{s: src[1:]}
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
	if n > uint64(len(d.s)) {
		return fmt.Errorf("%w: %d failures in %d bytes", errSummary, n, len(d.s))
	}
	for range n {
		f := PushFailure{Connector: d.str(), Reason: d.str(), At: fromUnixNanos(d.varint())}
		s.Failures = append(s.Failures, f)
	}
	if d.err != nil {
		return d.err
	}
	if len(d.s) != 0 {
		return fmt.Errorf("%w: %d bytes left over", errSummary, len(d.s))
	}
	return nil
}

// PackedDay is a day's summary rows as a store keeps them packed, and
// the version of the day (as the store counts its writes) they were read
// at: they are the day's rows as long as its version has not moved.
type PackedDay struct {
	Version int64
	Rows    []Summary
}

// packFormat is the first byte of packed summaries.
const packFormat = 1

// PackSummaries encodes rows as one value: a store keeps a settled day's
// rows packed so that a period is read as a few large values rather than
// a row per note (package review/rollout).
func PackSummaries(rows []Summary) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(rows)*112)
	b = append(b, packFormat)
	b = binary.AppendUvarint(b, uint64(len(rows)))
	var one []byte
	for i := range rows {
		one, _ = rows[i].AppendBinary(one[:0])
		b = binary.AppendUvarint(b, uint64(len(one)))
		b = append(b, one...)
	}
	return b
}

// UnpackSummaries decodes what PackSummaries encoded. The rows' strings
// share one copy of b.
func UnpackSummaries(b []byte) ([]Summary, error) {
	return unpack(string(b))
}

func unpack(b string) ([]Summary, error) {
	if len(b) == 0 || b[0] != packFormat {
		return nil, fmt.Errorf("%w: unknown packed format", errSummary)
	}
	d := decoder{s: b[1:]}
	n := d.uvarint()
	if n > uint64(len(d.s)) {
		return nil, fmt.Errorf("%w: %d packed rows in %d bytes", errSummary, n, len(d.s))
	}
	out := make([]Summary, n)
	for i := range out {
		if err := out[i].decode(d.str()); err != nil {
			return nil, fmt.Errorf("packed row %d: %w", i, err)
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.s) != 0 {
		return nil, fmt.Errorf("%w: %d bytes left over after the packed rows", errSummary, len(d.s))
	}
	return out, nil
}

// PackedRaw is a day's packed rows as a store read them.
type PackedRaw struct {
	Day, Version int64
	// Body is what PackSummaries encoded; the rows unpacked share it.
	Body string
}

// UnpackDays decodes packed days, as many at once as there are CPUs (the
// first query after a start decodes a quarter's), and returns them by
// day.
func UnpackDays(raw []PackedRaw) (map[int64]PackedDay, error) {
	rows := make([][]Summary, len(raw))
	errs := make([]error, len(raw))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(raw)) {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(raw)); i = next.Add(1) - 1 {
				rows[i], errs[i] = unpack(raw[i].Body)
			}
		})
	}
	wg.Wait()
	out := make(map[int64]PackedDay, len(raw))
	for i, r := range raw {
		if errs[i] != nil {
			return nil, fmt.Errorf("packed day %d: %w", r.Day, errs[i])
		}
		out[r.Day] = PackedDay{Version: r.Version, Rows: rows[i]}
	}
	return out, nil
}

// decoder reads varints and strings from s, remembering the first error.
// Its strings are slices of s: decoding allocates nothing.
type decoder struct {
	s   string
	err error
}

func (d *decoder) uvarint() uint64 {
	var v uint64
	for i := 0; i < len(d.s) && i < binary.MaxVarintLen64; i++ {
		c := d.s[i]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				break // overflows 64 bits
			}
			d.s = d.s[i+1:]
			return v | uint64(c)<<(7*i)
		}
		v |= uint64(c&0x7f) << (7 * i)
	}
	d.fail()
	return 0
}

func (d *decoder) varint() int64 {
	u := d.uvarint()
	v := int64(u >> 1)
	if u&1 != 0 {
		v = ^v
	}
	return v
}

func (d *decoder) str() string {
	n := d.uvarint()
	if n > uint64(len(d.s)) {
		d.fail()
		return ""
	}
	v := d.s[:n]
	d.s = d.s[n:]
	return v
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated", errSummary)
	}
	d.s = ""
}

// Day numbers the UTC day of t (days since 1970-01-01): the summary rows
// are kept and read by the day of the note's creation.
func Day(t time.Time) int64 { return t.Unix() / 86400 }

// DayStart is the first instant of day d (UTC).
func DayStart(d int64) time.Time { return time.Unix(d*86400, 0).UTC() }
