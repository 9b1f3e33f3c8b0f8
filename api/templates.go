package api

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pregon/pregon/campaigns"
	"github.com/pregon/pregon/jobs"
	"github.com/pregon/pregon/store"
)

// templateResponse is a template with the parameters a campaign must fill.
type templateResponse struct {
	store.Template
	Parameters []templateParam `json:"parameters"`
}

// templateParam is one parameter to map: its key in variable_mapping and a description.
type templateParam struct {
	campaigns.Param
	Key   string `json:"key"`
	Label string `json:"label"`
}

type templateDetail struct {
	templateResponse
	Events []store.TemplateEvent `json:"events"`
}

func withParams(t store.Template) templateResponse {
	res := templateResponse{Template: t, Parameters: []templateParam{}}
	ps, err := campaigns.TemplateParams(t.ParameterFormat, t.Components)
	if err != nil {
		return res // a template we cannot read lists no parameters; scheduling will refuse it
	}
	for _, p := range ps {
		res.Parameters = append(res.Parameters, templateParam{Param: p, Key: p.Key(), Label: p.Label()})
	}
	return res
}

func (s *Server) listTemplates(c echo.Context) error {
	limit, cursor, err := pageParams(c)
	if err != nil {
		return err
	}
	ts, err := store.TemplateList(c.Request().Context(), s.db, principal(c).WorkspaceID, store.TemplateFilter{
		Status: c.QueryParam("status"), Category: c.QueryParam("category"), Name: c.QueryParam("q"), Limit: limit, Cursor: cursor,
	})
	if err != nil {
		return err
	}
	out := listOf[templateResponse]{Data: []templateResponse{}}
	for _, t := range ts {
		out.Data = append(out.Data, withParams(t))
	}
	if len(ts) == limit {
		last := ts[len(ts)-1].ID
		out.NextCursor = &last
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getTemplate(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	p := principal(c)
	t, err := store.TemplateGetByID(ctx, s.db, p.WorkspaceID, id)
	if err != nil {
		return err
	}
	evs, err := store.TemplateEventList(ctx, s.db, p.WorkspaceID, id, 100)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, templateDetail{templateResponse: withParams(t), Events: evs})
}

// postTemplateSync pulls the workspace's templates now and answers with what changed.
func (s *Server) postTemplateSync(c echo.Context) error {
	if s.wa == nil {
		return Errorf(http.StatusServiceUnavailable, "whatsapp_unavailable", "cliente de WhatsApp no configurado en este servidor")
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), time.Minute)
	defer cancel()
	res, err := jobs.SyncTemplates(ctx, s.db, s.river, s.wa, principal(c).WorkspaceID)
	if err != nil {
		return Errorf(http.StatusBadGateway, "sync_failed", "no se pudieron leer las plantillas de Meta: %v", err)
	}
	return c.JSON(http.StatusOK, res)
}
