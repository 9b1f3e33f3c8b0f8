package phone

import (
	"math/rand/v2"
	"strings"

	"github.com/nyaruka/phonenumbers"
	"slices"
	"testing"
)

func TestNormalize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, raw, region string
		want              string // E.164, or "" when an error is expected
		wantCode          string
		wantReason        string
		wantType          Type
	}{
		// Every row of LIBRARIES.md §6.
		{name: "CO mobile with spaces", raw: "300 123 4567", region: "CO", want: "+573001234567", wantType: Mobile},
		{name: "MX fixed or mobile", raw: "55 1234 5678", region: "MX", want: "+525512345678", wantType: FixedLineOrMobile},
		{name: "MX old mobile 1 removed", raw: "+52 1 55 1234 5678", region: "CO", want: "+525512345678"},
		{name: "MX 044 prefix removed", raw: "044 55 1234 5678", region: "MX", want: "+525512345678"},
		{name: "AR national 15", raw: "11 15 2345 6789", region: "AR", want: "+5491123456789", wantType: Mobile},
		{name: "AR 0xx 15", raw: "(011) 15-2345-6789", region: "AR", want: "+5491123456789", wantType: Mobile},
		{name: "AR international with 9", raw: "+54 9 11 2345 6789", region: "", want: "+5491123456789", wantType: Mobile},
		{name: "AR without 9 retried as mobile", raw: "+54 11 2345 6789", region: "CO", want: "+5491123456789", wantType: Mobile},
		{name: "BR with 9th digit", raw: "+55 11 91234 5678", region: "CO", want: "+5511912345678", wantType: Mobile},

		// Copied from WhatsApp Web or a phone's contact card: invisible direction marks and
		// zero-width spaces around the digits.
		{name: "WhatsApp Web direction marks", raw: "\u202a+57 300 1234567\u202c", region: "CO", want: "+573001234567"},
		{name: "left-to-right mark and zero-width space", raw: "\u200e300\u200b123 4567", region: "CO", want: "+573001234567"},
		{name: "BOM before the number", raw: "\ufeff+52 1 55 1234 5678", region: "CO", want: "+525512345678"},

		// Spreadsheet forms.
		{name: "CO with country code and punctuation", raw: "+57 (300) 123-4567", region: "CO", want: "+573001234567"},
		{name: "CO digits with country code, no plus", raw: "573001234567", region: "CO", want: "+573001234567"},
		{name: "Excel trailing .0", raw: "573001234567.0", region: "CO", want: "+573001234567"},
		{name: "Excel national trailing .0", raw: "3001234567.0", region: "CO", want: "+573001234567"},
		{name: "Excel scientific with all digits", raw: "5.73001234567E+11", region: "CO", want: "+573001234567"},
		{name: "Excel scientific lost digits", raw: "5.73E+11", region: "CO", wantCode: CodeScientific},
		{name: "MX wa_id form in a CO list", raw: "5213312345678", region: "CO", want: "+523312345678"},
		{name: "MX 521 without plus in MX list", raw: "5213312345678", region: "MX", want: "+523312345678"},
		{name: "00 international prefix", raw: "0057 300 123 4567", region: "MX", want: "+573001234567"},
		{name: "AR with 9 and 15", raw: "+54 9 11 15 2345 6789", region: "", want: "+5491123456789"},
		{name: "AR without 9 no plus in AR list", raw: "541123456789", region: "AR", want: "+5491123456789"},
		{name: "BR mobile without 9th digit", raw: "+55 61 8123 4567", region: "CO", want: "+5561981234567"},
		{name: "BR national with area code", raw: "(21) 98765-4321", region: "BR", want: "+5521987654321"},
		{name: "US", raw: "+1 415 555 2671", region: "CO", want: "+14155552671", wantType: FixedLineOrMobile},
		{name: "tel: prefix", raw: "tel:+573001234567", region: "CO", want: "+573001234567"},
		{name: "non-breaking spaces", raw: "300\u00a0123\u00a04567", region: "CO", want: "+573001234567"},
		{name: "extension cut", raw: "300 123 4567 ext 12", region: "CO", want: "+573001234567"},

		// Rejections, with their Spanish reason.
		{name: "empty", raw: "  ", region: "CO", wantCode: CodeEmpty, wantReason: "vacío"},
		{name: "words", raw: "no tiene", region: "CO", wantCode: CodeNotANumber, wantReason: "no es un número"},
		{name: "email in phone column", raw: "ana@example.com", region: "CO", wantCode: CodeNotANumber},
		{name: "too short for CO", raw: "30012345", region: "CO", wantCode: CodeTooShort, wantReason: "demasiado corto para CO"},
		{name: "too long for CO", raw: "300 123 4567 89", region: "CO", wantCode: CodeTooLong, wantReason: "demasiado largo para CO"},
		{name: "CO landline", raw: "601 2345678", region: "CO", wantCode: CodeLandline, wantReason: "número fijo (no es celular)"},
		{name: "invalid country code", raw: "+999 1234 5678", region: "CO", wantCode: CodeCountry},
		{name: "no region no plus short", raw: "3001234", region: "", wantCode: CodeNoRegion},
		{name: "BR landline", raw: "+55 11 3123 4567", region: "CO", wantCode: CodeLandline},
		{name: "BR impossible 8 digits", raw: "+55 11 1234 5678", region: "CO", wantCode: CodeTooShort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Normalize(tt.raw, tt.region)
			if tt.want == "" {
				e, ok := IsError(err)
				if !ok {
					t.Fatalf("Normalize(%q, %q) = %+v, %v; want *Error %s", tt.raw, tt.region, got, err, tt.wantCode)
				}
				if e.Code != tt.wantCode {
					t.Errorf("code = %s (%s), want %s", e.Code, e.Reason, tt.wantCode)
				}
				if tt.wantReason != "" && e.Reason != tt.wantReason {
					t.Errorf("reason = %q, want %q", e.Reason, tt.wantReason)
				}
				return
			}
			if err != nil {
				t.Fatalf("Normalize(%q, %q): %v", tt.raw, tt.region, err)
			}
			if got.E164 != tt.want {
				t.Errorf("E164 = %s, want %s", got.E164, tt.want)
			}
			if got.WAID != tt.want[1:] {
				t.Errorf("WAID = %s, want %s", got.WAID, tt.want[1:])
			}
			if tt.wantType != "" && got.Type != tt.wantType {
				t.Errorf("Type = %s, want %s", got.Type, tt.wantType)
			}
			if got.Region == "" {
				t.Error("Region empty")
			}
		})
	}
}

