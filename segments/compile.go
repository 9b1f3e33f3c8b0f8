package segments

import (
	"encoding/json"
	"errors"
	"strings"
	"time"

	sq "github.com/Masterminds/squirrel"

	"github.com/pregon/pregon/store"
)

// CompileOptions are the facts a definition is compiled against.
type CompileOptions struct {
	// Now anchors relative dates ("in the last 30 days"). Zero means time.Now().
	Now time.Time
	// Location is the workspace's time zone: a day "2025-11-28" runs from midnight to
	// midnight there. Nil means UTC.
	Location *time.Location
}

// EligibleSQL is the eligibility every audience carries: documented consent, not opted out,
// not stopped by WhatsApp, a valid phone, not erased. It is written exactly as the predicate
// of the partial index contacts_marketable_idx so the planner can use that index.
const EligibleSQL = "c.consent_at IS NOT NULL AND c.opted_out_at IS NULL AND NOT c.marketing_stopped AND c.phone_valid AND c.erased_at IS NULL"

// inListThreshold: up to this many values, "in" is an OR of jsonb containments (each one can
// use the GIN index on attributes); above it, one = ANY over jsonb values.
const inListThreshold = 50

// Compile turns a definition into a boolean condition over the contacts table aliased c:
//
//	cond, err := segments.Compile(ws.ID, def, segments.CompileOptions{Now: now, Location: ws.Location()})
//	q := sq.StatementBuilder.PlaceholderFormat(sq.Dollar).Select("c.id").From("contacts c").Where(cond)
//
// The condition is always the conjunction of the workspace scope (c.workspace_id), the
// eligibility (EligibleSQL) and the definition's conditions; there is no way to get the
// conditions alone for an audience. Every user value, attribute keys included, is a bound
// argument; the SQL text is made only of fixed fragments chosen by switches. Placeholders are
// "?" so the caller's builder numbers them ($1…) across sub-queries. Run the query with
// QueryMode (custom plans). An invalid definition
// returns a *store.ValidationError with every problem.
func Compile(workspaceID int64, def Definition, opts CompileOptions) (sq.Sqlizer, error) {
	match, err := compileConditions(workspaceID, def, opts)
	if err != nil {
		return nil, err
	}
	cond := sq.And{sq.Expr("c.workspace_id = ?", workspaceID), sq.Expr(EligibleSQL)}
	if match != nil {
		cond = append(cond, match)
	}
	return cond, nil
}

// CompileMatch is the definition's conditions scoped to the workspace (and to contacts not
// erased) WITHOUT eligibility: who matched the conditions, whether or not they may be sent a
// marketing message. It exists only for the preview's breakdown of excluded contacts and
// MUST NOT be used to build an audience; use Compile for that.
func CompileMatch(workspaceID int64, def Definition, opts CompileOptions) (sq.Sqlizer, error) {
	match, err := compileConditions(workspaceID, def, opts)
	if err != nil {
		return nil, err
	}
	cond := sq.And{sq.Expr("c.workspace_id = ?", workspaceID), sq.Expr("c.erased_at IS NULL")}
	if match != nil {
		cond = append(cond, match)
	}
	return cond, nil
}

func compileConditions(workspaceID int64, def Definition, opts CompileOptions) (sq.Sqlizer, error) {
	if workspaceID <= 0 {
		return nil, errors.New("compiling a segment: no workspace")
	}
	if problems := def.Validate(); len(problems) > 0 {
		return nil, &store.ValidationError{Problems: problems}
	}
	cp := &compiler{ws: workspaceID, now: opts.Now, loc: opts.Location}
	if cp.now.IsZero() {
		cp.now = time.Now()
	}
	if cp.loc == nil {
		cp.loc = time.UTC
	}
	return cp.node(def.Root, "$"), nil
}

type compiler struct {
	ws  int64
	now time.Time
	loc *time.Location
}

// node compiles a node; nil means "no condition" (an empty group), which the parent skips.
func (cp *compiler) node(n Node, path string) sq.Sqlizer {
	switch {
	case n.Cond != nil:
		return cp.cond(n.Cond, path)
	case n.Not != nil:
		inner := cp.node(*n.Not, path+".not")
		if inner == nil {
			return nil
		}
		// IS NOT TRUE, not NOT: a condition that is NULL for a contact (no such attribute)
		// counts as false, so "not X" is exactly everyone X does not select.
		return sq.Expr("(?) IS NOT TRUE", inner)
	case n.Any != nil:
		var kids sq.Or
		for _, k := range n.Any {
			if s := cp.node(k, path); s != nil {
				kids = append(kids, s)
			}
		}
		return one(kids, len(kids))
	default:
		var kids sq.And
		for _, k := range n.All {
			if s := cp.node(k, path); s != nil {
				kids = append(kids, s)
			}
		}
		return one(kids, len(kids))
	}
}

