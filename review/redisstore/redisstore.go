// Package redisstore is the review.Store for several gateway instances
// sharing one review queue and one push outbox, on Redis (go-redis v9;
// Redis 7.0 or later, as Debian ships).
//
// Layout, every key under one prefix whose hash tag keeps them in one
// slot (so multi-key transactions work on a Redis Cluster too):
//
//	note:{id}                  the note as JSON
//	idx:{clinic}:all           sorted sets of "<created_at ns, 20 digits>:<id>"
//	idx:{clinic}:state:{s}     members, all scored 0, so that ZRANGE BYLEX
//	idx:{clinic}:clinician:{c} walks a clinic's notes in (CreatedAt, ID)
//	idx:{clinic}:patient:{p}   order and a cursor is an exclusive lex bound
//	count:{clinic}             hash state → number of notes
//	audit:{note}               list of audit entries as JSON, in write order
//	job:{id}                   hash of one push job
//	jobnote:{note}             the id of the note's queued job
//	jobs                       sorted set of job ids scored by the time (µs)
//	                           they become claimable: due time while queued,
//	                           lease expiry while claimed
//
// Note updates are optimistic: WATCH the note (and the job being settled),
// read, run the Service's callback, then MULTI/EXEC the note, its index
// moves, audit entries and outbox job together; a conflicting write aborts
// the EXEC and the update runs again. Claims and releases are Lua scripts,
// atomic on the server.
//
// The outbox is a sorted set rather than a Stream with a consumer group:
// a push job must wait out a backoff before its retry and its lease is
// measured on the caller's clock, and Streams have no delayed delivery and
// judge XAUTOCLAIM's idle time by the server's clock. One sorted set scored
// by "claimable at" gives delayed retries, leases and crash takeover with
// one atomic ZRANGEBYSCORE+ZADD script, with nothing Redis 7.0 lacks.
//
// Run Redis with maxmemory-policy noeviction: an evicted key would be a
// lost note or push. Open refuses a server that says otherwise.
package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scribegate/scribegate/review"
)

// DefaultPrefix is the key prefix Open uses. The braces are a Redis
// Cluster hash tag.
const DefaultPrefix = "{scribegate}:review:"

// maxRetries bounds how often an optimistic update is retried under
// contention before giving up.
const maxRetries = 200

// Store is a review.Store on Redis. It is safe for concurrent use, and any
// number of Stores (in any number of processes) may share one server.
type Store struct {
	c      *redis.Client
	prefix string
	owns   bool
}

var _ review.Store = (*Store)(nil)

// Open connects to the server at url (redis://[user:pass@]host:port/db or
// rediss://…) and checks that it will not evict keys.
func Open(ctx context.Context, url string) (*Store, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	c := redis.NewClient(opts)
	s := New(c, DefaultPrefix)
	s.owns = true
	if err := s.check(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return s, nil
}

// New returns a Store on an existing client with its own key prefix
// (tests, or several deployments on one server). Close does not close c.
func New(c *redis.Client, prefix string) *Store {
	return &Store{c: c, prefix: prefix}
}

func (s *Store) check(ctx context.Context) error {
	if err := s.c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redisstore: ping: %w", err)
	}
	// Managed services may refuse CONFIG; then the operator vouches.
	m, err := s.c.ConfigGet(ctx, "maxmemory-policy").Result()
	if err == nil {
		if p, ok := m["maxmemory-policy"]; ok && p != "noeviction" {
			return fmt.Errorf("redisstore: server has maxmemory-policy %q; notes and pushes need noeviction", p)
		}
	}
	return nil
}

// Ping checks that the server answers, for the gateway's readiness probe.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redisstore: ping: %w", err)
	}
	return nil
}

// Close closes the connection if Open made it.
func (s *Store) Close() error {
	if s.owns {
		return s.c.Close()
	}
	return nil
}

func (s *Store) k(parts ...string) string { return s.prefix + strings.Join(parts, ":") }

func (s *Store) noteKey(id string) string  { return s.k("note", id) }
func (s *Store) auditKey(id string) string { return s.k("audit", id) }
func (s *Store) jobKey(id string) string   { return s.k("job", id) }
func (s *Store) jobNoteKey(id string) string {
	return s.k("jobnote", id)
}
func (s *Store) jobsKey() string               { return s.k("jobs") }
func (s *Store) countKey(clinic string) string { return s.k("count", clinic) }

