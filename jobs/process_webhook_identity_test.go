package jobs

import (
	"fmt"
	"testing"
	"time"

	"github.com/pregon/pregon/store"
)

// WhatsApp tells the business with a "system" message that a person changed number
// (user_changed_number: from is the old number, system.wa_id the new one, no contacts[]) or
// BSUID (user_changed_user_id). The person's contact follows them; the number they left never
// stays marketable under their name.

// numberChanged is Meta's user_changed_number message (no contacts array).
func numberChanged(wamid, from, to string, at time.Time) string {
	return fmt.Sprintf(`"messages":[{"from":%[2]q,"id":%[1]q,"timestamp":"%[4]d","type":"system",
		"system":{"body":"User Ana changed from %[2]s to %[3]s","wa_id":%[3]q,"type":"user_changed_number"}}]`, wamid, from, to, at.Unix())
}

// userIDChanged is a user_changed_user_id message: the old BSUID in from_user_id, the new one in system.user_id.
func userIDChanged(wamid, from, to string, at time.Time) string {
	return fmt.Sprintf(`"messages":[{"from_user_id":%[2]q,"id":%[1]q,"timestamp":"%[4]d","type":"system",
		"system":{"body":"User Ana changed their user id","user_id":%[3]q,"type":"user_changed_user_id"}}]`, wamid, from, to, at.Unix())
}

func (e bsuidEnv) contactOf(t *testing.T, id int64) store.Contact {
	t.Helper()
	c, err := store.ContactGetByID(e.ctx, e.w.db, e.ws.ID, id)
	must2(t, err)
	return c
}

// numberEvents are the number_changed consent events of a contact, oldest first.
func (e bsuidEnv) numberEvents(t *testing.T, id int64) []store.ConsentEvent {
	t.Helper()
	all, err := store.ConsentEventList(e.ctx, e.w.db, e.ws.ID, id)
	must2(t, err)
	var out []store.ConsentEvent
	for _, ev := range all {
		if ev.Kind == "number_changed" {
			out = append(out, ev)
		}
	}
	return out
}

func hasReason(c store.Contact, code string) bool {
	for _, r := range c.NotMarketable {
		if r.Code == code {
			return true
		}
	}
	return false
}