// one skips empty groups (an empty sq.Or renders (1=0) and would match nobody) and unwraps
// groups of one.
func one(group sq.Sqlizer, n int) sq.Sqlizer {
	switch n {
	case 0:
		return nil
	case 1:
		switch g := group.(type) {
		case sq.Or:
			return g[0]
		case sq.And:
			return g[0]
		}
	}
	return group
}

func (cp *compiler) cond(c *Condition, path string) sq.Sqlizer {
	v := &validator{}
	o := resolve(c, path, v) // already validated: no problems here
	switch c.Field {
	case FieldName:
		return nameCond(c.Op, o)
	case FieldCountry:
		return anyOf("c.country", c.Op, o.strs)
	case FieldConsentSource:
		lower := make([]string, len(o.strs))
		for i, s := range o.strs {
			lower[i] = strings.ToLower(s)
		}
		return anyOf("lower(c.consent_source)", c.Op, lower)
	case FieldCountryCode:
		pats := make([]string, len(o.strs))
		for i, s := range o.strs {
			pats[i] = "+" + s + "%"
		}
		if c.Op == "not_in" {
			return sq.Expr("NOT (c.phone_e164 LIKE ANY(?::text[]))", pats)
		}
		return sq.Expr("c.phone_e164 LIKE ANY(?::text[])", pats)
	case FieldLanguage:
		var pats []string
		for _, s := range o.strs {
			pats = append(pats, escapeLike(s))
			if !strings.Contains(s, "_") {
				pats = append(pats, escapeLike(s+"_")+"%")
			}
		}
		if c.Op == "not_in" {
			return sq.Expr("NOT (replace(c.language, '-', '_') ILIKE ANY(?::text[]))", pats)
		}
		return sq.Expr("replace(c.language, '-', '_') ILIKE ANY(?::text[])", pats)
	case FieldImportID:
		if c.Op == "not_in" {
			return sq.Expr("(c.import_id IS NULL OR c.import_id <> ALL(?::bigint[]))", o.ints)
		}
		return sq.Expr("c.import_id = ANY(?::bigint[])", o.ints)
	case FieldTags:
		switch c.Op {
		case "has_all":
			return sq.Expr("c.tags @> ?::text[]", o.strs)
		case "has_none":
			return sq.Expr("NOT (c.tags && ?::text[])", o.strs)
		default:
			return sq.Expr("c.tags && ?::text[]", o.strs)
		}
	case FieldCreatedAt, FieldUpdatedAt, FieldConsentAt, FieldLastInboundAt:
		return cp.columnDate(dateColumn(c.Field), c.Op, o)
	case FieldAttribute:
		return cp.attribute(c.Key, c.Op, o)
	case FieldEngagement:
		return cp.engagement(c)
	}
	panic("segments: field passed validation but has no compiler: " + c.Field)
}

// dateColumn maps a field to its column: fixed identifiers, never user text.
func dateColumn(field string) string {
	switch field {
	case FieldCreatedAt:
		return "c.created_at"
	case FieldUpdatedAt:
		return "c.updated_at"
	case FieldConsentAt:
		return "c.consent_at"
	case FieldLastInboundAt:
		return "c.last_inbound_at"
	}
	panic("segments: no column for " + field)
}

func anyOf(col, op string, vals []string) sq.Sqlizer {
	if op == "not_in" {
		return sq.Expr(col+" <> ALL(?::text[])", vals)
	}
	return sq.Expr(col+" = ANY(?::text[])", vals)
}

func nameCond(op string, o operand) sq.Sqlizer {
	switch op {
	case "exists":
		if o.negate {
			return sq.Expr("c.name = ''")
		}
		return sq.Expr("c.name <> ''")
	case "eq":
		return sq.Expr("lower(c.name) = lower(?::text)", o.strs[0])
	case "neq":
		return sq.Expr("(c.name <> '' AND lower(c.name) <> lower(?::text))", o.strs[0])
	case "contains":
		return sq.Expr("c.name ILIKE ?::text", "%"+escapeLike(o.strs[0])+"%")
	case "starts_with":
		return sq.Expr("c.name ILIKE ?::text", escapeLike(o.strs[0])+"%")
	}
	panic("segments: name op " + op)
}

