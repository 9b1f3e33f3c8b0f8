package importers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The write path. A row whose phone the workspace did not have when the import started is
// copied straight into contacts (binary COPY, streamed while the file is being read) with an id
// taken from contacts' sequence beforehand, and its opt_in consent event is copied into
// consent_events right after its chunk: no staging table, no join, no second pass. A row whose
// phone the workspace already had goes through the staging table and the set-based update merge
// (sqlMergeUpdate), chunk by chunk.
//
// A contact created by someone else while the import runs (an inbound message, the API) makes
// the direct COPY of its chunk fail on the unique (workspace_id, phone_e164): that chunk, and
// only it, is rolled back to its savepoint and merged through the staging table instead, whose
// insert skips what exists (ON CONFLICT DO NOTHING) and whose update treats it as existing.

var contactColumns = []string{"id", "workspace_id", "phone_e164", "country", "name", "email", "language", "tags",
	"attributes", "consent_at", "consent_source", "consent_text", "consent_evidence", "import_id"}

var consentEventColumns = []string{"workspace_id", "contact_id", "kind", "source", "consent_text", "evidence",
	"actor_user_id"}

var emptyJSON = []byte("{}")

// phoneSet is the workspace's phones (as record keys) when the import started, sorted.
type phoneSet []uint64

func (s phoneSet) has(k uint64) bool {
	_, ok := slices.BinarySearch(s, k)
	return ok
}

// loadPhones reads the workspace's phone numbers as record keys (E.164 digits).
func loadPhones(ctx context.Context, tx pgx.Tx, workspaceID int64) (phoneSet, error) {
	rows, err := tx.Query(ctx, `SELECT phone_e164 FROM contacts WHERE workspace_id = $1`, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("reading the workspace's phones: %w", err)
	}
	defer rows.Close()
	var out phoneSet
	var raw []byte
	for rows.Next() {
		// The raw bytes: no string per contact.
		raw = rows.RawValues()[0]
		if len(raw) < 2 || raw[0] != '+' {
			continue // 'erased:<id>'
		}
		var k uint64
		ok := true
		for _, b := range raw[1:] {
			if b < '0' || b > '9' {
				ok = false
				break
			}
			k = k*10 + uint64(b-'0')
		}
		if ok {
			out = append(out, k)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the workspace's phones: %w", err)
	}
	slices.Sort(out)
	return out, nil
}

// allocIDs appends n contact ids from contacts' sequence to dst (they are the new contacts'
// ids; the unused ones are gaps, as any rolled-back insert leaves).
func allocIDs(ctx context.Context, tx pgx.Tx, n int, dst []int64) ([]int64, error) {
	rows, err := tx.Query(ctx, `SELECT nextval('contacts_id_seq') FROM generate_series(1, $1)`, n)
	if err != nil {
		return nil, fmt.Errorf("taking contact ids: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("taking contact ids: %w", err)
		}
		dst = append(dst, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("taking contact ids: %w", err)
	}
	return dst, nil
}

// directSource feeds one chunk's COPY into contacts: the next rows of the file, in order, that
// are new to the workspace. Rows the workspace already has are set aside (stash) for the
// staging merge. A chunk ends when its ids run out or the stash is full.
type directSource struct {
	cs       *copySource
	existing phoneSet
	addOnly  bool // mode add: existing contacts are left alone

	wsID, importID int64
	sha256         string
	consentText    string

	ids        []int64  // this chunk's ids
	direct     []record // rows copied in this chunk (a failed chunk goes to the staging merge)
	evidence   [][]byte // consent evidence of direct[i] (nil: no consent)
	stash      []record // existing contacts, for the staging merge
	stashLimit int
	row        []any
}

// reset starts a chunk with the given ids.
func (d *directSource) reset(ids []int64) {
	d.ids = ids
	d.direct = d.direct[:0]
	d.evidence = d.evidence[:0]
}

func (d *directSource) Next() bool {
	for len(d.direct) < len(d.ids) && len(d.stash) < d.stashLimit {
		r, ok := d.cs.nextRecord()
		if !ok {
			return false
		}
		if d.existing.has(r.key) {
			if !d.addOnly {
				d.stash = append(d.stash, *r)
			}
			continue
		}
		id := d.ids[len(d.direct)]
		d.direct = append(d.direct, *r)
		var ev []byte
		if r.consent {
			ev = d.appendEvidence(nil, r.row)
		}
		d.evidence = append(d.evidence, ev)
		d.row = d.contactValues(id, r, ev)
		return true
	}
	return false
}

// appendEvidence is the consent evidence jsonb: {"import_id": …, "file_sha256": …, "row": …}.
func (d *directSource) appendEvidence(b []byte, row int) []byte {
	b = append(b, `{"import_id":`...)
	b = strconv.AppendInt(b, d.importID, 10)
	b = append(b, `,"file_sha256":"`...)
	b = append(b, d.sha256...) // hex
	b = append(b, `","row":`...)
	b = strconv.AppendInt(b, int64(row), 10)
	return append(b, '}')
}

func (d *directSource) contactValues(id int64, r *record, ev []byte) []any {
	row := d.row[:0]
	tags := r.tags
	if tags == nil {
		tags = []string{}
	}
	attrs := r.attrs
	if attrs == nil {
		attrs = emptyJSON
	}
	row = append(row, id, d.wsID, r.e164, r.country, r.name, r.email, r.language, tags, attrs)
	if r.consent {
		row = append(row, r.consentAt, r.source, d.consentText, ev)
	} else {
		row = append(row, nil, "", "", emptyJSON)
	}
	return append(row, d.importID)
}

func (d *directSource) Values() ([]any, error) { return d.row, nil }
func (d *directSource) Err() error             { return d.cs.err }

// consentEvents copies the opt_in events of the chunk's new contacts that have consent.
func (d *directSource) consentEvents(ctx context.Context, tx pgx.Tx, actor *int64) (int64, error) {
	n := 0
	for _, ev := range d.evidence {
		if ev != nil {
			n++
		}
	}
	if n == 0 {
		return 0, nil
	}
	i := -1
	row := make([]any, 7)
	return tx.CopyFrom(ctx, pgx.Identifier{"consent_events"}, consentEventColumns, pgx.CopyFromFunc(func() ([]any, error) {
		for i++; i < len(d.direct); i++ {
			if d.evidence[i] == nil {
				continue
			}
			r := &d.direct[i]
			row[0], row[1], row[2], row[3], row[4], row[5], row[6] = d.wsID, d.ids[i], "opt_in", r.source, d.consentText, d.evidence[i], actor
			return row, nil
		}
		return nil, nil
	}))
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// stageValues is a record's row of the staging table.
func stageValues(row []any, r *record) []any {
	row = row[:0]
	row = append(row, int32(r.row), r.e164, r.country, nullStr(r.name), nullStr(r.email), nullStr(r.language))
	if r.tags != nil {
		row = append(row, r.tags)
	} else {
		row = append(row, nil)
	}
	if r.attrs != nil {
		row = append(row, r.attrs)
	} else {
		row = append(row, nil)
	}
	row = append(row, r.consent)
	if r.consent {
		row = append(row, r.consentAt, r.source)
	} else {
		row = append(row, nil, nil)
	}
	return row
}

// timer adds up the time spent in each phase of the write path (logged, and in Result).
type timer struct {
	copyContacts, consent, stage, merge, ids time.Duration
}

func (t timer) phases() Phases {
	return Phases{CopyContacts: t.copyContacts, ConsentEvents: t.consent, Stage: t.stage, Merge: t.merge, Setup: t.ids}
}
