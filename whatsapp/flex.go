package whatsapp

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// FlexString accepts a JSON string, number or boolean (Meta sends ids and limits both ways) and
// keeps its text. null is "".
type FlexString string

// UnmarshalJSON implements json.Unmarshaler.
func (f *FlexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*f = ""
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = FlexString(s)
	case b[0] == '{' || b[0] == '[':
		*f = "" // an unexpected object: tolerated, ignored
	default:
		*f = FlexString(b)
	}
	return nil
}

// String returns the text.
func (f FlexString) String() string { return string(f) }

// Int returns the value as an integer and whether it was one.
func (f FlexString) Int() (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(string(f)), 10, 64)
	return n, err == nil
}

// FlexInt accepts a JSON number or a string holding one. A non-numeric string or null is 0
// (tolerated, not an error).
type FlexInt int64

// UnmarshalJSON implements json.Unmarshaler.
func (f *FlexInt) UnmarshalJSON(b []byte) error {
	var s FlexString
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	str := strings.TrimSpace(string(s))
	if n, err := strconv.ParseInt(str, 10, 64); err == nil {
		*f = FlexInt(n)
		return nil
	}
	if x, err := strconv.ParseFloat(str, 64); err == nil {
		*f = FlexInt(int64(x))
		return nil
	}
	*f = 0
	return nil
}

// Timestamp is a Unix time in seconds sent as a string ("1750030073") or a number.
type Timestamp int64

// UnmarshalJSON implements json.Unmarshaler.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	var n FlexInt
	if err := n.UnmarshalJSON(b); err != nil {
		return err
	}
	*t = Timestamp(n)
	return nil
}

// MarshalJSON writes the string form Meta uses in message webhooks.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	return []byte(`"` + strconv.FormatInt(int64(t), 10) + `"`), nil
}

// Time returns the timestamp as a UTC time; the zero time when unset.
func (t Timestamp) Time() time.Time {
	if t == 0 {
		return time.Time{}
	}
	return time.Unix(int64(t), 0).UTC()
}

// ParseUnix converts a Unix-seconds string to a UTC time; the zero time when s is not a number.
func ParseUnix(s string) time.Time {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n == 0 {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}
