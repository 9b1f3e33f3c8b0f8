package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pregon/pregon/api"
	"github.com/pregon/pregon/store"
)

// Phone-app inactivity: Meta disconnects a coexistence number whose app stays closed about 14
// days; the dashboard warns from day 10.
const (
	phoneAppDisconnectDays = 14
	phoneAppWarnDays       = 10
)

type numberCard struct {
	store.SenderNumber
	PhoneDays  int // days since the phone app was last seen (-1: never)
	PhoneWarn  bool
	PhoneGone  bool
	DaysLeft   int
	BudgetUsed int64
}

type campaignCard struct {
	store.Campaign
	Progress progress
	Done     int64
	Pct      int
}

// progress is a campaign's recipients per state, from the live sharded counters.
type progress struct {
	Total     int64
	ByState   map[string]int64
	Remaining int64 // pending + queued + sending
	Held      int64 // of the sent, those Meta holds for template pacing (store.CampaignHeldCount)
}

type dashboardData struct {
	Numbers   []numberCard
	Limit     int
	Used      int64
	Remaining int
	ResetsAt  *time.Time // when the oldest counted recipient leaves the 24 h window
	Campaigns []campaignCard
}

func (u *ui) dashboard(c echo.Context) error {
	pg, err := u.newPage(c, "dashboard", "dash.title")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	ws := pg.Workspace
	nums, err := store.SenderNumberList(ctx, u.db, ws.ID)
	if err != nil {
		return err
	}
	remaining, resets, err := store.MessagingBudgetRemaining(ctx, u.db, ws.ID, u.now())
	if err != nil {
		return err
	}
	var used int64
	if ws.MessagingLimit >= 0 {
		used = int64(ws.MessagingLimit - remaining)
	}
	d := dashboardData{Limit: ws.MessagingLimit, Used: used, Remaining: remaining}
	if !resets.IsZero() {
		d.ResetsAt = &resets
	}
	for _, n := range nums {
		card := numberCard{SenderNumber: n, PhoneDays: pg.DaysSince(n.LastPhoneActivityAt), BudgetUsed: used}
		if n.Coexistence && card.PhoneDays >= phoneAppWarnDays {
			card.PhoneWarn = card.PhoneDays < phoneAppDisconnectDays
			card.PhoneGone = !card.PhoneWarn
			card.DaysLeft = phoneAppDisconnectDays - card.PhoneDays
		}
		d.Numbers = append(d.Numbers, card)
	}
	if d.Campaigns, err = u.activeCampaigns(ctx, ws.ID); err != nil {
		return err
	}
	pg.Data = d
	return u.render(c, http.StatusOK, "dashboard", pg)
}

// activeCampaigns lists running, paused and scheduled campaigns with their progress.
func (u *ui) activeCampaigns(ctx context.Context, workspaceID int64) ([]campaignCard, error) {
	var out []campaignCard
	for _, st := range []store.CampaignState{store.CampaignRunning, store.CampaignPaused, store.CampaignScheduled} {
		st := st
		cs, err := store.CampaignList(ctx, u.db, workspaceID, store.CampaignFilter{State: &st, Limit: 50})
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			card, err := u.campaignCard(ctx, c)
			if err != nil {
				return nil, err
			}
			out = append(out, card)
		}
	}
	return out, nil
}

func (u *ui) campaignCard(ctx context.Context, c store.Campaign) (campaignCard, error) {
	counts, err := store.CampaignCounts(ctx, u.db, c.WorkspaceID, c.ID)
	if err != nil {
		return campaignCard{}, err
	}
	held, err := store.CampaignHeldCount(ctx, u.db, c.WorkspaceID, c.ID)
	if err != nil {
		return campaignCard{}, err
	}
	p := progress{ByState: counts, Held: held}
	for st, n := range counts {
		p.Total += n
		if st == "pending" || st == "queued" || st == "sending" {
			p.Remaining += n
		}
	}
	card := campaignCard{Campaign: c, Progress: p, Done: p.Total - p.Remaining}
	total := p.Total
	if total == 0 {
		total = c.AudienceCount
	}
	if total > 0 {
		card.Pct = int(100 * card.Done / total)
	}
	return card, nil
}