func TestNormalizeAcceptLandlines(t *testing.T) {
	t.Parallel()
	got, err := NormalizeWith("+54 11 2345 6789", "CO", Options{AcceptLandlines: true})
	if err != nil || got.E164 != "+541123456789" || got.Type != FixedLine {
		t.Fatalf("got %+v, %v; want the AR landline kept", got, err)
	}
	got, err = NormalizeWith("601 2345678", "CO", Options{AcceptLandlines: true})
	if err != nil || got.E164 != "+576012345678" {
		t.Fatalf("got %+v, %v", got, err)
	}
}

func TestWAIDToE164Candidates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		waID string
		want []string
	}{
		{"573001234567", []string{"+573001234567"}},
		{"5213312345678", []string{"+5213312345678", "+523312345678"}},
		{"5491123456789", []string{"+5491123456789"}},
		{"541123456789", []string{"+541123456789", "+5491123456789"}},
		{"556181234567", []string{"+556181234567", "+5561981234567"}},
		{"5561981234567", []string{"+5561981234567", "+556181234567"}},
		{"+52 1 33 1234 5678", []string{"+5213312345678", "+523312345678"}},
		{"", nil},
	}
	for _, tt := range tests {
		if got := WAIDToE164Candidates(tt.waID); !slices.Equal(got, tt.want) {
			t.Errorf("WAIDToE164Candidates(%q) = %v, want %v", tt.waID, got, tt.want)
		}
	}
	// Every candidate of a Meta wa_id must include the contact Normalize would store.
	for _, pair := range [][2]string{{"5213312345678", "33 1234 5678"}, {"556181234567", "(61) 98123-4567"}} {
		n, err := Normalize(pair[1], map[byte]string{'2': "MX", '5': "BR"}[pair[0][1]])
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(WAIDToE164Candidates(pair[0]), n.E164) {
			t.Errorf("candidates of %s miss %s", pair[0], n.E164)
		}
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"300 123 4567", "+52 1 55 1234 5678", "5.73E+11", "573001234567.0", "(011) 15-2345-6789", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r, err := Normalize(raw, "CO")
		if err == nil && (len(r.E164) < 8 || r.E164[0] != '+') {
			t.Fatalf("Normalize(%q) = %+v", raw, r)
		}
		if err != nil {
			if _, ok := IsError(err); !ok {
				t.Fatalf("untyped error %v", err)
			}
		}
	})
}

