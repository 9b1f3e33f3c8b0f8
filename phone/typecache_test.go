package phone

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/nyaruka/phonenumbers"
	"google.golang.org/protobuf/proto"
)

func TestPlanPrefixes(t *testing.T) {
	for _, c := range []struct {
		patterns []string
		number   string
		prefix   string // "": not memoisable
	}{
		{[]string{`3\d{9}`}, "3001234567", "3"},
		{[]string{`3(?:0[0-5]|1\d|2[0-3]|5[01]|70)\d{7}`}, "3001234567", "300"},
		{[]string{`3(?:0[0-5]|1\d|2[0-3]|5[01]|70)\d{7}`}, "3101234567", "31"},
		{[]string{`3(?:0[0-5]|1\d)\d{7}`, `333301[0-5]\d{3}`}, "3001234567", "300"},
		{[]string{`3(?:0[0-5]|1\d)\d{7}`, `333301[0-5]\d{3}`}, "3333012345", "3333012"},
		{[]string{`(?:1\d|[2-8])\d{6,7}`}, "21234567", "2"},
		{[]string{`\d{7,10}`}, "21234567", "2"},
		{[]string{`\d{2,3}[1-5]\d{4}`}, "21234567", ""},           // a constrained digit after a variable width
		{[]string{`\d{2,3}[1-5]\d{4}`, `9\d{7}`}, "91234567", ""}, // the open branch is not ruled out
		{[]string{`1[0-2]?[3-9]\d{5}`}, "1234567", "123"},         // 1[3-9]… is ruled out by the 2
		{[]string{`(?:[2-9]\d{2}){2}\d{4}`}, "2125551234", "2125"},
	} {
		p := newPlan(c.patterns)
		if p == nil {
			t.Fatalf("%v: no plan", c.patterns)
		}
		got, _ := p.prefixFor(c.number)
		if got != c.prefix {
			t.Errorf("%v %s: prefix %q, want %q", c.patterns, c.number, got, c.prefix)
		}
	}
}

// The memoised verdict is the one phonenumbers gives, number by number, over many numbering
// plans (one region per code and shared codes such as +1 and +7).
func TestVerdictMemoAgrees(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	memoised, hits := 0, 0
	for _, region := range []string{"CO", "MX", "BR", "US", "CA", "PE", "CL", "EC", "VE", "ES", "DE", "GB", "IT", "FR",
		"RU", "KZ", "IN", "GT", "DO", "PR", "UY", "PY", "BO", "CR", "PA", "SV", "HN", "NI", "JM", "AT", "CN"} {
		cc := phonenumbers.GetCountryCodeForRegion(region)
		if planFor(cc) != nil {
			memoised++
		}
		for range 3000 {
			n := 6 + rng.IntN(7)
			nat := strconv.Itoa(1 + rng.IntN(9))
			for len(nat) < n {
				nat += strconv.Itoa(rng.IntN(10))
			}
			// Half the numbers share their leading digits with an example mobile: the memo's hits.
			if ex := phonenumbers.GetExampleNumberForType(region, phonenumbers.MOBILE); ex != nil && rng.IntN(2) == 0 {
				e := strconv.FormatUint(ex.GetNationalNumber(), 10)
				k := 1 + rng.IntN(len(e))
				nat = e[:k]
				for len(nat) < len(e) {
					nat += strconv.Itoa(rng.IntN(10))
				}
			}
			nn, _ := strconv.ParseUint(nat, 10, 64)
			num := &phonenumbers.PhoneNumber{CountryCode: proto.Int32(int32(cc)), NationalNumber: proto.Uint64(nn)}
			want := verdict{t: phonenumbers.GetNumberType(num), region: phonenumbers.GetRegionCodeForNumber(num)}
			for range 2 { // the second lookup may come from the memo
				got, hit := lookupVerdict(cc, nat, nn)
				if got != want {
					t.Fatalf("+%d %s: memo %+v, phonenumbers %+v", cc, nat, got, want)
				}
				if hit {
					hits++
				}
			}
		}
	}
	t.Logf("%d country codes memoisable, %d memo hits", memoised, hits)
	if memoised < 20 || hits < 50_000 {
		t.Errorf("only %d of the country codes are memoisable, %d hits", memoised, hits)
	}
}
