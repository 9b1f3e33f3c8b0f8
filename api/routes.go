package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/pregon/pregon/importers"
	"github.com/pregon/pregon/jobs"
	"github.com/pregon/pregon/reports"
	"github.com/pregon/pregon/segments"
	"github.com/pregon/pregon/store"
)

// route is one entry of the route table: the path under /api/v1, the minimum role, and what the
// OpenAPI document says about it.
type route struct {
	method  string
	path    string
	handler echo.HandlerFunc
	role    store.Role
	summary string
	in      any // request body type, for the OpenAPI document (nil: none)
	out     any // response body type (nil: none or not JSON)
}

// routes is the route table of the REST API. Every /api/v1 route is listed here.
func (s *Server) routes() []route {
	const (
		A = store.RoleAnalyst
		M = store.RoleMarketer
		O = store.RoleOwner
	)
	return []route{
		// who am I, workspace, users, tokens
		{http.MethodGet, "/me", s.getMe, A, "Current user or token, role and workspaces", nil, meResponse{}},
		{http.MethodPost, "/auth/switch", s.postSwitchWorkspace, A, "Switch the session to another workspace of the user", switchRequest{}, nil},
		{http.MethodPost, "/me/password", s.postPassword, A, "Change the logged-in person's password (current one checked); ends their other sessions, API tokens stay", passwordRequest{}, nil},
		{http.MethodGet, "/me/invitations", s.listInvitations, A, "Workspaces that invited the logged-in person and the role each offers", nil, listOf[store.Membership]{}},
		{http.MethodPost, "/me/invitations/:id/accept", s.invitationHandler(true), A, "Accept workspace :id's invitation: the person becomes a member", nil, nil},
		{http.MethodPost, "/me/invitations/:id/decline", s.invitationHandler(false), A, "Decline workspace :id's invitation", nil, nil},
		{http.MethodGet, "/workspace", s.getWorkspace, A, "Read the workspace", nil, store.Workspace{}},
		{http.MethodPatch, "/workspace", s.patchWorkspace, O, "Update the workspace (time zone, country, limits, settings)", store.WorkspaceUpdate{}, store.Workspace{}},
		{http.MethodGet, "/users", s.listUsers, O, "List the workspace's users and roles", nil, listOf[store.User]{}},
		{http.MethodPost, "/users", s.createUser, O, "Add a user to the workspace: a new account, or an invitation to an existing one (pending until the person accepts; only the e-mail is returned)", createUserRequest{}, store.User{}},
		{http.MethodPatch, "/users/:id", s.patchUser, O, "Change a user's role", patchUserRequest{}, store.User{}},
		{http.MethodDelete, "/users/:id", s.deleteUser, O, "Remove a user from the workspace", nil, nil},
		{http.MethodGet, "/tokens", s.listTokens, O, "List API tokens", nil, listOf[store.APIToken]{}},
		{http.MethodPost, "/tokens", s.createToken, O, "Create an API token (its secret is shown once)", createTokenRequest{}, createTokenResponse{}},
		{http.MethodDelete, "/tokens/:id", s.revokeToken, O, "Revoke an API token", nil, nil},
		// sender numbers, templates, campaigns
		{http.MethodGet, "/numbers", s.listNumbers, A, "List sender numbers (secrets never returned)", nil, listOf[store.SenderNumber]{}},
		{http.MethodPost, "/numbers", s.createNumber, O, "Register a sender number (token and app secret are encrypted) and read its health", numberRequest{}, numberResponse{}},
		{http.MethodGet, "/numbers/:id", s.getNumber, A, "Read a sender number", nil, store.SenderNumber{}},
		{http.MethodPatch, "/numbers/:id", s.patchNumber, O, "Edit a sender number (credentials, cap, coexistence, status)", numberRequest{}, store.SenderNumber{}},
		{http.MethodDelete, "/numbers/:id", s.deleteNumber, O, "Remove a sender number no campaign uses", nil, nil},
		{http.MethodPost, "/numbers/:id/check", s.postNumberCheck, O, "Read the number's quality, throughput, limit and coexistence from Meta now", nil, numberResponse{}},
		{http.MethodGet, "/numbers/:id/events", s.listNumberEvents, A, "The number's health history", nil, listOf[store.NumberEvent]{}},
		{http.MethodGet, "/templates", s.listTemplates, A, "List synced templates with the parameters a campaign must fill", nil, listOf[templateResponse]{}},
		{http.MethodPost, "/templates/sync", s.postTemplateSync, M, "Pull the WABA's templates from Meta now", nil, jobs.SyncResult{}},
		{http.MethodGet, "/templates/:id", s.getTemplate, A, "Read a template: parameters and status/quality history", nil, templateDetail{}},
		// segments (api/segments.go)
		{http.MethodGet, "/segments", s.listSegments, A, "List segments with their eligible counts (?counts=false skips them)", nil, listOf[segmentResponse]{}},
		{http.MethodPost, "/segments", s.createSegment, M, "Create a segment; the definition is validated (every problem with its JSON path)", segmentInputDoc{}, segmentResponse{}},
		{http.MethodPost, "/segments/preview", s.postSegmentPreview, A, "Preview an unsaved definition: eligible count, 20 contacts, excluded by reason, broadcast flag", segmentPreviewRequestDoc{}, segments.PreviewResult{}},
		{http.MethodGet, "/segments/:id", s.getSegment, A, "Read a segment with its eligible count", nil, segmentResponse{}},
		{http.MethodPatch, "/segments/:id", s.patchSegment, M, "Edit a segment's name, description or definition", segmentInputDoc{}, segmentResponse{}},
		{http.MethodDelete, "/segments/:id", s.deleteSegment, M, "Delete a segment no campaign uses", nil, nil},
		{http.MethodGet, "/segments/:id/preview", s.getSegmentPreview, A, "Preview a saved segment: eligible count, 20 contacts, excluded by reason, broadcast flag", nil, segments.PreviewResult{}},
		{http.MethodGet, "/campaigns", s.listCampaigns, A, "List campaigns (?state=)", nil, listOf[campaignResponse]{}},
		{http.MethodPost, "/campaigns", s.createCampaign, M, "Create a draft campaign", store.CampaignEdit{}, campaignResponse{}},
		{http.MethodGet, "/campaigns/:id", s.getCampaign, A, "Read a campaign", nil, campaignResponse{}},
		{http.MethodPatch, "/campaigns/:id", s.patchCampaign, M, "Edit a draft (mapping checked against the template)", store.CampaignEdit{}, campaignResponse{}},
		{http.MethodDelete, "/campaigns/:id", s.deleteCampaign, M, "Delete a draft, or (owners) a campaign cancelled before its launch", nil, nil},
		{http.MethodGet, "/campaigns/:id/plan", s.getCampaignPlan, A, "Launch plan: audience and exclusions, budget, throughput, window, ETA, warnings", nil, launchPlan{}},
		{http.MethodPost, "/campaigns/:id/test", s.postCampaignTest, M, "Send the campaign's template to one phone (same rendering)", testSendRequest{}, testSendResponse{}},
		{http.MethodPost, "/campaigns/:id/schedule", s.postCampaignSchedule, O, "Schedule the launch (draft → scheduled)", scheduleRequest{}, campaignResponse{}},
		{http.MethodPost, "/campaigns/:id/unschedule", s.transitionHandler(store.CampaignDraft, "desprogramada"), O, "Back to draft (scheduled → draft)", transitionRequest{}, campaignResponse{}},
		{http.MethodPost, "/campaigns/:id/pause", s.transitionHandler(store.CampaignPaused, "pausada por el propietario"), O, "Pause a running campaign", transitionRequest{}, campaignResponse{}},
		{http.MethodPost, "/campaigns/:id/resume", s.transitionHandler(store.CampaignRunning, "reanudada por el propietario"), O, "Resume a paused campaign", transitionRequest{}, campaignResponse{}},
		{http.MethodPost, "/campaigns/:id/cancel", s.transitionHandler(store.CampaignCancelled, "cancelada por el propietario"), O, "Cancel a campaign that has not finished", transitionRequest{}, campaignResponse{}},
		{http.MethodGet, "/campaigns/:id/progress", s.getCampaignProgress, A, "Live recipient counts per state", nil, progressResponse{}},
		{http.MethodGet, "/campaigns/:id/transitions", s.listCampaignTransitions, A, "The campaign's state transitions (who, why)", nil, listOf[store.CampaignTransitionRecord]{}},
		// reports and exports (api/reports.go, api/exports.go)
		{http.MethodGet, "/campaigns/:id/report", s.getCampaignReport, A, "Campaign report: frozen audience, funnel, failures by code (es/en titles), rates, latency percentiles, status timeline, billable messages, cost estimate with a rate card", nil, reports.CampaignReport{}},
		{http.MethodGet, "/templates/:id/report", s.getTemplateReport, A, "Template report per month: sends, delivery/read rates, failures by code, status and quality history", nil, reports.TemplateReport{}},
		{http.MethodGet, "/numbers/:id/report", s.getNumberReport, A, "Sender number report: messaging-limit budget per rolling 24 h, throughput, quality and phone-app history", nil, reports.NumberReport{}},
		{http.MethodGet, "/exports/campaigns/:id", s.getCampaignExport, A, "Export a campaign's recipients (CSV or XLSX, ?as_of=&attributes=); large exports answer 202 with a job", nil, nil},
		{http.MethodGet, "/exports/templates/:id", s.getTemplateExport, A, "Export the recipients of a template's campaigns in a period (CSV or XLSX); large exports answer 202 with a job", nil, nil},
		{http.MethodGet, "/exports/contacts", s.getContactsExport, M, "Export contacts with consent evidence, for audits (CSV or XLSX); large exports answer 202 with a job", nil, nil},
		{http.MethodPost, "/exports", s.postExport, A, "Run an export as a job (progress at /exports/{id}, file at /exports/{id}/download)", exportRequest{}, reports.Export{}},
		{http.MethodGet, "/exports", s.listExports, A, "List the workspace's job exports", nil, listOf[reports.Export]{}},
		{http.MethodGet, "/exports/:id", s.getExport, A, "An export's status and progress", nil, reports.Export{}},
		{http.MethodGet, "/exports/:id/download", s.downloadExport, A, "Download a completed export's file", nil, nil},
		// contacts and imports (api/contacts.go, api/imports.go)
		{http.MethodGet, "/contacts", s.listContacts, A, "List contacts (?q= name/email/phone, ?tag=, ?attribute=key=value, ?marketable=true|false, ?erased=true)", nil, listOf[store.Contact]{}},
		{http.MethodPost, "/contacts", s.createContact, M, "Create a contact (phone normalised with the workspace's country; consent only when documented)", contactRequest{}, store.Contact{}},
		{http.MethodGet, "/contacts/:id", s.getContact, A, "Read a contact, with marketable and why not", nil, store.Contact{}},
		{http.MethodPatch, "/contacts/:id", s.patchContact, M, "Edit a contact (attributes merged, null removes a key)", contactRequest{}, store.Contact{}},
		{http.MethodDelete, "/contacts/:id", s.deleteContact, O, "Erase a contact's personal data, for good (delivery counts are kept); owners only", nil, nil},
		{http.MethodPost, "/contacts/tags", s.postContactTags, M, "Add and remove tags on many contacts", tagsRequest{}, tagsResponse{}},
		{http.MethodPost, "/contacts/:id/opt-out", s.postContactOptOut, M, "Record a manual opt-out with a reason", consentChangeRequest{}, store.Contact{}},
		{http.MethodPost, "/contacts/:id/opt-in", s.postContactOptIn, M, "Record documented consent given again, with a reason", consentChangeRequest{}, store.Contact{}},
		{http.MethodGet, "/contacts/:id/consent", s.listContactConsent, A, "A contact's consent history (opt-ins, opt-outs, marketing stops)", nil, listOf[store.ConsentEvent]{}},
		{http.MethodPost, "/imports", s.postImport, M, "Upload an XLSX/CSV contact file (multipart field file; size limit configurable, default 100 MB): import record and preview", nil, uploadResponse{}},
		{http.MethodGet, "/imports", s.listImports, A, "List imports", nil, listOf[store.Import]{}},
		{http.MethodGet, "/imports/:id", s.getImport, A, "An import's status and progress (rows read/total, inserted, updated, rejected…)", nil, store.Import{}},
		{http.MethodGet, "/imports/:id/preview", s.getImportPreview, M, "Preview the uploaded file again (?sheet=&header_row=&encoding=&separator=): first 20 rows, guessed mapping", nil, importers.Preview{}},
		{http.MethodPost, "/imports/:id/confirm", s.postImportConfirm, M, "Confirm mapping, mode and consent declaration; queues the import job", confirmRequest{}, store.Import{}},
		{http.MethodPost, "/imports/:id/cancel", s.postImportCancel, M, "Cancel an import; a running one is rolled back entirely", nil, store.Import{}},
		{http.MethodGet, "/imports/:id/errors", s.getImportErrors, M, "Download the error report (?format=csv|xlsx): row, column, value, reason, original row", nil, nil},
		// webhooks: timeline and phone-app health (api/timeline.go, api/webhooks.go)
		{http.MethodGet, "/contacts/:id/timeline", s.getContactTimeline, A, "A contact's timeline: inbound messages, campaign sends with statuses, echoes, history", nil, timelineResponse{}},
		{http.MethodGet, "/numbers/:id/phone-app-health", s.getNumberPhoneAppHealth, A, "A number's health from webhooks: phone-app silence (coexistence), status, quality, limit, events", nil, store.PhoneAppHealth{}},
	}
}

