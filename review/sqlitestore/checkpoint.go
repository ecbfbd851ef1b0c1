package sqlitestore

import (
	"context"
	"database/sql"
	"log/slog"
	"sync"
	"time"
)

// checkpointer copies the notes file's write-ahead log back into the file
// on a connection of its own, beside the writer rather than inside one of
// its commits. SQLite's automatic checkpoint (wal_autocheckpoint, turned
// off on the writer here) runs in whichever commit crosses the threshold,
// and that commit — an approval, a push's claim — waits for the whole
// copy: it was the tail of the push latency. A PASSIVE checkpoint takes no
// lock a writer needs, so commits go on while it runs.
//
// The log is reused from its start once a checkpoint has copied all of it
// and the writer commits again; should the writer keep the checkpointer
// from ever catching up, a log beyond maxFrames is restarted with a
// RESTART checkpoint, which waits for the writer between two commits.
type checkpointer struct {
	db        *sql.DB
	every     time.Duration // at most one checkpoint per every
	maxFrames int           // restart the log beyond this many frames

	wake chan struct{}
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

func newCheckpointer(db *sql.DB, every time.Duration, maxFrames int) *checkpointer {
	c := &checkpointer{db: db, every: every, maxFrames: maxFrames,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

// committed tells the checkpointer the writer has added to the log. It
// never blocks.
func (c *checkpointer) committed() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run() {
	defer close(c.done)
	t := time.NewTimer(0)
	<-t.C
	for {
		select {
		case <-c.wake:
		case <-c.stop:
			return
		}
		// Let commits gather so a checkpoint copies many at once.
		t.Reset(c.every)
		select {
		case <-t.C:
		case <-c.stop:
			t.Stop()
			return
		}
		c.checkpoint("PASSIVE")
	}
}

func (c *checkpointer) checkpoint(mode string) {
	var busy, frames, copied int
	err := c.db.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(`+mode+`)`).Scan(&busy, &frames, &copied)
	if err != nil {
		slog.Warn("sqlitestore: checkpoint", "mode", mode, "err", err)
		return
	}
	if mode == "PASSIVE" && frames > c.maxFrames {
		c.checkpoint("RESTART")
	}
}

// close stops the loop and copies what is left, so the file is whole
// without its log.
func (c *checkpointer) close() {
	c.once.Do(func() {
		close(c.stop)
		<-c.done
		c.checkpoint("PASSIVE")
	})
}
