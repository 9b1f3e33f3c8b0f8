package sim

import (
	"bytes"
	"container/heap"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pregon/pregon/whatsapp"
)

// event is one webhook item: a status or inbound message (field "messages") or another field's
// value.
type event struct {
	due     time.Time // wall clock
	seq     uint64    // ties broken by scheduling order
	waba    string
	phoneID string
	display string
	field   string
	status  *whatsapp.Status
	message *whatsapp.Message
	contact *whatsapp.Contact
	value   any // other fields: marshalled as the change value
}

type eventHeap []*event

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if h[i].due.Equal(h[j].due) {
		return h[i].seq < h[j].seq
	}
	return h[i].due.Before(h[j].due)
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(*event)) }
func (h *eventHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}

// batch is a signed webhook body, the number of events it carries, and its delivery so far.
type batch struct {
	body     []byte
	sig      string
	events   int
	first    time.Time // first attempt (wall clock)
	attempts int
}

// emitter schedules events, batches due ones into envelopes and POSTs them with a few senders.
type emitter struct {
	s   *Simulator
	cfg WebhookConfig
	url string

	mu   sync.Mutex
	h    eventHeap
	seq  uint64
	wake chan struct{}

	due     chan *event
	batches chan batch
	started atomic.Bool

	pending   atomic.Int64
	events    atomic.Int64
	delivered atomic.Int64
	failed    atomic.Int64
	attempts  atomic.Int64
	retries   atomic.Int64
}

func newEmitter(s *Simulator) *emitter {
	c := s.cfg.Webhooks
	return &emitter{
		s: s, cfg: c, url: s.cfg.WebhookURL,
		wake:    make(chan struct{}, 1),
		due:     make(chan *event, c.QueueSize),
		batches: make(chan batch, c.QueueSize),
	}
}

// schedule queues ev to be emitted after delay (wall clock).
func (e *emitter) schedule(ev *event, delay time.Duration) {
	e.events.Add(1)
	if e.url == "" {
		return
	}
	e.pending.Add(1)
	e.mu.Lock()
	e.seq++
	ev.seq = e.seq
	ev.due = time.Now().Add(delay)
	heap.Push(&e.h, ev)
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func (e *emitter) idle() bool { return e.pending.Load() == 0 }

func (e *emitter) stats() WebhookStats {
	return WebhookStats{
		Events: int(e.events.Load()), Delivered: int(e.delivered.Load()), Pending: int(e.pending.Load()),
		Failed: int(e.failed.Load()), Attempts: int(e.attempts.Load()), Retries: int(e.retries.Load()),
	}
}

func (e *emitter) start(ctx context.Context) {
	if e.url == "" || !e.started.CompareAndSwap(false, true) {
		return
	}
	go e.runScheduler(ctx)
	go e.runBatcher(ctx)
	for range e.cfg.Senders {
		go e.runSender(ctx)
	}
}

func (e *emitter) runScheduler(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		e.mu.Lock()
		var next *event
		wait := time.Hour
		if len(e.h) > 0 {
			if d := time.Until(e.h[0].due); d <= 0 {
				next = heap.Pop(&e.h).(*event)
			} else {
				wait = d
			}
		}
		e.mu.Unlock()
		if next != nil {
			select {
			case e.due <- next:
			case <-ctx.Done():
				return
			}
			continue
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-e.wake:
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		case <-ctx.Done():
			return
		}
	}
}

