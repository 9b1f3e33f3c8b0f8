// Package phone normalises phone numbers the way Pregón stores them: E.164 from
// nyaruka/phonenumbers with the workspace's default country, plus the WhatsApp quirks of Latin
// America (Mexico's old mobile "1", Argentina's mobile "9" and national "15", Brazil's 9th
// digit) and the forms spreadsheets produce ("573001234567.0", "300 123 4567", "0057 …").
//
// Importers and webhooks share it: importers call Normalize on every row, webhooks call
// WAIDToE164Candidates to match an inbound wa_id with a stored contact.
package phone

import (
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// Type is the kind of line a number belongs to.
type Type string

// Line types reported in Result.Type.
const (
	Mobile            Type = "mobile"
	FixedLineOrMobile Type = "fixed_line_or_mobile"
	FixedLine         Type = "fixed_line"
	VoIP              Type = "voip"
	Personal          Type = "personal"
	Unknown           Type = "unknown"
)

// Result is a normalised number.
type Result struct {
	E164   string `json:"e164"`   // "+573001234567"
	Region string `json:"region"` // ISO 3166-1 alpha-2 of the number ("CO")
	Type   Type   `json:"type"`
	// WAID is the wa_id WhatsApp is expected to use for the number: the E.164 digits without
	// "+". Meta may still report an older form (MX 521…, BR 8-digit); see WAIDToE164Candidates.
	WAID string `json:"wa_id"`
	// Adjusted says which quirk changed the number, if any: "mx_mobile_1_removed",
	// "ar_mobile_9_added", "br_9th_digit_added", "excel_decimal_removed".
	Adjusted string `json:"adjusted,omitempty"`
}

// Error codes of *Error.
const (
	CodeEmpty      = "empty"
	CodeNotANumber = "not_a_number"
	CodeScientific = "scientific_notation"
	CodeTooShort   = "too_short"
	CodeTooLong    = "too_long"
	CodeCountry    = "invalid_country_code"
	CodeInvalid    = "invalid"
	CodeLandline   = "landline"
	CodeSpecial    = "special_number"
	CodeNoRegion   = "no_region"
)

// Error is a number that cannot be used, with a stable code and a reason a marketer reads
// (Spanish first, English second).
type Error struct {
	Code     string
	Reason   string // Spanish: "demasiado corto para CO"
	ReasonEN string // English: "too short for CO"
	Input    string
}

func (e *Error) Error() string { return e.ReasonEN + " (" + e.Code + "): " + e.Input }

func newErr(code, input, es, en string) *Error {
	return &Error{Code: code, Reason: es, ReasonEN: en, Input: input}
}

// IsError returns the *Error inside err, if any.
func IsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

var (
	reExcelDecimal = regexp.MustCompile(`^\+?\d+\.0+$`)
	reScientific   = regexp.MustCompile(`^(\d)(?:[.,](\d+))?[eE]\+?(\d{1,2})$`)
)

// Normalize parses raw with defaultRegion (ISO code, used only when raw has no country code)
// and returns the E.164 form WhatsApp uses, or an *Error saying why the number is unusable.
// Landlines are rejected, except Argentinian numbers written without the mobile 9, which are
// retried with it (a WhatsApp list is a list of mobiles). Digits without "+" or "00" that are
// not a valid national number are read as international only when clearly so (see
// readAsInternational); otherwise the national reason is given, with a hint when a "+" would
// have made them a valid foreign number.
func Normalize(raw, defaultRegion string) (Result, error) {
	return NormalizeWith(raw, defaultRegion, Options{})
}

// Options change Normalize's rules.
type Options struct {
	// AcceptLandlines keeps FIXED_LINE numbers (WhatsApp Business can run on a landline) instead
	// of rejecting them; Argentinian numbers without 9 are then kept as written.
	AcceptLandlines bool
}

// NormalizeWith is Normalize with options.
func NormalizeWith(raw, defaultRegion string, opt Options) (Result, error) {
	region := strings.ToUpper(strings.TrimSpace(defaultRegion))
	in := strings.TrimSpace(raw)
	s := stripFormatMarks(in)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "tel:"), "TEL:")
	s = strings.TrimSpace(s)
	if s == "" {
		return Result{}, newErr(CodeEmpty, in, "vacío", "empty")
	}
	adjusted := ""
	// Excel numeric cells: "573001234567.0", "5.73001234567E+11".
	if strings.IndexByte(s, '.') >= 0 && reExcelDecimal.MatchString(s) {
		s = s[:strings.IndexByte(s, '.')]
		adjusted = "excel_decimal_removed"
	} else if m := scientific(s); m != nil {
		exp := 0
		fmt.Sscan(m[3], &exp)
		if len(m[2]) < exp { // digits were lost when the cell was formatted
			return Result{}, newErr(CodeScientific, in,
				"número en notación científica (faltan dígitos); dé formato de texto a la columna",
				"number in scientific notation (digits lost); format the column as text")
		}
		f, _, err := big.ParseFloat(strings.ReplaceAll(s, ",", "."), 10, 128, big.ToNearestEven)
		if err != nil {
			return Result{}, newErr(CodeNotANumber, in, "no es un número", "not a number")
		}
		bi, _ := f.Int(nil)
		s = bi.String()
		adjusted = "excel_decimal_removed"
	}
	// Keep digits and a leading +; anything else but separators means it is not a number.
	var b strings.Builder
	plus := false
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && b.Len() == 0 && !plus:
			plus = true
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')' || r == '/' || r == '\u00a0' || r == '\u2011' || r == '\u2013' || r == '\'' || r == '_':
		case unicode.IsSpace(r):
		default:
			// "ext" / "x" extensions: cut there.
			rest := strings.ToLower(s[i:])
			if b.Len() >= 7 && (strings.HasPrefix(rest, "ext") || strings.HasPrefix(rest, "x") || strings.HasPrefix(rest, "#")) {
				goto done
			}
			return Result{}, newErr(CodeNotANumber, in, "no es un número", "not a number")
		}
	}