// listOf is the envelope of every list response.
type listOf[T any] struct {
	Data       []T    `json:"data"`
	NextCursor *int64 `json:"next_cursor,omitempty"`
}

func (s *Server) mountRoutes(extra []Mount) error {
	e := s.e
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/api/openapi.json", s.getOpenAPI)
	e.GET("/metrics", s.metricsHandler())
	s.mountWebhooks(e)
	e.POST("/api/v1/auth/login", s.postLogin, middleware.BodyLimit("64K"))
	e.POST("/api/v1/auth/logout", s.postLogout)

	v1 := e.Group("/api/v1", middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{Limit: "2M", Skipper: skipsBodyLimit}), s.Authenticate)
	for _, r := range s.routes() {
		mw := []echo.MiddlewareFunc{RequireRole(r.role)}
		v1.Add(r.method, r.path, r.handler, mw...)
	}
	for _, m := range extra {
		h := echo.WrapHandler(m.Handler)
		var mw []echo.MiddlewareFunc
		if m.Role != "" {
			mw = append(mw, s.Authenticate, RequireRole(store.Role(m.Role)))
		}
		if m.Operator {
			mw = append(mw, s.Authenticate, s.requireOperator, withCaller(func(context.Context, *Principal) (bool, error) { return true, nil }))
		} else if m.Role != "" {
			mw = append(mw, withCaller(s.isOperator))
		}
		prefix := strings.TrimRight(m.Prefix, "/")
		e.Any(prefix, h, mw...)
		e.Any(prefix+"/*", h, mw...)
	}
	return nil
}
