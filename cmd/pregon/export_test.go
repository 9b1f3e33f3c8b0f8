package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pregon/pregon/reports"
	"github.com/pregon/pregon/reports/reportstest"
)

func TestExportCommand(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	ctx := context.Background()
	e := newCLIEnv(t, "CLI")
	pool, ws, dir, env := e.pool, e.ws, e.dir, e.env
	id, err := reportstest.Campaign(ctx, pool, ws.ID, 500)
	if err != nil {
		t.Fatal(err)
	}
	asOf := reportstest.Base.Add(40 * time.Minute)
	for _, format := range []string{"csv", "xlsx"} {
		want := new(bytes.Buffer)
		if _, err := reports.Write(ctx, pool, reports.ExportSpec{WorkspaceID: ws.ID, Kind: reports.KindCampaign, CampaignID: id,
			Format: reports.Format(format), AsOf: asOf, Attributes: []string{"ciudad"}}, want, nil); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "out."+format)
		cmd := exec.Command(bin, "export", "campaign", fmt.Sprint(id), "--format", format, "--as-of", asOf.Format(time.RFC3339),
			"--attributes", "ciudad", "-o", out)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s: %v\n%s", format, err, stderr.String())
		}
		got, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("%s: the CLI's file (%d bytes) differs from reports.Write (%d bytes)", format, len(got), want.Len())
		}
		// Not a terminal: plain progress lines, ending at 100 %.
		if !strings.Contains(stderr.String(), "export: 500/500 rows (100%)") || !strings.Contains(stderr.String(), "export: 500 rows in") {
			t.Fatalf("progress output: %q", stderr.String())
		}
	}
	cmd := exec.Command(bin, "export", "campaign", fmt.Sprint(id), "--workspace", fmt.Sprint(ws.ID+99), "-o", filepath.Join(dir, "x.csv"))
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "not found") {
		t.Fatalf("another workspace's campaign: %v %s", err, out)
	}
	cmd = exec.Command(bin, "export", "nada")
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "desconocido") {
		t.Fatalf("unknown kind: %v %s", err, out)
	}
}
