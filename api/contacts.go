package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/pregon/pregon/jobs"
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
	Attributes *attributes           `json:"attributes"` // PATCH: merged, null removes a key
	Consent    *store.ContactConsent `json:"consent"`    // POST only: documented consent (source, text, evidence)
}

// attributes are a contact's attributes as sent. Numbers keep every digit (json.Number, not
// float64: 9007199254740993 stays itself), and checkContactFields allows only the typed values
// a contact can have: text, number, date (text "AAAA-MM-DD"), true/false, and null to remove
// a key in a PATCH.
type attributes map[string]any

func (a *attributes) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return err
	}
	*a = m
	return nil
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

// languageRe is a language code as WhatsApp templates name them: "es", "pt_BR", "es-MX".
var languageRe = regexp.MustCompile(`^[a-z]{2,3}([_-][A-Za-z]{2,4})?$`)

// validEmail is a plausible address: one @, something before it, a dotted domain, no spaces.
func validEmail(e string) bool {
	local, domain, ok := strings.Cut(e, "@")
	return ok && local != "" && len(e) <= 254 && !strings.ContainsAny(e, " \t\r\n<>,;") &&
		!strings.Contains(domain, "@") && strings.Contains(strings.Trim(domain, "."), ".") && !strings.Contains(domain, "..")
}

