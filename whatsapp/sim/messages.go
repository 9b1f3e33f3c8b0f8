package sim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/pregon/pregon/whatsapp"
)

// wireRequest mirrors whatsapp.MessageRequest with components decoded without a nested
// json.Unmarshal per component (the send path's main decoding cost).
type wireRequest struct {
	MessagingProduct      string                `json:"messaging_product"`
	RecipientType         string                `json:"recipient_type"`
	To                    string                `json:"to"`
	Type                  string                `json:"type"`
	BizOpaqueCallbackData string                `json:"biz_opaque_callback_data"`
	Text                  *whatsapp.TextPayload `json:"text"`
	Template              *struct {
		Name       string            `json:"name"`
		Language   whatsapp.Language `json:"language"`
		Components []struct {
			Type       string               `json:"type"`
			SubType    string               `json:"sub_type"`
			Index      whatsapp.FlexInt     `json:"index"`
			Parameters []whatsapp.Parameter `json:"parameters"`
		} `json:"components"`
	} `json:"template"`
}

func decodeRequest(body []byte) (*whatsapp.MessageRequest, error) {
	var w wireRequest
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, err
	}
	req := &whatsapp.MessageRequest{MessagingProduct: w.MessagingProduct, RecipientType: w.RecipientType, To: w.To, Type: w.Type,
		BizOpaqueCallbackData: w.BizOpaqueCallbackData, Text: w.Text}
	if w.Template != nil {
		req.Template = &whatsapp.TemplatePayload{Name: w.Template.Name, Language: w.Template.Language}
		for _, c := range w.Template.Components {
			req.Template.Components = append(req.Template.Components,
				whatsapp.Component{Type: c.Type, SubType: c.SubType, Index: int(c.Index), Parameters: c.Parameters})
		}
	}
	return req, nil
}

// sendResponse is the success body of a send.
type sendResponse struct {
	MessagingProduct string        `json:"messaging_product"`
	Contacts         []sendContact `json:"contacts"`
	Messages         []sendMessage `json:"messages"`
}

type sendContact struct {
	Input string `json:"input"`
	WAID  string `json:"wa_id"`
}

type sendMessage struct {
	ID            string `json:"id"`
	MessageStatus string `json:"message_status"`
}

// sendError is a synchronous rejection of a send.
type sendError struct {
	status, code, subcode int
	typ, msg, details     string
}

func (s *Simulator) rejectSend(w http.ResponseWriter, e *sendError) {
	s.reject(w, e.status, e.code, e.subcode, cmpStr(e.typ, "OAuthException"), e.msg, e.details)
}

func cmpStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// accepted describes an accepted message, enough to produce its webhooks.
type accepted struct {
	number      Number
	wamid       string
	to, waID    string
	userID      string // BSUID
	username    string // handle, when the user adopted a username
	biz         string
	category    string // pricing category, lowercase
	quickReply  []quickReply
	overBudget  bool
	held        bool // held by template pacing
	stopped     bool // marketing to a user who stopped marketing messages
	outOfWindow bool // free-form text outside the service window
	at          time.Time
}

type quickReply struct{ label, payload string }

