package main

import (
	"context"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/pregon/pregon/jobs"
	"github.com/pregon/pregon/store"
)

// A `pregon worker` SIGKILLed in the middle of an import leaves the import's job running: River
// alone would give it back after the job's timeout (an hour). The worker's heartbeats stop, so
// another worker takes the job over once PREGON_WORKER_DEAD_AFTER (3 s here) has passed, and
// the import completes with every row once.
func TestKilledWorkersImportIsTakenOver(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	ctx := context.Background()
	e := newCLIEnv(t, "Relevo")
	path := bigCSV(t, e.dir, "lista.csv")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	imp, err := store.ImportCreate(ctx, e.pool, store.ImportCreateParams{WorkspaceID: e.ws.ID, Filename: "lista.csv", Format: "csv",
		FileSHA256: strings.Repeat("b", 64), FileSize: st.Size(), FilePath: path})
	if err != nil {
		t.Fatal(err)
	}
	if _, err = store.ImportConfirm(ctx, e.pool, e.ws.ID, imp.ID, store.ImportConfirmParams{Mode: store.ImportModeUpdate,
		Mapping: []byte("{}"), Consent: []byte(`{"declared":true,"source":"tienda","text":"v1"}`)}); err != nil {
		t.Fatal(err)
	}
	inserter, err := river.NewClient(riverpgxv5.New(e.pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := inserter.Insert(ctx, jobs.ImportContactsArgs{WorkspaceID: e.ws.ID, ImportID: imp.ID}, nil)
	if err != nil {
		t.Fatal(err)
	}
	jobID := res.Job.ID

	env := append(e.env, "PREGON_SECRET_KEY="+hex.EncodeToString(make([]byte, 32)), "PREGON_WORKER_DEAD_AFTER=3s", "PREGON_LOG_LEVEL=info")
	logs := t.TempDir()
	startWorker := func(name string) *exec.Cmd {
		t.Helper()
		f, err := os.Create(filepath.Join(logs, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		cmd := exec.Command(bin, "worker")
		cmd.Env, cmd.Stdout, cmd.Stderr = env, f, f
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}
	workerLog := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(logs, name+".log"))
		return string(b)
	}
	job := func() *rivertype.JobRow {
		t.Helper()
		j, err := inserter.JobGet(ctx, jobID)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	importNow := func() store.Import {
		t.Helper()
		i, err := store.ImportGetByID(ctx, e.pool, e.ws.ID, imp.ID)
		if err != nil {
			t.Fatal(err)
		}
		return i
	}

	first := startWorker("first")
	waitFor(t, 2*time.Minute, "the first worker to start the import", func() bool {
		return importNow().Status == store.ImportRunning && job().State == rivertype.JobStateRunning
	})
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.Wait()
	killed := time.Now()
	if j := job(); j.State != rivertype.JobStateRunning || importNow().Status == store.ImportCompleted {
		t.Fatalf("the import ended before the kill (job %s): make the file longer", j.State)
	}

	startWorker("second")
	waitFor(t, 3*time.Minute, "the second worker to complete the import", func() bool {
		s := importNow().Status
		if s.Final() && s != store.ImportCompleted {
			t.Fatalf("import %s: %s\nsecond worker's log:\n%s", s, importNow().Error, workerLog("second"))
		}
		return s == store.ImportCompleted
	})
	t.Logf("import completed %.1f s after the kill", time.Since(killed).Seconds())
	if got := importNow(); got.Inserted != 300_000 {
		t.Errorf("import inserted %d contacts, want 300000", got.Inserted)
	}
	var contacts int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM contacts WHERE workspace_id = $1`, e.ws.ID).Scan(&contacts); err != nil {
		t.Fatal(err)
	}
	if contacts != 300_000 {
		t.Errorf("%d contacts, want 300000", contacts)
	}
	j := job()
	if j.State != rivertype.JobStateCompleted || j.Attempt != 2 || len(j.Errors) != 1 || !strings.Contains(j.Errors[0].Error, "rescued") {
		t.Errorf("job: %s, attempt %d, errors %+v; want completed at the second attempt after the rescue", j.State, j.Attempt, j.Errors)
	}
	if len(j.Errors) == 1 {
		t.Logf("job rescued %.1f s after the kill (PREGON_WORKER_DEAD_AFTER 3 s; the second worker starts and becomes River's leader meanwhile)",
			j.Errors[0].At.Sub(killed).Seconds())
	}
	if !strings.Contains(workerLog("second"), "a job of a dead worker process was given back to River") {
		t.Errorf("the second worker did not log the rescue:\n%s", workerLog("second"))
	}
}
