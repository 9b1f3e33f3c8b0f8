package sim_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pregon/pregon/whatsapp"
	"github.com/pregon/pregon/whatsapp/sim"
)

func TestSendAccepted(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := context.Background()
	res, err := b.client.SendTemplate(ctx, phoneID, promo("+525512345678"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.WAMID, "wamid.") || len(res.WAMID) < 20 {
		t.Errorf("wamid = %q", res.WAMID)
	}
	eq(t, "input", res.Input, "+525512345678")
	eq(t, "MX wa_id gains the 1", res.WAID, "5215512345678")
	eq(t, "status", res.MessageStatus, "accepted")
	res2, err := b.client.SendTemplate(ctx, phoneID, promo("+5215512345678"))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "MX wa_id with 1", res2.WAID, "5215512345678")
	if res2.WAMID == res.WAMID {
		t.Error("two sends share a wamid")
	}
	res3, _ := b.client.SendTemplate(ctx, phoneID, promo("+573001234567"))
	eq(t, "CO wa_id", res3.WAID, "573001234567")
	// Brazilian mobiles: some lose the ninth digit, always the same way for a number.
	forms := map[string]bool{}
	for _, to := range []string{"+5511987654321", "+5521998765432", "+5531991234567", "+5541992345678"} {
		r1, err1 := b.client.SendTemplate(ctx, phoneID, promo(to))
		r2, err2 := b.client.SendTemplate(ctx, phoneID, promo(to))
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		eq(t, "BR wa_id stable", r1.WAID, r2.WAID)
		d := to[1:]
		switch r1.WAID {
		case d:
			forms["kept"] = true
		case d[:4] + d[5:]:
			forms["dropped"] = true
		default:
			t.Errorf("BR wa_id %s for %s", r1.WAID, to)
		}
	}
	if !forms["kept"] || !forms["dropped"] {
		t.Errorf("BR wa_id forms = %v", forms)
	}
	eq(t, "accepted total", b.sim.AcceptedTotal(), 11)
	eq(t, "per recipient (+52)", b.sim.Accepted("+525512345678"), 1)
	eq(t, "per recipient (+521)", b.sim.Accepted("5215512345678"), 1)
	eq(t, "unknown recipient", b.sim.Accepted("+10000000000"), 0)
	eq(t, "max per second", b.sim.MaxPerSecond(), 11)
	// Named template and free-form text.
	_, err = b.client.SendTemplate(ctx, phoneID, whatsapp.TemplateMessage{To: "+573001234567", Name: "novedades_cliente", Language: "es",
		Components: []whatsapp.Component{whatsapp.Body(whatsapp.NamedText("tienda", "Centro"), whatsapp.NamedText("nombre", "Lucía"))}})
	if err != nil {
		t.Errorf("named send: %v", err)
	}
	_, err = b.client.SendTemplate(ctx, phoneID, whatsapp.TemplateMessage{To: "+5491122334455", Name: "cupon_bienvenida", Language: "es_AR",
		Components: []whatsapp.Component{whatsapp.Body(whatsapp.Text("Martín")), whatsapp.CopyCodeButton(0, "HOLA15")}})
	if err != nil {
		t.Errorf("copy code send: %v", err)
	}
	_, err = b.client.SendTemplate(ctx, phoneID, whatsapp.TemplateMessage{To: "+525512345678", Name: "recordatorio_cita", Language: "es-MX",
		Components: []whatsapp.Component{whatsapp.Header(whatsapp.Text("Clínica")), whatsapp.Body(whatsapp.Text("Pedro"), whatsapp.Text("viernes"), whatsapp.Text("10:30"))}})
	if err != nil {
		t.Errorf("text header send (es-MX): %v", err)
	}
	if _, err := b.client.SendText(ctx, phoneID, "+525512345678", "hola", false); err != nil {
		t.Errorf("text send: %v", err)
	}
}

