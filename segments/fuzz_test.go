package segments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/pregon/pregon/store"
)

// FuzzCompile feeds random definitions (a tree chosen by the fuzzer's bytes, with two
// fuzzer-chosen strings as attribute key and value) to Parse, Validate and Compile:
//   - an invalid definition makes Compile return a *store.ValidationError;
//   - a valid one compiles to SQL that Postgres runs against the fixture (whose rows hold
//     every type mismatch) without error;
//   - the SQL text does not depend on the user's strings: the same tree with other strings of
//     the same kind compiles to the very same SQL, only the arguments differ.
//
// Plain `go test` runs the seed corpus only; `go test -fuzz FuzzCompile ./segments` explores.
func FuzzCompile(f *testing.F) {
	seeds := []struct {
		choices  []byte
		key, val string
	}{
		{[]byte{0, 3, 8, 0, 1, 2}, "edad", "30"},
		{[]byte{1, 2, 9, 3, 0, 4, 10, 0, 1}, "ciudad", "Bogotá"},
		{[]byte{2, 4, 12, 5, 7}, "nacimiento", "1994-05-10"},
		{[]byte{3, 10, 0, 2}, "'; DROP TABLE contacts; --", "a' OR '1'='1"},
		{[]byte{3, 10, 5, 0}, "$1", "?"},
		{[]byte{3, 10, 9, 1}, "??", "’unicode‘ “quotes”"},
		{[]byte{3, 11, 0, 0, 7, 9}, "k", "131026"},
		{[]byte{0, 4, 0, 3, 1, 1, 2, 2, 9, 5}, "vip", "CO"},
		{[]byte{3, 7, 2}, "x", "es_MX"},
		{[]byte{3, 10, 3, 6}, "puntos", "-12.5e1"},
		{[]byte{3, 10, 13, 0}, "activo", "sí"},
		{[]byte{3, 5, 8, 1}, "", "2026-11-01T10:00:00-05:00"},
		{[]byte{2, 2, 3, 10, 14, 4}, "a\\b", "100%_"},
	}
	for _, s := range seeds {
		f.Add(s.choices, s.key, s.val)
	}
	fx := newFixture(f)
	ctx := context.Background()
	placeholder := regexp.MustCompile(`\$[0-9]+`)
	f.Fuzz(func(t *testing.T, choices []byte, key, val string) {
		raw := (&gen{b: choices, key: key, val: val}).node(0)
		src, err := json.Marshal(raw)
		if err != nil {
			t.Skip()
		}
		def, err := Parse(src)
		if err != nil {
			var ve *store.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Parse(%s): %T %v", src, err, err)
			}
			return
		}
		cond, err := Compile(fx.wsA, def, CompileOptions{Now: fixtureNow})
		if problems := def.Validate(); problems != nil {
			var ve *store.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("invalid %s (%v) but Compile: %v", src, problems, err)
			}
			for _, p := range problems {
				if p.Path == "" || !strings.HasPrefix(p.Path, "$") || p.Message == "" {
					t.Fatalf("problem without path or message: %+v", p)
				}
			}
			return
		}
		if err != nil {
			t.Fatalf("valid %s but Compile: %v", src, err)
		}
		sql, args, err := psql.Select("count(*)").From("contacts c").Where(cond).ToSql()
		if err != nil {
			t.Fatal(err)
		}
		if n := len(placeholder.FindAllString(sql, -1)); n != len(args) {
			t.Fatalf("%d placeholders, %d args: %s", n, len(args), sql)
		}
		var n int64
		if err := fx.db.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
			t.Fatalf("Postgres refused %s\nsql: %s\nargs: %#v\nerr: %v", src, sql, args, err)
		}
		// The same tree with other strings of the same kind must give the same SQL text.
		raw2 := (&gen{b: choices, key: "k", val: sameKind(val)}).node(0)
		src2, _ := json.Marshal(raw2)
		def2, err := Parse(src2)
		if err != nil || def2.Validate() != nil {
			return // the stand-in is not valid where the original was (e.g. a country code)
		}
		cond2, err := Compile(fx.wsA, def2, CompileOptions{Now: fixtureNow})
		if err != nil {
			t.Fatal(err)
		}
		sql2, _, _ := psql.Select("count(*)").From("contacts c").Where(cond2).ToSql()
		if sql != sql2 {
			t.Fatalf("user strings changed the SQL text:\n%s\n%s\n%s\n%s", src, sql, src2, sql2)
		}
	})
}

