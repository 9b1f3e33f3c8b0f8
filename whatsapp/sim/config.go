package sim

import (
	"cmp"
	"log/slog"
	"net/http"
	"time"

	"github.com/pregon/pregon/whatsapp"
)

// Config configures a Simulator. The zero value works: one coexistence-free number
// (DefaultPhoneNumberID in DefaultWABAID), any bearer token accepted, no webhooks.
type Config struct {
	// Seed makes every random choice reproducible.
	Seed int64
	// WebhookURL receives the webhooks; empty disables emission (events are still counted).
	WebhookURL string
	// AppSecret signs webhooks (X-Hub-Signature-256).
	AppSecret string
	// Tokens are the accepted bearer tokens; empty accepts any non-empty token.
	Tokens []string
	// Numbers are the business phone numbers; default one number, DefaultNumber().
	Numbers []Number
	// Templates replace the seeded Spanish templates (SeedTemplates) when non-nil. Each needs
	// WABAID set; ID is filled when empty.
	Templates []Template
	// Statuses shapes the status webhooks of accepted messages.
	Statuses StatusConfig
	// Replies shapes simulated user replies.
	Replies ReplyConfig
	// UsernameShare is the share of simulated users, in [0,1] and chosen by the seed and the
	// phone, who adopted a WhatsApp username (2026): their messages to a number omit from and
	// contacts[].wa_id (only from_user_id and user_id, the BSUID) unless that number exchanged
	// messages with their phone in the last 30 days (WHATSAPP.md §4d). Default 0: every user
	// shows the phone.
	UsernameShare float64
	// Faults injects failures.
	Faults Faults
	// Webhooks tunes emission.
	Webhooks WebhookConfig
	// PairInterval and PairBurst define the pair rate limit (default 6 s and 45).
	PairInterval time.Duration
	PairBurst    int
	// Now is the simulator's clock (rate limits, rolling 24 h budget, pauses, timestamps).
	Now func() time.Time
	// Logger receives diagnostics; default discards.
	Logger *slog.Logger
}

// Number is a business phone number.
type Number struct {
	PhoneNumberID      string
	WABAID             string
	DisplayPhoneNumber string
	VerifiedName       string
	// Coexistence marks a number also open in the WhatsApp Business app (20 mps).
	Coexistence bool
	// ThroughputLevel is STANDARD (80 mps, default) or HIGH (1000 mps).
	ThroughputLevel string
	// MPS overrides the throughput: > 0 that many messages per second, < 0 unlimited, 0 from
	// level and coexistence.
	MPS int
	// MessagingLimitTier is the portfolio's limit (TIER_250, TIER_2K, …, TIER_UNLIMITED);
	// default TIER_2K. Numbers of one WABA share the highest tier among them.
	MessagingLimitTier string
	// QualityRating is GREEN (default), YELLOW or RED.
	QualityRating string
}

// Defaults for the single number used when Config.Numbers is empty.
const (
	DefaultPhoneNumberID = "106540352242922"
	DefaultWABAID        = "102290129340398"
	DefaultDisplayNumber = "5215550783881"
)

// DefaultNumber is the number used when Config.Numbers is empty.
func DefaultNumber() Number {
	return Number{PhoneNumberID: DefaultPhoneNumberID, WABAID: DefaultWABAID, DisplayPhoneNumber: DefaultDisplayNumber, VerifiedName: "Tienda Pregón"}
}

// mps is the effective throughput (0 = unlimited).
func (n Number) mps() int {
	switch {
	case n.MPS < 0:
		return 0
	case n.MPS > 0:
		return n.MPS
	case n.Coexistence:
		return whatsapp.MPSCoexistence
	case n.ThroughputLevel == "HIGH":
		return whatsapp.MPSHigh
	default:
		return whatsapp.MPSStandard
	}
}

// StatusConfig shapes the lifecycle of accepted messages. Probabilities are in [0,1].
type StatusConfig struct {
	// FailedProb is the chance an accepted message fails (after "sent" is skipped); the code is
	// drawn from FailureCodes (weights; default 131026:4, 131049:3, 131050:2, 130472:1).
	FailedProb   float64
	FailureCodes map[int]float64
	// DeliveredProb is the chance a sent message is delivered (default 0.95 when all zero).
	DeliveredProb float64
	// ReadProb is the chance a delivered message is read (default 0.6 when all zero).
	ReadProb float64
	// DuplicateProb is the chance a webhook event is emitted twice.
	DuplicateProb float64
	// ReorderProb is the chance "read" is emitted before "delivered".
	ReorderProb float64
	// SentDelay, DeliveredDelay, ReadDelay are the delays after the send (defaults 20 ms,
	// 60 ms, 120 ms); each event gets up to 50 % extra jitter.
	SentDelay, DeliveredDelay, ReadDelay time.Duration
}

// ReplyConfig shapes simulated user replies to delivered template messages.
type ReplyConfig struct {
	// Prob is the chance a delivered message gets a reply.
	Prob float64
	// OptOutShare, ButtonShare: shares of replies that are an opt-out word, or a tap on the
	// template's first quick-reply button (when it has one); the rest are ordinary text.
	// Defaults 0.3 and 0.4 when both zero.
	OptOutShare, ButtonShare float64
	// Delay after the read/delivered status (default 150 ms).
	Delay time.Duration
}