func TestThroughputBucket(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *sim.Config) {
		c.Numbers = []sim.Number{
			{PhoneNumberID: "p80", WABAID: "w1", DisplayPhoneNumber: "5215550000001"},
			{PhoneNumberID: "p20", WABAID: "w1", DisplayPhoneNumber: "5215550000002", Coexistence: true},
			{PhoneNumberID: "p5", WABAID: "w1", DisplayPhoneNumber: "5215550000003", MPS: 5},
		}
	})
	ctx := context.Background()
	send := func(from string, n int) (ok, throttled int) {
		for i := range n {
			_, err := b.client.SendTemplate(ctx, from, promo(fmt.Sprintf("+52155%08d", i)))
			switch {
			case err == nil:
				ok++
			case whatsapp.Throttle(err):
				throttled++
				var e *whatsapp.Error
				asErr(err, &e)
				eq(t, "HTTP status of 130429", e.HTTPStatus, 400)
				eq(t, "class", whatsapp.Classify(err), whatsapp.ClassRetry)
			default:
				t.Fatalf("send %d from %s: %v", i, from, err)
			}
		}
		return ok, throttled
	}
	// The clock is frozen: the bucket holds exactly one second's worth.
	ok, thr := send("p80", 90)
	eq(t, "standard accepted", ok, 80)
	eq(t, "standard throttled", thr, 10)
	eq(t, "max per second", b.sim.MaxPerSecond(), 80)
	eq(t, "per-second histogram", b.sim.Stats().PerSecond[b.clock.Now().Unix()], 80)
	ok, thr = send("p20", 25)
	eq(t, "coexistence accepted", ok, 20)
	eq(t, "coexistence throttled", thr, 5)
	ok, _ = send("p5", 10)
	eq(t, "override accepted", ok, 5)
	b.clock.Advance(time.Second)
	ok, _ = send("p20", 25)
	eq(t, "coexistence after 1 s", ok, 20)
	eq(t, "rejected 130429", b.sim.Rejected(130429), 10+5+5+5)
	if err := b.sim.SetThroughput("p5", 0); err != nil {
		t.Fatal(err)
	}
	ok, _ = send("p5", 50)
	eq(t, "unlimited after SetThroughput(0)", ok, 50)
	b.sim.SetFaults(sim.Faults{ThroughputStorm: true})
	_, err := b.client.SendTemplate(ctx, "p5", promo("+5215599999999"))
	eq(t, "storm", code(err), 130429)
}

// Meta's throughput counts inbound and outbound together (WHATSAPP.md §2): inbound messages
// and phone-app echoes take the number's tokens, and are never refused for it.
func TestThroughputCountsInboundAndEchoes(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *sim.Config) {
		c.Numbers = []sim.Number{{PhoneNumberID: phoneID, Coexistence: true}} // 20 mps
	})
	ctx := context.Background()
	inbound := func(n int) {
		t.Helper()
		for i := range n {
			if _, err := b.sim.SendInbound(sim.Inbound{PhoneNumberID: phoneID, From: fmt.Sprintf("52155%08d", 90000000+i), Text: "hola"}); err != nil {
				t.Fatalf("inbound %d: %v", i, err)
			}
		}
	}
	sends := func(n int) (ok int) {
		t.Helper()
		for i := range n {
			_, err := b.client.SendTemplate(ctx, phoneID, promo(fmt.Sprintf("+52155%08d", i)))
			switch {
			case err == nil:
				ok++
			case code(err) != whatsapp.CodeThroughput:
				t.Fatalf("send %d: %v", i, err)
			}
		}
		return ok
	}
	// The clock is frozen: the bucket holds one second's worth, 20.
	inbound(10)
	for i := range 5 {
		if err := b.sim.EmitEcho(phoneID, fmt.Sprintf("52155%08d", 80000000+i), "Hola, ¿en qué te ayudo?"); err != nil {
			t.Fatal(err)
		}
	}
	eq(t, "sends accepted after 10 inbound and 5 echoes", sends(10), 5)
	// A burst of inbound beyond the bucket is received all the same, and the sends that follow
	// wait until the number is back under its throughput.
	b.clock.Advance(time.Second)
	inbound(30)
	eq(t, "sends accepted right after 30 inbound", sends(5), 0)
	b.clock.Advance(time.Second)
	eq(t, "sends accepted one second later", sends(20), 10)
}

func TestPairRateLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *sim.Config) { c.Numbers = []sim.Number{{PhoneNumberID: phoneID, MPS: -1}} })
	ctx := context.Background()
	ok := 0
	var last error
	for range 50 {
		_, err := b.client.SendTemplate(ctx, phoneID, promo("+5215512345678"))
		if err == nil {
			ok++
		} else {
			last = err
		}
	}
	eq(t, "burst", ok, 45)
	eq(t, "code", code(last), 131056)
	eq(t, "pair limited", whatsapp.PairRateLimited(last), true)
	eq(t, "not a number throttle", whatsapp.Throttle(last), false)
	// Other recipients are unaffected.
	if _, err := b.client.SendTemplate(ctx, phoneID, promo("+5215587654321")); err != nil {
		t.Errorf("other recipient: %v", err)
	}
	b.clock.Advance(6 * time.Second)
	if _, err := b.client.SendTemplate(ctx, phoneID, promo("+5215512345678")); err != nil {
		t.Errorf("after 6 s: %v", err)
	}
	_, err := b.client.SendTemplate(ctx, phoneID, promo("+5215512345678"))
	eq(t, "again too fast", code(err), 131056)
	eq(t, "per recipient", b.sim.Accepted("+5215512345678"), 46)
}

func TestTemplateErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *sim.Config) { c.Numbers = []sim.Number{{PhoneNumberID: phoneID, MPS: -1}} })
	ctx := context.Background()
	body := func(ps ...whatsapp.Parameter) []whatsapp.Component { return []whatsapp.Component{whatsapp.Body(ps...)} }
	withPromo := func(f func(*whatsapp.TemplateMessage)) whatsapp.TemplateMessage {
		m := promo("+5215512345678")
		f(&m)
		return m
	}
	long := strings.Repeat("x", 1100)
	cases := []struct {
		name string
		msg  whatsapp.TemplateMessage
		code int
	}{
		{"UnknownName", whatsapp.TemplateMessage{To: "+5215512345678", Name: "no_existe", Language: "es_MX"}, 132001},
		{"WrongLanguage", withPromo(func(m *whatsapp.TemplateMessage) { m.Language = "en_US" }), 132001},
		{"Rejected", whatsapp.TemplateMessage{To: "+5215512345678", Name: "aviso_envio", Language: "es_CO", Components: body(whatsapp.Text("A-1"))}, 132001},
		{"TooFewBodyParams", withPromo(func(m *whatsapp.TemplateMessage) { m.Components[1] = whatsapp.Body(whatsapp.Text("Ana")) }), 132000},
		{"TooManyBodyParams", withPromo(func(m *whatsapp.TemplateMessage) {
			m.Components[1] = whatsapp.Body(whatsapp.Text("a"), whatsapp.Text("b"), whatsapp.Text("c"))
		}), 132000},
		{"MissingHeaderMedia", withPromo(func(m *whatsapp.TemplateMessage) { m.Components = m.Components[1:] }), 132000},
		{"MissingURLButton", withPromo(func(m *whatsapp.TemplateMessage) { m.Components = m.Components[:2] }), 132000},
		{"HeaderWrongMediaType", withPromo(func(m *whatsapp.TemplateMessage) {
			m.Components[0] = whatsapp.Header(whatsapp.HeaderMedia("VIDEO", whatsapp.Media{ID: "1"}))
		}), 132012},
		{"NamedSentToPositional", withPromo(func(m *whatsapp.TemplateMessage) {
			m.Components[1] = whatsapp.Body(whatsapp.NamedText("a", "Ana"), whatsapp.NamedText("b", "20%"))
		}), 132012},
		{"PositionalSentToNamed", whatsapp.TemplateMessage{To: "+5215512345678", Name: "novedades_cliente", Language: "es", Components: body(whatsapp.Text("Lucía"), whatsapp.Text("Centro"))}, 132012},
		{"WrongNamedParam", whatsapp.TemplateMessage{To: "+5215512345678", Name: "novedades_cliente", Language: "es",
			Components: body(whatsapp.NamedText("nombre", "Lucía"), whatsapp.NamedText("sucursal", "Centro"))}, 132000},
		{"HydratedTooLong", withPromo(func(m *whatsapp.TemplateMessage) {
			m.Components[1] = whatsapp.Body(whatsapp.Text(long), whatsapp.Text("1"))
		}), 132005},
		{"ParamWithFiveSpaces", withPromo(func(m *whatsapp.TemplateMessage) {
			m.Components[1] = whatsapp.Body(whatsapp.Text("Calle 5     #12"), whatsapp.Text("1"))
		}), 100},
		{"ParamWithNewLine", withPromo(func(m *whatsapp.TemplateMessage) {
			m.Components[1] = whatsapp.Body(whatsapp.Text("Ana\nMaría"), whatsapp.Text("1"))
		}), 100},
		{"Paused", whatsapp.TemplateMessage{To: "+5215512345678", Name: "oferta_relampago", Language: "es_MX", Components: body(whatsapp.Text("Ana"), whatsapp.Text("zapatos"))}, 132015},
		{"Disabled", whatsapp.TemplateMessage{To: "+5215512345678", Name: "liquidacion_total", Language: "es_MX", Components: body(whatsapp.Text("Ana"))}, 132016},
		{"RecipientIsSender", withPromo(func(m *whatsapp.TemplateMessage) { m.To = "+" + sim.DefaultDisplayNumber }), 131021},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.client.SendTemplate(ctx, phoneID, tc.msg)
			if code(err) != tc.code {
				t.Fatalf("err = %v, want code %d", err, tc.code)
			}
			want := whatsapp.ClassOfCode(tc.code)
			eq(t, "class", whatsapp.Classify(err), want)
		})
	}
	eq(t, "nothing accepted", b.sim.AcceptedTotal(), 0)
	st := b.sim.Stats()
	eq(t, "rejected 132001", st.RejectedByCode[132001], 3)
	eq(t, "rejected 132000", st.RejectedByCode[132000], 5)
	eq(t, "rejected 132012", st.RejectedByCode[132012], 3)
}

