package importers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pregon/pregon/store"
)

// Mode is what an import does to contacts that already exist (store.ImportMode).
type Mode = store.ImportMode

// Params say what to import where.
type Params struct {
	WorkspaceID int64
	// ImportID is the imports row the job runs for (status running). 0: Run creates one (CLI).
	ImportID      int64
	UserID        int64 // who runs it (consent events' actor); 0 = none
	Path          string
	Filename      string // for a created imports row; default: the base name of Path
	Format        Format // "" = detect
	Open          Options
	HeaderRow     int      // 0 = detect, -1 = none, n = row n
	Mapping       *Mapping // nil = guessed
	MapSpec       string   // overrides over the guessed mapping, "phone=C,name=A" (CLI --map)
	Mode          Mode     // default update
	Consent       Declaration
	DefaultRegion string // "" = the workspace's default country
	TimeZone      string // where dates without a zone are read (04/10/2025 = midnight there); "" = the workspace's
	SHA256        string // "" = computed
	// PhoneHash is the keyed phone hash of the suppression list (secret.Box.Hash): rows whose
	// phone opted out and was erased are rejected. nil skips the check.
	PhoneHash store.PhoneHasher
	// ProgressEvery is how often progress is reported (default 500 ms).
	ProgressEvery time.Duration
	// MaxStoredErrors caps the error rows kept for the report (default 100,000); counts go on.
	MaxStoredErrors int
	// ChunkSize is how many new contacts one COPY writes before their consent events are
	// copied, and how many existing contacts are merged at a time (default 50,000).
	ChunkSize int
}

// Progress is reported while an import runs.
type Progress struct {
	ImportID   int64  `json:"import_id"` // the imports row (created by Run when Params had none)
	Phase      string `json:"phase"`     // reading | merging | done
	RowsRead   int64  `json:"rows_read"`
	RowsTotal  int64  `json:"rows_total"` // an estimate until done
	Valid      int64  `json:"valid"`
	Rejected   int64  `json:"rejected"`
	Duplicates int64  `json:"duplicates"`
	// Inserted and Updated so far: merged chunks, committed together at the end.
	Inserted int64 `json:"inserted"`
	Updated  int64 `json:"updated"`
}

// Result is what an import did.
type Result struct {
	ImportID       int64         `json:"import_id"`
	RowsRead       int64         `json:"rows_read"`
	Inserted       int64         `json:"inserted"`
	Updated        int64         `json:"updated"`
	Unchanged      int64         `json:"unchanged"`
	Rejected       int64         `json:"rejected"`
	Duplicates     int64         `json:"duplicates"`
	WithoutConsent int64         `json:"without_consent"` // stored but not marketable
	ErrorsStored   int           `json:"errors_stored"`
	Info           Info          `json:"info"`
	HeaderRow      int           `json:"header_row"`
	Mapping        Mapping       `json:"mapping"`
	Duration       time.Duration `json:"duration"`
	// CopyDuration is the pipeline (reading, normalising, COPY and the chunk merges, overlapped);
	// MergeDuration the part of it spent in merge statements. The rest of Duration is the error
	// report, the imports row and the commit.
	CopyDuration  time.Duration `json:"copy_duration"`
	MergeDuration time.Duration `json:"merge_duration"`
	// Phases is where the database time of the pipeline went.
	Phases Phases `json:"phases"`
}

// Phases is the time spent in each database step of an import's pipeline (each overlaps the
// reading, except for what the pipeline waits on).
type Phases struct {
	CopyContacts  time.Duration `json:"copy_contacts"`  // COPY of new contacts (includes waiting for rows)
	ConsentEvents time.Duration `json:"consent_events"` // COPY of their consent events
	Stage         time.Duration `json:"stage"`          // COPY of existing contacts' rows into staging
	Merge         time.Duration `json:"merge"`          // the update (and fallback insert) merges
	Setup         time.Duration `json:"setup"`          // the workspace's phones, contact ids
	WaitRows      time.Duration `json:"wait_rows"`      // the writer waiting for rows (inside the above)
}

// testHookPhonesLoaded runs (in tests) once Run has read the workspace's phones.
var testHookPhonesLoaded func()

// testHookConn runs (in benchmarks) with the import's connection before its transaction begins.
var testHookConn func(*pgx.Conn)

