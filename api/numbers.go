package api

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/pregon/pregon/jobs"
	"github.com/pregon/pregon/store"
)

// numberRequest registers or edits a sender number. Secrets are write-only: they are sealed
// with the server key and never returned (responses say has_access_token / has_app_secret).
type numberRequest struct {
	PhoneNumberID string  `json:"phone_number_id,omitempty"`
	WABAID        string  `json:"waba_id,omitempty"`
	DisplayNumber *string `json:"display_number,omitempty"`
	AccessToken   *string `json:"access_token,omitempty"` // "" clears it (the number then uses the simulator)
	AppSecret     *string `json:"app_secret,omitempty"`
	VerifyToken   *string `json:"verify_token,omitempty"`
	Coexistence   *bool   `json:"coexistence,omitempty"`
	UseSimulator  *bool   `json:"use_simulator,omitempty"`
	ThroughputCap *int    `json:"throughput_cap,omitempty"` // 0 removes the cap
	Status        *string `json:"status,omitempty"`         // active | halted (edit only)
}

type numberResponse struct {
	store.SenderNumber
	CheckError string              `json:"check_error,omitempty"`
	Events     []store.NumberEvent `json:"events,omitempty"`
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func (s *Server) seal(p *string) *[]byte {
	if p == nil {
		return nil
	}
	b := s.box.Seal(*p)
	if b == nil {
		b = []byte{}
	}
	return &b
}

func (s *Server) listNumbers(c echo.Context) error {
	ns, err := store.SenderNumberList(c.Request().Context(), s.db, principal(c).WorkspaceID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, listOf[store.SenderNumber]{Data: ns})
}

func (s *Server) createNumber(c echo.Context) error {
	var req numberRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	ctx := c.Request().Context()
	p := store.SenderNumberCreateParams{
		WorkspaceID: principal(c).WorkspaceID, PhoneNumberID: req.PhoneNumberID, WABAID: req.WABAID,
		DisplayNumber: deref(req.DisplayNumber), VerifyToken: deref(req.VerifyToken),
		Coexistence: deref(req.Coexistence), UseSimulator: deref(req.UseSimulator), ThroughputCap: req.ThroughputCap,
	}
	if v := s.seal(req.AccessToken); v != nil && len(*v) > 0 {
		p.AccessTokenEnc = *v
	}
	if v := s.seal(req.AppSecret); v != nil && len(*v) > 0 {
		p.AppSecretEnc = *v
	}
	// A WABA belongs to one business: webhooks about it (account, quality, templates) act on the
	// numbers of the workspace whose app secret signs them, so another workspace registering it
	// could sign them too. The lock serialises two workspaces registering one WABA at once.
	var n store.SenderNumber
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if waba := strings.TrimSpace(p.WABAID); waba != "" {
			other, err := store.SenderNumberWABAOwner(ctx, tx, p.WorkspaceID, waba)
			if err != nil {
				return err
			}
			if other != 0 {
				return Errorf(http.StatusConflict, "waba_taken",
					"la cuenta de WhatsApp Business (WABA %s) ya está registrada en otro espacio de trabajo: una WABA pertenece a un solo negocio. Si es suya, pida que la quiten de ese espacio o escriba a soporte", waba)
			}
		}
		var err error
		n, err = store.SenderNumberCreate(ctx, tx, p)
		return err
	})
	if err != nil {
		return err
	}
	res := s.checkNumber(ctx, n)
	return c.JSON(http.StatusCreated, res)
}

// checkNumber reads the number's health from the Cloud API (best effort: a failure is reported
// in check_error and recorded as a number event; the hourly check tries again).
func (s *Server) checkNumber(ctx context.Context, n store.SenderNumber) numberResponse {
	res := numberResponse{SenderNumber: n}
	if s.wa == nil {
		res.CheckError = "cliente de WhatsApp no configurado en este servidor"
		return res
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	events, err := jobs.CheckNumber(ctx, s.db, s.wa, n)
	if err != nil {
		res.CheckError = err.Error()
	}
	res.Events = events
	if fresh, err := store.SenderNumberGetByID(ctx, s.db, n.WorkspaceID, n.ID); err == nil {
		res.SenderNumber = fresh
	}
	return res
}

func (s *Server) getNumber(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	n, err := store.SenderNumberGetByID(c.Request().Context(), s.db, principal(c).WorkspaceID, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, n)
}

func (s *Server) patchNumber(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var req numberRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	if req.PhoneNumberID != "" || req.WABAID != "" {
		return store.Invalid("phone_number_id", "phone_number_id y waba_id no se pueden cambiar: registre otro número")
	}
	n, err := store.SenderNumberUpdateByID(c.Request().Context(), s.db, principal(c).WorkspaceID, id, store.SenderNumberUpdate{
		DisplayNumber: req.DisplayNumber, AccessTokenEnc: s.seal(req.AccessToken), AppSecretEnc: s.seal(req.AppSecret),
		VerifyToken: req.VerifyToken, UseSimulator: req.UseSimulator, Coexistence: req.Coexistence,
		ThroughputCap: req.ThroughputCap, Status: req.Status,
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, n)
}

func (s *Server) deleteNumber(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := store.SenderNumberDelete(c.Request().Context(), s.db, principal(c).WorkspaceID, id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) postNumberCheck(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	n, err := store.SenderNumberGetByID(ctx, s.db, principal(c).WorkspaceID, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.checkNumber(ctx, n))
}

func (s *Server) listNumberEvents(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	p := principal(c)
	if _, err := store.SenderNumberGetByID(ctx, s.db, p.WorkspaceID, id); err != nil {
		return err
	}
	limit, _, err := pageParams(c)
	if err != nil {
		return err
	}
	evs, err := store.NumberEventList(ctx, s.db, p.WorkspaceID, id, limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, listOf[store.NumberEvent]{Data: evs})
}
