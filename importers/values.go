package importers

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Why a date cell was not read; dateReason words them for the error report.
var (
	errBadDate   = errors.New("bad date")
	errDateYear  = errors.New("a year, not a date")
	errDateRange = errors.New("Excel date serial out of range")
)

// Excel date serials accepted: from 1 March 1900 (before it, Excel's phantom 29 February 1900
// shifts every date) to the end of 2200. Numbers from 1000 to 2999 are years, not serials
// (2024 would be 1905-07-16): a birth year or a consent year is not a date.
const (
	serialMin      = 61
	serialMax      = 109_939 // 2200-12-31
	yearLikeMin    = 1000
	yearLikeMaxExc = 3000
)

// parseDate is parseDateIn in UTC, for callers that only ask whether a value is a date.
func parseDate(s string, allowSerial bool) (time.Time, error) {
	return parseDateIn(s, allowSerial, time.UTC)
}

// parseDateIn reads the dates spreadsheets hold: Excel serial numbers (raw date cells), ISO
// (2024-03-01, with or without a time), and day-first dd/mm/yyyy, dd-mm-yyyy, dd.mm.yyyy (two-digit
// years too). Month-first is never assumed: 03/04/2024 is 3 April, and 04/13/2024 is an error.
// allowSerial accepts bare numbers as Excel serials (for cells that can be raw workbook dates);
// a bare number from 1000 to 2999 is errDateYear either way.
// A date or time without a zone is a wall-clock time in loc (the workspace's time zone): a
// consent given on 04/10/2025 in Bogotá began at midnight there, not at midnight UTC. An ISO
// time with an offset or a Z keeps it.
func parseDateIn(s string, allowSerial bool, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, errBadDate
	}
	if f, err := strconv.ParseFloat(s, 64); plainNumber(s) && err == nil {
		switch {
		case f >= yearLikeMin && f < yearLikeMaxExc:
			return time.Time{}, errDateYear
		case !allowSerial:
			return time.Time{}, errBadDate
		case f < serialMin || f >= serialMax+1:
			return time.Time{}, errDateRange
		}
		// Excel counts 1 = 1900-01-01 with its 1900 leap-year bug: from 1 March 1900 on, that is
		// counting from 1899-12-30.
		days := math.Floor(f)
		secs := int(math.Round((f - days) * 86400))
		return time.Date(1899, 12, 30+int(days), secs/3600, secs/60%60, secs%60, 0, loc), nil
	}
	if len(s) >= 10 && s[4] == '-' && s[7] == '-' {
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"} {
			if t, err := time.ParseInLocation(layout, s, loc); err == nil && t.Year() >= 1900 && t.Year() <= 2200 {
				return t, nil
			}
		}
		return time.Time{}, errBadDate
	}
	// Day first. Split off a time part.
	datePart, timePart, _ := strings.Cut(s, " ")
	sep := byte(0)
	for _, c := range []byte{'/', '-', '.'} {
		if strings.Count(datePart, string(c)) == 2 {
			sep = c
			break
		}
	}
	if sep == 0 {
		return time.Time{}, errBadDate
	}
	p := strings.Split(datePart, string(sep))
	d, err1 := strconv.Atoi(p[0])
	mo, err2 := strconv.Atoi(p[1])
	y, err3 := strconv.Atoi(p[2])
	if err1 != nil || err2 != nil || err3 != nil || len(p[2]) == 3 || len(p[2]) > 4 {
		return time.Time{}, errBadDate
	}
	yearDigits := len(p[2])
	if len(p[0]) == 4 { // yyyy/mm/dd
		d, y, yearDigits = y, d, 4
	}
	if yearDigits <= 2 {
		y += 2000
		if y > time.Now().Year()+10 {
			y -= 100
		}
	}
	if mo < 1 || mo > 12 || d < 1 || d > 31 || y < 1900 || y > 2200 {
		return time.Time{}, errBadDate
	}
	t := time.Date(y, time.Month(mo), d, 0, 0, 0, 0, loc)
	if t.Day() != d { // 31/02
		return time.Time{}, errBadDate
	}
	if timePart = strings.TrimSpace(timePart); timePart != "" {
		for _, layout := range []string{"15:04:05", "15:04"} {
			if tt, err := time.Parse(layout, timePart); err == nil {
				return time.Date(y, time.Month(mo), d, tt.Hour(), tt.Minute(), tt.Second(), 0, loc), nil
			}
		}
		return time.Time{}, errBadDate
	}
	return t, nil
}