func (s *Simulator) handleSend(w http.ResponseWriter, r *http.Request, phoneID string) {
	s.mu.Lock()
	num, ok := s.numbers[phoneID]
	faults := s.faults
	var n Number
	if ok {
		n = num.Number
	}
	s.mu.Unlock()
	if !ok {
		s.rejectSend(w, &sendError{status: 400, code: 100, subcode: 33, typ: "GraphMethodException",
			msg: fmt.Sprintf("Unsupported post request. Object with ID '%s' does not exist, cannot be loaded due to missing permissions, or does not support this operation", phoneID)})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		s.rejectSend(w, &sendError{status: 400, code: 100, msg: "Could not read request body"})
		return
	}
	req, err := decodeRequest(body)
	if err != nil {
		s.rejectSend(w, &sendError{status: 400, code: 100, msg: "Invalid parameter", details: "request body is not valid JSON: " + err.Error()})
		return
	}
	// Fault injection, decided by the request's identity so runs replay.
	lostResponse := false
	if faults.ServerErrorRate > 0 || faults.SlowRate > 0 || faults.LostResponseRate > 0 {
		s.mu.Lock()
		s.seq++
		seq := s.seq
		s.mu.Unlock()
		rng := s.rngFor("fault", phoneID, fmt.Sprint(seq))
		if rng.Float64() < faults.SlowRate {
			s.countFault(FaultSlow)
			select {
			case <-time.After(faults.SlowDelay):
			case <-r.Context().Done():
				return
			}
		}
		serverError := rng.Float64() < faults.ServerErrorRate
		lostResponse = faults.LostResponseRate > 0 && rng.Float64() < faults.LostResponseRate
		if serverError {
			s.mu.Lock()
			s.stats.serverErrors++
			s.stats.faults[FaultServerError]++
			s.mu.Unlock()
			if rng.IntN(2) == 0 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			s.graphError(w, http.StatusInternalServerError, 2, 0, "OAuthException", "Service temporarily unavailable", "")
			return
		}
	}
	if e := validateEnvelope(req); e != nil {
		s.rejectSend(w, e)
		return
	}
	now := s.now()
	a, e := s.admit(n, req, now)
	if e != nil {
		s.rejectSend(w, e)
		return
	}
	status := "accepted"
	if a.held {
		status = "held_for_quality_assessment"
	}
	if lostResponse {
		// Accepted, but the answer comes too late for the client (or never): the webhooks
		// still follow.
		s.countFault(FaultLostResponse)
		if !a.held {
			s.scheduleLifecycle(a)
		}
		select {
		case <-time.After(faults.SlowDelay):
		case <-r.Context().Done():
			return
		}
	}
	writeJSON(w, http.StatusOK, sendResponse{
		MessagingProduct: "whatsapp",
		Contacts:         []sendContact{{Input: req.To, WAID: a.waID}},
		Messages:         []sendMessage{{ID: a.wamid, MessageStatus: status}},
	})
	if !a.held && !lostResponse {
		s.scheduleLifecycle(a)
	}
}

func validateEnvelope(req *whatsapp.MessageRequest) *sendError {
	switch {
	case req.MessagingProduct != "whatsapp":
		return &sendError{status: 400, code: 100, msg: "Invalid parameter", details: "messaging_product must be whatsapp"}
	case strings.TrimSpace(req.To) == "":
		return &sendError{status: 400, code: 100, msg: "The parameter to is required.", details: "to is required"}
	case len(digits(req.To)) < 8 || len(digits(req.To)) > 15:
		return &sendError{status: 400, code: 100, msg: "Invalid parameter", details: "to is not a valid phone number"}
	case req.Type == "template" && req.Template == nil:
		return &sendError{status: 400, code: 131008, msg: "Required parameter is missing", details: "template is required for type template"}
	case req.Type == "text" && (req.Text == nil || req.Text.Body == ""):
		return &sendError{status: 400, code: 131008, msg: "Required parameter is missing", details: "text.body is required for type text"}
	case req.Type != "template" && req.Type != "text":
		return &sendError{status: 400, code: 131051, msg: "Unsupported message type", details: fmt.Sprintf("the simulator supports template and text messages, not %q", req.Type)}
	case len(req.BizOpaqueCallbackData) > 512:
		return &sendError{status: 400, code: 100, msg: "Invalid parameter", details: "biz_opaque_callback_data exceeds 512 characters"}
	}
	return nil
}

