// The rampart dashboard: polls the HTTP API every few seconds (not while the tab is hidden) and
// renders rollouts, experiments, models with their traffic split, holdouts and the decision log,
// with live charts from `/v1/series/{entity}`. Operator buttons call the command endpoints with a
// reason. With auth on, a 401 asks once for a bearer token, kept in sessionStorage.
//
// All text from the API goes into the page as text nodes (never parsed as HTML): model and
// variant names are user input. Numbers a test reads carry a `data-testid`.

const POLL_MS = 4000;
const TOKEN_KEY = "rampart.token";
const ACTOR = "dashboard";
const DECISIONS_SHOWN = 50;
const PALETTE = ["#2f5bd3", "#d9822b", "#1f9d74", "#a23fbf", "#c23b4e", "#5b6b82", "#1d8fb8", "#8b8b1e"];

// ---------------------------------------------------------------- DOM

/** Builds an element; strings and numbers become text nodes, null/false children are skipped. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "testid") el.dataset.testid = v;
    else if (k === "onclick") el.addEventListener("click", v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const $ = (id) => document.getElementById(id);

/** A testid fragment from a name; names are config identifiers, kept readable. */
const tid = (...parts) => parts.map((p) => String(p).replace(/[^A-Za-z0-9_.-]/g, "_")).join("-");

// ---------------------------------------------------------------- formatting

const isNum = (v) => typeof v === "number" && Number.isFinite(v);
const DASH = "—";

