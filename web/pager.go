package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
)

// listPage reads one page of an API list into data: the page the request's ?cursor= asks for,
// of limit items, apiPath carrying the list's filters. It returns the address of the next
// page (the request's own, with its filters and the next cursor), "" on the last page.
func (u *ui) listPage(c echo.Context, apiPath string, limit int, data any) (string, error) {
	q := url.Values{}
	q.Set("limit", fmt.Sprint(limit))
	if cur := c.QueryParam("cursor"); cur != "" {
		q.Set("cursor", cur)
	}
	sep := "?"
	if strings.Contains(apiPath, "?") {
		sep = "&"
	}
	var out struct {
		Data       json.RawMessage `json:"data"`
		NextCursor *int64          `json:"next_cursor"`
	}
	if err := u.callAPI(c, http.MethodGet, apiPath+sep+q.Encode(), nil, &out); err != nil {
		return "", err
	}
	if len(out.Data) > 0 {
		if err := json.Unmarshal(out.Data, data); err != nil {
			return "", fmt.Errorf("reading %s: %w", apiPath, err)
		}
	}
	if out.NextCursor == nil {
		return "", nil
	}
	more := c.Request().URL.Query()
	more.Set("cursor", fmt.Sprint(*out.NextCursor))
	return c.Request().URL.Path + "?" + more.Encode(), nil
}

// listAll reads every page of an API list into items (for short lists a page offers whole,
// such as the campaigns an engagement condition can name).
func listAll[T any](u *ui, c echo.Context, apiPath string) ([]T, error) {
	var all []T
	sep := "?"
	if strings.Contains(apiPath, "?") {
		sep = "&"
	}
	cursor := ""
	for {
		var out struct {
			Data       []T    `json:"data"`
			NextCursor *int64 `json:"next_cursor"`
		}
		if err := u.callAPI(c, http.MethodGet, apiPath+sep+"limit=500"+cursor, nil, &out); err != nil {
			return nil, err
		}
		all = append(all, out.Data...)
		if out.NextCursor == nil || len(out.Data) == 0 {
			return all, nil
		}
		cursor = fmt.Sprintf("&cursor=%d", *out.NextCursor)
	}
}
