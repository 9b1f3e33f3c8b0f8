package web

import (
	"net/http"
	"strings"
	"testing"

	"github.com/pregon/pregon/store"
)

// Lists longer than a page end with "Ver más", which keeps their filters and leads to the
// rest; they used to stop silently at 200 campaigns, 100 reports, 100 imports, 50 exports. The
// segment builder offers every launched campaign (it stopped at the latest 100).
func TestListsArePaged(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	ws := env.wsA.ID
	// 120 completed campaigns and 1 draft; 101 imports; 51 exports
	env.exec(t, `INSERT INTO campaigns (workspace_id, name, state) SELECT $1, 'Campaña ' || g, 'completed' FROM generate_series(1, 120) g`, ws)
	env.exec(t, `INSERT INTO campaigns (workspace_id, name) VALUES ($1, 'Borrador')`, ws)
	env.exec(t, `INSERT INTO imports (workspace_id, filename, format, file_sha256, file_size) SELECT $1, 'lista' || g || '.csv', 'csv', 'x', 1 FROM generate_series(1, 101) g`, ws)
	env.exec(t, `INSERT INTO exports (workspace_id, kind, format, as_of, status) SELECT $1, 'contacts', 'csv', now(), 'failed' FROM generate_series(1, 51) g`, ws)
	b := env.as(store.RoleOwner)

	// follow walks a list's pages, counting the items selector matches on each
	follow := func(path, selector string, wantPages int, keep string) int {
		t.Helper()
		total, pages := 0, 0
		for path != "" {
			p := b.get(path).expect(t, http.StatusOK)
			total += p.Doc.Find(selector).Length()
			pages++
			path, _ = p.Doc.Find("a#more").Attr("href")
			if path != "" && keep != "" && !strings.Contains(path, keep) {
				t.Fatalf("next page %q lost the filter %q", path, keep)
			}
			if pages > 10 {
				t.Fatalf("%s: more than 10 pages", selector)
			}
		}
		if pages != wantPages {
			t.Errorf("%s: %d pages, want %d", selector, pages, wantPages)
		}
		return total
	}
	if n := follow("/campaigns", "li[data-campaign]", 3, ""); n != 121 {
		t.Errorf("campaigns list: %d in all, want 121", n)
	}
	if n := follow("/campaigns?state=completed", "li[data-campaign]", 3, "state=completed"); n != 120 {
		t.Errorf("completed campaigns: %d in all, want 120", n)
	}
	if n := follow("/reports", `a[href^="/reports/campaigns/"]`, 2, ""); n != 120 {
		t.Errorf("reports: %d campaigns in all, want 120", n)
	}
	if n := follow("/imports", "tr[data-import]", 2, ""); n != 101 {
		t.Errorf("imports: %d in all, want 101", n)
	}
	if n := follow("/exports", "tr[data-export]", 2, ""); n != 51 {
		t.Errorf("exports: %d in all, want 51", n)
	}
	p := b.get("/segments/new").expect(t, http.StatusOK)
	if got, _ := p.Doc.Find("#builder").Attr("data-campaigns"); strings.Count(got, `"id"`) != 120 {
		t.Errorf("the segment builder offers %d campaigns, want 120", strings.Count(got, `"id"`))
	}
}