// ErrImportCancelled is returned when the import was cancelled (context or imports.status).
var ErrImportCancelled = errors.New("import cancelled")

const batchSize = 512

type batch struct {
	seq  int
	rows []Row
}

type processed struct {
	seq     int
	recs    []record
	errs    []RowError
	rows    int // rows in the batch (read, excluding the header and rows above it)
	skipped int // blank rows
}

// Run imports a file into a workspace's contacts. Rows are read, normalised and validated in
// a pipeline running alongside the reading; new contacts are streamed with COPY into contacts
// as they come, existing ones merged chunk by chunk through a staging table (see direct.go);
// errors are recorded and the imports row completed in the same transaction, so a failure or a
// cancellation leaves nothing half-imported.
// progress (may be nil) is called from Run's goroutines every ProgressEvery.
//
// Errors a new attempt cannot fix (the file, the mapping, the consent declared, a value the
// database refuses) are *FileError.
func Run(ctx context.Context, pool *pgxpool.Pool, p Params, progress func(Progress)) (Result, error) {
	res, err := run(ctx, pool, p, progress)
	return res, ValueError(err)
}

// ValueError turns a value Postgres refused (a data exception, SQLSTATE class 22: a character
// text cannot hold, a number or a date out of its range; or a NOT NULL or CHECK constraint)
// into a FileError: it is in the file, and reading the file again gives it again. Other errors
// are returned as they are. Run returns its errors through it.
func ValueError(err error) error {
	var pe *pgconn.PgError
	var fe *FileError
	if err == nil || errors.As(err, &fe) || !errors.As(err, &pe) ||
		!(strings.HasPrefix(pe.Code, "22") || pe.Code == "23502" || pe.Code == "23514") {
		return err
	}
	return fileErr(ErrCodeBadValue,
		"el archivo tiene un valor que no se puede guardar (caracteres no válidos o un dato fuera de rango); revise el archivo y su codificación y vuelva a subirlo; no se guardó ningún contacto",
		"the file holds a value the database cannot store", err)
}

// ConsentAtSkew is how far ahead of the server's clock a declared consent date may be (clocks
// differ): later, it is in the future, and refused.
const ConsentAtSkew = 5 * time.Minute

// CheckDeclaration checks the consent declared for a file: its date, when given, is not in the
// future. The error is a *FileError (code ErrCodeBadConsent).
func CheckDeclaration(d Declaration, now time.Time) error {
	if d.At != nil && d.At.After(now.Add(ConsentAtSkew)) {
		return fileErr(ErrCodeBadConsent, "la fecha del consentimiento declarado está en el futuro",
			"the declared consent date is in the future", nil)
	}
	return nil
}

