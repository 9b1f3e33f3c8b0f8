package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"
	"github.com/riverqueue/river"

	"github.com/pregon/pregon/campaigns"
	"github.com/pregon/pregon/jobs"
	"github.com/pregon/pregon/phone"
	"github.com/pregon/pregon/segments"
	"github.com/pregon/pregon/store"
	"github.com/pregon/pregon/whatsapp"
)

// campaignResponse is a campaign with its schedule shown in the workspace's time zone.
type campaignResponse struct {
	store.Campaign
	TimeZone         string `json:"time_zone"`
	ScheduledAtLocal string `json:"scheduled_at_local,omitempty"` // "2026-11-30 08:00 (America/Bogota)"
}

func (s *Server) campaignOut(ctx context.Context, c store.Campaign) (campaignResponse, error) {
	ws, err := store.WorkspaceGetByID(ctx, s.db, c.WorkspaceID)
	if err != nil {
		return campaignResponse{}, err
	}
	return campaignOutIn(c, ws), nil
}

func campaignOutIn(c store.Campaign, ws store.Workspace) campaignResponse {
	out := campaignResponse{Campaign: c, TimeZone: ws.TimeZone}
	if len(out.VariableMapping) == 0 {
		out.VariableMapping = json.RawMessage(`{}`)
	}
	if c.ScheduledAt != nil {
		out.ScheduledAtLocal = c.ScheduledAt.In(ws.Location()).Format("2006-01-02 15:04") + " (" + ws.TimeZone + ")"
	}
	return out
}

func (s *Server) listCampaigns(c echo.Context) error {
	limit, cursor, err := pageParams(c)
	if err != nil {
		return err
	}
	f := store.CampaignFilter{Limit: limit, Cursor: cursor}
	if v := c.QueryParam("state"); v != "" {
		st := store.CampaignState(v)
		if !st.Valid() {
			return store.Invalid("state", "estado desconocido: draft, scheduled, running, paused, completed o cancelled")
		}
		f.State = &st
	}
	ctx := c.Request().Context()
	ws, err := store.WorkspaceGetByID(ctx, s.db, principal(c).WorkspaceID)
	if err != nil {
		return err
	}
	cs, err := store.CampaignList(ctx, s.db, ws.ID, f)
	if err != nil {
		return err
	}
	out := listOf[campaignResponse]{Data: []campaignResponse{}}
	for _, x := range cs {
		out.Data = append(out.Data, campaignOutIn(x, ws))
	}
	if len(cs) == limit {
		last := cs[len(cs)-1].ID
		out.NextCursor = &last
	}
	return c.JSON(http.StatusOK, out)
}

// campaignFor reads a campaign of the caller's workspace from the :id path parameter.
func (s *Server) campaignFor(c echo.Context) (store.Campaign, error) {
	id, err := pathID(c)
	if err != nil {
		return store.Campaign{}, err
	}
	return store.CampaignGetByID(c.Request().Context(), s.db, principal(c).WorkspaceID, id)
}