func TestWebhookUserChangedNumber(t *testing.T) {
	t.Parallel()

	t.Run("ContactFollowsThePersonToTheNewNumber", func(t *testing.T) {
		t.Parallel()
		e := newBSUIDEnv(t)
		ana := e.contact(t, "+525512345678", "5215512345678", bsuidAna)
		before := e.contactOf(t, ana)
		var pending int64
		must2(t, e.w.db.QueryRow(e.ctx, `INSERT INTO recipients (workspace_id, campaign_id, contact_id, phone_e164, state)
			VALUES ($1, $2, $3, '+525512345678', 'pending') RETURNING id`, e.ws.ID, e.campaignID, ana).Scan(&pending))

		e.post(t, numberChanged("wamid.SYS1", "5215512345678", "5215587650000", time.Now()))

		c := e.contactOf(t, ana)
		if c.Phone != "+525587650000" || c.WAID == nil || *c.WAID != "5215587650000" {
			t.Fatalf("Ana's contact has %s (wa_id %v), want the new number +525587650000 (wa_id 5215587650000)", c.Phone, c.WAID)
		}
		if c.BSUID != nil {
			t.Errorf("the BSUID of the old number stays (%s); WhatsApp issues a new one with the number", *c.BSUID)
		}
		if !c.Marketable || c.ConsentAt == nil || !c.ConsentAt.Equal(*before.ConsentAt) || c.OptedOutAt != nil {
			t.Errorf("consent changed with the number: marketable %v (%v), consent %v (was %v), opted out %v",
				c.Marketable, c.NotMarketable, c.ConsentAt, before.ConsentAt, c.OptedOutAt)
		}
		evs := e.numberEvents(t, ana)
		if len(evs) != 1 || evs[0].Reason != "WhatsApp: cambió de número de +525512345678 a +525587650000" || evs[0].Source != store.SourceWhatsAppSystem {
			t.Fatalf("number change events %+v, want one saying %q", evs, "WhatsApp: cambió de número de +525512345678 a +525587650000")
		}
		if n := e.count(t, `SELECT count(*) FROM contacts WHERE workspace_id = $1 AND phone_e164 = '+525512345678'`, e.ws.ID); n != 0 {
			t.Errorf("%d contacts still have the old number, want none (it may go to someone else)", n)
		}
		if n := e.count(t, `SELECT count(*) FROM messages WHERE wamid = 'wamid.SYS1' AND contact_id = $1 AND type = 'system'`, ana); n != 1 {
			t.Errorf("%d system messages on Ana's timeline, want 1", n)
		}
		if n := e.count(t, `SELECT count(*) FROM recipients WHERE id = $1 AND phone_e164 = '+525587650000'`, pending); n != 1 {
			t.Error("the campaign message not sent yet still goes to the old number")
		}
	})

	t.Run("OptOutStaysWithThePerson", func(t *testing.T) {
		t.Parallel()
		e := newBSUIDEnv(t)
		ana := e.contact(t, "+525512345678", "5215512345678", "")
		optedOut := time.Now().Add(-48 * time.Hour).Truncate(time.Second)
		_, err := store.WAContactOptOut(e.ctx, e.w.db, e.ws.ID, ana, nil, optedOut, store.SourceKeyword, "BAJA", nil)
		must2(t, err)

		e.post(t, numberChanged("wamid.SYS1", "5215512345678", "5215587650000", time.Now()))

		c := e.contactOf(t, ana)
		if c.Phone != "+525587650000" {
			t.Fatalf("Ana's contact has %s, want the new number", c.Phone)
		}
		if c.OptedOutAt == nil || !c.OptedOutAt.Equal(optedOut) || c.Marketable {
			t.Fatalf("Ana opted out with her old number: after the change opted out %v, marketable %v; want still opted out since %v",
				c.OptedOutAt, c.Marketable, optedOut)
		}
	})

	t.Run("NewNumberOfAnotherContactTakesTheOptOut", func(t *testing.T) {
		t.Parallel()
		e := newBSUIDEnv(t)
		old := e.contact(t, "+525512345678", "5215512345678", bsuidAna)
		optedOut := time.Now().Add(-48 * time.Hour).Truncate(time.Second)
		_, err := store.WAContactOptOut(e.ctx, e.w.db, e.ws.ID, old, nil, optedOut, store.SourceKeyword, "BAJA", nil)
		must2(t, err)
		// The new number is already a contact, with consent (imported from another list).
		other := e.contact(t, "+525587650000", "", "")
		if !e.contactOf(t, other).Marketable {
			t.Fatal("setup: the new number's contact is not marketable")
		}

		e.post(t, numberChanged("wamid.SYS1", "5215512345678", "5215587650000", time.Now()))

		o := e.contactOf(t, other)
		if o.OptedOutAt == nil || !o.OptedOutAt.Equal(optedOut) || o.OptOutSource != store.SourceKeyword || o.Marketable {
			t.Fatalf("the person opted out with the old number: the new number's contact is opted out %v (%q), marketable %v; want opted out since %v",
				o.OptedOutAt, o.OptOutSource, o.Marketable, optedOut)
		}
		if o.Phone != "+525587650000" {
			t.Errorf("the new number's contact has %s", o.Phone)
		}
		c := e.contactOf(t, old)
		if c.Phone != "+525512345678" {
			t.Errorf("the contacts were merged: the old contact has %s", c.Phone)
		}
		if c.Marketable || !hasReason(c, store.ReasonNumberChanged.Code) || c.NumberChangedAt == nil {
			t.Errorf("the old contact: marketable %v, reasons %v; want left out because the person changed number", c.Marketable, c.NotMarketable)
		}
		if len(e.numberEvents(t, old)) != 1 || len(e.numberEvents(t, other)) != 1 {
			t.Errorf("number change events: %d on the old contact, %d on the new one; want one each",
				len(e.numberEvents(t, old)), len(e.numberEvents(t, other)))
		}
		if n := e.count(t, `SELECT count(*) FROM consent_events WHERE contact_id = $1 AND kind = 'opt_out'`, other); n != 1 {
			t.Errorf("%d opt-out events on the new number's contact, want 1", n)
		}
	})

	t.Run("NewNumberOfAnotherContactLeavesTheOldNumberUnmarketable", func(t *testing.T) {
		t.Parallel()
		e := newBSUIDEnv(t)
		old := e.contact(t, "+525512345678", "5215512345678", "")
		other := e.contact(t, "+525587650000", "", "")
		var pending int64
		must2(t, e.w.db.QueryRow(e.ctx, `INSERT INTO recipients (workspace_id, campaign_id, contact_id, phone_e164, state)
			VALUES ($1, $2, $3, '+525512345678', 'pending') RETURNING id`, e.ws.ID, e.campaignID, old).Scan(&pending))

		e.post(t, numberChanged("wamid.SYS1", "5215512345678", "5215587650000", time.Now()))

		if c := e.contactOf(t, old); c.Marketable || !hasReason(c, store.ReasonNumberChanged.Code) {
			t.Fatalf("the old number stays marketable (%v, %v) although its person moved to another contact's number", c.Marketable, c.NotMarketable)
		}
		if o := e.contactOf(t, other); !o.Marketable || o.OptedOutAt != nil {
			t.Errorf("the new number's contact: marketable %v, opted out %v; want unchanged (the person never opted out)", o.Marketable, o.OptedOutAt)
		}
		var sent int
		must2(t, e.w.db.QueryRow(e.ctx, `SELECT count(*) FROM recipients r JOIN contacts c ON c.id = r.contact_id
			WHERE r.id = $1 AND c.phone_valid`, pending).Scan(&sent))
		if sent != 0 {
			t.Error("the campaign message not sent yet would still go to the old number")
		}
	})

	t.Run("UnknownOldNumberChangesNothing", func(t *testing.T) {
		t.Parallel()
		e := newBSUIDEnv(t)
		ana := e.contact(t, "+525512345678", "5215512345678", bsuidAna)
		contacts := e.count(t, `SELECT count(*) FROM contacts`)

		e.post(t, numberChanged("wamid.SYS1", "5215599990000", "5215512345678", time.Now()))

		if n := e.count(t, `SELECT count(*) FROM messages WHERE wamid = 'wamid.SYS1' AND contact_id IS NULL`); n != 1 {
			t.Errorf("%d messages stored without a contact, want the system message", n)
		}
		if n := e.count(t, `SELECT count(*) FROM contacts`); n != contacts {
			t.Errorf("%d contacts after the message, want %d: none is created for a number its person left", n, contacts)
		}
		c := e.contactOf(t, ana)
		if c.Phone != "+525512345678" || c.BSUID == nil || !c.Marketable {
			t.Errorf("the contact that has the new number changed: %s, BSUID %v, marketable %v", c.Phone, c.BSUID, c.Marketable)
		}
		if n := e.count(t, `SELECT count(*) FROM consent_events WHERE kind = 'number_changed'`); n != 0 {
			t.Errorf("%d number change events, want none", n)
		}
	})

	t.Run("RepeatedDeliveryAppliesOnce", func(t *testing.T) {
		t.Parallel()
		e := newBSUIDEnv(t)
		old := e.contact(t, "+525512345678", "5215512345678", "")
		_, err := store.WAContactOptOut(e.ctx, e.w.db, e.ws.ID, old, nil, time.Now().Add(-time.Hour), store.SourceKeyword, "BAJA", nil)
		must2(t, err)
		other := e.contact(t, "+525587650000", "", "")
		body := numberChanged("wamid.SYS1", "5215512345678", "5215587650000", time.Now())

		e.post(t, body)
		e.post(t, body) // Meta delivered it again

		for _, id := range []int64{old, other} {
			if n := len(e.numberEvents(t, id)); n != 1 {
				t.Errorf("contact %d has %d number change events, want 1", id, n)
			}
		}
		if n := e.count(t, `SELECT count(*) FROM consent_events WHERE contact_id = $1 AND kind = 'opt_out'`, other); n != 1 {
			t.Errorf("%d opt-out events on the new number's contact, want 1", n)
		}
		if n := e.count(t, `SELECT count(*) FROM messages WHERE wamid = 'wamid.SYS1'`); n != 1 {
			t.Errorf("%d copies of the system message, want 1", n)
		}
	})

	t.Run("RepeatedDeliveryLeavesTheOldNumbersNextHolderAlone", func(t *testing.T) {
		t.Parallel()
		e := newBSUIDEnv(t)
		ana := e.contact(t, "+525512345678", "5215512345678", "")
		body := numberChanged("wamid.SYS1", "5215512345678", "5215587650000", time.Now())
		e.post(t, body)
		// The old number now belongs to someone else, who became a contact.
		stranger := e.contact(t, "+525512345678", "5215512345678", "")

		e.post(t, body) // Meta delivered it again

		if s := e.contactOf(t, stranger); s.Phone != "+525512345678" || !s.Marketable {
			t.Fatalf("a repeated delivery changed the old number's new holder: %s, marketable %v (%v)", s.Phone, s.Marketable, s.NotMarketable)
		}
		if n := len(e.numberEvents(t, ana)); n != 1 {
			t.Errorf("Ana's contact has %d number change events, want 1", n)
		}
	})
}

