package importers

import (
	"slices"
	"strings"

	"github.com/pregon/pregon/phone"
)

// HeaderScanRows is how many rows DetectHeader looks at.
const HeaderScanRows = 20

// DetectHeader returns the index in rows of the header row, or -1 when the file has none.
// The header is the row with the most cells holding a known header word (teléfono, nombre,
// correo…), of at least two distinct values and with no cell that looks like data; the first
// such row on a tie. A phone or an e-mail address is data in any row, but a number or a date
// ("2023", month columns that are real dates) may head a column: they only rule out a row with
// fewer than two header words. Values are counted once per row, so a merged
// title copied across the table's columns is one value, and "Tienda:" labels of key/value lines
// above the table do not count. Failing that, a first row of text cells followed by a row
// holding a phone number.
func DetectHeader(rows [][]string, defaultRegion string) int {
	n := min(len(rows), HeaderScanRows)
	width := 0
	for _, r := range rows[:n] {
		width = max(width, len(distinctValues(r)))
	}
	best, bestHits, bestFilled := -1, 0, 0
	for i, r := range rows[:n] {
		vals := distinctValues(r)
		filled := len(vals)
		if filled == 0 || (filled < 2 && width > 1) {
			continue
		}
		hits, numbers, data := 0, 0, false
		for _, c := range vals {
			if contactData(c) {
				data = true
				break
			}
			if looksLikeData(c, defaultRegion) {
				numbers++
				continue
			}
			if !strings.HasSuffix(c, ":") && guessKind(c) != "" {
				hits++
			}
		}
		if data || hits == 0 || (numbers > 0 && hits < 2) {
			continue
		}
		if hits > bestHits || (hits == bestHits && filled > bestFilled) {
			best, bestHits, bestFilled = i, hits, filled
		}
	}
	if best >= 0 {
		return best
	}
	// No known words: a row of text over a row with a phone number.
	for i := 0; i+1 < n; i++ {
		if len(distinctValues(rows[i])) < max(1, width/2) {
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

// distinctValues returns a row's distinct non-blank values, trimmed (a merged cell filled
// across columns counts once).
func distinctValues(r []string) []string {
	var out []string
	for _, c := range r {
		c = strings.TrimSpace(c)
		if c != "" && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
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

// contactData: a phone number or an e-mail address, which no header cell is (a number of
// seven digits or more counts as a phone; a date does not, whatever its digits).
func contactData(c string) bool {
	c = strings.TrimSpace(c)
	if strings.ContainsRune(c, '@') {
		return true
	}
	if _, err := parseDate(c, false); err == nil {
		return false
	}
	digits := 0
	for _, r := range c {
		if r >= '0' && r <= '9' {
			digits++
		}
	}
	return digits >= 7
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
