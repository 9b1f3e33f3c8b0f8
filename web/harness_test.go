package web

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pregon/pregon/api"
	"github.com/pregon/pregon/internal/config"
	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/internal/secret"
	"github.com/pregon/pregon/jobs"
	"github.com/pregon/pregon/store"
)

const testPassword = "contraseña-segura-1"

// rawKey matches a message key that reached the page untranslated.
var rawKey = regexp.MustCompile(`\b(?:common|nav|dash|settings|camp|wiz|tmpl|rep|imp|seg|contacts|state|role|kind|atype|funnel|actor|consent|tl|cf|wd|excl|error|login|chart|number\.status)\.[a-z_]+[a-z]\b`)

// testEnv is the real API server with the UI registered, on a fresh database with two
// workspaces: A ("Tienda Andina", a user per role; the owner also belongs to B) and B.
type testEnv struct {
	t     testing.TB
	db    *pgxpool.Pool
	srv   *api.Server
	http  *httptest.Server
	cfg   config.Config
	box   *secret.Box
	wsA   store.Workspace
	wsB   store.Workspace
	users map[store.Role]store.User
	userB store.User // owner of B only
}

func newTestEnv(t testing.TB) *testEnv { return newTestEnvWith(t, envOptions{}) }

// envOptions change what newTestEnvWith builds: the configuration, and a wrapper around the
// server's handler (to watch requests).
type envOptions struct {
	configure func(*config.Config)
	wrap      func(http.Handler) http.Handler
}

func newTestEnvWith(t testing.TB, o envOptions) *testEnv {
	t.Helper()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	cfg, err := config.Load(func(string) string { return "" }, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = t.TempDir()
	cfg.SecretKey = bytes.Repeat([]byte{7}, 32)
	if o.configure != nil {
		o.configure(&cfg)
	}
	box, _ := secret.New(cfg.SecretKey)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	client, err := jobs.NewClient(db, jobs.Deps{Config: cfg, DB: db, Box: box, Logger: log}, jobs.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(api.Deps{Config: cfg, DB: db, River: client, Box: box, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := Register(srv, Deps{DB: db, River: client, Box: box, Config: cfg, Logger: log}); err != nil {
		t.Fatal(err)
	}
	env := &testEnv{t: t, db: db, srv: srv, cfg: cfg, box: box, users: map[store.Role]store.User{}}
	h := srv.Handler()
	if o.wrap != nil {
		h = o.wrap(h)
	}
	env.http = httptest.NewServer(h)
	t.Cleanup(env.http.Close)
	// No quiet hours: the tests run at any hour.
	if env.wsA, err = store.WorkspaceCreate(ctx, db, store.WorkspaceCreateParams{Name: "Tienda Andina", Settings: store.NoQuietHours}); err != nil {
		t.Fatal(err)
	}
	if env.wsB, err = store.WorkspaceCreate(ctx, db, store.WorkspaceCreateParams{Name: "Zapatería Sur", TimeZone: "America/Mexico_City", DefaultCountry: "MX",
		Settings: store.NoQuietHours}); err != nil {
		t.Fatal(err)
	}
	for _, role := range []store.Role{store.RoleOwner, store.RoleMarketer, store.RoleAnalyst} {
		u, err := store.UserCreate(ctx, db, store.UserCreateParams{WorkspaceID: env.wsA.ID, Email: string(role) + "@tienda.test",
			Name: "Ana " + string(role), Password: testPassword, Role: role})
		if err != nil {
			t.Fatal(err)
		}
		env.users[role] = u
	}
	// A's owner is also an analyst of B (added by the installation: no invitation to accept).
	if _, err := store.UserCreate(ctx, db, store.UserCreateParams{WorkspaceID: env.wsB.ID, Email: "owner@tienda.test", Role: store.RoleAnalyst,
		Installation: true}); err != nil {
		t.Fatal(err)
	}
	if env.userB, err = store.UserCreate(ctx, db, store.UserCreateParams{WorkspaceID: env.wsB.ID, Email: "dueno@zapateria.test",
		Name: "Beto", Password: testPassword, Role: store.RoleOwner}); err != nil {
		t.Fatal(err)
	}
	return env
}

// browser is an HTTP client with a cookie jar and a session in one workspace.
type browser struct {
	env    *testEnv
	c      *http.Client
	csrf   string
	follow bool
}

// exec runs a statement of a test's setup on the test database.
func (e *testEnv) exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	if _, err := e.db.Exec(context.Background(), sql, args...); err != nil {
		t.Fatal(err)
	}
}

// as returns a browser logged in to workspace A with role (sessions are made directly in the
// store, so tests do not spend the login rate limit).
func (e *testEnv) as(role store.Role) *browser { return e.session(e.users[role].ID, e.wsA.ID) }

func (e *testEnv) session(userID, workspaceID int64) *browser {
	e.t.Helper()
	secret, sess, err := store.SessionCreate(context.Background(), e.db, userID, workspaceID)
	if err != nil {
		e.t.Fatal(err)
	}
	b := e.anon()
	u, _ := url.Parse(e.http.URL)
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: secret, Path: "/"}})
	b.csrf = sess.CSRFToken
	return b
}

