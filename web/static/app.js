// Pregón admin UI: small progressive enhancements. Every page works without this file.
(function () {
  "use strict";

  // num formats a count as the server does: "1.234" in Spanish ("es" alone leaves 4-digit
  // numbers ungrouped, so the Colombian variant), "1,234" in English.
  function num(n) {
    return Number(n || 0).toLocaleString(document.documentElement.lang === "en" ? "en" : "es-CO");
  }

  function onReady(fn) {
    if (document.readyState !== "loading") fn(); else document.addEventListener("DOMContentLoaded", fn);
  }

  // Confirm destructive forms: <form data-confirm="…">.
  document.addEventListener("submit", function (e) {
    var f = e.target;
    if (f.dataset && f.dataset.confirm && !window.confirm(f.dataset.confirm)) e.preventDefault();
  });

  onReady(function () {
    // Select-to-submit (workspace switch).
    document.querySelectorAll("select[data-autosubmit]").forEach(function (s) {
      s.addEventListener("change", function () { s.form.submit(); });
    });
    // After a failed submit, put the keyboard on the first field in error.
    var bad = document.querySelector('[aria-invalid="true"]');
    if (bad) bad.focus();
    // Select a shown-once secret for copying.
    document.querySelectorAll("input[data-select]").forEach(function (i) { i.focus(); i.select(); });
    pollProgress();
    variableSources();
    dropzone();
    importPoll();
    reloadWhileRunning();
    mappingTable();
  });

  // Drag & drop onto the upload zone fills the plain file input, so the form posts as usual.
  function dropzone() {
    var zone = document.querySelector("[data-dropzone]");
    if (!zone) return;
    var input = zone.querySelector('input[type="file"]');
    var name = zone.querySelector("[data-filename]");
    function show() { if (name && input.files.length) name.textContent = input.files[0].name; }
    input.addEventListener("change", show);
    ["dragenter", "dragover"].forEach(function (t) {
      zone.addEventListener(t, function (e) { e.preventDefault(); zone.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (t) {
      zone.addEventListener(t, function (e) { e.preventDefault(); zone.classList.remove("over"); });
    });
    zone.addEventListener("drop", function (e) {
      if (e.dataTransfer && e.dataTransfer.files.length) { input.files = e.dataTransfer.files; show(); }
    });
  }

  // Import progress: polls the REST API (the session cookie authenticates GETs) and reloads the
  // page when the import ends, to show the result.
  function importPoll() {
    var box = document.querySelector("[data-import-poll]");
    if (!box) return;
    var st = box.dataset.status;
    if (st === "completed" || st === "failed" || st === "cancelled") return;
    var fmt = num;
    function tick() {
      fetch(box.dataset.importPoll, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
        .then(function (imp) {
          var pct = imp.rows_total > 0 ? Math.min(100, Math.floor(100 * imp.rows_read / imp.rows_total)) : 0;
          var bar = box.querySelector("progress");
          if (bar) { bar.value = pct; bar.textContent = pct + "%"; }
          var rows = box.querySelector('[data-field="rows"]');
          if (rows) rows.textContent = rows.textContent.replace(/^[\d.,]+/, fmt(imp.rows_read)).replace(/[\d.,]+(\D*)$/, fmt(imp.rows_total) + "$1");
          ["inserted", "updated", "unchanged", "duplicates", "without_consent", "rejected"].forEach(function (k) {
            var el = box.querySelector('[data-count="' + k + '"]');
            if (el) el.textContent = fmt(imp[k]);
          });
          if (imp.status === "completed" || imp.status === "failed" || imp.status === "cancelled") { window.location.reload(); return; }
          setTimeout(tick, 1000);
        })
        .catch(function () { setTimeout(tick, 3000); });
    }
    setTimeout(tick, 500);
  }

  // Pages listing background work (exports) reload while some of it runs.
  function reloadWhileRunning() {
    var box = document.querySelector("[data-reload-while-running]");
    if (!box) return;
    setTimeout(function () { window.location.reload(); }, Number(box.dataset.reloadWhileRunning) || 3000);
  }

  // Mapping table: the attribute key and type only apply to attribute columns.
  function mappingTable() {
    document.querySelectorAll("table.mapping tr[data-column]").forEach(function (tr) {
      var kind = tr.querySelector("select[data-kind]");
      if (!kind) return;
      function sync() {
        tr.querySelectorAll("[data-attr]").forEach(function (el) { el.disabled = kind.value !== "attribute"; });
      }
      kind.addEventListener("change", sync);
      sync();
    });
  }

  // Campaign variables: show only the input that matches the chosen source.
  function variableSources() {
    document.querySelectorAll("fieldset.variable").forEach(function (fs) {
      var sel = fs.querySelector("select[data-source]");
      if (!sel) return;
      function sync() {
        fs.querySelectorAll("[data-for]").forEach(function (f) { f.hidden = f.dataset.for !== sel.value; });
      }
      sel.addEventListener("change", sync);
      sync();
    });
  }

  // Live progress: an element with data-poll="<url>" containing [data-campaign] cards (each
  // with its data-state) refreshes the cards of campaigns that may still change (scheduled,
  // running, paused) every few seconds from the JSON endpoint, which answers for the ids asked
  // even once they are final. With data-reload-when-done the page reloads when a campaign's
  // state changes (the campaign page: its actions and report change); with data-watch-active
  // it reloads when a campaign it does not show starts or changes state (the dashboard).
  var ACTIVE = { scheduled: true, running: true, paused: true };
  function pollProgress() {
    var box = document.querySelector("[data-poll]");
    if (!box) return;
    var reloadOnChange = box.dataset.reloadWhenDone !== undefined;
    var watch = box.dataset.watchActive !== undefined;
    var known = null; // id → state of the active campaigns the page was shown with
    function card(id) { return box.querySelector('[data-campaign="' + id + '"]'); }
    function address() {
      var ids = [];
      box.querySelectorAll("[data-campaign]").forEach(function (el) {
        if (ACTIVE[el.dataset.state]) ids.push("id=" + encodeURIComponent(el.dataset.campaign));
      });
      if (!ids.length && !watch) return "";
      var u = box.dataset.poll;
      return u + (u.indexOf("?") < 0 ? "?" : "&") + (ids.length ? ids.join("&") : "id=");
    }
    function reload() { window.location.reload(); }
    function tick() {
      var url = address();
      if (!url) return; // nothing left that can change
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
        .then(function (data) {
          var changed = false;
          (data.campaigns || []).forEach(function (c) {
            var el = card(c.id);
            if (!el) return;
            if (el.dataset.state && el.dataset.state !== c.state) changed = true;
            el.dataset.state = c.state;
            var bar = el.querySelector("progress");
            if (bar) { bar.value = c.pct; bar.textContent = c.pct + "%"; }
            var st = el.querySelector('[data-field="state"]');
            if (st) { st.textContent = c.state_text; st.className = "badge state-" + c.state; }
            var tx = el.querySelector('[data-field="text"]');
            if (tx) tx.textContent = c.text;
            var rs = el.querySelector('[data-field="reason"]');
            if (rs) rs.textContent = c.pause_reason || c.wait_reason || "";
            var hd = el.querySelector('[data-field="held"]');
            if (hd) { hd.textContent = c.held_text || ""; hd.hidden = !c.held; }
            Object.keys(c.by_state || {}).forEach(function (k) {
              var n = el.querySelector('[data-count="' + k + '"]');
              if (n) n.textContent = num(c.by_state[k]);
            });
            var ft = el.dataset.funnelTarget && document.querySelector(el.dataset.funnelTarget);
            if (ft && c.funnel) {
              var base = Math.max(c.funnel.audience || 0, 1);
              Object.keys(c.funnel).forEach(function (k) {
                var li = ft.querySelector('li[data-step="' + k + '"]');
                if (!li) return;
                var n = li.querySelector(".n");
                if (n) n.textContent = num(c.funnel[k]);
                var r = li.querySelector("rect[class]");
                if (r) r.setAttribute("width", Math.floor(100 * c.funnel[k] / base));
              });
            }
          });
          box.dataset.updated = data.at;
          if (reloadOnChange && changed) { reload(); return; }
          if (watch) {
            var first = known === null, now = {}, fresh = false;
            (data.active || []).forEach(function (a) {
              now[a.id] = a.state;
              var el = card(a.id);
              var was = el ? el.dataset.state : (first ? a.state : known[a.id]);
              if (was !== a.state) fresh = true;
            });
            known = now;
            if (fresh) { reload(); return; }
          }
          setTimeout(tick, 2000);
        })
        .catch(function () { setTimeout(tick, 5000); });
    }
    setTimeout(tick, 1000);
  }

  window.Pregon = { onReady: onReady, num: num };
})();
