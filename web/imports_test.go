package web

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/pregon/pregon/importers"
	"github.com/pregon/pregon/internal/config"
	"github.com/pregon/pregon/store"
)

// importFile runs an import of content into workspace A synchronously and returns its id.
func (e *testEnv) importFile(t *testing.T, name, content string) int64 {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := importers.Run(context.Background(), e.db, importers.Params{WorkspaceID: e.wsA.ID, Path: path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res.ImportID
}

// The error report's links show whenever the report has lines: rejected rows, and also rows
// left out as repeats of an earlier one. The report carries the file's rows, so analysts see
// the import's counts without it.
func TestImportReportLinks(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	a := env.as(store.RoleMarketer)

	dups := env.importFile(t, "repetidos.csv", "telefono,nombre\n3001234567,Ana\n3001234567,Ana otra vez\n3007654321,Luis\n")
	imp, err := store.ImportGetByID(context.Background(), env.db, env.wsA.ID, dups)
	if err != nil || imp.Rejected != 0 || imp.Duplicates != 1 {
		t.Fatalf("import %+v %v", imp, err)
	}
	p := a.get(fmt.Sprintf("/imports/%d", dups)).expect(t, http.StatusOK)
	p.has(t, fmt.Sprintf(`#import-done a#errors-csv[href="/api/v1/imports/%d/errors?format=csv"]`, dups))
	p.has(t, "#import-done a#errors-xlsx")
	p.has(t, "#import-problems")
	analyst := env.as(store.RoleAnalyst).get(fmt.Sprintf("/imports/%d", dups)).expect(t, http.StatusOK)
	analyst.contains(t, `#import-progress [data-count="duplicates"]`, "1")
	analyst.hasNot(t, "#errors-csv")
	analyst.hasNot(t, "#import-problems")

	clean := env.importFile(t, "limpio.csv", "telefono,nombre\n3001234567,Ana\n")
	p = a.get(fmt.Sprintf("/imports/%d", clean)).expect(t, http.StatusOK)
	p.has(t, "#import-done")
	p.hasNot(t, "#errors-csv")
}

// formOf reads a page's form as the browser would submit it.
func formOf(p htmlPage, selector string) url.Values {
	form := url.Values{}
	p.Doc.Find(selector + " input[name], " + selector + " select[name]").Each(func(_ int, s *goquery.Selection) {
		name, _ := s.Attr("name")
		if s.Is("select") {
			v, _ := s.Find("option[selected]").Attr("value")
			if v == "" {
				v, _ = s.Find("option").First().Attr("value")
			}
			form.Set(name, v)
			return
		}
		if typ, _ := s.Attr("type"); typ == "checkbox" {
			return
		}
		v, _ := s.Attr("value")
		form.Set(name, v)
	})
	return form
}

// "No header row" chosen on the mapping page is what the import runs with: every row is data.
func TestImportWithoutHeaderRowIsConfirmedAsSuch(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	mk := env.as(store.RoleMarketer)
	// Row 1 looks like headers (and is detected as such), but the user says there are none.
	p := mk.upload("/imports/new", "sin-encabezado.csv", []byte("Nombre,Celular\nAna,3001234567\nLuis,3007654321\n")).expect(t, http.StatusOK)
	if v, _ := p.has(t, `#mapping-form input[name="header_row"]`).Attr("value"); v != "1" {
		t.Fatalf("header row detected as %q, want 1", v)
	}
	p = mk.get(p.URL+"?header_row=-1").expect(t, http.StatusOK)
	p.contains(t, "table.preview", "Nombre")
	if v, _ := p.has(t, "#f-header_row").Attr("value"); v != "-1" {
		t.Errorf("header row field shows %q, want -1", v)
	}
	form := formOf(p, "#mapping-form")
	if form.Get("header_row") != "-1" {
		t.Fatalf("the confirm form sends header_row=%q, want -1", form.Get("header_row"))
	}
	form.Set("col.1.kind", "phone")
	form.Set("col.0.kind", "name")
	id := strings.TrimPrefix(p.URL, "/imports/")
	mk.post("/imports/"+id+"/confirm", form).expect(t, http.StatusOK).has(t, "#import-progress")
	var n int64
	fmt.Sscan(id, &n)
	imp, err := store.ImportGetByID(context.Background(), env.db, env.wsA.ID, n)
	if err != nil || imp.Status != store.ImportQueued || imp.HeaderRow != -1 {
		t.Fatalf("confirmed import %+v %v: want it queued without a header row (-1)", imp, err)
	}
}

// countingReader is a multipart upload of size bytes, generated as it is read, that counts
// how much the server took.
type countingReader struct {
	r    io.Reader
	read atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read.Add(int64(n))
	return n, err
}

func bigUpload(csrf string, size int64) (*countingReader, string, int64) {
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	mw.WriteField("csrf_token", csrf)
	mw.CreateFormFile("file", "grande.csv")
	prefix := head.String()
	var tail bytes.Buffer
	tail.WriteString("\r\n--" + mw.Boundary() + "--\r\n")
	rows := io.LimitReader(repeatReader("3001234567,Ana\n"), size)
	body := io.MultiReader(strings.NewReader(prefix), rows, &tail)
	return &countingReader{r: body}, mw.FormDataContentType(), int64(len(prefix)) + size + int64(tail.Len())
}

type repeatReader string

func (s repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		n += copy(p[n:], s)
	}
	return n, nil
}

// An upload over the limit is refused before the server reads it (its length says so) or as
// soon as it has read the limit (a body without a length), with a page that says why.
func TestImportUploadOverTheLimit(t *testing.T) {
	t.Parallel()
	// served is how many bytes of the last request's body the server read; handled counts the
	// requests it finished.
	var served, handled atomic.Int64
	env := newTestEnvWith(t, envOptions{
		configure: func(cfg *config.Config) { cfg.UploadLimit = 1 << 20 },
		wrap: func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				cr := &countingReader{r: r.Body}
				r.Body = struct {
					io.Reader
					io.Closer
				}{cr, r.Body}
				defer func() { served.Store(cr.read.Load()); handled.Add(1) }()
				h.ServeHTTP(w, r)
			})
		},
	})
	u := env.users[store.RoleMarketer]
	mk := env.session(u.ID, env.wsA.ID)

	const size = 12 << 20
	for _, tc := range []struct {
		name      string
		length    bool // the request says its length
		expect100 bool // and waits for the server's go-ahead (curl does): the page always arrives
		maxRead   int64
	}{
		{"WithContentLengthAndExpectContinue", true, true, 0},
		{"WithContentLength", true, false, 0},
		{"Chunked", false, false, 2<<20 + 64<<10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, ctype, n := bigUpload(mk.csrf, size)
			req, _ := http.NewRequest(http.MethodPost, env.http.URL+"/imports/new", body)
			req.Header.Set("Content-Type", ctype)
			req.ContentLength = -1
			if tc.length {
				req.ContentLength = n
			}
			if tc.expect100 {
				req.Header.Set("Expect", "100-continue")
			}
			before := handled.Load()
			res, err := mk.c.Do(req)
			// The server closes the connection after answering, without reading the rest: a
			// client still sending may see the connection reset before it reads the answer.
			if err == nil {
				page, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(page), "supera el límite de 1 MB") {
					t.Fatalf("status %d, page %s", res.StatusCode, truncate(string(page), 2000))
				}
			} else if tc.expect100 || !strings.Contains(err.Error(), "reset") && !strings.Contains(err.Error(), "broken pipe") {
				t.Fatalf("upload: %v", err)
			}
			for deadline := time.Now().Add(10 * time.Second); handled.Load() == before; {
				if time.Now().After(deadline) {
					t.Fatal("the server never finished the request")
				}
				time.Sleep(5 * time.Millisecond)
			}
			if got := served.Load(); got > tc.maxRead {
				t.Errorf("the server read %d bytes of a %d-byte upload before refusing it (want at most %d)", got, n, tc.maxRead)
			}
		})
	}
	// Under the limit: the upload goes through.
	p := mk.upload("/imports/new", "clientes.csv", []byte("telefono,nombre\n3001234567,Ana\n")).expect(t, http.StatusOK)
	if !strings.HasPrefix(p.URL, "/imports/") || p.URL == "/imports/new" {
		t.Fatalf("after upload at %s", p.URL)
	}
}