function fixed(v, digits) {
  return v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
function signed(text, v) {
  return v > 0 ? `+${text}` : text;
}
/** A share in [0, 1] as a percent. */
function pct(share, digits = 1) {
  return isNum(share) ? `${fixed(share * 100, digits)}%` : DASH;
}
/** A traffic percent (already 0–100), without needless decimals. */
function trafficPct(p) {
  if (!isNum(p)) return DASH;
  return `${p.toLocaleString("en-US", { maximumFractionDigits: 2 })}%`;
}
function ms(v) {
  if (!isNum(v)) return DASH;
  return `${fixed(v, Math.abs(v) < 10 ? 2 : 1)} ms`;
}
function plain(v, digits = 3) {
  return isNum(v) ? fixed(v, digits) : DASH;
}
function int(v) {
  return isNum(v) ? v.toLocaleString("en-US") : DASH;
}
function pValue(p) {
  if (!isNum(p)) return DASH;
  return p < 0.0001 ? "<0.0001" : fixed(p, 4);
}
/** A metric's own value: rates as percent, latency in ms. */
function metricValue(v, kind) {
  if (kind === "binary") return pct(v, 2);
  if (kind === "latency") return ms(v);
  if (kind === "ratio") return plain(v, 4);
  return plain(v, 3);
}
/** A difference in the metric's units: percentage points for rates. */
function metricDiff(v, kind) {
  if (!isNum(v)) return DASH;
  if (kind === "binary") return signed(`${fixed(v * 100, 2)} pp`, v);
  if (kind === "latency") return signed(ms(v), v);
  return signed(fixed(v, kind === "ratio" ? 4 : 3), v);
}
function relative(v) {
  return isNum(v) ? signed(pct(v, 2), v) : DASH;
}
/** A gate number in the unit of its measure. */
function measureValue(v, measure, kind) {
  switch (measure) {
    case "difference": return metricDiff(v, kind);
    case "relative_difference": return relative(v);
    case "share_above":
    case "share_below": return pct(v, 2);
    default: return metricValue(v, kind);
  }
}
const MEASURE_TEXT = {
  value: "candidate value",
  share_above: "share of events above the limit",
  share_below: "share of events below the limit",
  difference: "candidate − control",
  relative_difference: "candidate / control − 1",
};
function duration(msLeft) {
  if (!isNum(msLeft)) return DASH;
  const s = Math.max(0, Math.round(msLeft / 1000));
  const d = Math.floor(s / 86400), hh = Math.floor((s % 86400) / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
  const two = (n) => String(n).padStart(2, "0");
  if (d > 0) return `${d}d ${two(hh)}h`;
  if (hh > 0) return `${hh}h ${two(mm)}m`;
  if (mm > 0) return `${mm}m ${two(ss)}s`;
  return `${ss}s`;
}
function clock(tsMs) {
  if (!isNum(tsMs)) return DASH;
  const d = new Date(tsMs);
  const today = new Date().toDateString() === d.toDateString();
  const time = d.toLocaleTimeString("en-GB", { hour12: false });
  return today ? time : `${d.toISOString().slice(0, 10)} ${time}`;
}
function ago(tsMs) {
  if (!isNum(tsMs)) return DASH;
  return `${duration(Date.now() - tsMs)} ago`;
}

// ---------------------------------------------------------------- status labels

const ROLLOUT_STATUS = {
  pending: ["Pending", "idle"],
  running: ["Running", "ok"],
  "awaiting-approval": ["Awaiting approval", "warn"],
  paused: ["Paused", "warn"],
  "rolled-back": ["Rolled back", "bad"],
  completed: ["Completed", "ok"],
};
const EXPERIMENT_STATUS = {
  draft: ["Draft", "idle"],
  running: ["Running", "ok"],
  stopped: ["Stopped", "idle"],
};
const OUTCOME = {
  pass: ["Pass", "ok"],
  fail: ["Fail", "bad"],
  inconclusive: ["Inconclusive", "warn"],
};
const DIRECTION = { better: ["Better", "ok"], worse: ["Worse", "bad"], same: ["No change", "idle"] };

function badge(table, key, testid) {
  const [label, tone] = table[key] || [key == null ? "Unknown" : String(key), "idle"];
  return h("span", { class: "badge", "data-tone": tone, testid }, label);
}

function verdictText(v) {
  if (!v) return "No verdict yet";
  switch (v.verdict) {
    case "not-yet": return `Not yet: ${v.reason}`;
    case "winner": return `Winner: ${v.variant}`;
    case "no-difference": return "No difference";
    case "guardrail-breach": return `Guardrail breach: ${v.variant} on ${v.metric}`;
    case "max-duration": return "Maximum duration reached";
    default: return String(v.verdict);
  }
}

// ---------------------------------------------------------------- API and auth

let token = sessionStorage.getItem(TOKEN_KEY);
let tokenAsk = null;

class ApiFailure extends Error {
  constructor(status, error) {
    super(error?.message || `HTTP ${status}`);
    this.status = status;
    this.code = error?.code;
  }
}

/** Asks for a bearer token; concurrent callers share one dialog. Resolves false when dismissed. */
function askToken(why) {
  if (tokenAsk) return tokenAsk;
  const dialog = $("token-dialog");
  $("token-why").textContent = why;
  $("token-input").value = "";
  tokenAsk = new Promise((resolve) => {
    const done = (ok) => {
      dialog.removeEventListener("close", onClose);
      tokenAsk = null;
      resolve(ok);
    };
    const onClose = () => {
      const value = $("token-input").value.trim();
      if (dialog.returnValue === "ok" && value) {
        token = value;
        sessionStorage.setItem(TOKEN_KEY, value);
        done(true);
      } else {
        done(false);
      }
    };
    dialog.returnValue = "";
    dialog.addEventListener("close", onClose);
    dialog.showModal();
  });
  return tokenAsk;
}
$("token-dialog").addEventListener("cancel", () => { $("token-dialog").returnValue = "cancel"; });

/** Calls the API; a 401 asks for a token and retries. Throws `ApiFailure` on any other error. */
async function api(path, init = {}) {
  for (;;) {
    const headers = { Accept: "application/json" };
    if (init.body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = `Bearer ${token}`;
    const r = await fetch(path, { ...init, headers, cache: "no-store" });
    const body = await r.json().catch(() => null);
    if (r.status === 401) {
      const why = token
        ? "The token in use is not known to this server. Enter another one."
        : "This server needs a bearer token to show its data. It is kept in this tab only (session storage).";
      if (await askToken(why)) continue;
      throw new ApiFailure(401, { message: "a bearer token is needed; use “Set token”" });
    }
    if (!r.ok) throw new ApiFailure(r.status, body?.error);
    return body;
  }
}
const enc = encodeURIComponent;

// ---------------------------------------------------------------- notices and reason prompt

let noticeTimer = null;

/** Shows the outcome of an operator action; a success fades after a while, an error stays until
 *  clicked. */
function notify(kind, text) {
  const n = $("notice");
  n.dataset.kind = kind;
  n.textContent = text;
  n.title = "Click to dismiss";
  n.hidden = false;
  clearTimeout(noticeTimer);
  if (kind === "ok") noticeTimer = setTimeout(() => { n.hidden = true; }, 10000);
}
$("notice").addEventListener("click", () => { $("notice").hidden = true; });

function askReason(title, what) {
  const dialog = $("reason-dialog");
  $("reason-title").textContent = title;
  $("reason-what").textContent = what;
  $("reason-input").value = "";
  return new Promise((resolve) => {
    const onClose = () => {
      dialog.removeEventListener("close", onClose);
      const reason = $("reason-input").value.trim();
      resolve(dialog.returnValue === "confirm" && reason ? reason : null);
    };
    dialog.returnValue = "";
    dialog.addEventListener("close", onClose);
    dialog.showModal();
  });
}
$("reason-cancel").addEventListener("click", () => $("reason-dialog").close("cancel"));

/** Runs an operator command after asking for its reason; shows the outcome. */
async function runCommand(kind, name, command) {
  const noun = kind === "rollouts" ? "rollout" : "experiment";
  const reason = await askReason(
    `${command[0].toUpperCase()}${command.slice(1)} ${noun} ${name}`,
    `This calls POST /v1/${kind}/${name}/${command} and is recorded in the decision log with actor “${ACTOR}”.`,
  );
  if (reason === null) return;
  try {
    const r = await api(`/v1/${kind}/${enc(name)}/${enc(command)}`, {
      method: "POST",
      body: JSON.stringify({ reason, actor: ACTOR }),
    });
    notify("ok", `${noun} ${name}: ${command} done; status is now ${r.status ?? "unknown"}.`);
  } catch (e) {
    if (e.status === 403) {
      notify("error", `This token's role cannot ${command} a ${noun}: ${e.message}`);
    } else {
      notify("error", `${command} ${noun} ${name} failed: ${e.message}`);
    }
  }
  refresh();
}

// ---------------------------------------------------------------- charts

/** Charts by key; each is created once and updated with `setData`. */
const charts = new Map();

function chartBox(key, title) {
  const body = h("div", { class: "chart-body", testid: `chart-${key}` });
  return h("div", { class: "chart" }, h("div", { class: "chart-title" }, title), body);
}

/**
 * The time axis of a chart, in Unix seconds: from the first bucket's start to the last bucket's
 * end, so one bucket spans its own width (uPlot alone would pad a single point to years) and no
 * bucket draws an empty axis either.
 *   xDomain([1000, 2000], 1000)  → [1, 3]
 *   xDomain([5000], 3600000)     → [5, 3605]
 *   xDomain([], 1000, 10000)     → [9, 10]   (nothing yet: the bucket that ends now)
 */
function xDomain(startsMs, bucketMs, nowMs = Date.now()) {
  const width = bucketMs > 0 ? bucketMs : 1000;
  if (startsMs.length === 0) return [(nowMs - width) / 1000, nowMs / 1000];
  return [startsMs[0] / 1000, (startsMs[startsMs.length - 1] + width) / 1000];
}

function updateChart(key, container, series, pick, format) {
  if (!container || typeof uPlot === "undefined") return;
  const names = series.variants.map((v) => v.variant);
  const xs = series.starts.map((s) => s / 1000);
  const data = [xs, ...series.variants.map(pick)];
  const domain = xDomain(series.starts, series.bucket_ms);
  // Read by the x scale at every redraw, so a chart fed new buckets follows them.
  container.dataset.xMin = String(domain[0]);
  container.dataset.xMax = String(domain[1]);
  let c = charts.get(key);
  if (c && (c.names.join("\u0000") !== names.join("\u0000") || c.container !== container)) {
    c.plot.destroy();
    c.observer.disconnect();
    charts.delete(key);
    c = null;
  }
  if (c) {
    c.plot.setData(data);
    return;
  }
  container.replaceChildren();
  const width = Math.max(container.clientWidth, 240);
  const stepped = uPlot.paths?.stepped ? uPlot.paths.stepped({ align: 1 }) : undefined;
  const opts = {
    width,
    height: 200,
    legend: { show: true, live: false },
    cursor: { drag: { x: false, y: false } },
    scales: {
      x: { time: true, range: () => [Number(container.dataset.xMin), Number(container.dataset.xMax)] },
    },
    // The span the x axis was drawn with, for a look from outside (the browser test reads it).
    hooks: {
      draw: [(u) => {
        container.dataset.axisMin = String(u.scales.x.min);
        container.dataset.axisMax = String(u.scales.x.max);
      }],
    },
    axes: [
      { stroke: "#5f6b7a", grid: { stroke: "#eef0f3" } },
      { stroke: "#5f6b7a", grid: { stroke: "#eef0f3" }, size: 64, values: (u, vals) => vals.map((v) => format(v)) },
    ],
    series: [
      {},
      ...names.map((n, i) => ({
        label: n,
        stroke: PALETTE[i % PALETTE.length],
        width: 2,
        spanGaps: true,
        paths: pick === newUnits ? stepped : undefined,
        points: { show: xs.length < 40 },
        value: (u, v) => (v == null ? DASH : format(v)),
      })),
    ],
  };
  const plot = new uPlot(opts, data, container);
  const observer = new ResizeObserver(() => {
    const w = Math.max(container.clientWidth, 240);
    if (Math.abs(w - plot.width) > 2) plot.setSize({ width: w, height: 200 });
  });
  observer.observe(container);
  charts.set(key, { plot, observer, names, container });
}

const newUnits = (v) => v.new_units;
const runningValue = (v) => v.value;

function dropChart(key) {
  const c = charts.get(key);
  if (c) { c.plot.destroy(); c.observer.disconnect(); charts.delete(key); }
}

function renderCharts(key, card, series, metricKind, emptyText) {
  if (!series) return;
  const units = card.querySelector(`[data-testid="chart-${key}-units"]`);
  const value = card.querySelector(`[data-testid="chart-${key}-value"]`);
  if (series.variants.length === 0 || series.starts.length === 0) {
    for (const [which, el] of [["units", units], ["value", value]]) {
      dropChart(`${key}-${which}`);
      if (el.textContent !== emptyText) el.replaceChildren(h("div", { class: "chart-empty" }, emptyText));
    }
    return;
  }
  const title = card.querySelector(".value-title");
  if (title) {
    title.textContent = `${series.metric} (${series.statistic === "p95" ? "p95" : series.statistic}, running) per variant`;
  }
  updateChart(`${key}-units`, units, series, newUnits, (v) => int(v));
  updateChart(`${key}-value`, value, series, runningValue, (v) => metricValue(v, metricKind || series.metric_kind));
}

// ---------------------------------------------------------------- keyed cards

/** Gets or creates the card of `key` in `list`, keeps cards in `order`, drops the rest. */
function syncCards(list, keys, create) {
  const existing = new Map([...list.children].filter((c) => c.dataset.key).map((c) => [c.dataset.key, c]));
  const out = new Map();
  for (const key of keys) {
    const card = existing.get(key) || create(key);
    card.dataset.key = key;
    out.set(key, card);
  }
  for (const [key, card] of existing) {
    if (!out.has(key)) for (const suffix of ["units", "value"]) dropChart(`${card.dataset.chart}-${suffix}`);
  }
  const cards = [...out.values()];
  if (cards.length === 0) {
    list.replaceChildren(h("p", { class: "empty" }, "None configured."));
  } else if (cards.some((c, i) => list.children[i] !== c) || list.children.length !== cards.length) {
    list.replaceChildren(...cards);
  }
  return out;
}

function set(card, testid, text) {
  const el = card.querySelector(`[data-testid="${testid}"]`);
  if (el && el.textContent !== text) el.textContent = text;
  return el;
}

function fact(label, testid, initial = DASH) {
  return h("div", {}, h("dt", {}, label), h("dd", { testid }, initial));
}

// ---------------------------------------------------------------- rollouts

const countdowns = new Map(); // element → deadline (ms since epoch) or look time

function rolloutCard(name) {
  const t = (s) => tid("rollout", name, s);
  const key = tid("rollout", name);
  const button = (label, command, cls) =>
    h("button", { type: "button", class: cls, testid: t(command), onclick: () => runCommand("rollouts", name, command) }, label);
  const card = h("article", { class: "card", testid: tid("rollout", name), "data-chart": key },
    h("div", { class: "card-head" },
      h("h3", {}, name),
      h("span", { class: "muted", testid: t("arms") }),
      h("span", { testid: t("status-slot") }),
      h("span", { class: "spacer" }),
      h("div", { class: "buttons" },
        button("Approve", "approve", "primary"),
        button("Pause", "pause"),
        button("Resume", "resume"),
        button("Roll back", "rollback", "danger"))),
    h("div", { class: "stages", testid: t("stages") }),
    h("dl", { class: "facts" },
      fact("Stage", t("stage")),
      fact("Candidate traffic", t("traffic")),
      fact("Next decision", t("next")),
      fact("Units (candidate / control)", t("units")),
      fact("Last look", t("look"))),
    h("p", { class: "muted small", testid: t("reason") }),
    h("div", { class: "sub" }, "Gates"),
    h("div", { class: "table-wrap", testid: t("gates") }),
    h("div", { class: "charts" },
      chartBox(`${key}-units`, "New units per bucket, per variant"),
      h("div", { class: "chart" }, h("div", { class: "chart-title value-title" }, "Metric per variant"),
        h("div", { class: "chart-body", testid: `chart-${key}-value` }))));
  return card;
}

function renderRollout(card, r, metricKinds, series) {
  const name = r.name;
  const t = (s) => tid("rollout", name, s);
  set(card, t("arms"), `${r.model} · ${r.baseline} → ${r.candidate}`);
  const slot = card.querySelector(`[data-testid="${t("status-slot")}"]`);
  const status = r.status || "pending";
  const label = (ROLLOUT_STATUS[status] || [status])[0];
  if (slot.textContent !== label) slot.replaceChildren(badge(ROLLOUT_STATUS, status, t("status")));

  const stages = card.querySelector(`[data-testid="${t("stages")}"]`);
  stages.replaceChildren(...r.stages.map((s, i) => h("span", {
    title: `stage ${i + 1}: ${trafficPct(s.traffic)}${s.min_duration ? `, at least ${s.min_duration}` : ""}${s.approval ? ", needs approval" : ""}`,
    "data-done": r.stage != null && (i < r.stage || status === "completed"),
    "data-current": r.stage === i && status !== "completed",
  })));
  set(card, t("stage"), r.stage == null ? DASH : `${r.stage + 1} of ${r.stages.length}`);
  set(card, t("traffic"), trafficPct(r.traffic));

  const next = card.querySelector(`[data-testid="${t("next")}"]`);
  if (status === "running" && isNum(r.next_decision_in_ms)) {
    countdowns.set(next, { deadline: Date.now() + r.next_decision_in_ms });
  } else {
    countdowns.delete(next);
    const text = { "awaiting-approval": "Awaiting approval", paused: "Paused", pending: "Not started" }[status] || DASH;
    set(card, t("next"), text);
  }
  const look = r.last_look;
  set(card, t("units"), look ? `${int(look.candidate_units)} / ${int(look.control_units)}` : DASH);
  const lookEl = card.querySelector(`[data-testid="${t("look")}"]`);
  if (look) countdowns.set(lookEl, { since: look.at });
  else { countdowns.delete(lookEl); set(card, t("look"), "No look yet"); }
  set(card, t("reason"), r.reason ? `Last change: ${r.reason}` : "");

  // What the server would accept in this state; a rollout that has ended takes no command.
  const ended = status === "completed" || status === "rolled-back";
  const can = {
    approve: status === "awaiting-approval",
    pause: status === "running" || status === "awaiting-approval",
    resume: status === "paused",
    rollback: ["running", "awaiting-approval", "paused"].includes(status),
  };
  for (const [command, enabled] of Object.entries(can)) {
    const b = card.querySelector(`[data-testid="${t(command)}"]`);
    if (!b) continue;
    b.disabled = !enabled;
    b.title = enabled ? "" : ended ? `The rollout has ended (${label.toLowerCase()}): it takes no more commands` : `Not possible while ${label.toLowerCase()}`;
  }

  const verdicts = (look?.verdicts || []).filter((v) => !v.segment);
  const segmentFails = (look?.verdicts || []).filter((v) => v.segment);
  const seen = new Set();
  const rows = r.gates.map((gate, i) => {
    const metric = gate.metric;
    const base = seen.has(metric) ? tid("gate", name, metric, i) : tid("gate", name, metric);
    seen.add(metric);
    const v = verdicts.find((x) => x.gate === i);
    const n = v?.numbers || {};
    const kind = metricKinds.get(metric);
    const bound = (x) => (isNum(x) ? measureValue(x, n.measure, kind) : "…");
    return h("tr", { testid: base },
      h("td", {}, metric, h("div", { class: "muted small" }, gateCheck(gate))),
      h("td", {}, v ? badge(OUTCOME, v.outcome, `${base}-verdict`) : h("span", { class: "muted", testid: `${base}-verdict` }, "No look yet")),
      h("td", { class: "num", testid: `${base}-candidate` }, metricValue(n.candidate_estimate, kind)),
      h("td", { class: "num", testid: `${base}-control` }, metricValue(n.control_estimate, kind)),
      h("td", { class: "num" },
        h("span", { testid: `${base}-estimate` }, measureValue(n.estimate, n.measure, kind)),
        h("div", { class: "muted small" }, MEASURE_TEXT[n.measure] || "")),
      h("td", { class: "num", testid: `${base}-interval` }, v ? `[${bound(n.lower)}, ${bound(n.upper)}]` : DASH),
      h("td", { class: "num", testid: `${base}-limit` }, measureValue(n.threshold, n.measure, kind)),
      h("td", { class: "num", testid: `${base}-p` }, pValue(n.p_value)),
      h("td", { class: "num" }, v ? `${int(n.n_candidate)} / ${int(n.n_control)}` : DASH),
      h("td", { class: "reason muted small" }, v?.message || ""));
  });
  const gates = card.querySelector(`[data-testid="${t("gates")}"]`);
  gates.replaceChildren(...[r.gates.length === 0
    ? h("p", { class: "empty" }, "This rollout has no gates.")
    : h("table", {},
      h("thead", {}, h("tr", {},
        h("th", {}, "Metric"), h("th", {}, "Verdict"), h("th", { class: "num" }, "Candidate"),
        h("th", { class: "num" }, "Control"), h("th", { class: "num" }, "Estimate"),
        h("th", { class: "num" }, "Interval"), h("th", { class: "num" }, "Limit"),
        h("th", { class: "num" }, "p (no harm)"), h("th", { class: "num" }, "Units c / ctl"), h("th", {}, "Why"))),
      h("tbody", {}, rows)),
    segmentFails.length ? h("p", { class: "small", testid: t("segment-fails") },
      `Failing segments: ${segmentFails.map((v) => `${v.metric} in ${v.segment[0]}=${v.segment[1]}`).join("; ")}`) : null,
  ].filter(Boolean));

  renderCharts(card.dataset.chart, card, series, metricKinds.get(series?.metric), "No exposures yet");
}

function gateCheck(gate) {
  const parts = [];
  if (gate.compare === "control") {
    const m = gate.margin ?? 0;
    parts.push(gate.margin_kind === "absolute" ? `vs control, margin ${m}` : `vs control, margin ${signed(pct(m, 1), m)}`);
  }
  if (gate.min != null) parts.push(`min ${gate.min}`);
  if (gate.max != null) parts.push(`max ${gate.max}`);
  if (gate.quantile != null) parts.push(`p${Math.round(gate.quantile * 100)}`);
  return parts.join(" · ");
}

// ---------------------------------------------------------------- experiments

function experimentCard(name) {
  const t = (s) => tid("experiment", name, s);
  const key = tid("experiment", name);
  const button = (label, command, cls) =>
    h("button", { type: "button", class: cls, testid: t(command), onclick: () => runCommand("experiments", name, command) }, label);
  return h("article", { class: "card", testid: key, "data-chart": key },
    h("div", { class: "card-head" },
      h("h3", {}, name),
      h("span", { class: "muted", testid: t("about") }),
      h("span", { testid: t("status-slot") }),
      h("span", { class: "spacer" }),
      h("div", { class: "buttons" }, button("Start", "start"), button("Stop", "stop", "danger"))),
    h("dl", { class: "facts" },
      fact("Decision", t("decision")),
      fact("Units per arm", t("units")),
      fact("Stopping rule", t("rule")),
      fact("Sample ratio", t("srm")),
      fact("Sample size", t("progress"))),
    h("div", { class: "table-wrap", testid: t("metrics") }),
    h("div", { testid: t("interleaving") }),
    h("p", { class: "muted small", testid: t("notes") }),
    h("div", { class: "charts" },
      chartBox(`${key}-units`, "New units per bucket, per variant"),
      h("div", { class: "chart" }, h("div", { class: "chart-title value-title" }, "Metric per variant"),
        h("div", { class: "chart-body", testid: `chart-${key}-value` }))));
}

function renderExperiment(card, e, series) {
  const name = e.name;
  const t = (s) => tid("experiment", name, s);
  const rep = e.report;
  set(card, t("about"), `${e.model} · ${e.design} · ${e.variants.join(" vs ")}`);
  const status = e.status || "draft";
  const slot = card.querySelector(`[data-testid="${t("status-slot")}"]`);
  const label = (EXPERIMENT_STATUS[status] || [status])[0];
  if (slot.textContent !== label) slot.replaceChildren(badge(EXPERIMENT_STATUS, status, t("status")));
  card.querySelector(`[data-testid="${t("start")}"]`).disabled = status !== "draft";
  card.querySelector(`[data-testid="${t("stop")}"]`).disabled = status !== "running";

  const decision = e.winner ? `Winner: ${e.winner}` : status === "stopped" ? `Stopped${e.reason ? `: ${e.reason}` : ""}` : verdictText(e.verdict);
  set(card, t("decision"), decision).title = decision;
  set(card, t("units"), rep ? rep.arms.map((a) => `${a.variant} ${int(a.units)}`).join(" · ") : DASH);
  set(card, t("rule"), rep ? `${rep.rule}, α = ${rep.alpha}, ${rep.correction}` : DASH);
  set(card, t("srm"), rep?.srm?.applies ? `${rep.srm.blocked ? "Mismatch" : "OK"} · p ${pValue(rep.srm.p_value)}` : DASH);
  const ss = rep?.sample_size || rep?.interleaving?.sample_size;
  set(card, t("progress"), ss ? `${pct(Math.min(ss.progress, 1), 0)} of target${ss.reached ? " · reached" : ""}` : DASH);
  const sequential = rep?.rule === "sequential";

  const table = card.querySelector(`[data-testid="${t("metrics")}"]`);
  const comparisons = rep?.metrics || [];
  const variants = new Set(comparisons.map((c) => c.variant));
  table.replaceChildren(comparisons.length === 0
    ? h("p", { class: "empty" }, rep ? "No metric comparisons (interleaving experiments compare rankers below)." : "No report yet.")
    : h("table", {},
      h("thead", {}, h("tr", {},
        h("th", {}, "Metric"), h("th", {}, "Variant vs control"), h("th", { class: "num" }, "Control"),
        h("th", { class: "num" }, "Variant"), h("th", { class: "num" }, "Lift"), h("th", { class: "num" }, "95% interval"),
        h("th", { class: "num" }, sequential ? "p (always valid, adj.)" : "p (adjusted)"), h("th", {}, "Status"))),
      h("tbody", {}, comparisons.map((c) => {
        const base = variants.size > 1 ? tid("experiment", name, c.metric, c.variant) : tid("experiment", name, c.metric);
        const rel = c.relative_lift;
        const lift = rel || c.absolute_lift;
        const fmt = rel ? relative : (v) => metricDiff(v, c.kind);
        const p = sequential
          ? (c.adjusted_always_valid_p_value ?? c.always_valid_p_value)
          : (c.adjusted_p_value ?? c.p_value);
        return h("tr", { testid: base },
          h("td", {}, c.metric, h("div", { class: "muted small" }, c.role)),
          h("td", {}, `${c.variant} vs ${rep.control}`),
          h("td", { class: "num", testid: `${base}-control` }, metricValue(c.control_value, c.kind)),
          h("td", { class: "num", testid: `${base}-variant` }, metricValue(c.variant_value, c.kind)),
          h("td", { class: "num", testid: `${base}-lift`, title: rel ? "relative lift" : "absolute difference" }, lift ? fmt(lift.estimate) : DASH),
          h("td", { class: "num", testid: `${base}-ci` }, lift ? `[${fmt(lift.lower)}, ${fmt(lift.upper)}]` : DASH),
          h("td", { class: "num", testid: `${base}-p` }, pValue(p)),
          h("td", {}, c.not_enough_data
            ? h("span", { class: "muted small", testid: `${base}-status` }, c.not_enough_data)
            : badge(DIRECTION, c.direction, `${base}-status`)));
      }))));

  const il = rep?.interleaving;
  const ilBox = card.querySelector(`[data-testid="${t("interleaving")}"]`);
  ilBox.replaceChildren(...(il ? [
    h("div", { class: "sub" }, `Interleaving preference (${il.method}) · ${int(il.impressions)} impressions · ${int(il.clicks)} clicks · ${int(il.units)} units`),
    h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {},
        h("th", {}, "Rankers"), h("th", { class: "num" }, "Wins (first)"), h("th", { class: "num" }, "Wins (second)"),
        h("th", { class: "num" }, "Ties"), h("th", { class: "num" }, "Δ preference"), h("th", { class: "num" }, "95% interval"),
        h("th", { class: "num" }, "p"), h("th", {}, "Preferred"))),
      h("tbody", {}, il.pairs.map((p) => {
        const base = tid("interleave", name, p.first, p.second);
        const iv = sequential ? (p.always_valid_interval || p.interval) : p.interval;
        const pv = sequential ? (p.adjusted_always_valid_p_value ?? p.always_valid_p_value) : (p.adjusted_p_value ?? p.sign_test_p_value);
        return h("tr", { testid: base },
          h("td", {}, `${p.first} vs ${p.second}`),
          h("td", { class: "num", testid: tid("interleave", name, p.first, "wins") }, int(p.prefer_first)),
          h("td", { class: "num", testid: tid("interleave", name, p.second, "wins") }, int(p.prefer_second)),
          h("td", { class: "num", testid: `${base}-ties` }, int(p.tied)),
          h("td", { class: "num", testid: `${base}-delta` }, isNum(p.delta) ? signed(fixed(p.delta, 3), p.delta) : DASH),
          h("td", { class: "num" }, iv ? `[${fixed(iv.lower, 3)}, ${fixed(iv.upper, 3)}]` : DASH),
          h("td", { class: "num", testid: `${base}-p` }, pValue(pv)),
          h("td", { testid: `${base}-preferred` }, p.preferred || p.not_enough_data || "Not yet"));
      })))),
  ] : []));
  set(card, t("notes"), [...(rep?.notes || []), ...(il?.notes || [])].join(" "));
  renderCharts(card.dataset.chart, card, series, null, il
    ? "Interleaved lists mix the rankers for every unit: see the preference table"
    : "No exposures yet");
}