done:
	digits := b.String()
	if digits == "" {
		return Result{}, newErr(CodeNotANumber, in, "no es un número", "not a number")
	}
	if !plus && strings.HasPrefix(digits, "00") && len(digits) > 4 {
		digits, plus = digits[2:], true // international prefix written as 00
	}
	if !plus && region == "" {
		if len(digits) < 8 {
			return Result{}, newErr(CodeNoRegion, in, "sin código de país y sin país por defecto", "no country code and no default country")
		}
		plus = true
	}
	if r, ok := fast(digits, plus, region); ok {
		r.Adjusted = adjusted
		return r, nil
	}
	// Mexico: national "044"/"045" mobile prefixes and the old "1" after 52.
	if !plus && region == "MX" && (strings.HasPrefix(digits, "044") || strings.HasPrefix(digits, "045")) && len(digits) == 13 {
		digits = digits[3:]
		adjusted = "mx_mobile_1_removed"
	}
	cands := []string{}
	refused := "" // the international reading a national number was not given
	if plus {
		cands = append(cands, "+"+digits)
	} else {
		cands = append(cands, digits)
		// "5213312345678" in a CO workspace: a full international number without "+". It is
		// tried only after the national reading, and only when it is clearly international:
		// "33612345678" in MX is a Guadalajara mobile with a digit too many, not France.
		if readAsInternational(digits, region) {
			cands = append(cands, "+"+digits)
		} else {
			refused = "+" + digits
		}
	}
	var (
		num      *phonenumbers.PhoneNumber
		firstNum *phonenumbers.PhoneNumber
		parseErr error
	)
	for _, c := range cands {
		n, err := phonenumbers.Parse(c, region)
		if err != nil {
			if parseErr == nil {
				parseErr = err
			}
			continue
		}
		n, adj := fixQuirks(n)
		if firstNum == nil {
			firstNum = n
		}
		if phonenumbers.IsValidNumber(n) {
			num = n
			if adj != "" {
				adjusted = adj
			}
			break
		}
	}
	if num == nil {
		var e *Error
		switch {
		case firstNum != nil:
			e = invalidReason(firstNum, region, in)
		case errors.Is(parseErr, phonenumbers.ErrInvalidCountryCode):
			e = newErr(CodeCountry, in, "código de país inválido", "invalid country code")
		case errors.Is(parseErr, phonenumbers.ErrTooShortNSN), errors.Is(parseErr, phonenumbers.ErrTooShortAfterIDD):
			e = tooShort(in, region)
		case errors.Is(parseErr, phonenumbers.ErrNumTooLong):
			e = tooLong(in, region)
		default:
			e = newErr(CodeNotANumber, in, "no es un número", "not a number")
		}
		if refused != "" && validNumber(refused) {
			// The reason stays the national one; the number might be foreign, written without "+".
			e.Reason += " (¿le falta el + del país?)"
			e.ReasonEN += " (missing the + and country code?)"
		}
		return Result{}, e
	}
	res := Result{
		E164:     phonenumbers.Format(num, phonenumbers.E164),
		Region:   phonenumbers.GetRegionCodeForNumber(num),
		Type:     typeOf(phonenumbers.GetNumberType(num)),
		Adjusted: adjusted,
	}
	switch phonenumbers.GetNumberType(num) {
	case phonenumbers.FIXED_LINE:
		if !opt.AcceptLandlines {
			if res.Region == "AR" {
				// "+54 11 2345 6789": a valid landline; a WhatsApp list means the mobile with 9.
				n9, err := phonenumbers.Parse("+549"+fmt.Sprint(num.GetNationalNumber()), "")
				if err == nil && phonenumbers.IsValidNumber(n9) && phonenumbers.GetNumberType(n9) == phonenumbers.MOBILE {
					res.E164 = phonenumbers.Format(n9, phonenumbers.E164)
					res.Type = Mobile
					res.Adjusted = "ar_mobile_9_added"
					break
				}
			}
			return Result{}, newErr(CodeLandline, in, "número fijo (no es celular)", "landline (not a mobile)")
		}
	case phonenumbers.TOLL_FREE, phonenumbers.PREMIUM_RATE, phonenumbers.SHARED_COST, phonenumbers.UAN, phonenumbers.PAGER, phonenumbers.VOICEMAIL:
		return Result{}, newErr(CodeSpecial, in, "número especial (gratuito, de tarifa o de servicio)", "special number (toll-free, premium or service)")
	}
	res.WAID = strings.TrimPrefix(res.E164, "+")
	return res, nil
}

