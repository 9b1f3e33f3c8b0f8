package pgtest_test

import (
	"context"
	"testing"

	"github.com/pregon/pregon/internal/pgtest"
)

func TestNewDBIsMigratedAndIsolated(t *testing.T) {
	t.Parallel()
	a, b := pgtest.NewDB(t), pgtest.NewDB(t)
	ctx := context.Background()
	if _, err := a.Exec(ctx, `INSERT INTO workspaces (name) VALUES ('a')`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := b.QueryRow(ctx, `SELECT count(*) FROM workspaces`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("database b sees %d workspaces written to database a", n)
	}
}

func TestTxRollsBack(t *testing.T) {
	t.Run("Write", func(t *testing.T) {
		tx := pgtest.Tx(t)
		if _, err := tx.Exec(context.Background(), `INSERT INTO workspaces (name) VALUES ('rolled-back')`); err != nil {
			t.Fatal(err)
		}
	})
	tx := pgtest.Tx(t)
	var n int
	if err := tx.QueryRow(context.Background(), `SELECT count(*) FROM workspaces WHERE name = 'rolled-back'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("row from a finished test is still visible: %d", n)
	}
}
