package pgtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/jackc/pgx/v5"
)

// The databases of a test binary that is gone are dropped; those of a live one are kept.
func TestDropOrphans(t *testing.T) {
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, BaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	dead := fmt.Sprintf("pregon_test_%d_1_1", gone.Process.Pid)
	live := fmt.Sprintf("pregon_test_%d_1_999999", os.Getpid())
	for _, name := range []string{dead, live} {
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+live) })
	dropOrphans(ctx, BaseURL(t))
	var left []string
	rows, err := admin.Query(ctx, `SELECT datname FROM pg_database WHERE datname = ANY($1) ORDER BY datname`, []string{dead, live})
	if err != nil {
		t.Fatal(err)
	}
	left, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0] != live {
		t.Fatalf("left %v, want only %s", left, live)
	}
}
