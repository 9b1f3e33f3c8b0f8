// Package sim is a faithful, deterministic simulator of the WhatsApp Business Cloud API for
// development, tests, demos and load tests. A *Simulator is an http.Handler serving the paths
// whatsapp.Client calls:
//
//	POST /{version}/{phone_number_id}/messages
//	GET  /{version}/{waba_id}/message_templates   (paged with limit / after)
//	POST /{version}/{template_id}/unpause
//	GET  /{version}/{phone_number_id}?fields=…
//
// It enforces what Meta enforces: bearer tokens (401, code 190), a per-number token bucket
// (80 / 1000 mps, 20 for coexistence numbers, or an override) answering 130429 — inbound
// messages and phone-app echoes take its tokens too, without ever being refused — the pair rate
// limit (1 message per 6 s per recipient with a burst of 45) answering 131056, template
// existence, status and parameters (132001, 132000, 132012, 132005, 132015, 132016), and a
// per-WABA budget of unique recipients per rolling 24 h (the messaging limit).
//
// Messaging-limit overflow: Meta documents no error for it, so the simulator accepts the send
// (HTTP 200, as Meta appears to) and then reports it failed through a status webhook with code
// 131049 (the closest real behaviour: "not delivered to maintain healthy ecosystem
// engagement"); Stats.OverBudget counts these sends.
//
// Free-form text outside the recipient's 24 h service window (opened by an inbound message) is
// accepted and then fails with 131047 in its status webhook.
//
// Accepted messages produce signed (X-Hub-Signature-256) status webhooks — sent, then
// delivered/read or failed with a configurable code mix — batched several per POST, with
// string timestamps, pricing on sent and on delivered (or read), biz_opaque_callback_data
// echoed, optional duplicates and reordering, and retries with growing gaps (up to a minute)
// for as long as WebhookConfig.MaxAge (24 h by default; Meta retries for up to 7 days) when the
// receiver does not answer 2xx. Users may reply: opt-out words (BAJA, STOP, no más), ordinary text, or a tap
// on the template's quick-reply button carrying the payload that was sent and context.id = the
// campaign message's wamid.
//
// Users are named as Meta names them since usernames (2026): each has a stable business-scoped
// user id (BSUID, "CO.1349120865530274", from the seed and the phone; UserID) that statuses
// carry as recipient_user_id and in contacts[].user_id (not failed ones), and inbound messages
// as from_user_id and contacts[].user_id. A share of users (Config.UsernameShare, default none)
// adopted a username: their messages omit from and wa_id unless the number exchanged messages
// with their phone in the last 30 days; Inbound.UserID sends such a message by BSUID alone.
//
// Templates under pacing (SetTemplatePacing) answer "held_for_quality_assessment" and hold
// their messages until ReleaseHeld, or drop them with 132015 failed statuses when paused.
//
// A control API under /_sim/ (mirrored by Go methods) changes template quality and status
// (emitting the matching webhooks and applying the pause ladder), emits number and coexistence
// events, injects faults and reports statistics; Control serves it alone, asking an authorizer
// before every call what it may act on (a number, a WABA, or the whole simulator), for when
// several parties share one simulator. Everything random derives from Config.Seed and
// the message's identity, so a sequential run replays identically.
package sim
