package sim

import (
	"fmt"
	"strings"
	"time"
)

// Since usernames (2026) Meta names every user to a business by a business-scoped user id, a
// BSUID: a two-letter country, a dot and digits ("MX.1349120865530274"). Statuses carry it as
// recipient_user_id and in contacts[].user_id, inbound messages as from_user_id and
// contacts[].user_id; a user who adopted a username may be shown by it alone, without a phone
// (WHATSAPP.md §4a, §4d). The simulator stands for one business portfolio: a user's BSUID
// derives from the seed and their wa_id.

// bsuidCountries maps calling codes to the country prefix of business-scoped user ids.
var bsuidCountries = []struct{ code, country string }{
	{"52", "MX"}, {"57", "CO"}, {"54", "AR"}, {"55", "BR"}, {"56", "CL"}, {"51", "PE"}, {"593", "EC"},
	{"598", "UY"}, {"595", "PY"}, {"591", "BO"}, {"58", "VE"}, {"506", "CR"}, {"507", "PA"}, {"502", "GT"},
	{"503", "SV"}, {"504", "HN"}, {"505", "NI"}, {"1", "US"}, {"34", "ES"},
}

// phoneShownFor is how long a message exchanged with a username user's phone keeps the phone
// in that user's messages to the number (WHATSAPP.md §4d: 30 days).
const phoneShownFor = 30 * 24 * time.Hour

// UserID is the BSUID the simulator gives the user with this phone number or wa_id, as its
// webhooks report it.
func (s *Simulator) UserID(phone string) string { return s.userID(waID(phone)) }

// userID derives a stable business-scoped user id ("MX.1234…") for a wa_id.
func (s *Simulator) userID(waID string) string {
	country := "ZZ"
	for _, c := range bsuidCountries {
		if strings.HasPrefix(waID, c.code) {
			country = c.country
			break
		}
	}
	return fmt.Sprintf("%s.%016d", country, s.rngFor("bsuid", waID).Uint64()%10_000_000_000_000_000)
}

// validBSUID reports whether id looks like a BSUID: two capital letters, a dot, then up to
// 128 letters, digits or dots (a parent BSUID reads "US.ENT.1181…").
func validBSUID(id string) bool {
	if len(id) < 4 || len(id) > 131 || id[2] != '.' {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case i < 2 && c >= 'A' && c <= 'Z', i >= 2 && c == '.',
			i > 2 && (c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'):
		default:
			return false
		}
	}
	return true
}

// usernameUser reports whether the user with this wa_id adopted a username
// (Config.UsernameShare).
func (s *Simulator) usernameUser(waID string) bool {
	return s.cfg.UsernameShare > 0 && s.rngFor("username", waID).Float64() < s.cfg.UsernameShare
}

// username is the handle (contacts[].profile.username) of the username user with this BSUID.
func (s *Simulator) username(bsuid string) string {
	return fmt.Sprintf("cliente.%06d", s.rngFor("handle", bsuid).IntN(1_000_000))
}

// phoneShownLocked reports whether a message from waID to the number shows the user's phone
// (from, contacts[].wa_id) at at: always, unless the user adopted a username and the number
// exchanged no message showing that phone in the last 30 days. A message that shows it
// counts as such an exchange; one that hides it does not (the business never saw the phone).
// s.mu is held.
func (s *Simulator) phoneShownLocked(phoneID, waID string, at time.Time) bool {
	if !s.usernameUser(waID) {
		return true
	}
	k := phoneID + "|" + waID
	last, ok := s.exchanged[k]
	if !ok || at.Sub(last) >= phoneShownFor {
		return false
	}
	s.exchanged[k] = at
	return true
}
