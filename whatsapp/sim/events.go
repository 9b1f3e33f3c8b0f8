package sim

import (
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/pregon/pregon/whatsapp"
)

// Inbound is a user message to simulate (POST /_sim/inbound).
type Inbound struct {
	PhoneNumberID string `json:"phone_number_id"` // business number receiving it (default: the first)
	// From is the user's wa_id. A username user's message (Config.UsernameShare) leaves it out,
	// and contacts[].wa_id, unless the number exchanged messages with that phone in the last
	// 30 days; from_user_id and contacts[].user_id (the BSUID) are always there.
	From string `json:"from,omitempty"`
	// UserID, instead of From, makes the message one from a username user whose phone the
	// business is not shown: it names the user by this BSUID alone (from_user_id,
	// contacts[].user_id; no from, no wa_id).
	UserID string `json:"user_id,omitempty"`
	Name   string `json:"name,omitempty"` // profile name
	Text   string `json:"text,omitempty"`
	// ButtonText / ButtonPayload make a template quick-reply tap; ContextID is the wamid of the
	// template message tapped.
	ButtonText    string `json:"button_text,omitempty"`
	ButtonPayload string `json:"button_payload,omitempty"`
	ContextID     string `json:"context_id,omitempty"`

	at time.Time
}

// SendInbound emits a "messages" webhook with a user message and opens the user's 24 h service
// window. It returns the new message's wamid.
func (s *Simulator) SendInbound(in Inbound) (string, error) {
	s.mu.Lock()
	s.seq++
	id := fmt.Sprint("inbound|", s.seq)
	s.mu.Unlock()
	in.at = s.now()
	return s.emitInbound(in, 0, id)
}

func (s *Simulator) emitInbound(in Inbound, delay time.Duration, identity string) (string, error) {
	n, err := s.number(in.PhoneNumberID)
	if err != nil {
		return "", err
	}
	from, bsuid := digits(in.From), strings.TrimSpace(in.UserID)
	switch {
	case from != "" && bsuid != "":
		return "", fmt.Errorf("simulating inbound message: give from or user_id, not both")
	case from == "" && bsuid == "":
		return "", fmt.Errorf("simulating inbound message: from (or user_id) is required")
	case bsuid != "" && !validBSUID(bsuid):
		return "", fmt.Errorf("simulating inbound message: user_id %q is not a business-scoped user id (CC.digits)", bsuid)
	case from != "":
		bsuid = s.userID(waID(from))
	}
	rng := s.rngFor("inbound", identity)
	b := make([]byte, 24)
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	m := whatsapp.Message{FromUserID: bsuid, ID: "wamid." + base64.StdEncoding.EncodeToString(b), Timestamp: whatsapp.Timestamp(in.at.Unix())}
	switch {
	case in.ButtonText != "" || in.ButtonPayload != "":
		m.Type = "button"
		m.Button = &whatsapp.ButtonReply{Text: cmpStr(in.ButtonText, in.ButtonPayload), Payload: cmpStr(in.ButtonPayload, in.ButtonText)}
	default:
		m.Type = "text"
		m.Text = &whatsapp.TextBody{Body: in.Text}
	}
	if in.ContextID != "" {
		m.Context = &whatsapp.MessageContext{From: digits(n.DisplayPhoneNumber), ID: in.ContextID}
	}
	c := &whatsapp.Contact{UserID: bsuid}
	c.Profile.Name = cmpStr(in.Name, "Cliente")
	if from == "" || s.usernameUser(waID(from)) {
		c.Profile.Username = s.username(bsuid)
	}
	s.mu.Lock()
	if from != "" && s.phoneShownLocked(n.PhoneNumberID, waID(from), in.at) {
		m.From, c.WAID = from, whatsapp.FlexString(from)
	}
	s.lastInbound[bsuid] = in.at
	s.stats.inbound++
	s.takeThroughputLocked(n.PhoneNumberID)
	s.mu.Unlock()
	s.em.schedule(&event{waba: n.WABAID, phoneID: n.PhoneNumberID, display: n.DisplayPhoneNumber, field: whatsapp.FieldMessages, message: &m, contact: c}, delay)
	return m.ID, nil
}

