package jobs

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertest"

	"github.com/pregon/pregon/store"
)

// Since WhatsApp usernames (2026) an inbound message may carry only the sender's BSUID
// (from_user_id), no phone (from); contacts[] carry user_id and statuses recipient_user_id
// (WHATSAPP.md §4d, §4a). Pregón keys contacts by phone and BSUID.

const bsuidAna = "MX.1349120865530274"

type bsuidEnv struct {
	ctx        context.Context
	w          *ProcessWebhookWorker
	ws         store.Workspace
	campaignID int64
}

func newBSUIDEnv(t *testing.T) bsuidEnv {
	t.Helper()
	ctx, w, ws, _, _, cid := templateEventEnv(t)
	client, err := river.NewClient(riverpgxv5.New(w.db), &river.Config{})
	must2(t, err)
	return bsuidEnv{ctx: rivertest.WorkContext(ctx, client), w: w, ws: ws, campaignID: cid}
}

// post stores a body of field "messages" with this value (metadata added) and processes it.
func (e bsuidEnv) post(t *testing.T, value string) {
	t.Helper()
	e.postField(t, "messages", value)
}

// postField stores a body of the given field with this value (metadata added) and processes it.
func (e bsuidEnv) postField(t *testing.T, field, value string) {
	t.Helper()
	body := fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"1001","changes":[{"field":%q,"value":{
		"messaging_product":"whatsapp","metadata":{"display_phone_number":"573000000000","phone_number_id":"2002"},%s}}]}]}`, field, value)
	id, err := store.WebhookInboxInsert(e.ctx, e.w.db, store.WebhookInboxRow{WorkspaceID: &e.ws.ID, Body: []byte(body)})
	must2(t, err)
	if _, err := e.w.processBatch(e.ctx, 0, []int64{id}, 1); err != nil {
		t.Fatal(err)
	}
}

// contact inserts a contact with consent (and a BSUID when bsuid is not "").
func (e bsuidEnv) contact(t *testing.T, phone, waID, bsuid string) int64 {
	t.Helper()
	var id int64
	must2(t, e.w.db.QueryRow(e.ctx, `INSERT INTO contacts (workspace_id, phone_e164, wa_id, bsuid, consent_at)
		VALUES ($1, $2, $3, NULLIF($4, ''), now()) RETURNING id`, e.ws.ID, phone, waID, bsuid).Scan(&id))
	return id
}

// sent records a campaign message (wamid) sent to a contact.
func (e bsuidEnv) sent(t *testing.T, contactID int64, phone, wamid string) {
	t.Helper()
	_, err := e.w.db.Exec(e.ctx, `INSERT INTO recipients (workspace_id, campaign_id, contact_id, phone_e164, state, wamid, attempts, sent_at)
		VALUES ($1, $2, $3, $4, 'sent', $5, 1, now())`, e.ws.ID, e.campaignID, contactID, phone, wamid)
	must2(t, err)
}

type bsuidContact struct {
	bsuid         *string
	optedOutAt    *time.Time
	optOutSource  string
	lastInboundAt *time.Time
}

func (e bsuidEnv) read(t *testing.T, id int64) bsuidContact {
	t.Helper()
	var c bsuidContact
	must2(t, e.w.db.QueryRow(e.ctx, `SELECT bsuid, opted_out_at, opt_out_source, last_inbound_at FROM contacts WHERE id = $1`, id).
		Scan(&c.bsuid, &c.optedOutAt, &c.optOutSource, &c.lastInboundAt))
	return c
}

func (e bsuidEnv) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	must2(t, e.w.db.QueryRow(e.ctx, sql, args...).Scan(&n))
	return n
}

// bsuidOnlyText is a text message from a username user: no from, no wa_id.
func bsuidOnlyText(wamid, body string, at time.Time) string {
	return fmt.Sprintf(`"contacts":[{"profile":{"name":"Ana","username":"ana"},"user_id":%q}],
		"messages":[{"from_user_id":%q,"id":%q,"timestamp":"%d","type":"text","text":{"body":%q}}]`, bsuidAna, bsuidAna, wamid, at.Unix(), body)
}

func TestWebhookBSUIDOnlyMessageFindsItsContact(t *testing.T) {
	t.Parallel()

	t.Run("KeywordOptsOutTheContactKnownByBSUID", func(t *testing.T) {
		t.Parallel()
		e := newBSUIDEnv(t)
		ana := e.contact(t, "+525512345678", "5215512345678", bsuidAna)
		other := e.contact(t, "+525587654321", "5215587654321", "MX.999")
		at := time.Now().Add(-time.Minute).Truncate(time.Second)
		e.post(t, bsuidOnlyText("wamid.IN1", "BAJA", at))
		c := e.read(t, ana)
		if c.optedOutAt == nil || c.optOutSource != "keyword" {
			t.Fatalf("a BAJA from Ana's BSUID alone: opted out %v (%q), want opted out by keyword", c.optedOutAt, c.optOutSource)
		}
		// The message opened the 24 h service window as one with a phone does.
		if c.lastInboundAt == nil || !c.lastInboundAt.Equal(at) {
			t.Errorf("last inbound %v, want %v", c.lastInboundAt, at)
		}
		if n := e.count(t, `SELECT count(*) FROM messages WHERE wamid = 'wamid.IN1' AND contact_id = $1`, ana); n != 1 {
			t.Errorf("%d messages on Ana's timeline, want 1", n)
		}
		if n := e.count(t, `SELECT count(*) FROM consent_events WHERE contact_id = $1 AND kind = 'opt_out'`, ana); n != 1 {
			t.Errorf("%d opt-out consent events, want 1", n)
		}
		if o := e.read(t, other); o.optedOutAt != nil {
			t.Error("another contact was opted out")
		}
	})

	t.Run("ButtonOptsOutTheContactKnownByBSUID", func(t *testing.T) {
		t.Parallel()
		e := newBSUIDEnv(t)
		ana := e.contact(t, "+525512345678", "5215512345678", bsuidAna)
		e.post(t, fmt.Sprintf(`"contacts":[{"profile":{"name":"Ana"},"user_id":%q}],
			"messages":[{"from_user_id":%q,"id":"wamid.BTN","timestamp":"%d","type":"button",
			"button":{"payload":"No recibir más","text":"No recibir más"}}]`, bsuidAna, bsuidAna, time.Now().Unix()))
		if c := e.read(t, ana); c.optedOutAt == nil || c.optOutSource != "button" {
			t.Fatalf("an opt-out button from Ana's BSUID alone: opted out %v (%q), want opted out by button", c.optedOutAt, c.optOutSource)
		}
	})

	t.Run("OrdinaryMessageOpensTheWindowOnly", func(t *testing.T) {
		t.Parallel()
		e := newBSUIDEnv(t)
		ana := e.contact(t, "+525512345678", "5215512345678", bsuidAna)
		e.post(t, bsuidOnlyText("wamid.HOLA", "hola, ¿a qué hora abren?", time.Now()))
		c := e.read(t, ana)
		if c.lastInboundAt == nil || c.optedOutAt != nil {
			t.Fatalf("a question from Ana's BSUID alone: last inbound %v, opted out %v; want the window open, not opted out", c.lastInboundAt, c.optedOutAt)
		}
	})
}

func TestWebhookContactLearnsBSUID(t *testing.T) {
	t.Parallel()

	t.Run("FromInboundWithPhoneAndBSUID", func(t *testing.T) {
		t.Parallel()
		e := newBSUIDEnv(t)
		ana := e.contact(t, "+525512345678", "5215512345678", "")
		e.post(t, fmt.Sprintf(`"contacts":[{"profile":{"name":"Ana"},"wa_id":"5215512345678","user_id":%q}],
			"messages":[{"from":"5215512345678","from_user_id":%q,"id":"wamid.IN1","timestamp":"%d","type":"text","text":{"body":"hola"}}]`,
			bsuidAna, bsuidAna, time.Now().Unix()))
		if c := e.read(t, ana); c.bsuid == nil || *c.bsuid != bsuidAna {
			t.Fatalf("after a message with Ana's phone and BSUID her contact's BSUID is %v, want %s", c.bsuid, bsuidAna)
		}
		// From then on a message with only the BSUID is hers.
		e.post(t, bsuidOnlyText("wamid.IN2", "STOP", time.Now()))
		if c := e.read(t, ana); c.optedOutAt == nil {
			t.Fatal("a STOP with only the BSUID she was just given did not opt Ana out")
		}
	})

	t.Run("FromContactsUserIDBesideTheWAID", func(t *testing.T) {
		t.Parallel()
		e := newBSUIDEnv(t)
		ana := e.contact(t, "+525512345678", "5215512345678", "")
		e.post(t, fmt.Sprintf(`"contacts":[{"profile":{"name":"Ana"},"wa_id":"5215512345678","user_id":%q}],
			"messages":[{"from":"5215512345678","id":"wamid.IN1","timestamp":"%d","type":"text","text":{"body":"hola"}}]`,
			bsuidAna, time.Now().Unix()))
		if c := e.read(t, ana); c.bsuid == nil || *c.bsuid != bsuidAna {
			t.Fatalf("contacts[] gave Ana's wa_id and user_id: her BSUID is %v, want %s", c.bsuid, bsuidAna)
		}
	})

	t.Run("FromStatusRecipientUserID", func(t *testing.T) {
		t.Parallel()
		e := newBSUIDEnv(t)
		ana := e.contact(t, "+525512345678", "5215512345678", "")
		bob := e.contact(t, "+525587654321", "5215587654321", "")
		e.sent(t, ana, "+525512345678", "wamid.OUT1")
		e.sent(t, bob, "+525587654321", "wamid.OUT2")
		e.post(t, fmt.Sprintf(`"statuses":[
			{"id":"wamid.OUT1","status":"delivered","timestamp":"%[1]d","recipient_user_id":%[2]q},
			{"id":"wamid.OUT2","status":"delivered","timestamp":"%[1]d","recipient_id":"5215587654321"}]`, time.Now().Unix(), bsuidAna))
		if c := e.read(t, ana); c.bsuid == nil || *c.bsuid != bsuidAna {
			t.Fatalf("a status of a message sent to Ana gave her BSUID: her contact's BSUID is %v, want %s", c.bsuid, bsuidAna)
		}
		if c := e.read(t, bob); c.bsuid != nil {
			t.Errorf("Bob's status named no BSUID, yet his contact has %s", *c.bsuid)
		}
		if n := e.count(t, `SELECT count(*) FROM status_events WHERE wamid IN ('wamid.OUT1', 'wamid.OUT2')`); n != 2 {
			t.Errorf("%d status events stored, want 2", n)
		}
	})

	t.Run("FromStatusContacts", func(t *testing.T) {
		t.Parallel()
		e := newBSUIDEnv(t)
		ana := e.contact(t, "+525512345678", "5215512345678", "")
		e.sent(t, ana, "+525512345678", "wamid.OUT1")
		e.post(t, fmt.Sprintf(`"contacts":[{"profile":{"name":"Ana","username":"ana"},"wa_id":"5215512345678","user_id":%q}],
			"statuses":[{"id":"wamid.OUT1","status":"read","timestamp":"%d","recipient_id":"5215512345678"}]`, bsuidAna, time.Now().Unix()))
		if c := e.read(t, ana); c.bsuid == nil || *c.bsuid != bsuidAna {
			t.Fatalf("a status whose contacts[] gave Ana's user_id: her contact's BSUID is %v, want %s", c.bsuid, bsuidAna)
		}
	})

	t.Run("NewPhoneTakesTheBSUIDOver", func(t *testing.T) {
		t.Parallel()
		e := newBSUIDEnv(t)
		old := e.contact(t, "+525512345678", "5215512345678", bsuidAna)
		e.post(t, fmt.Sprintf(`"contacts":[{"profile":{"name":"Ana"},"wa_id":"5215511112222","user_id":%q}],
			"messages":[{"from":"5215511112222","from_user_id":%q,"id":"wamid.IN1","timestamp":"%d","type":"text","text":{"body":"nuevo número"}}]`,
			bsuidAna, bsuidAna, time.Now().Unix()))
		if c := e.read(t, old); c.bsuid != nil {
			t.Errorf("the old phone's contact still has the BSUID the new phone wrote with")
		}
		if n := e.count(t, `SELECT count(*) FROM contacts WHERE workspace_id = $1 AND bsuid = $2 AND phone_e164 = '+525511112222'`, e.ws.ID, bsuidAna); n != 1 {
			t.Errorf("%d contacts of the new phone have the BSUID, want 1", n)
		}
	})
}

// An opt-out from a BSUID no contact has is not lost: it is kept and applied as soon as a
// contact learns the BSUID. (The audit's repro, TestAuditBSUIDStopWithoutContextIsLost, has
// a contact with a phone and a STOP with only a BSUID: nothing says they are the same person
// until a webhook names both.)
func TestWebhookBSUIDOptOutWaitsForItsContact(t *testing.T) {
	t.Parallel()

	stop := func(t *testing.T, e bsuidEnv, ana int64) time.Time {
		t.Helper()
		at := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
		e.post(t, bsuidOnlyText("wamid.STOP", "BAJA", at))
		if n := e.count(t, `SELECT count(*) FROM messages WHERE wamid = 'wamid.STOP'`); n != 1 {
			t.Fatalf("%d messages stored, want 1", n)
		}
		if c := e.read(t, ana); c.optedOutAt != nil {
			t.Fatal("a contact nothing links to the BSUID was opted out")
		}
		if n := e.count(t, `SELECT count(*) FROM bsuid_optouts WHERE workspace_id = $1 AND bsuid = $2 AND source = 'keyword'`, e.ws.ID, bsuidAna); n != 1 {
			t.Fatalf("%d waiting opt-outs kept for the BSUID, want 1", n)
		}
		return at
	}
	check := func(t *testing.T, e bsuidEnv, ana int64, at time.Time) {
		t.Helper()
		c := e.read(t, ana)
		if c.optedOutAt == nil || !c.optedOutAt.Equal(at) || c.optOutSource != "keyword" {
			t.Fatalf("once Ana's contact learned the BSUID: opted out %v (%q), want %v by keyword (the BAJA's time)", c.optedOutAt, c.optOutSource, at)
		}
		if n := e.count(t, `SELECT count(*) FROM consent_events WHERE contact_id = $1 AND kind = 'opt_out'
			AND evidence->>'message_wamid' = 'wamid.STOP'`, ana); n != 1 {
			t.Errorf("%d opt-out consent events naming the BAJA, want 1", n)
		}
		if n := e.count(t, `SELECT count(*) FROM bsuid_optouts`); n != 0 {
			t.Errorf("%d waiting opt-outs left after it was applied", n)
		}
		// The BAJA itself joins Ana's timeline (and her erasure reaches it).
		if n := e.count(t, `SELECT count(*) FROM messages WHERE wamid = 'wamid.STOP' AND contact_id = $1`, ana); n != 1 {
			t.Errorf("the BAJA sent before the BSUID was known is not in Ana's messages")
		}
	}

	t.Run("AppliedWhenAStatusGivesTheBSUID", func(t *testing.T) {
		t.Parallel()
		e := newBSUIDEnv(t)
		ana := e.contact(t, "+525512345678", "5215512345678", "")
		e.sent(t, ana, "+525512345678", "wamid.OUT1")
		at := stop(t, e, ana)
		e.post(t, fmt.Sprintf(`"statuses":[{"id":"wamid.OUT1","status":"delivered","timestamp":"%d",
			"recipient_id":"5215512345678","recipient_user_id":%q}]`, time.Now().Unix(), bsuidAna))
		check(t, e, ana, at)
	})

	t.Run("AppliedWhenAMessageGivesPhoneAndBSUID", func(t *testing.T) {
		t.Parallel()
		e := newBSUIDEnv(t)
		ana := e.contact(t, "+525512345678", "5215512345678", "")
		at := stop(t, e, ana)
		e.post(t, fmt.Sprintf(`"contacts":[{"profile":{"name":"Ana"},"wa_id":"5215512345678","user_id":%q}],
			"messages":[{"from":"5215512345678","from_user_id":%q,"id":"wamid.IN2","timestamp":"%d","type":"text","text":{"body":"hola"}}]`,
			bsuidAna, bsuidAna, time.Now().Unix()))
		check(t, e, ana, at)
	})

	t.Run("AppliedWhenTheUserAnswersACampaignMessage", func(t *testing.T) {
		t.Parallel()
		e := newBSUIDEnv(t)
		ana := e.contact(t, "+525512345678", "5215512345678", "")
		e.sent(t, ana, "+525512345678", "wamid.OUT1")
		at := stop(t, e, ana)
		e.post(t, fmt.Sprintf(`"contacts":[{"profile":{"name":"Ana"},"user_id":%q}],
			"messages":[{"context":{"from":"573000000000","id":"wamid.OUT1"},"from_user_id":%q,"id":"wamid.IN2","timestamp":"%d",
			"type":"text","text":{"body":"¿y el descuento?"}}]`, bsuidAna, bsuidAna, time.Now().Unix()))
		check(t, e, ana, at)
	})

	t.Run("AppliedByTheSweepWhenTheBSUIDCameMeanwhile", func(t *testing.T) {
		t.Parallel()
		e := newBSUIDEnv(t)
		ana := e.contact(t, "+525512345678", "5215512345678", "")
		at := stop(t, e, ana)
		// Another transaction attached the BSUID while the BAJA was being recorded.
		_, err := e.w.db.Exec(e.ctx, `UPDATE contacts SET bsuid = $2 WHERE id = $1`, ana, bsuidAna)
		must2(t, err)
		applied, err := store.BSUIDOptOutsApplyPending(e.ctx, e.w.db)
		must2(t, err)
		if len(applied) != 1 || applied[0].ContactID != ana {
			t.Fatalf("the sweep applied %+v, want the BAJA on Ana's contact", applied)
		}
		attached, err := store.MessagesAttachByBSUID(e.ctx, e.w.db)
		must2(t, err)
		if attached != 1 {
			t.Errorf("the sweep attached %d messages, want the BAJA", attached)
		}
		check(t, e, ana, at)
	})

	t.Run("ErasureReachesWhatTheUserSentBeforeTheBSUIDWasKnown", func(t *testing.T) {
		t.Parallel()
		e := newBSUIDEnv(t)
		ana := e.contact(t, "+525512345678", "5215512345678", "")
		stop(t, e, ana)
		// The BSUID reached the contact by a way that does not look at messages (by hand).
		_, err := e.w.db.Exec(e.ctx, `UPDATE contacts SET bsuid = $2 WHERE id = $1`, ana, bsuidAna)
		must2(t, err)
		must2(t, store.ContactErase(e.ctx, e.w.db, e.ws.ID, ana))
		if n := e.count(t, `SELECT count(*) FROM messages WHERE wamid = 'wamid.STOP' AND (body <> '' OR raw <> '{}'::jsonb)`); n != 0 {
			t.Errorf("the erased person's BAJA, sent before the BSUID was known, keeps its text")
		}
	})
}

// WhatsApp's own "stop marketing" (user_preferences) from a user known only by a BSUID that no
// contact has yet waits for the contact that learns it, as an opt-out does; a later "resume"
// withdraws it while it waits.
func TestWebhookBSUIDMarketingStopWaitsForItsContact(t *testing.T) {
	preference := func(e bsuidEnv, t *testing.T, value string, at time.Time) {
		e.postField(t, "user_preferences", fmt.Sprintf(`"user_preferences":[{"user_id":%q,"category":"marketing_messages","value":%q,"detail":"User requested","timestamp":"%d"}]`,
			bsuidAna, value, at.Unix()))
	}
	learn := func(e bsuidEnv, t *testing.T, contact int64) {
		e.sent(t, contact, "+525512345678", "wamid.OUT1")
		e.post(t, fmt.Sprintf(`"statuses":[{"id":"wamid.OUT1","status":"delivered","timestamp":"%d","recipient_id":"5215512345678","recipient_user_id":%q}]`,
			time.Now().Unix(), bsuidAna))
		if c := e.read(t, contact); c.bsuid == nil || *c.bsuid != bsuidAna {
			t.Fatalf("setup: the contact did not learn the BSUID (%v)", c.bsuid)
		}
	}
	stopped := func(e bsuidEnv, t *testing.T, contact int64) bool {
		var s bool
		must2(t, e.w.db.QueryRow(e.ctx, `SELECT marketing_stopped FROM contacts WHERE id = $1`, contact).Scan(&s))
		return s
	}
	t.Run("StopAppliedWhenLearned", func(t *testing.T) {
		e := newBSUIDEnv(t)
		ana := e.contact(t, "+525512345678", "5215512345678", "")
		preference(e, t, "stop", time.Now().Add(-time.Minute))
		learn(e, t, ana)
		if !stopped(e, t, ana) {
			t.Fatal("the person stopped marketing by BSUID alone, but their contact is still marketable after learning the BSUID")
		}
		if c := e.read(t, ana); c.optedOutAt != nil {
			t.Error("a marketing stop became an opt-out")
		}
	})
	t.Run("ResumeWithdrawsAWaitingStop", func(t *testing.T) {
		e := newBSUIDEnv(t)
		ana := e.contact(t, "+525512345678", "5215512345678", "")
		preference(e, t, "stop", time.Now().Add(-2*time.Minute))
		preference(e, t, "resume", time.Now().Add(-time.Minute))
		learn(e, t, ana)
		if stopped(e, t, ana) {
			t.Fatal("a stop withdrawn by a later resume was applied")
		}
	})
}
