package segments

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/store"
)

// fixtureNow is "now" for every fixture test.
var fixtureNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// fixture is a database with two workspaces: A holds five eligible contacts covering every
// field, operator and type mismatch, plus one ineligible contact per exclusion reason and an
// erased one; B holds a contact that matches everything and must never appear.
type fixture struct {
	db        *pgxpool.Pool
	wsA, wsB  int64
	imp1      int64
	imp2      int64
	blackFri  int64 // campaign launched 5 days ago
	oldCamp   int64 // campaign launched 60 days ago
	campaignB int64
	names     map[int64]string
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	db := pgtest.NewDB(t)
	f := &fixture{db: db, names: map[int64]string{}}
	for _, p := range []*int64{&f.wsA, &f.wsB} {
		ws, err := store.WorkspaceCreate(ctx, db, store.WorkspaceCreateParams{Name: "ws", TimeZone: "UTC"})
		if err != nil {
			t.Fatal(err)
		}
		*p = ws.ID
	}
	q := func(sql string, args ...any) int64 {
		t.Helper()
		var id int64
		if err := db.QueryRow(ctx, sql, args...).Scan(&id); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return id
	}
	imp := `INSERT INTO imports (workspace_id, filename, format, file_sha256, file_size) VALUES ($1, 'x.xlsx', 'xlsx', 'x', 1) RETURNING id`
	f.imp1, f.imp2 = q(imp, f.wsA), q(imp, f.wsA)
	now := fixtureNow
	day := 24 * time.Hour
	type contact struct {
		ws                            int64
		name, phone, country, lang    string
		tags                          []string
		attrs                         string
		consentAt                     *time.Time
		source                        string
		importID                      *int64
		lastInbound                   *time.Time
		created                       time.Time
		optedOut, stopped, bad, erase bool
	}
	tp := func(t time.Time) *time.Time { return &t }
	consent := tp(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
	contacts := []contact{
		{ws: f.wsA, name: "Ana", phone: "+573001112233", country: "CO", lang: "es_CO", tags: []string{"vip", "mayorista"},
			attrs:     `{"edad":30,"ciudad":"Bogotá","nacimiento":"1994-05-10","activo":true,"puntos":120.5,"renovacion":"2026-12-01"}`,
			consentAt: tp(time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC)), source: "import", importID: &f.imp1,
			lastInbound: tp(now.Add(-2 * time.Hour)), created: time.Date(2026, 11, 15, 9, 0, 0, 0, time.UTC)},
		{ws: f.wsA, name: "Bruno", phone: "+5215512345678", country: "MX", lang: "es", tags: []string{"vip"},
			attrs:     `{"edad":"abc","ciudad":"CDMX","nacimiento":"2023-02-30","activo":"sí","puntos":"12"}`,
			consentAt: tp(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)), source: "Formulario",
			lastInbound: tp(now.Add(-40 * day)), created: time.Date(2026, 8, 1, 15, 0, 0, 0, time.UTC)},
		{ws: f.wsA, name: "Carla", phone: "+5491112345678", country: "AR", lang: "pt-BR", tags: []string{},
			attrs:     `{"edad":45,"ciudad":"Buenos Aires","nacimiento":"abc","activo":false,"compra":"2026-11-20"}`,
			consentAt: tp(time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)), source: "import", importID: &f.imp1,
			created: time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC)},
		{ws: f.wsA, name: "Diego", phone: "+573009998877", country: "CO", lang: "en", tags: []string{"mayorista"},
			attrs:     `{"edad":null,"ciudad":57,"nacimiento":19940510,"activo":"true","puntos":[1,2]}`,
			consentAt: tp(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)), source: "manual", importID: &f.imp2,
			created: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)},
		{ws: f.wsA, name: "Elena 50%", phone: "+51987654321", country: "PE", lang: "", tags: []string{"50%_off"},
			attrs: `{}`, consentAt: tp(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)), source: "import",
			created: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)},
		// ineligible, all "vip", edad 30, from Colombia
		{ws: f.wsA, name: "Felipe", phone: "+573000000001", country: "CO", tags: []string{"vip"}, attrs: `{"edad":30}`, consentAt: consent, created: now.Add(-day), optedOut: true},
		{ws: f.wsA, name: "Gabi", phone: "+573000000002", country: "CO", tags: []string{"vip"}, attrs: `{"edad":30}`, consentAt: consent, created: now.Add(-day), stopped: true},
		{ws: f.wsA, name: "Hugo", phone: "+573000000003", country: "CO", tags: []string{"vip"}, attrs: `{"edad":30}`, consentAt: consent, created: now.Add(-day), bad: true},
		{ws: f.wsA, name: "Inés", phone: "+573000000004", country: "CO", tags: []string{"vip"}, attrs: `{"edad":30}`, created: now.Add(-day)},
		{ws: f.wsA, name: "Juan", phone: "+573000000005", country: "CO", tags: []string{"vip"}, attrs: `{"edad":30}`, consentAt: consent, created: now.Add(-day), erase: true},
		// workspace B: matches nearly everything
		{ws: f.wsB, name: "Zed", phone: "+573001112233", country: "CO", lang: "es", tags: []string{"vip", "mayorista"},
			attrs: `{"edad":30,"ciudad":"Bogotá","activo":true}`, consentAt: consent, source: "import", created: now.Add(-day), lastInbound: tp(now.Add(-time.Hour))},
	}
	ids := map[string]int64{}
	for _, c := range contacts {
		var optedOut, erased *time.Time
		if c.optedOut {
			optedOut = tp(now.Add(-day))
		}
		if c.erase {
			erased = tp(now.Add(-day))
		}
		id := q(`INSERT INTO contacts (workspace_id, name, phone_e164, country, language, tags, attributes, consent_at,
			consent_source, import_id, last_inbound_at, created_at, updated_at, opted_out_at, marketing_stopped, phone_valid, erased_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14, $15, $16) RETURNING id`,
			c.ws, c.name, c.phone, c.country, c.lang, c.tags, c.attrs, c.consentAt, c.source, c.importID, c.lastInbound,
			c.created, optedOut, c.stopped, !c.bad, erased)
		ids[c.name] = id
		f.names[id] = c.name
	}
	camp := `INSERT INTO campaigns (workspace_id, name, state, launched_at) VALUES ($1, $2, 'completed', $3) RETURNING id`
	f.blackFri = q(camp, f.wsA, "Black Friday", now.Add(-5*day))
	f.oldCamp = q(camp, f.wsA, "Septiembre", now.Add(-60*day))
	f.campaignB = q(camp, f.wsB, "B", now.Add(-day))
	rec := func(ws, campaign int64, name, state string, code *int, replied bool) {
		t.Helper()
		var repliedAt *time.Time
		if replied {
			repliedAt = tp(now.Add(-4 * day))
		}
		q(`INSERT INTO recipients (workspace_id, campaign_id, contact_id, phone_e164, state, error_code, replied_at)
			VALUES ($1, $2, $3, '+57', $4, $5, $6) RETURNING id`, ws, campaign, ids[name], state, code, repliedAt)
	}
	code := func(n int) *int { return &n }
	rec(f.wsA, f.blackFri, "Ana", "read", nil, true)
	rec(f.wsA, f.blackFri, "Bruno", "delivered", nil, false)
	rec(f.wsA, f.blackFri, "Carla", "sent", nil, false)
	rec(f.wsA, f.blackFri, "Diego", "failed", code(131026), false)
	rec(f.wsA, f.blackFri, "Felipe", "read", nil, false)
	rec(f.wsA, f.oldCamp, "Ana", "delivered", nil, false)
	rec(f.wsA, f.oldCamp, "Carla", "failed", code(131049), false)
	rec(f.wsA, f.oldCamp, "Elena 50%", "read", nil, false)
	rec(f.wsB, f.campaignB, "Zed", "read", nil, true)
	q(`INSERT INTO messages (workspace_id, contact_id, direction, wamid, campaign_id, occurred_at)
		VALUES ($1, $2, 'inbound', 'wamid.1', $3, $4) RETURNING id`, f.wsA, ids["Bruno"], f.blackFri, now.Add(-4*day))
	return f
}

// run compiles def for workspace A and returns the names of the selected contacts, sorted.
func (f *fixture) run(t testing.TB, def Definition) []string {
	t.Helper()
	cond, err := Compile(f.wsA, def, CompileOptions{Now: fixtureNow})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return f.selected(t, cond)
}

func (f *fixture) selected(t testing.TB, cond interface {
	ToSql() (string, []any, error)
}) []string {
	t.Helper()
	sql, args, err := psql.Select("c.id").From("contacts c").Where(cond).ToSql()
	if err != nil {
		t.Fatal(err)
	}
	rows, err := f.db.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatalf("query %s %v: %v", sql, args, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out = append(out, f.names[id])
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("query %s %v: %v", sql, args, err)
	}
	sort.Strings(out)
	return out
}