// admit applies throughput, template, pair and budget rules under the lock and, when the send
// is accepted, records it.
func (s *Simulator) admit(n Number, req *whatsapp.MessageRequest, now time.Time) (*accepted, *sendError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	num := s.numbers[n.PhoneNumberID]
	if s.faults.Blocked {
		s.stats.faults[FaultBlocked]++
		return nil, &sendError{status: 400, code: 368, typ: "OAuthException",
			msg:     "Temporarily blocked for policies violations",
			details: "The WhatsApp Business Account associated with the phone number has been restricted for violating a platform policy"}
	}
	if s.faults.ThroughputStorm {
		s.stats.faults[FaultThroughputStorm]++
	}
	if s.faults.ThroughputStorm || (num.limiter != nil && !num.limiter.AllowN(now, 1)) {
		return nil, &sendError{status: 400, code: whatsapp.CodeThroughput, subcode: 2494055,
			msg:     "Rate limit hit",
			details: "Message failed to send because there were too many messages sent from this phone number in a short period of time"}
	}
	to := digits(req.To)
	a := &accepted{number: num.Number, to: req.To, waID: waID(req.To), biz: req.BizOpaqueCallbackData, at: now}
	if digits(num.DisplayPhoneNumber) == to || digits(num.DisplayPhoneNumber) == a.waID {
		return nil, &sendError{status: 400, code: 131021, msg: "Recipient cannot be sender.", details: "Sender and recipient phone number is the same."}
	}
	a.userID = s.userID(a.waID)
	inWindow := now.Sub(s.lastInbound[a.userID]) < 24*time.Hour
	switch req.Type {
	case "template":
		t := s.templates[templateKey{num.WABAID, req.Template.Name, normLang(req.Template.Language.Code)}]
		if e := s.checkTemplate(t, req, now); e != nil {
			return nil, e
		}
		a.category = strings.ToLower(t.Category)
		a.stopped = a.category == "marketing" && s.stopped[a.waID]
		a.quickReply = quickReplies(t, req.Template.Components)
		if t.Pacing {
			a.held = true
			defer func() {
				if a.wamid != "" {
					t.held = append(t.held, a)
				}
			}()
		}
	case "text":
		a.category = "service"
		a.outOfWindow = !inWindow
	}
	pk := n.PhoneNumberID + "|" + a.waID
	pl := s.pairs[pk]
	if pl == nil {
		s.prunePairsLocked(now)
		pl = rate.NewLimiter(rate.Every(s.cfg.PairInterval), s.cfg.PairBurst)
		s.pairs[pk] = pl
	}
	if !pl.AllowN(now, 1) {
		return nil, &sendError{status: 400, code: whatsapp.CodePairRateLimit, subcode: 2494079,
			msg:     "(Business Account, Consumer Account) pair rate limit hit",
			details: "Message failed to send because there were too many messages sent to this recipient in a short period of time"}
	}
	if req.Type == "template" && !inWindow && !s.wabas[num.WABAID].budget.take(a.waID, now) {
		a.overBudget = true
		s.stats.overBudget++
	}
	if s.usernameUser(a.waID) {
		// The number messaged the phone: the user's messages show it for 30 days.
		a.username = s.username(a.userID)
		s.exchanged[pk] = now
	}
	s.pairSeq[pk]++
	a.wamid = makeWAMID(s, n.PhoneNumberID, a.waID, s.pairSeq[pk])
	s.stats.accept(to, now)
	return a, nil
}

// prunePairsLocked drops pair limiters that are full again (equivalent to a fresh one) once
// the map grows past a threshold, so long runs over many recipients stay bounded.
func (s *Simulator) prunePairsLocked(now time.Time) {
	if len(s.pairs) < s.pairPruneAt {
		return
	}
	for k, l := range s.pairs {
		if l.TokensAt(now) >= float64(s.cfg.PairBurst) {
			delete(s.pairs, k)
		}
	}
	s.pairPruneAt = max(minPairPrune, 2*len(s.pairs))
}

const minPairPrune = 50_000

