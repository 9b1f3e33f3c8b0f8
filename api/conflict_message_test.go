package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/pregon/pregon/store"
)

// A conflict's message is for people: it does not start with the store's sentinel word
// ("conflict: …") and names states in Spanish words, not as the codes stored.
func TestConflictMessagesAreWords(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	ctx := context.Background()
	m := env.as(store.RoleMarketer)
	message := func(r response) string {
		t.Helper()
		var e Error
		r.JSON(t, &e)
		if e.Code != "conflict" {
			t.Fatalf("code %q in %s", e.Code, r.Body)
		}
		return e.Message
	}

	t.Run("SegmentNameTaken", func(t *testing.T) {
		body := map[string]any{"name": "Clientes VIP", "definition": map[string]any{"all": []any{}}}
		m.do(http.MethodPost, "/api/v1/segments", body).expect(t, http.StatusCreated)
		r := m.do(http.MethodPost, "/api/v1/segments", body).expect(t, http.StatusConflict)
		if got := message(r); got != "ya existe un segmento con ese nombre" {
			t.Fatalf("message %q", got)
		}
		// the field it is about, as a validation problem names it, for forms
		var e struct {
			Details []store.Problem `json:"details"`
		}
		r.JSON(t, &e)
		if len(e.Details) != 1 || e.Details[0].Path != "name" || e.Details[0].Message != "ya existe un segmento con ese nombre" {
			t.Fatalf("details %+v", e.Details)
		}
	})
	t.Run("ImportAlreadyEnded", func(t *testing.T) {
		imp, err := store.ImportCreate(ctx, env.db, store.ImportCreateParams{WorkspaceID: env.wsA.ID, Filename: "x.csv", Format: "csv", Status: store.ImportCompleted})
		if err != nil {
			t.Fatal(err)
		}
		got := message(m.do(http.MethodPost, fmt.Sprintf("/api/v1/imports/%d/cancel", imp.ID), nil).expect(t, http.StatusConflict))
		if got != "la importación ya terminó: está completada" {
			t.Fatalf("message %q", got)
		}
	})
	t.Run("ResumeOntoAPausedTemplate", func(t *testing.T) {
		var tmpl, id int64
		if err := env.db.QueryRow(ctx, `INSERT INTO templates (workspace_id, waba_id, meta_id, name, language, category, status, quality)
			VALUES ($1, 'w1', 'm1', 'promo', 'es', 'MARKETING', 'PAUSED', 'RED') RETURNING id`, env.wsA.ID).Scan(&tmpl); err != nil {
			t.Fatal(err)
		}
		if err := env.db.QueryRow(ctx, `INSERT INTO campaigns (workspace_id, name, state, template_id) VALUES ($1, 'Promo', 'paused', $2) RETURNING id`,
			env.wsA.ID, tmpl).Scan(&id); err != nil {
			t.Fatal(err)
		}
		got := message(env.as(store.RoleOwner).do(http.MethodPost, fmt.Sprintf("/api/v1/campaigns/%d/resume", id), nil).expect(t, http.StatusConflict))
		if got != "la plantilla no está aprobada: está pausada por Meta" {
			t.Fatalf("message %q, want Meta's status in words", got)
		}
	})
	t.Run("CampaignStateInWords", func(t *testing.T) {
		var id int64
		if err := env.db.QueryRow(ctx, `INSERT INTO campaigns (workspace_id, name, state) VALUES ($1, 'Navidad', 'completed') RETURNING id`,
			env.wsA.ID).Scan(&id); err != nil {
			t.Fatal(err)
		}
		got := message(env.as(store.RoleOwner).do(http.MethodPost, fmt.Sprintf("/api/v1/campaigns/%d/cancel", id), nil).expect(t, http.StatusConflict))
		if got != "la campaña está terminada: no se puede cancelar" {
			t.Fatalf("message %q", got)
		}
	})
}

func TestConflictMessage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("%w: ya existe un segmento con ese nombre", store.ErrConflict), "ya existe un segmento con ese nombre"},
		{fmt.Errorf("la importación ya fue confirmada: %w", store.ErrConflict), "la importación ya fue confirmada"},
		{fmt.Errorf("guardando: %w", fmt.Errorf("%w: el contacto cambió", store.ErrConflict)), "guardando: el contacto cambió"},
		{&store.TransitionError{From: store.CampaignCancelled, To: store.CampaignPaused}, "la campaña está cancelada: no se puede pausar"},
		{errors.New("conflicto de horarios"), "conflicto de horarios"},
	} {
		if got := ConflictMessage(tc.err); got != tc.want {
			t.Errorf("ConflictMessage(%q) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
