package web

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/pregon/pregon/api"
	"github.com/pregon/pregon/store"
)

// TimeZones offered in the settings (Latin America first); the current one is always listed.
var timeZones = []string{
	"America/Bogota", "America/Mexico_City", "America/Monterrey", "America/Tijuana", "America/Cancun",
	"America/Argentina/Buenos_Aires", "America/Santiago", "America/Lima", "America/Guayaquil", "America/Caracas",
	"America/La_Paz", "America/Asuncion", "America/Montevideo", "America/Sao_Paulo", "America/Manaus",
	"America/Panama", "America/Costa_Rica", "America/Guatemala", "America/El_Salvador", "America/Tegucigalpa",
	"America/Managua", "America/Santo_Domingo", "America/Puerto_Rico", "America/Havana", "Europe/Madrid",
	"America/New_York", "America/Los_Angeles", "UTC",
}

var countries = []string{"AR", "BO", "BR", "CL", "CO", "CR", "CU", "DO", "EC", "ES", "GT", "HN", "MX", "NI", "PA", "PE", "PR", "PY", "SV", "US", "UY", "VE"}

var messagingLimits = []int{250, 1000, 2000, 10000, 100000, -1}

type settingsData struct {
	TimeZones   []string
	Countries   []string
	Limits      []int
	Settings    store.WorkspaceSettings // effective
	Keywords    string
	Users       []store.User
	Invitations []store.Membership // workspaces that invited the logged-in person
	Tokens      []store.APIToken
	Numbers     []store.SenderNumber
	NewSecret   string // a token just created, shown once
	Section     string // the section a failed form belongs to (to open it)
	EditNumber  int64  // the number whose form failed
}

func (u *ui) settings(c echo.Context) error {
	pg, err := u.newPage(c, "settings", "settings.title")
	if err != nil {
		return err
	}
	return u.renderSettings(c, pg, http.StatusOK, settingsData{})
}

func (u *ui) renderSettings(c echo.Context, pg *page, status int, d settingsData) error {
	ctx := c.Request().Context()
	ws := pg.Workspace
	d.TimeZones, d.Countries, d.Limits = timeZones, countries, messagingLimits
	found := false
	for _, z := range d.TimeZones {
		found = found || z == ws.TimeZone
	}
	if !found {
		d.TimeZones = append([]string{ws.TimeZone}, d.TimeZones...)
	}
	d.Settings = ws.Settings.Effective()
	d.Keywords = strings.Join(d.Settings.OptOutKeywords, "\n")
	var err error
	if d.Numbers, err = store.SenderNumberList(ctx, u.db, ws.ID); err != nil {
		return err
	}
	if d.Invitations, err = store.UserInvitations(ctx, u.db, api.PrincipalOf(c).UserID); err != nil {
		return err
	}
	if pg.Role.AtLeast(store.RoleOwner) {
		if d.Users, err = store.UserList(ctx, u.db, ws.ID); err != nil {
			return err
		}
		if d.Tokens, err = store.APITokenList(ctx, u.db, ws.ID); err != nil {
			return err
		}
	}
	pg.Data = d
	return u.render(c, status, "settings", pg)
}

// formFail re-renders the settings page with the problems of err next to their fields, or
// returns err when it is not a validation error.
func (u *ui) settingsFail(c echo.Context, err error, section string, prefix string, d settingsData) error {
	probs, ok := formProblems(err)
	if !ok {
		return err
	}
	pg, perr := u.newPage(c, "settings", "settings.title")
	if perr != nil {
		return perr
	}
	for k, v := range probs {
		pg.Errors[prefix+k] = v
	}
	if m, ok := probs["_"]; ok {
		pg.FormError = m
	} else {
		pg.FormError = pg.T("common.error_form")
	}
	form, _ := c.FormParams()
	// Each form's errors carry its own prefix ("user.", "number7."): it names the form too, so
	// that only that form shows what was typed.
	pg.Form, pg.FormName = form, cmp.Or(strings.TrimSuffix(prefix, "."), section)
	d.Section = section
	return u.renderSettings(c, pg, http.StatusUnprocessableEntity, d)
}

