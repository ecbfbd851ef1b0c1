package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/sealed"
)

// Options configures Open beyond a plain URL: Sentinel, and how many
// replicas must hold a write before it is acknowledged.
type Options struct {
	// URL is redis://[user:pass@]host:port/db (or rediss://) for one
	// server, or redis+sentinel://[user:pass@]host:port/db?master_name=NAME
	// (rediss+sentinel:// with TLS) for a primary that Sentinel names; more
	// Sentinels are given as &addr=host:port, as go-redis's
	// ParseFailoverURL reads them.
	URL string
	// MasterName, when set, makes URL's host(s) Sentinels that name the
	// primary MasterName, whatever URL's scheme (a master_name in the URL's
	// query does the same).
	MasterName string
	// Replicas, when above zero, is how many replicas must have a write
	// (WAIT) before a note update, a note creation or a batch of audio is
	// acknowledged; one that times out fails with review.ErrUnavailable,
	// although the primary has it, so that nothing is acknowledged that a
	// failover could lose.
	Replicas int
	// ReplicaTimeout bounds that wait (1s when zero).
	ReplicaTimeout time.Duration
	// PoolSize is the most connections the store holds to the primary
	// (0: the URL's pool_size, else go-redis's default, 10 per CPU).
	// Every write with Replicas holds its connection until the replicas
	// confirm it (or ReplicaTimeout passes), so a gateway serving many
	// sessions needs more than the default: connections are opened as
	// they are needed.
	PoolSize int
	// PoolTimeout is how long a command waits for a free connection
	// before it fails with review.ErrUnavailable (0: the URL's
	// pool_timeout, else go-redis's default, its read timeout of 3s plus
	// 1s).
	PoolTimeout time.Duration
	// Keys, when set, seal the web UI's sign-in sessions and sign-ins
	// under way at rest (PutSignIn), as the SQLite store seals its
	// bodies; nil stores them as given. Notes, transcript logs and audit
	// entries are not sealed on Redis.
	Keys *sealed.Ring
}

