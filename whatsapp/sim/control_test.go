package sim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pregon/pregon/whatsapp"
	"github.com/pregon/pregon/whatsapp/sim"
)

func (b *bundle) control(t *testing.T, method, path string, body any) map[string]any {
	t.Helper()
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, b.srv.URL+path, rd)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &out)
	if resp.StatusCode != 200 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	return out
}

func TestTemplateTurnsRedPausesAndUnpauses(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *sim.Config) {
		c.Numbers = []sim.Number{{PhoneNumberID: phoneID, MPS: -1}}
		c.Webhooks.Senders = 1 // one sender keeps webhook order, asserted below
	})
	ctx := context.Background()
	b.control(t, "POST", "/_sim/templates/quality", map[string]string{"name": "promo_temporada", "language": "es_MX", "quality": "RED"})
	_, err := b.client.SendTemplate(ctx, phoneID, promo("+5215512345678"))
	eq(t, "paused send", code(err), 132015)
	eq(t, "class", whatsapp.Classify(err), whatsapp.ClassCampaign)
	b.waitIdle(t)
	q := b.hook.changes(whatsapp.FieldTemplateQualityUpdate)
	if len(q) != 1 || q[0].TemplateQuality.PreviousQualityScore != "GREEN" || q[0].TemplateQuality.NewQualityScore != "RED" ||
		q[0].TemplateQuality.MessageTemplateName != "promo_temporada" {
		t.Fatalf("quality webhooks = %+v", q)
	}
	s := b.hook.changes(whatsapp.FieldTemplateStatusUpdate)
	if len(s) != 1 || s[0].TemplateStatus.Event != "PAUSED" || s[0].TemplateStatus.OtherInfo.Title != "FIRST_PAUSE" {
		t.Fatalf("status webhooks = %+v", s)
	}
	tid := string(s[0].TemplateStatus.MessageTemplateID)

	// The client sees it PAUSED and RED.
	ts, err := b.client.ListTemplates(ctx, wabaID)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "templates", len(ts), 7)
	for _, tpl := range ts {
		if tpl.Name == "promo_temporada" {
			eq(t, "status", tpl.Status, "PAUSED")
			eq(t, "quality", tpl.QualityScore.Score, "RED")
			eq(t, "id", tpl.ID, tid)
			eq(t, "params", len(tpl.Parameters()), 4)
		}
	}
	// Unpause through the API.
	if err := b.client.UnpauseTemplate(ctx, tid); err != nil {
		t.Fatal(err)
	}
	if _, err := b.client.SendTemplate(ctx, phoneID, promo("+5215512345678")); err != nil {
		t.Errorf("after unpause: %v", err)
	}
	if err := b.client.UnpauseTemplate(ctx, tid); code(err) != 100 {
		t.Errorf("unpausing an approved template: %v", err)
	}
	// Second RED: paused 6 h, then it ends by itself.
	if err := b.sim.SetTemplateQuality("promo_temporada", "es_MX", "RED"); err != nil {
		t.Fatal(err)
	}
	_, err = b.client.SendTemplate(ctx, phoneID, promo("+5215587654321"))
	eq(t, "second pause", code(err), 132015)
	b.clock.Advance(6*time.Hour + time.Minute)
	if _, err := b.client.SendTemplate(ctx, phoneID, promo("+5215587654321")); err != nil {
		t.Errorf("after the 6 h pause: %v", err)
	}
	// Third RED disables.
	_ = b.sim.SetTemplateQuality("promo_temporada", "es_MX", "RED")
	_, err = b.client.SendTemplate(ctx, phoneID, promo("+5215511111111"))
	eq(t, "disabled", code(err), 132016)
	b.waitIdle(t)
	var events []string
	for _, c := range b.hook.changes(whatsapp.FieldTemplateStatusUpdate) {
		events = append(events, c.TemplateStatus.Event)
	}
	want := []string{"PAUSED", "APPROVED", "PAUSED", "APPROVED", "DISABLED"}
	if len(events) != len(want) {
		t.Fatalf("status events = %v, want %v", events, want)
	}
	for i := range want {
		eq(t, "event", events[i], want[i])
	}
	if err := b.sim.SetTemplateQuality("nope", "es", "RED"); err == nil {
		t.Error("unknown template accepted")
	}
	// Status set directly.
	b.control(t, "POST", "/_sim/templates/status", map[string]string{"name": "recordatorio_cita", "language": "es_MX", "status": "PAUSED"})
	_, err = b.client.SendTemplate(ctx, phoneID, whatsapp.TemplateMessage{To: "+5215512345678", Name: "recordatorio_cita", Language: "es_MX"})
	eq(t, "status PAUSED via control", code(err), 132015)
}