// dateReason is the error report's reason for a date parseDate rejected.
func dateReason(err error) string {
	switch err {
	case errDateYear:
		return "parece solo un año: escriba la fecha completa (dd/mm/aaaa o aaaa-mm-dd)"
	case errDateRange:
		return "fecha fuera de rango (entre 1900 y 2200)"
	}
	return "fecha inválida (use dd/mm/aaaa o aaaa-mm-dd)"
}

// plainNumber: digits with at most one decimal point, as a raw numeric cell holds them.
func plainNumber(s string) bool {
	dot := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return s != "" && s != "."
}

// Yes/no words, folded (see fold). agree and refuse are what a consent column says in full
// ("acepto", "rechaza"); a yes or a no may come before an agree ("Sí, acepto", "No acepto").
var (
	boolYes     = []string{"si", "s", "yes", "y", "true", "verdadero", "1", "x", "ok", "sim", "v"}
	boolNo      = []string{"no", "n", "false", "falso", "0", "nao", "f"}
	boolAgree   = []string{"acepto", "acepta", "aceptado", "aceptada", "aceptar", "aceito", "aceita", "autoriza", "autorizo", "autorizado", "autorizada", "opt in", "optin", "de acuerdo", "agree", "i agree", "accept", "accepted", "concordo"}
	boolYesLead = []string{"si", "sim", "yes"}
	boolNoLead  = []string{"no", "nao", "not", "dont"}
	boolRefuse  = []string{"rechaza", "rechazo", "rechazado", "rechazada", "opt out", "optout", "no gracias", "recusa", "recuso"}
)

// parseBool reads yes/no in Spanish, Portuguese and English (and 1/0, x, ✓), alone or with a
// consent verb: "Sí, acepto", "SI ACEPTO", "acepto", "No acepto", "no acepta", "Sim", "Não".
func parseBool(s string) (bool, bool) {
	f := fold(s)
	switch {
	case slices.Contains(boolYes, f), slices.Contains(boolAgree, f):
		return true, true
	case slices.Contains(boolNo, f), slices.Contains(boolRefuse, f):
		return false, true
	}
	// A yes or a no, then a consent verb or the same answer again: "sí, acepto", "no, no acepto".
	if first, rest, ok := strings.Cut(f, " "); ok {
		yes, no := slices.Contains(boolYesLead, first), slices.Contains(boolNoLead, first)
		if yes || no {
			b, ok := parseBool(rest)
			agree := slices.Contains(boolAgree, rest)
			switch {
			case yes && (agree || ok && b):
				return true, true
			case no && (agree || ok && !b):
				return false, true
			}
		}
	}
	if s := strings.TrimSpace(s); s == "✓" || s == "✔" || s == "☑" {
		return true, true
	}
	return false, false
}

// maxTag is the longest tag, in characters (the API's limit too).
const maxTag = 64

// splitTags splits on , ; | and trims, dropping empties and repeats. long is the first tag over
// maxTag characters, which the caller reports rather than dropping it unseen.
func splitTags(s string) (tags []string, long string) {
	f := func(r rune) bool { return r == ',' || r == ';' || r == '|' }
	for _, t := range strings.FieldsFunc(s, f) {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		if utf8.RuneCountInString(t) > maxTag {
			if long == "" {
				long = t
			}
			continue
		}
		dup := false
		for _, o := range tags {
			if strings.EqualFold(o, t) {
				dup = true
				break
			}
		}
		if !dup {
			tags = append(tags, t)
		}
	}
	return tags, long
}