func makeWAMID(s *Simulator, phoneID, waID string, n int) string {
	rng := s.rngFor("wamid", phoneID, waID, fmt.Sprint(n))
	b := make([]byte, 30)
	b[0], b[1] = 0x1c, 0x18
	for i := 2; i < len(b); i++ {
		b[i] = byte(rng.UintN(256))
	}
	return "wamid." + base64.StdEncoding.EncodeToString(b)
}

// checkTemplate enforces existence, status and parameters.
func (s *Simulator) checkTemplate(t *Template, req *whatsapp.MessageRequest, now time.Time) *sendError {
	name, lang := req.Template.Name, req.Template.Language.Code
	if t != nil && t.Status == "PAUSED" && !t.PausedUntil.IsZero() && !now.Before(t.PausedUntil) {
		s.setStatusLocked(t, "APPROVED", "NONE", "UNPAUSE")
	}
	if t == nil || (t.Status != "APPROVED" && t.Status != "PAUSED" && t.Status != "DISABLED") {
		return &sendError{status: 404, code: whatsapp.CodeTemplateMissing, msg: "Template name does not exist in the translation",
			details: fmt.Sprintf("template name (%s) does not exist in %s", name, lang)}
	}
	switch t.Status {
	case "PAUSED":
		return &sendError{status: 400, code: whatsapp.CodeTemplatePaused, msg: "Template is paused",
			details: fmt.Sprintf("template %s (%s) is paused because of low quality", name, lang)}
	case "DISABLED":
		return &sendError{status: 400, code: whatsapp.CodeTemplateDisabled, msg: "Template has been disabled",
			details: fmt.Sprintf("template %s (%s) was disabled after repeated pauses", name, lang)}
	}
	return checkParams(t, req.Template.Components)
}

