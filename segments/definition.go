package segments

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/pregon/pregon/store"
)

// Limits of a definition. They keep the compiled SQL small and the planner fast.
const (
	MaxDepth      = 5   // nested groups below the root
	MaxConditions = 50  // conditions in the whole definition
	MaxNodes      = 200 // groups and conditions together
	MaxListValues = 500 // values of in / not_in / has_any …
	MaxStringLen  = 200 // characters of a value or an attribute key
	MaxDays       = 3650
	MaxBytes      = 64 << 10 // size of the JSON document
)

// Definition is a segment: a tree of groups and conditions over a workspace's contacts, stored
// as JSON with the segment (never SQL). The zero value has no conditions (IsEmpty).
type Definition struct {
	Root Node
	// problems Parse found in the document's structure; Validate reports them with the rest.
	problems []store.Problem
}

// Node is a group (All, Any, Not) or a Condition. Exactly one of them is set; a node with none
// is an empty group, which matches everything and is skipped when compiling.
type Node struct {
	All  []Node
	Any  []Node
	Not  *Node
	Cond *Condition
}

// Condition is one test on a contact. Which fields apply depends on Field (see doc.go).
type Condition struct {
	Field string `json:"field"`
	// Key is the attribute's name (Field "attribute").
	Key string `json:"key,omitempty"`
	// Type is the attribute's type when the UI knows it: text, number, date or bool. Without it
	// the type is decided from the operator and the value.
	Type string `json:"type,omitempty"`
	Op   string `json:"op"`
	// Value is the operand: a string, a json.Number, a bool or a []any of those.
	Value any `json:"value,omitempty"`
	// CampaignID, Days and ErrorCode qualify engagement conditions.
	CampaignID int64 `json:"campaign_id,omitempty"`
	Days       int   `json:"days,omitempty"`
	ErrorCode  int   `json:"error_code,omitempty"`
}

// IsEmpty reports whether the definition has no condition at all: the segment is every
// eligible contact of the workspace, a broadcast to the whole base.
func (d Definition) IsEmpty() bool { return d.Root.conditions() == 0 }

func (n Node) conditions() int {
	if n.Cond != nil {
		return 1
	}
	c := 0
	for _, k := range n.All {
		c += k.conditions()
	}
	for _, k := range n.Any {
		c += k.conditions()
	}
	if n.Not != nil {
		c += n.Not.conditions()
	}
	return c
}

// MarshalJSON writes the canonical form of the definition.
func (d Definition) MarshalJSON() ([]byte, error) { return json.Marshal(d.Root) }

// UnmarshalJSON parses like Parse; structural problems are kept for Validate.
func (d *Definition) UnmarshalJSON(b []byte) error {
	def, err := Parse(b)
	if err != nil {
		return err
	}
	*d = def
	return nil
}