// escapeLike escapes LIKE's wildcards so user text matches literally.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// startOfDay is midnight of day (a date in UTC from time.Parse) in the workspace's zone.
func (cp *compiler) startOfDay(day time.Time) time.Time {
	return time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, cp.loc)
}

func (cp *compiler) columnDate(col, op string, o operand) sq.Sqlizer {
	switch op {
	case "exists":
		if o.negate {
			return sq.Expr(col + " IS NULL")
		}
		return sq.Expr(col + " IS NOT NULL")
	case "in_last":
		return sq.Expr(col+" >= ?", cp.now.AddDate(0, 0, -o.days))
	case "before":
		return sq.Expr(col+" < ?", cp.lower(o.dates[0]))
	case "after":
		d := o.dates[0]
		if d.instant {
			return sq.Expr(col+" > ?", d.t)
		}
		return sq.Expr(col+" >= ?", cp.startOfDay(d.day.AddDate(0, 0, 1)))
	case "between":
		lo, hi := o.dates[0], o.dates[1]
		if hi.instant {
			return sq.Expr("("+col+" >= ? AND "+col+" <= ?)", cp.lower(lo), hi.t)
		}
		return sq.Expr("("+col+" >= ? AND "+col+" < ?)", cp.lower(lo), cp.startOfDay(hi.day.AddDate(0, 0, 1)))
	}
	panic("segments: date op " + op)
}

func (cp *compiler) lower(d dateWhen) time.Time {
	if d.instant {
		return d.t
	}
	return cp.startOfDay(d.day)
}

// Attribute expressions. The key is always a bound argument (c.attributes->>$n). Casts are
// guarded so a row holding another type yields NULL (no match), never an error: numbers are
// read only where jsonb_typeof says 'number', dates are compared as 'YYYY-MM-DD' text (which
// orders like dates) only where the value starts with that shape, so '2023-02-30' or 'abc'
// can never make ::date fail. The jsonb ? operator is never used (no ?/?? escaping at all).
const (
	attrText   = "(c.attributes->>?::text)"
	attrHas    = "(c.attributes->>?::text) <> ''"
	attrIsNum  = "jsonb_typeof(c.attributes->?::text) = 'number'"
	attrIsBool = "jsonb_typeof(c.attributes->?::text) = 'boolean'"
	attrIsDate = "(c.attributes->>?::text) ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}'"
	attrNum    = "(CASE WHEN jsonb_typeof(c.attributes->?::text) = 'number' THEN (c.attributes->?::text)::numeric END)"
	attrDate   = "(CASE WHEN (c.attributes->>?::text) ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}' THEN left(c.attributes->>?::text, 10) END)"
	containsJS = "c.attributes @> ?::jsonb"
)

// has is "the attribute holds a value of the type" (any non-empty value when untyped).
func has(typ, key string) sq.Sqlizer {
	switch typ {
	case TypeNumber:
		return sq.Expr(attrIsNum, key)
	case TypeBool:
		return sq.Expr(attrIsBool, key)
	case TypeDate:
		return sq.Expr(attrIsDate, key)
	}
	return sq.Expr(attrHas, key)
}

// jsonValue is the typed JSON scalar of a canonical value (a number stays a number).
func jsonValue(typ, s string) any {
	switch typ {
	case TypeNumber:
		return json.Number(s)
	case TypeBool:
		return s == "true"
	}
	return s
}

// containment builds {"key": value} for c.attributes @> $n, which the GIN jsonb_path_ops
// index answers. json.Marshal escapes the key and the value; both travel as one argument.
func containment(key, typ, s string) string {
	b, err := json.Marshal(map[string]any{key: jsonValue(typ, s)})
	if err != nil {
		panic("segments: marshalling a containment: " + err.Error())
	}
	return string(b)
}

// inValues is "the attribute equals one of vals".
func inValues(key, typ string, vals []string) sq.Sqlizer {
	if len(vals) > inListThreshold {
		js := make([]string, len(vals))
		for i, s := range vals {
			b, _ := json.Marshal(jsonValue(typ, s))
			js[i] = string(b)
		}
		return sq.Expr("(c.attributes->?::text) = ANY(?::jsonb[])", key, js)
	}
	or := make(sq.Or, len(vals))
	for i, s := range vals {
		or[i] = sq.Expr(containsJS, containment(key, typ, s))
	}
	return one(or, len(or))
}