// sameKind returns a harmless string that validates like s: a number, a date, an instant, a
// bool word or plain letters.
func sameKind(s string) string {
	t := strings.TrimSpace(s)
	if _, ok := typedValue(TypeDate, t); ok {
		return "2001-02-03"
	}
	if _, ok := typedValue(TypeNumber, t); ok {
		return "7"
	}
	if _, ok := typedValue(TypeBool, t); ok {
		return "true"
	}
	if dayRe.MatchString(t) || strings.Contains(t, "T") && len(t) >= 20 {
		return t // an instant or an impossible date: kept
	}
	return "zz"
}

// gen builds a definition tree (as generic JSON) from the fuzzer's bytes.
type gen struct {
	b        []byte
	i        int
	key, val string
	nodes    int
}

func (g *gen) next() int {
	if g.i >= len(g.b) {
		return 0
	}
	g.i++
	return int(g.b[g.i-1])
}

var (
	genFields = []string{FieldName, FieldCountry, FieldCountryCode, FieldLanguage, FieldCreatedAt, FieldUpdatedAt,
		FieldConsentAt, FieldConsentSource, FieldLastInboundAt, FieldTags, FieldAttribute, FieldImportID, FieldEngagement, "bogus"}
	genOps   = []string{"eq", "neq", "in", "not_in", "contains", "starts_with", "exists", "gt", "gte", "lt", "lte", "between", "before", "after", "in_last", "in_next", "has_any", "has_all", "has_none", "received", "delivered", "read", "failed", "replied", "not_read"}
	genTypes = []string{"", "", TypeText, TypeNumber, TypeDate, TypeBool, "money"}
)

func (g *gen) node(depth int) any {
	g.nodes++
	b := g.next()
	if depth < 4 && g.nodes < 40 {
		switch b % 6 {
		case 0, 1:
			n := g.next() % 4
			kids := make([]any, 0, n)
			for range n {
				kids = append(kids, g.node(depth+1))
			}
			if b%6 == 0 {
				return map[string]any{"all": kids}
			}
			return map[string]any{"any": kids}
		case 2:
			return map[string]any{"not": g.node(depth + 1)}
		}
	}
	field := genFields[g.next()%len(genFields)]
	c := map[string]any{"field": field}
	ops := fieldOps[field]
	if x := g.next(); x%7 == 6 || len(ops) == 0 {
		c["op"] = genOps[x%len(genOps)]
	} else {
		c["op"] = ops[x%len(ops)]
	}
	if field == FieldAttribute {
		c["key"] = g.key
		if t := genTypes[g.next()%len(genTypes)]; t != "" {
			c["type"] = t
		}
	}
	if field == FieldEngagement {
		switch g.next() % 4 {
		case 1:
			c["campaign_id"] = g.next() % 5
		case 2:
			c["days"] = g.next()*20 + 1
		case 3:
			c["error_code"] = 131026
		}
		return c
	}
	switch g.next() % 10 {
	case 0:
		c["value"] = g.val
	case 1:
		c["value"] = json.Number(fmt.Sprint(g.next() - 100))
	case 2:
		c["value"] = []any{g.val, g.key}
	case 3:
		c["value"] = g.next()%2 == 0
	case 4: // no value
	case 5:
		c["value"] = g.next()
	case 6:
		c["value"] = []any{json.Number(fmt.Sprint(g.next())), json.Number(fmt.Sprint(g.next() + 256))}
	case 7:
		c["value"] = fmt.Sprintf("2026-%02d-%02d", g.next()%13, g.next()%32)
	case 8:
		c["value"] = []any{g.val}
	case 9:
		c["value"] = []any{"2020-01-01", g.val}
	}
	return c
}