// Faults are injected failures of the send endpoint.
type Faults struct {
	// ServerErrorRate is the chance a send answers 500/503 (half with a Graph body, code 2,
	// half with none).
	ServerErrorRate float64 `json:"server_error_rate"`
	// SlowRate is the chance a send waits SlowDelay (default 2 s) before answering.
	SlowRate  float64       `json:"slow_rate"`
	SlowDelay time.Duration `json:"slow_delay"`
	// ThroughputStorm makes every send fail with 130429.
	ThroughputStorm bool `json:"throughput_storm"`
	// LostResponseRate is the chance an accepted send's answer is held back for SlowDelay: the
	// message is accepted (counted, its webhooks follow) but a client with a shorter timeout
	// never learns it, as when Meta processes a request whose response is lost.
	LostResponseRate float64 `json:"lost_response_rate"`
	// Blocked makes every send fail with 368, as Meta answers for a number it restricted for
	// policy violations.
	Blocked bool `json:"blocked"`
}

// WebhookConfig tunes webhook emission.
type WebhookConfig struct {
	// BatchSize is the maximum events per POST (default 50); FlushInterval the longest an event
	// waits for a batch to fill (default 50 ms).
	BatchSize     int
	FlushInterval time.Duration
	// Senders is the number of concurrent POSTing goroutines (default 4); QueueSize bounds the
	// batch queue (default 1024).
	Senders   int
	QueueSize int
	// A batch the receiver does not answer 2xx is retried, as Meta retries "with decreasing
	// frequency" for up to 7 days: the first gap is RetryBase (default 100 ms), each next one
	// doubles up to MaxRetryGap (default 1 min), and the batch is given up once the next
	// attempt would come more than MaxAge (default 24 h) after the first one. The simulator's
	// state lives in memory, so the default is shorter than Meta's week.
	RetryBase   time.Duration
	MaxRetryGap time.Duration
	MaxAge      time.Duration
	// MaxAttempts > 0 also gives a batch up after that many attempts: an option for tests
	// that want to see a dead receiver's events dropped quickly. Default 0: no limit.
	MaxAttempts int
	// HTTPClient posts the webhooks (default a pooled client with a 10 s timeout).
	HTTPClient *http.Client
}

func (c Config) withDefaults() Config {
	if len(c.Numbers) == 0 {
		c.Numbers = []Number{DefaultNumber()}
	}
	for i := range c.Numbers {
		n := &c.Numbers[i]
		n.WABAID = cmp.Or(n.WABAID, DefaultWABAID)
		n.DisplayPhoneNumber = cmp.Or(n.DisplayPhoneNumber, DefaultDisplayNumber)
		n.VerifiedName = cmp.Or(n.VerifiedName, "Tienda Pregón")
		n.ThroughputLevel = cmp.Or(n.ThroughputLevel, "STANDARD")
		n.MessagingLimitTier = cmp.Or(n.MessagingLimitTier, "TIER_2K")
		n.QualityRating = cmp.Or(n.QualityRating, "GREEN")
	}
	s := &c.Statuses
	if s.DeliveredProb == 0 && s.ReadProb == 0 && s.FailedProb == 0 {
		s.DeliveredProb, s.ReadProb = 0.95, 0.6
	}
	if len(s.FailureCodes) == 0 {
		s.FailureCodes = map[int]float64{131026: 4, 131049: 3, 131050: 2, 130472: 1}
	}
	s.SentDelay = cmp.Or(s.SentDelay, 20*time.Millisecond)
	s.DeliveredDelay = cmp.Or(s.DeliveredDelay, 60*time.Millisecond)
	s.ReadDelay = cmp.Or(s.ReadDelay, 120*time.Millisecond)
	r := &c.Replies
	if r.OptOutShare == 0 && r.ButtonShare == 0 {
		r.OptOutShare, r.ButtonShare = 0.3, 0.4
	}
	r.Delay = cmp.Or(r.Delay, 150*time.Millisecond)
	c.Faults.SlowDelay = cmp.Or(c.Faults.SlowDelay, 2*time.Second)
	w := &c.Webhooks
	w.BatchSize = cmp.Or(w.BatchSize, 50)
	w.FlushInterval = cmp.Or(w.FlushInterval, 50*time.Millisecond)
	w.Senders = cmp.Or(w.Senders, 4)
	w.QueueSize = cmp.Or(w.QueueSize, 1024)
	w.RetryBase = cmp.Or(w.RetryBase, 100*time.Millisecond)
	w.MaxRetryGap = cmp.Or(w.MaxRetryGap, time.Minute)
	w.MaxAge = cmp.Or(w.MaxAge, 24*time.Hour)
	if w.HTTPClient == nil {
		w.HTTPClient = &http.Client{Timeout: 10 * time.Second, Transport: whatsapp.NewTransport()}
	}
	c.PairInterval = cmp.Or(c.PairInterval, 6*time.Second)
	c.PairBurst = cmp.Or(c.PairBurst, 45)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}
