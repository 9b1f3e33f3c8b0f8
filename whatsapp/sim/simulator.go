package sim

import (
	"context"
	"crypto/subtle"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Simulator is a Cloud API simulator; see the package documentation. Create it with New,
// serve it over HTTP, and call Start to emit webhooks.
type Simulator struct {
	cfg Config
	log *slog.Logger
	now func() time.Time

	mu          sync.Mutex
	numbers     map[string]*numberState
	wabas       map[string]*wabaState
	templates   map[templateKey]*Template
	templateIDs map[string]templateKey
	faults      Faults
	pairs       map[string]*rate.Limiter
	pairPruneAt int
	pairSeq     map[string]int       // messages accepted per (number, recipient): determinism
	lastInbound map[string]time.Time // BSUID → last user message (service window)
	exchanged   map[string]time.Time // number|wa_id of a username user → last message showing the phone
	stopped     map[string]bool      // wa_id → stopped marketing messages (user_preferences)
	seq         uint64               // fbtrace ids, inbound ids
	stats       statsState

	em *emitter
}

type numberState struct {
	Number
	limiter *rate.Limiter // nil: unlimited
}

type wabaState struct {
	budget *budget
}

// New returns a Simulator for cfg (defaults filled); it serves requests at once, and emits
// webhooks once Start is called.
func New(cfg Config) *Simulator {
	cfg = cfg.withDefaults()
	s := &Simulator{cfg: cfg, log: cfg.Logger, now: cfg.Now}
	s.em = newEmitter(s)
	s.reset()
	return s
}

// reset (re)builds all state from the config. Callers hold no lock; it takes s.mu.
func (s *Simulator) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.numbers = map[string]*numberState{}
	s.wabas = map[string]*wabaState{}
	for _, n := range s.cfg.Numbers {
		ns := &numberState{Number: n}
		ns.limiter = newThroughputLimiter(n.mps())
		s.numbers[n.PhoneNumberID] = ns
		w := s.wabas[n.WABAID]
		if w == nil {
			w = &wabaState{budget: newBudget()}
			s.wabas[n.WABAID] = w
		}
		w.budget.raise(n.MessagingLimitTier)
	}
	s.templates = map[templateKey]*Template{}
	s.templateIDs = map[string]templateKey{}
	var seeds []Template
	if s.cfg.Templates != nil {
		seeds = s.cfg.Templates
	} else {
		for waba := range s.wabas {
			seeds = append(seeds, SeedTemplates(waba)...)
		}
	}
	for _, t := range seeds {
		t := t
		t.Language = normLang(t.Language)
		if t.ID == "" {
			t.ID = templateID(s.cfg.Seed, t.WABAID, t.Name, t.Language)
		}
		t.params = t.Parameters()
		k := templateKey{t.WABAID, t.Name, t.Language}
		s.templates[k] = &t
		s.templateIDs[t.ID] = k
	}
	s.faults = s.cfg.Faults
	s.pairs = map[string]*rate.Limiter{}
	s.pairPruneAt = minPairPrune
	s.pairSeq = map[string]int{}
	s.lastInbound = map[string]time.Time{}
	s.exchanged = map[string]time.Time{}
	s.stopped = map[string]bool{}
	s.stats = newStatsState()
}

func newThroughputLimiter(mps int) *rate.Limiter {
	if mps <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(mps), mps)
}

// Reset restores the configured numbers, templates and faults and clears counters, limits,
// service windows and opt-outs. Webhooks already queued are still delivered, and the webhook
// counters in Stats keep counting.
func (s *Simulator) Reset() { s.reset() }

// Start runs the webhook scheduler, batcher and senders until ctx is done. It returns at once.
func (s *Simulator) Start(ctx context.Context) { s.em.start(ctx) }

// WaitIdle blocks until no webhook is scheduled, queued or being sent, or ctx is done. With a
// WebhookURL it needs Start to have been called, or nothing ever drains.
func (s *Simulator) WaitIdle(ctx context.Context) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		if s.em.idle() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for webhooks to drain: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// GraphOnly serves the Graph API paths only: the control API (/_sim/…) answers 404 however
// the path is spelled (%5Fsim, dot segments). It is the handler to expose where Meta's
// clients reach the simulator; the control API is mounted on its own, behind authentication.
func (s *Simulator) GraphOnly() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := path.Clean("/" + r.URL.Path); p == "/_sim" || strings.HasPrefix(p, "/_sim/") {
			s.graphError(w, http.StatusNotFound, 100, 0, "GraphMethodException", "Unsupported request - unknown path", "")
			return
		}
		s.ServeHTTP(w, r)
	})
}

