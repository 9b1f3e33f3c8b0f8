// Package importers turns the spreadsheets marketers keep (XLSX and CSV exported from anything,
// Spanish headers in row 3, numbers typed every way, Windows-1252 with ";") into clean contacts.
//
// The layers, each usable on its own:
//
//   - Open gives a Source: a streaming row reader over an XLSX sheet (excelize's Rows iterator,
//     raw cell values, a bounded unzip size) or a CSV file (encoding and separator detected).
//   - DetectHeader and GuessMapping find the header row and say which column is the phone, the
//     name, the consent…; a Mapping can be overridden column by column (ParseMapSpec for the CLI).
//   - Preview reads the first rows of a file for the confirm screen.
//   - Run imports a file into a workspace: rows are read, normalised (package phone) and
//     validated in a pipeline running alongside the reading, and deduplicated in file order.
//     Contacts new to the workspace are streamed with binary COPY straight into contacts (ids
//     taken from its sequence), their opt_in consent events copied after each chunk; contacts
//     the workspace already has go through a temporary staging table and a set-based update
//     merge (direct.go, merge.go). Everything happens in one transaction, so a failed or
//     cancelled import leaves nothing behind.
package importers