func TestTemplatePaging(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	resp, err := http.Get(b.srv.URL + "/_sim/templates")
	if err != nil {
		t.Fatal(err)
	}
	var all []sim.Template
	_ = json.NewDecoder(resp.Body).Decode(&all)
	resp.Body.Close()
	eq(t, "control templates", len(all), 7)
	eq(t, "waba", all[0].WABAID, wabaID)
	next := b.srv.URL + "/v23.0/" + wabaID + "/message_templates?limit=3"
	var names []string
	for pages := 0; next != ""; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		req, _ := http.NewRequest("GET", next, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Data   []whatsapp.Template
			Paging struct{ Next string }
		}
		_ = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if len(page.Data) > 3 {
			t.Errorf("page of %d with limit 3", len(page.Data))
		}
		for _, d := range page.Data {
			names = append(names, d.Name)
		}
		next = page.Paging.Next
	}
	eq(t, "all templates over pages", len(names), 7)
	eq(t, "sorted", names[0], "aviso_envio")
}

func TestPhoneNumberFields(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *sim.Config) {
		c.Numbers = []sim.Number{
			{PhoneNumberID: "std", WABAID: "w", DisplayPhoneNumber: "5215550000001", MessagingLimitTier: "TIER_250"},
			{PhoneNumberID: "coex", WABAID: "w", DisplayPhoneNumber: "5215550000002", Coexistence: true, QualityRating: "YELLOW"},
			{PhoneNumberID: "high", WABAID: "w2", DisplayPhoneNumber: "5215550000003", ThroughputLevel: "HIGH", MessagingLimitTier: "TIER_UNLIMITED"},
		}
	})
	ctx := context.Background()
	cases := []struct {
		id      string
		mps     int
		limit   int
		quality string
		coex    bool
	}{
		{"std", 80, 250, "GREEN", false},
		{"coex", 20, 2000, "YELLOW", true},
		{"high", 1000, -1, "GREEN", false},
	}
	for _, tc := range cases {
		p, err := b.client.GetPhoneNumber(ctx, tc.id)
		if err != nil {
			t.Fatal(err)
		}
		eq(t, tc.id+" mps", p.ThroughputMPS(), tc.mps)
		n, ok := p.MessagingLimit()
		eq(t, tc.id+" limit", n, tc.limit)
		eq(t, tc.id+" limit ok", ok, true)
		eq(t, tc.id+" quality", p.QualityRating, tc.quality)
		eq(t, tc.id+" coexistence", p.IsOnBizApp, tc.coex)
		eq(t, tc.id+" platform", p.PlatformType, "CLOUD_API")
		eq(t, tc.id+" id", p.ID, tc.id)
	}
	// THROUGHPUT_UPGRADE raises the level and the webhook arrives.
	b.control(t, "POST", "/_sim/numbers/quality", map[string]string{"phone_number_id": "std", "event": "THROUGHPUT_UPGRADE", "current_limit": "TIER_UNLIMITED", "old_limit": "TIER_250"})
	p, _ := b.client.GetPhoneNumber(ctx, "std")
	eq(t, "upgraded mps", p.ThroughputMPS(), 1000)
	b.waitIdle(t)
	ch := b.hook.changes(whatsapp.FieldPhoneNumberQualityUpdate)
	if len(ch) != 1 || ch[0].PhoneNumberQuality.Event != "THROUGHPUT_UPGRADE" || ch[0].PhoneNumberQuality.CurrentLimit != "TIER_UNLIMITED" ||
		string(ch[0].PhoneNumberQuality.DisplayPhoneNumber) != "5215550000001" {
		t.Errorf("phone quality webhooks = %+v", ch)
	}
	if _, err := b.client.GetPhoneNumber(ctx, "nope"); code(err) != 100 {
		t.Errorf("unknown number: %v", err)
	}
}