func run(ctx context.Context, pool *pgxpool.Pool, p Params, progress func(Progress)) (Result, error) {
	start := time.Now()
	res := Result{ImportID: p.ImportID}
	if p.Mode == "" {
		p.Mode = store.ImportModeUpdate
	}
	if !p.Mode.Valid() {
		return res, fileErr(ErrCodeBadMapping, fmt.Sprintf("modo %q inválido (add, update, merge_tags)", p.Mode), "invalid mode", nil)
	}
	if err := CheckDeclaration(p.Consent, time.Now()); err != nil {
		return res, err
	}
	if p.ProgressEvery <= 0 {
		p.ProgressEvery = 500 * time.Millisecond
	}
	if p.MaxStoredErrors <= 0 {
		p.MaxStoredErrors = 100_000
	}
	if p.ChunkSize <= 0 {
		p.ChunkSize = 50_000
	}
	if progress == nil {
		progress = func(Progress) {}
	}
	loc := time.UTC
	if p.TimeZone != "" {
		l, err := time.LoadLocation(p.TimeZone)
		if err != nil {
			return res, fmt.Errorf("loading time zone %q: %w", p.TimeZone, err)
		}
		loc = l
	}
	if p.DefaultRegion == "" || p.TimeZone == "" {
		ws, err := store.WorkspaceGetByID(ctx, pool, p.WorkspaceID)
		if err != nil {
			return res, fmt.Errorf("reading workspace %d: %w", p.WorkspaceID, err)
		}
		if p.DefaultRegion == "" {
			p.DefaultRegion = ws.DefaultCountry
		}
		if p.TimeZone == "" {
			loc = ws.Location()
		}
	}
	if p.SHA256 == "" {
		sum, err := FileSHA256(p.Path)
		if err != nil {
			return res, err
		}
		p.SHA256 = sum
	}

	src, err := Open(p.Path, p.Format, p.Open)
	if err != nil {
		return res, err
	}
	defer src.Close()
	res.Info = src.Info()
	l, err := readLayout(ctx, src, p.HeaderRow, p.DefaultRegion)
	if err != nil {
		return res, err
	}
	res.HeaderRow = l.headerRow
	m := l.mapping
	if p.Mapping != nil {
		m = *p.Mapping
		FillLetters(&m, l.headers)
	}
	if p.MapSpec != "" {
		if m, err = ParseMapSpec(p.MapSpec, m); err != nil {
			return res, err
		}
	}
	CleanMapping(&m)
	if err := m.ValidateFor(len(l.mapping.Columns)); err != nil {
		return res, err
	}
	res.Mapping = m
	if !hasData(l.data) {
		return res, noRowsError()
	}

	if p.ImportID == 0 {
		st, _ := os.Stat(p.Path)
		name := p.Filename
		if name == "" {
			name = filepath.Base(p.Path)
		}
		// Not cancellable: an interrupt must not leave a row committed whose id the caller
		// never got (it could not mark it ended); it stops the import right after instead.
		imp, err := store.ImportCreate(context.WithoutCancel(ctx), pool, store.ImportCreateParams{
			WorkspaceID: p.WorkspaceID, CreatedBy: p.UserID, Filename: name, Format: string(res.Info.Format),
			FileSHA256: p.SHA256, FileSize: st.Size(), Status: store.ImportRunning, Mode: p.Mode,
		})
		if err != nil {
			return res, err
		}
		p.ImportID, res.ImportID = imp.ID, imp.ID
	}

	conn, err := pool.Acquire(ctx)
	if err != nil {
		return res, fmt.Errorf("acquiring a connection for import %d: %w", p.ImportID, err)
	}
	defer conn.Release()
	if testHookConn != nil {
		testHookConn(conn.Conn())
	}
	// The staging table lives in the session's local buffers (temp_buffers, 8 MB by default); a
	// larger cap keeps a big file's staging rows off disk. It can only change before the session
	// first uses a temporary table, so a failure here is fine.
	conn.Exec(ctx, `SET temp_buffers = '256MB'`)
	tx, err := conn.Begin(ctx)
	if err != nil {
		return res, fmt.Errorf("beginning import %d: %w", p.ImportID, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, sqlCreateStage); err != nil {
		return res, fmt.Errorf("creating the staging table: %w", err)
	}
	// Each chunk's merge looks up at most ChunkSize phones in contacts. The planner's statistics
	// on contacts are those from before this transaction (it may have just inserted a million
	// rows), so it would hash-join the chunk against every contact of the workspace, once per
	// chunk. Index lookups on (workspace_id, phone_e164) are what we want: say so for this
	// transaction only (the plans are then nested loops driven by the staging rows, which need
	// no statistics on the staging table either: no ANALYZE per chunk).
	// JIT compiling each chunk's merge costs more than it saves on 50,000 rows.
	if _, err := tx.Exec(ctx, `SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off; SET LOCAL jit = off`); err != nil {
		return res, fmt.Errorf("configuring the merge: %w", err)
	}

	now := time.Now().UTC()
	proc := newProcessor(m, p.DefaultRegion, p.Consent, now)
	proc.readsSource(res.Info)
	proc.inZone(loc)
	if p.PhoneHash != nil {
		// Opt-outs outlive erasures: rows with a suppressed phone are rejected (an HMAC per row
		// only when the workspace has such phones at all).
		set, err := store.SuppressedPhoneHashes(ctx, tx, p.WorkspaceID)
		if err != nil {
			return res, err
		}
		if len(set) > 0 {
			proc.suppressed = func(e164 string) bool {
				_, ok := set[string(p.PhoneHash(e164))]
				return ok
			}
		}
	}
	var (
		rowsRead, valid, rejected, dups atomic.Int64
		inserted, updated               atomic.Int64
		rowsTotal                       = res.Info.RowsTotal - int64(l.headerRow)
	)
	pctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	// Reader: rows → batches, alongside everything else.
	batches := make(chan batch, 8)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer close(batches)
		seq, cur := 0, make([]Row, 0, batchSize)
		for r, err := range src.Rows(pctx) {
			if err != nil {
				cancel(err)
				return
			}
			if r.Num <= l.headerRow {
				continue
			}
			cur = append(cur, r)
			if len(cur) == batchSize {
				select {
				case batches <- batch{seq, cur}:
				case <-pctx.Done():
					return
				}
				seq, cur = seq+1, make([]Row, 0, batchSize)
			}
		}
		if len(cur) > 0 {
			select {
			case batches <- batch{seq, cur}:
			case <-pctx.Done():
			}
		}
	}()

	// Workers: normalise and validate.
	// A deep buffer (~65k rows): reading and normalising go on while a chunk of existing contacts
	// is merged (50,000 rows take about as long as reading 40,000 rows of a workbook).
	results := make(chan processed, 128)
	workers := max(1, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for b := range batches {
				out := processed{seq: b.seq, rows: len(b.rows), recs: make([]record, 0, len(b.rows))}
				for _, r := range b.rows {
					rec, errs, skip := proc.process(r)
					switch {
					case skip:
						out.skipped++
					case len(errs) > 0:
						for i := range errs {
							errs[i].Raw = r.Cells
						}
						out.errs = append(out.errs, errs...)
					default:
						out.recs = append(out.recs, rec)
					}
				}
				select {
				case results <- out:
				case <-pctx.Done():
					return
				}
			}
		})
	}
	go func() { wg.Wait(); close(results) }()
	// On every way out, stop the pipeline before the source is closed under the reader.
	defer func() {
		cancel(nil)
		<-readerDone
		wg.Wait()
	}()

	// Progress while reading.
	report := func(phase string) {
		progress(Progress{ImportID: p.ImportID, Phase: phase, RowsRead: rowsRead.Load(), RowsTotal: max(rowsTotal, rowsRead.Load()),
			Valid: valid.Load(), Rejected: rejected.Load(), Duplicates: dups.Load(), Inserted: inserted.Load(), Updated: updated.Load()})
	}
	tickDone := make(chan struct{})
	tickStopped := make(chan struct{})
	go func() {
		defer close(tickStopped)
		t := time.NewTicker(p.ProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				report("reading")
			case <-tickDone:
				return
			}
		}
	}()
	stopTicker := sync.OnceFunc(func() { close(tickDone); <-tickStopped })
	defer stopTicker()

	// The write path (see direct.go), in row order (batches are re-sequenced so "first occurrence
	// wins" is the file's order), in chunks, alongside the reading: new contacts are copied
	// straight into contacts while the file is read; existing ones are staged and merged a chunk
	// at a time. Everything stays in the one transaction: a failure or a cancellation rolls back
	// every chunk.
	cs := &copySource{
		ctx: pctx, results: results, pending: map[int]processed{}, seen: make(map[uint64]int32, 1024),
		maxErrs: p.MaxStoredErrors, phoneCol: proc.colName(m.Phone()),
		rowsRead: &rowsRead, valid: &valid, rejected: &rejected, dups: &dups,
	}
	var tm timer
	t0 := time.Now()
	existing, err := loadPhones(pctx, tx, p.WorkspaceID)
	if err != nil {
		return res, cause(pctx, ctx, err)
	}
	tm.ids += time.Since(t0)
	if testHookPhonesLoaded != nil {
		testHookPhonesLoaded()
	}
	consentText := p.Consent.Text
	actor := zeroNil(p.UserID)
	ds := &directSource{
		cs: cs, existing: existing, addOnly: p.Mode == store.ImportModeAdd,
		wsID: p.WorkspaceID, importID: p.ImportID, sha256: p.SHA256, consentText: consentText,
		stashLimit: p.ChunkSize,
	}
	// merge merges rows through the staging table: existing contacts are updated, and with
	// insert (a direct chunk that met a concurrent insert) the others are inserted unless they
	// exist by now.
	merge := func(recs []record, insert bool) error {
		t0 := time.Now()
		// The contacts left not marketable: those that were (or are not known to exist), less
		// those this merge gives consent to (update) or inserts with consent.
		var notMarketable int64
		for i := range recs {
			if recs[i].notMarketable {
				notMarketable++
			}
		}
		i := 0
		_, err := copyRows(pctx, tx, "import_stage", stageColumns, func(c *copyBuf) (bool, error) {
			for ; i < len(recs) && len(c.b) < copyFlush; i++ {
				writeStage(c, &recs[i])
			}
			return i < len(recs), nil
		})
		if err != nil {
			return fmt.Errorf("staging rows of import %d: %w", p.ImportID, err)
		}
		t1 := time.Now()
		tm.stage += t1.Sub(t0)
		if p.Mode != store.ImportModeAdd {
			var n, granted int64
			if err := tx.QueryRow(pctx, sqlMergeUpdate, p.WorkspaceID, p.Mode == store.ImportModeUpdate, p.ImportID, p.SHA256,
				consentText, actor).Scan(&n, &granted); err != nil {
				return fmt.Errorf("updating existing contacts: %w", err)
			}
			res.Updated += n
			updated.Store(res.Updated)
			notMarketable -= granted
		}
		if insert {
			var n, withConsent int64
			if err := tx.QueryRow(pctx, sqlMergeInsert, p.WorkspaceID, p.ImportID, p.SHA256, consentText,
				actor).Scan(&n, &withConsent); err != nil {
				return fmt.Errorf("inserting new contacts: %w", err)
			}
			res.Inserted += n
			inserted.Store(res.Inserted)
			notMarketable -= withConsent
		}
		ds.withoutConsent += notMarketable
		if _, err := tx.Exec(pctx, `TRUNCATE import_stage`); err != nil {
			return fmt.Errorf("emptying the staging table: %w", err)
		}
		tm.merge += time.Since(t1)
		return nil
	}
	// direct copies one chunk of new contacts and their consent events, inside a savepoint.
	// retry is true when the chunk met a contact inserted meanwhile (it goes to the merge).
	direct := func() (retry bool, err error) {
		sp, err := tx.Begin(pctx)
		if err != nil {
			return false, fmt.Errorf("beginning a chunk of import %d: %w", p.ImportID, err)
		}
		t0 := time.Now()
		n, err := copyRows(pctx, sp, "contacts", contactColumns, ds.fill)
		if cs.err != nil {
			err = cs.err // the COPY was aborted for it
		}
		t1 := time.Now()
		tm.copyContacts += t1.Sub(t0)
		if err == nil && cs.err == nil {
			_, err = ds.consentEvents(pctx, sp, actor)
			tm.consent += time.Since(t1)
		}
		if err == nil {
			err = cs.err
		}
		if err == nil {
			err = sp.Commit(pctx) // RELEASE SAVEPOINT
		}
		if err != nil {
			sp.Rollback(context.WithoutCancel(pctx))
			if isUniqueViolation(err) && context.Cause(pctx) == nil {
				return true, nil
			}
			return false, fmt.Errorf("copying new contacts of import %d: %w", p.ImportID, err)
		}
		res.Inserted += n
		inserted.Store(res.Inserted)
		ds.withoutConsent += ds.chunkNoConsent
		return false, nil
	}
	var ids []int64
	idBlock := min(p.ChunkSize, int(max(rowsTotal, 0))+16)
	for {
		if len(ids) < idBlock {
			t0 := time.Now()
			if ids, err = allocIDs(pctx, tx, idBlock-len(ids), ids); err != nil {
				cancel(err)
				return res, cause(pctx, ctx, err)
			}
			tm.ids += time.Since(t0)
			idBlock = min(p.ChunkSize, idBlock*2) // the row estimate was short
		}
		ds.reset(ids)
		retry, err := direct()
		if err != nil {
			cancel(err)
			return res, cause(pctx, ctx, err)
		}
		if err := context.Cause(pctx); err != nil {
			return res, cause(pctx, ctx, err)
		}
		if cs.err != nil {
			return res, cause(pctx, ctx, cs.err)
		}
		used := len(ds.direct)
		if retry {
			for i := range ds.direct {
				ds.direct[i].notMarketable = true // new when read; the merge counts what it inserts with consent
			}
			ds.stash = append(ds.stash, ds.direct...)
			ds.direct = ds.direct[:0]
		}
		ids = ids[used:]
		if len(ds.stash) >= p.ChunkSize || (cs.eof && len(ds.stash) > 0) || retry {
			if err := merge(ds.stash, retry); err != nil {
				cancel(err)
				return res, cause(pctx, ctx, err)
			}
			ds.stash = ds.stash[:0]
		}
		if cs.eof {
			break
		}
	}
	mergeTime := tm.stage + tm.merge
	slog.DebugContext(ctx, "import write path", "import_id", p.ImportID, "copy_contacts", tm.copyContacts,
		"consent_events", tm.consent, "stage", tm.stage, "merge", tm.merge, "ids_and_phones", tm.ids)
	res.Phases = tm.phases()
	res.Phases.WaitRows = cs.waited
	stopTicker()
	res.CopyDuration = time.Since(start)
	res.MergeDuration = mergeTime
	cs.seen = nil
	res.RowsRead, res.Rejected, res.Duplicates = rowsRead.Load(), rejected.Load(), dups.Load()
	res.WithoutConsent = ds.withoutConsent
	if res.RowsRead == 0 { // the first rows had values, but no row had one that counts
		return res, noRowsError()
	}
	report("merging")
	res.Unchanged = valid.Load() - res.Inserted - res.Updated

	// Errors for the report.
	res.ErrorsStored = len(cs.errs)
	if len(cs.errs) > 0 {
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"import_errors"},
			[]string{"import_id", "row_number", "column_name", "value", "reason", "raw"},
			pgx.CopyFromSlice(len(cs.errs), func(i int) ([]any, error) {
				e := cs.errs[i]
				raw := e.Raw
				if raw == nil {
					raw = []string{}
				}
				return []any{p.ImportID, e.Row, e.Column, e.Value, e.Reason, truncateAll(raw)}, nil
			}))
		if err != nil {
			return res, cause(ctx, ctx, fmt.Errorf("recording the error report: %w", err))
		}
	}
	mapping, _ := json.Marshal(m)
	consent, _ := json.Marshal(p.Consent)
	tag, err := tx.Exec(ctx, `
		UPDATE imports SET status = 'completed', finished_at = clock_timestamp(), rows_read = $3, rows_total = $3,
		       inserted = $4, updated = $5, unchanged = $6, rejected = $7, duplicates = $8, without_consent = $9,
		       header_row = $10, sheet = $11, encoding = $12, separator = $13, mapping = $14, mode = $15,
		       consent = $16, format = $17, error = ''
		WHERE workspace_id = $1 AND id = $2 AND status = 'running'`,
		p.WorkspaceID, p.ImportID, res.RowsRead, res.Inserted, res.Updated, res.Unchanged, res.Rejected, res.Duplicates,
		res.WithoutConsent, res.HeaderRow, res.Info.Sheet, res.Info.Encoding, res.Info.Separator, mapping, p.Mode,
		consent, res.Info.Format)
	if err != nil {
		return res, cause(ctx, ctx, fmt.Errorf("completing import %d: %w", p.ImportID, err))
	}
	if tag.RowsAffected() != 1 {
		return res, ErrImportCancelled // cancelled (or gone) while running: roll everything back
	}
	if err := tx.Commit(ctx); err != nil {
		return res, cause(ctx, ctx, fmt.Errorf("committing import %d: %w", p.ImportID, err))
	}
	res.Duration = time.Since(start)
	progress(Progress{ImportID: p.ImportID, Phase: "done", RowsRead: res.RowsRead, RowsTotal: res.RowsRead, Valid: valid.Load(),
		Rejected: res.Rejected, Duplicates: res.Duplicates, Inserted: res.Inserted, Updated: res.Updated})
	return res, nil
}