// Index keys escape ':' in values so that no two (kind, value) pairs
// collide.
func esc(v string) string { return strings.ReplaceAll(strings.ReplaceAll(v, "%", "%25"), ":", "%3A") }

func (s *Store) idxAll(clinic string) string { return s.k("idx", esc(clinic), "all") }
func (s *Store) idx(clinic, kind, v string) string {
	return s.k("idx", esc(clinic), kind, esc(v))
}

// member is a note's entry in the index sets: lexical order is list order.
func member(t time.Time, id string) string {
	return fmt.Sprintf("%020d:%s", t.UnixNano(), id)
}

// micros is a sorted-set score: a float64 holds microseconds since 1970
// exactly, nanoseconds not. Job hashes keep times in nanoseconds.
func micros(t time.Time) float64 { return float64(t.UnixMicro()) }

func fromNanos(s string) time.Time {
	n, _ := strconv.ParseInt(s, 10, 64)
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// indexKeys are the sets a note is listed in.
func (s *Store) indexKeys(n *review.Note) []string {
	return []string{
		s.idxAll(n.Clinic),
		s.idx(n.Clinic, "state", string(n.State)),
		s.idx(n.Clinic, "clinician", n.Clinician),
		s.idx(n.Clinic, "patient", n.Patient),
	}
}

// reindex queues the index and count moves from old (nil for a new note)
// to n.
func (s *Store) reindex(ctx context.Context, p redis.Pipeliner, old, n *review.Note) {
	newKeys := s.indexKeys(n)
	mem := member(n.CreatedAt, n.ID)
	if old != nil {
		oldMem := member(old.CreatedAt, old.ID)
		for i, k := range s.indexKeys(old) {
			if k != newKeys[i] || oldMem != mem {
				p.ZRem(ctx, k, oldMem)
			}
		}
		if old.Clinic != n.Clinic || old.State != n.State {
			p.HIncrBy(ctx, s.countKey(old.Clinic), string(old.State), -1)
		}
	}
	for _, k := range newKeys {
		p.ZAdd(ctx, k, redis.Z{Member: mem})
	}
	if old == nil || old.Clinic != n.Clinic || old.State != n.State {
		p.HIncrBy(ctx, s.countKey(n.Clinic), string(n.State), 1)
	}
}

// auditIDs reserves ids for n audit entries.
func (s *Store) auditIDs(ctx context.Context, n int) (int64, error) {
	if n == 0 {
		return 0, nil
	}
	last, err := s.c.IncrBy(ctx, s.k("seq", "audit"), int64(n)).Result()
	if err != nil {
		return 0, fmt.Errorf("redisstore: audit ids: %w", err)
	}
	return last - int64(n) + 1, nil
}

func (s *Store) pushAudit(ctx context.Context, p redis.Pipeliner, first int64, es []review.AuditEntry) error {
	for i, e := range es {
		e.ID = strconv.FormatInt(first+int64(i), 10)
		b, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("redisstore: encode audit: %w", err)
		}
		p.RPush(ctx, s.auditKey(e.NoteID), b)
	}
	return nil
}

// CreateNote implements review.Store.
func (s *Store) CreateNote(ctx context.Context, n *review.Note, audit []review.AuditEntry) error {
	body, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("redisstore: encode note: %w", err)
	}
	first, err := s.auditIDs(ctx, len(audit))
	if err != nil {
		return err
	}
	key := s.noteKey(n.ID)
	return s.retry(ctx, func() error {
		return s.c.Watch(ctx, func(tx *redis.Tx) error {
			exists, err := tx.Exists(ctx, key).Result()
			if err != nil {
				return err
			}
			if exists > 0 {
				return review.ErrExists
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, key, body, 0)
				s.reindex(ctx, p, nil, n)
				return s.pushAudit(ctx, p, first, audit)
			})
			return err
		}, key)
	})
}

