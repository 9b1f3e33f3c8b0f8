package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/store"
)

func TestSegments(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDB(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	a, err := store.WorkspaceCreate(ctx, db, store.WorkspaceCreateParams{Name: "A"})
	must(err)
	b, err := store.WorkspaceCreate(ctx, db, store.WorkspaceCreateParams{Name: "B"})
	must(err)
	def := json.RawMessage(`{"field":"tags","op":"has_any","value":["vip"]}`)

	vip, err := store.SegmentCreate(ctx, db, store.SegmentCreateParams{WorkspaceID: a.ID, Name: "  VIP  ", Definition: def})
	must(err)
	if vip.Name != "VIP" || vip.ID == 0 {
		t.Fatalf("%+v", vip)
	}
	all, err := store.SegmentCreate(ctx, db, store.SegmentCreateParams{WorkspaceID: a.ID, Name: "Todos"})
	must(err)
	if string(all.Definition) != "{}" {
		t.Fatalf("empty definition stored as %s", all.Definition)
	}

	t.Run("NameRequired", func(t *testing.T) {
		var ve *store.ValidationError
		if _, err := store.SegmentCreate(ctx, db, store.SegmentCreateParams{WorkspaceID: a.ID, Name: " "}); !errors.As(err, &ve) || ve.Problems[0].Path != "name" {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("DuplicateNameIgnoresCase", func(t *testing.T) {
		if _, err := store.SegmentCreate(ctx, db, store.SegmentCreateParams{WorkspaceID: a.ID, Name: "vip"}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("err = %v", err)
		}
		// another workspace may use the name
		_, err := store.SegmentCreate(ctx, db, store.SegmentCreateParams{WorkspaceID: b.ID, Name: "VIP"})
		must(err)
	})
	t.Run("GetIsWorkspaceScoped", func(t *testing.T) {
		got, err := store.SegmentGetByID(ctx, db, a.ID, vip.ID)
		must(err)
		var x, y any
		_ = json.Unmarshal(got.Definition, &x)
		_ = json.Unmarshal(def, &y)
		if got.Name != "VIP" || !segmentJSONEqual(x, y) {
			t.Fatalf("%+v", got)
		}
		if _, err := store.SegmentGetByID(ctx, db, b.ID, vip.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("B reads A's segment: %v", err)
		}
		if _, err := store.SegmentUpdateByID(ctx, db, b.ID, vip.ID, store.SegmentUpdate{}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("B updates A's segment: %v", err)
		}
		if err := store.SegmentDelete(ctx, db, b.ID, vip.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("B deletes A's segment: %v", err)
		}
	})
	t.Run("ListPages", func(t *testing.T) {
		page, err := store.SegmentList(ctx, db, a.ID, store.SegmentFilter{Limit: 1})
		must(err)
		if len(page) != 1 || page[0].ID != all.ID {
			t.Fatalf("%+v", page)
		}
		page, err = store.SegmentList(ctx, db, a.ID, store.SegmentFilter{Limit: 1, Cursor: all.ID})
		must(err)
		if len(page) != 1 || page[0].ID != vip.ID {
			t.Fatalf("%+v", page)
		}
	})
	t.Run("Update", func(t *testing.T) {
		desc := "clientes vip"
		got, err := store.SegmentUpdateByID(ctx, db, a.ID, vip.ID, store.SegmentUpdate{Description: &desc, Definition: json.RawMessage(`{}`)})
		must(err)
		if got.Name != "VIP" || got.Description != desc || string(got.Definition) != "{}" || !got.UpdatedAt.After(vip.UpdatedAt) {
			t.Fatalf("%+v", got)
		}
		name := "Todos"
		if _, err := store.SegmentUpdateByID(ctx, db, a.ID, vip.ID, store.SegmentUpdate{Name: &name}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("rename onto an existing name: %v", err)
		}
	})
	t.Run("DeleteInUseConflicts", func(t *testing.T) {
		_, err := db.Exec(ctx, `INSERT INTO campaigns (workspace_id, name, segment_id) VALUES ($1, 'c', $2)`, a.ID, all.ID)
		must(err)
		if err := store.SegmentDelete(ctx, db, a.ID, all.ID); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("err = %v", err)
		}
		must(store.SegmentDelete(ctx, db, a.ID, vip.ID))
		if _, err := store.SegmentGetByID(ctx, db, a.ID, vip.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("after delete: %v", err)
		}
	})
}

func segmentJSONEqual(x, y any) bool {
	a, _ := json.Marshal(x)
	b, _ := json.Marshal(y)
	return string(a) == string(b)
}