func TestControlEvents(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	id := b.control(t, "POST", "/_sim/inbound", map[string]string{"from": "5215512345678", "text": "no más", "name": "Ana"})["id"].(string)
	b.control(t, "POST", "/_sim/echoes", map[string]string{"to": "+5215512345678", "text": "Hola Ana, ya salió tu pedido"})
	b.control(t, "POST", "/_sim/contacts", map[string]any{"contacts": []map[string]string{
		{"phone_number": "+5215512345678", "full_name": "Ana López", "first_name": "Ana"}, {"phone_number": "5215587654321", "action": "remove"}}})
	b.control(t, "POST", "/_sim/numbers/account", map[string]string{"event": "PARTNER_REMOVED", "reason": "PRIMARY_INACTIVITY"})
	b.waitIdle(t)
	var inbound []whatsapp.Message
	for _, e := range b.hook.envelopes() {
		inbound = append(inbound, e.InboundMessages()...)
	}
	if len(inbound) != 1 || inbound[0].ID != id || inbound[0].ReplyText() != "no más" || inbound[0].From != "5215512345678" ||
		!strings.HasPrefix(inbound[0].FromUserID, "MX.") {
		t.Errorf("inbound = %+v", inbound)
	}
	ech := b.hook.changes(whatsapp.FieldSMBMessageEchoes)
	if len(ech) != 1 || ech[0].MessageEchoes.MessageEchoes[0].To != "5215512345678" || ech[0].MessageEchoes.MessageEchoes[0].Text.Body != "Hola Ana, ya salió tu pedido" {
		t.Errorf("echoes = %+v", ech)
	}
	ss := b.hook.changes(whatsapp.FieldSMBAppStateSync)
	if len(ss) != 1 || len(ss[0].StateSync.StateSync) != 2 || ss[0].StateSync.StateSync[0].Contact.FullName != "Ana López" ||
		ss[0].StateSync.StateSync[1].Action != "remove" || ss[0].StateSync.StateSync[1].Contact.FullName != "" {
		t.Errorf("state sync = %+v", ss)
	}
	acc := b.hook.changes(whatsapp.FieldAccountUpdate)
	if len(acc) != 1 || acc[0].AccountUpdate.DisconnectionInfo.Reason != "PRIMARY_INACTIVITY" || acc[0].AccountUpdate.Event != "PARTNER_REMOVED" {
		t.Errorf("account update = %+v", acc)
	}
	// The inbound message opened the service window: free-form text is delivered.
	res, err := b.client.SendText(context.Background(), phoneID, "+5215512345678", "¡Listo, te dimos de baja!", false)
	if err != nil {
		t.Fatal(err)
	}
	// Outside the window it fails asynchronously with 131047.
	res2, err := b.client.SendText(context.Background(), phoneID, "+5215599999999", "hola", false)
	if err != nil {
		t.Fatal(err)
	}
	b.waitIdle(t)
	got := b.hook.outcomes()
	eq(t, "in window", got[res.WAMID], "sent")
	eq(t, "out of window", got[res2.WAMID], "failed131047")

	// Stats over HTTP.
	st := b.control(t, "GET", "/_sim/stats", nil)
	eq(t, "accepted_total", st["accepted_total"].(float64), 2)
	if pr := st["per_recipient"].(map[string]any); pr["5215512345678"].(float64) != 1 {
		t.Errorf("per_recipient = %v", pr)
	}
	if wh := st["webhooks"].(map[string]any); wh["delivered"].(float64) == 0 || wh["pending"].(float64) != 0 {
		t.Errorf("webhooks = %v", wh)
	}
	// Faults and throughput over HTTP, then reset.
	b.control(t, "POST", "/_sim/faults", map[string]any{"throughput_storm": true})
	_, err = b.client.SendTemplate(context.Background(), phoneID, promo("+5215512345678"))
	eq(t, "storm via control", code(err), 130429)
	b.control(t, "POST", "/_sim/reset", nil)
	eq(t, "reset counters", b.sim.AcceptedTotal(), 0)
	if _, err := b.client.SendTemplate(context.Background(), phoneID, promo("+5215512345678")); err != nil {
		t.Errorf("after reset: %v", err)
	}
	b.control(t, "POST", "/_sim/numbers/throughput", map[string]any{"phone_number_id": phoneID, "mps": 1})
	if _, err := b.client.SendTemplate(context.Background(), phoneID, promo("+5215587654321")); err != nil {
		t.Errorf("first send at 1 mps: %v", err)
	}
	_, err = b.client.SendTemplate(context.Background(), phoneID, promo("+5215587654321"))
	eq(t, "second send in the same second at 1 mps", code(err), 130429)
	if tpl := b.control(t, "GET", "/_sim/stats", nil); tpl["rejected_by_code"].(map[string]any)["130429"].(float64) != 1 {
		t.Errorf("rejected_by_code = %v", tpl["rejected_by_code"])
	}
}

