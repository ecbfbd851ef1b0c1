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
	Rows    *SummaryRows
}

// SummaryRows are summary rows in the compact form the rollout figures
// are worked out from and a reader caches: a row holds no pointer (its
// strings are indexes into Strings, its times Unix nanoseconds), so a
// cache of a million rows is nothing for the garbage collector to scan,
// and a packed day decodes into it with a few allocations, not several a
// row.
type SummaryRows struct {
	Rows []SummaryRow
	// Strings are the rows' strings but their ids, each once; Strings[0]
	// is "".
	Strings []string
	// IDs holds the rows' note ids one after the other: a row's is
	// IDs[Row.ID[0]:Row.ID[1]].
	IDs string
	// Failures are the rows' failed push attempts, a row's in
	// Failures[Row.Failures[0]:Row.Failures[1]], oldest first.
	Failures []FailureRow
}

// SummaryRow is a Summary in SummaryRows: its strings are indexes into
// SummaryRows.Strings, its times Unix nanoseconds (0 for none).
type SummaryRow struct {
	Clinic, Clinician, Template, Connector, State, RejectReason uint32
	// ID and Failures are the row's ranges of SummaryRows.IDs and
	// SummaryRows.Failures.
	ID, Failures                                                 [2]uint32
	CreatedAt, EndedAt, ApprovedAt, PushedAt, RejectedAt, LastAt int64
	ConsultMS                                                    int64
	DraftSentences, DraftWords, Changed, Added, Removed          int64
	WordEdits, FlagsRaised, FlagsAcked                           int64
}

// FailureRow is a PushFailure in SummaryRows.
type FailureRow struct {
	Connector, Reason uint32
	At                int64
}

// CompactSummaries returns rows in the compact form.
func CompactSummaries(rows []Summary) *SummaryRows {
	b := rowsBuilder{out: &SummaryRows{Rows: make([]SummaryRow, 0, len(rows)), Strings: []string{""}}, index: map[string]uint32{"": 0}}
	for i := range rows {
		b.add(&rows[i])
	}
	b.out.IDs = b.ids.String()
	return b.out
}

type rowsBuilder struct {
	out   *SummaryRows
	index map[string]uint32
	ids   strings.Builder
}

func (b *rowsBuilder) str(v string) uint32 {
	i, ok := b.index[v]
	if !ok {
		i = uint32(len(b.out.Strings))
		b.index[v] = i
		b.out.Strings = append(b.out.Strings, v)
	}
	return i
}

func (b *rowsBuilder) add(s *Summary) {
	r := SummaryRow{
		ID: [2]uint32{uint32(b.ids.Len()), uint32(b.ids.Len() + len(s.NoteID))}, Clinic: b.str(s.Clinic), Clinician: b.str(s.Clinician), Template: b.str(s.Template),
		Connector: b.str(s.Connector), State: b.str(string(s.State)), RejectReason: b.str(s.RejectReason),
		CreatedAt: unixNanos(s.CreatedAt), EndedAt: unixNanos(s.EndedAt), ApprovedAt: unixNanos(s.ApprovedAt),
		PushedAt: unixNanos(s.PushedAt), RejectedAt: unixNanos(s.RejectedAt), LastAt: unixNanos(s.LastAt),
		ConsultMS: s.ConsultMS, DraftSentences: int64(s.DraftSentences), DraftWords: int64(s.DraftWords),
		Changed: int64(s.Changed), Added: int64(s.Added), Removed: int64(s.Removed), WordEdits: int64(s.WordEdits),
		FlagsRaised: int64(s.FlagsRaised), FlagsAcked: int64(s.FlagsAcked),
	}
	b.ids.WriteString(s.NoteID)
	r.Failures[0] = uint32(len(b.out.Failures))
	for _, f := range s.Failures {
		b.out.Failures = append(b.out.Failures, FailureRow{Connector: b.str(f.Connector), Reason: b.str(f.Reason), At: unixNanos(f.At)})
	}
	r.Failures[1] = uint32(len(b.out.Failures))
	b.out.Rows = append(b.out.Rows, r)
}

// Len is the number of rows.
func (r *SummaryRows) Len() int { return len(r.Rows) }

// Summary returns row i as a Summary.
func (r *SummaryRows) Summary(i int) Summary {
	w := &r.Rows[i]
	s := Summary{
		NoteID: r.ID(i), Clinic: r.Strings[w.Clinic], Clinician: r.Strings[w.Clinician], Template: r.Strings[w.Template],
		Connector: r.Strings[w.Connector], State: State(r.Strings[w.State]), CreatedAt: fromUnixNanos(w.CreatedAt),
		RejectReason: r.Strings[w.RejectReason],
		Rollup: Rollup{
			EndedAt: fromUnixNanos(w.EndedAt), ConsultMS: w.ConsultMS, ApprovedAt: fromUnixNanos(w.ApprovedAt),
			PushedAt: fromUnixNanos(w.PushedAt), RejectedAt: fromUnixNanos(w.RejectedAt), LastAt: fromUnixNanos(w.LastAt),
			DraftSentences: int(w.DraftSentences), DraftWords: int(w.DraftWords), Changed: int(w.Changed), Added: int(w.Added),
			Removed: int(w.Removed), WordEdits: int(w.WordEdits), FlagsRaised: int(w.FlagsRaised), FlagsAcked: int(w.FlagsAcked),
		},
	}
	for _, f := range r.Failures[w.Failures[0]:w.Failures[1]] {
		s.Failures = append(s.Failures, PushFailure{Connector: r.Strings[f.Connector], Reason: r.Strings[f.Reason], At: fromUnixNanos(f.At)})
	}
	return s
}

