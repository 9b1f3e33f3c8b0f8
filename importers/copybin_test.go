package importers

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pregon/pregon/internal/pgtest"
)

// The hand-written binary COPY values read back as what they were written from: every type,
// NULLs, empty arrays, non-ASCII text, timestamps to the microsecond, and enough rows to span
// several buffers.
func TestCopyBinaryRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewDB(t)
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE cb (i8 bigint, i4 integer, t text, tn text, a text[], j jsonb, ts timestamptz, b boolean)`); err != nil {
		t.Fatal(err)
	}
	type row struct {
		i8   int64
		i4   int32
		t    string
		tn   string // "" = NULL
		a    []string
		j    string
		ts   *time.Time
		b    bool
		nilA bool // a written as NULL
	}
	when := time.Date(2024, 3, 15, 10, 4, 5, 123456000, time.FixedZone("COT", -5*3600))
	old := time.Date(1969, 7, 20, 20, 17, 0, 1000, time.UTC)
	base := []row{
		{i8: -1 << 40, i4: -7, t: "Peña Ñandú 😀", tn: "x", a: []string{"vip", "norte", ""}, j: `{"ciudad": "Bogotá", "n": 1.5}`, ts: &when, b: true},
		{i8: 0, i4: 1 << 30, t: "", tn: "", a: []string{}, j: `{}`, ts: nil, b: false},
		{i8: 42, t: "a", a: nil, nilA: true, j: `[1, "dos", null]`, ts: &old},
	}
	var rows []row
	for range 20_000 / len(base) {
		rows = append(rows, base...)
	}
	i := 0
	n, err := copyRows(ctx, tx, "cb", []string{"i8", "i4", "t", "tn", "a", "j", "ts", "b"}, func(c *copyBuf) (bool, error) {
		for ; i < len(rows) && len(c.b) < copyFlush; i++ {
			r := rows[i]
			c.row(8)
			c.int8(r.i8)
			c.int4(r.i4)
			c.text(r.t)
			c.textOrNull(r.tn)
			if r.nilA {
				c.null()
			} else {
				c.textArray(r.a)
			}
			c.jsonb([]byte(r.j))
			if r.ts != nil {
				c.timestamptz(*r.ts)
			} else {
				c.null()
			}
			c.bool(r.b)
		}
		return i < len(rows), nil
	})
	if err != nil || n != int64(len(rows)) {
		t.Fatalf("copied %d of %d: %v", n, len(rows), err)
	}
	wantJSON := map[string]string{} // as Postgres prints them
	for _, r := range base {
		var s string
		if err := tx.QueryRow(ctx, `SELECT $1::jsonb::text`, r.j).Scan(&s); err != nil {
			t.Fatal(err)
		}
		wantJSON[r.j] = s
	}
	got, err := tx.Query(ctx, `SELECT i8, i4, t, tn, a, j::text, ts, b FROM cb`)
	if err != nil {
		t.Fatal(err)
	}
	k := 0
	for got.Next() {
		var (
			g  row
			tn *string
			a  []string
			j  string
		)
		if err := got.Scan(&g.i8, &g.i4, &g.t, &tn, &a, &j, &g.ts, &g.b); err != nil {
			t.Fatal(err)
		}
		w := rows[k%len(rows)]
		want := wantJSON[w.j]
		if g.i8 != w.i8 || g.i4 != w.i4 || g.t != w.t || (tn == nil) != (w.tn == "") || (tn != nil && *tn != w.tn) ||
			(a == nil) != w.nilA || !slices.Equal(a, w.a) || j != want || g.b != w.b ||
			(g.ts == nil) != (w.ts == nil) || (g.ts != nil && !g.ts.Equal(*w.ts)) {
			t.Fatalf("row %d: got %+v ts=%v tn=%v a=%q j=%s, want %+v ts=%v j=%s", k, g, g.ts, tn, a, j, w, w.ts, want)
		}
		k++
	}
	if got.Err() != nil || k != len(rows) {
		t.Fatalf("%d rows read: %v", k, got.Err())
	}
}

// An error from fill aborts the COPY: nothing is written.
func TestCopyBinaryAbort(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewDB(t)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE cb (i8 bigint)`); err != nil {
		t.Fatal(err)
	}
	sp, _ := tx.Begin(ctx)
	calls := 0
	_, err = copyRows(ctx, sp, "cb", []string{"i8"}, func(c *copyBuf) (bool, error) {
		calls++
		if calls == 3 {
			return false, pgx.ErrTxClosed // any error
		}
		for range 10_000 {
			c.row(1)
			c.int8(1)
		}
		return true, nil
	})
	if err == nil {
		t.Fatal("COPY succeeded despite the error")
	}
	sp.Rollback(ctx)
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM cb`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d rows after an aborted COPY (%v)", n, err)
	}
}
