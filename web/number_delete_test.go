package web

import (
	"context"
	"net/http"
	"testing"

	"github.com/pregon/pregon/store"
)

// An owner removes a sender number from Ajustes → Números (after a confirm). One that campaigns
// use stays, and the refusal names them; another workspace's number answers 404; only owners
// see the button.
func TestNumberDelete(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	ctx := context.Background()
	used, _ := seedDashboard(t, env) // "Black Friday" is scheduled on it
	unused, err := store.SenderNumberCreate(ctx, env.db, store.SenderNumberCreateParams{WorkspaceID: env.wsA.ID, PhoneNumberID: "1009",
		WABAID: "2001", DisplayNumber: "+57 300 000 0009", UseSimulator: true})
	if err != nil {
		t.Fatal(err)
	}
	var numberB int64
	env.db.QueryRow(ctx, `SELECT id FROM sender_numbers WHERE workspace_id = $1`, env.wsB.ID).Scan(&numberB)
	exists := func(id int64) bool {
		var ok bool
		env.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sender_numbers WHERE id = $1)`, id).Scan(&ok)
		return ok
	}
	del := func(id int64) string { return "/settings/numbers/" + itoa(id) + "/delete" }

	for _, role := range []store.Role{store.RoleMarketer, store.RoleAnalyst} {
		env.as(role).get("/settings").expect(t, http.StatusOK).hasNot(t, "form.number-delete")
		env.as(role).post(del(unused.ID), nil).expect(t, http.StatusForbidden)
	}
	own := env.as(store.RoleOwner)
	p := own.get("/settings").expect(t, http.StatusOK)
	if confirm, _ := p.has(t, `form.number-delete[action="`+del(unused.ID)+`"]`).Attr("data-confirm"); confirm == "" {
		t.Error("removing a number asks no confirmation")
	}

	p = own.post(del(used.ID), nil).expect(t, http.StatusOK)
	p.contains(t, ".flash-error", "Black Friday")
	if !exists(used.ID) {
		t.Fatal("a number campaigns use was removed")
	}
	own.post(del(numberB), nil).expect(t, http.StatusNotFound)
	if !exists(numberB) {
		t.Fatal("another workspace's number was removed")
	}
	p = own.post(del(unused.ID), nil).expect(t, http.StatusOK)
	p.has(t, ".flash-ok")
	if exists(unused.ID) {
		t.Fatal("the unused number is still there")
	}
	p.hasNot(t, `form.number-delete[action="`+del(unused.ID)+`"]`)
}
