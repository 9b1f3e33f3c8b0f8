// Package reports answers "what happened" for analysts: campaign, template and sender-number
// metrics, and the exports (CSV and XLSX) of recipients and contacts. It reads the tables the
// campaign, webhook and contact code write and never changes them; it imports nothing from Echo
// or River, so the API, the export job and the CLI share the same code.
//
// # Reproducible exports
//
// An export is a pure function of its ExportSpec (kind, subject, format, attributes and AsOf)
// and of facts that never change once written: the audience frozen at launch (recipients) and
// the append-only status events. Each recipient's sent, delivered, read and failed times and its
// state come from the status events that occurred at or before AsOf, never from the recipient's
// mutable columns; a wamid is shown only once an event for it is visible. Write-once timestamps
// (a synchronous send failure's failed_at, replied_at, opted_out_at, consent times) count only
// when they are at or before AsOf. The contact's name and attributes are its current values, so
// an erased contact stays erased in every later export. XLSX files carry AsOf as their creation
// and modification dates and are zipped without entry timestamps, so re-running an export gives
// identical bytes in both formats.
//
// In CSV, free text people typed (names, attributes, consent text and sources) that a spreadsheet
// would take for a formula ("=…", "@…", "+A1…", "-1+HYPERLINK(…)") is prefixed with an
// apostrophe; XLSX cells are plain strings and need no such care. Phone numbers and signed
// numbers (a sign followed only by digits, spaces, '.', ',', '(' and ')') are never altered.
//
// Local-time columns use the workspace's time zone (real Excel dates in XLSX,
// "2006-01-02 15:04:05" in CSV); every time also has an ISO 8601 UTC column (…_utc).
//
// # Rate card (PREGON_RATE_CARD)
//
// Cost estimates appear only when the operator configures a rate card; without one, reports
// show counts only, never invented prices. The rate card is a CSV file with a header row and
// these columns (any order, extra columns ignored):
//
//		country_code,category,price,currency,effective_from
//		CO,marketing,0.0125,USD,2025-07-01
//		CO,utility,0.0008,USD,2025-07-01
//		MX,marketing,0.0305,USD,2025-07-01
//		*,authentication-international,0.0220,USD,2025-07-01
//
//	  - country_code: the recipient's ISO 3166-1 alpha-2 region (as stored on the contact), or
//	    its calling code without "+" (57, 52…), or "*" for every country without its own row.
//	  - category: Meta's pricing category as the status webhooks report it (marketing,
//	    marketing_lite, utility, authentication, authentication-international, service,
//	    referral_conversion).
//	  - price: the price of one billable (delivered) message, a decimal with a dot.
//	  - currency: ISO 4217 code (USD, COP, MXN…); totals are given per currency.
//	  - effective_from: YYYY-MM-DD (UTC). A message is priced with the row of its country and
//	    category with the latest effective_from on or before the day it was sent.
//
// Only messages the webhooks marked billable are priced; messages with no matching row are
// counted as unpriced rather than guessed.
package reports
