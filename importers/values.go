package importers

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
)

var errBadDate = errors.New("bad date")

// parseDate reads the dates spreadsheets hold: Excel serial numbers (raw date cells), ISO
// (2024-03-01, with or without a time), and day-first dd/mm/yyyy, dd-mm-yyyy, dd.mm.yyyy (two-digit
// years too). Month-first is never assumed: 03/04/2024 is 3 April, and 04/13/2024 is an error.
// allowSerial accepts bare numbers as Excel serials (for columns known to hold dates).
func parseDate(s string, allowSerial bool) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, errBadDate
	}
	if allowSerial {
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			// 1 = 1900-01-01 with Excel's 1900 leap-year bug: count from 1899-12-30.
			if f < 1 || f > 2958465 {
				return time.Time{}, errBadDate
			}
			days := math.Floor(f)
			secs := math.Round((f - days) * 86400)
			return time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(days)).Add(time.Duration(secs) * time.Second), nil
		}
	}
	if len(s) >= 10 && s[4] == '-' && s[7] == '-' {
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"} {
			if t, err := time.Parse(layout, s); err == nil && t.Year() >= 1900 && t.Year() <= 2200 {
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
	t := time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC)
	if t.Day() != d { // 31/02
		return time.Time{}, errBadDate
	}
	if timePart = strings.TrimSpace(timePart); timePart != "" {
		for _, layout := range []string{"15:04:05", "15:04"} {
			if tt, err := time.Parse(layout, timePart); err == nil {
				return t.Add(time.Duration(tt.Hour())*time.Hour + time.Duration(tt.Minute())*time.Minute + time.Duration(tt.Second())*time.Second), nil
			}
		}
		return time.Time{}, errBadDate
	}
	return t, nil
}

// parseBool reads yes/no in Spanish, Portuguese and English (and 1/0, x, ✓).
func parseBool(s string) (bool, bool) {
	switch fold(s) {
	case "si", "s", "yes", "y", "true", "verdadero", "1", "x", "ok", "acepta", "acepto", "aceita", "autoriza", "autorizo", "opt in", "optin", "sim", "v":
		return true, true
	case "no", "n", "false", "falso", "0", "nao", "rechaza", "opt out", "optout", "f":
		return false, true
	}
	if s == "✓" || s == "✔" || s == "☑" {
		return true, true
	}
	return false, false
}

// splitTags splits on , ; | and trims, dropping empties and repeats.
func splitTags(s string) []string {
	f := func(r rune) bool { return r == ',' || r == ';' || r == '|' }
	var out []string
	for _, t := range strings.FieldsFunc(s, f) {
		t = strings.TrimSpace(t)
		if t == "" || len(t) > 64 {
			continue
		}
		dup := false
		for _, o := range out {
			if strings.EqualFold(o, t) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, t)
		}
	}
	return out
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

// parseNumber reads "1.234,5" and "1,234.5" and "1234.5".
func parseNumber(s string) (float64, bool) {
	s = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "$"))
	s = strings.ReplaceAll(s, " ", "")
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
		return f, true
	}
	lc, lp := strings.LastIndexByte(s, ','), strings.LastIndexByte(s, '.')
	switch {
	case lc > lp: // 1.234,5
		s = strings.ReplaceAll(s, ".", "")
		s = strings.Replace(s, ",", ".", 1)
	case lp > lc: // 1,234.5
		s = strings.ReplaceAll(s, ",", "")
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil && !math.IsInf(f, 0) && !math.IsNaN(f)
}
