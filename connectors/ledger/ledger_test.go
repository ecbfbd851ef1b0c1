package ledger_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/ledger"
)

func TestFileSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.json")
	ctx := context.Background()
	l, err := ledger.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Put(ctx, "n-v1", ledger.Entry{Attempts: 1, ExternalID: "abc"}); err != nil {
		t.Fatal(err)
	}
	l2, err := ledger.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	e, ok, err := l2.Get(ctx, "n-v1")
	if err != nil || !ok || e.ExternalID != "abc" || e.Attempts != 1 {
		t.Fatalf("reopened ledger: %+v %v %v", e, ok, err)
	}
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.OpenFile(path); err == nil {
		t.Error("corrupt ledger opened without error")
	}
}

// ehr is a toy EHR for the guard: documents by key, and whether the next
// create's reply is lost or the next look fails.
type ehr struct {
	mu       sync.Mutex
	docs     map[string]int
	loseNext bool
	findErr  error
	finds    int
	creates  int
}

func (e *ehr) find(key string) func(context.Context) (string, bool, error) {
	return func(context.Context) (string, bool, error) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.finds++
		if err := e.findErr; err != nil {
			e.findErr = nil
			return "", false, err
		}
		if e.docs[key] > 0 {
			return "doc-" + key, true, nil
		}
		return "", false, nil
	}
}

func (e *ehr) create(key string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.creates++
		e.docs[key]++
		if e.loseNext {
			e.loseNext = false
			return "", &connectors.PushError{Message: "connection reset"}
		}
		return "doc-" + key, nil
	}
}

func TestGuard(t *testing.T) {
	ctx := context.Background()
	failed := &connectors.PushError{StatusCode: http.StatusServiceUnavailable, Message: "search unavailable"}
	for _, tc := range []struct {
		name    string
		durable bool
		// lose the first create's reply; fail the first look with err
		lose    bool
		findErr error
		// want: finds and creates over the pushes until success
		finds, creates int
	}{
		{name: "durable first push creates without looking", durable: true, finds: 0, creates: 1},
		{name: "memory ledger always looks", durable: false, finds: 1, creates: 1},
		{name: "lost reply: looks, finds, never re-sends", durable: true, lose: true, finds: 1, creates: 1},
		{name: "failed look creates nothing", durable: true, lose: true, findErr: failed, finds: 2, creates: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &ehr{docs: map[string]int{}, loseNext: tc.lose, findErr: tc.findErr}
			g := &ledger.Guard{Ledger: ledger.NewMemory(), Durable: tc.durable}
			var rc connectors.Receipt
			var err error
			for range 5 {
				rc, err = g.Push(ctx, "k", e.find("k"), e.create("k"))
				if err == nil {
					break
				}
				if connectors.IsPermanent(err) {
					t.Fatalf("permanent failure: %v", err)
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			if rc.ExternalID != "doc-k" {
				t.Errorf("receipt %+v", rc)
			}
			if e.docs["k"] != 1 || e.finds != tc.finds || e.creates != tc.creates {
				t.Errorf("docs %d, finds %d, creates %d; want 1, %d, %d", e.docs["k"], e.finds, e.creates, tc.finds, tc.creates)
			}
			// Known filed: never looked for or sent again.
			rc, err = g.Push(ctx, "k", e.find("k"), e.create("k"))
			if err != nil || !rc.Duplicate || e.creates != tc.creates {
				t.Errorf("repeat push: %+v %v, creates %d", rc, err, e.creates)
			}
		})
	}
}

// TestGuardVerdict: a look whose answer judges the note itself (find
// returns a permanent failure: an unknown patient) stops the push for good,
// creating nothing.
func TestGuardVerdict(t *testing.T) {
	g := &ledger.Guard{Ledger: ledger.NewMemory()}
	unknown := &connectors.PushError{Permanent: true, StatusCode: http.StatusNotFound, Message: "The patient is not valid."}
	_, err := g.Push(context.Background(), "k",
		func(context.Context) (string, bool, error) { return "", false, unknown },
		func(context.Context) (string, error) { t.Fatal("created after a verdict"); return "", nil })
	if !connectors.IsPermanent(err) {
		t.Fatalf("err = %v, want the permanent verdict", err)
	}
}

func TestGuardLedgerFailureIsTransient(t *testing.T) {
	g := &ledger.Guard{Ledger: broken{}, Durable: true}
	_, err := g.Push(context.Background(), "k",
		func(context.Context) (string, bool, error) { return "", false, nil },
		func(context.Context) (string, error) { t.Fatal("created without a ledger"); return "", nil })
	if err == nil || connectors.IsPermanent(err) {
		t.Fatalf("err = %v, want transient", err)
	}
}

type broken struct{}

func (broken) Get(context.Context, string) (ledger.Entry, bool, error) {
	return ledger.Entry{}, false, errors.New("disk gone")
}
func (broken) Put(context.Context, string, ledger.Entry) error { return errors.New("disk gone") }