// takeThroughputLocked takes a token of the number's throughput for a message that is not a
// send — an inbound message, a phone-app echo — which Meta counts with the sends (80 mps per
// number, 20 on a coexistence number, inbound and outbound together) but never refuses: the
// bucket may go into debt, and the sends that follow wait for it. s.mu is held.
func (s *Simulator) takeThroughputLocked(phoneID string) {
	if n := s.numbers[phoneID]; n != nil && n.limiter != nil {
		n.limiter.ReserveN(s.now(), 1)
	}
}

// number returns a configured number by id; "" means the first one.
func (s *Simulator) number(id string) (Number, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id == "" {
		return s.numbers[s.cfg.Numbers[0].PhoneNumberID].Number, nil
	}
	n, ok := s.numbers[id]
	if !ok {
		return Number{}, fmt.Errorf("unknown phone number id %q", id)
	}
	return n.Number, nil
}

// emitField schedules a non-"messages" webhook for the number's WABA.
func (s *Simulator) emitField(waba, field string, value any) {
	s.em.schedule(&event{waba: waba, field: field, value: value}, 0)
}

// EmitPhoneNumberQuality emits phone_number_quality_update (e.g. event FLAGGED, UPGRADE,
// THROUGHPUT_UPGRADE, ONBOARDING) with the given limits; currentLimit also becomes the number's
// messaging-limit tier when it is a tier.
func (s *Simulator) EmitPhoneNumberQuality(phoneID, event, currentLimit, oldLimit string) error {
	n, err := s.number(phoneID)
	if err != nil {
		return fmt.Errorf("emitting phone number quality update: %w", err)
	}
	if _, ok := whatsapp.TierLimit(currentLimit); ok {
		s.mu.Lock()
		ns := s.numbers[n.PhoneNumberID]
		ns.MessagingLimitTier = currentLimit
		s.wabas[n.WABAID].budget.raise(currentLimit)
		if event == "THROUGHPUT_UPGRADE" {
			ns.ThroughputLevel = "HIGH"
			if ns.MPS == 0 && !ns.Coexistence {
				ns.limiter = newThroughputLimiter(whatsapp.MPSHigh)
			}
		}
		s.mu.Unlock()
	}
	s.emitField(n.WABAID, whatsapp.FieldPhoneNumberQualityUpdate, whatsapp.PhoneNumberQualityUpdate{
		DisplayPhoneNumber: whatsapp.FlexString(digits(n.DisplayPhoneNumber)), Event: event,
		CurrentLimit: currentLimit, OldLimit: oldLimit, MaxDailyConversationsPerBusiness: whatsapp.FlexString(currentLimit),
	})
	return nil
}

// EmitAccountUpdate emits account_update for the number, e.g. event PARTNER_REMOVED with reason
// PRIMARY_INACTIVITY (coexistence number whose phone app was not opened for ~14 days).
func (s *Simulator) EmitAccountUpdate(phoneID, event, reason string) error {
	n, err := s.number(phoneID)
	if err != nil {
		return fmt.Errorf("emitting account update: %w", err)
	}
	v := map[string]any{"phone_number": digits(n.DisplayPhoneNumber), "event": event}
	if reason != "" {
		v["disconnection_info"] = map[string]string{"reason": reason, "initiated_by": "SYSTEM"}
	}
	s.emitField(n.WABAID, whatsapp.FieldAccountUpdate, v)
	return nil
}

// EmitEcho emits smb_message_echoes: a text the business sent from the phone app.
func (s *Simulator) EmitEcho(phoneID, to, text string) error {
	n, err := s.number(phoneID)
	if err != nil {
		return fmt.Errorf("emitting message echo: %w", err)
	}
	s.mu.Lock()
	s.seq++
	seq := s.seq
	s.takeThroughputLocked(n.PhoneNumberID)
	s.mu.Unlock()
	rng := s.rngFor("echo", fmt.Sprint(seq))
	b := make([]byte, 24)
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	s.emitField(n.WABAID, whatsapp.FieldSMBMessageEchoes, whatsapp.MessageEchoesValue{
		MessagingProduct: "whatsapp",
		Metadata:         whatsapp.Metadata{DisplayPhoneNumber: whatsapp.FlexString(digits(n.DisplayPhoneNumber)), PhoneNumberID: whatsapp.FlexString(n.PhoneNumberID)},
		MessageEchoes: []whatsapp.Message{{From: digits(n.DisplayPhoneNumber), To: digits(to), ID: "wamid." + base64.StdEncoding.EncodeToString(b),
			Timestamp: whatsapp.Timestamp(s.now().Unix()), Type: "text", Text: &whatsapp.TextBody{Body: text}}},
	})
	return nil
}

