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

// phoneSet is the workspace's phones when the import started, sorted: each a record key
// (E.164 digits, at most 15 of them, well under 2^62) shifted left by one, its low bit set when
// the contact was not marketable (no documented consent, or opted out). The import's count of
// contacts without consent reads that bit for the contacts it leaves as they are.
type phoneSet []uint64

// find reports whether the workspace had phone k, and whether that contact was not marketable.
func (s phoneSet) find(k uint64) (found, notMarketable bool) {
	i, _ := slices.BinarySearch(s, k<<1)
	if i < len(s) && s[i]>>1 == k {
		return true, s[i]&1 == 1
	}
	return false, false
}

// loadPhones reads the workspace's phone numbers as record keys (E.164 digits), with whether
// each contact is not marketable (see phoneSet).
func loadPhones(ctx context.Context, tx pgx.Tx, workspaceID int64) (phoneSet, error) {
	rows, err := tx.Query(ctx, `SELECT phone_e164, consent_at IS NULL OR opted_out_at IS NOT NULL FROM contacts WHERE workspace_id = $1`, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("reading the workspace's phones: %w", err)
	}
	defer rows.Close()
	var out phoneSet
	var raw []byte
	for rows.Next() {
		// The raw bytes: no string per contact.
		vals := rows.RawValues()
		raw = vals[0]
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
			k <<= 1
			if nm := vals[1]; len(nm) == 1 && (nm[0] == 1 || nm[0] == 't') { // binary or text bool
				k |= 1
			}
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

// directSource writes one chunk's COPY into contacts: the next rows of the file, in order, that
// are new to the workspace. Rows the workspace already has are set aside (stash) for the
// staging merge. A chunk ends when its ids run out or the stash is full.
type directSource struct {
	cs       *copySource
	existing phoneSet
	addOnly  bool // mode add: existing contacts are left alone

	wsID, importID int64
	sha256         string
	consentText    string

	// withoutConsent counts the contacts of the file left not marketable so far: new ones
	// without consent (counted when their chunk commits) and, in mode add, existing ones that
	// were not marketable. The staged ones are counted by the merge (record.notMarketable).
	withoutConsent int64
	chunkNoConsent int64 // this chunk's new contacts without consent

	ids        []int64  // this chunk's ids
	direct     []record // rows copied in this chunk (a failed chunk goes to the staging merge)
	evidence   [][]byte // consent evidence of direct[i] (nil: no consent), in evSlab
	evSlab     []byte
	stash      []record // existing contacts, for the staging merge
	stashLimit int
}

// reset starts a chunk with the given ids.
func (d *directSource) reset(ids []int64) {
	d.ids = ids
	d.chunkNoConsent = 0
	d.direct = d.direct[:0]
	d.evidence = d.evidence[:0]
	d.evSlab = d.evSlab[:0]
}

// next takes the chunk's next new contact; false when the chunk is full or the file ended (or
// failed: d.cs.err).
func (d *directSource) next() (*record, bool) {
	for len(d.direct) < len(d.ids) && len(d.stash) < d.stashLimit {
		r, ok := d.cs.nextRecord()
		if !ok {
			return nil, false
		}
		if found, nm := d.existing.find(r.key); found {
			switch {
			case !d.addOnly:
				r.notMarketable = nm
				d.stash = append(d.stash, *r)
			case nm:
				d.withoutConsent++ // left as it is
			}
			continue
		}
		if !r.consent {
			d.chunkNoConsent++
		}
		d.direct = append(d.direct, *r)
		var ev []byte
		if r.consent {
			start := len(d.evSlab)
			d.evSlab = d.appendEvidence(d.evSlab, r.row)
			ev = d.evSlab[start:len(d.evSlab):len(d.evSlab)]
		}
		d.evidence = append(d.evidence, ev)
		return &d.direct[len(d.direct)-1], true
	}
	return nil, false
}

// fill writes the chunk's next contacts into the COPY buffer (copyReader).
func (d *directSource) fill(c *copyBuf) (bool, error) {
	for len(c.b) < copyFlush {
		r, ok := d.next()
		if !ok {
			return false, d.cs.err
		}
		i := len(d.direct) - 1
		d.writeContact(c, d.ids[i], r, d.evidence[i])
	}
	return true, nil
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

// writeContact is a new contact's row of contactColumns.
func (d *directSource) writeContact(c *copyBuf, id int64, r *record, ev []byte) {
	c.row(len(contactColumns))
	c.int8(id)
	c.int8(d.wsID)
	c.text(r.e164)
	c.text(r.country)
	c.text(r.name)
	c.text(r.email)
	c.text(r.language)
	c.textArray(r.tags)
	if r.attrs != nil {
		c.jsonb(r.attrs)
	} else {
		c.jsonb(emptyJSON)
	}
	if r.consent {
		c.timestamptz(r.consentAt)
		c.text(r.source)
		c.text(d.consentText)
		c.jsonb(ev)
	} else {
		c.null()
		c.text("")
		c.text("")
		c.jsonb(emptyJSON)
	}
	c.int8(d.importID)
}

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
	i := 0
	return copyRows(ctx, tx, "consent_events", consentEventColumns, func(c *copyBuf) (bool, error) {
		for ; i < len(d.direct) && len(c.b) < copyFlush; i++ {
			if d.evidence[i] == nil {
				continue
			}
			c.row(len(consentEventColumns))
			c.int8(d.wsID)
			c.int8(d.ids[i])
			c.text("opt_in")
			c.text(d.direct[i].source)
			c.text(d.consentText)
			c.jsonb(d.evidence[i])
			if actor != nil {
				c.int8(*actor)
			} else {
				c.null()
			}
		}
		return i < len(d.direct), nil
	})
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// writeStage is a record's row of the staging table (stageColumns).
func writeStage(c *copyBuf, r *record) {
	c.row(len(stageColumns))
	c.int4(int32(r.row))
	c.text(r.e164)
	c.text(r.country)
	c.textOrNull(r.name)
	c.textOrNull(r.email)
	c.textOrNull(r.language)
	if r.tags != nil {
		c.textArray(r.tags)
	} else {
		c.null()
	}
	if r.attrs != nil {
		c.jsonb(r.attrs)
	} else {
		c.null()
	}
	c.bool(r.consent)
	if r.consent {
		c.timestamptz(r.consentAt)
		c.text(r.source)
	} else {
		c.null()
		c.null()
	}
}

// timer adds up the time spent in each phase of the write path (logged, and in Result).
type timer struct {
	copyContacts, consent, stage, merge, ids time.Duration
}

func (t timer) phases() Phases {
	return Phases{CopyContacts: t.copyContacts, ConsentEvents: t.consent, Stage: t.stage, Merge: t.merge, Setup: t.ids}
}
