// Package whatsapp is Pregón's client for the WhatsApp Business Cloud API (Graph API v23.0 by
// default): sending template and text messages, listing and unpausing templates, reading a
// sender number's throughput, quality and messaging limit.
//
// It also holds what the rest of Pregón needs to understand Meta's answers:
//
//   - *Error, parsed from Graph error bodies (and built for network failures and bare 5xx), and
//     Classify, which says whether to retry, fail the recipient, stop the campaign or halt the
//     sender number; ErrorTitle gives a Spanish or English title for every documented code.
//   - Webhook payload types and ParseWebhook, tolerant of the shapes Meta has used over time
//     (numbers as strings, unknown fields and enum values, many entries and changes per body).
//   - VerifySignature / Sign for the X-Hub-Signature-256 header and VerifyChallenge for the GET
//     subscription handshake.
//
// The facts behind this package are collected in shared/design/WHATSAPP.md; the subpackage sim
// is a Cloud API simulator that speaks the same protocol.
package whatsapp
