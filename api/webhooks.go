package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/pregon/pregon/internal/config"
	"github.com/pregon/pregon/internal/metrics"
	"github.com/pregon/pregon/jobs"
	"github.com/pregon/pregon/store"
	"github.com/pregon/pregon/whatsapp"
)

// WebhookPath is where Meta (and the built-in simulator) deliver webhooks.
const WebhookPath = "/webhooks/whatsapp"

// MaxWebhookBody is the largest webhook body accepted (Meta sends up to 3 MB).
const MaxWebhookBody = 4 << 20

// webhookRouteTTL is how long the endpoint trusts a cached number → app secret lookup. A rotated
// app secret takes effect within this time.
const webhookRouteTTL = 2 * time.Second

// SimulatorAppSecret is the app secret the built-in simulator signs its webhooks with, and the
// endpoint accepts for numbers on the simulator (use_simulator, or no credentials): derived
// from the installation's secret key, so every process agrees on it without another setting.
// It equals the app secret cmd/pregon's SimulatorSecrets gives the embedded simulator.
func SimulatorAppSecret(cfg config.Config) string {
	m := hmac.New(sha256.New, cfg.SecretKey)
	m.Write([]byte("pregon simulator app secret"))
	return hex.EncodeToString(m.Sum(nil))[:32]
}

// webhookEndpoint is the state of the webhook endpoint: a short-lived cache of the numbers
// bodies name, with their decrypted app secrets.
type webhookEndpoint struct {
	s         *Server
	simSecret []byte
	ttl       time.Duration
	logBad    rate.Sometimes

	mu       sync.Mutex
	cache    map[string]routeCacheEntry // "p:<phone_number_id>" | "w:<waba_id>"
	inflight map[string]chan struct{}   // keys being looked up; closed when cached

	commits *groupCommit

	jobsMu   sync.Mutex
	idleJobs []*reusableJob // the committers' recent jobs, most recently used last
}

type routeCacheEntry struct {
	routes []resolvedRoute
	at     time.Time
}

type resolvedRoute struct {
	store.WebhookRoute
	secrets [][]byte
}

// mountWebhooks registers the webhook endpoint (outside /api/v1: Meta authenticates by
// signature, not by token).
func (s *Server) mountWebhooks(e *echo.Echo) {
	h := &webhookEndpoint{
		s: s, simSecret: []byte(SimulatorAppSecret(s.cfg)), ttl: webhookRouteTTL,
		logBad: rate.Sometimes{Interval: time.Second}, cache: map[string]routeCacheEntry{}, inflight: map[string]chan struct{}{},
	}
	h.commits = &groupCommit{store: h.storeBatch, slots: make(chan struct{}, webhookCommitters), max: webhookCommitBatch}
	e.GET(WebhookPath, h.verify)
	e.POST(WebhookPath, h.receive)
}

// verify answers Meta's subscription handshake: 200 with the raw challenge when the verify
// token is some number's, 403 otherwise.
func (h *webhookEndpoint) verify(c echo.Context) error {
	q := c.QueryParams()
	token := q.Get("hub.verify_token")
	known, err := store.WebhookVerifyTokenKnown(c.Request().Context(), h.s.db, token)
	if err != nil {
		return err
	}
	if known {
		if challenge, ok := whatsapp.VerifyChallenge(q, token); ok {
			return c.String(http.StatusOK, challenge)
		}
	}
	return c.String(http.StatusForbidden, "forbidden")
}

// routingEnvelope is the part of a body the endpoint reads to know whose secret signed it.
type routingEnvelope struct {
	Entry []struct {
		ID      whatsapp.FlexString `json:"id"`
		Changes []struct {
			Value struct {
				Metadata struct {
					PhoneNumberID whatsapp.FlexString `json:"phone_number_id"`
				} `json:"metadata"`
			} `json:"value"`
		} `json:"changes"`
	} `json:"entry"`
}

var (
	rePNID  = regexp.MustCompile(`"phone_number_id"\s*:\s*"?([0-9]{3,30})`)
	reEntry = regexp.MustCompile(`"entry"\s*:\s*\[\s*\{\s*"id"\s*:\s*"?([0-9]{3,30})`)
)