// progressItem is one campaign in what the dashboard, the campaigns list and the campaign
// page poll (progressJSON).
type progressItem struct {
	ID        int64            `json:"id"`
	State     string           `json:"state"`
	StateText string           `json:"state_text"`
	Total     int64            `json:"total"`
	Done      int64            `json:"done"`
	Pct       int              `json:"pct"`
	Text      string           `json:"text"`
	ByState   map[string]int64 `json:"by_state"`
	Funnel    map[string]int64 `json:"funnel"` // cumulative: read ones are also delivered and sent
	Wait      string           `json:"wait_reason,omitempty"`
	Pause     string           `json:"pause_reason,omitempty"`
	Held      int64            `json:"held"`
	HeldText  string           `json:"held_text,omitempty"`
}

// activeItem is a campaign that may still change, as progressJSON lists them for pages that
// watch for campaigns starting or changing state.
type activeItem struct {
	ID    int64  `json:"id"`
	State string `json:"state"`
}

// progressJSON answers GET /ui/progress.json?id=1&id=2: the state and counts of the campaigns
// named (the workspace's only), final ones included, so a page sees its campaigns finish; and
// under "active", the id and state of every scheduled, running and paused campaign of the
// workspace, so a page sees new ones start. Without ?id= the campaigns are the active ones.
// maxProgressIDs caps the campaigns one progress poll asks for: each costs a few queries, and a
// page shows at most a page of cards (50) plus the active ones.
const maxProgressIDs = 500

func (u *ui) progressJSON(c echo.Context) error {
	ctx := c.Request().Context()
	p := api.PrincipalOf(c)
	lang := langOf(c)
	var cards []campaignCard
	if ids := c.QueryParams()["id"]; len(ids) > 0 {
		if len(ids) > maxProgressIDs {
			return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("a lo sumo %d campañas por consulta", maxProgressIDs))
		}
		seen := map[int64]bool{}
		for _, s := range ids {
			var id int64
			if _, err := fmt.Sscan(s, &id); err != nil || seen[id] {
				continue
			}
			seen[id] = true
			cp, err := store.CampaignGetByID(ctx, u.db, p.WorkspaceID, id)
			if errors.Is(err, store.ErrNotFound) {
				continue // gone, or another workspace's
			}
			if err != nil {
				return err
			}
			card, err := u.campaignCard(ctx, cp)
			if err != nil {
				return err
			}
			cards = append(cards, card)
		}
	} else {
		var err error
		if cards, err = u.activeCampaigns(ctx, p.WorkspaceID); err != nil {
			return err
		}
	}
	out := make([]progressItem, 0, len(cards))
	for _, cd := range cards {
		total := cd.Progress.Total
		if total == 0 {
			total = cd.AudienceCount
		}
		it := progressItem{
			ID: cd.ID, State: string(cd.State), StateText: translate(lang, "state."+string(cd.State)),
			Total: total, Done: cd.Done, Pct: cd.Pct, ByState: cd.Progress.ByState,
			Text:   translate(lang, "dash.progress_text", groupDigits(cd.Done, lang), groupDigits(total, lang)),
			Funnel: liveFunnel(cd.Progress.ByState, total), Wait: cd.WaitReason, Pause: cd.PauseReason,
			Held: cd.Progress.Held,
		}
		if it.Held > 0 {
			it.HeldText = translate(lang, "camp.held", groupDigits(it.Held, lang))
		}
		out = append(out, it)
	}
	active := []activeItem{}
	for _, st := range []store.CampaignState{store.CampaignRunning, store.CampaignPaused, store.CampaignScheduled} {
		cs, err := store.CampaignList(ctx, u.db, p.WorkspaceID, store.CampaignFilter{State: &st, Limit: 500})
		if err != nil {
			return err
		}
		for _, cp := range cs {
			active = append(active, activeItem{ID: cp.ID, State: string(cp.State)})
		}
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]any{"campaigns": out, "active": active, "at": u.now().UTC().Format(time.RFC3339)})
}

// liveFunnel turns recipient counts per state into the funnel's cumulative steps.
func liveFunnel(by map[string]int64, audience int64) map[string]int64 {
	return map[string]int64{
		"audience":  audience,
		"sent":      by["sent"] + by["delivered"] + by["read"],
		"delivered": by["delivered"] + by["read"],
		"read":      by["read"],
		"failed":    by["failed"],
		"skipped":   by["skipped"],
	}
}