// ---------------------------------------------------------------- models, holdouts, decisions

/** A slice of `/v1/status`'s `split` in words: `holdout global`, `rollout recs-v2 candidate`. */
function sliceLabel(s) {
  switch (s.reason) {
    case "holdout": return `holdout ${s.entity}`;
    case "experiment": return `experiment ${s.entity}`;
    case "candidate": case "control": return `rollout ${s.entity} ${s.reason}`;
    case "rolled-back": case "completed": return `rollout ${s.entity} ${s.reason}`;
    default: return s.reason;
  }
}

function renderModels(status) {
  const rows = status.models.map((m) => {
    // The server's own expected split, read off the assigner that serves the traffic.
    const slices = m.split || [];
    const byVariant = new Map();
    for (const s of slices) byVariant.set(s.variant, (byVariant.get(s.variant) || 0) + s.share);
    const color = (v) => PALETTE[Math.max(0, m.variants.indexOf(v)) % PALETTE.length];
    return h("tr", { testid: tid("model", m.name) },
      h("td", {}, h("strong", {}, m.name), h("div", { class: "muted small" }, `by ${m.unit}`)),
      h("td", {}, m.variants.map((v, i) => h("span", {}, i ? ", " : "", v, v === m.baseline ? h("span", { class: "muted small" }, " (baseline)") : ""))),
      h("td", {},
        h("div", { class: "split", role: "img", "aria-label": [...byVariant].map(([v, s]) => `${v} ${pct(s)}`).join(", ") },
          [...byVariant].map(([v, s]) => h("span", { style: `width:${(s * 100).toFixed(3)}%;background:${color(v)}` }))),
        h("div", { class: "legend" }, [...byVariant].map(([v, s]) =>
          h("span", {}, h("span", { class: "swatch", style: `background:${color(v)}` }), `${v} `,
            h("span", { class: "num", testid: tid("model", m.name, v, "share") }, pct(s))))),
        h("div", { class: "muted small" }, slices.map((s) => `${sliceLabel(s)}: ${s.variant} ${pct(s.share)}`).join(" · "))));
  });
  $("models").replaceChildren(rows.length === 0 ? h("p", { class: "empty" }, "No models configured.")
    : h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Model"), h("th", {}, "Variants"), h("th", {}, "Expected traffic split"))), h("tbody", {}, rows)));
}

function renderHoldouts(holdouts) {
  $("holdouts").replaceChildren(holdouts.length === 0 ? h("p", { class: "empty" }, "No holdouts configured.")
    : h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, "Holdout"), h("th", { class: "num" }, "Share"), h("th", { class: "num" }, "Units held out"), h("th", {}, "Exposed vs holdout"))),
      h("tbody", {}, holdouts.map((hd) => {
        const rep = hd.report;
        return h("tr", { testid: tid("holdout", hd.name) },
          h("td", {}, h("strong", {}, hd.name), h("div", { class: "muted small" }, hd.models ? hd.models.join(", ") : "all models")),
          h("td", { class: "num", testid: tid("holdout", hd.name, "percent") }, trafficPct(hd.percent)),
          h("td", { class: "num", testid: tid("holdout", hd.name, "units") }, rep ? int(rep.holdout_units) : DASH),
          h("td", { class: "small" }, rep?.comparisons?.length
            ? rep.comparisons.map((c) => h("div", {},
              `${c.metric} on ${c.model}: ${metricValue(c.exposed_value, c.kind)} vs ${metricValue(c.holdout_value, c.kind)}`,
              c.relative_lift ? ` (${relative(c.relative_lift.estimate)}, p ${pValue(c.p_value)})` : ""))
            : h("span", { class: "muted" }, "No comparison yet")));
      }))));
}