// routingKeys lists what a body names: each change's phone_number_id, or its entry's WABA id
// when the change has none; ok is false when the body is not JSON (keys then come from a
// lenient scan of the bytes). authKeys are the entries' WABAs that are not routing keys: the
// body is not routed by them, but processing acts on an entry's WABA for WABA-level fields
// (account, quality, templates), so their numbers' secrets must have signed the body too (a
// body signed by workspace B naming A's WABA with B's phone_number_id in a metadata object
// must not reach A's WABA).
func routingKeys(body []byte) (keys, authKeys []string, ok bool) {
	seen := map[string]bool{}
	add := func(k string) {
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	var env routingEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		for _, m := range rePNID.FindAllSubmatch(body, 100) {
			add("p:" + string(m[1]))
		}
		if m := reEntry.FindSubmatch(body); m != nil {
			add("w:" + string(m[1]))
		}
		return keys, nil, false
	}
	for _, en := range env.Entry {
		for _, ch := range en.Changes {
			if pn := ch.Value.Metadata.PhoneNumberID.String(); pn != "" {
				add("p:" + pn)
			} else if en.ID != "" {
				add("w:" + en.ID.String())
			}
		}
		if len(en.Changes) == 0 && en.ID != "" {
			add("w:" + en.ID.String())
		}
	}
	for _, en := range env.Entry {
		if k := "w:" + en.ID.String(); en.ID != "" && !seen[k] {
			seen[k] = true
			authKeys = append(authKeys, k)
		}
	}
	return keys, authKeys, true
}

