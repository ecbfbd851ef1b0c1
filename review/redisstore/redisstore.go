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
//	job:{id}                   hash of one push job (and "entry", its stream
//	                           entry while it sits in the stream)
//	jobnote:{note}             the id of the note's queued job
//	sched                      sorted set: job ids waiting to become due,
//	                           scored by due time (µs): new jobs, retries
//	                           after backoff, released jobs
//	stream                     Stream of due jobs (field "job"), read by the
//	                           consumer group "pushers", one consumer per
//	                           worker
//	leases                     sorted set: claimed job ids scored by lease
//	                           expiry (µs)
//	lock:{note}                a reviewer's soft lock (hash, with a TTL)
//	closed                     sorted set: pushed and rejected notes by
//	                           UpdatedAt (µs), for retention
//	auditnotes                 sorted set: notes with an audit trail, by the
//	                           time of their oldest entry (µs)
//	events:{clinic}            pub/sub channel of note changes
//	seq:confirm                a counter each acknowledged write bumps
//	                           before WAIT (see Store.confirm)
//
// Note updates are optimistic: WATCH the note (and the job being settled),
// read, run the Service's callback, then MULTI/EXEC the note, its index
// moves, audit entries and outbox job together; a conflicting write aborts
// the EXEC and the update runs again.
//
// The outbox is a Stream with a consumer group. A claim is one Lua script,
// atomic on the server: it moves jobs that have become due from the sched
// set into the stream (XADD: Streams have no delayed delivery, so backoff
// waits in the sorted set), then takes over a job whose lease has expired
// (XCLAIM of its pending entry to the new worker: a crashed worker's job),
// else reads the next new entry (XREADGROUP … >). Settling a job XACKs and
// XDELs its entry in the same MULTI that stores the note. A lease is
// judged by the job's own lease_until on the caller's clock (the leases
// set), not by XAUTOCLAIM's idle time on the server's clock, so that the
// store suite's pinned clock and the Worker's lease agree; Redis 7.0 has no
// XREADGROUP CLAIM option anyway. The job hash's owner and attempts remain
// the fence: a worker whose lease was taken over can no longer settle.
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
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/sealed"
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

	// replicas and replicaTimeout: Options.Replicas, ReplicaTimeout.
	replicas       int
	replicaTimeout time.Duration
	// fence, with Sentinel and replicas, confirms that the server that
	// took a write is still Sentinel's primary (see fence).
	fence *fence
	// keys seal sign-in sessions (Options.Keys); nil stores them as
	// given.
	keys *sealed.Ring

	// events fans the one pub/sub subscription of this Store out to every
	// subscriber in the process, so that a hundred open queue pages hold
	// one Redis connection, not a hundred.
	eventsMu   sync.Mutex
	events     *review.LocalBroker
	stopEvents func()
}

var _ review.Store = (*Store)(nil)