// ID returns the note id of row i.
func (r *SummaryRows) ID(i int) string { return r.IDs[r.Rows[i].ID[0]:r.Rows[i].ID[1]] }

// Summaries returns the rows as Summaries.
func (r *SummaryRows) Summaries() []Summary {
	out := make([]Summary, len(r.Rows))
	for i := range out {
		out[i] = r.Summary(i)
	}
	return out
}

// MapReasons replaces each rejection reason of the rows by what f makes
// of it: a store opens the reasons it keeps sealed.
func (r *SummaryRows) MapReasons(f func(reason string, row int) (string, error)) error {
	done := map[uint32]bool{}
	for i := range r.Rows {
		k := r.Rows[i].RejectReason
		if k == 0 || done[k] { // most rows were not rejected
			continue
		}
		v, err := f(r.Strings[k], i)
		if err != nil {
			return err
		}
		r.Strings[k] = v
		done[k] = true
	}
	return nil
}

// Packed formats: the first byte of packed summaries. Format 1, each row
// encoded as by MarshalBinary, is still read (days packed before format
// 2). Format 2 is what PackSummaries writes, made to be decoded straight
// into SummaryRows in one pass without a call a field: the strings once
// (uvarint count, then each uvarint length and bytes), the note ids one
// after the other (uvarint length and bytes), the number of rows, then
// each row: its id's length and six indexes into the strings (uvarints),
// its six times in 8 bytes each (little-endian Unix nanoseconds), its
// consultation length (varint), its eight counts and its number of push
// failures (uvarints), and each failure's two indexes (uvarints) and
// time (8 bytes).
const (
	packFormat1 = 1
	packFormat  = 2
)

