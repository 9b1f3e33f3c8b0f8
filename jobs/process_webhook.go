package jobs

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/pregon/pregon/internal/metrics"
	"github.com/pregon/pregon/phone"
	"github.com/pregon/pregon/store"
	"github.com/pregon/pregon/whatsapp"
)

// ProcessWebhookArgs processes stored webhook bodies (webhook_inbox rows). The endpoint inserts
// it in the transaction that stores them, one job for the bodies one commit stored together,
// and the rows name it (job_id). InboxIDs lists bodies explicitly instead: those the sweeper
// or a failed batch enqueues again.
type ProcessWebhookArgs struct {
	InboxIDs []int64 `json:"inbox_ids,omitempty"`
}

func (ProcessWebhookArgs) Kind() string { return "process_webhook" }

func (ProcessWebhookArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueWebhooks, MaxAttempts: 25}
}

// MaxHistoryMessages bounds the synced chat history kept per sender number.
const MaxHistoryMessages = 20000

// ProcessWebhookWorker turns a stored webhook body into status events, recipient states,
// timeline messages, opt-outs, contacts' number and BSUID changes, template and number changes,
// and automatic pauses. It is idempotent (the inbox row's status, UNIQUE keys on status events
// and messages) and order-independent (recipient states only move forward).
type ProcessWebhookWorker struct {
	river.WorkerDefaults[ProcessWebhookArgs]
	db  *pgxpool.Pool
	log *slog.Logger
	now func() time.Time
}

// NewProcessWebhookWorker builds the worker.
func NewProcessWebhookWorker(d Deps) *ProcessWebhookWorker {
	w := &ProcessWebhookWorker{db: d.DB, log: d.Logger, now: d.Now}
	if w.log == nil {
		w.log = slog.Default()
	}
	if w.now == nil {
		w.now = time.Now
	}
	return w
}

func (w *ProcessWebhookWorker) Timeout(*river.Job[ProcessWebhookArgs]) time.Duration {
	return 2 * time.Minute
}

// WebhookBatchSize is how many stored bodies one job processes together: its own and, up to
// this many, others still pending (their jobs then find nothing left to do). Statuses of the
// whole batch are written with one INSERT and one apply statement.
const WebhookBatchSize = 100