// checkParams compares the sent components with what the template needs.
func checkParams(t *Template, comps []whatsapp.Component) *sendError {
	mismatch := func(format string, a ...any) *sendError {
		return &sendError{status: 400, code: whatsapp.CodeTemplateParamCount, msg: "Number of parameters does not match the expected number of params", details: fmt.Sprintf(format, a...)}
	}
	formatErr := func(format string, a ...any) *sendError {
		return &sendError{status: 400, code: whatsapp.CodeTemplateFormat, msg: "Parameter format does not match format in the created template", details: fmt.Sprintf(format, a...)}
	}
	var header, body *whatsapp.Component
	buttons := map[int]*whatsapp.Component{}
	for i := range comps {
		c := &comps[i]
		switch strings.ToLower(c.Type) {
		case "header":
			header = c
		case "body":
			body = c
		case "button":
			buttons[c.Index] = c
		default:
			return &sendError{status: 400, code: 100, msg: "Invalid parameter", details: fmt.Sprintf("unknown component type %q", c.Type)}
		}
	}
	named := t.Named()
	var want struct{ header, body []whatsapp.Param }
	var bodyText string
	for _, c := range t.Components {
		if strings.EqualFold(c.Type, "BODY") {
			bodyText = c.Text
		}
	}
	wantButtons := map[int]whatsapp.Param{}
	params := t.params
	if params == nil {
		params = t.Parameters()
	}
	for _, p := range params {
		switch p.Component {
		case "header":
			want.header = append(want.header, p)
		case "body":
			want.body = append(want.body, p)
		case "button":
			wantButtons[p.ButtonIndex] = p
		}
	}
	// Header.
	got := 0
	if header != nil {
		got = len(header.Parameters)
	}
	if got != len(want.header) {
		return mismatch("header: number of localizable_params (%d) does not match the expected number of params (%d)", got, len(want.header))
	}
	for i, p := range want.header {
		gp := header.Parameters[i]
		if p.Type != gp.Type {
			return formatErr("header: expected a %s parameter, got %s", p.Type, gp.Type)
		}
		if m := mediaOf(gp); p.Type != "text" && (m == nil || (m.ID == "" && m.Link == "")) {
			return &sendError{status: 400, code: 131008, msg: "Required parameter is missing", details: "header: " + p.Type + " needs an id or a link"}
		}
		if named && p.Type == "text" && gp.ParameterName == "" {
			return formatErr("header: template uses named parameters, parameter_name is missing")
		}
	}
	// Body.
	got = 0
	if body != nil {
		got = len(body.Parameters)
	}
	if got != len(want.body) {
		return mismatch("body: number of localizable_params (%d) does not match the expected number of params (%d)", got, len(want.body))
	}
	hydrated := bodyText
	for i, p := range want.body {
		gp := body.Parameters[i]
		if gp.Type != "text" && gp.Type != "currency" && gp.Type != "date_time" {
			return formatErr("body: parameter %d has type %s", i+1, gp.Type)
		}
		if named != (gp.ParameterName != "") {
			if named {
				return formatErr("body: template %s uses named parameters; parameter %d has no parameter_name", t.Name, i+1)
			}
			return formatErr("body: template %s uses positional parameters; parameter %d has parameter_name %q", t.Name, i+1, gp.ParameterName)
		}
		key := p.Name
		if !named {
			key = fmt.Sprint(p.Position)
		}
		if named {
			found := false
			for _, q := range body.Parameters {
				if q.ParameterName == p.Name {
					found, gp = true, q
				}
			}
			if !found {
				return mismatch("body: parameter %q is missing", p.Name)
			}
		}
		if gp.Type == "text" && (strings.ContainsAny(gp.Text, "\n\t") || strings.Contains(gp.Text, "     ")) {
			return &sendError{status: 400, code: 100, msg: "(#100) Invalid parameter",
				details: "Param text cannot have new-line/tab characters or more than 4 consecutive spaces"}
		}
		hydrated = strings.ReplaceAll(hydrated, "{{"+key+"}}", gp.Text)
	}
	if len([]rune(hydrated)) > 1024 {
		return &sendError{status: 400, code: 132005, msg: "Translated text too long", details: "body text with parameters exceeds 1024 characters"}
	}
	// Buttons needing a parameter.
	for idx, p := range wantButtons {
		b := buttons[idx]
		if b == nil || len(b.Parameters) != 1 {
			return mismatch("button at index %d (%s) needs 1 parameter", idx, p.ButtonType)
		}
		wantSub := map[string]string{"URL": "url", "COPY_CODE": "copy_code"}[p.ButtonType]
		if !strings.EqualFold(b.SubType, wantSub) {
			return formatErr("button at index %d: expected sub_type %s, got %s", idx, wantSub, b.SubType)
		}
		if p.ButtonType == "COPY_CODE" && (b.Parameters[0].Type != "coupon_code" || b.Parameters[0].CouponCode == "") {
			return formatErr("button at index %d: copy_code needs a coupon_code parameter", idx)
		}
		if p.ButtonType == "URL" && (b.Parameters[0].Type != "text" || b.Parameters[0].Text == "") {
			return formatErr("button at index %d: url needs a text parameter", idx)
		}
	}
	return nil
}

func mediaOf(p whatsapp.Parameter) *whatsapp.Media {
	switch p.Type {
	case "image":
		return p.Image
	case "document":
		return p.Document
	case "video":
		return p.Video
	}
	return nil
}

// quickReplies lists the template's quick-reply buttons with the payload sent for each (the
// label when none was sent).
func quickReplies(t *Template, comps []whatsapp.Component) []quickReply {
	var out []quickReply
	idx := 0
	for _, c := range t.Components {
		if !strings.EqualFold(c.Type, "BUTTONS") {
			continue
		}
		for _, b := range c.Buttons {
			if strings.EqualFold(b.Type, "QUICK_REPLY") {
				q := quickReply{label: b.Text, payload: b.Text}
				for _, sc := range comps {
					if sc.Type == "button" && sc.Index == idx && len(sc.Parameters) > 0 && sc.Parameters[0].Payload != "" {
						q.payload = sc.Parameters[0].Payload
					}
				}
				out = append(out, q)
			}
			idx++
		}
	}
	return out
}