func TestAuth(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := context.Background()
	for name, c := range map[string]*whatsapp.Client{
		"WrongToken": b.client.WithToken("nope"),
		"NoToken":    b.client.WithToken(""),
	} {
		_, err := c.SendTemplate(ctx, phoneID, promo("+5215512345678"))
		var e *whatsapp.Error
		if !asErr(err, &e) || e.HTTPStatus != 401 || e.Code != 190 {
			t.Errorf("%s: err = %v", name, err)
		}
		eq(t, name+" class", whatsapp.Classify(err), whatsapp.ClassNumber)
		if _, err := c.ListTemplates(ctx, wabaID); code(err) != 190 {
			t.Errorf("%s: templates err = %v", name, err)
		}
	}
	if _, err := b.client.SendTemplate(ctx, "999", promo("+5215512345678")); code(err) != 100 {
		t.Errorf("unknown number: %v", err)
	}
}

func TestFaultInjection(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *sim.Config) {
		c.Numbers = []sim.Number{{PhoneNumberID: phoneID, MPS: -1}}
		c.Faults = sim.Faults{ServerErrorRate: 1}
	})
	ctx := context.Background()
	bare, graph := 0, 0
	for i := range 20 {
		_, err := b.client.SendTemplate(ctx, phoneID, promo(fmt.Sprintf("+52155%08d", i)))
		if whatsapp.Classify(err) != whatsapp.ClassRetry {
			t.Fatalf("fault %d: %v (class %v)", i, err, whatsapp.Classify(err))
		}
		var e *whatsapp.Error
		asErr(err, &e)
		if e.Code == 0 {
			bare++
		} else {
			graph++
		}
	}
	if bare == 0 || graph == 0 {
		t.Errorf("want both bare and Graph 5xx, got %d and %d", bare, graph)
	}
	eq(t, "server errors", b.sim.Stats().ServerErrors, 20)
	b.sim.SetFaults(sim.Faults{SlowRate: 1, SlowDelay: 300 * time.Millisecond})
	slow := b.client.WithToken(token)
	ctxT, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err := slow.SendTemplate(ctxT, phoneID, promo("+5215500000001"))
	var e *whatsapp.Error
	if !asErr(err, &e) || !e.Timeout {
		t.Errorf("slow send: %v", err)
	}
	// A lost response: the send is accepted (counted) although the client times out.
	// The client gives up after 1 s, the simulator answers after 10 s: 1 s (not 50 ms) lets the
	// request reach the simulator on a loaded machine, and the accept may be counted just
	// after the client gave up.
	b.sim.SetFaults(sim.Faults{LostResponseRate: 1, SlowDelay: 10 * time.Second})
	ctxL, cancelL := context.WithTimeout(ctx, time.Second)
	defer cancelL()
	if _, err := slow.SendTemplate(ctxL, phoneID, promo("+5215500000003")); !asErr(err, &e) || !e.Timeout {
		t.Errorf("lost response: %v", err)
	}
	for deadline := time.Now().Add(10 * time.Second); b.sim.Accepted("+5215500000003") == 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	eq(t, "accepted despite the lost response", b.sim.Accepted("+5215500000003"), 1)
	b.sim.SetFaults(sim.Faults{ThroughputStorm: true})
	if _, err := b.client.SendTemplate(ctx, phoneID, promo("+5215500000004")); code(err) != whatsapp.CodeThroughput {
		t.Errorf("storm: %v", err)
	}
	b.sim.SetFaults(sim.Faults{})
	if _, err := b.client.SendTemplate(ctx, phoneID, promo("+5215500000002")); err != nil {
		t.Errorf("after clearing faults: %v", err)
	}
	f := b.sim.Stats().FaultsInjected
	for kind, n := range map[string]int{sim.FaultServerError: 20, sim.FaultSlow: 1, sim.FaultLostResponse: 1, sim.FaultThroughputStorm: 1} {
		eq(t, "faults injected: "+kind, f[kind], n)
	}
}

