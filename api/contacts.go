package api

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/pregon/pregon/phone"
	"github.com/pregon/pregon/store"
)

// contactRequest is the body of POST /contacts and PATCH /contacts/:id.
type contactRequest struct {
	Phone      *string               `json:"phone"` // any form; normalised with the workspace's country
	Name       *string               `json:"name"`
	Email      *string               `json:"email"`
	Language   *string               `json:"language"`
	Tags       *[]string             `json:"tags"`
	Attributes *map[string]any       `json:"attributes"` // PATCH: merged, null removes a key
	Consent    *store.ContactConsent `json:"consent"`    // POST only: documented consent (source, text, evidence)
}

type tagsRequest struct {
	IDs    []int64  `json:"ids"`
	Add    []string `json:"add"`
	Remove []string `json:"remove"`
}

type tagsResponse struct {
	Updated int64 `json:"updated"`
}

type consentChangeRequest struct {
	Reason   string         `json:"reason"`
	Source   string         `json:"source"`   // opt-in: where consent was given again (default manual)
	Text     string         `json:"text"`     // opt-in: consent text or version
	Evidence map[string]any `json:"evidence"` // opt-in: anything that documents it
}

// normalisePhone reads a phone for the caller's workspace, or a validation error in Spanish.
func (s *Server) normalisePhone(c echo.Context, raw string) (phone.Result, error) {
	ws, err := store.WorkspaceGetByID(c.Request().Context(), s.db, principal(c).WorkspaceID)
	if err != nil {
		return phone.Result{}, err
	}
	r, err := phone.Normalize(raw, ws.DefaultCountry)
	if err != nil {
		msg := err.Error()
		if pe, ok := phone.IsError(err); ok {
			msg = pe.Reason
		}
		return r, store.Invalid("phone", msg)
	}
	return r, nil
}

func checkContactFields(r contactRequest) error {
	var v store.ValidationError
	if r.Email != nil && *r.Email != "" && !strings.Contains(*r.Email, "@") {
		v.Problems = append(v.Problems, store.Problem{Path: "email", Message: "correo electrónico inválido"})
	}
	if r.Name != nil && len(*r.Name) > 500 {
		v.Problems = append(v.Problems, store.Problem{Path: "name", Message: "nombre demasiado largo"})
	}
	if r.Tags != nil {
		for _, t := range *r.Tags {
			if strings.TrimSpace(t) == "" || len(t) > 64 {
				v.Problems = append(v.Problems, store.Problem{Path: "tags", Message: "etiqueta vacía o de más de 64 caracteres"})
				break
			}
		}
	}
	if len(v.Problems) > 0 {
		return &v
	}
	return nil
}

func (s *Server) listContacts(c echo.Context) error {
	limit, cursor, err := pageParams(c)
	if err != nil {
		return err
	}
	f := store.ContactFilter{Limit: limit, Cursor: cursor, Search: c.QueryParam("q"), Tag: c.QueryParam("tag"),
		Erased: c.QueryParam("erased") == "true"}
	if a := c.QueryParam("attribute"); a != "" {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return store.Invalid("attribute", "use clave=valor, p. ej. ciudad=Cali")
		}
		f.AttrKey, f.AttrValue = k, v
	}
	switch c.QueryParam("marketable") {
	case "":
	case "true":
		f.Marketable = new(true)
	case "false":
		f.Marketable = new(false)
	default:
		return store.Invalid("marketable", "use true o false")
	}
	cs, err := store.ContactList(c.Request().Context(), s.db, principal(c).WorkspaceID, f)
	if err != nil {
		return err
	}
	out := listOf[store.Contact]{Data: cs}
	if len(cs) == limit {
		last := cs[len(cs)-1].ID
		out.NextCursor = &last
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getContact(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	ct, err := store.ContactGetByID(c.Request().Context(), s.db, principal(c).WorkspaceID, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, ct)
}

func (s *Server) createContact(c echo.Context) error {
	var req contactRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	if req.Phone == nil {
		return store.Invalid("phone", "el teléfono es obligatorio")
	}
	if err := checkContactFields(req); err != nil {
		return err
	}
	ph, err := s.normalisePhone(c, *req.Phone)
	if err != nil {
		return err
	}
	p := principal(c)
	params := store.ContactCreateParams{WorkspaceID: p.WorkspaceID, Phone: ph.E164, Country: ph.Region, Consent: req.Consent, ActorUserID: p.UserID}
	if req.Name != nil {
		params.Name = strings.TrimSpace(*req.Name)
	}
	if req.Email != nil {
		params.Email = strings.ToLower(strings.TrimSpace(*req.Email))
	}
	if req.Language != nil {
		params.Language = *req.Language
	}
	if req.Tags != nil {
		params.Tags = *req.Tags
	}
	if req.Attributes != nil {
		params.Attributes = *req.Attributes
	}
	ct, err := store.ContactCreate(c.Request().Context(), s.db, params)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, ct)
}