// cleanTags trims the tags and drops empty repeats, keeping the first spelling and order.
func cleanTags(tags []string) []string {
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		if t = strings.TrimSpace(t); t != "" && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// cleanContactFields normalises what a person types (spaces around a name, an e-mail in capitals,
// a tag twice) the same way for a create and an update.
func cleanContactFields(r *contactRequest) {
	trim := func(p *string) {
		if p != nil {
			*p = strings.TrimSpace(*p)
		}
	}
	trim(r.Name)
	trim(r.Language)
	if r.Email != nil {
		*r.Email = strings.ToLower(strings.TrimSpace(*r.Email))
	}
	if r.Tags != nil {
		*r.Tags = cleanTags(*r.Tags)
	}
}

// contactProblems lists every problem of a contact's fields (after cleanContactFields).
func contactProblems(r contactRequest, patch bool) []store.Problem {
	var out []store.Problem
	add := func(path, msg string) { out = append(out, store.Problem{Path: path, Message: msg}) }
	if r.Email != nil && *r.Email != "" && !validEmail(*r.Email) {
		add("email", "correo electrónico inválido (p. ej. ana@ejemplo.com)")
	}
	if r.Name != nil && utf8.RuneCountInString(*r.Name) > 500 {
		add("name", "nombre demasiado largo (máximo 500 caracteres)")
	}
	if r.Language != nil && *r.Language != "" && !languageRe.MatchString(*r.Language) {
		add("language", "código de idioma inválido: use p. ej. es, pt_BR o en_US")
	}
	if r.Tags != nil {
		for _, t := range *r.Tags {
			if utf8.RuneCountInString(t) > 64 {
				add("tags", fmt.Sprintf("etiqueta de más de 64 caracteres: %.20q…", t))
				break
			}
		}
	}
	if r.Attributes != nil {
		for k, v := range *r.Attributes {
			path := "attributes." + k
			switch v := v.(type) {
			case string:
				if utf8.RuneCountInString(v) > 10_000 {
					add(path, "valor demasiado largo (máximo 10.000 caracteres)")
				}
			case json.Number, bool:
			case nil:
				if !patch {
					add(path, "null solo sirve para quitar un atributo al editar")
				}
			default:
				add(path, "use texto, número, fecha (AAAA-MM-DD) o true/false; no listas ni objetos")
			}
			if k = strings.TrimSpace(k); k == "" || utf8.RuneCountInString(k) > 64 {
				add("attributes", "el nombre de un atributo no puede estar vacío ni pasar de 64 caracteres")
			}
		}
	}
	if c := r.Consent; c != nil {
		if strings.TrimSpace(c.Text) == "" {
			add("consent.text", "indique el texto o la versión del consentimiento que la persona aceptó: sin él no queda documentado")
		}
		if c.At != nil && c.At.After(time.Now().Add(5*time.Minute)) {
			add("consent.at", "la fecha del consentimiento está en el futuro")
		}
	}
	slices.SortStableFunc(out, func(a, b store.Problem) int { return strings.Compare(a.Path, b.Path) })
	return out
}

func checkContactFields(r contactRequest) error {
	if p := contactProblems(r, true); len(p) > 0 {
		return &store.ValidationError{Problems: p}
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
	for i := range cs {
		forReader(principal(c), &cs[i])
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
	forReader(principal(c), &ct)
	return c.JSON(http.StatusOK, ct)
}

// forReader is a contact as p may read it. Analysts read contacts as reports need them, but
// consent evidence only as the record of where consent came from (store.EvidenceRecord): what
// it says about the person (an IP address, a form's fields) is for marketers and owners, as
// are the contacts export and the import error reports with the files' rows.
func forReader(p *Principal, ct *store.Contact) {
	if !p.Role.AtLeast(store.RoleMarketer) {
		ct.ConsentEvidence = store.EvidenceRecord(ct.ConsentEvidence)
	}
}

func (s *Server) createContact(c echo.Context) error {
	var req contactRequest
	if err := bindStrict(c, &req); err != nil {
		return err
	}
	cleanContactFields(&req)
	// Every problem at once: the phone's with the other fields'.
	problems := contactProblems(req, false)
	var ph phone.Result
	if req.Phone == nil || strings.TrimSpace(*req.Phone) == "" {
		problems = append([]store.Problem{{Path: "phone", Message: "el teléfono es obligatorio"}}, problems...)
	} else {
		var err error
		if ph, err = s.normalisePhone(c, *req.Phone); err != nil {
			var v *store.ValidationError
			if !errors.As(err, &v) {
				return err
			}
			problems = append(v.Problems, problems...)
		}
	}
	if len(problems) > 0 {
		return &store.ValidationError{Problems: problems}
	}
	p := principal(c)
	params := store.ContactCreateParams{WorkspaceID: p.WorkspaceID, Phone: ph.E164, Country: ph.Region, Consent: req.Consent, ActorUserID: p.UserID}
	if req.Name != nil {
		params.Name = *req.Name
	}
	if req.Email != nil {
		params.Email = *req.Email
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
	if err := s.refuseSuppressed(c, ph.E164); err != nil {
		return err
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
	if err := bindStrict(c, &req); err != nil {
		return err
	}
	if req.Consent != nil {
		return store.Invalid("consent", "use /contacts/{id}/opt-in o /opt-out para cambiar el consentimiento")
	}
	cleanContactFields(&req)
	if err := checkContactFields(req); err != nil {
		return err
	}
	u := store.ContactUpdate{Name: req.Name, Email: req.Email, Language: req.Language, Tags: req.Tags}
	if req.Attributes != nil {
		m := map[string]any(*req.Attributes)
		u.Attributes = &m
	}
	if req.Phone != nil {
		ph, err := s.normalisePhone(c, *req.Phone)
		if err != nil {
			return err
		}
		if err := s.refuseSuppressed(c, ph.E164); err != nil {
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

// refuseSuppressed answers 409 for a phone whose contact opted out and was then erased (the
// suppression list keeps its keyed hash): the person's opt-out outlives the erasure.
func (s *Server) refuseSuppressed(c echo.Context, e164 string) error {
	at, err := store.PhoneSuppressed(c.Request().Context(), s.db, principal(c).WorkspaceID, s.box.Hash(e164))
	if err != nil {
		return err
	}
	if at != nil {
		return store.ErrSuppressed
	}
	return nil
}

// deleteContact erases the contact's personal data; delivery counts stay. A contact who had
// opted out leaves their phone's keyed hash in the suppression list.
func (s *Server) deleteContact(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	// The erasure and the job that blanks Meta's raw webhook bodies naming the contact commit
	// together.
	ctx := c.Request().Context()
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		scrub, err := store.ContactEraseScrub(ctx, tx, principal(c).WorkspaceID, id, s.box.Hash)
		if err != nil || scrub == 0 {
			return err
		}
		_, err = s.river.InsertTx(ctx, tx, jobs.EraseWebhookBodiesArgs{ScrubID: scrub}, nil)
		return err
	})
	if err != nil {
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
	req.Add, req.Remove = cleanTags(req.Add), cleanTags(req.Remove)
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
	if err := bindStrict(c, &req); err != nil {
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
	if err := bindStrict(c, &req); err != nil {
		return err
	}
	var problems []store.Problem
	if strings.TrimSpace(req.Reason) == "" {
		problems = append(problems, store.Problem{Path: "reason", Message: "indique cómo se documentó el consentimiento (p. ej. «el cliente escribió ALTA»)"})
	}
	if strings.TrimSpace(req.Text) == "" {
		problems = append(problems, store.Problem{Path: "text", Message: "indique el texto o la versión del consentimiento que la persona aceptó"})
	}
	if len(problems) > 0 {
		return &store.ValidationError{Problems: problems}
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
	if !p.Role.AtLeast(store.RoleMarketer) { // as forReader
		for i := range evs {
			evs[i].Evidence = store.EvidenceRecord(evs[i].Evidence)
		}
	}
	return c.JSON(http.StatusOK, listOf[store.ConsentEvent]{Data: evs})
}