// Open connects to the server at url (redis://[user:pass@]host:port/db,
// rediss://…, or redis+sentinel://…?master_name=NAME: see Options.URL)
// and checks that it is a primary that will not evict keys.
func Open(ctx context.Context, url string) (*Store, error) {
	return OpenOptions(ctx, Options{URL: url})
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

// SharedAcrossProcesses implements review.SharedStore: several gateway
// instances use one Redis, so each holds a lease on the sessions it serves.
func (s *Store) SharedAcrossProcesses() bool { return true }

// Ping checks, for the gateway's readiness probe, that the server takes
// writes (and that the configured replicas confirm them): a server that
// answers PING but refuses writes (READONLY, NOREPLICAS) is not ready.
func (s *Store) Ping(ctx context.Context) error {
	err := s.writeConfirmed(ctx, s.c, func(p redis.Pipeliner) {
		p.Set(ctx, s.k("ready"), time.Now().UnixMilli(), time.Minute)
	})
	if err != nil {
		return fmt.Errorf("redisstore: write probe: %w", err)
	}
	return nil
}

// Close closes the connection if Open made it.
func (s *Store) Close() error {
	s.eventsMu.Lock()
	if s.stopEvents != nil {
		s.stopEvents()
		s.stopEvents, s.events = nil, nil
	}
	s.eventsMu.Unlock()
	if s.fence != nil {
		s.fence.Close()
	}
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
func (s *Store) schedKey() string               { return s.k("sched") }
func (s *Store) streamKey() string              { return s.k("stream") }
func (s *Store) leasesKey() string              { return s.k("leases") }
func (s *Store) lockKey(id string) string       { return s.k("lock", id) }
func (s *Store) closedKey() string              { return s.k("closed") }
func (s *Store) auditNotesKey() string          { return s.k("auditnotes") }
func (s *Store) eventsKey(clinic string) string { return s.k("events", esc(clinic)) }

// group is the consumer group of push workers.
const group = "pushers"

func (s *Store) countKey(clinic string) string { return s.k("count", clinic) }

// Index keys escape ':' in values so that no two (kind, value) pairs
// collide.
func esc(v string) string { return strings.ReplaceAll(strings.ReplaceAll(v, "%", "%25"), ":", "%3A") }

// unesc undoes esc.
func unesc(v string) string { return strings.ReplaceAll(strings.ReplaceAll(v, "%3A", ":"), "%25", "%") }

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
	if review.IsClosed(n.State) {
		p.ZAdd(ctx, s.closedKey(), redis.Z{Score: micros(n.UpdatedAt), Member: n.ID})
	} else if old != nil && review.IsClosed(old.State) {
		p.ZRem(ctx, s.closedKey(), n.ID)
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
		p.ZAddNX(ctx, s.auditNotesKey(), redis.Z{Score: micros(e.At), Member: e.NoteID})
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
	return s.createNew(ctx, []string{key}, true, func(p redis.Pipeliner) error {
		p.Set(ctx, key, body, 0)
		s.reindex(ctx, p, nil, n)
		if err := s.putSummary(ctx, p, n); err != nil {
			return err
		}
		return s.pushAudit(ctx, p, first, audit)
	})
}

// createNew runs write in one MULTI/EXEC provided none of keys exists
// (ErrExists otherwise, writing nothing): the check and the write are one
// optimistic transaction on keys, run again while another client's write
// aborts it. With confirm, it returns only once the replicas the store
// requires (Options.Replicas) hold the write.
func (s *Store) createNew(ctx context.Context, keys []string, confirm bool, write func(p redis.Pipeliner) error) error {
	return s.retry(ctx, func() error {
		return s.c.Watch(ctx, func(tx *redis.Tx) error {
			exists, err := tx.Exists(ctx, keys...).Result()
			if err != nil {
				return err
			}
			if exists > 0 {
				return review.ErrExists
			}
			if _, err := tx.TxPipelined(ctx, write); err != nil || !confirm {
				return err
			}
			return s.confirmOn(ctx, tx)
		}, keys...)
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
			var settleEntry string
			if st := ch.Settle; st != nil {
				if settleEntry, err = s.held(ctx, tx, st.Job); err != nil {
					return err
				}
			}
			var oldJob, oldEntry, newJob string
			if ch.Enqueue != nil {
				oldJob, err = tx.Get(ctx, s.jobNoteKey(ch.Enqueue.NoteID)).Result()
				if err != nil && !errors.Is(err, redis.Nil) {
					return err
				}
				if oldJob != "" {
					if err := tx.Watch(ctx, s.jobKey(oldJob)).Err(); err != nil {
						return err
					}
					oldEntry, err = tx.HGet(ctx, s.jobKey(oldJob), "entry").Result()
					if err != nil && !errors.Is(err, redis.Nil) {
						return err
					}
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
				if err := s.putSummary(ctx, p, n); err != nil {
					return err
				}
				if old.State == review.StateRecording && n.State != review.StateRecording {
					p.Del(ctx, s.transcriptKey(id))
				}
				if st := ch.Settle; st != nil {
					s.settle(ctx, p, st, settleEntry)
				}
				if j := ch.Enqueue; j != nil {
					if oldJob != "" {
						s.dropJob(ctx, p, oldJob, oldEntry)
					}
					p.HSet(ctx, s.jobKey(newJob),
						"note_id", j.NoteID, "clinic", j.Clinic, "version", j.Version,
						"due_at", j.DueAt.UnixNano(), "attempts", 0, "owner", "", "lease_until", 0, "last_error", "")
					p.Set(ctx, s.jobNoteKey(j.NoteID), newJob, 0)
					p.ZAdd(ctx, s.schedKey(), redis.Z{Score: micros(j.DueAt), Member: newJob})
				}
				return s.pushAudit(ctx, p, first, ch.Audit)
			})
			if err != nil {
				return err
			}
			out = n
			return s.confirmOn(ctx, tx)
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

// held checks that j's claim still holds the job and returns the job's
// stream entry.
func (s *Store) held(ctx context.Context, c hgetter, j *review.PushJob) (string, error) {
	v, err := c.HMGet(ctx, s.jobKey(j.ID), "owner", "attempts", "entry").Result()
	if err != nil {
		return "", fmt.Errorf("redisstore: check lease: %w", err)
	}
	owner, _ := v[0].(string)
	attempts, _ := v[1].(string)
	if v[0] == nil || owner != j.Owner || attempts != strconv.Itoa(j.Attempts) {
		return "", review.ErrLeaseLost
	}
	entry, _ := v[2].(string)
	return entry, nil
}

// ack takes a job's entry off the stream and out of the group's pending
// list.
func (s *Store) ack(ctx context.Context, p redis.Pipeliner, entry string) {
	if entry == "" {
		return
	}
	p.XAck(ctx, s.streamKey(), group, entry)
	p.XDel(ctx, s.streamKey(), entry)
}

// dropJob removes a job wherever it is: waiting, in the stream, leased.
func (s *Store) dropJob(ctx context.Context, p redis.Pipeliner, id, entry string) {
	p.Del(ctx, s.jobKey(id))
	p.ZRem(ctx, s.schedKey(), id)
	p.ZRem(ctx, s.leasesKey(), id)
	s.ack(ctx, p, entry)
}

func (s *Store) settle(ctx context.Context, p redis.Pipeliner, st *review.Settlement, entry string) {
	id := st.Job.ID
	if st.RetryAt.IsZero() {
		s.dropJob(ctx, p, id, entry)
		p.Del(ctx, s.jobNoteKey(st.Job.NoteID))
		return
	}
	s.ack(ctx, p, entry)
	p.ZRem(ctx, s.leasesKey(), id)
	p.HSet(ctx, s.jobKey(id), "due_at", st.RetryAt.UnixNano(), "owner", "", "lease_until", 0, "last_error", st.LastError, "entry", "")
	p.ZAdd(ctx, s.schedKey(), redis.Z{Score: micros(st.RetryAt), Member: id})
}

// claimScript leases one job. KEYS: sched, stream, leases. ARGV: now µs,
// lease expiry µs, owner, job key prefix, lease expiry ns, group.
//
//  1. Jobs that have become due move from sched into the stream, oldest
//     first (the group is created with the stream).
//  2. A job whose lease has expired is taken over: its pending entry is
//     XCLAIMed to the new owner.
//  3. Otherwise the next new entry is read with XREADGROUP. An entry whose
//     job is gone (replaced, deleted) is acknowledged and skipped.
var claimScript = redis.NewScript(`
local sched, stream, leases = KEYS[1], KEYS[2], KEYS[3]
local now, leaseus, owner, prefix, untilns, grp = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local due = redis.call('ZRANGEBYSCORE', sched, '-inf', now, 'LIMIT', 0, 256)
if #due > 0 and redis.call('EXISTS', stream) == 0 then
  redis.call('XGROUP', 'CREATE', stream, grp, '0', 'MKSTREAM')
end
for _, id in ipairs(due) do
  redis.call('ZREM', sched, id)
  if redis.call('EXISTS', prefix .. id) == 1 then
    local e = redis.call('XADD', stream, '*', 'job', id)
    redis.call('HSET', prefix .. id, 'entry', e)
  end
end
local function lease(id)
  local key = prefix .. id
  redis.call('HINCRBY', key, 'attempts', 1)
  redis.call('HSET', key, 'owner', owner, 'lease_until', untilns)
  redis.call('ZADD', leases, leaseus, id)
  local h = redis.call('HGETALL', key)
  table.insert(h, 'id')
  table.insert(h, id)
  return h
end
while true do
  local exp = redis.call('ZRANGEBYSCORE', leases, '-inf', now, 'LIMIT', 0, 1)
  if #exp == 0 then break end
  local id = exp[1]
  local entry = redis.call('HGET', prefix .. id, 'entry')
  if not entry then
    redis.call('ZREM', leases, id)
  else
    if entry ~= '' then
      redis.call('XCLAIM', stream, grp, owner, 0, entry)
    end
    return lease(id)
  end
end
if redis.call('EXISTS', stream) == 0 then return false end
while true do
  local r = redis.call('XREADGROUP', 'GROUP', grp, owner, 'COUNT', 1, 'STREAMS', stream, '>')
  if not r then return false end
  local msg = r[1][2][1]
  if not msg then return false end
  local entry, id = msg[1], msg[2][2]
  if redis.call('HGET', prefix .. id, 'entry') == entry then
    return lease(id)
  end
  redis.call('XACK', stream, grp, entry)
  redis.call('XDEL', stream, entry)
end
`)

// ClaimPushJob implements review.Store.
func (s *Store) ClaimPushJob(ctx context.Context, owner string, now time.Time, lease time.Duration) (*review.PushJob, error) {
	v, err := claimScript.Run(ctx, s.c, []string{s.schedKey(), s.streamKey(), s.leasesKey()},
		now.UnixMicro(), now.Add(lease).UnixMicro(), owner, s.k("job", ""), now.Add(lease).UnixNano(), group).StringSlice()
	if errors.Is(err, redis.Nil) {
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

// releaseScript hands a job back, due at once, if the claim still holds
// it. KEYS: the job, sched, stream, leases. ARGV: owner, attempts, id,
// group.
var releaseScript = redis.NewScript(`
local v = redis.call('HMGET', KEYS[1], 'owner', 'attempts', 'entry')
if v[1] == false or v[1] ~= ARGV[1] or v[2] ~= ARGV[2] then return 0 end
redis.call('HINCRBY', KEYS[1], 'attempts', -1)
redis.call('HSET', KEYS[1], 'owner', '', 'lease_until', 0, 'entry', '')
if v[3] and v[3] ~= '' then
  redis.call('XACK', KEYS[3], ARGV[4], v[3])
  redis.call('XDEL', KEYS[3], v[3])
end
redis.call('ZREM', KEYS[4], ARGV[3])
redis.call('ZADD', KEYS[2], 0, ARGV[3])
return 1
`)

// ReleasePushJob implements review.Store.
func (s *Store) ReleasePushJob(ctx context.Context, job *review.PushJob) error {
	ok, err := releaseScript.Run(ctx, s.c, []string{s.jobKey(job.ID), s.schedKey(), s.streamKey(), s.leasesKey()},
		job.Owner, strconv.Itoa(job.Attempts), job.ID, group).Int()
	if err != nil {
		return fmt.Errorf("redisstore: release push job: %w", err)
	}
	if ok == 0 {
		return review.ErrLeaseLost
	}
	return nil
}

// AppendAudit implements review.Store.
func (s *Store) AppendAudit(ctx context.Context, es ...review.AuditEntry) error {
	first, err := s.auditIDs(ctx, len(es))
	if err != nil {
		return err
	}
	_, err = s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		return s.pushAudit(ctx, p, first, es)
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

// lockScript takes or renews a soft lock. KEYS: the lock. ARGV: holder,
// name, expiry ns, now ns, ttl ms. Returns the lock in force.
var lockScript = redis.NewScript(`
local v = redis.call('HMGET', KEYS[1], 'holder', 'name', 'exp')
if v[1] and v[1] ~= ARGV[1] and tonumber(v[3]) > tonumber(ARGV[4]) then
  return {v[1], v[2], v[3], 0}
end
redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'name', ARGV[2], 'exp', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {ARGV[1], ARGV[2], ARGV[3], 1}
`)

// TakeLock implements review.Store. The key also gets a TTL, so that
// forgotten locks do not pile up.
func (s *Store) TakeLock(ctx context.Context, l review.Lock, now time.Time) (review.Lock, error) {
	ttl := max(l.ExpiresAt.Sub(now).Milliseconds(), 1)
	v, err := lockScript.Run(ctx, s.c, []string{s.lockKey(l.NoteID)},
		l.Holder, l.Name, l.ExpiresAt.UnixNano(), now.UnixNano(), ttl).Slice()
	if err != nil {
		return review.Lock{}, fmt.Errorf("redisstore: take lock: %w", err)
	}
	holder, _ := v[0].(string)
	name, _ := v[1].(string)
	exp, _ := v[2].(string)
	out := review.Lock{NoteID: l.NoteID, Holder: holder, Name: name, ExpiresAt: fromNanos(exp)}
	if ok, _ := v[3].(int64); ok == 0 {
		return out, review.ErrLocked
	}
	return out, nil
}

var unlockScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'holder') == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`)

// ReleaseLock implements review.Store.
func (s *Store) ReleaseLock(ctx context.Context, noteID, holder string) error {
	if err := unlockScript.Run(ctx, s.c, []string{s.lockKey(noteID)}, holder).Err(); err != nil {
		return fmt.Errorf("redisstore: release lock: %w", err)
	}
	return nil
}

// GetLock implements review.Store.
func (s *Store) GetLock(ctx context.Context, noteID string, now time.Time) (*review.Lock, error) {
	v, err := s.c.HMGet(ctx, s.lockKey(noteID), "holder", "name", "exp").Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: get lock: %w", err)
	}
	holder, _ := v[0].(string)
	name, _ := v[1].(string)
	exp, _ := v[2].(string)
	if holder == "" || !fromNanos(exp).After(now) {
		return nil, nil
	}
	return &review.Lock{NoteID: noteID, Holder: holder, Name: name, ExpiresAt: fromNanos(exp)}, nil
}

// ListClosed implements review.Store.
func (s *Store) ListClosed(ctx context.Context, after, before time.Time, limit int) ([]review.Closed, error) {
	zs, err := s.c.ZRangeByScoreWithScores(ctx, s.closedKey(), &redis.ZRangeBy{
		Min: strconv.FormatInt(after.UnixMicro(), 10), Max: "(" + strconv.FormatInt(before.UnixMicro(), 10), Count: int64(limit),
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: list closed: %w", err)
	}
	out := make([]review.Closed, 0, len(zs))
	for _, z := range zs {
		id := z.Member.(string)
		n, err := s.GetNote(ctx, id)
		if errors.Is(err, review.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, review.Closed{ID: id, State: n.State, UpdatedAt: n.UpdatedAt})
	}
	return out, nil
}

// DeleteNote implements review.Store.
func (s *Store) DeleteNote(ctx context.Context, id string) error {
	key := s.noteKey(id)
	return s.retry(ctx, func() error {
		return s.c.Watch(ctx, func(tx *redis.Tx) error {
			n, err := s.getNote(ctx, tx, id)
			if err != nil {
				return err
			}
			if err := tx.Watch(ctx, s.jobNoteKey(id)).Err(); err != nil {
				return err
			}
			job, err := tx.Get(ctx, s.jobNoteKey(id)).Result()
			if err != nil && !errors.Is(err, redis.Nil) {
				return err
			}
			var entry string
			if job != "" {
				entry, _ = tx.HGet(ctx, s.jobKey(job), "entry").Result()
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Del(ctx, key, s.lockKey(id), s.jobNoteKey(id), s.transcriptKey(id))
				mem := member(n.CreatedAt, n.ID)
				for _, k := range s.indexKeys(n) {
					p.ZRem(ctx, k, mem)
				}
				p.HIncrBy(ctx, s.countKey(n.Clinic), string(n.State), -1)
				p.ZRem(ctx, s.closedKey(), id)
				if err := s.forgetReason(ctx, p, n); err != nil {
					return err
				}
				if job != "" {
					s.dropJob(ctx, p, job, entry)
				}
				return nil
			})
			return err
		}, key)
	})
}

// PurgeAudit implements review.Store. It visits only the notes whose
// oldest entry is old enough, and trims each trail's head in a
// transaction that a concurrent append aborts and retries.
func (s *Store) PurgeAudit(ctx context.Context, before time.Time) (int, error) {
	total := 0
	for {
		ids, err := s.c.ZRangeByScore(ctx, s.auditNotesKey(), &redis.ZRangeBy{
			Min: "-inf", Max: "(" + strconv.FormatInt(before.UnixMicro(), 10), Count: 100,
		}).Result()
		if err != nil {
			return total, fmt.Errorf("redisstore: purge audit: %w", err)
		}
		if len(ids) == 0 {
			return total, s.purgeSummaries(ctx, before)
		}
		for _, id := range ids {
			n, err := s.purgeTrail(ctx, id, before)
			total += n
			if err != nil {
				return total, err
			}
		}
	}
}

func (s *Store) purgeTrail(ctx context.Context, noteID string, before time.Time) (int, error) {
	key := s.auditKey(noteID)
	removed := 0
	err := s.retry(ctx, func() error {
		return s.c.Watch(ctx, func(tx *redis.Tx) error {
			vs, err := tx.LRange(ctx, key, 0, 999).Result()
			if err != nil {
				return err
			}
			k := 0
			var next time.Time
			for _, v := range vs {
				var e review.AuditEntry
				if err := json.Unmarshal([]byte(v), &e); err != nil {
					return fmt.Errorf("redisstore: decode audit: %w", err)
				}
				if !e.At.Before(before) {
					next = e.At
					break
				}
				k++
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.LTrim(ctx, key, int64(k), -1)
				switch {
				case k == len(vs) && len(vs) < 1000:
					p.ZRem(ctx, s.auditNotesKey(), noteID)
				case !next.IsZero():
					p.ZAdd(ctx, s.auditNotesKey(), redis.Z{Score: micros(next), Member: noteID})
				}
				return nil
			})
			if err == nil {
				removed = k
			}
			return err
		}, key)
	})
	if err != nil {
		return 0, fmt.Errorf("redisstore: purge audit: %w", err)
	}
	return removed, nil
}

// Publish sends a note event to every gateway instance on this server
// (review.Broker).
func (s *Store) Publish(ctx context.Context, e review.Event) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if err := s.c.Publish(ctx, s.eventsKey(e.Clinic), b).Err(); err != nil {
		return fmt.Errorf("redisstore: publish: %w", err)
	}
	return nil
}

// Subscribe delivers the clinic's note events, from any instance, until
// ctx ends (review.Broker). The Store holds one pattern subscription for
// all its subscribers, made on first use; a slow reader misses events
// rather than holding up others (pages reload on their next event).
func (s *Store) Subscribe(ctx context.Context, clinic string) (<-chan review.Event, error) {
	hub, err := s.eventHub(ctx)
	if err != nil {
		return nil, err
	}
	return hub.Subscribe(ctx, clinic)
}

func (s *Store) eventHub(ctx context.Context) (*review.LocalBroker, error) {
	s.eventsMu.Lock()
	defer s.eventsMu.Unlock()
	if s.events != nil {
		return s.events, nil
	}
	// The subscription outlives the first subscriber's request.
	sctx := context.WithoutCancel(ctx)
	ps := s.c.PSubscribe(sctx, s.k("events", "*"))
	if _, err := ps.Receive(sctx); err != nil {
		ps.Close()
		return nil, fmt.Errorf("redisstore: subscribe: %w", err)
	}
	hub := review.NewLocalBroker()
	done := make(chan struct{})
	go func() {
		ch := ps.Channel()
		for {
			select {
			case <-done:
				return
			case m, ok := <-ch:
				if !ok {
					return
				}
				var e review.Event
				if json.Unmarshal([]byte(m.Payload), &e) == nil {
					hub.Publish(context.Background(), e)
				}
			}
		}
	}()
	s.events = hub
	s.stopEvents = func() {
		close(done)
		ps.Close()
	}
	return hub, nil
}

// ImportNotes stores many new notes in one MULTI/EXEC (a migration from
// another store, or seeding a benchmark). It fails with ErrExists, storing
// none, when an id is taken; the check and the write are one optimistic
// transaction on the notes' keys.
func (s *Store) ImportNotes(ctx context.Context, ns []*review.Note) error {
	keys := make([]string, len(ns))
	bodies := make([][]byte, len(ns))
	for i, n := range ns {
		keys[i] = s.noteKey(n.ID)
		b, err := json.Marshal(n)
		if err != nil {
			return fmt.Errorf("redisstore: encode note: %w", err)
		}
		bodies[i] = b
	}
	if len(ns) == 0 {
		return nil
	}
	// An import waits for no replica (confirm false).
	return s.createNew(ctx, keys, false, func(p redis.Pipeliner) error {
		for i, n := range ns {
			p.Set(ctx, keys[i], bodies[i], 0)
			s.reindex(ctx, p, nil, n)
			if err := s.putSummary(ctx, p, n); err != nil {
				return err
			}
		}
		return nil
	})
}

// migrateScript moves the jobs of the first layout, one sorted set "jobs"
// scored by the time each becomes claimable, into sched with the same
// score: a queued job stays due when it was, and a job leased by a worker
// of the old layout becomes claimable when that lease ends. KEYS: jobs,
// sched.
var migrateScript = redis.NewScript(`
local zs = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #zs, 2 do
  redis.call('ZADD', KEYS[2], zs[i+1], zs[i])
end
redis.call('DEL', KEYS[1])
return #zs / 2
`)

// migrateJobs brings push jobs queued by a gateway of the first layout
// into the stream outbox (run by Open). Stop every old gateway first: one
// still running would not see the moved jobs.
func (s *Store) migrateJobs(ctx context.Context) error {
	if err := migrateScript.Run(ctx, s.c, []string{s.k("jobs"), s.schedKey()}).Err(); err != nil {
		return fmt.Errorf("redisstore: migrate push jobs: %w", err)
	}
	return nil
}