func (s *Server) patchContact(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var req contactRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	if req.Consent != nil {
		return store.Invalid("consent", "use /contacts/{id}/opt-in o /opt-out para cambiar el consentimiento")
	}
	if err := checkContactFields(req); err != nil {
		return err
	}
	u := store.ContactUpdate{Name: req.Name, Email: req.Email, Language: req.Language, Tags: req.Tags, Attributes: req.Attributes}
	if req.Phone != nil {
		ph, err := s.normalisePhone(c, *req.Phone)
		if err != nil {
			return err
		}
		u.Phone, u.Country = &ph.E164, &ph.Region
	}
	ct, err := store.ContactUpdateByID(c.Request().Context(), s.db, principal(c).WorkspaceID, id, u)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, ct)
}

// deleteContact erases the contact's personal data; delivery counts stay.
func (s *Server) deleteContact(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := store.ContactErase(c.Request().Context(), s.db, principal(c).WorkspaceID, id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) postContactTags(c echo.Context) error {
	var req tagsRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	if len(req.IDs) == 0 || len(req.IDs) > 10_000 {
		return store.Invalid("ids", "entre 1 y 10.000 contactos por llamada")
	}
	if len(req.Add) == 0 && len(req.Remove) == 0 {
		return store.Invalid("add", "indique etiquetas para agregar o quitar")
	}
	if err := checkContactFields(contactRequest{Tags: &req.Add}); err != nil {
		return err
	}
	n, err := store.ContactTagsBulk(c.Request().Context(), s.db, principal(c).WorkspaceID, req.IDs, req.Add, req.Remove)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, tagsResponse{Updated: n})
}

func (s *Server) postContactOptOut(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var req consentChangeRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.Reason) == "" {
		return store.Invalid("reason", "indique el motivo de la baja")
	}
	p := principal(c)
	ct, err := store.ContactOptOut(c.Request().Context(), s.db, p.WorkspaceID, id, req.Reason, p.UserID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, ct)
}

func (s *Server) postContactOptIn(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var req consentChangeRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.Reason) == "" {
		return store.Invalid("reason", "indique cómo se documentó el consentimiento (p. ej. «el cliente escribió ALTA»)")
	}
	p := principal(c)
	ct, err := store.ContactOptIn(c.Request().Context(), s.db, p.WorkspaceID, id, req.Reason,
		store.ContactConsent{Source: req.Source, Text: req.Text, Evidence: req.Evidence}, p.UserID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, ct)
}

func (s *Server) listContactConsent(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	p := principal(c)
	if _, err := store.ContactGetByID(c.Request().Context(), s.db, p.WorkspaceID, id); err != nil {
		return err
	}
	evs, err := store.ConsentEventList(c.Request().Context(), s.db, p.WorkspaceID, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, listOf[store.ConsentEvent]{Data: evs})
}