// retry runs an optimistic transaction again while another client's write
// aborts it.
func (s *Store) retry(ctx context.Context, fn func() error) error {
	for i := 0; ; i++ {
		err := fn()
		if !errors.Is(err, redis.TxFailedErr) {
			return err
		}
		if i == maxRetries {
			return fmt.Errorf("redisstore: gave up after %d conflicting updates: %w", i, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if i > 2 {
			time.Sleep(time.Duration(min(i, 20)) * 100 * time.Microsecond)
		}
	}
}

type getter interface {
	Get(ctx context.Context, key string) *redis.StringCmd
}

func (s *Store) getNote(ctx context.Context, c getter, id string) (*review.Note, error) {
	b, err := c.Get(ctx, s.noteKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, review.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: get note: %w", err)
	}
	var n review.Note
	if err := json.Unmarshal(b, &n); err != nil {
		return nil, fmt.Errorf("redisstore: decode note %s: %w", id, err)
	}
	return &n, nil
}

// GetNote implements review.Store.
func (s *Store) GetNote(ctx context.Context, id string) (*review.Note, error) {
	return s.getNote(ctx, s.c, id)
}

// UpdateNote implements review.Store.
func (s *Store) UpdateNote(ctx context.Context, id string, fn func(n *review.Note) (*review.Change, error)) (*review.Note, error) {
	key := s.noteKey(id)
	var out *review.Note
	// The watched keys: the note always; the job being settled and the
	// note's queued job, which a claim or another enqueue may change.
	err := s.retry(ctx, func() error {
		return s.c.Watch(ctx, func(tx *redis.Tx) error {
			old, err := s.getNote(ctx, tx, id)
			if err != nil {
				return err
			}
			cp := *old
			n := &cp
			ch, err := fn(n)
			if err != nil {
				return err
			}
			if n.ID != id {
				return errors.New("redisstore: update may not change a note's id")
			}
			if ch == nil {
				ch = &review.Change{}
			}
			var watch []string
			if ch.Settle != nil {
				watch = append(watch, s.jobKey(ch.Settle.Job.ID))
			}
			if ch.Enqueue != nil {
				watch = append(watch, s.jobNoteKey(ch.Enqueue.NoteID))
			}
			if len(watch) > 0 {
				if err := tx.Watch(ctx, watch...).Err(); err != nil {
					return err
				}
			}
			if st := ch.Settle; st != nil {
				if err := s.held(ctx, tx, st.Job); err != nil {
					return err
				}
			}
			var oldJob, newJob string
			if ch.Enqueue != nil {
				oldJob, err = tx.Get(ctx, s.jobNoteKey(ch.Enqueue.NoteID)).Result()
				if err != nil && !errors.Is(err, redis.Nil) {
					return err
				}
				seq, err := s.c.Incr(ctx, s.k("seq", "job")).Result()
				if err != nil {
					return err
				}
				newJob = strconv.FormatInt(seq, 10)
			}
			first, err := s.auditIDs(ctx, len(ch.Audit))
			if err != nil {
				return err
			}
			body, err := json.Marshal(n)
			if err != nil {
				return fmt.Errorf("redisstore: encode note: %w", err)
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, key, body, 0)
				s.reindex(ctx, p, old, n)
				if st := ch.Settle; st != nil {
					s.settle(ctx, p, st)
				}
				if j := ch.Enqueue; j != nil {
					if oldJob != "" {
						p.Del(ctx, s.jobKey(oldJob))
						p.ZRem(ctx, s.jobsKey(), oldJob)
					}
					p.HSet(ctx, s.jobKey(newJob),
						"note_id", j.NoteID, "clinic", j.Clinic, "version", j.Version,
						"due_at", j.DueAt.UnixNano(), "attempts", 0, "owner", "", "lease_until", 0, "last_error", "")
					p.Set(ctx, s.jobNoteKey(j.NoteID), newJob, 0)
					p.ZAdd(ctx, s.jobsKey(), redis.Z{Score: micros(j.DueAt), Member: newJob})
				}
				return s.pushAudit(ctx, p, first, ch.Audit)
			})
			if err == nil {
				out = n
			}
			return err
		}, key)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

type hgetter interface {
	HMGet(ctx context.Context, key string, fields ...string) *redis.SliceCmd
}

// held checks that j's claim still holds the job.
func (s *Store) held(ctx context.Context, c hgetter, j *review.PushJob) error {
	v, err := c.HMGet(ctx, s.jobKey(j.ID), "owner", "attempts").Result()
	if err != nil {
		return fmt.Errorf("redisstore: check lease: %w", err)
	}
	owner, _ := v[0].(string)
	attempts, _ := v[1].(string)
	if v[0] == nil || owner != j.Owner || attempts != strconv.Itoa(j.Attempts) {
		return review.ErrLeaseLost
	}
	return nil
}

func (s *Store) settle(ctx context.Context, p redis.Pipeliner, st *review.Settlement) {
	id := st.Job.ID
	if st.RetryAt.IsZero() {
		p.Del(ctx, s.jobKey(id))
		p.ZRem(ctx, s.jobsKey(), id)
		p.Del(ctx, s.jobNoteKey(st.Job.NoteID))
		return
	}
	p.HSet(ctx, s.jobKey(id), "due_at", st.RetryAt.UnixNano(), "owner", "", "lease_until", 0, "last_error", st.LastError)
	p.ZAdd(ctx, s.jobsKey(), redis.Z{Score: micros(st.RetryAt), Member: id})
}

// claimScript leases the job claimable longest: KEYS[1] the jobs set,
// ARGV now µs, lease expiry µs, owner, job key prefix, lease expiry ns.
var claimScript = redis.NewScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1)
if #ids == 0 then return false end
local id = ids[1]
local key = ARGV[4] .. id
if redis.call('EXISTS', key) == 0 then
  redis.call('ZREM', KEYS[1], id)
  return false
end
redis.call('HINCRBY', key, 'attempts', 1)
redis.call('HSET', key, 'owner', ARGV[3], 'lease_until', ARGV[5])
redis.call('ZADD', KEYS[1], ARGV[2], id)
local h = redis.call('HGETALL', key)
table.insert(h, 'id')
table.insert(h, id)
return h
`)

// ClaimPushJob implements review.Store.
func (s *Store) ClaimPushJob(ctx context.Context, owner string, now time.Time, lease time.Duration) (*review.PushJob, error) {
	for {
		v, err := claimScript.Run(ctx, s.c, []string{s.jobsKey()},
			now.UnixMicro(), now.Add(lease).UnixMicro(), owner, s.k("job", ""), now.Add(lease).UnixNano()).StringSlice()
		if errors.Is(err, redis.Nil) {
			// Either nothing is due or a dangling id was swept: look again
			// only in the latter case, which the script cannot tell us, so
			// check the head once more.
			due, zerr := s.c.ZCount(ctx, s.jobsKey(), "-inf", strconv.FormatInt(now.UnixMicro(), 10)).Result()
			if zerr == nil && due > 0 {
				continue
			}
			return nil, review.ErrNoJob
		}
		if err != nil {
			return nil, fmt.Errorf("redisstore: claim push job: %w", err)
		}
		h := map[string]string{}
		for i := 0; i+1 < len(v); i += 2 {
			h[v[i]] = v[i+1]
		}
		j := &review.PushJob{
			ID: h["id"], NoteID: h["note_id"], Clinic: h["clinic"],
			DueAt: fromNanos(h["due_at"]), Owner: h["owner"], LeaseUntil: fromNanos(h["lease_until"]),
			LastError: h["last_error"],
		}
		j.Version, _ = strconv.Atoi(h["version"])
		j.Attempts, _ = strconv.Atoi(h["attempts"])
		return j, nil
	}
}

// releaseScript hands a job back, claimable at once, if the claim still
// holds it: KEYS[1] the job, KEYS[2] the jobs set, ARGV owner, attempts,
// id.
var releaseScript = redis.NewScript(`
local v = redis.call('HMGET', KEYS[1], 'owner', 'attempts')
if v[1] == false or v[1] ~= ARGV[1] or v[2] ~= ARGV[2] then return 0 end
redis.call('HINCRBY', KEYS[1], 'attempts', -1)
redis.call('HSET', KEYS[1], 'owner', '', 'lease_until', 0)
redis.call('ZADD', KEYS[2], 0, ARGV[3])
return 1
`)

// ReleasePushJob implements review.Store.
func (s *Store) ReleasePushJob(ctx context.Context, job *review.PushJob) error {
	ok, err := releaseScript.Run(ctx, s.c, []string{s.jobKey(job.ID), s.jobsKey()},
		job.Owner, strconv.Itoa(job.Attempts), job.ID).Int()
	if err != nil {
		return fmt.Errorf("redisstore: release push job: %w", err)
	}
	if ok == 0 {
		return review.ErrLeaseLost
	}
	return nil
}

// AppendAudit implements review.Store.
func (s *Store) AppendAudit(ctx context.Context, e review.AuditEntry) error {
	first, err := s.auditIDs(ctx, 1)
	if err != nil {
		return err
	}
	_, err = s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		return s.pushAudit(ctx, p, first, []review.AuditEntry{e})
	})
	if err != nil {
		return fmt.Errorf("redisstore: append audit: %w", err)
	}
	return nil
}

// ListAudit implements review.Store.
func (s *Store) ListAudit(ctx context.Context, noteID string) ([]review.AuditEntry, error) {
	vs, err := s.c.LRange(ctx, s.auditKey(noteID), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: list audit: %w", err)
	}
	out := make([]review.AuditEntry, 0, len(vs))
	for _, v := range vs {
		var e review.AuditEntry
		if err := json.Unmarshal([]byte(v), &e); err != nil {
			return nil, fmt.Errorf("redisstore: decode audit: %w", err)
		}
		out = append(out, e)
	}
	return out, nil
}

// CountByState implements review.Store.
func (s *Store) CountByState(ctx context.Context, clinic string) (map[review.State]int, error) {
	m, err := s.c.HGetAll(ctx, s.countKey(clinic)).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: count notes: %w", err)
	}
	out := map[review.State]int{}
	for k, v := range m {
		if n, _ := strconv.Atoi(v); n > 0 {
			out[review.State(k)] = n
		}
	}
	return out, nil
}

// ListNotes implements review.Store. It walks the most selective index
// (patient, clinician, one state, or the clinic's) in order and filters the
// rest in Go, fetching notes in batches.
func (s *Store) ListNotes(ctx context.Context, q review.Query) (review.Page, error) {
	if q.Clinic == "" {
		return review.Page{}, fmt.Errorf("%w: list needs a clinic", review.ErrInvalid)
	}
	key := s.idxAll(q.Clinic)
	switch {
	case q.Patient != "":
		key = s.idx(q.Clinic, "patient", q.Patient)
	case q.Clinician != "":
		key = s.idx(q.Clinic, "clinician", q.Clinician)
	case len(q.States) == 1:
		key = s.idx(q.Clinic, "state", string(q.States[0]))
	}
	lo := "-"
	if !q.Since.IsZero() {
		lo = "[" + fmt.Sprintf("%020d:", q.Since.UnixNano())
	}
	if q.Cursor != "" {
		ct, cid, err := review.DecodeCursor(q.Cursor)
		if err != nil {
			return review.Page{}, err
		}
		if c := member(ct, cid); lo == "-" || c >= lo[1:] {
			lo = "(" + c
		}
	}
	hi := "+"
	if !q.Until.IsZero() {
		hi = "(" + fmt.Sprintf("%020d:", q.Until.UnixNano())
	}
	limit := q.PageSize()
	batch := int64(max(limit+1, 64))
	var p review.Page
	for {
		mems, err := s.c.ZRangeArgs(ctx, redis.ZRangeArgs{Key: key, Start: lo, Stop: hi, ByLex: true, Count: batch}).Result()
		if err != nil {
			return review.Page{}, fmt.Errorf("redisstore: list notes: %w", err)
		}
		if len(mems) == 0 {
			return p, nil
		}
		keys := make([]string, len(mems))
		for i, m := range mems {
			_, id, _ := strings.Cut(m, ":")
			keys[i] = s.noteKey(id)
		}
		vals, err := s.c.MGet(ctx, keys...).Result()
		if err != nil {
			return review.Page{}, fmt.Errorf("redisstore: list notes: %w", err)
		}
		for _, v := range vals {
			str, ok := v.(string)
			if !ok {
				continue // deleted between the index read and the fetch
			}
			var n review.Note
			if err := json.Unmarshal([]byte(str), &n); err != nil {
				return review.Page{}, fmt.Errorf("redisstore: decode note: %w", err)
			}
			if !q.Matches(&n) {
				continue // stale index entry of a moved note, or filtered out
			}
			if len(p.Notes) == limit {
				last := p.Notes[limit-1]
				p.Next = review.EncodeCursor(last.CreatedAt, last.ID)
				return p, nil
			}
			p.Notes = append(p.Notes, &n)
		}
		if int64(len(mems)) < batch {
			return p, nil
		}
		lo = "(" + mems[len(mems)-1]
	}
}
