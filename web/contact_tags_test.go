package web

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/pregon/pregon/store"
)

// Tags are added to and removed from the contacts ticked on a page of the list (POST
// /api/v1/contacts/tags); the list comes back with its filters and says how many changed.
// Analysts get no boxes; another workspace's contacts are not touched.
func TestContactsBulkTags(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	ctx := context.Background()
	seedAudience(t, env, env.wsA.ID, 3)
	seedAudience(t, env, env.wsB.ID, 1)
	var ids []int64
	rows, err := env.db.Query(ctx, `SELECT id FROM contacts WHERE workspace_id = $1 ORDER BY id`, env.wsA.ID)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		ids = append(ids, id)
	}
	rows.Close()
	var idB int64
	env.db.QueryRow(ctx, `SELECT id FROM contacts WHERE workspace_id = $1 LIMIT 1`, env.wsB.ID).Scan(&idB)
	tagsOf := func(id int64) []string {
		t.Helper()
		var tags []string
		if err := env.db.QueryRow(ctx, `SELECT tags FROM contacts WHERE id = $1`, id).Scan(&tags); err != nil {
			t.Fatal(err)
		}
		return tags
	}

	an := env.as(store.RoleAnalyst)
	p := an.get("/contacts").expect(t, http.StatusOK)
	p.hasNot(t, "#bulk-tags")
	p.hasNot(t, `input[name="ids"]`)
	an.post("/contacts/tags", url.Values{"ids": {itoa(ids[0])}, "add": {"x"}}).expect(t, http.StatusForbidden)

	mk := env.as(store.RoleMarketer)
	p = mk.get("/contacts?tag=vip").expect(t, http.StatusOK)
	if action, _ := p.has(t, "form#bulk-tags").Attr("action"); action != "/contacts/tags?tag=vip" {
		t.Errorf("the bulk form posts to %q, want the list's filters kept", action)
	}
	if n := p.Doc.Find(`tr[data-contact] input[type="checkbox"][name="ids"][form="bulk-tags"]`).Length(); n != len(ids) {
		t.Fatalf("%d boxes, want %d", n, len(ids))
	}

	sel := url.Values{"ids": {itoa(ids[0]), itoa(ids[1])}, "add": {"feria, nueva"}, "remove": {"vip"}}
	p = mk.post("/contacts/tags?tag=vip", sel).expect(t, http.StatusOK)
	if p.URL != "/contacts" {
		t.Errorf("back at %s", p.URL)
	}
	p.contains(t, ".flash-ok", "2 de los 2")
	if got := tagsOf(ids[0]); !slices.Equal(got, []string{"feria", "nueva"}) {
		t.Errorf("tags of the first: %v", got)
	}
	if got := tagsOf(ids[2]); !slices.Equal(got, []string{"vip"}) {
		t.Errorf("a contact not ticked changed: %v", got)
	}
	// again: nothing left to change, and the message says so
	mk.post("/contacts/tags?tag=vip", sel).expect(t, http.StatusOK).contains(t, ".flash-ok", "0 de los 2")

	// nothing ticked, or no tags: the list again with what was typed and ticked
	p = mk.post("/contacts/tags", url.Values{"add": {"feria"}}).expect(t, http.StatusUnprocessableEntity)
	p.contains(t, "#e-ids", "marque")
	if v, _ := p.Doc.Find(`#f-bulk-add`).Attr("value"); v != "feria" {
		t.Errorf("typed tags shown again as %q", v)
	}
	p = mk.post("/contacts/tags", url.Values{"ids": {itoa(ids[2])}}).expect(t, http.StatusUnprocessableEntity)
	p.has(t, "#e-bulk-add")
	p.has(t, `input[name="ids"][value="`+itoa(ids[2])+`"][checked]`)

	// another workspace's contact: the API is scoped, nothing changes there
	mk.post("/contacts/tags", url.Values{"ids": {itoa(idB)}, "add": {"ajeno"}}).expect(t, http.StatusOK).contains(t, ".flash-ok", "0 de los 1")
	if got := tagsOf(idB); !slices.Equal(got, []string{"vip"}) {
		t.Errorf("B's contact was tagged: %v", got)
	}
}
