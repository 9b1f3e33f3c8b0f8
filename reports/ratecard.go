package reports

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
)

// RateCard is a price list loaded from the operator's CSV (see the package documentation).
type RateCard struct {
	Source string
	rates  map[rateKey][]rate // sorted by effective_from
}

type rateKey struct{ country, category string }

type rate struct {
	from     time.Time
	price    *big.Rat
	currency string
}

// LoadRateCard reads a rate card file. An empty path gives (nil, nil): no cost estimates.
func LoadRateCard(path string) (*RateCard, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("PREGON_RATE_CARD: %w", err)
	}
	defer f.Close()
	rc, err := ParseRateCard(f)
	if err != nil {
		return nil, fmt.Errorf("PREGON_RATE_CARD %s: %w", path, err)
	}
	rc.Source = path
	return rc, nil
}

// ParseRateCard parses the CSV format documented in the package comment.
func ParseRateCard(r io.Reader) (*RateCard, error) {
	cr := csv.NewReader(r)
	cr.TrimLeadingSpace = true
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("reading the header: %w", err)
	}
	idx := map[string]int{}
	for i, h := range head {
		idx[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	for _, want := range []string{"country_code", "category", "price", "currency", "effective_from"} {
		if _, ok := idx[want]; !ok {
			return nil, fmt.Errorf("missing column %q (want country_code,category,price,currency,effective_from)", want)
		}
	}
	rc := &RateCard{rates: map[rateKey][]rate{}}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		get := func(k string) string {
			if i := idx[k]; i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		country := strings.ToUpper(strings.TrimPrefix(get("country_code"), "+"))
		category := strings.ToLower(get("category"))
		price, ok := new(big.Rat).SetString(get("price"))
		if country == "" || category == "" || !ok || price.Sign() < 0 {
			return nil, fmt.Errorf("line %d: want a country code, a category and a non-negative price", line)
		}
		currency := strings.ToUpper(get("currency"))
		if len(currency) != 3 {
			return nil, fmt.Errorf("line %d: currency %q is not an ISO 4217 code", line, currency)
		}
		from, err := time.Parse("2006-01-02", get("effective_from"))
		if err != nil {
			return nil, fmt.Errorf("line %d: effective_from %q: want YYYY-MM-DD", line, get("effective_from"))
		}
		k := rateKey{country, category}
		rc.rates[k] = append(rc.rates[k], rate{from: from, price: price, currency: currency})
	}
	for _, rs := range rc.rates {
		slices.SortFunc(rs, func(a, b rate) int { return a.from.Compare(b.from) })
	}
	return rc, nil
}

// CostEstimate is the estimated cost of billable messages, per currency.
type CostEstimate struct {
	RateCard string          `json:"rate_card"`
	Totals   []CurrencyTotal `json:"totals"`
	Priced   int64           `json:"priced"`   // billable messages with a matching price
	Unpriced int64           `json:"unpriced"` // billable messages with no row in the rate card
	Note     string          `json:"note"`
}

// CurrencyTotal is an amount in one currency, as a decimal string (no float rounding).
type CurrencyTotal struct {
	Currency string `json:"currency"`
	Amount   string `json:"amount"`
}

// find returns the rate for a country (ISO region) and category on a day.
func (rc *RateCard) find(region, category string, day time.Time) (rate, bool) {
	keys := []rateKey{{region, category}}
	if cc := phonenumbers.GetCountryCodeForRegion(region); cc > 0 {
		keys = append(keys, rateKey{strconv.Itoa(cc), category})
	}
	keys = append(keys, rateKey{"*", category})
	for _, k := range keys {
		rs := rc.rates[k]
		for i := len(rs) - 1; i >= 0; i-- {
			if !rs[i].from.After(day) {
				return rs[i], true
			}
		}
	}
	return rate{}, false
}

// Estimate prices billable message groups. A nil rate card gives nil (counts only).
func (rc *RateCard) Estimate(groups []BillableGroup) *CostEstimate {
	if rc == nil {
		return nil
	}
	est := &CostEstimate{RateCard: rc.Source, Totals: []CurrencyTotal{},
		Note: "Estimación: mensajes facturables entregados × tarifa vigente el día del envío; no es una factura de Meta."}
	sums := map[string]*big.Rat{}
	for _, g := range groups {
		day, err := time.Parse("2006-01-02", g.Day)
		if err != nil {
			est.Unpriced += g.Count
			continue
		}
		r, ok := rc.find(strings.ToUpper(g.Country), strings.ToLower(g.Category), day)
		if !ok {
			est.Unpriced += g.Count
			continue
		}
		if sums[r.currency] == nil {
			sums[r.currency] = new(big.Rat)
		}
		sums[r.currency].Add(sums[r.currency], new(big.Rat).Mul(r.price, new(big.Rat).SetInt64(g.Count)))
		est.Priced += g.Count
	}
	for cur, v := range sums {
		est.Totals = append(est.Totals, CurrencyTotal{Currency: cur, Amount: v.FloatString(4)})
	}
	slices.SortFunc(est.Totals, func(a, b CurrencyTotal) int { return strings.Compare(a.Currency, b.Currency) })
	return est
}
