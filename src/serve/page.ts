// The page at `/`: paste text, press Tag, see the entities highlighted (one colour per label, offsets and score on
// hover); a threshold slider hides the entities scored below it without asking the server again.
// One static string, no build step. The user's text and the model's labels only ever reach the page through
// textContent / attributes set from script, never as HTML, so nothing typed can inject markup.

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>cyclener</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
  textarea { width: 100%; min-height: 8rem; font: inherit; padding: .5rem; box-sizing: border-box; }
  button { font: inherit; padding: .3rem 1.2rem; margin: .5rem 0; }
  #out { white-space: pre-wrap; line-height: 2.4; border-top: 1px solid #ddd; padding-top: 1rem; }
  mark { padding: .15em .35em; border-radius: .35em; }
  mark .label { font-size: .65em; font-weight: bold; text-transform: uppercase; margin-left: .4em; opacity: .75; }
  #legend mark { margin-right: .5rem; }
  #status { color: #a00; min-height: 1.5em; }
  #controls label { margin-left: 1rem; }
  #threshold { vertical-align: middle; }
  small { color: #666; }
</style>
</head>
<body>
<h1>cyclener</h1>
<p><small id="model">loading model information…</small></p>
<textarea id="text" placeholder="Paste text here">Angela Merkel met Emmanuel Macron in Paris.</textarea>
<div id="controls"><button id="tag">Tag</button>
<label>threshold <input id="threshold" type="range" min="0" max="1" step="0.01" value="0"> <output id="threshold-value">0.00</output></label>
<span id="legend"></span></div>
<div id="status"></div>
<div id="out"></div>
<script>
"use strict";
const colours = new Map();
// displaCy's colours for the common types (dataset labels and cyclener's type words), a hashed hue for the rest.
const KNOWN = { per: "#aa9cfc", person: "#aa9cfc", org: "#7aecec", organization: "#7aecec", loc: "#feca74",
  location: "#feca74", gpe: "#feca74", misc: "#e4e7d2", miscellaneous: "#e4e7d2", gene: "#bfe1d9", product: "#bfeeb7" };
function colourOf(label) {
  if (!colours.has(label)) {
    const known = KNOWN[label.toLowerCase()];
    let h = 0;
    for (const c of label) h = (h * 31 + c.codePointAt(0)) % 360;
    colours.set(label, known || "hsl(" + ((h * 47) % 360) + ", 80%, 82%)");
  }
  return colours.get(label);
}
function el(tag, text, attrs) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}
// The last answer, with every entity (threshold 0): the slider filters it here.
let last = null;
const slider = document.getElementById("threshold");
function threshold() { return Number(slider.value); }
function render() {
  if (!last) return;
  const text = last.text;
  const entities = last.entities.filter((e) => e.score >= threshold());
  const out = document.getElementById("out");
  out.replaceChildren();
  let at = 0;
  for (const e of entities) {
    if (e.start < at) continue;
    out.append(document.createTextNode(text.slice(at, e.start)));
    const title = e.label + " [" + e.start + ", " + e.end + ") score " + e.score.toFixed(3);
    const m = el("mark", text.slice(e.start, e.end), { title: title, "data-label": e.label, "data-score": String(e.score) });
    m.style.background = colourOf(e.label);
    m.append(el("span", e.label, { class: "label" }));
    out.append(m);
    at = e.end;
  }
  out.append(document.createTextNode(text.slice(at)));
  const hidden = last.entities.length - entities.length;
  if (hidden > 0) out.append(el("p", "(" + hidden + " below the threshold)", { class: "hidden-count" }));
  else if (entities.length === 0) out.append(el("p", "(no entities)"));
}
async function tag() {
  const text = document.getElementById("text").value;
  const status = document.getElementById("status");
  status.textContent = "";
  if (text.trim() === "") { status.textContent = "Type some text first."; return; }
  const button = document.getElementById("tag");
  button.disabled = true;
  try {
    const r = await fetch("v1/entities", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ texts: [text], threshold: 0 }) });
    const body = await r.json();
    if (!r.ok) { status.textContent = "Error " + r.status + ": " + (body.error || r.statusText); return; }
    last = { text: text, entities: body.results[0] };
    render();
  } catch (err) {
    status.textContent = "Request failed: " + err;
  } finally {
    button.disabled = false;
  }
}
document.getElementById("tag").addEventListener("click", tag);
function showThreshold() { document.getElementById("threshold-value").textContent = threshold().toFixed(2); }
slider.addEventListener("input", () => { showThreshold(); render(); });
fetch("v1/model").then((r) => r.json()).then((m) => {
  // The server's default threshold, unless the slider was moved already.
  if (m.score && threshold() === 0) { slider.value = String(m.score.threshold); showThreshold(); render(); }
  document.getElementById("model").textContent = "model " + m.model + " · types: " + m.types.join(", ");
  const legend = document.getElementById("legend");
  for (const t of m.labels) { const k = el("mark", t); k.style.background = colourOf(t); legend.append(k); }
}).catch(() => { document.getElementById("model").textContent = "model information unavailable"; });
</script>
</body>
</html>
`;
