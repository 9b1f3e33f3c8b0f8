package importers

import (
	"strings"

	"github.com/pregon/pregon/phone"
)

// HeaderScanRows is how many rows DetectHeader looks at.
const HeaderScanRows = 20

// DetectHeader returns the index in rows of the header row, or -1 when the file has none.
// The header is the first row of at least two cells where a cell is a known header word
// (teléfono, nombre, correo…) and no cell looks like a phone number; failing that, a first row
// of text cells followed by a row holding a phone number.
func DetectHeader(rows [][]string, defaultRegion string) int {
	n := min(len(rows), HeaderScanRows)
	width := 0
	for _, r := range rows[:n] {
		width = max(width, nonEmpty(r))
	}
	for i, r := range rows[:n] {
		filled := nonEmpty(r)
		if filled == 0 || (filled < 2 && width > 1) {
			continue
		}
		hits, phones := 0, 0
		for _, c := range r {
			if guessKind(c) != "" {
				hits++
			}
			if looksLikeData(c, defaultRegion) {
				phones++
			}
		}
		if hits > 0 && phones == 0 {
			return i
		}
	}
	// No known words: a row of text over a row with a phone number.
	for i := 0; i+1 < n; i++ {
		if nonEmpty(rows[i]) < max(1, width/2) {
			continue
		}
		text := true
		for _, c := range rows[i] {
			if looksLikeData(c, defaultRegion) {
				text = false
			}
		}
		if !text {
			return -1
		}
		for _, c := range rows[i+1] {
			if _, err := phone.Normalize(c, defaultRegion); err == nil {
				return i
			}
		}
		return -1
	}
	return -1
}

func nonEmpty(r []string) int {
	n := 0
	for _, c := range r {
		if strings.TrimSpace(c) != "" {
			n++
		}
	}
	return n
}

// looksLikeData: a number, a date or a phone, which a header cell would not be.
func looksLikeData(c, region string) bool {
	c = strings.TrimSpace(c)
	if c == "" {
		return false
	}
	if _, ok := parseNumber(c); ok {
		return true
	}
	if _, err := parseDate(c, false); err == nil {
		return true
	}
	if strings.ContainsRune(c, '@') {
		return true
	}
	digits := 0
	for _, r := range c {
		if r >= '0' && r <= '9' {
			digits++
		}
	}
	return digits >= 7
}
