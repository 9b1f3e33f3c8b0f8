package web

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/pregon/pregon/store"
)

// A marketer who uploaded the wrong file discards it from the mapping page (after a
// confirm): the import is cancelled, its file deleted, and nothing is imported.
func TestImportUploadedCanBeDiscarded(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	mk := env.as(store.RoleMarketer)
	p := mk.upload("/imports/new", "equivocado.csv", []byte("Nombre,Celular\nAna,3001234567\n")).expect(t, http.StatusOK)
	var id int64
	fmt.Sscan(strings.TrimPrefix(p.URL, "/imports/"), &id)
	imp, err := store.ImportGetByID(context.Background(), env.db, env.wsA.ID, id)
	if err != nil || imp.Status != store.ImportUploaded || imp.FilePath == "" {
		t.Fatalf("uploaded import %+v %v", imp, err)
	}
	form := p.has(t, `form#discard-import[action="/imports/`+itoa(id)+`/cancel"][method="post"]`)
	if confirm, _ := form.Attr("data-confirm"); !strings.Contains(confirm, "¿Descartar") {
		t.Fatalf("the discard form asks %q, want a confirmation in Spanish", confirm)
	}
	if p.Doc.Find("#mapping-form #discard-import").Length() != 0 {
		t.Fatal("the discard form is inside the mapping form")
	}
	env.as(store.RoleAnalyst).get(p.URL).expect(t, http.StatusOK).hasNot(t, "#discard-import")

	p = mk.post("/imports/"+itoa(id)+"/cancel", formOf(p, "#discard-import")).expect(t, http.StatusOK)
	if p.URL != "/imports" {
		t.Fatalf("after discarding at %s, want the imports list", p.URL)
	}
	p.contains(t, ".flash-ok", "Archivo descartado")
	after, _ := store.ImportGetByID(context.Background(), env.db, env.wsA.ID, id)
	if after.Status != store.ImportCancelled || after.FilePath != "" {
		t.Fatalf("discarded import %+v", after)
	}
	if _, err := os.Stat(imp.FilePath); !os.IsNotExist(err) {
		t.Fatalf("the uploaded file is still there: %v", err)
	}
	var contacts int
	env.db.QueryRow(context.Background(), `SELECT count(*) FROM contacts WHERE workspace_id = $1`, env.wsA.ID).Scan(&contacts)
	if contacts != 0 {
		t.Fatalf("%d contacts imported", contacts)
	}
}
