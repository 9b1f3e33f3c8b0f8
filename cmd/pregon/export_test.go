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
	"github.com/pregon/pregon/store"
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
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), fmt.Sprintf("campaña %d no encontrada en el espacio de trabajo %d, que no existe", id, ws.ID+99)) {
		t.Fatalf("another workspace's campaign: %v %s", err, out)
	}
	other, err := store.WorkspaceCreate(ctx, pool, store.WorkspaceCreateParams{Name: "Otra"})
	if err != nil {
		t.Fatal(err)
	}
	for args, want := range map[string]string{
		fmt.Sprintf("campaign %d --workspace %d", id, other.ID): fmt.Sprintf("campaña %d no encontrada en el espacio de trabajo %d («Otra»)", id, other.ID),
		"campaign 999999": "campaña 999999 no encontrada en ningún espacio de trabajo",
		"template 999999": "plantilla 999999 no encontrada en ningún espacio de trabajo",
	} {
		cmd := exec.Command(bin, append([]string{"export"}, strings.Fields(args)...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), want) || strings.Contains(string(out), "no rows") {
			t.Errorf("export %s: %v %s, want %q", args, err, out, want)
		}
	}
	cmd = exec.Command(bin, "export", "nada")
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "desconocido") {
		t.Fatalf("unknown kind: %v %s", err, out)
	}
}
