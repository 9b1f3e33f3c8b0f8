package segments

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestExecute runs definitions against the fixture and checks who is selected: every field,
// every operator, type mismatches that must not make the query fail, and the workspace scope
// and eligibility that every audience carries.
func TestExecute(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	eligible := []string{"Ana", "Bruno", "Carla", "Diego", "Elena 50%"}
	cases := []struct {
		name string
		def  string
		want []string
	}{
		{"EmptyIsEveryEligibleContact", `{}`, eligible},
		{"EmptyAll", `{"all":[]}`, eligible},
		{"EmptyAnyInsideAllIsSkipped", `{"all":[{"any":[]},{"field":"tags","op":"has_all","value":["vip"]}]}`, []string{"Ana", "Bruno"}},

		{"NameEqIgnoresCase", `{"field":"name","op":"eq","value":"ana"}`, []string{"Ana"}},
		{"NameNeq", `{"field":"name","op":"neq","value":"ANA"}`, []string{"Bruno", "Carla", "Diego", "Elena 50%"}},
		{"NameContainsPercentIsLiteral", `{"field":"name","op":"contains","value":"%"}`, []string{"Elena 50%"}},
		{"NameStartsWith", `{"field":"name","op":"starts_with","value":"b"}`, []string{"Bruno"}},
		{"NameExistsFalse", `{"field":"name","op":"exists","value":false}`, nil},

		{"CountryIn", `{"field":"country","op":"in","value":["co","MX"]}`, []string{"Ana", "Bruno", "Diego"}},
		{"CountryNotIn", `{"field":"country","op":"not_in","value":["CO"]}`, []string{"Bruno", "Carla", "Elena 50%"}},
		{"CountryCodeEq", `{"field":"country_code","op":"eq","value":"57"}`, []string{"Ana", "Diego"}},
		{"CountryCodeIn", `{"field":"country_code","op":"in","value":["+52","54"]}`, []string{"Bruno", "Carla"}},
		{"CountryCodeNotIn", `{"field":"country_code","op":"not_in","value":["57","52"]}`, []string{"Carla", "Elena 50%"}},
		{"LanguageMatchesRegions", `{"field":"language","op":"eq","value":"es"}`, []string{"Ana", "Bruno"}},
		{"LanguageHyphen", `{"field":"language","op":"eq","value":"pt"}`, []string{"Carla"}},
		{"LanguageIn", `{"field":"language","op":"in","value":["en","es-CO"]}`, []string{"Ana", "Diego"}},
		{"LanguageNotIn", `{"field":"language","op":"not_in","value":["es"]}`, []string{"Carla", "Diego", "Elena 50%"}},
		{"ConsentSourceIgnoresCase", `{"field":"consent_source","op":"eq","value":"formulario"}`, []string{"Bruno"}},
		{"ConsentSourceIn", `{"field":"consent_source","op":"in","value":["import"]}`, []string{"Ana", "Carla", "Elena 50%"}},
		{"ConsentSourceNotIn", `{"field":"consent_source","op":"not_in","value":["import"]}`, []string{"Bruno", "Diego"}},
		{"ImportEq", fmt.Sprintf(`{"field":"import_id","op":"eq","value":%d}`, f.imp1), []string{"Ana", "Carla"}},
		{"ImportNotIn", fmt.Sprintf(`{"field":"import_id","op":"not_in","value":[%d]}`, f.imp1), []string{"Bruno", "Diego", "Elena 50%"}},

		{"TagsHasAny", `{"field":"tags","op":"has_any","value":["vip","mayorista"]}`, []string{"Ana", "Bruno", "Diego"}},
		{"TagsHasAll", `{"field":"tags","op":"has_all","value":["vip","mayorista"]}`, []string{"Ana"}},
		{"TagsHasNone", `{"field":"tags","op":"has_none","value":["vip"]}`, []string{"Carla", "Diego", "Elena 50%"}},
		{"TagsSingleValue", `{"field":"tags","op":"has_any","value":"50%_off"}`, []string{"Elena 50%"}},

		{"CreatedInLast", `{"field":"created_at","op":"in_last","value":30}`, []string{"Ana", "Elena 50%"}},
		{"CreatedBefore", `{"field":"created_at","op":"before","value":"2026-01-01"}`, []string{"Carla"}},
		{"CreatedAfterDayMeansFromNextDay", `{"field":"created_at","op":"after","value":"2026-11-15"}`, []string{"Elena 50%"}},
		{"CreatedBetweenInclusive", `{"field":"created_at","op":"between","value":["2026-03-01","2026-08-01"]}`, []string{"Bruno", "Diego"}},
		{"CreatedAfterInstant", `{"field":"created_at","op":"after","value":"2026-11-15T08:00:00Z"}`, []string{"Ana", "Elena 50%"}},
		{"UpdatedInLast", `{"field":"updated_at","op":"in_last","value":11}`, []string{"Ana", "Elena 50%"}},
		{"LastInboundServiceWindow", `{"field":"last_inbound_at","op":"in_last","value":1}`, []string{"Ana"}},
		{"LastInboundNever", `{"field":"last_inbound_at","op":"exists","value":false}`, []string{"Carla", "Diego", "Elena 50%"}},
		{"ConsentAfter", `{"field":"consent_at","op":"after","value":"2026-11-23"}`, []string{"Elena 50%"}},
		{"ConsentBefore", `{"field":"consent_at","op":"before","value":"2026-01-01"}`, []string{"Carla"}},

		{"NumberGteSkipsText", `{"field":"attribute","key":"edad","op":"gte","value":30}`, []string{"Ana", "Carla"}},
		{"NumberEq", `{"field":"attribute","key":"edad","op":"eq","value":30.0}`, []string{"Ana"}},
		{"NumberBetween", `{"field":"attribute","key":"edad","op":"between","value":[40,50]}`, []string{"Carla"}},
		{"NumberNeqNeedsANumber", `{"field":"attribute","key":"edad","op":"neq","value":30}`, []string{"Carla"}},
		{"NumberNotIn", `{"field":"attribute","key":"edad","op":"not_in","value":[30,31]}`, []string{"Carla"}},
		{"NumberLt", `{"field":"attribute","key":"puntos","op":"lt","value":"200"}`, []string{"Ana"}},
		{"NumberGtDecimal", `{"field":"attribute","key":"puntos","op":"gt","value":120.4}`, []string{"Ana"}},
		{"NotIsTheComplement", `{"not":{"field":"attribute","key":"edad","op":"gte","value":30}}`, []string{"Bruno", "Diego", "Elena 50%"}},
		{"ExistsTyped", `{"field":"attribute","key":"edad","type":"number","op":"exists"}`, []string{"Ana", "Carla"}},
		{"ExistsUntypedIgnoresNull", `{"field":"attribute","key":"edad","op":"exists"}`, []string{"Ana", "Bruno", "Carla"}},
		{"ExistsFalse", `{"field":"attribute","key":"edad","op":"exists","value":false}`, []string{"Diego", "Elena 50%"}},
		{"TextEq", `{"field":"attribute","key":"ciudad","op":"eq","value":"Bogotá"}`, []string{"Ana"}},
		{"TextEqIsExact", `{"field":"attribute","key":"ciudad","op":"eq","value":"bogotá"}`, nil},
		{"TextContainsIgnoresCase", `{"field":"attribute","key":"ciudad","op":"contains","value":"B"}`, []string{"Ana", "Carla"}},
		{"TextStartsWith", `{"field":"attribute","key":"ciudad","op":"starts_with","value":"bue"}`, []string{"Carla"}},
		{"TextIn", `{"field":"attribute","key":"ciudad","op":"in","value":["CDMX","Lima","Bogotá"]}`, []string{"Ana", "Bruno"}},
		{"TextNotIn", `{"field":"attribute","key":"ciudad","op":"not_in","value":["CDMX"]}`, []string{"Ana", "Carla", "Diego"}},
		{"TextInLongList", `{"field":"attribute","key":"ciudad","op":"in","value":[` + longList("Bogotá", 60) + `]}`, []string{"Ana"}},
		{"NumberInLongList", `{"field":"attribute","key":"edad","type":"number","op":"in","value":[` + longList("45", 60) + `]}`, []string{"Carla"}},
		{"NumberValueOnNumberAttr", `{"field":"attribute","key":"ciudad","op":"eq","value":57}`, []string{"Diego"}},
		{"DateBeforeSkipsBadValues", `{"field":"attribute","key":"nacimiento","op":"before","value":"2000-01-01"}`, []string{"Ana"}},
		{"DateGteOnImpossibleDateNeverErrors", `{"field":"attribute","key":"nacimiento","op":"gte","value":"2000-01-01"}`, []string{"Bruno"}},
		{"DateBetween", `{"field":"attribute","key":"nacimiento","type":"date","op":"between","value":["1990-01-01","1995-01-01"]}`, []string{"Ana"}},
		{"DateInNext", `{"field":"attribute","key":"renovacion","op":"in_next","value":10}`, []string{"Ana"}},
		{"DateInLast", `{"field":"attribute","key":"compra","op":"in_last","value":7}`, []string{"Carla"}},
		{"DateEq", `{"field":"attribute","key":"compra","type":"date","op":"eq","value":"2026-11-20"}`, []string{"Carla"}},
		{"BoolTrue", `{"field":"attribute","key":"activo","op":"eq","value":true}`, []string{"Ana"}},
		{"BoolFalse", `{"field":"attribute","key":"activo","op":"eq","value":false}`, []string{"Carla"}},
		{"BoolNeq", `{"field":"attribute","key":"activo","type":"bool","op":"neq","value":"sí"}`, []string{"Carla"}},
		{"MissingKeyMatchesNobody", `{"field":"attribute","key":"no_existe","op":"gt","value":1}`, nil},

		{"ReadCampaign", fmt.Sprintf(`{"field":"engagement","op":"read","campaign_id":%d}`, f.blackFri), []string{"Ana"}},
		{"NotReadCampaign", fmt.Sprintf(`{"field":"engagement","op":"not_read","campaign_id":%d}`, f.blackFri), []string{"Bruno", "Carla"}},
		{"FailedWithCode", fmt.Sprintf(`{"field":"engagement","op":"failed","campaign_id":%d,"error_code":131026}`, f.blackFri), []string{"Diego"}},
		{"FailedAny", `{"field":"engagement","op":"failed"}`, []string{"Carla", "Diego"}},
		{"FailedCodeAny", `{"field":"engagement","op":"failed","error_code":131049}`, []string{"Carla"}},
		{"Replied", fmt.Sprintf(`{"field":"engagement","op":"replied","campaign_id":%d}`, f.blackFri), []string{"Ana", "Bruno"}},
		{"ReceivedInLastDays", `{"field":"engagement","op":"received","days":30}`, []string{"Ana", "Bruno", "Carla"}},
		{"DeliveredAny", `{"field":"engagement","op":"delivered"}`, []string{"Ana", "Bruno", "Elena 50%"}},
		{"ReadInLastDays", `{"field":"engagement","op":"read","days":30}`, []string{"Ana"}},
		{"NeverRead", `{"not":{"field":"engagement","op":"read"}}`, []string{"Bruno", "Carla", "Diego"}},
		{"OtherWorkspaceCampaign", fmt.Sprintf(`{"field":"engagement","op":"read","campaign_id":%d}`, f.campaignB), nil},

		{"Nested", `{"all":[{"field":"tags","op":"has_any","value":["vip"]},{"any":[{"field":"country","op":"eq","value":"CO"},{"field":"attribute","key":"edad","op":"gte","value":40}]}]}`, []string{"Ana"}},
		{"AnyOfTwo", `{"any":[{"field":"name","op":"eq","value":"Ana"},{"field":"name","op":"eq","value":"Bruno"}]}`, []string{"Ana", "Bruno"}},
		{"NotOfGroup", `{"not":{"any":[{"field":"country","op":"eq","value":"CO"},{"field":"tags","op":"has_any","value":["vip"]}]}}`, []string{"Carla", "Elena 50%"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			def, err := Parse([]byte(tc.def))
			if err != nil {
				t.Fatal(err)
			}
			if p := def.Validate(); p != nil {
				t.Fatalf("invalid: %v", p)
			}
			got := f.run(t, def)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("%s\ngot  %q\nwant %q", tc.def, got, tc.want)
			}
		})
	}
}