func TestUserPreferencesStopMarketing(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := context.Background()
	b.control(t, "POST", "/_sim/user_preferences", map[string]string{"wa_id": "5215512345678", "value": "stop"})
	stopped, err := b.client.SendTemplate(ctx, phoneID, promo("+525512345678"))
	if err != nil {
		t.Fatal(err)
	}
	utility, err := b.client.SendTemplate(ctx, phoneID, whatsapp.TemplateMessage{To: "+525512345678", Name: "recordatorio_cita", Language: "es_MX",
		Components: []whatsapp.Component{whatsapp.Header(whatsapp.Text("Clínica")), whatsapp.Body(whatsapp.Text("Ana"), whatsapp.Text("lunes"), whatsapp.Text("9:00"))}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.sim.SetUserPreference("", "5215512345678", "resume"); err != nil {
		t.Fatal(err)
	}
	resumed, _ := b.client.SendTemplate(ctx, phoneID, promo("+525512345678"))
	if err := b.sim.SetUserPreference("", "1", "maybe"); err == nil {
		t.Error("invalid value accepted")
	}
	b.waitIdle(t)
	first := b.hook.outcomes()
	eq(t, "marketing after stop", first[stopped.WAMID], "failed131050")
	eq(t, "utility after stop", first[utility.WAMID], "sent")
	eq(t, "marketing after resume", first[resumed.WAMID], "sent")
	// The simulator delivers webhooks concurrently, as Meta does, so they may
	// arrive in either order: one stop and one resume, each for the number.
	var values []string
	for _, c := range b.hook.changes(whatsapp.FieldUserPreferences) {
		for _, p := range c.UserPreferences.UserPreferences {
			values = append(values, string(p.WAID)+":"+p.Value)
		}
	}
	slices.Sort(values)
	eq(t, "user_preferences webhooks", strings.Join(values, ","), "5215512345678:resume,5215512345678:stop")
}

func TestPacingHoldsThenReleasesOrDrops(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *sim.Config) { c.Numbers = []sim.Number{{PhoneNumberID: phoneID, MPS: -1}} })
	ctx := context.Background()
	b.control(t, "POST", "/_sim/templates/pacing", map[string]any{"name": "promo_temporada", "language": "es_MX", "pacing": true})
	var released, dropped []string
	for i := range 3 {
		res, err := b.client.SendTemplate(ctx, phoneID, promo(fmt.Sprintf("+52155%08d", i)))
		if err != nil {
			t.Fatal(err)
		}
		eq(t, "held", res.MessageStatus, "held_for_quality_assessment")
		released = append(released, res.WAMID)
	}
	b.waitIdle(t)
	eq(t, "no webhooks while held", len(b.hook.statuses()), 0)
	out := b.control(t, "POST", "/_sim/templates/release", map[string]string{"name": "promo_temporada", "language": "es_MX"})
	eq(t, "released", out["released"].(float64), 3)
	for i := range 2 {
		res, err := b.client.SendTemplate(ctx, phoneID, promo(fmt.Sprintf("+52166%08d", i)))
		if err != nil {
			t.Fatal(err)
		}
		dropped = append(dropped, res.WAMID)
	}
	if err := b.sim.SetTemplateQuality("promo_temporada", "es_MX", "RED"); err != nil {
		t.Fatal(err)
	}
	b.waitIdle(t)
	first := b.hook.outcomes()
	for _, id := range released {
		eq(t, "released message", first[id], "sent")
	}
	for _, id := range dropped {
		eq(t, "dropped message", first[id], "failed132015")
	}
	eq(t, "accepted", b.sim.AcceptedTotal(), 5)
}

// TestGraphOnlyRefusesTheControlAPI: the handler for open mounts serves Graph paths and answers
// 404 to the control API, however its path is spelled.
func TestGraphOnlyRefusesTheControlAPI(t *testing.T) {
	s := sim.New(sim.Config{Seed: 1})
	srv := httptest.NewServer(http.StripPrefix("/sim", s.GraphOnly()))
	defer srv.Close()
	for _, p := range []string{"/sim/_sim/stats", "/sim/%5Fsim/stats", "/sim/%5fsim/stats", "/sim/v21.0/../_sim/stats", "/sim//_sim/stats", "/sim/_sim"} {
		res, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s through the open mount: %d, want 404", p, res.StatusCode)
		}
	}
	if got := s.AcceptedTotal(); got != 0 {
		t.Fatalf("accepted %d", got)
	}
	// Graph paths still work.
	client := whatsapp.New(whatsapp.Config{BaseURL: srv.URL + "/sim", Token: "sim-token"})
	if _, err := client.ListTemplates(context.Background(), sim.DefaultWABAID); err != nil {
		t.Fatalf("a Graph call through the open mount: %v", err)
	}
}