// PackSummaries encodes rows as one value: a store keeps a settled day's
// rows packed so that a period is read as a few large values rather than
// a row per note (package review/rollout).
func PackSummaries(rows []Summary) []byte {
	c := CompactSummaries(rows)
	size := 1 + 3*binary.MaxVarintLen64 + len(c.IDs) + len(c.Rows)*72 + len(c.Failures)*12
	for _, v := range c.Strings[1:] {
		size += binary.MaxVarintLen32 + len(v)
	}
	b := make([]byte, 0, size)
	b = append(b, packFormat)
	b = binary.AppendUvarint(b, uint64(len(c.Strings)-1))
	for _, v := range c.Strings[1:] {
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	b = binary.AppendUvarint(b, uint64(len(c.IDs)))
	b = append(b, c.IDs...)
	b = binary.AppendUvarint(b, uint64(len(c.Rows)))
	for i := range c.Rows {
		r := &c.Rows[i]
		for _, v := range [...]uint32{r.ID[1] - r.ID[0], r.Clinic, r.Clinician, r.Template, r.Connector, r.State, r.RejectReason} {
			b = binary.AppendUvarint(b, uint64(v))
		}
		for _, v := range [...]int64{r.CreatedAt, r.EndedAt, r.ApprovedAt, r.PushedAt, r.RejectedAt, r.LastAt} {
			b = binary.LittleEndian.AppendUint64(b, uint64(v))
		}
		b = binary.AppendVarint(b, r.ConsultMS)
		for _, v := range [...]int64{r.DraftSentences, r.DraftWords, r.Changed, r.Added, r.Removed, r.WordEdits, r.FlagsRaised, r.FlagsAcked} {
			b = binary.AppendUvarint(b, uint64(v))
		}
		b = binary.AppendUvarint(b, uint64(r.Failures[1]-r.Failures[0]))
		for _, f := range c.Failures[r.Failures[0]:r.Failures[1]] {
			b = binary.AppendUvarint(b, uint64(f.Connector))
			b = binary.AppendUvarint(b, uint64(f.Reason))
			b = binary.LittleEndian.AppendUint64(b, uint64(f.At))
		}
	}
	return b
}

// UnpackSummaries decodes what PackSummaries encoded. The rows' strings
// share one copy of b.
func UnpackSummaries(b []byte) ([]Summary, error) {
	r, err := unpack(string(b))
	if err != nil {
		return nil, err
	}
	return r.Summaries(), nil
}

func unpack(b string) (*SummaryRows, error) {
	if len(b) == 0 || b[0] != packFormat && b[0] != packFormat1 {
		return nil, fmt.Errorf("%w: unknown packed format", errSummary)
	}
	if b[0] == packFormat1 {
		rows, err := unpack1(b)
		if err != nil {
			return nil, err
		}
		return CompactSummaries(rows), nil
	}
	d := decoder{s: b[1:]}
	ns := d.uvarint()
	if ns >= uint64(len(d.s)+1) {
		return nil, fmt.Errorf("%w: %d packed strings in %d bytes", errSummary, ns, len(d.s))
	}
	out := &SummaryRows{Strings: make([]string, ns+1)}
	for i := 1; i < len(out.Strings); i++ {
		out.Strings[i] = d.str()
	}
	out.IDs = d.str()
	n := d.uvarint()
	if d.err != nil {
		return nil, d.err
	}
	if n > uint64(len(d.s)) {
		return nil, fmt.Errorf("%w: %d packed rows in %d bytes", errSummary, n, len(d.s))
	}
	out.Rows = make([]SummaryRow, n)
	// The rows are read with s and p (the position, len(s)+1 once
	// something was missing) rather than with d: this loop is most of the
	// decoding of a quarter's rows.
	s, p := d.s, 0
	strs, id := uint64(len(out.Strings)), uint64(0)
	var bad uint64 // an index out of range
	for i := range out.Rows {
		r := &out.Rows[i]
		var v uint64
		v, p = uv(s, p)
		r.ID = [2]uint32{uint32(id), uint32(id + v)}
		id += v
		for _, f := range [...]*uint32{&r.Clinic, &r.Clinician, &r.Template, &r.Connector, &r.State, &r.RejectReason} {
			v, p = uv(s, p)
			bad |= v / strs
			*f = uint32(v)
		}
		if p+48 > len(s) {
			p = len(s) + 1
			break
		}
		t := s[p : p+48]
		r.CreatedAt, r.EndedAt, r.ApprovedAt = le64(t[0:]), le64(t[8:]), le64(t[16:])
		r.PushedAt, r.RejectedAt, r.LastAt = le64(t[24:]), le64(t[32:]), le64(t[40:])
		p += 48
		v, p = uv(s, p)
		r.ConsultMS = int64(v>>1) ^ -int64(v&1)
		for _, f := range [...]*int64{&r.DraftSentences, &r.DraftWords, &r.Changed, &r.Added, &r.Removed, &r.WordEdits, &r.FlagsRaised, &r.FlagsAcked} {
			v, p = uv(s, p)
			*f = int64(v)
		}
		var nf uint64
		nf, p = uv(s, p)
		if nf > uint64(len(s)) {
			p = len(s) + 1
			break
		}
		r.Failures[0] = uint32(len(out.Failures))
		for range nf {
			var conn, reason uint64
			conn, p = uv(s, p)
			reason, p = uv(s, p)
			bad |= conn/strs | reason/strs
			if p+8 > len(s) {
				p = len(s) + 1
				break
			}
			out.Failures = append(out.Failures, FailureRow{Connector: uint32(conn), Reason: uint32(reason), At: le64(s[p:])})
			p += 8
		}
		r.Failures[1] = uint32(len(out.Failures))
	}
	switch {
	case p > len(s):
		return nil, fmt.Errorf("%w: truncated", errSummary)
	case bad != 0:
		return nil, fmt.Errorf("%w: a string index out of range", errSummary)
	case id > uint64(len(out.IDs)):
		return nil, fmt.Errorf("%w: ids of %d bytes in %d", errSummary, id, len(out.IDs))
	case p != len(s):
		return nil, fmt.Errorf("%w: %d bytes left over after the packed rows", errSummary, len(s)-p)
	}
	return out, nil
}

// uv reads the uvarint at s[p:] and returns it and the position after it;
// one byte, the common case, inline. A uvarint cut short or too long
// gives the position len(s)+1, at which every later read fails too.
func uv(s string, p int) (uint64, int) {
	if p < len(s) && s[p] < 0x80 {
		return uint64(s[p]), p + 1
	}
	return uvLong(s, p)
}

func uvLong(s string, p int) (uint64, int) {
	var v uint64
	for i := 0; i < binary.MaxVarintLen64 && p+i < len(s); i++ {
		c := s[p+i]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				break // overflows 64 bits
			}
			return v | uint64(c)<<(7*i), p + i + 1
		}
		v |= uint64(c&0x7f) << (7 * i)
	}
	return 0, len(s) + 1
}

// le64 reads 8 bytes little-endian.
func le64(b string) int64 {
	_ = b[7]
	return int64(uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56)
}

// unpack1 decodes packed format 1.
func unpack1(b string) ([]Summary, error) {
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
	rows := make([]*SummaryRows, len(raw))
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
	if len(d.s) > 0 && d.s[0] < 0x80 { // most are one byte
		v := d.s[0]
		d.s = d.s[1:]
		return uint64(v)
	}
	return d.uvarintLong()
}

func (d *decoder) uvarintLong() uint64 {
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