func (u *ui) settingsWorkspace(c echo.Context) error {
	ctx := c.Request().Context()
	p := api.PrincipalOf(c)
	ws, err := store.WorkspaceGetByID(ctx, u.db, p.WorkspaceID)
	if err != nil {
		return err
	}
	var v store.ValidationError
	intField := func(name string, dst *int) {
		s := strings.TrimSpace(c.FormValue(name))
		if s == "" {
			*dst = 0
			return
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			v.Problems = append(v.Problems, store.Problem{Path: name, Message: "escriba un número entero positivo"})
			return
		}
		*dst = n
	}
	s := ws.Settings
	s.QuietHoursStart = strings.TrimSpace(c.FormValue("settings.quiet_hours_start"))
	s.QuietHoursEnd = strings.TrimSpace(c.FormValue("settings.quiet_hours_end"))
	for _, f := range []string{"settings.quiet_hours_start", "settings.quiet_hours_end"} {
		if val := strings.TrimSpace(c.FormValue(f)); val != "" {
			if ps := (store.SendWindow{Start: val, End: val}).Validate(); len(ps) > 0 {
				v.Problems = append(v.Problems, store.Problem{Path: f, Message: ps[0].Message})
			}
		}
	}
	intField("settings.frequency_cap", &s.FrequencyCap)
	intField("settings.frequency_cap_days", &s.FrequencyCapDays)
	intField("settings.breaker_window", &s.BreakerWindow)
	if r := strings.TrimSpace(strings.Replace(c.FormValue("settings.breaker_failure_ratio"), ",", ".", 1)); r != "" {
		f, err := strconv.ParseFloat(r, 64)
		if err != nil || f <= 0 || f > 1 {
			v.Problems = append(v.Problems, store.Problem{Path: "settings.breaker_failure_ratio", Message: "una proporción entre 0 y 1 (ej. 0,25)"})
		}
		s.BreakerFailureRatio = f
	} else {
		s.BreakerFailureRatio = 0
	}
	s.PauseOnYellow = c.FormValue("settings.pause_on_yellow") == "on"
	s.AutoResume = c.FormValue("settings.auto_resume") == "on"
	s.HoldActiveChats = c.FormValue("settings.hold_active_chats") == "on"
	s.OptOutKeywords = nil
	for _, line := range strings.Split(c.FormValue("settings.opt_out_keywords"), "\n") {
		if k := strings.TrimSpace(line); k != "" {
			s.OptOutKeywords = append(s.OptOutKeywords, k)
		}
	}
	s.OptOutConfirmation = strings.TrimSpace(c.FormValue("settings.opt_out_confirmation"))
	limit, err := strconv.Atoi(c.FormValue("messaging_limit"))
	if err != nil {
		v.Problems = append(v.Problems, store.Problem{Path: "messaging_limit", Message: "elija un límite de la lista"})
	}
	if len(v.Problems) > 0 {
		return u.settingsFail(c, &v, "workspace", "", settingsData{})
	}
	name, tz, country := strings.TrimSpace(c.FormValue("name")), c.FormValue("time_zone"), strings.ToUpper(strings.TrimSpace(c.FormValue("default_country")))
	_, err = store.WorkspaceUpdateByID(ctx, u.db, p.WorkspaceID, store.WorkspaceUpdate{
		Name: &name, TimeZone: &tz, DefaultCountry: &country, MessagingLimit: &limit, Settings: &s,
	})
	if err != nil {
		return u.settingsFail(c, err, "workspace", "", settingsData{})
	}
	return u.redirectFlash(c, "/settings", "ok", "common.saved")
}