// ServeHTTP routes Graph paths and the /_sim/ control API.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_sim/") {
		s.serveControl(w, r, nil)
		return
	}
	seg := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(seg) < 2 || len(seg[0]) < 2 || seg[0][0] != 'v' {
		s.graphError(w, http.StatusBadRequest, 100, 0, "GraphMethodException", "Unsupported request - unknown path "+r.URL.Path, "")
		return
	}
	if !s.authorized(r) {
		s.reject(w, http.StatusUnauthorized, 190, 0, "OAuthException", "Invalid OAuth access token - Cannot parse access token", "")
		return
	}
	switch {
	case len(seg) == 3 && seg[2] == "messages" && r.Method == http.MethodPost:
		s.handleSend(w, r, seg[1])
	case len(seg) == 3 && seg[2] == "message_templates" && r.Method == http.MethodGet:
		s.handleListTemplates(w, r, seg[1])
	case len(seg) == 3 && seg[2] == "unpause" && r.Method == http.MethodPost:
		s.handleUnpause(w, r, seg[1])
	case len(seg) == 2 && r.Method == http.MethodGet:
		s.handlePhoneNumber(w, r, seg[1])
	default:
		s.graphError(w, http.StatusBadRequest, 100, 0, "GraphMethodException",
			fmt.Sprintf("Unsupported %s request. Object with ID '%s' does not exist, cannot be loaded due to missing permissions, or does not support this operation", strings.ToLower(r.Method), seg[1]), "")
	}
}

func (s *Simulator) authorized(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	tok = strings.TrimSpace(tok)
	if !ok || tok == "" {
		return false
	}
	if len(s.cfg.Tokens) == 0 {
		return true
	}
	for _, t := range s.cfg.Tokens {
		if subtle.ConstantTimeCompare([]byte(t), []byte(tok)) == 1 {
			return true
		}
	}
	return false
}

// reject writes a Graph error and counts it by code.
func (s *Simulator) reject(w http.ResponseWriter, status, code, subcode int, typ, msg, details string) {
	s.mu.Lock()
	s.stats.rejected[code]++
	s.mu.Unlock()
	s.graphError(w, status, code, subcode, typ, msg, details)
}

// graphError writes {"error":{...}} in Graph's shape.
func (s *Simulator) graphError(w http.ResponseWriter, status, code, subcode int, typ, msg, details string) {
	s.mu.Lock()
	s.seq++
	trace := traceID(s.cfg.Seed, s.seq)
	s.mu.Unlock()
	e := map[string]any{
		"message":    fmt.Sprintf("(#%d) %s", code, msg),
		"type":       typ,
		"code":       code,
		"fbtrace_id": trace,
	}
	if subcode != 0 {
		e["error_subcode"] = subcode
	}
	if details != "" {
		e["error_data"] = map[string]any{"messaging_product": "whatsapp", "details": details}
	}
	if code == 2 || code == 1 || code == 131000 {
		e["is_transient"] = true
	}
	writeJSON(w, status, map[string]any{"error": e})
}

func traceID(seed int64, n uint64) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	r := rand.New(rand.NewPCG(uint64(seed), n))
	b := make([]byte, 23)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// rngFor returns a generator determined by the seed and the given identity.
func (s *Simulator) rngFor(parts ...string) *rand.Rand {
	h := fnv.New64a()
	var seed [8]byte
	binary.LittleEndian.PutUint64(seed[:], uint64(s.cfg.Seed))
	h.Write(seed[:])
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return rand.New(rand.NewPCG(uint64(s.cfg.Seed), h.Sum64()))
}

// digits keeps only 0-9.
func digits(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && !(i == 0 && s[i] == '+') {
			clean = false
			break
		}
	}
	if clean {
		return strings.TrimPrefix(s, "+")
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b = append(b, s[i])
		}
	}
	return string(b)
}

// waID derives the WhatsApp id Meta would report for to: Mexican numbers always carry the
// mobile "1" after 52 (+52 55… → 521 55…); Brazilian mobiles lose the ninth digit for about half
// of the numbers (decided by a hash of the number); others are the digits.
func waID(to string) string {
	d := digits(to)
	switch {
	case strings.HasPrefix(d, "52") && len(d) == 12:
		return "521" + d[2:]
	case strings.HasPrefix(d, "55") && len(d) == 13 && d[4] == '9':
		h := fnv.New32a()
		h.Write([]byte(d))
		if h.Sum32()%2 == 0 {
			return d[:4] + d[5:]
		}
	}
	return d
}

func errAttr(err error) slog.Attr { return slog.String("error", err.Error()) }

var timeZero time.Time
