package redisstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/redisstore/redistest"
)

// TestFence: the fence confirms a write only on the server Sentinel names
// as primary, and once Sentinel has promoted another, no longer on the
// old one, which still answers as a primary until Sentinel demotes it.
func TestFence(t *testing.T) {
	f := redistest.FailoverFor(t, 1)
	ctx := context.Background()
	fo, err := redis.ParseFailoverURL("redis://" + f.Sentinel.Addr + "/0?master_name=" + f.MasterName)
	if err != nil {
		t.Fatal(err)
	}
	fe := newFence(fo)
	defer fe.Close()
	runID := func(addr string) string {
		c := redis.NewClient(&redis.Options{Addr: addr})
		defer c.Close()
		info, err := c.Info(ctx, "server").Result()
		if err != nil {
			t.Fatal(err)
		}
		return infoField(info, "run_id")
	}
	old := runID(f.Primary.Addr)
	if err := fe.check(ctx, old); err != nil {
		t.Fatalf("the primary Sentinel names: %v", err)
	}
	for _, id := range []string{"", runID(f.Replicas[0].Addr)} {
		if err := fe.check(ctx, id); !errors.Is(err, review.ErrUnavailable) {
			t.Errorf("run id %q (not the primary): %v, want ErrUnavailable", id, err)
		}
	}
	sc := redis.NewSentinelClient(&redis.Options{Addr: f.Sentinel.Addr})
	defer sc.Close()
	if err := sc.Failover(ctx, f.MasterName).Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		a, err := f.PrimaryAddr(ctx)
		if err == nil && a == f.Replicas[0].Addr {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Sentinel did not promote the replica")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := fe.check(ctx, old); !errors.Is(err, review.ErrUnavailable) {
		t.Errorf("the former primary after the failover: %v, want ErrUnavailable", err)
	}
}

func TestInfoField(t *testing.T) {
	info := "# Server\r\nredis_version:7.0.15\r\nrun_id:abc123\r\ntcp_port:6379\r\n"
	for name, want := range map[string]string{"run_id": "abc123", "tcp_port": "6379", "missing": "", "run": ""} {
		if got := infoField(info, name); got != want {
			t.Errorf("infoField(%q) = %q, want %q", name, got, want)
		}
	}
}
