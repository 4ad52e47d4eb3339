// SmartGrowth CRM dashboard: plain JavaScript, no build step, no CDN. It reads the same
// query API an analyst would, with the token typed above (kept in this tab's sessionStorage).
"use strict";

const STAGES = ["selected", "trained", "met", "piloting", "agreement"];
const TARGET_LABELS = {
  smes_on_export_missions: "SMEs on (digital) export missions",
  sales_agreements: "Sales agreements",
  sales_agreement_markets: "Markets with a sales agreement",
};
const PARTNER_COLUMNS = ["smes_selected", "smes_withdrawn", "smes_in_matchmaking", "pilots_in_discussion", "pilots_stalled"];

const $ = (selector) => document.querySelector(selector);

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function svg(tag, attributes = {}, text) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

async function api(path) {
  const token = sessionStorage.getItem("crm-token") || "";
  const response = await fetch(path, { headers: { Authorization: `Bearer ${token}`, Accept: "application/json" } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const message = body.detail || body.message || response.statusText;
    throw new Error(`${response.status}: ${typeof message === "string" ? message : JSON.stringify(message)}`);
  }
  return body;
}

async function allPages(path) {
  const items = [];
  let next = null;
  do {
    const page = await api(next ? `${path}${path.includes("?") ? "&" : "?"}cursor=${encodeURIComponent(next)}` : path);
    items.push(...page.items);
    next = page.next;
  } while (next && items.length < 5000);
  return items;
}

function barChart(rows, max, { width = 300, rowHeight = 20, testid }) {
  const chart = svg("svg", { width, height: rows.length * rowHeight + 4, role: "img", "data-testid": testid });
  rows.forEach(([label, value], index) => {
    const y = index * rowHeight;
    const barWidth = max ? Math.round(((width - 130) * value) / max) : 0;
    chart.append(svg("text", { x: 0, y: y + 14 }, label));
    chart.append(svg("rect", { x: 80, y: y + 3, width: Math.max(barWidth, 1), height: rowHeight - 6, fill: "#1f6feb", rx: 2 }));
    chart.append(svg("text", { x: 86 + barWidth, y: y + 14, "data-stage": label }, String(value)));
  });
  return chart;
}

function renderKpis(kpis) {
  $("#as-of").textContent = kpis.as_of ? `as of ${kpis.as_of}` : "";
  const sales = (kpis.agreements_by_type || {}).sales || 0;
  const figures = [
    ["SMEs selected", "smes_selected", kpis.smes_selected],
    ["SMEs withdrawn", "smes_withdrawn", kpis.smes_withdrawn],
    ["SMEs in matchmaking", "smes_in_matchmaking", kpis.smes_in_matchmaking],
    ["Matchmaking markets", "matchmaking_markets", (kpis.matchmaking_markets || []).join(", ") || "—"],
    ["Pilots in discussion", "pilots_in_discussion", kpis.pilots_in_discussion],
    ["Stalled pilots", "pilots_stalled", kpis.pilots_stalled],
    ["Agreements by type", "agreements_by_type", Object.entries(kpis.agreements_by_type || {}).map(([k, v]) => `${k.replaceAll("_", " ")} ${v}`).join(", ") || "—"],
    ["Agreements by market", "agreements_by_market", Object.entries(kpis.agreements_by_market || {}).map(([k, v]) => `${k} ${v}`).join(", ") || "—"],
  ];
  $("#kpis").replaceChildren(
    ...figures.map(([label, key, value]) =>
      el("div", { class: "card" }, el("div", { class: typeof value === "number" ? "value" : "value text", "data-kpi": key }, value ?? 0), el("div", { class: "label" }, label)))
  );
  const progress = Object.entries(kpis.progress || {});
  const chart = svg("svg", { width: 560, height: progress.length * 30 + 4, role: "img", "data-testid": "targets" });
  // A target is the programme's indicator's (null when the programme defines none for it).
  progress.forEach(([key, { actual, target }], index) => {
    const y = index * 30;
    const hasTarget = target !== null && target !== undefined;
    const scale = 220 / Math.max(hasTarget ? target : 0, actual, 1);
    chart.append(svg("text", { x: 0, y: y + 18 }, TARGET_LABELS[key] || key));
    chart.append(svg("rect", { x: 260, y: y + 6, width: Math.max(1, actual * scale), height: 16, class: hasTarget && actual >= target ? "target-met" : "target-open", rx: 2 }));
    if (hasTarget) chart.append(svg("line", { x1: 260 + target * scale, x2: 260 + target * scale, y1: y + 2, y2: y + 26, stroke: "#1d2330", "stroke-width": 2 }));
    chart.append(svg("text", { x: 490, y: y + 18, "data-target": key }, hasTarget ? `${actual} / ${target}` : `${actual} (no target)`));
  });
  $("#targets").replaceChildren(chart);
}

function renderPartners(kpis) {
  const rows = Object.entries(kpis.partners || {});
  const head = el("tr", {}, el("th", {}, "partner"), ...PARTNER_COLUMNS.map((c) => el("th", {}, c.replaceAll("_", " "))), el("th", {}, "agreements"));
  const body = rows.map(([partner, f]) =>
    el("tr", { "data-partner-row": partner }, el("td", {}, partner),
      ...PARTNER_COLUMNS.map((c) => el("td", { "data-partner-kpi": c }, f[c] ?? 0)),
      el("td", {}, Object.values(f.agreements_by_type || {}).reduce((a, b) => a + b, 0))));
  $("#partners").replaceChildren(el("thead", {}, head), el("tbody", {}, ...body));
}

function renderFunnel(funnel) {
  const max = funnel.stages.selected || 1;
  const box = el("div", { class: "funnel", "data-partner": funnel.partner_id }, el("h3", {}, funnel.partner_id));
  box.append(barChart(STAGES.map((stage) => [stage, funnel.stages[stage] || 0]), max, { testid: `funnel-${funnel.partner_id}` }));
  const markets = Object.entries(funnel.by_market || {}).sort();
  if (markets.length) {
    const table = el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "market"), ...["met", "piloting", "agreement"].map((s) => el("th", {}, s)))));
    const body = el("tbody");
    for (const [market, stages] of markets) {
      body.append(el("tr", {}, el("td", {}, market), ...["met", "piloting", "agreement"].map((s) => el("td", {}, stages[s] || 0))));
    }
    table.append(body);
    box.append(table);
  }
  return box;
}

