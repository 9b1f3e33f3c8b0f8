package web

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pregon/pregon/store"
)

// Meta's codes (a pause's reason, a messaging limit tier, a number's platform) are shown in
// words on the template and number pages; the stored values stay Meta's.
func TestMetaCodesInWords(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	ctx := context.Background()
	n, c := seedDashboard(t, env)
	tp := seedTemplate(t, env, env.wsA.ID, "promo_pausa")
	if _, err := store.TemplateSetState(ctx, env.db, tp.ID, "status", "PAUSED", "NONE FIRST_PAUSE", "webhook", time.Time{}); err != nil {
		t.Fatal(err)
	}
	n.MessagingLimitTier, n.IsOnBizApp, n.PlatformType = "TIER_250", false, "CLOUD_API"
	if _, err := env.db.Exec(ctx, `UPDATE sender_numbers SET messaging_limit_tier = 'TIER_250', is_on_biz_app = false, platform_type = 'CLOUD_API' WHERE id = $1`, n.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := store.SenderNumberRecordHealth(ctx, env.db, n, store.NumberHealth{MessagingLimitTier: "TIER_2K", IsOnBizApp: true, PlatformType: "CLOUD_API"}); err != nil {
		t.Fatal(err)
	}
	b := env.as(store.RoleAnalyst)

	for _, path := range []string{"/templates/" + itoa(tp.ID), "/reports/templates/" + itoa(tp.ID)} {
		p := b.get(path).expect(t, http.StatusOK)
		row := p.has(t, `table.history tr[data-kind="status"]`).First().Text()
		if !strings.Contains(row, "pausada por Meta") || !strings.Contains(row, "primera pausa de Meta (3 h)") ||
			strings.Contains(row, "FIRST_PAUSE") || strings.Contains(row, "NONE") {
			t.Fatalf("%s: status change %q, want Meta's reason in words", path, row)
		}
	}
	b.get("/templates/"+itoa(tp.ID)).expect(t, http.StatusOK).contains(t, "#status-reason", "primera pausa de Meta")

	p := b.get("/reports/numbers/"+itoa(n.ID)).expect(t, http.StatusOK)
	limit := p.has(t, `table.history tr[data-kind="limit"]`).Text()
	if !strings.Contains(limit, "250 destinatarios / 24 h") || !strings.Contains(limit, "2.000 destinatarios / 24 h") || strings.Contains(limit, "TIER_") {
		t.Fatalf("limit change %q, want the tiers in words", limit)
	}
	// The dashboard's number card and a campaign's log of transitions.
	if dash := b.get("/").expect(t, http.StatusOK).text("body"); !strings.Contains(dash, "destinatarios / 24 h)") || strings.Contains(dash, "TIER_") {
		t.Errorf("dashboard shows the tier as code: %q", dash)
	}
	if _, err := store.CampaignTransition(ctx, env.db, env.wsA.ID, c.ID, store.CampaignRunning, store.TransitionParams{Actor: store.ActorSystem}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.CampaignTransition(ctx, env.db, env.wsA.ID, c.ID, store.CampaignPaused, store.TransitionParams{
		Actor: store.ActorRule, Reason: "La calidad de la plantilla bajó", Signal: store.SignalTemplateQuality, Value: "RED"}); err != nil {
		t.Fatal(err)
	}
	why := b.get("/campaigns/"+itoa(c.ID)).expect(t, http.StatusOK).has(t, `table.transitions tr[data-to="paused"]`).Text()
	if !strings.Contains(why, "plantilla con calidad baja") || strings.Contains(why, "RED") || strings.Contains(why, "template_quality") {
		t.Errorf("campaign log %q, want the signal in words", why)
	}

	account := p.has(t, `table.history tr[data-kind="account"]`).Text()
	if !strings.Contains(account, "API de la nube (Cloud API), también en la app WhatsApp Business (coexistencia)") ||
		!strings.Contains(account, "sin la app WhatsApp Business") || strings.Contains(account, "is_on_biz_app") {
		t.Fatalf("platform change %q, want it in words", account)
	}
}

func TestMetaWordFuncs(t *testing.T) {
	t.Parallel()
	es, en := &page{Lang: "es"}, &page{Lang: "en"}
	for _, tc := range []struct {
		got, want string
	}{
		{es.Tier("TIER_2K"), "2.000 destinatarios / 24 h"},
		{en.Tier("TIER_2K"), "2,000 recipients / 24 h"},
		{es.Tier("TIER_UNLIMITED"), "sin límite"},
		{es.Tier("raro"), "raro"},
		{es.MetaReason("NONE"), ""},
		{es.MetaReason("INCORRECT_CATEGORY"), "categoría incorrecta"},
		{es.MetaReason("REINSTATED"), "restablecida por Meta"},
		{es.MetaReason("NONE SOMETHING_NEW"), "SOMETHING_NEW"},
		{es.MetaReason("La plantilla infringe las políticas"), "La plantilla infringe las políticas"},
		{es.Signal(store.SignalTemplateStatus, "PAUSED"), "estado de la plantilla: pausada por Meta"},
		{es.Signal(store.SignalTemplateQuality, "RED"), "plantilla con calidad baja"},
		{en.Signal(store.SignalTemplateQuality, "RED"), "template with low quality"},
		{es.Signal(store.SignalErrorCode, "132015"), "código de Meta 132015"},
		{es.Signal(store.SignalCircuitBreaker, "0.34"), "34 % de envíos fallidos"},
		{es.Signal(store.SignalNumber, "halted"), "número de envío: detenido"},
		{es.Signal("api_token", "1"), "con el token de API n.º 1"},
		{es.Signal(store.SignalLaunch, "120"), ""},
		{es.Signal(store.SignalFinished, ""), ""},
		{es.Platform("is_on_biz_app=false platform_type=CLOUD_API"), "API de la nube (Cloud API), sin la app WhatsApp Business"},
		{es.Platform("PRIMARY_INACTIVITY"), "PRIMARY_INACTIVITY"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
