package segments

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	sq "github.com/Masterminds/squirrel"
	"github.com/jackc/pgx/v5"

	"github.com/pregon/pregon/store"
)

// psql is the statement builder for pgx: "?" placeholders become $1…$n.
var psql = sq.StatementBuilder.PlaceholderFormat(sq.Dollar)

// QueryMode is how segment queries should be run with pgx: pass it as the first argument
// (db.Query(ctx, sql, segments.QueryMode, args...)). It plans every execution with the actual
// values (a custom plan), as the values decide which index pays off: a generic plan reused
// from "tag X is rare" would be wrong for "tag Y is everyone". The statement's description is
// still cached, so it costs no extra round trip.
const QueryMode = pgx.QueryExecModeCacheDescribe

// SampleSize is how many eligible contacts a preview shows.
const SampleSize = 20

// Reasons a contact matched the conditions but is not in the audience. Each excluded contact
// is counted once, under the first reason in this order.
const (
	ExcludedOptedOut         = "opted_out"         // asked not to receive marketing
	ExcludedMarketingStopped = "marketing_stopped" // stopped by WhatsApp (user preferences / 131050)
	ExcludedInvalidPhone     = "invalid_phone"     // not a valid WhatsApp number, or undeliverable (store.UndeliverableLimit)
	ExcludedNoConsent        = "no_consent"        // no documented opt-in
)

// ContactSummary is a contact as a preview shows it.
type ContactSummary struct {
	ID        int64    `json:"id"`
	Name      string   `json:"name"`
	PhoneE164 string   `json:"phone_e164"`
	Country   string   `json:"country"`
	Language  string   `json:"language"`
	Tags      []string `json:"tags"`
}

// PreviewResult is what a segment would select now.
type PreviewResult struct {
	// Eligible is the audience: contacts that match and may be sent marketing messages.
	Eligible int64 `json:"eligible"`
	// Matched counts contacts matching the conditions, eligible or not (Eligible + excluded).
	Matched int64 `json:"matched"`
	// Sample is up to SampleSize eligible contacts (the first found, not a random draw),
	// sorted by id.
	Sample []ContactSummary `json:"sample"`
	// Excluded counts contacts that match but are not eligible, by reason (every reason is
	// present, zero or not).
	Excluded map[string]int64 `json:"excluded"`
	// Broadcast: the definition has no condition; the audience is the whole eligible base.
	// Campaigns require an explicit confirmation for it.
	Broadcast bool `json:"broadcast"`
}

// Count returns the size of the audience (eligible contacts matching def).
func Count(ctx context.Context, db store.DBTX, workspaceID int64, def Definition, opts CompileOptions) (int64, error) {
	cond, err := Compile(workspaceID, def, opts)
	if err != nil {
		return 0, err
	}
	sql, args, err := psql.Select("count(*)").From("contacts c").Where(cond).ToSql()
	if err != nil {
		return 0, fmt.Errorf("building the segment count: %w", err)
	}
	var n int64
	if err := db.QueryRow(ctx, sql, append([]any{QueryMode}, args...)...).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting the segment of workspace %d: %w", workspaceID, err)
	}
	return n, nil
}

// Preview computes the eligible count, a sample of eligible contacts and the breakdown of
// contacts that match the conditions but are excluded, in the workspace's time zone.
func Preview(ctx context.Context, db store.DBTX, workspaceID int64, def Definition, now time.Time) (PreviewResult, error) {
	res := PreviewResult{Broadcast: def.IsEmpty(), Sample: []ContactSummary{}, Excluded: map[string]int64{}}
	ws, err := store.WorkspaceGetByID(ctx, db, workspaceID)
	if err != nil {
		return res, fmt.Errorf("reading workspace %d for a segment preview: %w", workspaceID, err)
	}
	opts := CompileOptions{Now: now, Location: ws.Location()}
	match, err := CompileMatch(workspaceID, def, opts)
	if err != nil {
		return res, err
	}
	cond, err := Compile(workspaceID, def, opts)
	if err != nil {
		return res, err
	}

	// One pass over the matching contacts counts the audience and the excluded by reason.
	// The eligible count uses EligibleSQL, the very predicate Compile adds.
	sql, args, err := psql.Select(
		"count(*)",
		"count(*) FILTER (WHERE "+EligibleSQL+")",
		"count(*) FILTER (WHERE c.opted_out_at IS NOT NULL)",
		"count(*) FILTER (WHERE c.opted_out_at IS NULL AND c.marketing_stopped)",
		"count(*) FILTER (WHERE c.opted_out_at IS NULL AND NOT c.marketing_stopped AND NOT c.phone_valid)",
		"count(*) FILTER (WHERE c.opted_out_at IS NULL AND NOT c.marketing_stopped AND c.phone_valid AND c.consent_at IS NULL)",
	).From("contacts c").Where(match).ToSql()
	if err != nil {
		return res, fmt.Errorf("building the segment preview: %w", err)
	}
	var opted, stopped, invalid, noConsent int64
	if err := db.QueryRow(ctx, sql, append([]any{QueryMode}, args...)...).Scan(&res.Matched, &res.Eligible, &opted, &stopped, &invalid, &noConsent); err != nil {
		return res, fmt.Errorf("counting the segment preview of workspace %d: %w", workspaceID, err)
	}
	res.Excluded[ExcludedOptedOut] = opted
	res.Excluded[ExcludedMarketingStopped] = stopped
	res.Excluded[ExcludedInvalidPhone] = invalid
	res.Excluded[ExcludedNoConsent] = noConsent

	// No ORDER BY: with one, the planner may walk the primary key hoping to meet 20 matches
	// early, and a segment that matches nobody through a non-indexable condition then reads
	// the whole table in id order (seconds on a million contacts). Without it the scan stops
	// at the 20th match; the sample is sorted by id below.
	sql, args, err = psql.Select("c.id", "c.name", "c.phone_e164", "c.country", "c.language", "c.tags").
		From("contacts c").Where(cond).Limit(SampleSize).ToSql()
	if err != nil {
		return res, fmt.Errorf("building the segment sample: %w", err)
	}
	rows, err := db.Query(ctx, sql, append([]any{QueryMode}, args...)...)
	if err != nil {
		return res, fmt.Errorf("sampling the segment of workspace %d: %w", workspaceID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var s ContactSummary
		if err := rows.Scan(&s.ID, &s.Name, &s.PhoneE164, &s.Country, &s.Language, &s.Tags); err != nil {
			return res, fmt.Errorf("reading the segment sample: %w", err)
		}
		res.Sample = append(res.Sample, s)
	}
	if err := rows.Err(); err != nil {
		return res, fmt.Errorf("reading the segment sample: %w", err)
	}
	slices.SortFunc(res.Sample, func(a, b ContactSummary) int { return cmp.Compare(a.ID, b.ID) })
	return res, nil
}