// anon is a browser without a session.
func (e *testEnv) anon() *browser {
	jar, _ := cookiejar.New(nil)
	b := &browser{env: e, follow: true}
	b.c = &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if !b.follow {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	return b
}

// page is a fetched response parsed as HTML.
type htmlPage struct {
	Status int
	Doc    *goquery.Document
	Body   string
	URL    string
	Header http.Header
}

func (b *browser) do(req *http.Request) htmlPage {
	b.env.t.Helper()
	res, err := b.c.Do(req)
	if err != nil {
		b.env.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader(body))
	if err != nil {
		b.env.t.Fatalf("parsing %s: %v", req.URL, err)
	}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		if m := rawKey.FindString(doc.Find("body").Text()); m != "" {
			b.env.t.Errorf("%s shows the message key %q instead of its text", req.URL.Path, m)
		}
	}
	return htmlPage{Status: res.StatusCode, Doc: doc, Body: string(body), URL: res.Request.URL.Path, Header: res.Header}
}

func (b *browser) get(path string) htmlPage {
	b.env.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.env.http.URL+path, nil)
	return b.do(req)
}

// post submits a form with the session's CSRF token (unless form sets csrf_token itself).
func (b *browser) post(path string, form url.Values) htmlPage {
	b.env.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf_token"]; !ok {
		form.Set("csrf_token", b.csrf)
	}
	req, _ := http.NewRequest(http.MethodPost, b.env.http.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

func (p htmlPage) expect(t testing.TB, status int) htmlPage {
	t.Helper()
	if p.Status != status {
		t.Fatalf("%s: status %d, want %d; body:\n%s", p.URL, p.Status, status, truncate(p.Body, 3000))
	}
	return p
}

// has fails unless selector matches at least one element.
func (p htmlPage) has(t testing.TB, selector string) *goquery.Selection {
	t.Helper()
	s := p.Doc.Find(selector)
	if s.Length() == 0 {
		t.Fatalf("%s: no element matches %q; body:\n%s", p.URL, selector, truncate(p.Body, 4000))
	}
	return s
}

// hasNot fails if selector matches.
func (p htmlPage) hasNot(t testing.TB, selector string) {
	t.Helper()
	if n := p.Doc.Find(selector).Length(); n > 0 {
		t.Fatalf("%s: %d elements match %q, want none", p.URL, n, selector)
	}
}

// text is the trimmed text of the elements selector matches.
func (p htmlPage) text(selector string) string {
	return strings.Join(strings.Fields(p.Doc.Find(selector).Text()), " ")
}

func (p htmlPage) contains(t testing.TB, selector, want string) {
	t.Helper()
	if got := p.text(selector); !strings.Contains(got, want) {
		t.Fatalf("%s: %q text = %q, want it to contain %q", p.URL, selector, got, want)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

var allRoles = []store.Role{store.RoleOwner, store.RoleMarketer, store.RoleAnalyst}

func itoa(n int64) string { return fmt.Sprint(n) }