// ContactSync is one contact change in the business app (smb_app_state_sync).
type ContactSync struct {
	PhoneNumber string `json:"phone_number"`
	FullName    string `json:"full_name,omitempty"`
	FirstName   string `json:"first_name,omitempty"`
	Action      string `json:"action,omitempty"` // add (default) | remove
}

// EmitContactSync emits smb_app_state_sync with the given contact changes.
func (s *Simulator) EmitContactSync(phoneID string, contacts []ContactSync) error {
	n, err := s.number(phoneID)
	if err != nil {
		return fmt.Errorf("emitting contact sync: %w", err)
	}
	v := whatsapp.StateSyncValue{MessagingProduct: "whatsapp",
		Metadata: whatsapp.Metadata{DisplayPhoneNumber: whatsapp.FlexString(digits(n.DisplayPhoneNumber)), PhoneNumberID: whatsapp.FlexString(n.PhoneNumberID)}}
	for _, c := range contacts {
		it := whatsapp.StateSyncItem{Type: "contact", Action: cmpStr(c.Action, "add")}
		it.Contact.PhoneNumber = whatsapp.FlexString(digits(c.PhoneNumber))
		if it.Action != "remove" {
			it.Contact.FullName, it.Contact.FirstName = c.FullName, c.FirstName
		}
		it.Metadata.Timestamp = whatsapp.Timestamp(s.now().Unix())
		v.StateSync = append(v.StateSync, it)
	}
	s.emitField(n.WABAID, whatsapp.FieldSMBAppStateSync, v)
	return nil
}

// SetFaults replaces the fault injection settings.
func (s *Simulator) SetFaults(f Faults) {
	if f.SlowDelay == 0 {
		f.SlowDelay = s.cfg.Faults.SlowDelay
	}
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
}

// SetThroughput overrides a number's throughput: mps > 0 that rate, ≤ 0 unlimited.
func (s *Simulator) SetThroughput(phoneID string, mps int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.numbers[phoneID]
	if !ok {
		return fmt.Errorf("setting throughput: unknown phone number id %q", phoneID)
	}
	if mps <= 0 {
		n.MPS = -1
	} else {
		n.MPS = mps
	}
	n.limiter = newThroughputLimiter(n.mps())
	return nil
}

// SetUserPreference emits a user_preferences webhook for waID with value "stop" or "resume".
// After "stop", MARKETING templates to that user are accepted and then fail with 131050, as
// WhatsApp does when a user turns off "Offers and announcements" for the business.
func (s *Simulator) SetUserPreference(phoneID, waID, value string) error {
	n, err := s.number(phoneID)
	if err != nil {
		return fmt.Errorf("setting user preference: %w", err)
	}
	if value != "stop" && value != "resume" {
		return fmt.Errorf("setting user preference: value must be stop or resume, not %q", value)
	}
	id := digits(waID)
	bsuid := s.UserID(id)
	s.mu.Lock()
	if value == "stop" {
		s.stopped[id] = true
	} else {
		delete(s.stopped, id)
	}
	s.mu.Unlock()
	detail := "User requested to stop marketing messages"
	if value == "resume" {
		detail = "User requested to resume marketing messages"
	}
	v := whatsapp.UserPreferencesValue{MessagingProduct: "whatsapp",
		Metadata:        whatsapp.Metadata{DisplayPhoneNumber: whatsapp.FlexString(digits(n.DisplayPhoneNumber)), PhoneNumberID: whatsapp.FlexString(n.PhoneNumberID)},
		Contacts:        []whatsapp.Contact{{WAID: whatsapp.FlexString(id), UserID: bsuid}},
		UserPreferences: []whatsapp.UserPreference{{WAID: whatsapp.FlexString(id), UserID: bsuid, Detail: detail, Category: "marketing_messages", Value: value, Timestamp: whatsapp.Timestamp(s.now().Unix())}},
	}
	s.emitField(n.WABAID, whatsapp.FieldUserPreferences, v)
	return nil
}