// validEmail is a cheap syntactic check: one @, a dot in the domain, no spaces.
func validEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	if at < 1 || at != strings.LastIndexByte(s, '@') || strings.ContainsAny(s, " \t,;<>") {
		return false
	}
	dom := s[at+1:]
	dot := strings.LastIndexByte(dom, '.')
	return dot > 0 && dot < len(dom)-1
}

// normLanguage maps language names and codes to the codes templates use ("es", "pt_BR", "en").
func normLanguage(s string) (string, bool) {
	switch f := fold(s); f {
	case "es", "espanol", "spanish", "castellano", "espanhol":
		return "es", true
	case "pt", "pt br", "portugues", "portuguese":
		return "pt_BR", true
	case "en", "ingles", "english":
		return "en", true
	}
	s = strings.ReplaceAll(strings.TrimSpace(s), "-", "_")
	if len(s) == 2 || (len(s) == 5 && s[2] == '_') {
		out := strings.ToLower(s[:2])
		if len(s) == 5 {
			out += "_" + strings.ToUpper(s[3:])
		}
		for _, r := range out {
			if r != '_' && (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') {
				return "", false
			}
		}
		return out, true
	}
	return "", false
}

// parseNumber reads a number as people type it in Latin America and the US: "1234.5",
// "1.234,5", "1,234.5", "1.234.567", "$ 12.000", "R$ 1.234,50", "-3,5".
//
// With both separators the last one is the decimal one, and the other must group thousands.
// A separator used once and followed by exactly three digits, after one to three digits that
// are not a lone 0, groups thousands: "12.000" is twelve thousand, as it is in a Latin American
// price list, and so is "12,000" (a US export); "0.500", "12.5" and "3,5" are decimals. Used
// more than once, a separator groups thousands and must do so exactly ("1.234.567"); anything
// that fits neither reading ("1.23.4", "1,234.5.6") is not a number rather than a guess.
func parseNumber(s string) (float64, bool) {
	f, _, ok := parseNumberDigits(s)
	return f, ok
}

// parseNumberDigits is parseNumber that also returns the unsigned digits it read, as
// canonicalDigits writes them ("1234.5"), or as written in exponent form ("1.5E+3").
func parseNumberDigits(s string) (float64, string, bool) {
	s = strings.TrimSpace(s)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = strings.TrimSpace(s[1:])
	}
	for _, cur := range []string{"US$", "R$", "$"} {
		if strings.HasPrefix(s, cur) {
			s = s[len(cur):]
			break
		}
	}
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\u00a0' || r == '\u202f' { // spaces, and no-break ones as French-style thousands
			return -1
		}
		return r
	}, s)
	if !neg && strings.HasPrefix(s, "-") { // "$ -12"
		neg, s = true, s[1:]
	}
	if s == "" || s[0] == '-' {
		return 0, "", false
	}
	digits, ok := canonicalDigits(s)
	if !ok {
		if strings.Trim(s, "0123456789.eE+-") != "" {
			return 0, "", false
		}
		digits = s // "1.5E+3", as a workbook may store a large number
	}
	f, err := strconv.ParseFloat(digits, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, "", false
	}
	if neg {
		f = -f
	}
	return f, digits, true
}