// fixQuirks rewrites the WhatsApp-era forms phonenumbers rejects: MX "+52 1 …" and
// BR mobiles without the 9th digit.
func fixQuirks(n *phonenumbers.PhoneNumber) (*phonenumbers.PhoneNumber, string) {
	nat := fmt.Sprint(n.GetNationalNumber())
	switch n.GetCountryCode() {
	case 52:
		if len(nat) == 11 && nat[0] == '1' && !phonenumbers.IsValidNumber(n) {
			if m, err := phonenumbers.Parse("+52"+nat[1:], ""); err == nil && phonenumbers.IsValidNumber(m) {
				return m, "mx_mobile_1_removed"
			}
		}
		if len(nat) == 12 && (strings.HasPrefix(nat, "44") || strings.HasPrefix(nat, "45")) && !phonenumbers.IsValidNumber(n) {
			if m, err := phonenumbers.Parse("+52"+nat[2:], ""); err == nil && phonenumbers.IsValidNumber(m) {
				return m, "mx_mobile_1_removed"
			}
		}
	case 55:
		// 2-digit area code + 8 digits starting 6–9: a mobile from before the 9th digit.
		if len(nat) == 10 && nat[2] >= '6' && !phonenumbers.IsValidNumber(n) {
			if m, err := phonenumbers.Parse("+55"+nat[:2]+"9"+nat[2:], ""); err == nil && phonenumbers.IsValidNumber(m) {
				return m, "br_9th_digit_added"
			}
		}
	case 54:
		// "+54 9 11 15 2345 6789": both the 9 and the national 15.
		if len(nat) == 13 && nat[0] == '9' && !phonenumbers.IsValidNumber(n) {
			for _, area := range []int{2, 3, 4} {
				if nat[1+area:3+area] == "15" {
					if m, err := phonenumbers.Parse("+549"+nat[1:1+area]+nat[3+area:], ""); err == nil && phonenumbers.IsValidNumber(m) {
						return m, ""
					}
				}
			}
		}
	}
	return n, ""
}