func (u *ui) userAdd(c echo.Context) error {
	p := api.PrincipalOf(c)
	nu, err := store.UserCreate(c.Request().Context(), u.db, store.UserCreateParams{
		WorkspaceID: p.WorkspaceID, Email: c.FormValue("email"), Name: strings.TrimSpace(c.FormValue("name")),
		Password: c.FormValue("password"), Role: store.Role(c.FormValue("role")), ReservedEmails: u.cfg.AdminEmails,
	})
	if err != nil {
		return u.settingsFail(c, err, "users", "user.", settingsData{})
	}
	if nu.Pending {
		return u.redirectFlash(c, "/settings#users", "ok", "settings.user_invited")
	}
	return u.redirectFlash(c, "/settings#users", "ok", "settings.user_added")
}

// passwordChange changes the logged-in person's password (api.Server.ChangePassword: the
// current one checked, their other sessions ended).
func (u *ui) passwordChange(c echo.Context) error {
	if err := u.srv.ChangePassword(c, c.FormValue("current_password"), c.FormValue("password")); err != nil {
		return u.settingsFail(c, err, "account", "account.", settingsData{})
	}
	return u.redirectFlash(c, "/settings#account", "ok", "settings.password_changed")
}

// invitation accepts or declines the invitation of workspace :id for the logged-in person.
func (u *ui) invitation(accept bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := paramID(c)
		if err != nil {
			return err
		}
		ctx, p := c.Request().Context(), api.PrincipalOf(c)
		if !accept {
			if err := store.UserInvitationDecline(ctx, u.db, p.UserID, id); err != nil {
				return err
			}
			return u.redirectFlash(c, "/settings#account", "ok", "settings.invitation_declined")
		}
		if err := store.UserInvitationAccept(ctx, u.db, p.UserID, id); err != nil {
			return err
		}
		ws, err := store.WorkspaceGetByID(ctx, u.db, id)
		if err != nil {
			return err
		}
		return u.redirectFlash(c, "/settings#account", "ok", "settings.invitation_accepted", ws.Name)
	}
}

func (u *ui) userRole(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	p := api.PrincipalOf(c)
	if err := store.UserSetRole(c.Request().Context(), u.db, p.WorkspaceID, id, store.Role(c.FormValue("role"))); err != nil {
		return u.settingsFail(c, err, "users", fmt.Sprintf("user%d.", id), settingsData{})
	}
	return u.redirectFlash(c, "/settings#users", "ok", "settings.role_changed")
}

func (u *ui) userRemove(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	p := api.PrincipalOf(c)
	if err := store.UserRemove(c.Request().Context(), u.db, p.WorkspaceID, id); err != nil {
		return u.settingsFail(c, err, "users", fmt.Sprintf("user%d.", id), settingsData{})
	}
	return u.redirectFlash(c, "/settings#users", "ok", "settings.user_removed")
}

func (u *ui) tokenCreate(c echo.Context) error {
	p := api.PrincipalOf(c)
	by := p.UserID
	secret, _, err := store.APITokenCreate(c.Request().Context(), u.db, store.APITokenCreateParams{
		WorkspaceID: p.WorkspaceID, Name: strings.TrimSpace(c.FormValue("name")), Role: store.Role(c.FormValue("role")), CreatedBy: &by,
	})
	if err != nil {
		return u.settingsFail(c, err, "tokens", "token.", settingsData{})
	}
	// The secret is rendered in this response only (never stored, never redirected with).
	pg, err := u.newPage(c, "settings", "settings.title")
	if err != nil {
		return err
	}
	pg.Flash = &flash{Kind: "ok", Text: pg.T("settings.token_created")}
	return u.renderSettings(c, pg, http.StatusCreated, settingsData{NewSecret: secret, Section: "tokens"})
}

func (u *ui) tokenRevoke(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	if err := store.APITokenRevoke(c.Request().Context(), u.db, api.PrincipalOf(c).WorkspaceID, id); err != nil {
		return err
	}
	return u.redirectFlash(c, "/settings#tokens", "ok", "settings.token_revoked")
}

