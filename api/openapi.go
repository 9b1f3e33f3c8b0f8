package api

import (
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

var pathParam = regexp.MustCompile(`:([a-z_]+)`)

// statuses lists the success statuses of the routes that do not answer the default (200, or
// 204 for a state change with no body): creations answer 201, and work handed to a job 202.
// The API tests check every success they see against this (harness_test.go).
var statuses = map[string][]int{
	"POST /users":                {http.StatusCreated},
	"POST /tokens":               {http.StatusCreated},
	"POST /numbers":              {http.StatusCreated},
	"POST /segments":             {http.StatusCreated},
	"POST /campaigns":            {http.StatusCreated},
	"POST /contacts":             {http.StatusCreated},
	"POST /imports":              {http.StatusCreated},
	"POST /imports/:id/confirm":  {http.StatusAccepted},
	"POST /exports":              {http.StatusAccepted},
	"GET /exports/campaigns/:id": {http.StatusOK, http.StatusAccepted},
	"GET /exports/templates/:id": {http.StatusOK, http.StatusAccepted},
	"GET /exports/contacts":      {http.StatusOK, http.StatusAccepted},
}

// successStatuses are the 2xx statuses the route answers with.
func (r route) successStatuses() []int {
	if st, ok := statuses[r.method+" "+r.path]; ok {
		return st
	}
	if r.out == nil && r.method != http.MethodGet {
		return []int{http.StatusNoContent}
	}
	return []int{http.StatusOK}
}

// OpenAPI builds the OpenAPI 3 document from the route table: every /api/v1 route, its role,
// its request and response bodies (derived from the Go types the handlers use).
func (s *Server) OpenAPI() map[string]any {
	paths := map[string]map[string]any{}
	schemas := map[string]any{}
	for _, r := range s.routes() {
		p := "/api/v1" + pathParam.ReplaceAllString(r.path, "{$1}")
		op := map[string]any{
			"summary":     r.summary,
			"operationId": strings.ToLower(r.method) + strings.NewReplacer("/", "_", ":", "", "-", "_").Replace(r.path),
			"tags":        []string{strings.Split(strings.TrimPrefix(r.path, "/"), "/")[0]},
			"description": "Minimum role: " + string(r.role) + ".",
			"security":    []map[string][]string{{"bearer": {}}, {"session": {}}},
		}
		var params []map[string]any
		for _, m := range pathParam.FindAllStringSubmatch(r.path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		if params != nil {
			op["parameters"] = params
		}
		if r.in != nil {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"application/json": map[string]any{"schema": schemaFor(reflect.TypeOf(r.in), schemas)}}}
		}
		ok := map[string]any{"description": "OK"}
		if r.out != nil {
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": schemaFor(reflect.TypeOf(r.out), schemas)}}
		}
		responses := map[string]any{
			"401":     map[string]any{"$ref": "#/components/responses/Error"},
			"403":     map[string]any{"$ref": "#/components/responses/Error"},
			"404":     map[string]any{"$ref": "#/components/responses/Error"},
			"422":     map[string]any{"$ref": "#/components/responses/Error"},
			"default": map[string]any{"$ref": "#/components/responses/Error"},
		}
		for _, st := range r.successStatuses() {
			if st == http.StatusNoContent {
				responses["204"] = map[string]any{"description": "No content"}
				continue
			}
			responses[strconv.Itoa(st)] = ok
		}
		op["responses"] = responses
		if paths[p] == nil {
			paths[p] = map[string]any{}
		}
		paths[p][strings.ToLower(r.method)] = op
	}
	schemas["Error"] = schemaFor(reflect.TypeOf(Error{}), schemas)
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{
			"title":       "Pregón API",
			"version":     "1",
			"description": "Campaigns and broadcasts for the WhatsApp Business Cloud API. Authenticate with `Authorization: Bearer <token>` (tokens are created by owners) or a session cookie plus the X-CSRF-Token header. Lists take ?limit= (1–500, default 50) and ?cursor= (the next_cursor of the previous page).",
		},
		"paths": paths,
		"components": map[string]any{
			"schemas": schemas,
			"securitySchemes": map[string]any{
				"bearer":  map[string]any{"type": "http", "scheme": "bearer"},
				"session": map[string]any{"type": "apiKey", "in": "cookie", "name": sessionCookie},
			},
			"responses": map[string]any{
				"Error": map[string]any{"description": "Error", "content": map[string]any{
					"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}},
			},
		},
	}
}

func (s *Server) getOpenAPI(c echo.Context) error {
	return c.JSON(http.StatusOK, s.OpenAPI())
}

var timeType = reflect.TypeOf(time.Time{})

// schemaFor derives a JSON schema from a Go type, registering named structs as components.
func schemaFor(t reflect.Type, schemas map[string]any) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == timeType {
		return map[string]any{"type": "string", "format": "date-time"}
	}
	switch t.Kind() {
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string"}
		}
		return map[string]any{"type": "array", "items": schemaFor(t.Elem(), schemas)}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaFor(t.Elem(), schemas)}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		name := t.Name()
		if i := strings.IndexByte(name, '['); i >= 0 { // generic instantiation
			name = "ListOf" + name[strings.LastIndexByte(name, '.')+1:len(name)-1]
		}
		if name != "" {
			name = strings.ToUpper(name[:1]) + name[1:]
			if _, ok := schemas[name]; !ok {
				schemas[name] = map[string]any{} // break recursion
				schemas[name] = structSchema(t, schemas)
			}
			return map[string]any{"$ref": "#/components/schemas/" + name}
		}
		return structSchema(t, schemas)
	}
	return map[string]any{}
}

func structSchema(t reflect.Type, schemas map[string]any) map[string]any {
	props := map[string]any{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			if sub, ok := structSchema(f.Type, schemas)["properties"].(map[string]any); ok {
				for k, v := range sub {
					props[k] = v
				}
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = schemaFor(f.Type, schemas)
	}
	return map[string]any{"type": "object", "properties": props}
}