func (w *ProcessWebhookWorker) Work(ctx context.Context, job *river.Job[ProcessWebhookArgs]) error {
	own := job.Args.InboxIDs
	var claimed []store.WebhookInboxRow
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		claimed, err = w.processBatch(ctx, job.ID, own, max(WebhookBatchSize, len(own)))
		if err == nil || !retryable(err) {
			break
		}
	}
	if err == nil {
		return nil
	}
	// One bad body must not block the others: process the job's own bodies one by one, so a
	// failure stays with the body that causes it, and give the others claimed with them their
	// jobs back (theirs may have finished, finding the bodies claimed by this batch).
	w.log.WarnContext(ctx, "processing a batch of webhooks failed; processing the job's own bodies one by one",
		"inbox_ids", own, "bodies", len(claimed), "error", err)
	// The job's own bodies: those listed in its args and those stored with it.
	var others []int64
	for _, r := range claimed {
		if r.JobID != nil && *r.JobID == job.ID && !containsInt(own, r.ID) {
			own = append(own, r.ID)
		}
	}
	for _, r := range claimed {
		if !containsInt(own, r.ID) {
			others = append(others, r.ID)
		}
	}
	if len(others) > 0 {
		if _, ierr := river.ClientFromContext[pgx.Tx](ctx).Insert(ctx, ProcessWebhookArgs{InboxIDs: others}, nil); ierr != nil {
			w.log.ErrorContext(ctx, "re-enqueuing webhooks of a failed batch (the sweeper will)", "error", ierr)
		}
	}
	var errs []error
	last := job.Attempt >= job.MaxAttempts
	for _, id := range own {
		_, err := w.processBatch(ctx, 0, []int64{id}, 1)
		if err == nil {
			continue
		}
		if permanent(err) || last {
			// It would fail the same way at every attempt (or this was the last one): keep the
			// body for inspection, out of the pending ones every batch claims.
			w.log.ErrorContext(ctx, "a webhook body cannot be processed: marked unparseable", "inbox_id", id, "error", err)
			if ferr := store.WebhookInboxFail(ctx, w.db, id, "no se pudo procesar: "+truncate(err.Error(), 500)); ferr != nil {
				errs = append(errs, ferr)
			}
			continue
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// retryable reports whether err is a deadlock or serialization failure worth retrying at once.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001")
}

// processBatch claims the pending inbox rows of job jobID (stored with it, or listed in own;
// skipping those another job holds: that job processes them) and other pending rows up to
// limit, and processes them in one transaction, which also deletes the jobs of the other rows
// (they would find nothing to do). It returns the rows it claimed.
func (w *ProcessWebhookWorker) processBatch(ctx context.Context, jobID int64, own []int64, limit int) ([]store.WebhookInboxRow, error) {
	var (
		unapplied []string
		failed    []string            // wamids of failed statuses: the circuit breaker looks at their campaigns
		trouble   []store.StatusEvent // failures whose code says the number or the campaign is in trouble
		claimed   []store.WebhookInboxRow
	)
	err := pgx.BeginFunc(ctx, w.db, func(tx pgx.Tx) error {
		claimed, failed, trouble = claimed[:0], failed[:0], trouble[:0]
		rows, err := store.WebhookInboxClaim(ctx, tx, jobID, own, limit)
		if err != nil || len(rows) == 0 {
			return err
		}
		claimed = rows
		type parsed struct {
			row store.WebhookInboxRow
			env whatsapp.Envelope
		}
		var bodies []parsed
		var marks []store.InboxMark
		var pnids, wabas []string
		for _, row := range rows {
			var env whatsapp.Envelope
			if err := unmarshalEnvelope(row.Body, &env); err != nil {
				w.log.WarnContext(ctx, "webhook body is not valid JSON", "inbox_id", row.ID, "error", err)
				marks = append(marks, store.InboxMark{ID: row.ID, Status: store.InboxUnparseable, Error: err.Error()})
				continue
			}
			for _, en := range env.Entry {
				wabas = append(wabas, en.ID.String())
				for _, ch := range en.Changes {
					if pn := changePNID(ch); pn != "" {
						pnids = append(pnids, pn)
					}
				}
			}
			bodies = append(bodies, parsed{row, env})
		}
		routes, err := store.WebhookRoutesFind(ctx, tx, pnids, wabas)
		if err != nil {
			return err
		}
		byPNID, byWABA := map[string]store.WebhookRoute{}, map[string][]store.WebhookRoute{}
		for _, r := range routes {
			byPNID[r.PhoneNumberID] = r
			byWABA[r.WABAID] = append(byWABA[r.WABAID], r)
		}
		settings := map[int64]store.WorkspaceSettings{}
		var statuses []store.StatusEvent
		var pace []int64
		var confirms []OptOutConfirmArgs
		var bsuids []store.BSUIDSighting
		for _, b := range bodies {
			p := &webhookRun{w: w, tx: tx, inboxID: b.row.ID, byPNID: byPNID, byWABA: byWABA, settings: settings,
				scopeWS: b.row.WorkspaceID, scopeNumber: b.row.SenderNumberID}
			ss, err := p.process(ctx, &b.env)
			if err != nil {
				return fmt.Errorf("webhook %d: %w", b.row.ID, err)
			}
			statuses = append(statuses, ss...)
			confirms = append(confirms, p.confirms...)
			bsuids = append(bsuids, p.bsuids...)
			for _, n := range p.paceNumbers {
				if !containsInt(pace, n) {
					pace = append(pace, n)
				}
			}
			status := store.InboxProcessed
			if p.routed == 0 {
				status = store.InboxUnroutable
			}
			marks = append(marks, store.InboxMark{ID: b.row.ID, Status: status, Error: strings.Join(p.notes, "; ")})
		}
		if err := store.WebhookInboxMarkAll(ctx, tx, marks); err != nil {
			return err
		}
		if len(bsuids) > 0 {
			applied, err := store.ContactsLearnBSUIDs(ctx, tx, bsuids)
			if err != nil {
				return err
			}
			w.logBSUIDOptOuts(ctx, applied)
		}
		if err := deleteDoneJobs(ctx, tx, rows, jobID); err != nil {
			return err
		}
		for _, c := range confirms {
			if _, err := river.ClientFromContext[pgx.Tx](ctx).InsertTx(ctx, tx, c, nil); err != nil {
				return fmt.Errorf("enqueuing an opt-out confirmation: %w", err)
			}
		}
		if len(pace) > 0 {
			client := river.ClientFromContext[pgx.Tx](ctx)
			for _, n := range pace {
				if _, err := client.InsertTx(ctx, tx, PaceArgs{SenderNumberID: n}, nil); err != nil {
					return fmt.Errorf("enqueuing the pacer of number %d after a resume: %w", n, err)
				}
			}
		}
		// Statuses last: applying them updates the campaigns' counter rows (a trigger on
		// recipients), which the send path and other batches update too; the commit follows.
		if len(statuses) > 0 {
			metrics.WebhookEvents.WithLabelValues("status").Add(float64(len(statuses)))
			res, err := store.StatusEventsIngest(ctx, tx, statuses)
			if err != nil {
				return err
			}
			unapplied = res.Unapplied
			for _, st := range statuses {
				if st.Status == "failed" {
					failed = append(failed, st.WAMID)
					if st.ErrorCode != nil {
						if c := whatsapp.ClassOfCode(*st.ErrorCode); c == whatsapp.ClassNumber || c == whatsapp.ClassCampaign {
							trouble = append(trouble, st)
						}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return claimed, fmt.Errorf("processing webhooks %v: %w", own, err)
	}
	// Second pass, after our commit: a send that committed its wamid while we were running did
	// not see our events and we did not see its wamid (see store.StatusEventsApplyForWAMID).
	if len(unapplied) > 0 {
		if _, err := store.StatusEventsApply(ctx, w.db, unapplied); err != nil {
			return nil, fmt.Errorf("applying statuses of webhooks %v after commit: %w", own, err)
		}
	}
	if len(failed) > 0 {
		sends, err := store.RunningSendsOf(ctx, w.db, failed)
		if err != nil {
			return nil, err
		}
		// A failure whose code says the number (368 blocked, 131031 locked, 131048 spam
		// limit…) or the template (132015 paused…) is in trouble stops sending as the same error
		// in a send's response does: Meta reports many of them only by webhook.
		halted, paused, err := w.stopForTrouble(ctx, trouble, sends)
		if err != nil {
			return nil, err
		}
		// Failures Meta reports by webhook (undeliverable, blocked…) count for the circuit
		// breaker like those a send gets at once: a campaign most of whose messages fail
		// pauses. Campaigns just stopped above are not running any more.
		var running []store.RunningSend
		for _, s := range sends {
			if !halted[s.SenderNumberID] && !paused[s.CampaignID] && !slices.Contains(running, s) {
				running = append(running, s)
			}
		}
		slices.SortFunc(running, func(a, b store.RunningSend) int {
			return cmp.Or(cmp.Compare(a.WorkspaceID, b.WorkspaceID), cmp.Compare(a.CampaignID, b.CampaignID))
		})
		for _, s := range running {
			if err := campaignBreaker(ctx, w.db, s.WorkspaceID, s.CampaignID); err != nil {
				return nil, err
			}
		}
	}
	return claimed, nil
}

// troubleMaxAge is how old a failure reported by webhook may be and still stop sending: Meta
// reports them within minutes; a much older one says little about the number today.
const troubleMaxAge = 6 * time.Hour

// stopForTrouble halts the campaigns of the number (ClassNumber codes) or pauses the campaign
// (ClassCampaign codes) of failed sends reported by webhook (sends: the running ones, by
// wamid), once per number and campaign, and returns the numbers halted and campaigns paused.
func (w *ProcessWebhookWorker) stopForTrouble(ctx context.Context, trouble []store.StatusEvent, sends map[string]store.RunningSend) (halted, paused map[int64]bool, err error) {
	halted, paused = map[int64]bool{}, map[int64]bool{}
	for _, st := range trouble {
		s, ok := sends[st.WAMID]
		if !ok || w.now().Sub(st.OccurredAt) > troubleMaxAge || halted[s.SenderNumberID] {
			continue
		}
		// A failure from before the campaign last went to running (a late or repeated webhook
		// of the drops that paused it, delivered after the template's approval resumed it) was
		// dealt with then: it must not stop the campaign again, where no approval would come to
		// resume it. Meta's times are whole seconds: one in the resume's second counts as new.
		if st.OccurredAt.Before(s.RunningSince.Truncate(time.Second)) {
			continue
		}
		code := *st.ErrorCode
		class := whatsapp.ClassOfCode(code)
		p := store.TransitionParams{Actor: store.ActorRule, Signal: store.SignalErrorCode, Value: strconv.Itoa(code)}
		switch class {
		case whatsapp.ClassNumber:
			halted[s.SenderNumberID] = true
			p.Reason = fmt.Sprintf("Meta informó el error %d (%s) en un envío: se detienen las campañas del número", code, whatsapp.ErrorTitle(code, "es"))
		case whatsapp.ClassCampaign:
			if paused[s.CampaignID] {
				continue
			}
			paused[s.CampaignID] = true
			p.Reason = fmt.Sprintf("Meta informó el error %d (%s) en un envío: se pausa la campaña", code, whatsapp.ErrorTitle(code, "es"))
		}
		if err := stopForErrorClass(ctx, w.db, class, s.WorkspaceID, s.CampaignID, s.SenderNumberID, p); err != nil {
			return nil, nil, err
		}
	}
	return halted, paused, nil
}

// deleteDoneJobs deletes the jobs of claimed rows (other than the running job) that have
// nothing left to do once this transaction commits (see store.WebhookInboxDoneJobs: jobs River
// started or an endpoint commit is adding bodies to are kept; they run and find their rows
// processed). If the transaction rolls back, so does the deletion, and every pending row keeps
// its job.
func deleteDoneJobs(ctx context.Context, tx pgx.Tx, claimed []store.WebhookInboxRow, running int64) error {
	done, err := store.WebhookInboxDoneJobs(ctx, tx, claimed, running)
	if err != nil || len(done) == 0 {
		return err
	}
	params := river.NewJobDeleteManyParams().IDs(done...).Kinds(ProcessWebhookArgs{}.Kind()).First(len(done))
	if _, err := river.ClientFromContext[pgx.Tx](ctx).JobDeleteManyTx(ctx, tx, params); err != nil {
		return fmt.Errorf("deleting %d webhook jobs whose bodies were processed: %w", len(done), err)
	}
	return nil
}

// webhookRun is the state of one body's processing.
type webhookRun struct {
	w           *ProcessWebhookWorker
	tx          pgx.Tx
	inboxID     int64
	byPNID      map[string]store.WebhookRoute
	byWABA      map[string][]store.WebhookRoute
	settings    map[int64]store.WorkspaceSettings
	notes       []string
	routed      int
	paceNumbers []int64
	confirms    []OptOutConfirmArgs
	historyLeft map[int64]int64
	// bsuids are the BSUIDs statuses report for sent messages: the batch attaches them to the
	// messages' contacts in one statement (store.ContactsLearnBSUIDs).
	bsuids []store.BSUIDSighting
	// scopeWS and scopeNumber are the workspace (and the number, when only one did) whose app
	// secret verified the body at the endpoint: the body acts on nothing else. A body stored
	// without a workspace (before scoping existed) acts only on the numbers its changes name by
	// phone_number_id (each verified at the endpoint), never on a WABA as a whole.
	scopeWS     *int64
	scopeNumber *int64
}

// inScope reports whether the body may act on number r.
func (p *webhookRun) inScope(r store.WebhookRoute) bool {
	if p.scopeWS != nil && r.WorkspaceID != *p.scopeWS {
		return false
	}
	return p.scopeNumber == nil || r.NumberID == *p.scopeNumber
}

func (p *webhookRun) note(format string, args ...any) {
	if len(p.notes) < 20 {
		p.notes = append(p.notes, fmt.Sprintf(format, args...))
	}
}

// process handles one body's changes and returns its delivery statuses (the batch stores them).
func (p *webhookRun) process(ctx context.Context, env *whatsapp.Envelope) ([]store.StatusEvent, error) {
	var statuses []store.StatusEvent
	for _, en := range env.Entry {
		waba := en.ID.String()
		entryTime := p.sane(en.EntryTime(), "entry time")
		for _, ch := range en.Changes {
			if ch.Err != nil {
				p.note("%s: %v", ch.Field, ch.Err)
			}
			metrics.WebhookEvents.WithLabelValues(ch.Field).Inc()
			var err error
			switch {
			case ch.Messages != nil:
				var ss []store.StatusEvent
				ss, err = p.messages(ctx, ch.Messages, entryTime)
				statuses = append(statuses, ss...)
			case ch.UserPreferences != nil:
				err = p.userPreferences(ctx, ch.UserPreferences)
			case ch.MessageEchoes != nil:
				err = p.echoes(ctx, ch.MessageEchoes)
			case ch.StateSync != nil:
				err = p.stateSync(ctx, ch.StateSync)
			case ch.History != nil:
				err = p.history(ctx, ch.History)
			case ch.TemplateStatus != nil:
				err = p.templateStatus(ctx, waba, entryTime, ch.TemplateStatus)
			case ch.TemplateQuality != nil:
				err = p.templateQuality(ctx, waba, entryTime, ch.TemplateQuality)
			case ch.TemplateCategory != nil:
				err = p.templateCategory(ctx, waba, entryTime, ch.TemplateCategory)
			case ch.PhoneNumberQuality != nil:
				err = p.phoneNumberQuality(ctx, waba, cmpTime(entryTime, p.w.now().UTC()), ch.PhoneNumberQuality, ch.Raw)
			case ch.BusinessCapability != nil:
				err = p.businessCapability(ctx, waba, cmpTime(entryTime, p.w.now().UTC()), ch.BusinessCapability, ch.Raw)
			case ch.AccountUpdate != nil:
				err = p.accountUpdate(ctx, waba, cmpTime(entryTime, p.w.now().UTC()), ch.AccountUpdate, ch.Raw)
			default:
				p.note("field %q kept, not processed", ch.Field)
			}
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", ch.Field, err)
			}
		}
	}
	return statuses, nil
}

// changePNID is the phone_number_id a change names in its metadata ("" when none).
func changePNID(ch whatsapp.Change) string {
	switch {
	case ch.Messages != nil:
		return ch.Messages.Metadata.PhoneNumberID.String()
	case ch.UserPreferences != nil:
		return ch.UserPreferences.Metadata.PhoneNumberID.String()
	case ch.MessageEchoes != nil:
		return ch.MessageEchoes.Metadata.PhoneNumberID.String()
	case ch.StateSync != nil:
		return ch.StateSync.Metadata.PhoneNumberID.String()
	case ch.History != nil:
		return ch.History.Metadata.PhoneNumberID.String()
	}
	return ""
}

func (p *webhookRun) number(pnid string) (store.WebhookRoute, bool) {
	r, ok := p.byPNID[pnid]
	if !ok {
		p.note("unknown phone_number_id %s", pnid)
		return r, false
	}
	if !p.inScope(r) {
		p.note("phone_number_id %s is not a number whose secret signed the body: skipped", pnid)
		return r, false
	}
	p.routed++
	return r, true
}

func (p *webhookRun) workspaceSettings(ctx context.Context, workspaceID int64) (store.WorkspaceSettings, error) {
	if s, ok := p.settings[workspaceID]; ok {
		return s, nil
	}
	ws, err := store.WorkspaceGetByID(ctx, p.tx, workspaceID)
	if err != nil {
		return store.WorkspaceSettings{}, fmt.Errorf("reading settings of workspace %d: %w", workspaceID, err)
	}
	s := ws.Settings.Effective()
	p.settings[workspaceID] = s
	return s, nil
}

// messages handles field "messages": delivery statuses (returned, stored in one batch by the
// caller) and inbound user messages.
func (p *webhookRun) messages(ctx context.Context, v *whatsapp.MessagesValue, entryTime time.Time) ([]store.StatusEvent, error) {
	num, ok := p.number(v.Metadata.PhoneNumberID.String())
	if !ok {
		return nil, nil
	}
	for _, e := range v.Errors {
		p.note("system error %d: %s", e.Code, cmpOr(e.Message, e.Title))
	}
	var out []store.StatusEvent
	ws := num.WorkspaceID
	inbox := p.inboxID
	// Since usernames (2026) contacts[] carry the user's BSUID (user_id) beside their wa_id, and
	// statuses recipient_user_id.
	names, bsuidOf := map[string]string{}, map[string]string{}
	for _, c := range v.Contacts {
		wa := c.WAID.String()
		names[wa] = c.Profile.Name
		if c.UserID != "" {
			names[c.UserID] = c.Profile.Name
			if wa != "" {
				bsuidOf[wa] = c.UserID
			}
		}
	}
	for _, s := range v.Statuses {
		if s.ID == "" || s.Status == "" {
			p.note("status without id or status skipped")
			continue
		}
		at := p.sane(s.Timestamp.Time(), "status timestamp")
		if at.IsZero() {
			at = cmpTime(entryTime, p.w.now().UTC())
		}
		raw, _ := json.Marshal(s)
		ev := store.StatusEvent{
			WorkspaceID: &ws, WAMID: s.ID, Status: strings.ToLower(s.Status), OccurredAt: at,
			RecipientWAID: s.RecipientID, CallbackData: s.BizOpaqueCallbackData, InboxID: &inbox, Raw: raw,
		}
		if len(s.Errors) > 0 {
			if code := s.Errors[0].Code; code >= math.MinInt32 && code <= math.MaxInt32 {
				ev.ErrorCode = &code
			} else {
				p.note("status %s: error code %d out of range, not stored", s.ID, code)
			}
			ev.ErrorTitle = cmpOr(s.Errors[0].Title, s.Errors[0].Message)
			ev.ErrorDetails = s.Errors[0].ErrorData.Details
		}
		if s.Pricing != nil {
			ev.PricingCategory, ev.PricingType, ev.Billable = s.Pricing.Category, s.Pricing.Type, s.Pricing.Billable
		}
		out = append(out, ev)
		if b := cmpOr(s.RecipientUserID, bsuidOf[s.RecipientID]); b != "" && (len(p.bsuids) == 0 || p.bsuids[len(p.bsuids)-1].WAMID != s.ID) {
			p.bsuids = append(p.bsuids, store.BSUIDSighting{WorkspaceID: ws, WAMID: s.ID, BSUID: b})
		}
	}
	for _, m := range v.Messages {
		metrics.WebhookEvents.WithLabelValues("inbound").Inc()
		bsuid := cmpOr(m.FromUserID, bsuidOf[m.From])
		if err := p.inbound(ctx, num, m, bsuid, names[cmpOr(m.From, bsuid)]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// contactFor finds or creates (without consent) the contact of a wa_id, attaching the user's
// BSUID when given too; with only a BSUID (a username user: no phone in the webhook) it finds
// the contact that has it, nil when none does.
func (p *webhookRun) contactFor(ctx context.Context, workspaceID int64, waID, bsuid, name string) (*int64, error) {
	c := waContact(waID, bsuid, name)
	if c.WAID == "" && c.BSUID == "" {
		return nil, nil
	}
	res, err := store.WAContactEnsure(ctx, p.tx, workspaceID, c)
	if err != nil {
		return nil, err
	}
	p.w.logBSUIDOptOuts(ctx, res.OptOuts)
	if res.ID == 0 {
		return nil, nil
	}
	return &res.ID, nil
}

// waContact says who a WhatsApp user is from a webhook's wa_id (and BSUID): the E.164 forms a
// stored contact may have the number in and, when the normalisation accepts it, the E.164 form
// and country to store.
func waContact(waID, bsuid, name string) store.WAContact {
	waID, bsuid = strings.TrimPrefix(strings.TrimSpace(waID), "+"), strings.TrimSpace(bsuid)
	c := store.WAContact{WAID: waID, Name: name, BSUID: bsuid}
	if waID != "" {
		c.Candidates = phone.WAIDToE164Candidates(waID)
		if r, err := phone.Normalize("+"+waID, ""); err == nil {
			c.E164, c.Country = r.E164, r.Region
			if !contains(c.Candidates, r.E164) {
				c.Candidates = append(c.Candidates, r.E164)
			}
		}
	}
	return c
}

// logBSUIDOptOuts logs opt-outs that waited for their BSUID and were applied to the contact
// that learned it.
func (w *ProcessWebhookWorker) logBSUIDOptOuts(ctx context.Context, applied []store.BSUIDOptOut) {
	for _, o := range applied {
		w.log.InfoContext(ctx, "an opt-out that waited for its BSUID was applied to the contact that learned it",
			slog.Int64("workspace_id", o.WorkspaceID), slog.Int64("contact_id", o.ContactID),
			slog.String("source", o.Source), slog.Time("opted_out_at", o.At))
	}
}

// messageText is what a message says (body) and the machine payload of a tap.
func messageText(m whatsapp.Message) (body, payload string) {
	switch {
	case m.Text != nil:
		return m.Text.Body, ""
	case m.Button != nil:
		return m.Button.Text, m.Button.Payload
	case m.Interactive != nil && m.Interactive.ButtonReply != nil:
		return m.Interactive.ButtonReply.Title, m.Interactive.ButtonReply.ID
	case m.Interactive != nil && m.Interactive.ListReply != nil:
		return m.Interactive.ListReply.Title, m.Interactive.ListReply.ID
	case m.Reaction != nil:
		return m.Reaction.Emoji, m.Reaction.MessageID
	case m.Location != nil:
		return strings.TrimSpace(m.Location.Name + " " + m.Location.Address), ""
	case m.System != nil:
		return m.System.Body, ""
	}
	return m.ReplyText(), ""
}

// inbound handles a user's message: the timeline, reply attribution, the 24 h service window
// and opt-outs. A user known only by a BSUID (from_user_id without from) is the contact that
// has it or, answering a campaign message, that message's recipient's contact (which learns
// the BSUID); an opt-out from such a user whom no contact matches waits for the BSUID
// (store.BSUIDOptOutRecord) instead of being lost. A system message that says the user changed
// number or BSUID moves their contact to the new identity (identityChange).
func (p *webhookRun) inbound(ctx context.Context, num store.WebhookRoute, m whatsapp.Message, bsuid, name string) error {
	if m.System != nil && (m.System.Type == whatsapp.SystemUserChangedNumber || m.System.Type == whatsapp.SystemUserChangedUserID) {
		return p.identityChange(ctx, num, m)
	}
	ws := num.WorkspaceID
	contactID, err := p.contactFor(ctx, ws, m.From, bsuid, name)
	if err != nil {
		return err
	}
	at := p.sane(m.Timestamp.Time(), "message timestamp")
	if at.IsZero() {
		at = p.w.now().UTC()
	}
	var recipientID, campaignID *int64
	ctxWAMID := ""
	if m.Context != nil && m.Context.ID != "" {
		ctxWAMID = m.Context.ID
		if recipientID, campaignID, err = store.RecipientReplied(ctx, p.tx, ws, ctxWAMID, at); err != nil {
			return err
		}
		// A user known only by a username (BSUID, no phone number in from) who answers a
		// campaign message is that recipient's contact, which so learns the BSUID.
		if contactID == nil && recipientID != nil {
			if contactID, err = store.RecipientContactID(ctx, p.tx, ws, *recipientID); err != nil {
				return err
			}
			if contactID != nil && bsuid != "" {
				applied, err := store.ContactsAttachBSUIDs(ctx, p.tx, []store.BSUIDAttach{{WorkspaceID: ws, ContactID: *contactID, BSUID: bsuid}})
				if err != nil {
					return err
				}
				p.w.logBSUIDOptOuts(ctx, applied)
			}
		}
	}
	body, payload := messageText(m)
	raw, _ := json.Marshal(m)
	numberID := num.NumberID
	_, inserted, err := store.MessageInsert(ctx, p.tx, store.Message{
		WorkspaceID: ws, SenderNumberID: &numberID, ContactID: contactID, Direction: store.DirectionInbound,
		WAMID: m.ID, Type: m.Type, Body: body, Payload: payload, ContextWAMID: ctxWAMID, CampaignID: campaignID,
		OccurredAt: at, Raw: raw,
	})
	if err != nil || !inserted || (contactID == nil && bsuid == "") {
		return err // a repeated message has had its effects already
	}
	if contactID != nil {
		if err := store.WAContactTouchInbound(ctx, p.tx, ws, *contactID, at); err != nil {
			return err
		}
	}
	settings, err := p.workspaceSettings(ctx, ws)
	if err != nil {
		return err
	}
	source := ""
	switch {
	case m.Button != nil || (m.Interactive != nil && m.Interactive.Type != ""):
		if store.IsOptOutPayload(payload, settings.OptOutKeywords) || store.IsOptOutText(body, settings.OptOutKeywords) {
			source = "button"
		}
	case m.Text != nil:
		if store.IsOptOutText(body, settings.OptOutKeywords) {
			source = "keyword"
		}
	}
	if source == "" {
		return nil
	}
	metrics.WebhookEvents.WithLabelValues("opt_out").Inc()
	reason := truncate(cmpOr(body, payload), 200)
	evidence := map[string]any{"message_wamid": m.ID, "inbox_id": p.inboxID, "campaign_id": campaignID, "context_wamid": ctxWAMID}
	if contactID == nil {
		// No contact has this BSUID yet: the opt-out waits for the contact that learns it (from
		// a message with both phone and BSUID, or a status of a message sent to them).
		recorded, err := store.BSUIDOptOutRecord(ctx, p.tx, store.BSUIDOptOut{WorkspaceID: ws, BSUID: bsuid, At: at,
			Source: source, Reason: reason, Evidence: evidence})
		if err != nil {
			return err
		}
		p.note("opt-out (%s) from a user known only by a BSUID that no contact has: kept until a contact learns it", source)
		p.w.log.WarnContext(ctx, "opt-out from a user known only by a BSUID that no contact has: kept, applied when a contact learns the BSUID",
			slog.Int64("workspace_id", ws), slog.Int64("inbox_id", p.inboxID), slog.String("message_wamid", m.ID),
			slog.String("source", source), slog.Bool("first", recorded))
		return nil
	}
	newly, err := store.WAContactOptOut(ctx, p.tx, ws, *contactID, recipientID, at, source, reason, evidence)
	if err != nil {
		return err
	}
	if newly && settings.OptOutConfirmation != "" && p.w.now().Sub(at) < 23*time.Hour {
		waID := strings.TrimPrefix(m.From, "+")
		if waID == "" {
			// A username user (BSUID only): the confirmation goes to the phone their contact has.
			if waID, err = store.ContactWAID(ctx, p.tx, ws, *contactID); err != nil {
				return err
			}
		}
		if waID != "" {
			p.confirms = append(p.confirms, OptOutConfirmArgs{WorkspaceID: ws, SenderNumberID: num.NumberID, ContactID: *contactID,
				WAID: waID, InboundWAMID: m.ID, InboundAt: at})
		}
	}
	return nil
}

func (p *webhookRun) userPreferences(ctx context.Context, v *whatsapp.UserPreferencesValue) error {
	num, ok := p.number(v.Metadata.PhoneNumberID.String())
	if !ok {
		return nil
	}
	for _, up := range v.UserPreferences {
		if up.Category != "" && up.Category != "marketing_messages" {
			p.note("user preference category %q ignored", up.Category)
			continue
		}
		val := strings.ToLower(up.Value)
		if val != "stop" && val != "resume" {
			p.note("user preference %q ignored", up.Value)
			continue
		}
		contactID, err := p.contactFor(ctx, num.WorkspaceID, up.WAID.String(), up.UserID, "")
		if err != nil {
			return err
		}
		at := p.sane(up.Timestamp.Time(), "preference timestamp")
		if at.IsZero() {
			at = p.w.now().UTC()
		}
		if contactID == nil && up.UserID != "" && up.WAID.String() == "" {
			// Known only by a BSUID no contact has yet: a stop waits for the contact that learns
			// it, as an opt-out does; a resume withdraws a stop still waiting.
			if err := store.BSUIDMarketingPreferenceRecord(ctx, p.tx, num.WorkspaceID, up.UserID, val == "stop", at, up.Detail); err != nil {
				return err
			}
			p.note("user preference %q of a user known only by a BSUID that no contact has: kept until a contact learns it", up.Value)
			continue
		}
		if contactID == nil {
			p.note("user preference %q of a user no contact is known by: not applied", up.Value)
			continue
		}
		if _, err := store.WAContactMarketingPreference(ctx, p.tx, num.WorkspaceID, *contactID, val == "stop", at, up.Detail); err != nil {
			return err
		}
	}
	return nil
}

// echoes handles smb_message_echoes: what the owner sent from the phone app goes to the
// timeline and proves the app is alive.
func (p *webhookRun) echoes(ctx context.Context, v *whatsapp.MessageEchoesValue) error {
	num, ok := p.number(v.Metadata.PhoneNumberID.String())
	if !ok {
		return nil
	}
	var latest time.Time
	for _, m := range v.MessageEchoes {
		contactID, err := p.contactFor(ctx, num.WorkspaceID, m.To, "", "")
		if err != nil {
			return err
		}
		at := p.sane(m.Timestamp.Time(), "echo timestamp")
		if at.IsZero() {
			at = p.w.now().UTC()
		}
		if at.After(latest) {
			latest = at
		}
		body, payload := messageText(m)
		raw, _ := json.Marshal(m)
		numberID := num.NumberID
		if _, _, err := store.MessageInsert(ctx, p.tx, store.Message{
			WorkspaceID: num.WorkspaceID, SenderNumberID: &numberID, ContactID: contactID, Direction: store.DirectionEcho,
			WAMID: m.ID, Type: m.Type, Body: body, Payload: payload, OccurredAt: at, Raw: raw,
		}); err != nil {
			return err
		}
	}
	if latest.IsZero() {
		return nil
	}
	return store.SenderNumberTouchPhoneActivity(ctx, p.tx, num.WorkspaceID, num.NumberID, latest)
}

// stateSync handles smb_app_state_sync: contacts saved in the phone become contacts WITHOUT
// consent.
func (p *webhookRun) stateSync(ctx context.Context, v *whatsapp.StateSyncValue) error {
	num, ok := p.number(v.Metadata.PhoneNumberID.String())
	if !ok {
		return nil
	}
	for _, it := range v.StateSync {
		if it.Type != "" && it.Type != "contact" {
			continue
		}
		if strings.EqualFold(it.Action, "remove") {
			p.note("contact %s removed from the phone's address book (kept)", store.RedactPhone(it.Contact.PhoneNumber.String()))
			continue
		}
		name := cmpOr(it.Contact.FullName, it.Contact.FirstName)
		if _, err := p.contactFor(ctx, num.WorkspaceID, it.Contact.PhoneNumber.String(), "", name); err != nil {
			return err
		}
	}
	return nil
}

// history handles the history shared at coexistence onboarding, bounded per number.
func (p *webhookRun) history(ctx context.Context, v *whatsapp.HistoryValue) error {
	num, ok := p.number(v.Metadata.PhoneNumberID.String())
	if !ok {
		return nil
	}
	if p.historyLeft == nil {
		p.historyLeft = map[int64]int64{}
	}
	if _, seen := p.historyLeft[num.NumberID]; !seen {
		n, err := store.MessageCountForNumber(ctx, p.tx, num.WorkspaceID, num.NumberID, store.DirectionHistory)
		if err != nil {
			return err
		}
		p.historyLeft[num.NumberID] = MaxHistoryMessages - n
	}
	for _, chunk := range v.History {
		for _, e := range chunk.Errors {
			if err := store.NumberEventInsert(ctx, p.tx, num.WorkspaceID, num.NumberID, "history", "", strconv.Itoa(e.Code),
				map[string]any{"title": e.Title, "details": e.ErrorData.Details}); err != nil {
				return err
			}
		}
		for _, th := range chunk.Threads {
			contactID, err := p.contactFor(ctx, num.WorkspaceID, th.ID, "", "")
			if err != nil {
				return err
			}
			for _, m := range th.Messages {
				if p.historyLeft[num.NumberID] <= 0 {
					p.note("history beyond %d messages dropped", MaxHistoryMessages)
					return nil
				}
				body, payload := messageText(m)
				raw, _ := json.Marshal(m)
				numberID := num.NumberID
				_, inserted, err := store.MessageInsert(ctx, p.tx, store.Message{
					WorkspaceID: num.WorkspaceID, SenderNumberID: &numberID, ContactID: contactID, Direction: store.DirectionHistory,
					WAMID: m.ID, Type: m.Type, Body: body, Payload: payload, OccurredAt: cmpTime(p.sane(m.Timestamp.Time(), "history timestamp"), p.w.now().UTC()), Raw: raw,
				})
				if err != nil {
					return err
				}
				if inserted {
					p.historyLeft[num.NumberID]--
				}
			}
		}
	}
	return nil
}

// Template statuses that stop a campaign, and those that let it go on.
var (
	templateStopStatuses   = store.TemplateStopStatuses
	templateResumeStatuses = map[string]bool{"APPROVED": true}
)

func (p *webhookRun) templates(ctx context.Context, waba string, id whatsapp.FlexString, name, lang string) ([]store.WebhookTemplate, error) {
	var wss []int64
	for _, n := range p.wabaNumbers(waba) {
		if !containsInt(wss, n.WorkspaceID) {
			wss = append(wss, n.WorkspaceID)
		}
	}
	if len(wss) == 0 {
		p.note("template %s (%s %s): no number of WABA %s signed the body", id, name, lang, waba)
		return nil, nil
	}
	ts, err := store.WebhookTemplatesFind(ctx, p.tx, store.WebhookTemplateQuery{WABAID: waba, MetaID: id.String(), Name: name, Language: lang, WorkspaceIDs: wss})
	if err != nil {
		return nil, err
	}
	if len(ts) == 0 {
		p.note("unknown template %s (%s %s) of WABA %s", id, name, lang, waba)
	} else {
		p.routed++
	}
	return ts, nil
}

func (p *webhookRun) templateStatus(ctx context.Context, waba string, at time.Time, v *whatsapp.TemplateStatusUpdate) error {
	ts, err := p.templates(ctx, waba, v.MessageTemplateID, v.MessageTemplateName, v.MessageTemplateLanguage)
	if err != nil {
		return err
	}
	event := strings.ToUpper(strings.TrimSpace(v.Event))
	reason := v.Reason.String()
	if v.OtherInfo != nil && v.OtherInfo.Title != "" {
		reason = strings.Trim(reason+" "+v.OtherInfo.Title, " ")
	}
	// Some events name what happened, not a status: a reinstated or unarchived template is
	// approved again (stored as REINSTATED it was unsendable until the next sync).
	status := event
	if event == "REINSTATED" || event == "UNARCHIVED" {
		status = "APPROVED"
		if reason == "" || reason == "NONE" {
			reason = event
		}
	}
	for _, t := range ts {
		ch, err := store.TemplateSetState(ctx, p.tx, t.ID, "status", status, reason, "webhook", at)
		if err != nil {
			return fmt.Errorf("storing status of template %d: %w", t.ID, err)
		}
		if ch.Stale {
			p.note("template %d: status %s of %s is older than the status held; not applied", t.ID, event, at.Format(time.RFC3339))
			continue
		}
		changed := ch.Changed
		if v.MessageTemplateCategory != "" {
			if _, err := store.TemplateSetState(ctx, p.tx, t.ID, "category", v.MessageTemplateCategory, "", "webhook", at); err != nil {
				return err
			}
		}
		settings, err := p.workspaceSettings(ctx, t.WorkspaceID)
		if err != nil {
			return err
		}
		switch {
		case templateStopStatuses[status]:
			// In words: the template's page shows Meta's reason code in words too.
			why := fmt.Sprintf("La plantilla %s (%s) está %s", t.Name, t.Language, store.TemplateStatusText(status))
			if err := p.pauseForTemplate(ctx, t, "template_status", status, why); err != nil {
				return err
			}
		case changed && templateResumeStatuses[status] && settings.AutoResume && !badQuality(t.Quality, settings):
			if err := p.resumeForTemplate(ctx, t, "template_status", event,
				fmt.Sprintf("Meta volvió a aprobar la plantilla %s (%s): reanudación automática", t.Name, t.Language)); err != nil {
				return err
			}
		}
	}
	return nil
}

func badQuality(q string, s store.WorkspaceSettings) bool {
	return q == "RED" || (q == "YELLOW" && s.PauseOnYellow)
}

func (p *webhookRun) templateQuality(ctx context.Context, waba string, at time.Time, v *whatsapp.TemplateQualityUpdate) error {
	ts, err := p.templates(ctx, waba, v.MessageTemplateID, v.MessageTemplateName, v.MessageTemplateLanguage)
	if err != nil {
		return err
	}
	q := strings.ToUpper(strings.TrimSpace(v.NewQualityScore))
	if q == "" {
		return nil
	}
	for _, t := range ts {
		ch, err := store.TemplateSetState(ctx, p.tx, t.ID, "quality", q, "", "webhook", at)
		if err != nil {
			return fmt.Errorf("storing quality of template %d: %w", t.ID, err)
		}
		if ch.Stale {
			p.note("template %d: quality %s of %s is older than the quality held; not applied", t.ID, q, at.Format(time.RFC3339))
			continue
		}
		changed := ch.Changed
		settings, err := p.workspaceSettings(ctx, t.WorkspaceID)
		if err != nil {
			return err
		}
		switch {
		case badQuality(q, settings):
			why := fmt.Sprintf("La calidad de la plantilla %s (%s) bajó a %s", t.Name, t.Language, store.QualityText(q))
			if prev := strings.ToUpper(v.PreviousQualityScore); prev != "" {
				why = fmt.Sprintf("La calidad de la plantilla %s (%s) bajó de %s a %s", t.Name, t.Language, store.QualityText(prev), store.QualityText(q))
			}
			if err := p.pauseForTemplate(ctx, t, "template_quality", q, why); err != nil {
				return err
			}
		case changed && settings.AutoResume && (q == "GREEN" || q == "YELLOW") && (t.Status == "" || templateResumeStatuses[t.Status]):
			if err := p.resumeForTemplate(ctx, t, "template_quality", q,
				fmt.Sprintf("La calidad de la plantilla %s (%s) volvió a ser %s: reanudación automática", t.Name, t.Language, store.QualityText(q))); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *webhookRun) pauseForTemplate(ctx context.Context, t store.WebhookTemplate, signal, value, why string) error {
	ids, err := store.CampaignsPauseForTemplate(ctx, p.tx, t.ID, store.TransitionParams{Actor: store.ActorRule, Reason: why, Signal: signal, Value: value})
	if err != nil {
		return err
	}
	if len(ids) > 0 {
		metrics.CampaignPauses.WithLabelValues(signal).Add(float64(len(ids)))
		p.w.log.InfoContext(ctx, "campaigns paused by a template webhook", "template_id", t.ID, "signal", signal, "value", value, "campaign_ids", ids)
	}
	return nil
}

func (p *webhookRun) resumeForTemplate(ctx context.Context, t store.WebhookTemplate, signal, value, why string) error {
	cs, err := store.CampaignsResumeForTemplate(ctx, p.tx, t.ID, store.TransitionParams{Actor: store.ActorRule, Reason: why, Signal: signal, Value: value})
	if err != nil {
		return err
	}
	for _, c := range cs {
		if c.SenderNumberID != nil && !containsInt(p.paceNumbers, *c.SenderNumberID) {
			p.paceNumbers = append(p.paceNumbers, *c.SenderNumberID)
		}
	}
	if len(cs) > 0 {
		p.w.log.InfoContext(ctx, "campaigns resumed by a template webhook", "template_id", t.ID, "signal", signal, "value", value, "campaigns", len(cs))
	}
	return nil
}

func (p *webhookRun) templateCategory(ctx context.Context, waba string, at time.Time, v *whatsapp.TemplateCategoryUpdate) error {
	ts, err := p.templates(ctx, waba, v.MessageTemplateID, v.MessageTemplateName, v.MessageTemplateLanguage)
	if err != nil {
		return err
	}
	cat := cmpOr(v.NewCategory, v.CorrectCategory)
	if cat == "" {
		return nil
	}
	for _, t := range ts {
		if _, err := store.TemplateSetState(ctx, p.tx, t.ID, "category", cat, "", "webhook", at); err != nil {
			return fmt.Errorf("storing category of template %d: %w", t.ID, err)
		}
	}
	return nil
}

// wabaNumbers are the WABA's numbers the body may act on: those of the workspace (or the
// number) whose secret verified it. None for a body stored without a workspace.
func (p *webhookRun) wabaNumbers(waba string) []store.WebhookRoute {
	if p.scopeWS == nil {
		return nil
	}
	var out []store.WebhookRoute
	for _, n := range p.byWABA[waba] {
		if p.inScope(n) {
			out = append(out, n)
		}
	}
	return out
}

// numbersOf picks the WABA's numbers a number webhook is about: the one whose display number
// matches when the event names one (none when it names a number of the WABA we do not have),
// all of them when it names none.
func (p *webhookRun) numbersOf(waba, display string) []store.WebhookRoute {
	all := p.wabaNumbers(waba)
	if len(all) == 0 {
		p.note("unknown WABA %s (or none of its numbers signed the body)", waba)
		return nil
	}
	p.routed++
	d := displayDigits(display)
	if d == "" {
		return all
	}
	for _, n := range all {
		if displayDigits(n.DisplayNumber) == d {
			return []store.WebhookRoute{n}
		}
	}
	// The same national number written without its country code or with another one
	// ("15550783881" for "+52 1 555 078 3881"): the last ten digits, when only one number of
	// the WABA has them.
	if len(d) >= 10 {
		var same []store.WebhookRoute
		for _, n := range all {
			if nd := displayDigits(n.DisplayNumber); len(nd) >= 10 && nd[len(nd)-10:] == d[len(d)-10:] {
				same = append(same, n)
			}
		}
		if len(same) == 1 {
			return same
		}
	}
	p.note("number %s of WABA %s is not one of ours: nothing changed", store.RedactPhone(display), waba)
	return nil
}

// displayDigits is a display number's digits for comparison: Mexico's old mobile prefix 521 is
// the same number as 52 (Meta writes either).
func displayDigits(s string) string {
	d := digits(s)
	if len(d) == 13 && strings.HasPrefix(d, "521") {
		d = "52" + d[3:]
	}
	return d
}

// tierName is the tier string stored on a number for a limit.
func tierName(limit int) string {
	switch limit {
	case -1:
		return "TIER_UNLIMITED"
	case 1000, 2000, 10000, 100000:
		return fmt.Sprintf("TIER_%dK", limit/1000)
	}
	return fmt.Sprintf("TIER_%d", limit)
}

func (p *webhookRun) setLimit(ctx context.Context, nums []store.WebhookRoute, limit int, at time.Time, detail json.RawMessage) error {
	done := map[int64]bool{}
	tier := tierName(limit)
	for _, n := range nums {
		if _, err := store.SenderNumberApplyWebhook(ctx, p.tx, n.WorkspaceID, n.NumberID, store.NumberWebhookUpdate{MessagingLimitTier: &tier, At: at}, detail); err != nil {
			return err
		}
		if !done[n.WorkspaceID] {
			done[n.WorkspaceID] = true
			if _, err := store.WorkspaceSetMessagingLimit(ctx, p.tx, n.WorkspaceID, limit, at); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *webhookRun) phoneNumberQuality(ctx context.Context, waba string, at time.Time, v *whatsapp.PhoneNumberQualityUpdate, raw json.RawMessage) error {
	nums := p.numbersOf(waba, v.DisplayPhoneNumber.String())
	if len(nums) == 0 {
		return nil
	}
	event := strings.ToUpper(v.Event)
	// A throughput upgrade (which needs an Unlimited portfolio) says nothing sure about the
	// messaging limit: Meta's own sample carries current_limit TIER_UNLIMITED and
	// max_daily_conversations_per_business TIER_2K (the field may mean the throughput). Limits
	// come from the other events, business_capability_update and the number check.
	if event != "THROUGHPUT_UPGRADE" {
		limitStr := v.MaxDailyConversationsPerBusiness.String()
		if _, ok := whatsapp.TierLimit(limitStr); !ok {
			limitStr = v.CurrentLimit
		}
		if limit, ok := whatsapp.TierLimit(limitStr); ok {
			if err := p.setLimit(ctx, nums, limit, at, raw); err != nil {
				return err
			}
		}
	}
	for _, n := range nums {
		u := store.NumberWebhookUpdate{At: at}
		switch event {
		case "FLAGGED":
			q := "FLAGGED"
			u.QualityRating = &q
		case "UNFLAGGED":
			q := "GREEN"
			u.QualityRating = &q
		case "THROUGHPUT_UPGRADE":
			mps := 1000
			u.ThroughputMPS = &mps
		}
		stale, err := store.SenderNumberApplyWebhook(ctx, p.tx, n.WorkspaceID, n.NumberID, u, raw)
		if err != nil {
			return err
		}
		if stale {
			p.note("number %d: %s of %s is older than the state held; not applied", n.NumberID, event, at.Format(time.RFC3339))
			continue
		}
		if event == "FLAGGED" {
			if _, err := p.halt(ctx, n, "number_quality", event, "Meta marcó el número (FLAGGED): revise la calidad antes de reanudar"); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *webhookRun) halt(ctx context.Context, n store.WebhookRoute, signal, value, why string) ([]int64, error) {
	ids, err := store.CampaignsHaltForNumber(ctx, p.tx, n.NumberID, store.TransitionParams{Actor: store.ActorRule, Reason: why, Signal: signal, Value: value})
	if err != nil {
		return nil, err
	}
	if len(ids) > 0 {
		metrics.CampaignPauses.WithLabelValues(signal).Add(float64(len(ids)))
		p.w.log.InfoContext(ctx, "campaigns halted by a number webhook", "sender_number_id", n.NumberID, "signal", signal, "value", value, "campaign_ids", ids)
	}
	return ids, nil
}

func (p *webhookRun) businessCapability(ctx context.Context, waba string, at time.Time, v *whatsapp.BusinessCapabilityUpdate, raw json.RawMessage) error {
	nums := p.numbersOf(waba, "")
	if len(nums) == 0 {
		return nil
	}
	limit, ok := whatsapp.TierLimit(v.MaxDailyConversationsPerBusiness.String())
	if !ok && v.MaxDailyConversationPerPhone != 0 {
		limit, ok = whatsapp.TierLimit(strconv.FormatInt(int64(v.MaxDailyConversationPerPhone), 10))
	}
	if !ok {
		p.note("business_capability_update without a messaging limit")
		return nil
	}
	return p.setLimit(ctx, nums, limit, at, raw)
}

func (p *webhookRun) accountUpdate(ctx context.Context, waba string, at time.Time, v *whatsapp.AccountUpdate, raw json.RawMessage) error {
	nums := p.numbersOf(waba, v.PhoneNumber.String())
	event := strings.ToUpper(v.Event)
	reason := event
	if v.DisconnectionInfo != nil && v.DisconnectionInfo.Reason != "" {
		reason = strings.ToUpper(v.DisconnectionInfo.Reason)
	}
	banned := false
	if v.BanInfo != nil {
		for _, s := range v.BanInfo.WABABanState {
			if strings.EqualFold(s, "DISABLE") {
				banned = true
			}
		}
	}
	for _, n := range nums {
		switch {
		case v.DisconnectionInfo != nil || event == "PARTNER_REMOVED" || event == "ACCOUNT_OFFBOARDED":
			st, why := store.NumberDisconnected, "Número desconectado de la Cloud API: "+reason
			if reason == "PRIMARY_INACTIVITY" {
				why = "Número desconectado: la app de WhatsApp Business del teléfono estuvo inactiva ~14 días (PRIMARY_INACTIVITY)"
			}
			stale, err := store.SenderNumberApplyWebhook(ctx, p.tx, n.WorkspaceID, n.NumberID, store.NumberWebhookUpdate{Status: &st, StatusReason: &why, At: at}, raw)
			if err != nil {
				return err
			}
			if stale {
				p.note("number %d: %s of %s is older than the state held; not applied", n.NumberID, event, at.Format(time.RFC3339))
				continue
			}
			if _, err := p.halt(ctx, n, "account_update", reason, why); err != nil {
				return err
			}
		case event == "ACCOUNT_RECONNECTED":
			st, why := store.NumberActive, ""
			if _, err := store.SenderNumberApplyWebhook(ctx, p.tx, n.WorkspaceID, n.NumberID, store.NumberWebhookUpdate{Status: &st, StatusReason: &why, At: at}, raw); err != nil {
				return err
			}
		case banned:
			why := "Meta deshabilitó la cuenta (" + event + ")"
			if _, err := p.halt(ctx, n, "account_update", event, why); err != nil {
				return err
			}
		default:
			if err := store.NumberEventInsert(ctx, p.tx, n.WorkspaceID, n.NumberID, "account", "", event, raw); err != nil {
				return err
			}
		}
	}
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func cmpTime(a, b time.Time) time.Time {
	if !a.IsZero() {
		return a
	}
	return b
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func containsInt(xs []int64, x int64) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func digits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// sane returns a time Meta reported, or zero (with a note) when it cannot be one: before
// WhatsApp existed or centuries ahead. A time in milliseconds is read as such. Callers fall back to the entry's time or now, so an impossible timestamp never reaches
// Postgres (which refuses years beyond its range and would keep the body pending).
func (p *webhookRun) sane(t time.Time, what string) time.Time {
	if t.IsZero() {
		return t
	}
	if u := t.Unix(); u > 1e11 && u < 1e14 {
		t = time.UnixMilli(u).UTC()
	}
	if t.Before(saneSince) || t.After(saneUntil) {
		p.note("%s %d is impossible: ignored", what, t.Unix())
		return time.Time{}
	}
	return t
}

var (
	saneSince = time.Date(2009, 1, 1, 0, 0, 0, 0, time.UTC)
	saneUntil = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

var nulEscape = []byte(`\u0000`)

// unmarshalEnvelope parses a stored body. NUL characters ("BAJA\u0000", a profile name with
// one) are removed first: Postgres stores neither them in text nor in jsonb, and the body
// would fail at every attempt. Bodies without one (all of Meta's) are parsed as they are.
func unmarshalEnvelope(body []byte, env *whatsapp.Envelope) error {
	if bytes.Contains(body, nulEscape) {
		var v any
		d := json.NewDecoder(bytes.NewReader(body))
		d.UseNumber()
		if err := d.Decode(&v); err == nil {
			if clean, err := json.Marshal(stripNUL(v)); err == nil {
				body = clean
			}
		}
	}
	return json.Unmarshal(body, env)
}

func stripNUL(v any) any {
	switch x := v.(type) {
	case string:
		return strings.ReplaceAll(x, "\x00", "")
	case []any:
		for i := range x {
			x[i] = stripNUL(x[i])
		}
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[strings.ReplaceAll(k, "\x00", "")] = stripNUL(e)
		}
		return out
	}
	return v
}

// permanent reports whether a body's processing error will recur at every attempt: Postgres
// refused a value (data exception, class 22) or hit a limit (class 54).
func permanent(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "54"))
}