function renderDecisions(list) {
  const newest = [...list].reverse();
  $("decisions").replaceChildren(newest.length === 0 ? h("p", { class: "empty" }, "No decisions yet.")
    : h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, "Time"), h("th", {}, "Entity"), h("th", {}, "Action"), h("th", {}, "From → to"), h("th", {}, "Actor"), h("th", {}, "Reason"))),
      h("tbody", {}, newest.map((d) => h("tr", { testid: tid("decision", d.id) },
        h("td", { class: "num" }, clock(d.ts)),
        h("td", {}, d.entity, h("div", { class: "muted small" }, d.entity_kind)),
        h("td", { testid: tid("decision", d.id, "action") }, d.action),
        h("td", { class: "small" }, `${d.from_state} → ${d.to_state}`),
        h("td", { testid: tid("decision", d.id, "actor") }, d.actor),
        h("td", { class: "reason", testid: tid("decision", d.id, "reason") }, d.reason))))));
}

// ---------------------------------------------------------------- polling

function setLive(state, text) {
  const el = document.querySelector('[data-testid="live-state"]');
  el.dataset.state = state;
  el.querySelector(".live-text").textContent = text;
}

/** Reads a series, or null when the entity has none yet (a chart then shows its last data). */
async function seriesOf(entity) {
  try {
    return await api(`/v1/series/${enc(entity)}`);
  } catch (e) {
    if (e.status === 401 || e.status === 403) throw e;
    return null;
  }
}

