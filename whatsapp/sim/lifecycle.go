package sim

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/pregon/pregon/whatsapp"
)

var (
	optOutWords  = []string{"BAJA", "STOP", "no más"}
	replyTexts   = []string{"Gracias", "¿Hasta cuándo es válida la promoción?", "Me interesa", "¿Tienen envío a domicilio?", "Ok 👍"}
	profileNames = []string{"Ana López", "Lucía Gómez", "Pedro Ramírez", "Martín Fernández", "Sofía Torres", "Camila Rojas", "Diego Herrera", "Valentina Castro"}
)

// failureTitles are the titles Meta uses in failed statuses for the simulated codes.
var failureTitles = map[int]string{
	131026: "Message undeliverable",
	131049: "This message was not delivered to maintain healthy ecosystem engagement.",
	131050: "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business.",
	130472: "User's number is part of an experiment",
	131047: "Re-engagement message",
}

// scheduleLifecycle plans the status webhooks (and maybe a reply) of an accepted message.
func (s *Simulator) scheduleLifecycle(a *accepted) {
	cfg := s.cfg.Statuses
	rng := s.rngFor("life", a.wamid)
	jitter := func(d time.Duration) time.Duration { return d + time.Duration(rng.Float64()*0.5*float64(d)) }
	var counts = map[string]int{}
	emit := func(st whatsapp.Status, delay time.Duration) {
		st.ID, st.RecipientID, st.BizOpaqueCallbackData = a.wamid, a.waID, a.biz
		st.Timestamp = whatsapp.Timestamp(a.at.Add(delay).Unix())
		counts[st.Status]++
		ev := &event{waba: a.number.WABAID, phoneID: a.number.PhoneNumberID, display: a.number.DisplayPhoneNumber, field: whatsapp.FieldMessages, status: &st}
		if st.Status != whatsapp.StatusFailed {
			// BSUID era (2026): sent/delivered/read carry the user's BSUID (recipient_user_id)
			// and contacts with it (and the username, when adopted); failed statuses of a
			// message sent to a phone number carry neither.
			st.RecipientUserID = a.userID
			ev.contact = &whatsapp.Contact{WAID: whatsapp.FlexString(a.waID), UserID: a.userID}
			ev.contact.Profile.Username = a.username
		}
		s.em.schedule(ev, delay)
		if cfg.DuplicateProb > 0 && rng.Float64() < cfg.DuplicateProb {
			dup := *ev
			s.em.schedule(&dup, delay+jitter(10*time.Millisecond))
		}
	}
	fail := func(code int) {
		emit(whatsapp.Status{Status: whatsapp.StatusFailed, Errors: []whatsapp.WebhookError{webhookError(code)}}, jitter(cfg.SentDelay))
	}
	switch {
	case a.overBudget:
		fail(whatsapp.CodeEcosystemEngagement)
	case a.outOfWindow:
		fail(whatsapp.CodeReengagement)
	case a.stopped:
		fail(whatsapp.CodeUserStoppedMarketing)
	case cfg.FailedProb > 0 && rng.Float64() < cfg.FailedProb:
		fail(pickCode(rng, cfg.FailureCodes))
	default:
		billable := a.category != "service"
		pricing := &whatsapp.Pricing{Billable: &billable, PricingModel: "PMP", Type: "regular", Category: a.category}
		if !billable {
			pricing.Type = "free_customer_service"
		}
		sent := whatsapp.Status{Status: whatsapp.StatusSent, Pricing: pricing,
			Conversation: &whatsapp.Conversation{ID: fmt.Sprintf("%x", rng.Uint64()), ExpirationTimestamp: whatsapp.Timestamp(a.at.Add(24 * time.Hour).Unix())}}
		sent.Conversation.Origin.Type = a.category
		emit(sent, jitter(cfg.SentDelay))
		if rng.Float64() >= cfg.DeliveredProb {
			break
		}
		dDelay, rDelay := jitter(cfg.DeliveredDelay), jitter(cfg.ReadDelay)
		read := rng.Float64() < cfg.ReadProb
		if read && cfg.ReorderProb > 0 && rng.Float64() < cfg.ReorderProb {
			dDelay, rDelay = rDelay, dDelay // read arrives first
		}
		emit(whatsapp.Status{Status: whatsapp.StatusDelivered, Pricing: pricing}, dDelay)
		last := dDelay
		if read {
			emit(whatsapp.Status{Status: whatsapp.StatusRead}, rDelay)
			last = max(last, rDelay)
		}
		if s.cfg.Replies.Prob > 0 && rng.Float64() < s.cfg.Replies.Prob {
			s.scheduleReply(a, rng, last+jitter(s.cfg.Replies.Delay))
		}
	}
	s.mu.Lock()
	for k, v := range counts {
		s.stats.statuses[k] += v
	}
	s.mu.Unlock()
}

func webhookError(code int) whatsapp.WebhookError {
	title := failureTitles[code]
	if title == "" {
		title = whatsapp.ErrorTitle(code, "en")
	}
	we := whatsapp.WebhookError{Code: code, Title: title, Message: title, Href: "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"}
	we.ErrorData.Details = title
	return we
}

// failedEvent is a failed status for an accepted message (no lock needed).
func (s *Simulator) failedEvent(a *accepted, code int) *event {
	st := &whatsapp.Status{ID: a.wamid, Status: whatsapp.StatusFailed, RecipientID: a.waID, BizOpaqueCallbackData: a.biz,
		Timestamp: whatsapp.Timestamp(s.now().Unix()), Errors: []whatsapp.WebhookError{webhookError(code)}}
	return &event{waba: a.number.WABAID, phoneID: a.number.PhoneNumberID, display: a.number.DisplayPhoneNumber, field: whatsapp.FieldMessages, status: st}
}

func pickCode(rng *rand.Rand, weights map[int]float64) int {
	codes := make([]int, 0, len(weights))
	total := 0.0
	for c, w := range weights {
		codes = append(codes, c)
		total += w
	}
	sort.Ints(codes) // map order must not leak into the draw
	x := rng.Float64() * total
	for _, c := range codes {
		x -= weights[c]
		if x < 0 {
			return c
		}
	}
	return codes[len(codes)-1]
}

// scheduleReply plans an inbound user message answering a delivered template message.
func (s *Simulator) scheduleReply(a *accepted, rng *rand.Rand, delay time.Duration) {
	r := s.cfg.Replies
	in := Inbound{PhoneNumberID: a.number.PhoneNumberID, From: a.waID, Name: profileNames[rng.IntN(len(profileNames))]}
	x := rng.Float64()
	switch {
	case x < r.OptOutShare:
		in.Text = optOutWords[rng.IntN(len(optOutWords))]
	case x < r.OptOutShare+r.ButtonShare && len(a.quickReply) > 0:
		q := a.quickReply[rng.IntN(len(a.quickReply))]
		in.ButtonText, in.ButtonPayload, in.ContextID = q.label, q.payload, a.wamid
	default:
		in.Text = replyTexts[rng.IntN(len(replyTexts))]
	}
	in.at = a.at.Add(delay)
	if _, err := s.emitInbound(in, delay, fmt.Sprintf("%s|reply", a.wamid)); err != nil {
		s.log.Warn("scheduling simulated reply", errAttr(err))
	}
}
