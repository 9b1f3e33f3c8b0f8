package campaigns

import (
	"fmt"
	"strings"
	"time"

	sq "github.com/Masterminds/squirrel"
)

// fieldSQL is the SQL of each contact field over contacts c; it must agree with Contact.field.
var fieldSQL = map[string]string{
	"name":       "c.name",
	"first_name": "split_part(btrim(c.name), ' ', 1)",
	"last_name":  "substr(btrim(c.name), length(split_part(btrim(c.name), ' ', 1)) + 2)",
	"phone":      "c.phone_e164",
	"email":      "c.email",
	"country":    "c.country",
	"language":   "c.language",
}

// cleanSQL is clean() in SQL: new lines and tabs become spaces, surrounding spaces go; NULL
// when nothing is left.
func cleanSQL(expr string) string {
	return "NULLIF(btrim(translate(" + expr + ", E'\\n\\r\\t', '   ')), '')"
}

// valueSQL is one variable's value for contact c (NULL when missing), with ? placeholders.
func (v Variable) valueSQL() (string, []any) {
	var expr string
	var args []any
	switch v.Source {
	case SourceField:
		expr = fieldSQL[v.Key]
		if expr == "" {
			expr = "NULL::text"
		}
	case SourceAttribute:
		expr, args = "(c.attributes ->> ?::text)", []any{v.Key}
	default:
		expr, args = "?::text", []any{v.Value}
	}
	expr = cleanSQL(expr)
	if v.Fallback != "" {
		expr = "COALESCE(" + expr + ", ?::text)"
		args = append(args, v.Fallback)
	}
	return expr, args
}

// variablesSQL builds what recipients.variables freezes: the JSON array of the values
// a.v0…vN, in mapping order (see Rendered). One jsonb_build_array per row costs a fraction of
// building (or concatenating and parsing) the whole Rendered, and the row is about half as wide.
func (m Mapping) variablesSQL() (string, []any) {
	if len(m.Variables) == 0 {
		return "'[]'::jsonb", nil
	}
	vals := make([]string, len(m.Variables))
	for i := range m.Variables {
		vals[i] = fmt.Sprintf("a.v%d", i)
	}
	return "jsonb_build_array(" + strings.Join(vals, ", ") + ")", nil
}

// Snapshot describes how a campaign's audience becomes recipients.
type Snapshot struct {
	WorkspaceID int64
	CampaignID  int64
	Audience    sq.Sqlizer // condition over contacts c: workspace scope and eligibility included
	Mapping     Mapping
	// FrequencyCap skips contacts that already have FrequencyCap or more marketing campaign
	// messages sent since Since or still on their way in running/paused campaigns. 0 disables it.
	FrequencyCap int
	Since        time.Time
	Now          time.Time // contacts cooling down after 131049 until after Now are skipped
}

// marketingCampaignsSQL selects the ids of a workspace's (one ? placeholder) campaigns whose
// messages count toward the marketing frequency cap: those of a MARKETING template, or of a
// template whose category is unknown (empty, or no template: counted, as SnapshotFor caps them).
const marketingCampaignsSQL = `SELECT mk.id FROM campaigns mk
	LEFT JOIN templates mt ON mt.id = mk.template_id AND mt.workspace_id = mk.workspace_id
	WHERE mk.workspace_id = ? AND COALESCE(mt.category, '') IN ('MARKETING', '')`

