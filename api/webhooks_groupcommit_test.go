package api

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pregon/pregon/store"
)

// Concurrent webhook requests share commits: every body is stored exactly once, each request
// returns its own transaction's outcome, and waiting requests sleep instead of polling for a
// free committer.
func TestGroupCommitSharesTransactions(t *testing.T) {
	var mu sync.Mutex
	seen := map[int64]int{}
	var calls atomic.Int64
	failing := int64(150) // the transaction holding this row fails, and so does every request in it
	g := &groupCommit{slots: make(chan struct{}, 2), max: 50}
	g.store = func(ctx context.Context, rows []store.WebhookInboxRow) error {
		calls.Add(1)
		time.Sleep(5 * time.Millisecond) // a commit's round trips
		mu.Lock()
		defer mu.Unlock()
		var err error
		for _, r := range rows {
			seen[r.ID]++
			if r.ID == failing {
				err = errors.New("commit failed")
			}
		}
		return err
	}
	const n = 400
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = g.submit(context.Background(), store.WebhookInboxRow{ID: int64(i)})
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("%d distinct rows stored, want %d", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("row %d stored %d times", id, k)
		}
	}
	if c := calls.Load(); c >= n/2 {
		t.Errorf("%d transactions for %d requests: concurrent requests should share commits", c, n)
	}
	failed := 0
	for i, err := range errs {
		if err != nil {
			failed++
			if i == int(failing) && err.Error() != "commit failed" {
				t.Errorf("request %d: %v", i, err)
			}
		}
	}
	if errs[failing] == nil || failed == 0 || failed > g.max {
		t.Errorf("%d requests failed (the failing row's: %v); want the failing transaction's requests only", failed, errs[failing])
	}
}