// Hash is a stable hash (SHA-256, hex) of the canonical JSON: equal definitions written with
// other key orders or spacing hash the same.
func (d Definition) Hash() string {
	b, err := d.MarshalJSON()
	if err != nil { // only for values not built by Parse; hash what we can
		b = fmt.Appendf(nil, "%#v", d.Root)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// MarshalJSON writes a node as {"all":[…]}, {"any":[…]}, {"not":{…}} or a condition object.
func (n Node) MarshalJSON() ([]byte, error) {
	switch {
	case n.Cond != nil:
		c := *n.Cond
		c.Value = canonicalValue(c.Value)
		return json.Marshal(c)
	case n.Not != nil:
		return json.Marshal(map[string]any{"not": n.Not})
	case n.Any != nil:
		return json.Marshal(map[string]any{"any": n.Any})
	default:
		all := n.All
		if all == nil {
			all = []Node{}
		}
		return json.Marshal(map[string]any{"all": all})
	}
}

// canonicalValue normalises number spelling (30.0 → 30) so Hash does not depend on it.
func canonicalValue(v any) any {
	switch x := v.(type) {
	case json.Number:
		if r, ok := parseNumber(string(x)); ok {
			return json.Number(r)
		}
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = canonicalValue(x[i])
		}
		return out
	}
	return v
}

// Parse reads a definition from JSON. It fails only when the document is not JSON or is too
// big; problems with its shape and values are reported by Validate, all at once, each with
// its path. An empty document, null and {} are the empty definition.
func Parse(b []byte) (Definition, error) {
	var d Definition
	if len(b) > MaxBytes {
		return d, store.Invalid("$", fmt.Sprintf("la definición es demasiado grande (más de %d KB)", MaxBytes>>10))
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return d, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return d, store.Invalid("$", "la definición no es JSON válido: "+jsonErr(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return d, store.Invalid("$", "la definición tiene contenido después del JSON")
	}
	if raw == nil {
		return d, nil
	}
	p := &parser{}
	d.Root = p.node(raw, "$", 0)
	d.problems = p.problems
	return d, nil
}

func jsonErr(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("error de sintaxis cerca del carácter %d", se.Offset)
	}
	return err.Error()
}

type parser struct {
	problems []store.Problem
	nodes    int
	conds    int
}

func (p *parser) add(path, msg string) {
	p.problems = append(p.problems, store.Problem{Path: path, Message: msg})
}

func (p *parser) node(raw any, path string, depth int) Node {
	p.nodes++
	if p.nodes == MaxNodes+1 {
		p.add(path, fmt.Sprintf("la definición tiene demasiados elementos (máximo %d)", MaxNodes))
	}
	if p.nodes > MaxNodes {
		return Node{}
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		p.add(path, "se esperaba un grupo ({\"all\": […]}, {\"any\": […]}, {\"not\": {…}}) o una condición ({\"field\": …})")
		return Node{}
	}
	var kinds []string
	for _, k := range []string{"all", "any", "not", "field"} {
		if _, ok := obj[k]; ok {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) == 0 && len(obj) == 0 {
		return Node{} // {} = empty group
	}
	if len(kinds) != 1 {
		p.add(path, "cada elemento debe ser un solo grupo (\"all\", \"any\" o \"not\") o una condición (\"field\")")
		return Node{}
	}
	kind := kinds[0]
	if kind != "field" {
		if len(obj) > 1 {
			p.add(path, fmt.Sprintf("un grupo \"%s\" no lleva otras claves", kind))
		}
		if depth >= MaxDepth {
			p.add(path, fmt.Sprintf("demasiados grupos anidados (máximo %d niveles)", MaxDepth))
			return Node{}
		}
	}
	switch kind {
	case "all", "any":
		list, ok := obj[kind].([]any)
		if !ok {
			p.add(path+"."+kind, "se esperaba una lista de condiciones o grupos")
			return Node{}
		}
		kids := make([]Node, 0, len(list))
		for i, k := range list {
			kids = append(kids, p.node(k, fmt.Sprintf("%s.%s[%d]", path, kind, i), depth+1))
		}
		if kind == "all" {
			return Node{All: kids}
		}
		return Node{Any: kids}
	case "not":
		inner := p.node(obj["not"], path+".not", depth+1)
		return Node{Not: &inner}
	}
	return Node{Cond: p.cond(obj, path)}
}

func (p *parser) cond(obj map[string]any, path string) *Condition {
	p.conds++
	if p.conds == MaxConditions+1 {
		p.add(path, fmt.Sprintf("la definición tiene demasiadas condiciones (máximo %d)", MaxConditions))
	}
	c := &Condition{}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := obj[k]
		kp := path + "." + k
		switch k {
		case "field", "key", "type", "op":
			s, ok := v.(string)
			if !ok {
				p.add(kp, fmt.Sprintf("\"%s\" debe ser un texto", k))
				continue
			}
			s = strings.TrimSpace(s)
			switch k {
			case "field":
				c.Field = strings.ToLower(s)
			case "key":
				c.Key = s
			case "type":
				c.Type = strings.ToLower(s)
			case "op":
				c.Op = strings.ToLower(s)
			}
		case "value":
			c.Value = v
		case "campaign_id", "days", "error_code":
			n, ok := intValue(v)
			if !ok {
				p.add(kp, fmt.Sprintf("\"%s\" debe ser un número entero", k))
				continue
			}
			switch k {
			case "campaign_id":
				c.CampaignID = n
			case "days":
				c.Days = int(min(n, MaxDays+1))
			case "error_code":
				c.ErrorCode = int(min(n, 1<<31-1))
			}
		default:
			p.add(kp, fmt.Sprintf("clave desconocida \"%s\" en la condición", truncate(k)))
		}
	}
	return c
}

// intValue reads a whole JSON number (or a string holding one).
func intValue(v any) (int64, bool) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = string(x)
	case string:
		s = strings.TrimSpace(x)
	case float64:
		s = fmt.Sprint(x)
	case int:
		return int64(x), true
	case int64:
		return x, true
	default:
		return 0, false
	}
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil || fmt.Sprint(n) != s {
		return 0, false
	}
	return n, true
}

// truncate shortens a user string for a message.
func truncate(s string) string {
	r := []rune(s)
	if len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}