// from is the FROM shared by the snapshot and the plan: a derived table "a" with every audience
// contact (a.id, a.phone_e164, a.wa_id), its cleaned values a.v0…vN (NULL when missing) and
// its skip reason a.reason (NULL when it will be sent).
//
// Two nested sub-selects, each fenced with OFFSET 0 so the planner does not flatten them:
// flattened, every reference to a value or to the reason re-evaluates its whole expression
// (the reason is used three times, each value twice), which tripled the launch's CPU time.
func (s Snapshot) from() (string, []any, error) {
	cond, condArgs, err := s.Audience.ToSql()
	if err != nil {
		return "", nil, fmt.Errorf("compiling the audience: %w", err)
	}
	var b strings.Builder
	var args []any
	b.WriteString(` FROM (SELECT b.*, CASE WHEN b.cooled_until > ? THEN ?`)
	args = append(args, s.Now, SkipCoolingDown)
	if s.FrequencyCap > 0 {
		b.WriteString(` WHEN b.fc_n >= ? THEN ?`)
		args = append(args, s.FrequencyCap, SkipFrequencyCap)
	}
	for i, v := range s.Mapping.Variables {
		b.WriteString(fmt.Sprintf(` WHEN b.v%d IS NULL THEN ?::text`, i))
		args = append(args, SkipMissingPrefix+v.Param.Key())
	}
	b.WriteString(` END AS reason FROM (SELECT c.id, c.phone_e164, c.wa_id, c.cooled_until`)
	if s.FrequencyCap > 0 {
		b.WriteString(`, fc.n AS fc_n`)
	}
	for i, v := range s.Mapping.Variables {
		e, a := v.valueSQL()
		b.WriteString(", " + e + fmt.Sprintf(" AS v%d", i))
		args = append(args, a...)
	}
	b.WriteString(` FROM contacts c`)
	if s.FrequencyCap > 0 {
		// Marketing messages per contact in the cap's period — sent since Since (index
		// recipients_workspace_sent_idx), plus those still on their way in the workspace's
		// running or paused campaigns (recipients_campaign_state_contact_idx) — counted in one
		// grouped pass and hash-joined, not probed contact by contact. Only campaigns of
		// marketing templates count (the cap is on marketing; a utility reminder is not one):
		// the workspace's marketing campaigns are a small set, hashed once (a semi-join), not a
		// lookup per recipient. A template of unknown category (none synced, or none at all)
		// counts, as SnapshotFor caps such a campaign as marketing.
		b.WriteString(` LEFT JOIN (SELECT x.contact_id, count(*) AS n FROM (
				SELECT r.contact_id FROM recipients r WHERE r.workspace_id = ? AND r.sent_at >= ?
				  AND r.campaign_id IN (` + marketingCampaignsSQL + `)
				UNION ALL
				SELECT r.contact_id FROM campaigns k JOIN recipients r ON r.campaign_id = k.id
				WHERE k.workspace_id = ? AND k.state IN ('running', 'paused') AND k.id <> ?
				  AND k.id IN (` + marketingCampaignsSQL + `)
				  AND r.state IN ('pending', 'queued', 'sending', 'unknown') AND r.sent_at IS NULL
			) x GROUP BY x.contact_id) fc ON fc.contact_id = c.id`)
		args = append(args, s.WorkspaceID, s.Since, s.WorkspaceID, s.WorkspaceID, s.CampaignID, s.WorkspaceID)
	}
	b.WriteString(` WHERE c.workspace_id = ? AND (` + cond + `) OFFSET 0) b OFFSET 0) a`)
	args = append(args, s.WorkspaceID)
	args = append(args, condArgs...)
	return b.String(), args, nil
}

// InsertSQL is the one set-based statement that freezes the audience into recipients: pending
// with their rendered variables, or skipped with a reason. It has no ON CONFLICT clause (a
// speculative insert per row costs ~20 %): the launch runs it once, under the campaign's row
// lock, while the campaign is still scheduled and has no recipients; the unique
// (campaign_id, contact_id) constraint still guards against a second run. Placeholders are $n.
func (s Snapshot) InsertSQL() (string, []any, error) {
	from, fromArgs, err := s.from()
	if err != nil {
		return "", nil, err
	}
	vars, varArgs := s.Mapping.variablesSQL()
	q := `INSERT INTO recipients (workspace_id, campaign_id, contact_id, phone_e164, wa_id, variables, state, skip_reason)
		SELECT ?, ?, a.id, a.phone_e164, a.wa_id,
		       CASE WHEN a.reason IS NULL THEN ` + vars + ` ELSE '{}'::jsonb END,
		       CASE WHEN a.reason IS NULL THEN 'pending' ELSE 'skipped' END,
		       COALESCE(a.reason, '')` + from
	args := append([]any{s.WorkspaceID, s.CampaignID}, varArgs...)
	args = append(args, fromArgs...)
	q, err = sq.Dollar.ReplacePlaceholders(q)
	return q, args, err
}

// CountSQL counts the audience by skip reason ("" = will be sent): rows of (reason, count).
func (s Snapshot) CountSQL() (string, []any, error) {
	from, args, err := s.from()
	if err != nil {
		return "", nil, err
	}
	q, err := sq.Dollar.ReplacePlaceholders(`SELECT COALESCE(a.reason, ''), count(*)` + from + ` GROUP BY 1`)
	return q, args, err
}

// RenderSQL selects the rendered variables and skip reason of the audience's contacts, for
// checking the SQL rendering against Render: rows of (contact id, variables, reason).
func (s Snapshot) RenderSQL() (string, []any, error) {
	from, fromArgs, err := s.from()
	if err != nil {
		return "", nil, err
	}
	vars, varArgs := s.Mapping.variablesSQL()
	q, err := sq.Dollar.ReplacePlaceholders(`SELECT a.id, CASE WHEN a.reason IS NULL THEN ` + vars + ` END, COALESCE(a.reason, '')` + from + ` ORDER BY a.id`)
	return q, append(varArgs, fromArgs...), err
}