let timer = null;
let inflight = false;
let refreshes = 0;

async function refresh() {
  clearTimeout(timer);
  if (inflight) return;
  inflight = true;
  try {
    // One call first, so that with auth on and no token yet only one request meets the 401.
    const status = await api("/v1/status");
    const [rollouts, experiments, decisions] = await Promise.all([
      api("/v1/rollouts"),
      api("/v1/experiments"),
      api(`/v1/decisions?limit=${DECISIONS_SHOWN}`),
    ]);
    const [details, holdouts, rSeries, eSeries] = await Promise.all([
      Promise.all(experiments.experiments.map((e) => api(`/v1/experiments/${enc(e.name)}`))),
      Promise.all(status.holdouts.map((hd) => api(`/v1/holdouts/${enc(hd.name)}`).catch(() => hd))),
      Promise.all(rollouts.rollouts.map((r) => seriesOf(r.name))),
      Promise.all(experiments.experiments.map((e) => seriesOf(e.name))),
    ]);
    const metricKinds = new Map((status.metrics || []).map((m) => [m.name, m.kind]));
    set(document, "config-version", `config v${status.config_version}`);

    const rCards = syncCards($("rollouts"), rollouts.rollouts.map((r) => r.name), rolloutCard);
    rollouts.rollouts.forEach((r, i) => renderRollout(rCards.get(r.name), r, metricKinds, rSeries[i]));
    const eCards = syncCards($("experiments"), details.map((e) => e.name), experimentCard);
    details.forEach((e, i) => renderExperiment(eCards.get(e.name), e, eSeries[i]));
    renderModels(status);
    renderHoldouts(holdouts);
    renderDecisions(decisions.decisions);
    tickCountdowns();
    refreshes += 1;
    document.body.dataset.refreshes = String(refreshes);
    setLive("live", `Live · updated ${clock(Date.now())}`);
  } catch (e) {
    setLive("error", e.status === 401 ? "Needs a bearer token" : `Cannot read the API: ${e.message}`);
  } finally {
    inflight = false;
    schedule();
  }
}

function schedule() {
  clearTimeout(timer);
  if (document.hidden) {
    setLive("paused", "Paused while this tab is hidden");
    return;
  }
  timer = setTimeout(refresh, POLL_MS);
}

function tickCountdowns() {
  for (const [el, c] of countdowns) {
    if (!el.isConnected) { countdowns.delete(el); continue; }
    const text = c.deadline !== undefined
      ? (c.deadline - Date.now() > 0 ? `in ${duration(c.deadline - Date.now())}` : "at the next look")
      : ago(c.since);
    if (el.textContent !== text) el.textContent = text;
  }
}

document.addEventListener("visibilitychange", () => {
  if (document.hidden) schedule();
  else refresh();
});
setInterval(() => { if (!document.hidden) tickCountdowns(); }, 1000);
$("token-button").addEventListener("click", async () => {
  if (await askToken("Enter a bearer token for this server. It is kept in this tab only (session storage).")) refresh();
});

refresh();