// The finished import's page lists the rejected rows and why (the first 50 lines of the
// error report), with the downloads for the whole report.
func TestImportResultListsRejectedRows(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	a := env.as(store.RoleMarketer)

	id := env.importFile(t, "malos.csv", "telefono,nombre\n3001234567,Ana\n123,Número Corto\n3007654321,Luis\nhola,Sin Número\n")
	p := a.get(fmt.Sprintf("/imports/%d", id)).expect(t, http.StatusOK)
	p.contains(t, `#import-progress dd[data-count="rejected"]`, "2")
	rows := p.has(t, "#import-problems table.import-errors tbody tr")
	if rows.Length() != 2 {
		t.Fatalf("%d rejected rows listed, want 2: %s", rows.Length(), p.text("#import-problems"))
	}
	first := p.has(t, `#import-problems tr[data-row="3"]`)
	if cells := first.Find("td"); cells.Eq(2).Text() != "123" || strings.TrimSpace(cells.Eq(3).Text()) == "" || strings.TrimSpace(cells.Eq(1).Text()) == "" {
		t.Fatalf("row 3 shows %q, want its column, the value 123 and the reason", strings.Join(strings.Fields(first.Text()), " "))
	}
	p.has(t, `#import-problems tr[data-row="5"]`)
	p.hasNot(t, "#problems-more")
	p.has(t, "#import-done a#errors-csv")

	// a long report: the first 50 lines, and a pointer to the download for the rest
	var csv strings.Builder
	csv.WriteString("telefono,nombre\n")
	for i := 0; i < 60; i++ {
		fmt.Fprintf(&csv, "%d,Malo %d\n", i, i)
	}
	id = env.importFile(t, "muchos.csv", csv.String())
	p = a.get(fmt.Sprintf("/imports/%d", id)).expect(t, http.StatusOK)
	if n := p.Doc.Find("#import-problems table.import-errors tbody tr").Length(); n != 50 {
		t.Fatalf("%d lines listed, want the first 50", n)
	}
	p.contains(t, "#problems-more", "primeras 50")
	p.has(t, "#import-done a#errors-xlsx")
}