func (e *emitter) runBatcher(ctx context.Context) {
	tick := time.NewTicker(e.cfg.FlushInterval)
	defer tick.Stop()
	var buf []*event
	flush := func() bool {
		if len(buf) == 0 {
			return true
		}
		body, err := json.Marshal(buildEnvelope(buf))
		if err != nil {
			e.s.log.Error("encoding webhook batch", errAttr(err))
			e.pending.Add(-int64(len(buf)))
			buf = buf[:0]
			return true
		}
		select {
		case e.batches <- batch{body: body, sig: whatsapp.Sign(body, []byte(e.s.cfg.AppSecret)), events: len(buf)}:
		case <-ctx.Done():
			return false
		}
		buf = nil
		return true
	}
	for {
		select {
		case ev := <-e.due:
			buf = append(buf, ev)
			if len(buf) >= e.cfg.BatchSize && !flush() {
				return
			}
		case <-tick.C:
			if !flush() {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

func (e *emitter) runSender(ctx context.Context) {
	for {
		select {
		case b := <-e.batches:
			e.post(ctx, b)
		case <-ctx.Done():
			return
		}
	}
}

// post makes one delivery attempt of b. When the receiver fails or answers non-2xx, the next
// attempt is scheduled after a growing gap (retryGap) without holding this sender, until the
// batch is too old (MaxAge), has had MaxAttempts (when set), or the simulator stops.
func (e *emitter) post(ctx context.Context, b batch) {
	if b.attempts == 0 {
		b.first = time.Now()
	}
	b.attempts++
	e.attempts.Add(1)
	err := e.postOnce(ctx, b.body, b.sig)
	if err == nil {
		e.delivered.Add(1)
		e.pending.Add(-int64(b.events))
		return
	}
	gap := e.retryGap(b.attempts)
	switch {
	case ctx.Err() != nil:
		e.giveUp(b, ctx.Err())
	case e.cfg.MaxAttempts > 0 && b.attempts >= e.cfg.MaxAttempts:
		e.giveUp(b, err)
	case time.Since(b.first)+gap > e.cfg.MaxAge:
		e.giveUp(b, err)
	default:
		e.retries.Add(1)
		go e.retryAfter(ctx, b, gap)
	}
}

// retryGap is the wait after the given failed attempt: RetryBase doubled per earlier attempt,
// capped at MaxRetryGap.
func (e *emitter) retryGap(attempt int) time.Duration {
	gap := e.cfg.RetryBase
	for range attempt - 1 {
		if gap >= e.cfg.MaxRetryGap/2 {
			return e.cfg.MaxRetryGap
		}
		gap *= 2
	}
	return min(gap, e.cfg.MaxRetryGap)
}

// retryAfter hands b back to the senders after gap; a stop in the meantime gives it up, so
// neither shutdown nor WaitIdle waits for retries that will not happen.
func (e *emitter) retryAfter(ctx context.Context, b batch, gap time.Duration) {
	t := time.NewTimer(gap)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		e.giveUp(b, ctx.Err())
		return
	}
	select {
	case e.batches <- b:
	case <-ctx.Done():
		e.giveUp(b, ctx.Err())
	}
}

func (e *emitter) giveUp(b batch, err error) {
	e.failed.Add(1)
	e.pending.Add(-int64(b.events))
	e.s.log.Warn("giving up webhook delivery", errAttr(err), "attempts", b.attempts,
		"age", time.Since(b.first).Round(time.Millisecond), "events", b.events)
}

func (e *emitter) postOnce(ctx context.Context, body []byte, sig string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(whatsapp.SignatureHeader, sig)
	req.Header.Set("User-Agent", "facebookexternalua")
	resp, err := e.cfg.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("posting webhook: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("posting webhook: receiver answered %d", resp.StatusCode)
	}
	return nil
}

// buildEnvelope groups events by WABA (entries) and, for field "messages", by phone number
// (one change holding all its statuses and messages), keeping order otherwise.
func buildEnvelope(evs []*event) whatsapp.Envelope {
	env := whatsapp.Envelope{Object: whatsapp.ObjectWhatsAppBusinessAccount}
	entryIdx := map[string]int{}
	msgIdx := map[string]int{} // waba|phone → change index
	now := time.Now().Unix()
	for _, ev := range evs {
		ei, ok := entryIdx[ev.waba]
		if !ok {
			ei = len(env.Entry)
			entryIdx[ev.waba] = ei
			env.Entry = append(env.Entry, whatsapp.Entry{ID: whatsapp.FlexString(ev.waba), Time: whatsapp.FlexInt(now)})
		}
		en := &env.Entry[ei]
		if ev.field != whatsapp.FieldMessages {
			raw, err := json.Marshal(ev.value)
			if err != nil {
				continue
			}
			en.Changes = append(en.Changes, whatsapp.Change{Field: ev.field, Raw: raw})
			continue
		}
		kind := "status"
		if ev.status == nil {
			kind = "message"
		}
		key := ev.waba + "|" + ev.phoneID + "|" + kind
		ci, ok := msgIdx[key]
		if !ok {
			ci = len(en.Changes)
			msgIdx[key] = ci
			en.Changes = append(en.Changes, whatsapp.Change{Field: whatsapp.FieldMessages, Messages: &whatsapp.MessagesValue{
				MessagingProduct: "whatsapp",
				Metadata:         whatsapp.Metadata{DisplayPhoneNumber: whatsapp.FlexString(ev.display), PhoneNumberID: whatsapp.FlexString(ev.phoneID)},
			}})
		}
		v := en.Changes[ci].Messages
		if ev.status != nil {
			v.Statuses = append(v.Statuses, *ev.status)
		}
		if ev.message != nil {
			v.Messages = append(v.Messages, *ev.message)
		}
		if ev.contact != nil {
			dup := false
			for _, c := range v.Contacts {
				dup = dup || c.WAID == ev.contact.WAID && c.UserID == ev.contact.UserID
			}
			if !dup {
				v.Contacts = append(v.Contacts, *ev.contact)
			}
		}
	}
	return env
}
