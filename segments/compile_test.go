package segments

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

const base = "SELECT c.id FROM contacts c WHERE (c.workspace_id = $1 AND " + EligibleSQL

// TestCompile pins the SQL and the arguments of each kind of condition: the SQL text is made of
// fixed fragments and every user value, attribute keys included, is an argument.
func TestCompile(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	bogota, _ := time.LoadLocation("America/Bogota")
	cases := []struct {
		name string
		def  string
		loc  *time.Location
		sql  string // after the workspace scope and eligibility
		args []any  // after the workspace id
	}{
		{"Empty", `{}`, nil, ")", nil},
		{"Tags", `{"field":"tags","op":"has_any","value":["vip","b"]}`, nil,
			" AND c.tags && $2::text[])", []any{[]string{"vip", "b"}}},
		{"TagsNone", `{"field":"tags","op":"has_none","value":"vip"}`, nil,
			" AND NOT (c.tags && $2::text[]))", []any{[]string{"vip"}}},
		{"AttributeEqIsContainment", `{"field":"attribute","key":"ciudad","op":"eq","value":"Bogotá"}`, nil,
			" AND c.attributes @> $2::jsonb)", []any{`{"ciudad":"Bogotá"}`}},
		{"NumberEqKeepsNumberType", `{"field":"attribute","key":"edad","op":"eq","value":30.50}`, nil,
			" AND c.attributes @> $2::jsonb)", []any{`{"edad":30.5}`}},
		{"NumberGte", `{"field":"attribute","key":"edad","op":"gte","value":30}`, nil,
			" AND (CASE WHEN jsonb_typeof(c.attributes->$2::text) = 'number' THEN (c.attributes->$3::text)::numeric END) >= $4::numeric)",
			[]any{"edad", "edad", "30"}},
		{"DateBefore", `{"field":"attribute","key":"alta","op":"before","value":"2025-01-31"}`, nil,
			" AND (CASE WHEN (c.attributes->>$2::text) ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}' THEN left(c.attributes->>$3::text, 10) END) < $4::text)",
			[]any{"alta", "alta", "2025-01-31"}},
		{"DateInLastUsesZone", `{"field":"attribute","key":"compra","op":"in_last","value":30}`, bogota,
			" AND (CASE WHEN (c.attributes->>$2::text) ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}' THEN left(c.attributes->>$3::text, 10) END) BETWEEN $4::text AND $5::text)",
			[]any{"compra", "compra", "2026-10-26", "2026-11-25"}},
		{"NeqHasValue", `{"field":"attribute","key":"plan","op":"neq","value":"pro"}`, nil,
			" AND ((c.attributes->>$2::text) <> '' AND (c.attributes @> $3::jsonb) IS NOT TRUE))", []any{"plan", `{"plan":"pro"}`}},
		{"InIsOrOfContainments", `{"field":"attribute","key":"plan","op":"in","value":["a","b"]}`, nil,
			" AND (c.attributes @> $2::jsonb OR c.attributes @> $3::jsonb))", []any{`{"plan":"a"}`, `{"plan":"b"}`}},
		{"ContainsEscapesWildcards", `{"field":"attribute","key":"nota","op":"contains","value":"50%_x"}`, nil,
			" AND (c.attributes->>$2::text) ILIKE $3::text)", []any{"nota", `%50\%\_x%`}},
		{"ExistsFalse", `{"field":"attribute","key":"email2","op":"exists","value":false}`, nil,
			" AND ((c.attributes->>$2::text) <> '') IS NOT TRUE)", []any{"email2"}},
		{"CreatedBeforeDayInZone", `{"field":"created_at","op":"before","value":"2026-01-01"}`, bogota,
			" AND c.created_at < $2)", []any{time.Date(2026, 1, 1, 0, 0, 0, 0, bogota)}},
		{"LastInbound", `{"field":"last_inbound_at","op":"in_last","value":1}`, nil,
			" AND c.last_inbound_at >= $2)", []any{now.AddDate(0, 0, -1)}},
		{"CountryCode", `{"field":"country_code","op":"in","value":["+57","52"]}`, nil,
			" AND c.phone_e164 LIKE ANY($2::text[]))", []any{[]string{"+57%", "+52%"}}},
		{"Language", `{"field":"language","op":"eq","value":"es"}`, nil,
			" AND replace(c.language, '-', '_') ILIKE ANY($2::text[]))", []any{[]string{"es", `es\_%`}}},
		{"Import", `{"field":"import_id","op":"in","value":[4,5]}`, nil,
			" AND c.import_id = ANY($2::bigint[]))", []any{[]int64{4, 5}}},
		{"NotReadCampaign", `{"field":"engagement","op":"not_read","campaign_id":7}`, nil,
			" AND EXISTS (SELECT 1 FROM recipients r WHERE r.contact_id = c.id AND r.workspace_id = $2 AND r.campaign_id = $3 AND r.state IN ('sent', 'delivered')))",
			[]any{int64(1), int64(7)}},
		{"FailedInLastDays", `{"field":"engagement","op":"failed","days":30,"error_code":131026}`, nil,
			" AND EXISTS (SELECT 1 FROM recipients r WHERE r.contact_id = c.id AND r.workspace_id = $2 AND r.campaign_id IN (SELECT cp.id FROM campaigns cp WHERE cp.workspace_id = $3 AND cp.launched_at >= $4) AND r.state = 'failed' AND r.error_code = $5))",
			[]any{int64(1), int64(1), now.AddDate(0, 0, -30), 131026}},
		{"Replied", `{"field":"engagement","op":"replied"}`, nil,
			" AND EXISTS (SELECT 1 FROM recipients r WHERE r.contact_id = c.id AND r.workspace_id = $2 AND (r.replied_at IS NOT NULL OR EXISTS (SELECT 1 FROM messages m WHERE m.contact_id = r.contact_id AND m.workspace_id = $3 AND m.campaign_id = r.campaign_id AND m.direction = 'inbound'))))",
			[]any{int64(1), int64(1)}},
		{"Groups", `{"all":[{"field":"name","op":"eq","value":"x"},{"any":[{"field":"country","op":"eq","value":"CO"},{"not":{"field":"tags","op":"has_all","value":["a"]}}]}]}`, nil,
			" AND (lower(c.name) = lower($2::text) AND (c.country = ANY($3::text[]) OR (c.tags @> $4::text[]) IS NOT TRUE)))",
			[]any{"x", []string{"CO"}, []string{"a"}}},
		{"GroupOfOneIsUnwrapped", `{"any":[{"all":[]},{"field":"name","op":"exists"}]}`, nil, " AND c.name <> '')", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			def, err := Parse([]byte(tc.def))
			if err != nil {
				t.Fatal(err)
			}
			cond, err := Compile(1, def, CompileOptions{Now: now, Location: tc.loc})
			if err != nil {
				t.Fatal(err)
			}
			sql, args, err := psql.Select("c.id").From("contacts c").Where(cond).ToSql()
			if err != nil {
				t.Fatal(err)
			}
			if want := base + tc.sql; sql != want {
				t.Fatalf("sql\n got: %s\nwant: %s", sql, want)
			}
			wantArgs := append([]any{int64(1)}, tc.args...)
			if !reflect.DeepEqual(args, wantArgs) {
				t.Fatalf("args\n got: %#v\nwant: %#v", args, wantArgs)
			}
		})
	}
}

func TestCompileAlwaysEligible(t *testing.T) {
	t.Parallel()
	for _, src := range []string{`{}`, `{"not":{"field":"name","op":"exists"}}`, `{"any":[{"field":"tags","op":"has_any","value":["x"]}]}`} {
		def, _ := Parse([]byte(src))
		cond, err := Compile(9, def, CompileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		sql, args, _ := psql.Select("1").From("contacts c").Where(cond).ToSql()
		if want := fmt.Sprintf("WHERE (c.workspace_id = $1 AND %s", EligibleSQL); !strings.Contains(sql, want) || args[0] != int64(9) {
			t.Fatalf("%s: %s %v", src, sql, args)
		}
		match, _ := CompileMatch(9, def, CompileOptions{})
		sql, _, _ = psql.Select("1").From("contacts c").Where(match).ToSql()
		if strings.Contains(sql, "consent_at") || !strings.Contains(sql, "c.workspace_id = $1 AND c.erased_at IS NULL") {
			t.Fatalf("CompileMatch: %s", sql)
		}
	}
	if _, err := Compile(0, Definition{}, CompileOptions{}); err == nil {
		t.Fatal("compiled without a workspace")
	}
}
