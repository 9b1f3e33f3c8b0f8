package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pregon/pregon/store"
	"github.com/pregon/pregon/whatsapp"
)

// sendRecorder wraps the HTTP transport of the Cloud API client: it notes when each send
// started and to whom, the moment the pacing promises something about (the simulator only
// counts a send when its request arrives, which on a machine loaded by the whole suite can lag
// the call's start by a few hundred milliseconds and bunch a few of them in one second).
type sendRecorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	recs []sendRec
}

type sendRec struct {
	start    time.Time
	end      time.Time // the answer
	to       string    // digits
	accepted bool
}

func (c *sendRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	var to string
	if req.Body != nil && strings.HasSuffix(req.URL.Path, "/messages") {
		body, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		var m struct {
			To string `json:"to"`
		}
		_ = json.Unmarshal(body, &m)
		to = strings.TrimPrefix(m.To, "+")
	}
	resp, err := c.base.RoundTrip(req)
	c.mu.Lock()
	c.recs = append(c.recs, sendRec{start: start, end: time.Now(), to: to, accepted: err == nil && resp.StatusCode == http.StatusOK})
	c.mu.Unlock()
	return resp, err
}

func (c *sendRecorder) sends() []sendRec {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]sendRec(nil), c.recs...)
}

// recordSends makes b's send jobs call the simulator through a sendRecorder.
func recordSends(b *bundle) *sendRecorder {
	rec := &sendRecorder{base: whatsapp.NewTransport()}
	client := whatsapp.New(whatsapp.Config{BaseURL: b.simURL, Token: "test-token", HTTPClient: &http.Client{Transport: rec}})
	b.deps.WhatsApp = func(store.SenderNumber) (*whatsapp.Client, error) { return client, nil }
	return rec
}

// checkPaced checks the pacing of the workspace's sends at the throughput mps, where it is
// promised and free of the machine's load:
//   - the slots the pacer handed to the recipients sent: at most mps in any 1 s + Grace
//     (10 ms) window, as a call happens within Grace after its slot;
//   - no recorded call started before its recipient's slot;
//   - the simulator, counting a send when its request arrives, saw at most mps plus
//     arrivalLag in any 1-s window: the requests' transit on a loaded machine may bunch a
//     few, far fewer than unpaced sends would.
func checkPaced(t *testing.T, b *bundle, rec *sendRecorder, mps, arrivalLag int) {
	t.Helper()
	ctx := context.Background()
	rows, err := b.pool.Query(ctx, `SELECT phone_e164, send_slot FROM recipients
		WHERE workspace_id = $1 AND sent_at IS NOT NULL AND send_slot IS NOT NULL ORDER BY send_slot`, b.ws.ID)
	must(t, err)
	slotOf := map[string]time.Time{}
	var slots []time.Time
	for rows.Next() {
		var phone string
		var s time.Time
		must(t, rows.Scan(&phone, &s))
		slotOf[strings.TrimPrefix(phone, "+")] = s
		slots = append(slots, s)
	}
	must(t, rows.Err())
	if len(slots) == 0 {
		t.Fatal("no sent recipient has a send slot")
	}
	if n, from := busiestWindow(slots); n > mps {
		t.Errorf("%d send slots within 1.01 s from %s (throughput %d)", n, from, mps)
	}
	calls := 0
	for _, r := range rec.sends() {
		if !r.accepted || r.to == "" {
			continue
		}
		calls++
		slot, ok := slotOf[r.to]
		if !ok {
			t.Errorf("accepted send to %s: no sent recipient with a slot", r.to)
			continue
		}
		if r.start.Before(slot.Add(-time.Millisecond)) {
			t.Errorf("send to %s started %v before its slot", r.to, slot.Sub(r.start))
		}
	}
	if calls == 0 {
		t.Error("no accepted send recorded")
	}
	if got := b.sim.MaxPerSecond(); got > mps+arrivalLag {
		t.Errorf("the simulator counted %d sends in a 1-s window; throughput %d (and the requests' lag %d more)", got, mps, arrivalLag)
	}
}

// busiestWindow is the most slots (in order) within any 1 s + Grace (10 ms) window, and where
// that window starts: a call happens within Grace after its slot.
func busiestWindow(slots []time.Time) (n int, from time.Time) {
	for i := range slots {
		j := i
		for j < len(slots) && slots[j].Sub(slots[i]) < 1010*time.Millisecond {
			j++
		}
		if j-i > n {
			n, from = j-i, slots[i]
		}
	}
	return n, from
}