// TestFastPathAgrees checks that the fast path gives what phonenumbers' full path gives, on
// random numbers of the regions our users live in.
func TestFastPathAgrees(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	regions := []string{"CO", "MX", "BR", "CL", "PE", "EC", "VE", "GT", "CR", "PA", "DO", "UY", "PY", "BO", "SV", "HN", "NI", "US", "ES", "PR"}
	checked := 0
	for _, region := range regions {
		l := typicalLen(region)
		for range 3000 {
			var b strings.Builder
			b.WriteByte(byte('1' + rng.IntN(9)))
			for b.Len() < l {
				b.WriteByte(byte('0' + rng.IntN(10)))
			}
			d := b.String()
			fr, ok := fast(d, false, region)
			if !ok {
				continue
			}
			checked++
			n, err := phonenumbers.Parse(d, region)
			if err != nil || !phonenumbers.IsValidNumber(n) {
				t.Fatalf("%s %s: fast path accepted %s, full path rejects (%v)", region, d, fr.E164, err)
			}
			if e := phonenumbers.Format(n, phonenumbers.E164); e != fr.E164 || typeOf(phonenumbers.GetNumberType(n)) != fr.Type {
				t.Fatalf("%s %s: fast %s %s, full %s %s", region, d, fr.E164, fr.Type, e, typeOf(phonenumbers.GetNumberType(n)))
			}
			// The international form must agree too.
			if fi, ok := fast(fr.E164[1:], true, "CO"); !ok || fi.E164 != fr.E164 {
				t.Fatalf("%s: international fast path %+v %v", fr.E164, fi, ok)
			}
		}
	}
	if checked < 1000 {
		t.Fatalf("only %d numbers took the fast path", checked)
	}
}

