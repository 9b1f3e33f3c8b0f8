package jobs

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/pregon/pregon/store"
	"github.com/pregon/pregon/whatsapp"
)

// Sender is what the send job needs from the Cloud API. *whatsapp.Client satisfies it.
type Sender interface {
	SendTemplate(ctx context.Context, phoneNumberID string, msg whatsapp.TemplateMessage) (whatsapp.SendResult, error)
}

// senderCache keeps one Sender per sender number for a short while, so a send does not read
// and decrypt the number's token every time; a changed number (updated_at) gets a new client.
type senderCache struct {
	db      store.DBTX
	factory func(n store.SenderNumber) (Sender, error)
	ttl     time.Duration
	now     func() time.Time

	mu      sync.Mutex
	entries map[int64]senderEntry
}

type senderEntry struct {
	number  store.SenderNumber
	sender  Sender
	expires time.Time
}

func newSenderCache(db store.DBTX, factory func(n store.SenderNumber) (Sender, error)) *senderCache {
	return &senderCache{db: db, factory: factory, ttl: 5 * time.Second, now: time.Now, entries: map[int64]senderEntry{}}
}

// get returns the number (as read at most ttl ago) and its Sender.
func (c *senderCache) get(ctx context.Context, workspaceID, numberID int64) (store.SenderNumber, Sender, error) {
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[numberID]
	c.mu.Unlock()
	if ok && now.Before(e.expires) && e.number.WorkspaceID == workspaceID {
		return e.number, e.sender, nil
	}
	n, err := store.SenderNumberGetByID(ctx, c.db, workspaceID, numberID)
	if err != nil {
		return n, nil, fmt.Errorf("reading sender number %d: %w", numberID, err)
	}
	s := e.sender
	if !ok || !e.number.UpdatedAt.Equal(n.UpdatedAt) || s == nil {
		if c.factory == nil {
			return n, nil, fmt.Errorf("no WhatsApp client configured (jobs.Deps.WhatsApp)")
		}
		if s, err = c.factory(n); err != nil {
			return n, nil, fmt.Errorf("building WhatsApp client for number %d: %w", numberID, err)
		}
	}
	c.mu.Lock()
	c.entries[numberID] = senderEntry{number: n, sender: s, expires: now.Add(c.ttl)}
	c.mu.Unlock()
	return n, s, nil
}

func orNow(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}