// resolve returns the numbers each key names (empty for unknown keys), from the cache or one
// query for the keys missing from it. One request looks a key up at a time: when its cache
// entry expires under load, the others wait for that lookup instead of all querying (and
// decrypting app secrets) at once.
func (h *webhookEndpoint) resolve(ctx context.Context, keys []string) (map[string][]resolvedRoute, error) {
	out := make(map[string][]resolvedRoute, len(keys))
	for {
		now := time.Now()
		var mine []string
		var wait []chan struct{}
		h.mu.Lock()
		for _, k := range keys {
			if _, done := out[k]; done {
				continue
			}
			if e, ok := h.cache[k]; ok && now.Sub(e.at) < h.ttl {
				out[k] = e.routes
			} else if ch, ok := h.inflight[k]; ok {
				wait = append(wait, ch)
			} else {
				h.inflight[k] = make(chan struct{})
				mine = append(mine, k)
			}
		}
		h.mu.Unlock()
		if len(mine) > 0 {
			if err := h.lookup(ctx, mine, out); err != nil {
				return nil, err
			}
		}
		if len(wait) == 0 {
			return out, nil
		}
		for _, ch := range wait {
			select {
			case <-ch:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		// The keys waited for are cached now (or their lookup failed: look them up ourselves).
	}
}

// lookup reads the numbers of keys (which this request holds in h.inflight) from the database,
// caches them, adds them to out, and releases the requests waiting for them.
func (h *webhookEndpoint) lookup(ctx context.Context, keys []string, out map[string][]resolvedRoute) error {
	defer func() {
		h.mu.Lock()
		for _, k := range keys {
			close(h.inflight[k])
			delete(h.inflight, k)
		}
		h.mu.Unlock()
	}()
	now := time.Now()
	var pnids, wabas []string
	for _, k := range keys {
		if k[0] == 'p' {
			pnids = append(pnids, k[2:])
		} else {
			wabas = append(wabas, k[2:])
		}
	}
	routes, err := store.WebhookRoutesFind(ctx, h.s.db, pnids, wabas)
	if err != nil {
		return err
	}
	fresh := map[string][]resolvedRoute{}
	for _, k := range keys {
		fresh[k] = nil
	}
	for _, r := range routes {
		rr := resolvedRoute{WebhookRoute: r}
		if len(r.AppSecretEnc) > 0 && h.s.box != nil {
			if sec, err := h.s.box.Open(r.AppSecretEnc); err == nil && sec != "" {
				rr.secrets = append(rr.secrets, []byte(sec))
			} else if err != nil {
				h.s.log.ErrorContext(ctx, "cannot decrypt the app secret of a sender number", "sender_number_id", r.NumberID, "error", err)
			}
		}
		if r.UseSimulator || len(r.AppSecretEnc) == 0 {
			rr.secrets = append(rr.secrets, h.simSecret)
		}
		if k := "p:" + r.PhoneNumberID; containsKey(fresh, k) {
			fresh[k] = append(fresh[k], rr)
		}
		if k := "w:" + r.WABAID; containsKey(fresh, k) {
			fresh[k] = append(fresh[k], rr)
		}
	}
	h.mu.Lock()
	if len(h.cache) > 10000 { // unknown ids from forged bodies must not grow it without bound
		h.cache = map[string]routeCacheEntry{}
	}
	for k, v := range fresh {
		h.cache[k] = routeCacheEntry{routes: v, at: now}
		out[k] = v
	}
	h.mu.Unlock()
	return nil
}

func containsKey(m map[string][]resolvedRoute, k string) bool {
	_, ok := m[k]
	return ok
}

// webhookVerdict is what the endpoint decided about a body.
type webhookVerdict struct {
	ok     bool
	result string // accepted | bad_signature | unroutable
	// scopes are the workspaces whose numbers' secrets verified the body, each with its number
	// when only one of them did: the body is stored once per workspace, and processing acts only
	// on that workspace's numbers (and on that number alone when one is named). Empty for a body
	// accepted by the simulator's secret without naming a number.
	scopes []webhookScope
}

type webhookScope struct {
	workspaceID int64
	numberID    *int64
}

// check verifies the signature against the app secret of every number (or WABA) the body
// names: each named key, and each of authKeys, must be signed by one of its own numbers'
// secrets, so a body signed with workspace B's secret can never speak for workspace A's number
// or WABA. Keys naming nothing known are ignored (processing drops them); at least one of keys
// must be known. The numbers whose secret verified the body are the only ones processing may
// act on.
func (h *webhookEndpoint) check(ctx context.Context, body []byte, header string, keys, authKeys []string) (webhookVerdict, error) {
	if header == "" {
		return webhookVerdict{result: "bad_signature"}, nil
	}
	all := keys
	if len(authKeys) > 0 {
		all = append(slices.Clip(keys), authKeys...)
	}
	resolved, err := h.resolve(ctx, all)
	if err != nil {
		return webhookVerdict{}, err
	}
	memo := map[string]bool{}
	good := func(secret []byte) bool {
		k := string(secret)
		v, ok := memo[k]
		if !ok {
			v = whatsapp.VerifySignature(body, header, secret)
			memo[k] = v
		}
		return v
	}
	v := webhookVerdict{result: "unroutable"}
	var verified []resolvedRoute
	for i, k := range all {
		routes := resolved[k]
		if len(routes) == 0 {
			continue
		}
		signed := false
		for _, r := range routes {
			for _, sec := range r.secrets {
				if good(sec) {
					signed = true
					if !slices.ContainsFunc(verified, func(x resolvedRoute) bool { return x.NumberID == r.NumberID }) {
						verified = append(verified, r)
					}
					break
				}
			}
		}
		if !signed {
			return webhookVerdict{result: "bad_signature"}, nil
		}
		if i < len(keys) {
			v.ok, v.result = true, "accepted"
		}
	}
	for _, r := range verified {
		i := slices.IndexFunc(v.scopes, func(s webhookScope) bool { return s.workspaceID == r.WorkspaceID })
		if i < 0 {
			id := r.NumberID
			v.scopes = append(v.scopes, webhookScope{workspaceID: r.WorkspaceID, numberID: &id})
		} else {
			v.scopes[i].numberID = nil // several numbers of the workspace verified it
		}
	}
	return v, nil
}

// checkAnySecret is the last resort for a signed body too malformed to name a number: any
// known number's secret that verifies it.
func (h *webhookEndpoint) checkAnySecret(ctx context.Context, body []byte, header string) (webhookVerdict, error) {
	if header == "" {
		return webhookVerdict{result: "bad_signature"}, nil
	}
	all, err := store.WebhookRoutesAll(ctx, h.s.db, 200)
	if err != nil {
		return webhookVerdict{}, err
	}
	if whatsapp.VerifySignature(body, header, h.simSecret) {
		return webhookVerdict{ok: true, result: "accepted"}, nil
	}
	for _, r := range all {
		if len(r.AppSecretEnc) == 0 || h.s.box == nil {
			continue
		}
		if sec, err := h.s.box.Open(r.AppSecretEnc); err == nil && whatsapp.VerifySignature(body, header, []byte(sec)) {
			num := r.NumberID
			return webhookVerdict{ok: true, result: "accepted", scopes: []webhookScope{{workspaceID: r.WorkspaceID, numberID: &num}}}, nil
		}
	}
	return webhookVerdict{result: "bad_signature"}, nil
}

// receive stores a signed webhook body and its processing job in one transaction and answers
// 200; anything unsigned or signed with the wrong secret gets 401 and stores nothing.
func (h *webhookEndpoint) receive(c echo.Context) error {
	start := time.Now()
	defer func() { metrics.WebhookAckLatency.Observe(time.Since(start).Seconds()) }()
	req := c.Request()
	ctx := req.Context()
	if req.ContentLength > MaxWebhookBody {
		metrics.WebhookRequests.WithLabelValues("too_large").Inc()
		return Errorf(http.StatusRequestEntityTooLarge, "too_large", "webhook body over %d bytes", MaxWebhookBody)
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), req.Body, MaxWebhookBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			metrics.WebhookRequests.WithLabelValues("too_large").Inc()
			return Errorf(http.StatusRequestEntityTooLarge, "too_large", "webhook body over %d bytes", MaxWebhookBody)
		}
		metrics.WebhookRequests.WithLabelValues("error").Inc()
		return Errorf(http.StatusBadRequest, "bad_request", "reading webhook body: %v", err)
	}
	header := req.Header.Get(whatsapp.SignatureHeader)
	keys, authKeys, parsed := routingKeys(body)
	verdict, err := h.check(ctx, body, header, keys, authKeys)
	unroutable := false
	if err == nil && !verdict.ok && verdict.result == "unroutable" {
		var anySecret webhookVerdict
		anySecret, err = h.checkAnySecret(ctx, body, header)
		switch {
		case !parsed:
			verdict = anySecret
		case err == nil && anySecret.ok:
			// Signed by this installation's app, naming no number it has (one removed from
			// Pregón while Meta still sends): kept for inspection, acting on nothing, and
			// answered 200, or Meta retries it for days and may disable the subscription.
			verdict, unroutable = webhookVerdict{ok: true, result: "unroutable"}, true
		}
	}
	if err != nil {
		metrics.WebhookRequests.WithLabelValues("error").Inc()
		return fmt.Errorf("verifying a webhook: %w", err)
	}
	if !verdict.ok {
		metrics.WebhookRequests.WithLabelValues(verdict.result).Inc()
		h.logBad.Do(func() {
			h.s.log.WarnContext(ctx, "webhook rejected", "result", verdict.result, "remote_ip", c.RealIP(),
				"keys", keys, "signature_present", header != "", "bytes", len(body))
		})
		return Errorf(http.StatusUnauthorized, verdict.result, "firma X-Hub-Signature-256 ausente o inválida para los números que nombra el cuerpo")
	}
	// One row per workspace whose numbers verified the body (almost always one): processing
	// acts on the numbers of the row's workspace only (and on its number, when one is named).
	rows := make([]store.WebhookInboxRow, 0, 1)
	for _, sc := range verdict.scopes {
		ws := sc.workspaceID
		rows = append(rows, store.WebhookInboxRow{WorkspaceID: &ws, SenderNumberID: sc.numberID, Body: body, Status: store.InboxPending})
	}
	if len(rows) == 0 {
		rows = append(rows, store.WebhookInboxRow{Body: body, Status: store.InboxPending})
	}
	if !parsed {
		rows = rows[:1] // kept for inspection only, never processed
	}
	for _, row := range rows {
		if !parsed {
			row.Status, row.Error = store.InboxUnparseable, "not valid JSON"
		} else if unroutable {
			row.Status, row.Error = store.InboxUnroutable, "names no number of this installation"
		}
		if err := h.commits.submit(ctx, row); err != nil {
			metrics.WebhookRequests.WithLabelValues("error").Inc()
			return fmt.Errorf("storing a webhook: %w", err)
		}
	}
	if !parsed {
		metrics.WebhookRequests.WithLabelValues("unparseable").Inc()
		h.s.log.WarnContext(ctx, "signed webhook is not valid JSON: stored as unparseable", "bytes", len(body))
	} else if unroutable {
		metrics.WebhookRequests.WithLabelValues("unroutable").Inc()
		h.logBad.Do(func() {
			h.s.log.WarnContext(ctx, "signed webhook names no number of this installation: stored as unroutable", "keys", keys)
		})
	} else {
		metrics.WebhookRequests.WithLabelValues("accepted").Inc()
	}
	return c.NoContent(http.StatusOK)
}