func (s *Server) getCampaign(c echo.Context) error {
	cp, err := s.campaignFor(c)
	if err != nil {
		return err
	}
	out, err := s.campaignOut(c.Request().Context(), cp)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// checkDraft validates a draft's references and fields and normalises its mapping against the
// template. Incomplete drafts are fine; what is set must be right.
func (s *Server) checkDraft(ctx context.Context, db store.DBTX, cp *store.Campaign) error {
	var v store.ValidationError
	add := func(path, msg string) { v.Problems = append(v.Problems, store.Problem{Path: path, Message: msg}) }
	if cp.SenderNumberID != nil {
		if _, err := store.SenderNumberGetByID(ctx, db, cp.WorkspaceID, *cp.SenderNumberID); errors.Is(err, store.ErrNotFound) {
			add("sender_number_id", "número de envío no encontrado")
		} else if err != nil {
			return err
		}
	}
	if cp.SegmentID != nil {
		var ok bool
		if err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM segments WHERE workspace_id = $1 AND id = $2)`, cp.WorkspaceID, *cp.SegmentID).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			add("segment_id", "segmento no encontrado")
		}
	}
	v.Problems = append(v.Problems, cp.SendWindow.Validate()...)
	if cp.ScheduledAt != nil && cp.ScheduledAt.After(s.now().AddDate(1, 0, 0)) {
		add("scheduled_at", "programe la campaña para dentro de un año como máximo")
	}
	if cp.FrequencyCap != nil && (*cp.FrequencyCap < 0 || *cp.FrequencyCap > 100) {
		add("frequency_cap", "tope de frecuencia entre 0 (sin tope) y 100 mensajes")
	}
	if cp.FrequencyCapDays != nil && (*cp.FrequencyCapDays < 1 || *cp.FrequencyCapDays > 90) {
		add("frequency_cap_days", "período del tope entre 1 y 90 días")
	}
	m, err := campaigns.ParseMapping(cp.VariableMapping)
	if err != nil {
		return err
	}
	if cp.TemplateID != nil {
		t, err := store.TemplateGetByID(ctx, db, cp.WorkspaceID, *cp.TemplateID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			add("template_id", "plantilla no encontrada")
		case err != nil:
			return err
		case len(m.Variables) > 0:
			bound, err := bindMapping(t, m)
			if err != nil {
				var ve *store.ValidationError
				if errors.As(err, &ve) {
					v.Problems = append(v.Problems, ve.Problems...)
				} else {
					return err
				}
			} else {
				cp.VariableMapping, _ = json.Marshal(bound)
			}
		}
	} else if len(m.Variables) > 0 {
		add("variable_mapping", "elija la plantilla antes de mapear sus variables")
	}
	if len(v.Problems) > 0 {
		return &v
	}
	return nil
}

func bindMapping(t store.Template, m campaigns.Mapping) (campaigns.Mapping, error) {
	params, err := campaigns.TemplateParams(t.ParameterFormat, t.Components)
	if err != nil {
		return m, store.Invalid("template_id", "no se pudieron leer los parámetros de la plantilla: "+err.Error())
	}
	return campaigns.Bind(params, t.ParameterFormat, m)
}

// scheduleSkew is how far in the past a schedule may be and still mean "now" (a client's
// clock a little behind the server's); more is a typo (1900, last year) and is refused.
const scheduleSkew = 5 * time.Minute

// checkScheduledAt refuses a requested schedule (nil: not given; zero: none) already past.
func (s *Server) checkScheduledAt(at *time.Time) error {
	if at != nil && !at.IsZero() && at.Before(s.now().Add(-scheduleSkew)) {
		return store.Invalid("scheduled_at", "esa fecha y hora ya pasaron: elija una futura (o deje la fecha vacía para enviar en cuanto se programe)")
	}
	return nil
}

func (s *Server) createCampaign(c echo.Context) error {
	var req store.CampaignEdit
	if err := bind(c, &req); err != nil {
		return err
	}
	ctx := c.Request().Context()
	p := principal(c)
	cp := store.Campaign{WorkspaceID: p.WorkspaceID}
	if p.UserID != 0 {
		cp.CreatedBy = &p.UserID
	}
	if err := s.checkScheduledAt(req.ScheduledAt); err != nil {
		return err
	}
	req.Apply(&cp)
	if err := s.checkDraft(ctx, s.db, &cp); err != nil {
		return err
	}
	out, err := store.CampaignCreate(ctx, s.db, cp)
	if err != nil {
		return err
	}
	res, err := s.campaignOut(ctx, out)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, res)
}

func (s *Server) patchCampaign(c echo.Context) error {
	var req store.CampaignEdit
	if err := bind(c, &req); err != nil {
		return err
	}
	ctx := c.Request().Context()
	cp, err := s.campaignFor(c)
	if err != nil {
		return err
	}
	if cp.State != store.CampaignDraft {
		return fmt.Errorf("%w: solo se puede editar una campaña en borrador (desprograme primero)", store.ErrConflict)
	}
	if err := s.checkScheduledAt(req.ScheduledAt); err != nil {
		return err
	}
	req.Apply(&cp)
	if err := s.checkDraft(ctx, s.db, &cp); err != nil {
		return err
	}
	out, err := store.CampaignUpdateDraft(ctx, s.db, cp)
	if err != nil {
		return err
	}
	res, err := s.campaignOut(ctx, out)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}

func (s *Server) deleteCampaign(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	// A draft is the marketer's work; clearing away a cancelled campaign is the owner's, as
	// cancelling is (the web's campaign page follows the same rule).
	p := principal(c)
	cp, err := store.CampaignGetByID(c.Request().Context(), s.db, p.WorkspaceID, id)
	if err != nil {
		return err
	}
	if cp.State != store.CampaignDraft && !p.Role.AtLeast(store.RoleOwner) {
		return errForbidden
	}
	if err := store.CampaignDelete(c.Request().Context(), s.db, p.WorkspaceID, id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// launchPlan is what a launch would do, computed before scheduling.
type launchPlan struct {
	Ready      bool             `json:"ready"`              // everything needed to schedule is there
	Problems   []store.Problem  `json:"problems,omitempty"` // what is missing or wrong
	Audience   planAudience     `json:"audience"`
	Budget     planBudget       `json:"budget"`
	Throughput planThroughput   `json:"throughput"`
	Window     planWindow       `json:"window"`
	StartsAt   time.Time        `json:"starts_at"`
	ETA        campaigns.ETA    `json:"eta"`
	Warnings   []planWarning    `json:"warnings"`
	Template   *templateSummary `json:"template,omitempty"`
}

type planAudience struct {
	Matched     int64            `json:"matched"`      // contacts matching the segment's conditions
	NotEligible map[string]int64 `json:"not_eligible"` // matched but not marketable, by reason (no_consent, opted_out…)
	Segment     int64            `json:"segment"`      // marketable contacts the segment selects
	Broadcast   bool             `json:"broadcast"`    // the segment has no conditions
	Excluded    []planExclusion  `json:"excluded"`     // in the segment but skipped at launch, by reason
	WillSend    int64            `json:"will_send"`
}

type planExclusion struct {
	Reason string `json:"reason"` // frequency_cap | cooling_down | missing_variable:<key>
	Text   string `json:"text"`
	Count  int64  `json:"count"`
}

type planBudget struct {
	Limit     int `json:"limit"`     // unique recipients per rolling 24 h; -1 unlimited
	Remaining int `json:"remaining"` // left now; -1 unlimited
	// RemainingAtStart is what will be left at starts_at, as the entries counted before free up
	// 24 h after they were counted (the campaign's first send takes at most this many new
	// people before waiting); -1 unlimited.
	RemainingAtStart int        `json:"remaining_at_start"`
	ResetsAt         *time.Time `json:"resets_at,omitempty"`
}

type planThroughput struct {
	MPS         int  `json:"mps"`
	Coexistence bool `json:"coexistence"`
}

type planWindow struct {
	store.SendWindow
	TimeZone string    `json:"time_zone"`
	OpenNow  bool      `json:"open_at_start"`
	NextOpen time.Time `json:"next_open"`
}

type planWarning struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type templateSummary struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Language string `json:"language"`
	Category string `json:"category"`
	Status   string `json:"status"`
	Quality  string `json:"quality"`
}

// planFor computes the launch plan of a campaign at start (its schedule, or now).
func (s *Server) planFor(ctx context.Context, cp store.Campaign) (launchPlan, error) {
	now := s.now()
	plan := launchPlan{Warnings: []planWarning{}, Audience: planAudience{Excluded: []planExclusion{}}}
	warn := func(code, msg string) { plan.Warnings = append(plan.Warnings, planWarning{code, msg}) }
	problem := func(path, msg string) { plan.Problems = append(plan.Problems, store.Problem{Path: path, Message: msg}) }
	ws, err := store.WorkspaceGetByID(ctx, s.db, cp.WorkspaceID)
	if err != nil {
		return plan, err
	}
	loc := ws.Location()
	plan.StartsAt = now
	if cp.ScheduledAt != nil && cp.ScheduledAt.After(now) {
		plan.StartsAt = *cp.ScheduledAt
	}
	if cp.State == store.CampaignDraft && cp.ScheduledAt != nil && cp.ScheduledAt.Before(now.Add(-scheduleSkew)) {
		problem("scheduled_at", "la fecha programada ya pasó: elija otra o bórrela para enviar en cuanto se programe")
	}
	var number store.SenderNumber
	if cp.SenderNumberID == nil {
		problem("sender_number_id", "elija el número de envío")
	} else if number, err = store.SenderNumberGetByID(ctx, s.db, cp.WorkspaceID, *cp.SenderNumberID); err != nil {
		return plan, err
	} else if number.Status != store.NumberActive {
		problem("sender_number_id", "el número está detenido ("+number.Status+"): "+number.StatusReason)
	}
	plan.Throughput = planThroughput{MPS: number.EffectiveMPS(), Coexistence: number.Coexistence}
	if number.Coexistence {
		warn("coexistence", "número en coexistencia con la app WhatsApp Business: máximo 20 mensajes por segundo")
	}
	var tmpl store.Template
	mapping, err := campaigns.ParseMapping(cp.VariableMapping)
	if err != nil {
		return plan, err
	}
	if cp.TemplateID == nil {
		problem("template_id", "elija la plantilla")
	} else if tmpl, err = store.TemplateGetByID(ctx, s.db, cp.WorkspaceID, *cp.TemplateID); err != nil {
		return plan, err
	} else {
		plan.Template = &templateSummary{tmpl.ID, tmpl.Name, tmpl.Language, tmpl.Category, tmpl.Status, tmpl.Quality}
		if !tmpl.Sendable() {
			problem("template_id", "la plantilla no está aprobada ("+tmpl.Status+")")
		}
		switch tmpl.Quality {
		case "RED":
			warn("template_quality_red", "calidad de la plantilla BAJA (RED): Meta puede pausarla; la campaña se pausará sola")
		case "YELLOW":
			warn("template_quality_yellow", "calidad de la plantilla MEDIA (YELLOW): vigile los bloqueos y reportes")
		}
		if bound, err := bindMapping(tmpl, mapping); err != nil {
			var ve *store.ValidationError
			if !errors.As(err, &ve) {
				return plan, err
			}
			plan.Problems = append(plan.Problems, ve.Problems...)
		} else {
			mapping = bound
		}
	}
	// Audience: counts by skip reason with the launch's own SQL.
	aud, err := campaigns.AudienceFor(ctx, s.db, cp, jobs.CompileSegment, plan.StartsAt, loc)
	if err != nil {
		return plan, err
	}
	plan.Audience.Broadcast = aud.Broadcast
	if aud.Broadcast && !cp.ConfirmBroadcast {
		warn("confirm_broadcast", "el segmento no tiene condiciones: se enviará a todos los contactos con consentimiento; confirme con confirm_broadcast")
		problem("confirm_broadcast", "confirme el envío a todos los contactos (confirm_broadcast: true)")
	}
	def, err := segments.Parse(aud.Definition)
	if err != nil {
		return plan, err
	}
	pv, err := segments.Preview(ctx, s.db, cp.WorkspaceID, def, plan.StartsAt)
	if err != nil {
		return plan, err
	}
	plan.Audience.Matched, plan.Audience.NotEligible = pv.Matched, pv.Excluded
	snap := jobs.SnapshotFor(cp, ws, tmpl, mapping, aud, plan.StartsAt)
	q, args, err := snap.CountSQL()
	if err != nil {
		return plan, err
	}
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return plan, fmt.Errorf("counting the audience: %w", err)
	}
	for rows.Next() {
		var reason string
		var n int64
		if err := rows.Scan(&reason, &n); err != nil {
			rows.Close()
			return plan, err
		}
		plan.Audience.Segment += n
		if reason == "" {
			plan.Audience.WillSend = n
		} else {
			plan.Audience.Excluded = append(plan.Audience.Excluded, planExclusion{reason, campaigns.SkipReasonText(reason), n})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return plan, err
	}
	sort.Slice(plan.Audience.Excluded, func(i, j int) bool { return plan.Audience.Excluded[i].Count > plan.Audience.Excluded[j].Count })
	if plan.Audience.WillSend == 0 {
		warn("empty_audience", "nadie recibiría esta campaña")
	}
	if ws.Settings.HoldActiveChats && plan.StartsAt.Before(now.Add(store.ActiveChatHold)) {
		chatting, err := store.ContactsChattingNow(ctx, s.db, cp.WorkspaceID, now)
		if err != nil {
			return plan, err
		}
		if chatting > 0 {
			warn("active_chats", fmt.Sprintf("%d contactos conversan con usted ahora: los que estén en la audiencia recibirán la campaña cuando la conversación lleve %d minutos sin mensajes",
				chatting, int(store.ActiveChatHold.Minutes())))
		}
	}
	// Budget: what is left now, for the record, and what will be left at the start, from the
	// ledger's entries freeing up one by one 24 h after they were counted.
	remaining, resetsAt, err := store.MessagingBudgetRemaining(ctx, s.db, cp.WorkspaceID, now)
	if err != nil {
		return plan, err
	}
	counted, err := store.MessagingLedgerCountedTimes(ctx, s.db, cp.WorkspaceID, plan.StartsAt, ws.MessagingLimit)
	if err != nil {
		return plan, err
	}
	plan.Budget = planBudget{Limit: ws.MessagingLimit, Remaining: remaining, RemainingAtStart: remaining}
	if !resetsAt.IsZero() {
		plan.Budget.ResetsAt = &resetsAt
	}
	if ws.MessagingLimit >= 0 {
		plan.Budget.RemainingAtStart = ws.MessagingLimit
		for _, c := range counted {
			plan.Budget.RemainingAtStart -= c.People
		}
		plan.Budget.RemainingAtStart = max(0, plan.Budget.RemainingAtStart)
	}
	// Window and ETA.
	window := ws.Settings.Window(cp.SendWindow) // the quiet hours when the campaign has no window
	plan.Window = planWindow{SendWindow: window, TimeZone: ws.TimeZone,
		OpenNow: window.Contains(plan.StartsAt, loc), NextOpen: window.NextOpen(plan.StartsAt, loc)}
	if ws.Settings.InQuietHours(cp.SendWindow) {
		e := ws.Settings.Effective()
		warn("quiet_hours", fmt.Sprintf("la ventana de envío de la campaña incluye horas de silencio del espacio de trabajo (%s–%s): se enviarán mensajes a esas horas",
			e.QuietHoursStart, e.QuietHoursEnd))
	}
	if !plan.Window.OpenNow {
		warn("outside_window", "la hora de inicio está fuera de la ventana de envío: empezará "+plan.Window.NextOpen.In(loc).Format("02/01/2006 15:04"))
	}
	plan.ETA = campaigns.EstimateETA(campaigns.ETAInput{
		Start: plan.StartsAt, Recipients: plan.Audience.WillSend, MPS: plan.Throughput.MPS, Limit: ws.MessagingLimit,
		Counted: counted, Window: window, Location: loc,
	})
	if ws.MessagingLimit >= 0 && plan.ETA.BudgetBound {
		warn("budget", fmt.Sprintf("el límite de mensajería permite %d destinatarios únicos por 24 h (al inicio quedarán %d): la campaña esperará a que se libere cupo y tardará %s",
			ws.MessagingLimit, plan.Budget.RemainingAtStart, plan.ETA.When))
	}
	plan.Ready = len(plan.Problems) == 0
	return plan, nil
}

func (s *Server) getCampaignPlan(c echo.Context) error {
	cp, err := s.campaignFor(c)
	if err != nil {
		return err
	}
	plan, err := s.planFor(c.Request().Context(), cp)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, plan)
}

type testSendRequest struct {
	Phone     string `json:"phone"`                // E.164, or local digits in the workspace's country
	ContactID int64  `json:"contact_id,omitempty"` // render with this contact's data (default: the contact with that phone, if any)
}

type testSendResponse struct {
	WAMID         string               `json:"wamid"`
	WAID          string               `json:"wa_id"`
	MessageStatus string               `json:"message_status,omitempty"`
	To            string               `json:"to"`
	Rendered      campaigns.Rendered   `json:"rendered"`
	Components    []whatsapp.Component `json:"components"`
}

// postCampaignTest sends the campaign's template to one phone through the same rendering.
func (s *Server) postCampaignTest(c echo.Context) error {
	var req testSendRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	ctx := c.Request().Context()
	cp, err := s.campaignFor(c)
	if err != nil {
		return err
	}
	ws, err := store.WorkspaceGetByID(ctx, s.db, cp.WorkspaceID)
	if err != nil {
		return err
	}
	num, err := phone.Normalize(req.Phone, ws.DefaultCountry)
	if err != nil {
		msg := err.Error()
		if pe, ok := phone.IsError(err); ok {
			msg = pe.Reason
		}
		return store.Invalid("phone", "teléfono inválido: "+msg)
	}
	if cp.SenderNumberID == nil || cp.TemplateID == nil {
		return store.Invalid("template_id", "elija número de envío y plantilla antes de la prueba")
	}
	// A test send is still a marketing message to whoever has that number: not to a contact
	// who asked not to get them. (A number that is no contact, the team's own, is fine.)
	var destID *int64 // the contact who has that number, if any
	switch dest, err := store.ContactGetByPhone(ctx, s.db, cp.WorkspaceID, num.E164); {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return err
	default:
		destID = &dest.ID
		if len(dest.NotMarketable) > 0 { // opted out, stopped, no documented consent…
			return store.Invalid("phone", "no se envían pruebas a este contacto: "+dest.NotMarketable[0].Message)
		}
	}
	number, err := store.SenderNumberGetByID(ctx, s.db, cp.WorkspaceID, *cp.SenderNumberID)
	if err != nil {
		return err
	}
	if number.Status != store.NumberActive {
		return Errorf(http.StatusConflict, "number_not_active",
			"el número de envío no está activo (%s): reactívelo en Números antes de enviar pruebas", strings.TrimSuffix(number.Status+": "+number.StatusReason, ": "))
	}
	tmpl, err := store.TemplateGetByID(ctx, s.db, cp.WorkspaceID, *cp.TemplateID)
	if err != nil {
		return err
	}
	m, err := campaigns.ParseMapping(cp.VariableMapping)
	if err != nil {
		return err
	}
	if m, err = bindMapping(tmpl, m); err != nil {
		return err
	}
	contact := campaigns.Contact{Phone: num.E164}
	var attrs []byte
	q := `SELECT name, phone_e164, email, country, language, attributes FROM contacts WHERE workspace_id = $1 AND phone_e164 = $2`
	arg := any(num.E164)
	if req.ContactID != 0 {
		q, arg = `SELECT name, phone_e164, email, country, language, attributes FROM contacts WHERE workspace_id = $1 AND id = $2`, req.ContactID
	}
	err = s.db.QueryRow(ctx, q, cp.WorkspaceID, arg).Scan(&contact.Name, &contact.Phone, &contact.Email, &contact.Country, &contact.Language, &attrs)
	switch {
	case errors.Is(err, pgx.ErrNoRows) && req.ContactID != 0:
		return store.Invalid("contact_id", "contacto no encontrado")
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return err
	default:
		_ = json.Unmarshal(attrs, &contact.Attributes)
		contact.Phone = num.E164
	}
	r, skip := campaigns.Render(m, contact)
	if skip != "" {
		return store.Invalid("variable_mapping", "este contacto sería omitido: "+campaigns.SkipReasonText(skip))
	}
	if s.wa == nil {
		return Errorf(http.StatusServiceUnavailable, "whatsapp_unavailable", "cliente de WhatsApp no configurado en este servidor")
	}
	client, err := s.wa(number)
	if err != nil {
		return Errorf(http.StatusServiceUnavailable, "whatsapp_unavailable", "no hay cliente de WhatsApp para este número: %v", err)
	}
	// Meta counts the test against the messaging limit like any new person reached: it is
	// recorded before the send (the pacers see it at once) and forgotten if Meta refuses it.
	var ledgerID int64
	var resetsAt time.Time
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		ledgerID, resetsAt, err = store.MessagingLedgerRecordTest(ctx, tx, cp.WorkspaceID, cp.ID, destID, num.E164, s.now())
		return err
	})
	if errors.Is(err, store.ErrBudgetExhausted) {
		return Errorf(http.StatusConflict, "messaging_limit_reached",
			"se alcanzó el límite de mensajería de %d personas en 24 h: la prueba a un número nuevo lo superaría. Se libera cupo %s",
			ws.MessagingLimit, resetsAt.In(ws.Location()).Format("02/01/2006 15:04"))
	}
	if err != nil {
		return err
	}
	sendCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := client.SendTemplate(sendCtx, number.PhoneNumberID, whatsapp.TemplateMessage{
		To: num.E164, Name: tmpl.Name, Language: tmpl.Language, Components: r.Components(),
		BizOpaqueCallbackData: fmt.Sprintf("pregon:c=%d;test=1", cp.ID),
	})
	if err != nil {
		var we *whatsapp.Error
		if errors.As(err, &we) {
			if ledgerID != 0 && !we.Network && !we.Timeout {
				// Meta answered with an error: nobody was reached. (No answer stays counted.)
				if ferr := store.MessagingLedgerForget(context.WithoutCancel(ctx), s.db, cp.WorkspaceID, ledgerID); ferr != nil {
					s.log.WarnContext(ctx, "test send refused by Meta but still counted in the messaging limit", "err", ferr)
				}
			}
			class := whatsapp.Classify(err)
			if class == whatsapp.ClassNumber {
				// The number is in trouble (blocked, restricted, token revoked…): as for a campaign's
				// send, it is halted and its running campaigns paused until an owner re-activates it.
				_, herr := store.CampaignsHaltForNumber(context.WithoutCancel(ctx), s.db, number.ID, store.TransitionParams{
					Actor: store.ActorRule, Reason: fmt.Sprintf("Meta rechazó una prueba: %d %s", we.Code, we.Title),
					Signal: store.SignalErrorCode, Value: strconv.Itoa(we.Code)})
				if herr != nil {
					s.log.ErrorContext(ctx, "halting a number after a test send error", "sender_number_id", number.ID, "err", herr)
				}
			}
			return &Error{Status: http.StatusBadGateway, Code: "meta_error", Message: "Meta rechazó el envío: " + we.Error(),
				Details: map[string]any{"meta_code": we.Code, "class": class.String()}}
		}
		return Errorf(http.StatusBadGateway, "meta_error", "no se pudo enviar la prueba: %v", err)
	}
	return c.JSON(http.StatusOK, testSendResponse{WAMID: res.WAMID, WAID: res.WAID, MessageStatus: res.MessageStatus,
		To: num.E164, Rendered: r, Components: r.Components()})
}

type scheduleRequest struct {
	ScheduledAt      *time.Time `json:"scheduled_at,omitempty"` // default: now
	ConfirmBroadcast *bool      `json:"confirm_broadcast,omitempty"`
}

type transitionRequest struct {
	Reason string `json:"reason,omitempty"`
}

func userParams(c echo.Context, reason, fallback string) store.TransitionParams {
	p := principal(c)
	tp := store.TransitionParams{Actor: store.ActorUser, Reason: strings.TrimSpace(reason)}
	if p.UserID != 0 {
		tp.ActorUserID = &p.UserID
	} else {
		tp.Signal, tp.Value = "api_token", fmt.Sprint(p.TokenID)
	}
	if tp.Reason == "" {
		tp.Reason = fallback
	}
	return tp
}

// postCampaignSchedule checks the launch plan and schedules the launch job in the same
// transaction as the draft → scheduled transition.
func (s *Server) postCampaignSchedule(c echo.Context) error {
	var req scheduleRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	ctx := c.Request().Context()
	cp, err := s.campaignFor(c)
	if err != nil {
		return err
	}
	if cp.State != store.CampaignDraft {
		return &store.TransitionError{From: cp.State, To: store.CampaignScheduled}
	}
	// No date (or a zero one) is now; a date a few minutes past is now too (clock skew); one
	// further in the past, given or saved with the draft, is refused rather than sent at once.
	if err := s.checkScheduledAt(req.ScheduledAt); err != nil {
		return err
	}
	now := s.now()
	at := now
	if req.ScheduledAt != nil && req.ScheduledAt.After(now) {
		at = *req.ScheduledAt
	} else if req.ScheduledAt == nil && cp.ScheduledAt != nil {
		if cp.ScheduledAt.Before(now.Add(-scheduleSkew)) {
			return store.Invalid("scheduled_at", "la fecha programada de la campaña ya pasó: elija otra o bórrela para enviar en cuanto se programe")
		}
		if cp.ScheduledAt.After(now) {
			at = *cp.ScheduledAt
		}
	}
	cp.ScheduledAt = &at
	if req.ConfirmBroadcast != nil {
		cp.ConfirmBroadcast = *req.ConfirmBroadcast
	}
	if err := s.checkDraft(ctx, s.db, &cp); err != nil {
		return err
	}
	plan, err := s.planFor(ctx, cp)
	if err != nil {
		return err
	}
	if !plan.Ready {
		return &Error{Status: http.StatusUnprocessableEntity, Code: "not_ready", Message: "la campaña no está lista para programarse", Details: plan.Problems}
	}
	ws, err := store.WorkspaceGetByID(ctx, s.db, cp.WorkspaceID)
	if err != nil {
		return err
	}
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := store.CampaignUpdateDraft(ctx, tx, cp); err != nil {
		return err
	}
	// The log reads in the workspace's time, as every date the owner sees.
	out, err := store.CampaignTransition(ctx, tx, cp.WorkspaceID, cp.ID, store.CampaignScheduled,
		userParams(c, "", "programada para el "+at.In(ws.Location()).Format("02/01/2006 a las 15:04")+" ("+ws.TimeZone+")"))
	if err != nil {
		return err
	}
	if _, err := s.river.InsertTx(ctx, tx, jobs.LaunchCampaignArgs{WorkspaceID: cp.WorkspaceID, CampaignID: cp.ID, ScheduledAt: at},
		&river.InsertOpts{ScheduledAt: at}); err != nil {
		return fmt.Errorf("scheduling the launch of campaign %d: %w", cp.ID, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	res, err := s.campaignOut(ctx, out)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}

// transitionHandler moves the campaign to a state on the user's request.
func (s *Server) transitionHandler(to store.CampaignState, fallback string) echo.HandlerFunc {
	return func(c echo.Context) error {
		var req transitionRequest
		if c.Request().ContentLength > 0 {
			if err := bind(c, &req); err != nil {
				return err
			}
		}
		ctx := c.Request().Context()
		cp, err := s.campaignFor(c)
		if err != nil {
			return err
		}
		tx, err := s.db.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		if to == store.CampaignRunning && cp.State == store.CampaignPaused {
			if err := s.checkResumable(ctx, tx, cp); err != nil {
				return err
			}
		}
		if to == store.CampaignDraft && cp.State != store.CampaignScheduled && cp.State != store.CampaignDraft {
			return &store.TransitionError{From: cp.State, To: to}
		}
		if to == store.CampaignRunning && cp.State != store.CampaignPaused && cp.State != store.CampaignRunning {
			return &store.TransitionError{From: cp.State, To: to} // launching is the scheduler's job
		}
		out, err := store.CampaignTransition(ctx, tx, cp.WorkspaceID, cp.ID, to, userParams(c, req.Reason, fallback))
		if err != nil {
			return err
		}
		if to == store.CampaignRunning && cp.State == store.CampaignPaused {
			if err := jobs.InsertPaceFor(ctx, s.river, tx, []store.Campaign{out}); err != nil {
				return err
			}
		}
		if err := tx.Commit(ctx); err != nil {
			return err
		}
		res, err := s.campaignOut(ctx, out)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, res)
	}
}

// checkResumable refuses to resume onto a halted number or a template Meta won't send.
func (s *Server) checkResumable(ctx context.Context, db store.DBTX, cp store.Campaign) error {
	if cp.SenderNumberID != nil {
		n, err := store.SenderNumberGetByID(ctx, db, cp.WorkspaceID, *cp.SenderNumberID)
		if err != nil {
			return err
		}
		if n.Status != store.NumberActive {
			return fmt.Errorf("%w: el número de envío está detenido (%s); reactívelo antes de reanudar", store.ErrConflict, n.StatusReason)
		}
	}
	if cp.TemplateID != nil {
		t, err := store.TemplateGetByID(ctx, db, cp.WorkspaceID, *cp.TemplateID)
		if err != nil {
			return err
		}
		if !t.Sendable() {
			return fmt.Errorf("%w: la plantilla no está aprobada: está %s", store.ErrConflict, store.TemplateStatusText(t.Status))
		}
	}
	return nil
}

type progressResponse struct {
	CampaignID    int64            `json:"campaign_id"`
	State         string           `json:"state"`
	AudienceCount int64            `json:"audience_count"`
	Counts        map[string]int64 `json:"counts"` // per recipient state
	Skipped       []planExclusion  `json:"skipped_by_reason,omitempty"`
	PauseReason   string           `json:"pause_reason,omitempty"`
	WaitReason    string           `json:"wait_reason,omitempty"`
	// Held: of the sent recipients, those whose send Meta holds while it assesses the
	// template's quality (pacing) and has said nothing more about. The campaign does not
	// complete while Meta may still drop them (store.HoldLimit).
	Held int64 `json:"held"`
}

func (s *Server) getCampaignProgress(c echo.Context) error {
	ctx := c.Request().Context()
	cp, err := s.campaignFor(c)
	if err != nil {
		return err
	}
	counts, err := store.CampaignCounts(ctx, s.db, cp.WorkspaceID, cp.ID)
	if err != nil {
		return err
	}
	held, err := store.CampaignHeldCount(ctx, s.db, cp.WorkspaceID, cp.ID)
	if err != nil {
		return err
	}
	res := progressResponse{CampaignID: cp.ID, State: string(cp.State), AudienceCount: cp.AudienceCount, Counts: counts,
		Held: held, PauseReason: cp.PauseReason, WaitReason: cp.WaitReason}
	for _, st := range []string{"pending", "queued", "sending", "sent", "delivered", "read", "failed", "skipped", "unknown"} {
		if _, ok := res.Counts[st]; !ok {
			res.Counts[st] = 0
		}
	}
	if counts["skipped"] > 0 {
		rows, err := s.db.Query(ctx, `SELECT skip_reason, count(*) FROM recipients WHERE workspace_id = $1 AND campaign_id = $2 AND state = 'skipped'
			GROUP BY 1 ORDER BY 2 DESC`, cp.WorkspaceID, cp.ID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var e planExclusion
			if err := rows.Scan(&e.Reason, &e.Count); err != nil {
				rows.Close()
				return err
			}
			e.Text = campaigns.SkipReasonText(e.Reason)
			res.Skipped = append(res.Skipped, e)
		}
		rows.Close()
	}
	return c.JSON(http.StatusOK, res)
}

func (s *Server) listCampaignTransitions(c echo.Context) error {
	cp, err := s.campaignFor(c)
	if err != nil {
		return err
	}
	recs, err := store.CampaignTransitionList(c.Request().Context(), s.db, cp.WorkspaceID, cp.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, listOf[store.CampaignTransitionRecord]{Data: recs})
}