// hasData reports whether rows, the first rows after the header (at most PreviewRows), may
// hold a contact: a value in one of them, or as many of them as were read (more may follow).
func hasData(rows []DataRow) bool {
	if len(rows) >= PreviewRows {
		return true
	}
	for _, r := range rows {
		for _, c := range r.Cells {
			if strings.TrimSpace(CleanText(c)) != "" {
				return true
			}
		}
	}
	return false
}

// HasData reports whether a preview's file may hold a contact under its header row (false: a
// file of headers only, or of blank rows).
func (p Preview) HasData() bool { return hasData(p.Rows) }

// noRowsError is a file with a header row and no contact under it.
func noRowsError() error {
	return fileErr(ErrCodeNoRows, "el archivo solo tiene encabezados: no hay contactos que importar", "the file has a header row and no data rows", nil)
}

// cause prefers the cancellation of the caller's context, then the pipeline's own error.
func cause(pctx, ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %w", ErrImportCancelled, context.Cause(ctx))
	}
	if c := context.Cause(pctx); c != nil && !errors.Is(c, context.Canceled) {
		return c
	}
	return err
}

func zeroNil(v int64) *int64 {
	if v == 0 {
		return nil
	}
	return &v
}

func truncateAll(raw []string) []string {
	out := raw
	for i, v := range raw {
		if len(v) > 1000 {
			if &out[0] == &raw[0] {
				out = append([]string(nil), raw...)
			}
			out[i] = truncate(v, 1000)
		}
	}
	return out
}