// OpenOptions is Open with Sentinel and replica acknowledgement. Every
// connection checks, as it opens, that its server is a primary (ROLE):
// with Sentinel that is the one Sentinel names, so a former primary
// restarted on its old address, or a demoted one, is never written to;
// a READONLY answer closes the connection and the next one asks Sentinel
// again. Errors of an unreachable, read-only or unreplicated server wrap
// review.ErrUnavailable.
func OpenOptions(ctx context.Context, o Options) (*Store, error) {
	c, fo, err := newClient(o)
	if err != nil {
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	s := New(c, DefaultPrefix)
	s.owns = true
	if fo != nil {
		s.fence = newFence(fo)
	}
	s.replicas, s.replicaTimeout, s.keys = o.Replicas, o.ReplicaTimeout, o.Keys
	if s.replicaTimeout <= 0 {
		s.replicaTimeout = time.Second
	}
	if err := s.check(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.migrateJobs(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// newClient returns the client for o, and with Sentinel the options of
// its Sentinels (for the fence).
func newClient(o Options) (*redis.Client, *redis.FailoverOptions, error) {
	u := o.URL
	scheme, rest, _ := strings.Cut(u, "://")
	sentinel := o.MasterName != "" || strings.HasSuffix(scheme, "+sentinel") || strings.Contains(rest, "master_name=")
	var (
		c  *redis.Client
		fo *redis.FailoverOptions
	)
	if sentinel {
		var err error
		fo, err = redis.ParseFailoverURL(strings.TrimSuffix(scheme, "+sentinel") + "://" + rest)
		if err != nil {
			return nil, nil, err
		}
		if o.MasterName != "" {
			fo.MasterName = o.MasterName
		}
		if fo.MasterName == "" {
			return nil, nil, errors.New("a Sentinel URL needs master_name")
		}
		fo.ReplicaOnly = false // every command goes to the primary
		fo.OnConnect = checkPrimary
		o.pool(&fo.PoolSize, &fo.PoolTimeout)
		c = redis.NewFailoverClient(fo)
	} else {
		opts, err := redis.ParseURL(u)
		if err != nil {
			return nil, nil, err
		}
		opts.OnConnect = checkPrimary
		o.pool(&opts.PoolSize, &opts.PoolTimeout)
		c = redis.NewClient(opts)
	}
	c.AddHook(unavailableHook{})
	return c, fo, nil
}

// pool sets a client's pool size and pool wait where o gives them, over
// what the URL said or the client's defaults; the Sentinel client and the
// plain one keep them in different option types.
func (o Options) pool(size *int, timeout *time.Duration) {
	if o.PoolSize > 0 {
		*size = o.PoolSize
	}
	if o.PoolTimeout > 0 {
		*timeout = o.PoolTimeout
	}
}

// notPrimaryError is a connection's refusal of a server that is not a
// primary.
type notPrimaryError struct{ role string }

func (e *notPrimaryError) Error() string {
	return fmt.Sprintf("server is a %s, not a primary", e.role)
}

// checkPrimary refuses a connection to a server that is not a primary:
// Sentinel may not have noticed yet that its primary was demoted, or a
// plain URL names a replica.
func checkPrimary(ctx context.Context, cn *redis.Conn) error {
	cmd := redis.NewSliceCmd(ctx, "role")
	if err := cn.Process(ctx, cmd); err != nil {
		return err
	}
	v := cmd.Val()
	if len(v) == 0 {
		return errors.New("empty ROLE reply")
	}
	// go-redis opens its Sentinel connections with the same hook.
	if role, _ := v[0].(string); role != "master" && role != "sentinel" {
		return &notPrimaryError{role: role}
	}
	return nil
}

// confirmation is what a write queues behind itself, on the connection
// that made it, so that it is acknowledged only once it survives a
// failover: WAIT, and with Sentinel the server's run id for the fence.
type confirmation struct {
	wait *redis.Cmd
	info *redis.StringCmd // INFO server, with Sentinel
}

// confirm queues, on the pipeline p of the connection that made a write,
// a write of its own and WAIT for s.replicas, and with Sentinel INFO
// server (Redis 7.0 has no WAITAOF). The write of its own makes WAIT
// wait for everything the primary holds up to now: WAIT confirms the
// connection's own earlier writes only, and a resent audio batch that the
// primary already holds (its first try's WAIT timed out) writes nothing,
// so that WAIT would vouch for none of the bytes it acknowledges.
func (s *Store) confirm(ctx context.Context, p redis.Pipeliner) *confirmation {
	if s.replicas <= 0 {
		return nil
	}
	p.Incr(ctx, s.k("seq", "confirm"))
	c := &confirmation{wait: p.Do(ctx, "wait", s.replicas, s.replicaTimeout.Milliseconds())}
	if s.fence != nil {
		c.info = p.Info(ctx, "server")
	}
	return c
}

// confirmed checks what confirm queued: fewer replicas than configured,
// or (with Sentinel) a server that is not the primary Sentinel names, is
// ErrUnavailable.
func (s *Store) confirmed(ctx context.Context, c *confirmation) error {
	if c == nil {
		return nil
	}
	n, err := c.wait.Int64()
	if err != nil {
		return err
	}
	if n < int64(s.replicas) {
		return fmt.Errorf("redisstore: %w: %d of %d replicas confirmed the write within %s",
			review.ErrUnavailable, n, s.replicas, s.replicaTimeout)
	}
	if c.info == nil {
		return nil
	}
	info, err := c.info.Result()
	if err != nil {
		return err
	}
	return s.fence.check(ctx, infoField(info, "run_id"))
}

// writeConfirmed sends write's commands on c (the client, or a
// transaction's connection) with their confirmation behind them
// (confirm), one round trip, and checks it (confirmed).
func (s *Store) writeConfirmed(ctx context.Context, c redis.Cmdable, write func(p redis.Pipeliner)) error {
	var conf *confirmation
	_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		write(p)
		conf = s.confirm(ctx, p)
		return nil
	})
	if err != nil {
		return err
	}
	return s.confirmed(ctx, conf)
}

// confirmOn confirms a write made on tx's connection (one round trip, none
// without replicas to wait for).
func (s *Store) confirmOn(ctx context.Context, tx *redis.Tx) error {
	if s.replicas <= 0 {
		return nil
	}
	return s.writeConfirmed(ctx, tx, func(redis.Pipeliner) {})
}

// infoField is one field of an INFO reply.
func infoField(info, name string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// fence asks Sentinel, after replicas confirmed a write, whether the
// server that took it is still the primary, with no failover under way.
//
// WAIT alone is not enough: a primary that stalls (SIGSTOP, a long pause,
// a partition) long enough for Sentinel to promote a replica answers
// again as if nothing happened, on the connections the store held to it
// before, until Sentinel demotes it seconds later. Writes it takes then
// are confirmed by a replica that Sentinel has not yet moved to the new
// primary, and are discarded with it when it is: acknowledged and lost.
// So the store asks Sentinel after WAIT: the server's run id must be the
// one Sentinel names, and Sentinel must not see it down or be failing it
// over. A failover that starts later finds the write on a replica.
//
// It asks one Sentinel (the first of the URL's that answers); with
// several, one that has not yet heard of a failover its peers started
// may answer for it, a narrower window than WAIT alone leaves.
type fence struct {
	master    string
	sentinels []*redis.SentinelClient
}

func newFence(fo *redis.FailoverOptions) *fence {
	f := &fence{master: fo.MasterName}
	for _, addr := range fo.SentinelAddrs {
		f.sentinels = append(f.sentinels, redis.NewSentinelClient(&redis.Options{
			Addr: addr, Username: fo.SentinelUsername, Password: fo.SentinelPassword, TLSConfig: fo.TLSConfig,
			DialTimeout: fo.DialTimeout, ReadTimeout: fo.ReadTimeout, WriteTimeout: fo.WriteTimeout,
			PoolSize: fo.PoolSize, MaxRetries: -1,
		}))
	}
	return f
}

func (f *fence) check(ctx context.Context, runID string) error {
	var err error
	for _, sc := range f.sentinels {
		var m map[string]string
		if m, err = sc.Master(ctx, f.master).Result(); err != nil {
			continue
		}
		flags := strings.Split(m["flags"], ",")
		switch {
		case runID == "" || m["runid"] != runID:
			return fmt.Errorf("redisstore: %w: the server that took the write (run id %q) is not the primary Sentinel names (%s:%s, run id %q)",
				review.ErrUnavailable, runID, m["ip"], m["port"], m["runid"])
		case slices.Contains(flags, "o_down") || slices.Contains(flags, "failover_in_progress"):
			return fmt.Errorf("redisstore: %w: Sentinel is failing the primary over (%s)", review.ErrUnavailable, m["flags"])
		}
		return nil
	}
	return fmt.Errorf("redisstore: %w: no Sentinel confirmed the primary: %w", review.ErrUnavailable, err)
}

func (f *fence) Close() error {
	var errs []error
	for _, sc := range f.sentinels {
		errs = append(errs, sc.Close())
	}
	return errors.Join(errs...)
}

// unavailableHook marks the errors of a server that cannot take writes
// now (unreachable, stalled, read-only, short of replicas, loading) as
// review.ErrUnavailable, so that the gateway answers 503 and clients try
// again, rather than 500. It runs outside go-redis's own retries and
// connection handling, which see the original errors.
type unavailableHook struct{}

func (unavailableHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (unavailableHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if unavailable(err) {
			err = markUnavailable(err)
			cmd.SetErr(err)
		}
		return err
	}
}

func (unavailableHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, cmd := range cmds {
			if e := cmd.Err(); unavailable(e) {
				cmd.SetErr(markUnavailable(e))
			}
		}
		if unavailable(err) {
			err = markUnavailable(err)
		}
		return err
	}
}

func markUnavailable(err error) error { return fmt.Errorf("%w: %w", review.ErrUnavailable, err) }

// unavailable reports whether err says the server cannot take writes now,
// as opposed to an answer about the data (redis.Nil, a failed
// transaction, a script's own error).
func unavailable(err error) bool {
	if err == nil || errors.Is(err, review.ErrUnavailable) || errors.Is(err, redis.Nil) ||
		errors.Is(err, redis.TxFailedErr) || errors.Is(err, context.Canceled) {
		return false
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		for _, p := range []string{"READONLY", "NOREPLICAS", "LOADING", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN"} {
			if redis.HasErrorPrefix(err, p) {
				return true
			}
		}
		return false
	}
	var ne net.Error
	var np *notPrimaryError
	return errors.As(err, &ne) || errors.As(err, &np) || errors.Is(err, context.DeadlineExceeded) ||
		// The connection, the pool or the Sentinels: not an answer from
		// a server at all.
		strings.HasPrefix(err.Error(), "redis: ") || errors.Is(err, net.ErrClosed) ||
		strings.Contains(err.Error(), "EOF")
}