// TestControlAsksBeforeEveryCall: Control resolves what each call acts on — a number (the
// first when none is named), a WABA's templates, or the whole simulator — and a refused call
// answers 403 and changes and emits nothing.
func TestControlAsksBeforeEveryCall(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *sim.Config) {
		c.Numbers = []sim.Number{{PhoneNumberID: "mine", WABAID: "w-mine", DisplayPhoneNumber: "5215550000001"},
			{PhoneNumberID: "theirs", WABAID: "w-theirs", DisplayPhoneNumber: "5215550000002"}}
	})
	var asked []sim.ControlTarget
	ctl := httptest.NewServer(b.sim.Control(func(r *http.Request, tg sim.ControlTarget) error {
		asked = append(asked, tg)
		if tg.PhoneNumberID == "mine" || (tg.PhoneNumberID == "" && tg.WABAID == "w-mine") {
			return nil
		}
		return fmt.Errorf("%w: not yours", sim.ErrControlForbidden)
	}))
	t.Cleanup(ctl.Close)
	call := func(method, path string, body any) int {
		t.Helper()
		j, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, ctl.URL+path, bytes.NewReader(j))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	cases := []struct {
		method, path string
		body         any
		want         sim.ControlTarget
		status       int
	}{
		{"POST", "/_sim/inbound", map[string]string{"from": "5215512345678", "text": "STOP"}, sim.ControlTarget{PhoneNumberID: "mine", WABAID: "w-mine"}, 200},
		{"POST", "/_sim/inbound", map[string]string{"phone_number_id": "theirs", "from": "5215512345678", "text": "STOP"}, sim.ControlTarget{PhoneNumberID: "theirs", WABAID: "w-theirs"}, 403},
		{"POST", "/_sim/numbers/account", map[string]string{"phone_number_id": "theirs", "event": "PARTNER_REMOVED"}, sim.ControlTarget{PhoneNumberID: "theirs", WABAID: "w-theirs"}, 403},
		{"POST", "/_sim/echoes", map[string]string{"phone_number_id": "nobody", "to": "5215512345678", "text": "hola"}, sim.ControlTarget{PhoneNumberID: "nobody"}, 403},
		{"POST", "/_sim/templates/status", map[string]string{"waba_id": "w-theirs", "name": "promo_temporada", "language": "es_MX", "status": "PAUSED"}, sim.ControlTarget{WABAID: "w-theirs"}, 403},
		{"POST", "/_sim/templates/status", map[string]string{"waba_id": "w-mine", "name": "promo_temporada", "language": "es_MX", "status": "PAUSED"}, sim.ControlTarget{WABAID: "w-mine"}, 200},
		{"GET", "/_sim/templates?waba_id=w-mine", nil, sim.ControlTarget{WABAID: "w-mine"}, 200},
		{"GET", "/_sim/templates", nil, sim.ControlTarget{}, 403},
		{"GET", "/_sim/stats", nil, sim.ControlTarget{}, 403},
		{"POST", "/_sim/faults", map[string]any{"throughput_storm": true}, sim.ControlTarget{}, 403},
		{"POST", "/_sim/reset", nil, sim.ControlTarget{}, 403},
	}
	for _, c := range cases {
		asked = nil
		if got := call(c.method, c.path, c.body); got != c.status {
			t.Errorf("%s %s %v: %d, want %d", c.method, c.path, c.body, got, c.status)
		}
		if len(asked) != 1 || asked[0] != c.want {
			t.Errorf("%s %s %v asked for %+v, want [%+v]", c.method, c.path, c.body, asked, c.want)
		}
	}
	b.waitIdle(t)
	eq(t, "inbound messages simulated", b.sim.Stats().Inbound, 1)
	eq(t, "account updates emitted", len(b.hook.changes(whatsapp.FieldAccountUpdate)), 0)
	for _, tpl := range b.sim.Templates() {
		if tpl.Name == "promo_temporada" && tpl.Language == "es_MX" {
			eq(t, tpl.WABAID+"'s promo_temporada", tpl.Status, map[string]string{"w-mine": "PAUSED", "w-theirs": "APPROVED"}[tpl.WABAID])
		}
	}
	// Faults were refused: sends go through (the number's own template was paused above).
	if _, err := b.client.SendText(context.Background(), "mine", "+5215512345670", "hola", false); err != nil {
		t.Errorf("a send after the refused faults call: %v", err)
	}
}
