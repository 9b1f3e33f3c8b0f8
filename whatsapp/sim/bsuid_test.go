package sim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/pregon/pregon/whatsapp"
	"github.com/pregon/pregon/whatsapp/sim"
)

// inboundOf returns the inbound message with this wamid and the contact that names its sender.
func (rc *receiver) inboundOf(t *testing.T, wamid string) (whatsapp.Message, whatsapp.Contact) {
	t.Helper()
	for _, e := range rc.envelopes() {
		for _, en := range e.Entry {
			for _, ch := range en.Changes {
				if ch.Messages == nil {
					continue
				}
				for _, m := range ch.Messages.Messages {
					if m.ID != wamid {
						continue
					}
					for _, c := range ch.Messages.Contacts {
						if c.UserID == m.FromUserID {
							return m, c
						}
					}
					t.Fatalf("inbound %s has no contact with user_id %q: %+v", wamid, m.FromUserID, ch.Messages.Contacts)
				}
			}
		}
	}
	t.Fatalf("no inbound message %s", wamid)
	return whatsapp.Message{}, whatsapp.Contact{}
}

// TestBSUIDs: the simulator names users as Meta does since usernames (2026, WHATSAPP.md §4a,
// §4d): a stable BSUID per user in statuses and inbound messages, and username users whose
// messages leave the phone out.
func TestBSUIDs(t *testing.T) {
	t.Parallel()
	format := regexp.MustCompile(`^[A-Z]{2}\.[0-9]{16}$`)

	t.Run("StableFromSeedAndPhone", func(t *testing.T) {
		t.Parallel()
		a, again, other := sim.New(sim.Config{Seed: 7}), sim.New(sim.Config{Seed: 7}), sim.New(sim.Config{Seed: 8})
		co := a.UserID("+573001234567")
		if !format.MatchString(co) || co[:3] != "CO." {
			t.Errorf("BSUID of a Colombian number = %q", co)
		}
		eq(t, "same seed and phone", again.UserID("573001234567"), co)
		if other.UserID("+573001234567") == co || a.UserID("+573001234568") == co {
			t.Error("another seed or another phone gave the same BSUID")
		}
		// A Mexican phone and its wa_id (521…) are one user.
		eq(t, "MX phone and wa_id", a.UserID("+52 55 1234 5678"), a.UserID("5215512345678"))
	})

	t.Run("StatusesCarryTheRecipientsBSUID", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil)
		for _, to := range []string{"+573001234567", "+525512345678"} {
			if _, err := b.client.SendTemplate(context.Background(), phoneID, promo(to)); err != nil {
				t.Fatal(err)
			}
		}
		b.waitIdle(t)
		n := 0
		for _, e := range b.hook.envelopes() {
			v := e.Entry[0].Changes[0].Messages
			users := map[string]string{}
			for _, c := range v.Contacts {
				users[string(c.WAID)] = c.UserID
			}
			for _, s := range v.Statuses {
				n++
				want := b.sim.UserID(s.RecipientID)
				if !format.MatchString(want) || s.RecipientUserID != want || users[s.RecipientID] != want {
					t.Errorf("%s status to %s: recipient_user_id %q, contacts user_id %q, want %q", s.Status, s.RecipientID, s.RecipientUserID, users[s.RecipientID], want)
				}
			}
		}
		eq(t, "statuses", n > 0, true)
	})

	t.Run("FailedStatusesCarryNone", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(c *sim.Config) { c.Statuses.FailedProb = 1 })
		if _, err := b.client.SendTemplate(context.Background(), phoneID, promo("+573001234567")); err != nil {
			t.Fatal(err)
		}
		b.waitIdle(t)
		for _, e := range b.hook.envelopes() {
			v := e.Entry[0].Changes[0].Messages
			if len(v.Contacts) > 0 || v.Statuses[0].Status != "failed" || v.Statuses[0].RecipientUserID != "" {
				t.Errorf("failed status to a phone number = %+v, contacts %+v", v.Statuses, v.Contacts)
			}
		}
	})

	t.Run("UsernameUsersHideThePhoneUnlessRecentlyMessaged", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(c *sim.Config) { c.UsernameShare = 1 })
		const phone = "573001112233"
		inbound := func() (whatsapp.Message, whatsapp.Contact) {
			t.Helper()
			id, err := b.sim.SendInbound(sim.Inbound{From: phone, Text: "Hola"})
			if err != nil {
				t.Fatal(err)
			}
			b.waitIdle(t)
			return b.hook.inboundOf(t, id)
		}
		m, c := inbound()
		if m.From != "" || c.WAID != "" || m.FromUserID != b.sim.UserID(phone) || c.Profile.Username == "" || c.Profile.Name == "" {
			t.Errorf("first message of a username user: %+v, contact %+v", m, c)
		}
		// Once the number messaged the phone, the user's messages show it for 30 days.
		if _, err := b.client.SendTemplate(context.Background(), phoneID, promo("+"+phone)); err != nil {
			t.Fatal(err)
		}
		m, c = inbound()
		if m.From != phone || string(c.WAID) != phone || m.FromUserID != b.sim.UserID(phone) {
			t.Errorf("message after the business messaged the phone: %+v, contact %+v", m, c)
		}
		b.clock.Advance(31 * 24 * time.Hour)
		if m, c = inbound(); m.From != "" || c.WAID != "" {
			t.Errorf("message 31 days later: %+v, contact %+v", m, c)
		}
		for _, s := range b.hook.statuses() {
			if s.RecipientID != phone || s.RecipientUserID != b.sim.UserID(phone) {
				t.Errorf("status of the message sent to the phone: %+v", s)
			}
		}
	})

	t.Run("EveryUserShowsThePhoneByDefault", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil)
		id, err := b.sim.SendInbound(sim.Inbound{From: "573001112233", Text: "Hola"})
		if err != nil {
			t.Fatal(err)
		}
		b.waitIdle(t)
		if m, c := b.hook.inboundOf(t, id); m.From != "573001112233" || c.WAID != "573001112233" || c.Profile.Username != "" {
			t.Errorf("message %+v, contact %+v", m, c)
		}
	})

	t.Run("ControlSendsByBSUIDAlone", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil)
		const phone = "5215512345678"
		bsuid := b.sim.UserID(phone)
		id := b.control(t, "POST", "/_sim/inbound", map[string]string{"user_id": bsuid, "text": "BAJA"})["id"].(string)
		b.waitIdle(t)
		m, c := b.hook.inboundOf(t, id)
		if m.From != "" || c.WAID != "" || m.FromUserID != bsuid || m.ReplyText() != "BAJA" {
			t.Errorf("username-only message %+v, contact %+v", m, c)
		}
		// The user wrote: the service window to their phone is open.
		res, err := b.client.SendText(context.Background(), phoneID, "+"+phone, "Listo, te dimos de baja", false)
		if err != nil {
			t.Fatal(err)
		}
		b.waitIdle(t)
		eq(t, "reply inside the window", b.hook.outcomes()[res.WAMID], "sent")
		for body, why := range map[string]string{
			`{"from":"5215512345678","user_id":"` + bsuid + `","text":"x"}`: "both from and user_id",
			`{"user_id":"5215512345678","text":"x"}`:                        "a user_id that is no BSUID",
			`{"text":"x"}`:                                                  "neither",
		} {
			resp, err := http.Post(b.srv.URL+"/_sim/inbound", "application/json", bytes.NewReader([]byte(body)))
			if err != nil {
				t.Fatal(err)
			}
			var out map[string]string
			_ = json.NewDecoder(resp.Body).Decode(&out)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || out["error"] == "" {
				t.Errorf("%s: %d %v", why, resp.StatusCode, out)
			}
		}
	})
}