// TestNormalizeWithoutPlus covers digits that could be a national number with a typo or a
// foreign number written without "+" (Latin American exports, WhatsApp's wa_id). Without "+"
// or "00" they are read as international only when they start with the default country's own
// code or are at least 2 digits longer than its longest national mobile; otherwise the national
// reason is reported, so a typo never reaches a stranger abroad.
func TestNormalizeWithoutPlus(t *testing.T) {
	t.Parallel()
	const hint = " (¿le falta el + del país?)"
	tests := []struct {
		name, raw, region string
		want              string // E.164, or "" when an error is expected
		wantCode          string
		wantReason        string
	}{
		// One digit too many: a typo, not France, Malaysia or the US.
		{name: "MX Guadalajara mobile plus a digit is not France", raw: "33612345678", region: "MX", wantCode: CodeTooLong, wantReason: "demasiado largo para MX" + hint},
		{name: "CO landline plus a digit is not Malaysia", raw: "60123456789", region: "CO", wantCode: CodeTooLong, wantReason: "demasiado largo para CO" + hint},
		{name: "CO 11 digits starting 1 is not the US", raw: "13109876543", region: "CO", wantCode: CodeTooLong, wantReason: "demasiado largo para CO" + hint},
		{name: "MX 11 digits starting 1 is not the US", raw: "13105551234", region: "MX", wantCode: CodeTooLong, wantReason: "demasiado largo para MX" + hint},
		// These were reported as French and Dutch landlines: the real reason is national.
		{name: "MX too long rather than French landline", raw: "33123456789", region: "MX", wantCode: CodeTooLong, wantReason: "demasiado largo para MX" + hint},
		{name: "CO too long rather than Dutch landline", raw: "31109876543", region: "CO", wantCode: CodeTooLong, wantReason: "demasiado largo para CO" + hint},
		// Foreign numbers just 1 digit longer than a CO mobile are refused too (they need "+").
		{name: "PE mobile without plus in CO list", raw: "51987654321", region: "CO", wantCode: CodeTooLong, wantReason: "demasiado largo para CO" + hint},
		{name: "CL mobile without plus in CO list", raw: "56961234567", region: "CO", wantCode: CodeTooLong, wantReason: "demasiado largo para CO" + hint},
		// No hint when no foreign number would fit either.
		{name: "CO mobile plus a digit, no foreign reading", raw: "300 123 4567 8", region: "CO", wantCode: CodeTooLong, wantReason: "demasiado largo para CO"},

		// Clearly international: kept.
		{name: "MX wa_id in CO list", raw: "5213312345678", region: "CO", want: "+523312345678"},
		{name: "CO own country code", raw: "573001234567", region: "CO", want: "+573001234567"},
		{name: "AR wa_id in CO list", raw: "5491123456789", region: "CO", want: "+5491123456789"},
		{name: "BR in CO list", raw: "5511987654321", region: "CO", want: "+5511987654321"},
		{name: "BR old 8-digit wa_id in CO list", raw: "556181234567", region: "CO", want: "+5561981234567"},
		{name: "VE in CO list", raw: "584121234567", region: "CO", want: "+584121234567"},
		{name: "EC in CO list", raw: "593991234567", region: "CO", want: "+593991234567"},
		{name: "AR in MX list", raw: "5491123456789", region: "MX", want: "+5491123456789"},
		{name: "BR in MX list", raw: "5511987654321", region: "MX", want: "+5511987654321"},
		{name: "MX own code with old 1", raw: "5213312345678", region: "MX", want: "+523312345678"},
		{name: "MX national old 1 kept", raw: "13312345678", region: "MX", want: "+523312345678"},
		// An explicit "+" or "00" asks for the international reading.
		{name: "France with plus in MX list", raw: "+33612345678", region: "MX", want: "+33612345678"},
		{name: "France with 00 in MX list", raw: "0033612345678", region: "MX", want: "+33612345678"},
		{name: "US with plus in CO list", raw: "+1 310 555 1234", region: "CO", want: "+13105551234"},
		{name: "PE with plus in CO list", raw: "+51 987 654 321", region: "CO", want: "+51987654321"},

		// AR: the national mobile "11 15 2345 6789" has 12 digits, so 13 is one too many.
		{name: "AR own code", raw: "5491123456789", region: "AR", want: "+5491123456789"},
		{name: "AR national 15 kept", raw: "11 15 2345 6789", region: "AR", want: "+5491123456789"},
		{name: "AR without 9 own code", raw: "541123456789", region: "AR", want: "+5491123456789"},
		{name: "BR without plus in AR list", raw: "5511987654321", region: "AR", wantCode: CodeTooLong, wantReason: "demasiado largo para AR" + hint},
		{name: "MX wa_id without plus in AR list", raw: "5213312345678", region: "AR", wantCode: CodeTooLong, wantReason: "demasiado largo para AR" + hint},
		{name: "BR with plus in AR list", raw: "+55 11 98765 4321", region: "AR", want: "+5511987654321"},

		// BR: mobiles have 11 digits.
		{name: "BR own code", raw: "5511987654321", region: "BR", want: "+5511987654321"},
		{name: "BR own code 9th digit added", raw: "556181234567", region: "BR", want: "+5561981234567"},
		{name: "MX wa_id in BR list", raw: "5213312345678", region: "BR", want: "+523312345678"},
		{name: "CO without plus in BR list", raw: "573001234567", region: "BR", wantCode: CodeTooLong, wantReason: "demasiado largo para BR" + hint},
		{name: "US without plus in BR list", raw: "13105551234", region: "BR", wantCode: CodeInvalid, wantReason: "número no válido para BR" + hint},
		{name: "BR mobile plus a digit", raw: "219876543210", region: "BR", wantCode: CodeTooLong, wantReason: "demasiado largo para BR"},

		// PE and CL: mobiles have 9 digits, so 11 is clearly international.
		{name: "PE own code", raw: "51987654321", region: "PE", want: "+51987654321"},
		{name: "US in PE list", raw: "13105551234", region: "PE", want: "+13105551234"},
		{name: "CL in PE list", raw: "56961234567", region: "PE", want: "+56961234567"},
		{name: "PE mobile plus a digit", raw: "9876543210", region: "PE", wantCode: CodeTooLong, wantReason: "demasiado largo para PE"},
		{name: "CL own code", raw: "56961234567", region: "CL", want: "+56961234567"},
		{name: "PE in CL list", raw: "51987654321", region: "CL", want: "+51987654321"},
		{name: "MX wa_id in CL list", raw: "5213312345678", region: "CL", want: "+523312345678"},
		{name: "CL mobile plus a digit", raw: "9612345670", region: "CL", wantCode: CodeTooLong, wantReason: "demasiado largo para CL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Normalize(tt.raw, tt.region)
			if tt.want == "" {
				e, ok := IsError(err)
				if !ok {
					t.Fatalf("Normalize(%q, %q) = %+v, %v; want *Error %s", tt.raw, tt.region, got, err, tt.wantCode)
				}
				if e.Code != tt.wantCode || e.Reason != tt.wantReason {
					t.Errorf("Normalize(%q, %q): %s %q, want %s %q", tt.raw, tt.region, e.Code, e.Reason, tt.wantCode, tt.wantReason)
				}
				return
			}
			if err != nil || got.E164 != tt.want {
				t.Fatalf("Normalize(%q, %q) = %+v, %v; want %s", tt.raw, tt.region, got, err, tt.want)
			}
		})
	}
}

func TestLongestMobile(t *testing.T) {
	t.Parallel()
	for region, want := range map[string]int{"CO": 10, "MX": 10, "AR": 12, "BR": 11, "PE": 9, "CL": 9, "US": 10, "XX": 0} {
		if got := longestMobile(region); got != want {
			t.Errorf("longestMobile(%s) = %d, want %d", region, got, want)
		}
	}
}