// FillLetters completes a mapping given by the API (letters and headers may be missing).
func FillLetters(m *Mapping, headers []string) {
	for i := range m.Columns {
		c := &m.Columns[i]
		if c.Index < 0 {
			continue // ValidateFor refuses it
		}
		c.Letter = ColumnLetter(c.Index)
		if c.Header == "" && c.Index < len(headers) {
			c.Header = headers[c.Index]
		}
		if c.Kind == KindAttribute && c.Type == "" {
			c.Type = AttrText
		}
	}
}

// FileSHA256 hashes a file (consent evidence).
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("opening %s: %w", filepath.Base(path), err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", filepath.Base(path), err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// copySource reads the workers' results in file order, deduplicating on the way.
type copySource struct {
	ctx      context.Context
	results  <-chan processed
	pending  map[int]processed
	next     int
	cur      []record
	pos      int
	seen     map[uint64]int32
	errs     []RowError
	maxErrs  int
	phoneCol string
	eof      bool          // every row has been read
	waited   time.Duration // waiting for the workers (the database is faster than the reading)

	rowsRead, valid, rejected, dups *atomic.Int64
	err                             error
}

var stageColumns = []string{"row_num", "phone", "country", "name", "email", "language", "tags", "attributes",
	"consent", "consent_at", "consent_source"}

func (c *copySource) addErrs(errs []RowError) {
	for _, e := range errs {
		if len(c.errs) < c.maxErrs {
			c.errs = append(c.errs, e)
		}
	}
}

// nextRecord returns the next valid, first-seen record in file order (valid until the next
// call); false at the end of the file or on an error (c.err).
func (c *copySource) nextRecord() (*record, bool) {
	if c.eof || c.err != nil {
		return nil, false
	}
	for {
		for c.pos < len(c.cur) {
			r := &c.cur[c.pos]
			c.pos++
			if first, dup := c.seen[r.key]; dup {
				c.dups.Add(1)
				c.addErrs([]RowError{{Row: r.row, Column: c.phoneCol, Value: r.e164,
					Reason: fmt.Sprintf("número repetido: ya está en la fila %d", first), Raw: r.raw}})
				continue
			}
			r.raw = nil // only a repeat's cells are reported; a kept record's may go now
			c.seen[r.key] = int32(r.row)
			c.valid.Add(1)
			return r, true
		}
		// Next batch in order.
		p, ok := c.pending[c.next]
		if ok {
			delete(c.pending, c.next)
		} else {
			for {
				var (
					q    processed
					open bool
				)
				select {
				case q, open = <-c.results:
				default:
					t0 := time.Now()
					select {
					case q, open = <-c.results:
					case <-c.ctx.Done():
					}
					c.waited += time.Since(t0)
				}
				select {
				case <-c.ctx.Done():
					c.err = context.Cause(c.ctx)
					return nil, false
				default:
				}
				if !open {
					if len(c.pending) > 0 {
						c.err = fmt.Errorf("import pipeline lost batch %d", c.next)
					}
					c.eof = true
					return nil, false
				}
				if q.seq != c.next {
					c.pending[q.seq] = q
					continue
				}
				p, ok = q, true
				break
			}
		}
		c.next++
		c.rowsRead.Add(int64(p.rows - p.skipped))
		rejectedRows := map[int]bool{}
		for _, e := range p.errs {
			rejectedRows[e.Row] = true
		}
		c.rejected.Add(int64(len(rejectedRows)))
		c.addErrs(p.errs)
		c.cur, c.pos = p.recs, 0
	}
}
