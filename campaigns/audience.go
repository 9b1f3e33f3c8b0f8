package campaigns

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	sq "github.com/Masterminds/squirrel"

	"github.com/pregon/pregon/segments"
	"github.com/pregon/pregon/store"
)

// Audience is a campaign's segment, ready to evaluate and to freeze with the launch.
type Audience struct {
	Cond       sq.Sqlizer      // over contacts c; workspace scope and marketing eligibility included
	Definition json.RawMessage // the segment definition as evaluated (frozen on the campaign)
	Hash       string          // its hash
	Broadcast  bool            // no conditions: every marketable contact
}

// Eligible is the marketing-eligibility condition every audience carries (documented opt-in,
// not opted out, not stopped by WhatsApp, valid number, not erased), as segments.EligibleSQL
// writes it (the predicate of the partial index contacts_marketable_idx).
var Eligible = sq.Expr(segments.EligibleSQL)

// CompileFunc turns a segment definition into an audience condition over contacts c (the
// segments package's Compile). It must include the workspace scope and Eligible.
type CompileFunc func(workspaceID int64, definition json.RawMessage, now time.Time, loc *time.Location) (cond sq.Sqlizer, empty bool, hash string, err error)

// AudienceFor loads the campaign's segment and compiles it (relative dates from now, days in
// loc, the workspace's time zone). Without a segment the audience is every marketable contact
// of the workspace (a broadcast).
func AudienceFor(ctx context.Context, db store.DBTX, c store.Campaign, compile CompileFunc, now time.Time, loc *time.Location) (Audience, error) {
	def := json.RawMessage(`{}`)
	if c.SegmentID != nil {
		if err := db.QueryRow(ctx, `SELECT definition FROM segments WHERE workspace_id = $1 AND id = $2`,
			c.WorkspaceID, *c.SegmentID).Scan(&def); err != nil {
			return Audience{}, fmt.Errorf("reading segment %d of campaign %d: %w", *c.SegmentID, c.ID, store.NotFoundIfNoRows(err))
		}
	}
	if compile == nil {
		compile = CompileEligibleOnly
	}
	cond, empty, hash, err := compile(c.WorkspaceID, def, now, loc)
	if err != nil {
		return Audience{}, err
	}
	return Audience{Cond: cond, Definition: def, Hash: hash, Broadcast: empty}, nil
}

// CompileEligibleOnly is a CompileFunc for tests that need no segment: it ignores the
// definition's conditions (every definition is a broadcast) and hashes its JSON.
func CompileEligibleOnly(workspaceID int64, definition json.RawMessage, now time.Time, loc *time.Location) (sq.Sqlizer, bool, string, error) {
	sum := sha256.Sum256(definition)
	return sq.And{sq.Eq{"c.workspace_id": workspaceID}, Eligible}, true, hex.EncodeToString(sum[:]), nil
}
