package sealed_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/sealed"
	"github.com/scribegate/scribegate/review/sealed/sealedtest"
	"github.com/scribegate/scribegate/review/sqlitestore/sqlitetest"
	"github.com/scribegate/scribegate/review/storetest"
)

// TestSealedAudioConformance: sealed, the audio store keeps every promise
// of review.AudioStore (idempotent resends, gaps, mismatches, batches).
func TestSealedAudioConformance(t *testing.T) {
	k := sealedtest.Ring(t, sealedtest.Key("k1"))
	for name, r := range map[string]*sealed.Ring{"keys": k, "no keys": nil} {
		t.Run(name, func(t *testing.T) {
			storetest.RunAudio(t, func(tb testing.TB) review.AudioStore {
				return sealed.Audio(sqlitetest.Open(tb), r)
			})
		})
	}
}

// TestSealedAudioAtRest: the data directory holds none of a session's
// audio; a rotated ring still reads it; a wrong key or none fails closed;
// audio stored before sealing began stays readable and is extended as it
// was.
func TestSealedAudioAtRest(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "review.db")
	k1 := sealedtest.Key("k1")
	pcm := make([]byte, 64<<10)
	rand.Read(pcm)

	s := sqlitetest.OpenAt(t, path)
	a := sealed.Audio(s, sealedtest.Ring(t, k1))
	// Appends as the gateway makes them: a batch every few milliseconds.
	for off := 0; off < len(pcm); off += 3200 {
		end := min(off+3200, len(pcm))
		b := []review.AudioAppend{{SessionID: "s1", Offset: int64(off), Data: pcm[off:end]}}
		if err := a.AppendAudioBatch(ctx, b); err != nil || b[0].Err != nil || b[0].Size != int64(end) {
			t.Fatalf("append at %d: %v %+v", off, err, b[0])
		}
	}
	// Read before the journal is applied, and after.
	if got, err := a.ReadAudio(ctx, "s1", 100); err != nil || !bytes.Equal(got, pcm[100:]) {
		t.Fatalf("read: %d bytes, %v", len(got), err)
	}
	// A plain session from before sealing began.
	if _, err := s.AppendAudio(ctx, "old", 0, pcm[:1000]); err != nil {
		t.Fatal(err)
	}
	s.Close()

	// No 32-byte run of the audio anywhere in the directory.
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off+32 <= len(pcm); off += 1024 {
			if bytes.Contains(b, pcm[off:off+32]) && filepath.Base(p) != "old.audio" {
				t.Errorf("%s holds the audio at offset %d", p, off)
				break
			}
		}
		return nil
	})

	// Rotated: a new key first, k1 kept.
	s = sqlitetest.OpenAt(t, path)
	rot := sealed.Audio(s, sealedtest.Ring(t, sealedtest.Key("k2"), k1))
	if n, err := rot.AudioSize(ctx, "s1"); err != nil || n != int64(len(pcm)) {
		t.Fatalf("rotated size %d %v", n, err)
	}
	more := []byte("more audio after the rotation..")
	if n, err := rot.AppendAudio(ctx, "s1", int64(len(pcm)), more); err != nil || n != int64(len(pcm)+len(more)) {
		t.Fatalf("append after rotation: %d %v", n, err)
	}
	// A resend across the old and new records compares as plain bytes.
	if _, err := rot.AppendAudio(ctx, "s1", int64(len(pcm)-10), append(append([]byte{}, pcm[len(pcm)-10:]...), more...)); err != nil {
		t.Errorf("resend: %v", err)
	}
	if got, err := rot.ReadAudio(ctx, "s1", 0); err != nil || !bytes.Equal(got, append(append([]byte{}, pcm...), more...)) {
		t.Errorf("rotated read: %d bytes %v", len(got), err)
	}
	if got, err := rot.ReadAudio(ctx, "old", 0); err != nil || !bytes.Equal(got, pcm[:1000]) {
		t.Errorf("audio from before sealing: %d bytes %v", len(got), err)
	}
	// Fail closed.
	for name, tc := range map[string]struct {
		r    *sealed.Ring
		want error
	}{
		"wrong key": {sealedtest.Ring(t, "k1:"+sealedtest.Key("x")[2:], "k2:"+sealedtest.Key("y")[2:]), sealed.ErrAuth},
		"no keys":   {nil, sealed.ErrUnknownKey},
		"k1 gone":   {sealedtest.Ring(t, sealedtest.Key("k2")), sealed.ErrUnknownKey},
	} {
		bad := sealed.Audio(s, tc.r)
		if got, err := bad.ReadAudio(ctx, "s1", 0); !errors.Is(err, tc.want) || got != nil {
			t.Errorf("%s: read %d bytes, %v; want %v", name, len(got), err, tc.want)
		}
		if _, err := bad.AppendAudio(ctx, "s1", int64(len(pcm)+len(more)), []byte("x")); !errors.Is(err, tc.want) {
			t.Errorf("%s: append %v; want %v", name, err, tc.want)
		}
	}
}

// BenchmarkAudioBatch is the gateway's group commit: a batch of 100
// sessions' 100 ms of audio (3,200 bytes each) into the audio file
// store's journal, as given and sealed.
func BenchmarkAudioBatch(b *testing.B) {
	const sessions, frame = 100, 3200
	data := make([]byte, frame)
	rand.Read(data)
	for name, r := range map[string]*sealed.Ring{"plain": nil, "sealed": sealedtest.Ring(b, sealedtest.Key("k1"))} {
		b.Run(name, func(b *testing.B) {
			s := sqlitetest.Open(b)
			var st review.AudioStore = s
			if r != nil {
				st = sealed.Audio(s, r)
			}
			ctx := context.Background()
			batch := make([]review.AudioAppend, sessions)
			b.SetBytes(sessions * frame)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				for j := range batch {
					batch[j] = review.AudioAppend{SessionID: "s" + string(rune('a'+j%26)) + string(rune('a'+j/26)), Offset: int64(i * frame), Data: data}
				}
				if err := st.AppendAudioBatch(ctx, batch); err != nil || batch[0].Err != nil {
					b.Fatal(err, batch[0].Err)
				}
			}
		})
	}
}
