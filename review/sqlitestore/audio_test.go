package sqlitestore_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/sqlitestore"
	"github.com/scribegate/scribegate/review/storetest"
)

func TestAudioConformance(t *testing.T) {
	storetest.RunAudio(t, func(t *testing.T) review.AudioStore { return open(t).(*sqlitestore.Store) })
}

// TestAudioReopen: audio stored before a restart is there after it.
func TestAudioReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "review.db")
	s, err := sqlitestore.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte{1, 2, 3}, 1000)
	if _, err := s.AppendAudio(ctx, "s", 0, data); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = sqlitestore.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.ReadAudio(ctx, "s", 0)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after reopen: %d bytes, %v", len(got), err)
	}
}