// getNumberPhoneAppHealth reports a number's health as webhooks see it: phone-app silence on a
// coexistence number (warning from day 10), status, quality, limit and recent events.
func (s *Server) getNumberPhoneAppHealth(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return errNotFound
	}
	h, err := store.PhoneAppHealthGet(c.Request().Context(), s.db, principal(c).WorkspaceID, id, s.now())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, h)
}

// Group commit: under load, the bodies of concurrent requests are stored with their jobs in a
// shared transaction (one commit for many requests); each request is answered only after that
// transaction commits. At most webhookCommitters transactions run at once; a request that finds
// a free slot commits whatever is pending (itself included) at once, so an idle endpoint adds no
// delay.
const (
	webhookCommitters  = 4
	webhookCommitBatch = 200
)

type commitReq struct {
	row   store.WebhookInboxRow
	done  chan error
	taken bool // in a batch being committed (guarded by groupCommit.mu)
}

type groupCommit struct {
	store func(ctx context.Context, rows []store.WebhookInboxRow) error
	slots chan struct{}
	max   int

	mu      sync.Mutex
	pending []*commitReq
}

// submit stores row (and its job) and returns once the transaction holding it has committed.
// A request either commits a batch itself (when it gets a slot while rows are pending) or
// waits for the committer that took its row; it never polls.
func (g *groupCommit) submit(ctx context.Context, row store.WebhookInboxRow) error {
	r := &commitReq{row: row, done: make(chan error, 1)}
	g.mu.Lock()
	g.pending = append(g.pending, r)
	g.mu.Unlock()
	for {
		select {
		case err := <-r.done:
			return err
		case g.slots <- struct{}{}:
			g.commitPending(ctx)
			<-g.slots
			g.mu.Lock()
			taken := r.taken
			g.mu.Unlock()
			if taken {
				return <-r.done
			}
		}
	}
}