function renderPilots(pilots) {
  pilots.sort((a, b) => (b.stalled - a.stalled) || (b.idle_days || 0) - (a.idle_days || 0) || a.pilot_id.localeCompare(b.pilot_id));
  $("#pilot-count").textContent = `${pilots.length} in discussion, ${pilots.filter((p) => p.stalled).length} stalled`;
  $("#pilots tbody").replaceChildren(
    ...pilots.map((p) =>
      el("tr", { class: p.stalled ? "stalled" : "", "data-pilot": `${p.partner_id}/${p.pilot_id}` },
        el("td", {}, p.partner_id), el("td", {}, p.pilot_id), el("td", {}, p.sme_id), el("td", {}, [p.market, p.region].filter(Boolean).join(" · ")),
        el("td", {}, p.counterpart || ""), el("td", {}, (p.last_activity_at || "").slice(0, 10)), el("td", {}, p.idle_days ?? ""),
        el("td", {}, p.stalled ? el("span", { class: "stalled-chip" }, "stalled") : p.status)))
  );
}

function renderAgreements(agreements) {
  agreements.sort((a, b) => (b.signed_at || "").localeCompare(a.signed_at || ""));
  $("#agreements tbody").replaceChildren(
    ...agreements.slice(0, 20).map((a) =>
      el("tr", { "data-agreement": `${a.partner_id}/${a.agreement_id}` },
        el("td", {}, (a.signed_at || "").slice(0, 10)), el("td", {}, a.partner_id), el("td", {}, a.sme_id),
        el("td", {}, a.agreement_type), el("td", {}, a.market), el("td", {}, a.counterpart), el("td", {}, a.value_eur ?? "")))
  );
}

function asOfQuery() {
  const day = $("#as-of-date").value;
  return day ? `?as_of=${encodeURIComponent(day)}` : "";
}

async function load() {
  $("#error").hidden = true;
  try {
    const me = await api("/v1/me");
    $("#whoami").textContent = me.role === "analyst" ? "analyst: every partner" : `partner: ${me.partner_id}`;
    let partners = [me.partner_id];
    if (me.role === "analyst") {
      const kpis = await api(`/v1/programme/kpis${asOfQuery()}`);
      partners = Object.keys(kpis.partners || {}).sort();
      renderKpis(kpis);
      renderPartners(kpis);
      $("#kpis-section").hidden = false;
    } else {
      $("#kpis-section").hidden = true;
    }
    const funnels = await Promise.all(partners.map((p) => api(`/v1/partners/${encodeURIComponent(p)}/funnel${asOfQuery()}`)));
    $("#funnels").replaceChildren(...funnels.map(renderFunnel));
    const pilots = (await Promise.all(partners.map((p) => allPages(`/v1/partners/${encodeURIComponent(p)}/pilots?status=open&limit=500`)))).flat();
    renderPilots(pilots);
    const agreements = (await Promise.all(partners.map((p) => allPages(`/v1/partners/${encodeURIComponent(p)}/agreements?limit=500`)))).flat();
    renderAgreements(agreements);
    const status = await api("/v1/status");
    // A partner's figures are its own events only; Kafka's lag is not (the API leaves it out).
    const lag = status.scope === "partner" ? "not shown to partners"
      : status.projector_lag === null || status.projector_lag === undefined ? "unknown" : `${status.projector_lag} events`;
    $("#freshness").textContent = `newest event: ${status.newest_event_at || "none yet"} · last applied: ${status.last_applied_at || "never"} · projector lag: ${lag}`;
    $("#content").hidden = false;
    document.body.dataset.loaded = "true";
  } catch (error) {
    $("#content").hidden = true;
    $("#error").textContent = `Cannot show the dashboard: ${error.message}`;
    $("#error").hidden = false;
    document.body.dataset.loaded = "error";
  }
}

$("#as-of-date").addEventListener("change", () => { if (sessionStorage.getItem("crm-token")) load(); });
$("#login").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem("crm-token", $("#token").value.trim());
  load();
});
const fromFragment = new URLSearchParams(location.hash.slice(1)).get("token");
if (fromFragment) {
  sessionStorage.setItem("crm-token", fromFragment);
  history.replaceState(null, "", location.pathname);
}
if (sessionStorage.getItem("crm-token")) load();