func TestMessagingLimitBudget(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *sim.Config) {
		c.Numbers = []sim.Number{
			{PhoneNumberID: "a", WABAID: "w", DisplayPhoneNumber: "5215550000001", MPS: -1, MessagingLimitTier: "TIER_250"},
			{PhoneNumberID: "b", WABAID: "w", DisplayPhoneNumber: "5215550000002", MPS: -1, MessagingLimitTier: "TIER_250"},
		}
		c.Statuses = sim.StatusConfig{DeliveredProb: 1, SentDelay: time.Millisecond}
	})
	ctx := context.Background()
	// 250 unique recipients split over both numbers of the portfolio, then one more.
	for i := range 250 {
		from := []string{"a", "b"}[i%2]
		if _, err := b.client.SendTemplate(ctx, from, promo(fmt.Sprintf("+52155%08d", i))); err != nil {
			t.Fatal(err)
		}
	}
	// A recipient already counted is free.
	if _, err := b.client.SendTemplate(ctx, "b", promo("+5215500000000")); err != nil {
		t.Fatal(err)
	}
	res, err := b.client.SendTemplate(ctx, "a", promo("+5215599999999"))
	if err != nil {
		t.Fatalf("over-budget send must be accepted, got %v", err)
	}
	st := b.sim.Stats()
	eq(t, "over budget", st.OverBudget, 1)
	eq(t, "budget used", st.BudgetUsed["w"], 250)
	b.waitIdle(t)
	var failed *whatsapp.Status
	for _, s := range b.hook.statuses() {
		if s.ID == res.WAMID {
			s := s
			failed = &s
		}
	}
	if failed == nil || failed.Status != "failed" || failed.Errors[0].Code != 131049 {
		t.Fatalf("over-budget message status = %+v", failed)
	}
	// The window rolls: 24 h later the budget is free again.
	b.clock.Advance(24*time.Hour + time.Second)
	if _, err := b.client.SendTemplate(ctx, "a", promo("+5215588888888")); err != nil {
		t.Fatal(err)
	}
	eq(t, "still 1 over budget", b.sim.Stats().OverBudget, 1)
	eq(t, "window rolled", b.sim.Stats().BudgetUsed["w"], 1)
}