// numberRequest is the body of POST /api/v1/numbers and PATCH /api/v1/numbers/:id, built from
// the settings forms; empty secret fields are left out (kept).
func numberRequest(f url.Values, create bool) (map[string]any, error) {
	req := map[string]any{
		"display_number": strings.TrimSpace(f.Get("display_number")),
		"use_simulator":  f.Get("use_simulator") == "on",
		"coexistence":    f.Get("coexistence") == "on",
	}
	if create {
		req["phone_number_id"] = strings.TrimSpace(f.Get("phone_number_id"))
		req["waba_id"] = strings.TrimSpace(f.Get("waba_id"))
	} else {
		req["status"] = f.Get("status")
	}
	for _, k := range []string{"access_token", "app_secret", "verify_token"} {
		if v := strings.TrimSpace(f.Get(k)); v != "" {
			req[k] = v
		}
	}
	cp := strings.TrimSpace(f.Get("throughput_cap"))
	switch {
	case cp == "" && !create:
		req["throughput_cap"] = 0 // removes the cap
	case cp != "":
		n, err := strconv.Atoi(cp)
		if err != nil || n <= 0 {
			return nil, store.Invalid("throughput_cap", "el tope de mensajes por segundo debe ser un entero positivo")
		}
		req["throughput_cap"] = n
	}
	return req, nil
}

func (u *ui) numberAdd(c echo.Context) error {
	f, _ := c.FormParams()
	req, err := numberRequest(f, true)
	if err == nil {
		var res struct {
			CheckError string `json:"check_error"`
		}
		if err = u.callAPI(c, http.MethodPost, "/numbers", req, &res); err == nil {
			if res.CheckError != "" {
				return u.redirectFlash(c, "/settings#numbers", "warn", "settings.number_added_unchecked", res.CheckError)
			}
			return u.redirectFlash(c, "/settings#numbers", "ok", "settings.number_added")
		}
	}
	return u.settingsFail(c, err, "numbers", "number.", settingsData{})
}

func (u *ui) numberEdit(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	f, _ := c.FormParams()
	req, err := numberRequest(f, false)
	if err == nil {
		if err = u.callAPI(c, http.MethodPatch, fmt.Sprintf("/numbers/%d", id), req, nil); err == nil {
			return u.redirectFlash(c, "/settings#numbers", "ok", "settings.number_saved")
		}
		if isNotFound(err) {
			return err
		}
	}
	return u.settingsFail(c, err, "numbers", fmt.Sprintf("number%d.", id), settingsData{EditNumber: id})
}

// numberDelete removes a sender number (DELETE /api/v1/numbers/:id, after a confirm). The API
// refuses one that campaigns use and names them: the refusal comes back as a flash.
func (u *ui) numberDelete(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	if err := u.callAPI(c, http.MethodDelete, fmt.Sprintf("/numbers/%d", id), nil, nil); err != nil {
		if _, ok := formProblems(err); !ok {
			return err
		}
		return u.redirectFlash(c, "/settings#numbers", "error", "settings.number_delete_failed", errMessage(err))
	}
	return u.redirectFlash(c, "/settings#numbers", "ok", "settings.number_deleted")
}

// paramID reads the :id path parameter; a malformed id names nothing (404).
func paramID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, store.ErrNotFound
	}
	return id, nil
}

// numberCheck reads the number's quality, throughput, limit and coexistence from Meta now
// (POST /api/v1/numbers/:id/check).
func (u *ui) numberCheck(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	if err := u.callAPI(c, http.MethodPost, fmt.Sprintf("/numbers/%d/check", id), nil, nil); err != nil {
		if isNotFound(err) {
			return err
		}
		return u.redirectFlash(c, "/settings#numbers", "error", "settings.check_failed", errMessage(err))
	}
	return u.redirectFlash(c, "/settings#numbers", "ok", "settings.checked")
}