// readAsInternational says whether digits, written without "+" or "00" in a list whose default
// country is region, may also be read as a full international number (after the national
// reading failed). They may when they start with the region's own country code (the reading
// cannot leave the country: "573001234567" in CO), or when they are at least 2 digits longer
// than the region's longest national mobile: one digit too many is far more likely a typo
// ("33612345678" in MX, "13109876543" in CO) than a foreign number missing its "+", and
// reading it as one would send a campaign to a stranger abroad. As before, fewer than 11
// digits are never read as international.
func readAsInternational(digits, region string) bool {
	if len(digits) < 11 {
		return false
	}
	if cc := phonenumbers.GetCountryCodeForRegion(region); cc != 0 && strings.HasPrefix(digits, strconv.Itoa(cc)) {
		return true
	}
	return len(digits) >= longestMobile(region)+2
}

// mobileLen memoises longestMobile (derived, immutable data; safe for concurrent use).
var mobileLen sync.Map // region → int

// longestMobile is the length of region's longest national mobile number as its people write
// it without a trunk prefix (a form starting with 0 is never a country code): the longest of
// the metadata's possible mobile lengths, plus one for Argentina, whose national form has "15"
// (two digits) where the international one has "9" (one): "11 15 2345 6789". 0 for an unknown
// region.
func longestMobile(region string) int {
	if v, ok := mobileLen.Load(region); ok {
		return v.(int)
	}
	n := 0
	for _, md := range metadataByCode()[phonenumbers.GetCountryCodeForRegion(region)] {
		if md.GetId() != region {
			continue
		}
		for _, desc := range []*phonenumbers.PhoneNumberDesc{md.GetMobile(), md.GetGeneralDesc()} {
			for _, l := range desc.GetPossibleLength() {
				n = max(n, int(l))
			}
			if n > 0 {
				break // an empty list means the general description's lengths
			}
		}
	}
	if region == "AR" && n > 0 {
		n++
	}
	mobileLen.Store(region, n)
	return n
}

// validNumber says whether the international number s (with "+") is valid, quirks fixed.
func validNumber(s string) bool {
	n, err := phonenumbers.Parse(s, "")
	if err != nil {
		return false
	}
	n, _ = fixQuirks(n)
	return phonenumbers.IsValidNumber(n)
}

// nationalLen memoises the length of each region's example mobile number (derived, immutable
// data; safe for concurrent use).
var nationalLen sync.Map // region → int

func typicalLen(region string) int {
	if v, ok := nationalLen.Load(region); ok {
		return v.(int)
	}
	n := 0
	if ex := phonenumbers.GetExampleNumberForType(region, phonenumbers.MOBILE); ex != nil {
		n = len(strconv.FormatUint(ex.GetNationalNumber(), 10))
	}
	nationalLen.Store(region, n)
	return n
}

// fast handles the common, unambiguous shapes without phonenumbers.Parse (which costs ~10 µs):
// a full international number, or a national number of the region's usual length that does not
// start with a national prefix. Only mobile results are accepted here; anything else takes the
// full path, so the two agree (TestFastPathAgrees).
func fast(digits string, plus bool, region string) (Result, bool) {
	var cc int
	var nat string
	if plus {
		for l := 1; l <= 3 && l < len(digits); l++ {
			c, _ := strconv.Atoi(digits[:l])
			if phonenumbers.GetRegionCodeForCountryCode(c) != phonenumbers.UNKNOWN_REGION {
				cc, nat = c, digits[l:]
				break
			}
		}
	} else {
		if region == "" || region == "AR" {
			return Result{}, false
		}
		cc = phonenumbers.GetCountryCodeForRegion(region)
		ccs := strconv.Itoa(cc)
		switch tl := typicalLen(region); {
		case len(digits) == tl:
			nat = digits
		case len(digits) == len(ccs)+tl && strings.HasPrefix(digits, ccs):
			nat = digits[len(ccs):] // "573001234567": the country code without "+"
		default:
			return Result{}, false
		}
	}
	if cc == 0 || cc == 54 || nat == "" || nat[0] == '0' || len(nat) > 17 {
		return Result{}, false
	}
	nn, err := strconv.ParseUint(nat, 10, 64)
	if err != nil {
		return Result{}, false
	}
	v, _ := lookupVerdict(cc, nat, nn)
	t, reg := v.t, v.region
	if t != phonenumbers.MOBILE && t != phonenumbers.FIXED_LINE_OR_MOBILE {
		return Result{}, false
	}
	if reg == "" || reg == phonenumbers.UNKNOWN_REGION {
		return Result{}, false
	}
	e164 := "+" + strconv.Itoa(cc) + nat
	return Result{E164: e164, Region: reg, Type: typeOf(t), WAID: e164[1:]}, true
}