func TestWebhookUserChangedUserID(t *testing.T) {
	t.Parallel()
	const newBSUID = "MX.2222222222222222"

	t.Run("ContactTakesTheNewBSUID", func(t *testing.T) {
		t.Parallel()
		e := newBSUIDEnv(t)
		ana := e.contact(t, "+525512345678", "5215512345678", bsuidAna)

		e.post(t, userIDChanged("wamid.SYS1", bsuidAna, newBSUID, time.Now()))

		if c := e.read(t, ana); c.bsuid == nil || *c.bsuid != newBSUID {
			t.Fatalf("Ana's BSUID is %v, want the new %s", c.bsuid, newBSUID)
		}
		if n := e.count(t, `SELECT count(*) FROM messages WHERE wamid = 'wamid.SYS1' AND contact_id = $1`, ana); n != 1 {
			t.Errorf("%d system messages on Ana's timeline, want 1", n)
		}
		// A message with only the new BSUID is hers.
		e.post(t, fmt.Sprintf(`"messages":[{"from_user_id":%q,"id":"wamid.STOP","timestamp":"%d","type":"text","text":{"body":"BAJA"}}]`,
			newBSUID, time.Now().Unix()))
		if c := e.read(t, ana); c.optedOutAt == nil {
			t.Fatal("a BAJA with the new BSUID did not opt Ana out")
		}
	})

	t.Run("WaitingOptOutMovesToTheNewBSUID", func(t *testing.T) {
		t.Parallel()
		e := newBSUIDEnv(t)
		ana := e.contact(t, "+525512345678", "5215512345678", "")
		stopAt := time.Now().Add(-time.Hour).Truncate(time.Second)
		e.post(t, bsuidOnlyText("wamid.STOP", "BAJA", stopAt)) // no contact has the BSUID: it waits

		e.post(t, userIDChanged("wamid.SYS1", bsuidAna, newBSUID, time.Now()))

		if n := e.count(t, `SELECT count(*) FROM bsuid_optouts WHERE workspace_id = $1 AND bsuid = $2 AND source = 'keyword'`, e.ws.ID, newBSUID); n != 1 {
			t.Fatalf("%d opt-outs wait for the new BSUID, want the BAJA", n)
		}
		if n := e.count(t, `SELECT count(*) FROM bsuid_optouts WHERE bsuid = $1`, bsuidAna); n != 0 {
			t.Errorf("%d opt-outs still wait for the old BSUID", n)
		}
		// Ana writes with her phone and new BSUID: her contact learns it and the BAJA applies.
		e.post(t, fmt.Sprintf(`"contacts":[{"profile":{"name":"Ana"},"wa_id":"5215512345678","user_id":%[1]q}],
			"messages":[{"from":"5215512345678","from_user_id":%[1]q,"id":"wamid.IN2","timestamp":"%[2]d","type":"text","text":{"body":"hola"}}]`,
			newBSUID, time.Now().Unix()))
		if c := e.read(t, ana); c.optedOutAt == nil || !c.optedOutAt.Equal(stopAt) {
			t.Fatalf("Ana's BAJA under her old BSUID: opted out %v, want %v", c.optedOutAt, stopAt)
		}
	})

	t.Run("WaitingOptOutAppliesToTheContactWithTheNewBSUID", func(t *testing.T) {
		t.Parallel()
		e := newBSUIDEnv(t)
		ana := e.contact(t, "+525512345678", "5215512345678", newBSUID)
		e.post(t, bsuidOnlyText("wamid.STOP", "BAJA", time.Now().Add(-time.Hour)))

		e.post(t, userIDChanged("wamid.SYS1", bsuidAna, newBSUID, time.Now()))

		if c := e.read(t, ana); c.optedOutAt == nil {
			t.Fatal("the BAJA under the old BSUID was not applied to the contact that has the new one")
		}
		if n := e.count(t, `SELECT count(*) FROM bsuid_optouts`); n != 0 {
			t.Errorf("%d opt-outs still wait", n)
		}
	})

	t.Run("NewBSUIDOfAnotherContactChangesNeither", func(t *testing.T) {
		t.Parallel()
		e := newBSUIDEnv(t)
		ana := e.contact(t, "+525512345678", "5215512345678", bsuidAna)
		bob := e.contact(t, "+525587654321", "5215587654321", newBSUID)

		e.post(t, userIDChanged("wamid.SYS1", bsuidAna, newBSUID, time.Now()))

		if c := e.read(t, ana); c.bsuid == nil || *c.bsuid != bsuidAna {
			t.Errorf("Ana's BSUID is %v, want the old one kept", c.bsuid)
		}
		if c := e.read(t, bob); c.bsuid == nil || *c.bsuid != newBSUID {
			t.Errorf("Bob's BSUID is %v, want his kept", c.bsuid)
		}
		// The webhook's record says why nothing changed.
		if n := e.count(t, `SELECT count(*) FROM webhook_inbox WHERE error LIKE '%already has the new BSUID%'`); n != 1 {
			t.Errorf("%d stored webhooks say another contact has the new BSUID, want 1", n)
		}
	})
}