func (cp *compiler) attribute(key, op string, o operand) sq.Sqlizer {
	typ := o.typ
	switch op {
	case "exists":
		if o.negate {
			return sq.Expr("(?) IS NOT TRUE", has(typ, key))
		}
		return has(typ, key)
	case "eq", "in":
		return inValues(key, typ, o.strs)
	case "neq", "not_in":
		return sq.And{has(typ, key), sq.Expr("(?) IS NOT TRUE", inValues(key, typ, o.strs))}
	case "contains":
		return sq.Expr(attrText+" ILIKE ?::text", key, "%"+escapeLike(o.strs[0])+"%")
	case "starts_with":
		return sq.Expr(attrText+" ILIKE ?::text", key, escapeLike(o.strs[0])+"%")
	}
	var cmp string
	switch op {
	case "gt", "after":
		cmp = " > "
	case "gte":
		cmp = " >= "
	case "lt", "before":
		cmp = " < "
	case "lte":
		cmp = " <= "
	}
	if typ == TypeNumber {
		switch op {
		case "between":
			return sq.Expr(attrNum+" BETWEEN ?::numeric AND ?::numeric", key, key, o.strs[0], o.strs[1])
		case "gt", "gte", "lt", "lte":
			return sq.Expr(attrNum+cmp+"?::numeric", key, key, o.strs[0])
		}
	}
	if typ == TypeDate {
		switch op {
		case "between":
			return sq.Expr(attrDate+" BETWEEN ?::text AND ?::text", key, key, o.strs[0], o.strs[1])
		case "in_last":
			today := cp.now.In(cp.loc)
			return sq.Expr(attrDate+" BETWEEN ?::text AND ?::text", key, key,
				today.AddDate(0, 0, -o.days).Format(time.DateOnly), today.Format(time.DateOnly))
		case "in_next":
			today := cp.now.In(cp.loc)
			return sq.Expr(attrDate+" BETWEEN ?::text AND ?::text", key, key,
				today.Format(time.DateOnly), today.AddDate(0, 0, o.days).Format(time.DateOnly))
		case "gt", "gte", "lt", "lte", "before", "after":
			return sq.Expr(attrDate+cmp+"?::text", key, key, o.strs[0])
		}
	}
	panic("segments: attribute op " + op + " for type " + typ)
}

// engagement is an EXISTS over the contact's recipient rows (and inbound messages for
// replies). Recipient states only move forward (sent → delivered → read), so the state says
// how far a message got.
func (cp *compiler) engagement(c *Condition) sq.Sqlizer {
	sql := "EXISTS (SELECT 1 FROM recipients r WHERE r.contact_id = c.id AND r.workspace_id = ?"
	args := []any{cp.ws}
	if c.CampaignID != 0 {
		sql += " AND r.campaign_id = ?"
		args = append(args, c.CampaignID)
	}
	if c.Days != 0 {
		sql += " AND r.campaign_id IN (SELECT cp.id FROM campaigns cp WHERE cp.workspace_id = ? AND cp.launched_at >= ?)"
		args = append(args, cp.ws, cp.now.AddDate(0, 0, -c.Days))
	}
	switch c.Op {
	case "received":
		sql += " AND r.state IN ('sent', 'delivered', 'read')"
	case "delivered":
		sql += " AND r.state IN ('delivered', 'read')"
	case "read":
		sql += " AND r.state = 'read'"
	case "not_read":
		sql += " AND r.state IN ('sent', 'delivered')"
	case "failed":
		sql += " AND r.state = 'failed'"
		if c.ErrorCode != 0 {
			sql += " AND r.error_code = ?"
			args = append(args, c.ErrorCode)
		}
	case "replied":
		sql += " AND (r.replied_at IS NOT NULL OR EXISTS (SELECT 1 FROM messages m WHERE m.contact_id = r.contact_id" +
			" AND m.workspace_id = ? AND m.campaign_id = r.campaign_id AND m.direction = 'inbound'))"
		args = append(args, cp.ws)
	default:
		panic("segments: engagement op " + c.Op)
	}
	return sq.Expr(sql+")", args...)
}
