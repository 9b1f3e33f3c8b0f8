package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/pregon/pregon/api"
	"github.com/pregon/pregon/store"
)

// callAPI runs one REST API request in-process, as the viewer (same session cookie, CSRF
// token and role), and decodes the JSON answer into out. Pages use it for actions whose rules
// live in the API's handlers (launch plan, test send, schedule, pause…): the UI then has no
// second implementation of them. Errors come back as the API's: a 422 as a
// *store.ValidationError (so problems show next to their fields), a 404 as store.ErrNotFound,
// others as *api.Error.
func (u *ui) callAPI(c echo.Context, method, path string, body, out any) error {
	if body == nil {
		return u.callAPIRaw(c, method, path, "", nil, out)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encoding %s %s: %w", method, path, err)
	}
	return u.callAPIRaw(c, method, path, "application/json", bytes.NewReader(b), out)
}

// callAPIRaw is callAPI with a body of any content type (a multipart upload).
func (u *ui) callAPIRaw(c echo.Context, method, path, contentType string, body io.Reader, out any) error {
	req := httptest.NewRequestWithContext(c.Request().Context(), method, "/api/v1"+path, body)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	for _, ck := range c.Request().Cookies() {
		if ck.Name == sessionCookie {
			req.AddCookie(ck)
		}
	}
	if p := api.PrincipalOf(c); p != nil {
		req.Header.Set("X-CSRF-Token", p.CSRFToken)
	}
	req.RemoteAddr = c.Request().RemoteAddr
	rec := httptest.NewRecorder()
	u.srv.Handler().ServeHTTP(rec, req)
	res := rec.Result()
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 400 {
		return apiError(res.StatusCode, data)
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	if raw, ok := out.(*[]byte); ok {
		*raw = data
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decoding %s %s: %w", method, path, err)
	}
	return nil
}

func apiError(status int, data []byte) error {
	var e struct {
		Code    string          `json:"code"`
		Message string          `json:"message"`
		Details json.RawMessage `json:"details"`
	}
	json.Unmarshal(data, &e)
	switch {
	case status == http.StatusNotFound:
		return store.ErrNotFound
	case status == http.StatusUnprocessableEntity:
		var ps []store.Problem
		if json.Unmarshal(e.Details, &ps) == nil && len(ps) > 0 {
			return &store.ValidationError{Problems: ps}
		}
		if e.Code == "invalid" {
			return store.Invalid("_", e.Message)
		}
	}
	if e.Code == "" {
		e.Code = "http"
		e.Message = http.StatusText(status)
	}
	out := &api.Error{Status: status, Code: e.Code, Message: e.Message}
	// A refusal about one field (a name already taken) names it in details, as a validation
	// problem does: keep it so that the form shows the message next to that field.
	var ps []store.Problem
	if json.Unmarshal(e.Details, &ps) == nil && len(ps) > 0 && ps[0].Path != "" {
		out.Details = ps
	}
	return out
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// errMessage is the human part of an error from callAPI.
func errMessage(err error) string {
	var ae *api.Error
	if errors.As(err, &ae) {
		return ae.Message
	}
	var ve *store.ValidationError
	if errors.As(err, &ve) && len(ve.Problems) > 0 {
		msgs := make([]string, 0, len(ve.Problems))
		for _, p := range ve.Problems {
			msgs = append(msgs, p.Message)
		}
		return strings.Join(msgs, "; ")
	}
	return err.Error()
}

func urlq(s string) string { return url.QueryEscape(s) }

func asValidation(err error, target **store.ValidationError) bool { return errors.As(err, target) }