// canonicalDigits rewrites digits with thousands and decimal separators (see parseNumber) as
// "1234.5"; ok is false when s holds anything else or its groups fit no reading.
func canonicalDigits(s string) (string, bool) {
	s = strings.TrimPrefix(s, "+")
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && c != '.' && c != ',' {
			return "", false
		}
	}
	lc, lp := strings.LastIndexByte(s, ','), strings.LastIndexByte(s, '.')
	var dec byte // the decimal separator, 0 for none
	switch {
	case lc >= 0 && lp >= 0:
		dec = s[max(lc, lp)]
	case lc >= 0 || lp >= 0:
		i := max(lc, lp)
		if strings.Count(s, s[i:i+1]) == 1 && !(len(s)-i-1 == 3 && thousandsGroup(s[:i], true)) {
			dec = s[i]
		}
	}
	intPart, frac := s, ""
	if dec != 0 {
		i := strings.LastIndexByte(s, dec)
		intPart, frac = s[:i], s[i+1:]
		if strings.ContainsAny(frac, ".,") || strings.IndexByte(intPart, dec) >= 0 {
			return "", false
		}
	}
	if strings.ContainsAny(intPart, ".,") {
		groups := strings.FieldsFunc(intPart, func(r rune) bool { return r == '.' || r == ',' })
		if strings.Contains(intPart, ".") && strings.Contains(intPart, ",") || len(groups) != strings.Count(intPart, ".")+strings.Count(intPart, ",")+1 ||
			!thousandsGroup(groups[0], true) {
			return "", false
		}
		for _, g := range groups[1:] {
			if !thousandsGroup(g, false) {
				return "", false
			}
		}
		intPart = strings.Join(groups, "")
	}
	if intPart == "" && frac == "" {
		return "", false
	}
	if intPart == "" {
		intPart = "0"
	}
	if frac == "" {
		return intPart, true
	}
	return intPart + "." + frac, true
}

// thousandsGroup: the first group of a grouped number has one to three digits and is not a lone
// 0; the others have exactly three.
func thousandsGroup(g string, first bool) bool {
	if first {
		return len(g) >= 1 && len(g) <= 3 && g != "0"
	}
	return len(g) == 3
}

// parseNumberCell reads a cell that may be a workbook's raw numeric value: Excel stores 1.125
// as "1.125" and never with trailing zeros ("12.000"), so such a value is read as written
// before parseNumber's thousands rule. rawFirst is false for a CSV, whose cells are typed text.
func parseNumberCell(s string, rawFirst bool) (float64, bool) {
	f, _, ok := parseNumberCellDigits(s, rawFirst)
	return f, ok
}

// parseNumberCellDigits is parseNumberCell that also returns the unsigned digits it read (see
// parseNumberDigits).
func parseNumberCellDigits(s string, rawFirst bool) (float64, string, bool) {
	if rawFirst {
		t := strings.TrimPrefix(strings.TrimSpace(s), "-")
		if plainNumber(t) && (!strings.Contains(t, ".") || !strings.HasSuffix(t, "0")) {
			if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
				return f, t, true
			}
		}
	}
	return parseNumberDigits(s)
}

// exactDigits is the longest integer part a float64 keeps digit for digit whatever the digits
// (2^53 has 16 digits, but not every 16-digit integer is below it).
const exactDigits = 15

// keepsDigits reports whether f, read from digits (unsigned, as parseNumberDigits returns
// them), still has every digit of their integer part: a 22-digit CBU or an id of 19 digits read
// as a float64 comes back with other last digits. Decimals beyond a float's precision (Excel's
// own "1.1000000000000001") and numbers already written as a float ("2.85E+21") are kept as a
// float holds them.
func keepsDigits(digits string, f float64) bool {
	if strings.ContainsAny(digits, "eE") {
		return true
	}
	intPart, frac, _ := strings.Cut(digits, ".")
	intPart = strings.TrimLeft(intPart, "0")
	if len(intPart) <= exactDigits {
		return true
	}
	return strings.Trim(frac, "0") == "" && strconv.FormatFloat(math.Abs(f), 'f', 0, 64) == intPart
}

// intDigits counts the digits of the integer part of digits (as keepsDigits reads them).
func intDigits(digits string) int {
	intPart, _, _ := strings.Cut(digits, ".")
	return len(strings.TrimLeft(intPart, "0"))
}

// CleanText makes s storable as Postgres text: without NUL characters (Excel's _x0000_) and
// valid UTF-8 (U+FFFD for each bad sequence).
func CleanText(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// CleanMapping applies CleanText to a mapping's headers and attribute keys, which come from
// the file's header row: stored as jsonb (the imports row's mapping, the contacts' attributes),
// a NUL in them would fail the import.
func CleanMapping(m *Mapping) {
	for i := range m.Columns {
		c := &m.Columns[i]
		c.Header, c.Key = CleanText(c.Header), CleanText(c.Key)
	}
}