// commitPending commits up to max pending rows in one transaction and answers their requests.
func (g *groupCommit) commitPending(ctx context.Context) {
	g.mu.Lock()
	n := min(len(g.pending), g.max)
	batch := g.pending[:n:n]
	g.pending = g.pending[n:]
	for _, b := range batch {
		b.taken = true
	}
	g.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	rows := make([]store.WebhookInboxRow, len(batch))
	for i, b := range batch {
		rows[i] = b.row
	}
	// Not the request's context: the transaction serves other requests too.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	err := g.store(cctx, rows)
	cancel()
	for _, b := range batch {
		b.done <- err
	}
}

// storeBatch inserts inbox rows and the processing job of the pending ones in one transaction.
// The job goes first so the rows can name it: a batch that processes them deletes it.
func (h *webhookEndpoint) storeBatch(ctx context.Context, rows []store.WebhookInboxRow) error {
	j := h.takeJob()
	defer h.putJob(j)
	return pgx.BeginFunc(ctx, h.s.db, func(tx pgx.Tx) error {
		if slices.ContainsFunc(rows, func(r store.WebhookInboxRow) bool { return r.Status == store.InboxPending }) {
			id, err := h.processingJob(ctx, tx, j)
			if err != nil {
				return fmt.Errorf("enqueuing the processing of %d webhooks: %w", len(rows), err)
			}
			for i := range rows {
				rows[i].JobID = &id
			}
		}
		return store.WebhookInboxInsertMany(ctx, tx, rows)
	})
}

// webhookJobReuse is how long a committer keeps giving its bodies to the job it inserted, while
// River has not started it: under load, one job (and one River insert, notification, fetch and
// deletion) for many commits instead of one each. Short, so that a job held by commits after
// commits is not skipped by River's fetch for long.
const webhookJobReuse = 100 * time.Millisecond

// reusableJob is the processing job a committer inserted last.
type reusableJob struct {
	id int64
	at time.Time
}

// takeJob gives a committing transaction the job state of a committer: the most recently used
// one, so that commits one after the other share a job. At most webhookCommitters transactions
// commit at once, so there are as many states.
func (h *webhookEndpoint) takeJob() *reusableJob {
	h.jobsMu.Lock()
	defer h.jobsMu.Unlock()
	if n := len(h.idleJobs); n > 0 {
		j := h.idleJobs[n-1]
		h.idleJobs = h.idleJobs[:n-1]
		return j
	}
	return &reusableJob{}
}

func (h *webhookEndpoint) putJob(j *reusableJob) {
	h.jobsMu.Lock()
	defer h.jobsMu.Unlock()
	if len(h.idleJobs) < webhookCommitters {
		h.idleJobs = append(h.idleJobs, j)
	}
}

// processingJob returns the job that will process the bodies tx stores: the committer's recent
// job if River has not started it (locked until tx ends, so that neither River nor a
// processing batch starts or deletes it before these bodies are visible), else a new one.
func (h *webhookEndpoint) processingJob(ctx context.Context, tx pgx.Tx, j *reusableJob) (int64, error) {
	if j.id != 0 && time.Since(j.at) < webhookJobReuse {
		held, err := store.WebhookJobHold(ctx, tx, j.id)
		if err != nil {
			return 0, err
		}
		if held {
			return j.id, nil
		}
	}
	// One job for the bodies of this commit (and of the next ones, see webhookJobReuse); it
	// processes them, and more pending ones, in one transaction. If tx rolls back, the job does
	// not exist and the next commit inserts another.
	res, err := h.s.river.InsertTx(ctx, tx, jobs.ProcessWebhookArgs{}, nil)
	if err != nil {
		return 0, err
	}
	j.id, j.at = res.Job.ID, time.Now()
	return j.id, nil
}
