package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scribegate/scribegate/review"
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
}

// OpenOptions is Open with Sentinel and replica acknowledgement. Every
// connection checks, as it opens, that its server is a primary (ROLE):
// with Sentinel that is the one Sentinel names, so a former primary
// restarted on its old address, or a demoted one, is never written to;
// a READONLY answer closes the connection and the next one asks Sentinel
// again. Errors of an unreachable, read-only or unreplicated server wrap
// review.ErrUnavailable.
func OpenOptions(ctx context.Context, o Options) (*Store, error) {
	c, err := newClient(o)
	if err != nil {
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	s := New(c, DefaultPrefix)
	s.owns = true
	s.replicas, s.replicaTimeout = o.Replicas, o.ReplicaTimeout
	if s.replicaTimeout <= 0 {
		s.replicaTimeout = time.Second
	}
	if err := s.check(ctx); err != nil {
		c.Close()
		return nil, err
	}
	if err := s.migrateJobs(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return s, nil
}

func newClient(o Options) (*redis.Client, error) {
	u := o.URL
	scheme, rest, _ := strings.Cut(u, "://")
	sentinel := o.MasterName != "" || strings.HasSuffix(scheme, "+sentinel") || strings.Contains(rest, "master_name=")
	var c *redis.Client
	if sentinel {
		fo, err := redis.ParseFailoverURL(strings.TrimSuffix(scheme, "+sentinel") + "://" + rest)
		if err != nil {
			return nil, err
		}
		if o.MasterName != "" {
			fo.MasterName = o.MasterName
		}
		if fo.MasterName == "" {
			return nil, errors.New("a Sentinel URL needs master_name")
		}
		fo.ReplicaOnly = false // every command goes to the primary
		fo.OnConnect = checkPrimary
		c = redis.NewFailoverClient(fo)
	} else {
		opts, err := redis.ParseURL(u)
		if err != nil {
			return nil, err
		}
		opts.OnConnect = checkPrimary
		c = redis.NewClient(opts)
	}
	c.AddHook(unavailableHook{})
	return c, nil
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

// waitReplicas waits, on the connection that made a write (WAIT counts
// that connection's writes), until s.replicas replicas have it.
func (s *Store) waitReplicas(ctx context.Context, c doer) error {
	if s.replicas <= 0 {
		return nil
	}
	return s.replicated(s.wait(ctx, c))
}

type doer interface {
	Do(ctx context.Context, args ...any) *redis.Cmd
}

// wait queues or sends WAIT for s.replicas (Redis 7.0 has no WAITAOF).
func (s *Store) wait(ctx context.Context, c doer) *redis.Cmd {
	return c.Do(ctx, "wait", s.replicas, s.replicaTimeout.Milliseconds())
}

// replicated checks a WAIT's answer: fewer replicas than configured is
// ErrUnavailable.
func (s *Store) replicated(wait *redis.Cmd) error {
	n, err := wait.Int64()
	if err != nil {
		return err
	}
	if n < int64(s.replicas) {
		return fmt.Errorf("redisstore: %w: %d of %d replicas confirmed the write within %s",
			review.ErrUnavailable, n, s.replicas, s.replicaTimeout)
	}
	return nil
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