func longList(real string, n int) string {
	vals := make([]string, 0, n)
	for i := range n - 1 {
		vals = append(vals, fmt.Sprintf(`"zz%d"`, i))
	}
	if real == "45" {
		for i := range vals {
			vals[i] = fmt.Sprint(1000 + i)
		}
		return strings.Join(append(vals, "45"), ",")
	}
	return strings.Join(append(vals, `"`+real+`"`), ",")
}

func TestPreview(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()

	t.Run("BreakdownByReason", func(t *testing.T) {
		def, _ := Parse([]byte(`{"field":"tags","op":"has_any","value":["vip"]}`))
		res, err := Preview(ctx, f.db, f.wsA, def, fixtureNow)
		if err != nil {
			t.Fatal(err)
		}
		if res.Eligible != 2 || res.Matched != 6 || res.Broadcast {
			t.Fatalf("got %+v", res)
		}
		want := map[string]int64{ExcludedOptedOut: 1, ExcludedMarketingStopped: 1, ExcludedInvalidPhone: 1, ExcludedNoConsent: 1}
		for k, v := range want {
			if res.Excluded[k] != v {
				t.Fatalf("excluded %s = %d, want %d (%v)", k, res.Excluded[k], v, res.Excluded)
			}
		}
		if len(res.Sample) != 2 || res.Sample[0].Name != "Ana" || res.Sample[1].Name != "Bruno" || res.Sample[0].PhoneE164 == "" {
			t.Fatalf("sample %+v", res.Sample)
		}
		n, err := Count(ctx, f.db, f.wsA, def, CompileOptions{Now: fixtureNow})
		if err != nil || n != res.Eligible {
			t.Fatalf("Count = %d, %v; preview says %d", n, err, res.Eligible)
		}
	})
	t.Run("EmptyIsABroadcast", func(t *testing.T) {
		res, err := Preview(ctx, f.db, f.wsA, Definition{}, fixtureNow)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Broadcast || res.Eligible != 5 || res.Matched != 9 {
			t.Fatalf("got %+v", res)
		}
	})
	t.Run("InvalidDefinition", func(t *testing.T) {
		def, _ := Parse([]byte(`{"field":"attribute","key":"edad","type":"number","op":"eq","value":"abc"}`))
		if _, err := Preview(ctx, f.db, f.wsA, def, fixtureNow); err == nil || !strings.Contains(err.Error(), "es un número") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("WorkspaceScope", func(t *testing.T) {
		def, _ := Parse([]byte(`{"field":"tags","op":"has_any","value":["vip"]}`))
		res, err := Preview(ctx, f.db, f.wsB, def, fixtureNow)
		if err != nil {
			t.Fatal(err)
		}
		if res.Eligible != 1 || len(res.Sample) != 1 || res.Sample[0].Name != "Zed" {
			t.Fatalf("got %+v", res)
		}
	})
	t.Run("RelativeDatesUseNow", func(t *testing.T) {
		def, _ := Parse([]byte(`{"field":"last_inbound_at","op":"in_last","value":1}`))
		res, err := Preview(ctx, f.db, f.wsA, def, fixtureNow.Add(48*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if res.Eligible != 0 {
			t.Fatalf("got %+v", res)
		}
	})
}

func TestCheckReferences(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	src := fmt.Sprintf(`{"all":[{"field":"engagement","op":"read","campaign_id":%d},{"not":{"field":"engagement","op":"read","campaign_id":%d}},
		{"field":"import_id","op":"in","value":[%d, 999999]},{"field":"engagement","op":"read"}]}`, f.blackFri, f.campaignB, f.imp1)
	def, _ := Parse([]byte(src))
	problems, err := CheckReferences(ctx, f.db, f.wsA, def)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"$.all[1].not.campaign_id", "$.all[2].value[1]"}
	if len(problems) != len(want) || problems[0].Path != want[0] || problems[1].Path != want[1] ||
		!strings.Contains(problems[0].Message, "no existe") {
		t.Fatalf("%+v", problems)
	}
}
