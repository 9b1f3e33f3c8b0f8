// Segment builder: edits the definition JSON (hidden field "definition") through groups and
// conditions, and previews the audience live through POST /api/v1/segments/preview. The
// server validates the definition on save; its problems come back with JSON paths that are
// shown next to the matching condition.
(function () {
  "use strict";
  var root = document.getElementById("builder");
  var hidden = document.getElementById("f-definition");
  if (!root || !hidden) return;
  var L = JSON.parse(root.dataset.labels || "{}");
  var readonly = root.dataset.readonly !== undefined;
  var CAMPAIGNS = JSON.parse(root.dataset.campaigns || "null") || [];
  function t(k) { return L[k] || k; }

  var FIELDS = ["tags", "attribute", "name", "country", "country_code", "language", "consent_source", "import_id",
    "created_at", "updated_at", "consent_at", "last_inbound_at", "engagement"];
  var DATE_OPS = ["before", "after", "between", "in_last", "exists"];
  function opsFor(c) {
    switch (c.field) {
      case "name": return ["eq", "neq", "contains", "starts_with", "exists"];
      case "tags": return ["has_any", "has_all", "has_none"];
      case "created_at": case "updated_at": case "consent_at": case "last_inbound_at": return DATE_OPS;
      case "engagement": return ["received", "delivered", "read", "failed", "replied", "not_read"];
      case "attribute":
        switch (c.type) {
          case "number": return ["eq", "neq", "gt", "gte", "lt", "lte", "between", "in", "not_in", "exists"];
          case "date": return ["before", "after", "between", "in_last", "in_next", "exists"];
          case "bool": return ["eq", "neq", "exists"];
        }
        return ["eq", "neq", "contains", "starts_with", "in", "not_in", "exists"];
    }
    return ["eq", "in", "not_in"];
  }
  var LIST_OPS = { "in": 1, "not_in": 1, "has_any": 1, "has_all": 1, "has_none": 1 };

  // ---- model <-> JSON ----
  // A group is {kind: "all"|"any"|"none", items: [...]}; a condition is {cond: {...}}.
  function fromJSON(n) {
    if (!n || typeof n !== "object") return { kind: "all", items: [] };
    if (n.all) return { kind: "all", items: n.all.map(fromJSON) };
    if (n.any) return { kind: "any", items: n.any.map(fromJSON) };
    if (n.not) {
      var inner = fromJSON(n.not);
      if (inner.cond) return { kind: "none", items: [inner] };
      return { kind: "none", items: inner.items };
    }
    if (n.field) return { cond: n };
    return { kind: "all", items: [] };
  }
  function toJSON(g) {
    if (g.cond) return g.cond;
    var items = g.items.map(toJSON);
    if (g.kind === "any") return { any: items };
    if (g.kind === "none") return { not: { any: items } };
    return { all: items };
  }

  var model;
  try { model = fromJSON(JSON.parse(hidden.value || "{}")); } catch (e) { model = { kind: "all", items: [] }; }
  if (model.cond) model = { kind: "all", items: [model] };

  // ---- rendering ----
  function el(tag, attrs, kids) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") e.textContent = attrs[k];
      else if (k.slice(0, 2) === "on") e.addEventListener(k.slice(2), attrs[k]);
      else e.setAttribute(k, attrs[k]);
    });
    (kids || []).forEach(function (k) { if (k) e.appendChild(k); });
    if (readonly && (tag === "input" || tag === "select" || tag === "button")) e.disabled = true;
    return e;
  }
  var uid = 0;
  function labelled(labelText, control) {
    var id = "sb-" + (++uid);
    control.id = id;
    return el("span", { "class": "sb-field" }, [el("label", { "for": id, "class": "visually-hidden", text: labelText }), control]);
  }
  function select(options, value, onchange, labelKey) {
    var s = el("select", { onchange: function () { onchange(s.value); } });
    options.forEach(function (o) {
      var opt = el("option", { value: o[0], text: o[1] });
      if (String(o[0]) === String(value)) opt.selected = true;
      s.appendChild(opt);
    });
    return labelled(t(labelKey), s);
  }
  function input(value, onchange, labelKey, attrs) {
    var a = Object.assign({ value: value == null ? "" : value, oninput: function () { onchange(i.value); } }, attrs || {});
    var i = el("input", a);
    return labelled(t(labelKey), i);
  }

  function valueText(v) { return Array.isArray(v) ? v.join(", ") : (v == null ? "" : String(v)); }
  function parseValue(c, s) {
    var num = c.field === "import_id" || (c.field === "attribute" && c.type === "number");
    if (LIST_OPS[c.op]) {
      var parts = s.split(",").map(function (x) { return x.trim(); }).filter(Boolean);
      return num ? parts.map(Number) : parts;
    }
    if (c.op === "in_last" || c.op === "in_next") return s === "" ? "" : Number(s);
    if (num && s !== "" && !isNaN(Number(s))) return Number(s);
    return s;
  }

  function condRow(node, parent, path) {
    var c = node.cond;
    var row = el("div", { "class": "cond", "data-path": path });
    function redraw() { render(); changed(); }
    row.appendChild(select(FIELDS.map(function (f) { return [f, t("seg.f." + f)]; }), c.field, function (v) {
      node.cond = { field: v, op: opsFor({ field: v, type: "text" })[0] };
      if (v === "attribute") node.cond.type = "text";
      redraw();
    }, "seg.field"));
    if (c.field === "attribute") {
      row.appendChild(input(c.key, function (v) { c.key = v; changed(); }, "seg.key", { placeholder: "ciudad", size: 10 }));
      row.appendChild(select(["text", "number", "date", "bool"].map(function (x) { return [x, t("seg.t." + x)]; }), c.type || "text",
        function (v) { c.type = v; c.op = opsFor(c)[0]; delete c.value; redraw(); }, "seg.type"));
    }
    var ops = opsFor(c);
    if (ops.indexOf(c.op) < 0) c.op = ops[0];
    row.appendChild(select(ops.map(function (o) { return [o, t("seg.o." + o)]; }), c.op, function (v) {
      var wasList = !!LIST_OPS[c.op];
      c.op = v;
      if (wasList !== !!LIST_OPS[v] || v === "between" || v === "exists") delete c.value;
      redraw();
    }, "seg.op"));
    if (c.field === "engagement") {
      if (CAMPAIGNS.length) {
        var opts = [["", t("seg.any_campaign")]].concat(CAMPAIGNS.map(function (k) { return [k.id, k.name + " (#" + k.id + ")"]; }));
        if (c.campaign_id && !CAMPAIGNS.some(function (k) { return k.id === c.campaign_id; })) opts.push([c.campaign_id, "#" + c.campaign_id]);
        row.appendChild(select(opts, c.campaign_id || "", function (v) { if (v) c.campaign_id = Number(v); else delete c.campaign_id; changed(); }, "seg.campaign_id"));
      } else {
        row.appendChild(input(c.campaign_id || "", function (v) { if (v) c.campaign_id = Number(v); else delete c.campaign_id; changed(); }, "seg.campaign_id", { type: "number", min: "1", placeholder: t("seg.campaign_id") }));
      }
      row.appendChild(input(c.days || "", function (v) { if (v) c.days = Number(v); else delete c.days; changed(); }, "seg.days", { type: "number", min: "1", placeholder: t("seg.days") }));
    } else if (c.op === "exists" || (c.field === "attribute" && c.type === "bool")) {
      if (c.value === undefined) c.value = true;
      row.appendChild(select([["true", t("seg.yes")], ["false", t("seg.no")]], String(c.value), function (v) { c.value = v === "true"; changed(); }, "seg.value"));
    } else if (c.op === "between") {
      var pair = Array.isArray(c.value) ? c.value : ["", ""];
      c.value = pair;
      var typ = (c.field === "attribute" && c.type === "number") ? "number" : (c.field === "attribute" && c.type !== "date" ? "text" : "date");
      row.appendChild(input(pair[0], function (v) { pair[0] = typ === "number" ? Number(v) : v; changed(); }, "seg.value", { type: typ }));
      row.appendChild(el("span", { text: t("seg.value2") }));
      row.appendChild(input(pair[1], function (v) { pair[1] = typ === "number" ? Number(v) : v; changed(); }, "seg.value2", { type: typ }));
    } else {
      var attrs = { placeholder: LIST_OPS[c.op] ? t("seg.list_help") : "" };
      if (c.op === "in_last" || c.op === "in_next") { attrs.type = "number"; attrs.min = "1"; }
      else if (DATE_OPS.indexOf(c.op) >= 0 && c.field !== "attribute" || (c.field === "attribute" && c.type === "date" && (c.op === "before" || c.op === "after"))) attrs.type = "date";
      row.appendChild(input(valueText(c.value), function (v) { c.value = parseValue(c, v); changed(); }, "seg.value", attrs));
    }
    row.appendChild(el("button", { type: "button", "class": "btn small danger", text: "✕", "aria-label": t("seg.remove"),
      onclick: function () { parent.items.splice(parent.items.indexOf(node), 1); redraw(); } }));
    return row;
  }

  function groupBox(g, parent, path) {
    var box = el("div", { "class": "group", "data-path": path, role: "group" });
    var head = el("div", { "class": "builder-bar" });
    head.appendChild(select([["all", t("seg.match_all")], ["any", t("seg.match_any")], ["none", t("seg.match_none")]], g.kind,
      function (v) { g.kind = v; render(); changed(); }, "seg.group"));
    if (parent) {
      head.appendChild(el("button", { type: "button", "class": "btn small danger", text: t("seg.remove"),
        onclick: function () { parent.items.splice(parent.items.indexOf(g), 1); render(); changed(); } }));
    }
    box.appendChild(head);
    var key = g.kind === "any" ? "any" : (g.kind === "none" ? "not.any" : "all");
    if (!g.items.length && !parent) box.appendChild(el("p", { "class": "muted", text: t("seg.empty") }));
    g.items.forEach(function (it, i) {
      var p = path + "." + key + "[" + i + "]";
      box.appendChild(it.cond ? condRow(it, g, p) : groupBox(it, g, p));
    });
    var bar = el("div", { "class": "builder-bar" });
    bar.appendChild(el("button", { type: "button", "class": "btn small add-condition", text: t("seg.add_cond"),
      onclick: function () { g.items.push({ cond: { field: "tags", op: "has_any", value: [] } }); render(); changed(); } }));
    if (path.split("[").length < 5) {
      bar.appendChild(el("button", { type: "button", "class": "btn small add-group", text: t("seg.add_group"),
        onclick: function () { g.items.push({ kind: "any", items: [{ cond: { field: "country", op: "in", value: [] } }] }); render(); changed(); } }));
    }
    if (!readonly) box.appendChild(bar);
    return box;
  }

  function render() {
    var focus = document.activeElement && root.contains(document.activeElement) ? document.activeElement.id : null;
    root.textContent = "";
    uid = 0;
    root.appendChild(groupBox(model, null, "$"));
    markProblems();
    if (focus && document.getElementById(focus)) document.getElementById(focus).focus();
  }

  // nodeFor is the builder's closest node to a problem's path ("definition.all[0].value").
  function nodeFor(path) {
    var p = String(path || "").replace(/^definition/, "$"), best = null;
    root.querySelectorAll("[data-path]").forEach(function (n) {
      var np = n.dataset.path;
      if ((p === np || p.indexOf(np + ".") === 0 || p.indexOf(np + "[") === 0) && (!best || np.length > best.dataset.path.length)) best = n;
    });
    return best;
  }

  // Problems from the server (list items with data-path) are shown under the closest node.
  function markProblems() {
    document.querySelectorAll("#definition-problems li[data-path]").forEach(function (li) {
      var best = nodeFor(li.dataset.path);
      if (best) {
        best.classList.add("has-error");
        best.appendChild(el("p", { "class": "field-error", text: li.textContent }));
      }
    });
  }

  // The live preview's problems: in the preview panel, each with the field of its condition,
  // and under the condition itself; cleared by the next preview.
  function showPreviewProblems(message, problems) {
    root.querySelectorAll(".field-error[data-live]").forEach(function (p) { p.remove(); });
    root.querySelectorAll("[data-live-error]").forEach(function (n) { n.classList.remove("has-error"); delete n.dataset.liveError; });
    var box = document.getElementById("preview-error");
    if (!message && !problems.length) { if (box) box.hidden = true; return; }
    if (!box) {
      box = el("div", { id: "preview-error", "class": "flash flash-error", role: "alert" });
      var h = panel.querySelector("h2");
      panel.insertBefore(box, h ? h.nextSibling : panel.firstChild);
    }
    box.textContent = "";
    box.hidden = false;
    box.appendChild(el("p", { text: message || "" }));
    var ul = el("ul", { "class": "problems" });
    problems.forEach(function (pr) {
      var node = nodeFor(pr.path), label = "";
      if (node) {
        var fieldSel = node.classList.contains("cond") && node.querySelector("select");
        if (fieldSel && fieldSel.selectedIndex >= 0) label = fieldSel.options[fieldSel.selectedIndex].text;
        var key = node.classList.contains("cond") && node.querySelector("input");
        if (label && key && key.value && fieldSel.value === "attribute") label += " " + key.value;
        if (!node.classList.contains("has-error")) { node.classList.add("has-error"); node.dataset.liveError = "1"; }
        node.appendChild(el("p", { "class": "field-error", "data-live": "1", text: pr.message }));
      }
      ul.appendChild(el("li", { "data-path": pr.path, text: (label ? label + ": " : "") + pr.message }));
    });
    if (problems.length) box.appendChild(ul);
  }

  // ---- sync and live preview ----
  var timer = null;
  function changed() {
    hidden.value = JSON.stringify(toJSON(model));
    clearTimeout(timer);
    timer = setTimeout(preview, 400);
  }
  var panel = document.getElementById("seg-preview");
  var form = document.getElementById("segment-form");
  function preview() {
    if (!panel) return;
    var csrf = form && form.querySelector('input[name="csrf_token"]');
    fetch(panel.dataset.previewUrl, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf ? csrf.value : "" },
      body: JSON.stringify({ definition: JSON.parse(hidden.value) })
    }).then(function (r) { return r.json().then(function (j) { return { ok: r.ok, j: j }; }); })
      .then(function (res) {
        var lang = document.documentElement.lang === "en" ? "en" : "es-CO";
        var eligible = document.getElementById("eligible");
        if (!res.ok) {
          eligible.textContent = "—";
          panel.dataset.error = res.j.message || "";
          var probs = Array.isArray(res.j.details) ? res.j.details : [];
          // the message repeats the problems with their raw paths: the list says them better
          showPreviewProblems(probs.length ? t("seg.preview_failed") : (res.j.message || t("seg.preview_failed")), probs);
          return;
        }
        var p = res.j;
        panel.dataset.error = "";
        showPreviewProblems("", []);
        eligible.textContent = Number(p.eligible).toLocaleString(lang);
        document.getElementById("broadcast-warning").hidden = !p.broadcast;
        var ex = document.getElementById("excluded");
        ex.textContent = "";
        Object.keys(p.excluded || {}).sort().forEach(function (k) {
          var li = el("li", { "data-reason": k }, [document.createTextNode(t("excl." + k) + ": "), el("strong", { text: Number(p.excluded[k]).toLocaleString(lang) })]);
          ex.appendChild(li);
        });
        var sm = document.getElementById("sample");
        sm.textContent = "";
        (p.sample || []).forEach(function (c) {
          sm.appendChild(el("li", {}, [el("a", { href: "/contacts/" + c.id, text: c.name || c.phone_e164 }), document.createTextNode(" "),
            el("span", { "class": "muted mono", text: c.phone_e164 })]));
        });
        panel.dataset.updated = String(Date.now());
      }).catch(function () {});
  }

  render();
  hidden.value = JSON.stringify(toJSON(model));
  preview();
})();