// scientific matches reScientific, skipping the regular expression when s has no exponent.
func scientific(s string) []string {
	if strings.IndexAny(s, "eE") < 0 {
		return nil
	}
	return reScientific.FindStringSubmatch(s)
}

func invalidReason(n *phonenumbers.PhoneNumber, defaultRegion, in string) *Error {
	region := phonenumbers.GetRegionCodeForNumber(n)
	if region == "" || region == "ZZ" {
		region = phonenumbers.GetRegionCodeForCountryCode(int(n.GetCountryCode()))
	}
	if region == "" || region == "ZZ" {
		return newErr(CodeCountry, in, "código de país inválido", "invalid country code")
	}
	switch phonenumbers.IsPossibleNumberWithReason(n) {
	case phonenumbers.INVALID_COUNTRY_CODE:
		return newErr(CodeCountry, in, "código de país inválido", "invalid country code")
	case phonenumbers.TOO_SHORT:
		return tooShort(in, region)
	case phonenumbers.TOO_LONG:
		return tooLong(in, region)
	}
	// Compare with the length of the region's mobiles.
	if want := typicalLen(region); want > 0 {
		got := len(strconv.FormatUint(n.GetNationalNumber(), 10))
		if got < want {
			return tooShort(in, region)
		}
		if got > want {
			return tooLong(in, region)
		}
	}
	return newErr(CodeInvalid, in, "número no válido para "+region, "invalid number for "+region)
}

func tooShort(in, region string) *Error {
	return newErr(CodeTooShort, in, "demasiado corto para "+region, "too short for "+region)
}

func tooLong(in, region string) *Error {
	return newErr(CodeTooLong, in, "demasiado largo para "+region, "too long for "+region)
}

func typeOf(t phonenumbers.PhoneNumberType) Type {
	switch t {
	case phonenumbers.MOBILE:
		return Mobile
	case phonenumbers.FIXED_LINE_OR_MOBILE:
		return FixedLineOrMobile
	case phonenumbers.FIXED_LINE:
		return FixedLine
	case phonenumbers.VOIP:
		return VoIP
	case phonenumbers.PERSONAL_NUMBER:
		return Personal
	}
	return Unknown
}

var (
	reMX1  = regexp.MustCompile(`^521(\d{10})$`)
	reAR   = regexp.MustCompile(`^54([1-8]\d{9})$`)
	reBR8  = regexp.MustCompile(`^55(\d{2})([6-9]\d{7})$`)
	reBR9  = regexp.MustCompile(`^55(\d{2})9(\d{8})$`)
	reOnly = regexp.MustCompile(`\D`)
)

// WAIDToE164Candidates returns the E.164 forms a stored contact may have for an inbound wa_id,
// most likely first: the wa_id itself, then MX 521… → +52…, AR 54… without 9 → +549…,
// BR 8-digit → with the 9th digit (and the reverse, for contacts stored before it).
func WAIDToE164Candidates(waID string) []string {
	d := reOnly.ReplaceAllString(waID, "")
	if d == "" {
		return nil
	}
	out := []string{"+" + d}
	if m := reMX1.FindStringSubmatch(d); m != nil {
		out = append(out, "+52"+m[1])
	}
	if m := reAR.FindStringSubmatch(d); m != nil {
		out = append(out, "+549"+m[1])
	}
	if m := reBR8.FindStringSubmatch(d); m != nil {
		out = append(out, "+55"+m[1]+"9"+m[2])
	}
	if m := reBR9.FindStringSubmatch(d); m != nil && m[2][0] >= '6' {
		out = append(out, "+55"+m[1]+m[2])
	}
	return out
}

// stripFormatMarks drops the invisible format characters (Unicode Cf: direction marks U+200E,
// U+202A…U+202E, U+2066…U+2069, the zero-width space U+200B, the BOM) that numbers copied from
// WhatsApp Web or a phone's contact card carry around their digits.
func stripFormatMarks(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return strings.Map(func(r rune) rune {
				if unicode.Is(unicode.Cf, r) {
					return -1
				}
				return r
			}, s)
		}
	}
	return s
}
