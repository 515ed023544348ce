/**
 * The inspector's page: one HTML document with its style and script inline (tagged with a per-response
 * nonce for the Content-Security-Policy), shipped as strings so `tsc` carries it into dist/ with no
 * frontend build. The script is in page-render.ts (helpers) and page-script.ts.
 */
import { RENDER_SCRIPT } from './page-render.js';
import { PAGE_SCRIPT } from './page-script.js';

const STYLE = `
:root { --bg:#0f1318; --card:#171c23; --line:#262d38; --fg:#d9dee7; --dim:#8a94a6; --accent:#4f9cf9;
  --ok:#3fb950; --warn:#d29922; --bad:#f85149; --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--fg); font:13px/1.45 system-ui, -apple-system, Segoe UI, sans-serif; }
header { display:flex; flex-wrap:wrap; align-items:center; gap:14px; padding:10px 16px; border-bottom:1px solid var(--line);
  background:#12171e; position:sticky; top:0; z-index:5; }
header h1 { font-size:15px; margin:0; font-weight:600; letter-spacing:.2px; }
header h1 span { color:var(--accent); }
#target { color:var(--dim); font-family:var(--mono); font-size:12px; }
.pill { padding:2px 8px; border-radius:10px; font-size:11px; background:#222a35; color:var(--dim); }
.pill.ok { background:rgba(63,185,80,.15); color:var(--ok); } .pill.warn { background:rgba(210,153,34,.15); color:var(--warn); }
.pill.bad { background:rgba(248,81,73,.15); color:var(--bad); }
.tiles { display:flex; flex-wrap:wrap; gap:8px; margin-left:auto; }
.tile { background:var(--card); border:1px solid var(--line); border-radius:6px; padding:3px 10px; min-width:78px; }
.tile b { display:block; font-size:15px; font-variant-numeric:tabular-nums; }
.tile small { color:var(--dim); font-size:10px; text-transform:uppercase; letter-spacing:.5px; }
main { padding:12px 16px 40px; display:grid; gap:12px; }
.row { display:grid; gap:12px; }
.charts { grid-template-columns: 2fr 1fr 1fr; }
.charts2 { grid-template-columns: 1fr 1fr 1fr; }
.browse { grid-template-columns: minmax(0,1.25fr) minmax(0,1fr); }
.peers { grid-template-columns: 1.3fr 1fr 1fr; }
@media (max-width: 1100px) { .charts, .charts2, .browse, .peers { grid-template-columns: 1fr; } }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:10px 12px; min-width:0; }
.card h2 { font-size:12px; margin:0 0 8px; color:var(--dim); text-transform:uppercase; letter-spacing:.6px; font-weight:600;
  display:flex; align-items:center; gap:8px; }
.card h2 .note { text-transform:none; letter-spacing:0; font-weight:400; }
canvas.chart { width:100%; height:150px; display:block; }
.legend { display:flex; flex-wrap:wrap; gap:4px 12px; margin-top:6px; font-size:11px; color:var(--dim); min-height:16px; }
.legend i { display:inline-block; width:10px; height:3px; margin-right:5px; vertical-align:middle; border-radius:2px; }
.legend b { color:var(--fg); font-weight:500; margin-left:4px; font-variant-numeric:tabular-nums; }
.toolbar { display:flex; flex-wrap:wrap; gap:6px; align-items:center; margin-bottom:8px; }
input, select, textarea, button { font:inherit; color:var(--fg); background:#0f1318; border:1px solid var(--line); border-radius:5px; padding:4px 8px; }
input:focus, select:focus, textarea:focus { outline:1px solid var(--accent); border-color:var(--accent); }
button { cursor:pointer; background:#1f2630; } button:hover { border-color:#3a4452; } button:disabled { opacity:.45; cursor:default; }
button.primary { background:#1d4ed8; border-color:#1d4ed8; color:#fff; } button.danger { background:#5c1d1d; border-color:#7a2626; color:#ffd7d5; }
#search { flex:1; min-width:160px; font-family:var(--mono); }
.chips { display:flex; flex-wrap:wrap; gap:5px; margin-bottom:8px; }
.chip { font-size:11px; padding:1px 8px; border-radius:10px; background:#1f2630; border:1px solid var(--line); cursor:pointer; font-family:var(--mono); }
.chip span { color:var(--dim); margin-left:5px; } .chip.on { border-color:var(--accent); color:var(--accent); }
table { width:100%; border-collapse:collapse; font-size:12px; }
th { text-align:left; color:var(--dim); font-weight:500; padding:4px 6px; border-bottom:1px solid var(--line); white-space:nowrap; }
td { padding:3px 6px; border-bottom:1px solid #1d232c; vertical-align:top; }
td.mono, .mono { font-family:var(--mono); }
td.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
td.key { font-family:var(--mono); word-break:break-all; }
tbody tr.sel { background:#1b2a40; }
#keys-table tbody tr { cursor:pointer; } #keys-table tbody tr:hover { background:#1a2029; }
.scroll { max-height:420px; overflow:auto; }
.type { font-size:10px; padding:0 6px; border-radius:8px; background:#222a35; color:#b7c3d6; font-family:var(--mono); }
.type.map,.type.set { background:#2d2340; color:#cdb4ff; } .type.date { background:#173528; color:#8be0b0; }
.type.bigint,.type.number { background:#3a2d14; color:#f5c46b; } .type.binary { background:#3a1f24; color:#ff9aa8; }
.type.string { background:#14303f; color:#8fd3ff; }
.pager { display:flex; align-items:center; gap:6px; margin-top:8px; } #keys-info { color:var(--dim); margin:0 auto; }
.v-head { display:flex; flex-wrap:wrap; gap:8px; align-items:baseline; margin-bottom:6px; }
#v-key { font-family:var(--mono); font-size:13px; word-break:break-all; color:#fff; }
#v-meta { color:var(--dim); font-size:12px; }
.actions { display:flex; gap:6px; flex-wrap:wrap; margin:6px 0; }
.tree { font-family:var(--mono); font-size:12px; background:#0f1318; border:1px solid var(--line); border-radius:6px;
  padding:8px 10px; max-height:360px; overflow:auto; white-space:pre-wrap; word-break:break-word; }
.tree ul { list-style:none; margin:0; padding-left:16px; border-left:1px dotted #2c3441; }
.tree summary { cursor:pointer; color:var(--dim); } .tree li > details { display:inline-block; vertical-align:top; } .tree .k { color:#9cdcfe; } .tree .s { color:#ce9178; }
.tree .n { color:#b5cea8; } .tree .b { color:#569cd6; } .tree .u { color:#808080; font-style:italic; }
.tree .d { color:#8be0b0; } .tree .x { color:#ff9aa8; } .tree .t { color:#cdb4ff; } .tree .arrow { color:var(--dim); }
#editor label { display:flex; align-items:center; gap:6px; margin:4px 0; color:var(--dim); }
#e-key { flex:1; font-family:var(--mono); }
#e-text { width:100%; min-height:170px; font-family:var(--mono); font-size:12px; resize:vertical; }
.hint { color:var(--dim); font-size:11px; margin:4px 0; }
.error { color:var(--bad); font-size:12px; min-height:16px; white-space:pre-wrap; }
.muted { color:var(--dim); }
#ttl-form { display:flex; gap:6px; align-items:center; margin:6px 0; } #t-ms { width:130px; }
.mon-wrap { max-height:340px; overflow:auto; }
#mon-table td { font-family:var(--mono); font-size:11.5px; white-space:nowrap; }
#mon-table td.args { white-space:normal; word-break:break-all; color:#c8ced8; }
#mon-filter { flex:1; min-width:160px; font-family:var(--mono); }
#mon-info { color:var(--dim); font-size:12px; }
.badge { font-size:10px; padding:0 5px; border-radius:7px; background:#1d4ed8; color:#fff; margin-left:4px; }
dialog { background:var(--card); color:var(--fg); border:1px solid var(--line); border-radius:8px; padding:16px; max-width:520px; }
dialog::backdrop { background:rgba(0,0,0,.55); }
#locks-table td { white-space:pre-line; }
#confirm-text { white-space:pre-wrap; word-break:break-word; margin:0 0 12px; }
[hidden] { display:none !important; }
`;

const BODY = `
<header>
  <h1><span>sharedkv</span> inspector</h1>
  <span id="target"></span>
  <span id="status" class="pill">connecting</span>
  <div class="tiles">
    <div class="tile"><small>ops/s</small><b id="stat-ops">–</b></div>
    <div class="tile"><small>keys</small><b id="stat-keys">–</b></div>
    <div class="tile"><small>memory</small><b id="stat-bytes">–</b></div>
    <div class="tile"><small>clients</small><b id="stat-clients">–</b></div>
    <div class="tile"><small>pending</small><b id="stat-pending">–</b></div>
    <div class="tile"><small>ping p50</small><b id="stat-ping">–</b></div>
    <div class="tile"><small>hit ratio</small><b id="stat-hits">–</b></div>
    <div class="tile"><small>uptime</small><b id="stat-uptime">–</b></div>
  </div>
</header>
<main>
  <section class="row charts">
    <div class="card"><h2>Operations per second, by command</h2><canvas id="chart-ops" class="chart"></canvas><div id="legend-ops" class="legend"></div></div>
    <div class="card"><h2>Latency <span class="note muted" id="latency-note"></span></h2><canvas id="chart-latency" class="chart"></canvas><div id="legend-latency" class="legend"></div></div>
    <div class="card"><h2>Pending calls and clients</h2><canvas id="chart-pending" class="chart"></canvas><div id="legend-pending" class="legend"></div></div>
  </section>
  <section class="row charts2">
    <div class="card"><h2>Keys</h2><canvas id="chart-keys" class="chart"></canvas><div id="legend-keys" class="legend"></div></div>
    <div class="card"><h2>Memory (keys and values)</h2><canvas id="chart-bytes" class="chart"></canvas><div id="legend-bytes" class="legend"></div></div>
    <div class="card"><h2>Owner latency by command <span class="note muted">since start, µs</span></h2><div class="scroll"><table id="latency-table"><thead><tr><th>command</th><th>calls</th><th>mean</th><th>p50</th><th>p99</th><th>max</th></tr></thead><tbody></tbody></table></div></div>
  </section>
  <section class="row browse">
    <div class="card" id="keys-card">
      <h2>Keys <span class="note muted" id="ns-note"></span></h2>
      <div id="ns-list" class="chips"></div>
      <div class="toolbar">
        <input id="search" placeholder="glob, e.g. user:* or *:item:[0-9]" value="*" spellcheck="false">
        <select id="type-filter" title="type"><option value="">any type</option></select>
        <select id="page-size" title="page size"><option>50</option><option selected>100</option><option>500</option></select>
        <button id="search-go" class="primary">Search</button>
        <button id="new-key">New key</button>
      </div>
      <div class="scroll"><table id="keys-table"><thead><tr><th>key</th><th>type</th><th>size</th><th>ttl</th></tr></thead><tbody></tbody></table></div>
      <div class="pager"><button id="page-first">« First</button><button id="page-prev">‹ Prev</button><span id="keys-info"></span><button id="page-next">Next ›</button></div>
    </div>
    <div class="card" id="viewer">
      <h2>Value</h2>
      <div id="v-empty" class="muted">Select a key to see its value.</div>
      <div id="v-body" hidden>
        <div class="v-head"><span id="v-key"></span><span id="v-meta"></span></div>
        <div class="actions">
          <button id="v-edit">Edit</button><button id="v-ttl">Set TTL</button><button id="v-delete" class="danger">Delete</button><button id="v-refresh">Reload</button>
        </div>
        <div id="ttl-form" hidden>
          <input id="t-ms" type="number" min="1" step="1" placeholder="ttl in ms">
          <button id="t-set" class="primary">Set TTL</button><button id="t-persist">Remove TTL</button><button id="t-cancel">Cancel</button>
        </div>
        <div id="v-tree" class="tree"></div>
        <div id="v-note" class="hint"></div>
      </div>
      <div id="editor" hidden>
        <label>Key <input id="e-key" spellcheck="false"></label>
        <label>Type <select id="e-type"></select></label>
        <div id="e-hint" class="hint"></div>
        <textarea id="e-text" spellcheck="false"></textarea>
        <label>TTL <select id="e-ttl-mode"><option value="keep">keep current</option><option value="none">no expiry</option><option value="set">expire in (ms)</option></select>
          <input id="e-ttl" type="number" min="1" step="1" placeholder="ms" hidden></label>
        <div id="e-error" class="error"></div>
        <div class="actions"><button id="e-save" class="primary">Save</button><button id="e-cancel">Cancel</button></div>
      </div>
    </div>
  </section>
  <section class="row peers">
    <div class="card"><h2>Clients <span class="note muted" id="clients-note"></span></h2><div class="scroll"><table id="clients-table"><thead><tr><th>#</th><th>client</th><th>pid</th><th>transport</th><th>waiting</th><th>locks held</th><th>subscriptions</th></tr></thead><tbody></tbody></table></div></div>
    <div class="card"><h2>Locks</h2><div class="scroll"><table id="locks-table"><thead><tr><th>lock</th><th>holders</th><th>waiters</th><th>fence</th></tr></thead><tbody></tbody></table></div></div>
    <div class="card"><h2>Subscriptions and watches</h2><div class="scroll"><table id="subs-table"><thead><tr><th>kind</th><th>target</th><th>clients</th></tr></thead><tbody></tbody></table></div></div>
  </section>
  <section class="card" id="monitor">
    <h2>Command stream</h2>
    <div class="toolbar">
      <button id="mon-toggle">Pause</button>
      <input id="mon-filter" placeholder="filter: command, client or argument text" spellcheck="false">
      <button id="mon-clear">Clear</button>
      <span id="mon-info"></span>
    </div>
    <div class="mon-wrap"><table id="mon-table"><thead><tr><th>time</th><th>client</th><th>command</th><th>arguments</th></tr></thead><tbody></tbody></table></div>
  </section>
</main>
<dialog id="confirm">
  <p id="confirm-text"></p>
  <div class="actions"><button id="confirm-cancel">Cancel</button><button id="confirm-ok" class="danger">Confirm</button></div>
</dialog>
`;

/** The page's HTML, with `nonce` on its inline style and script (see the CSP in http.ts). */
export function renderPage(nonce: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>sharedkv inspector</title>
<link rel="icon" href="data:,">
<style nonce="${nonce}">${STYLE}</style>
</head>
<body>${BODY}
<script nonce="${nonce}">${RENDER_SCRIPT}\n${PAGE_SCRIPT}</script>
</body>
</html>`;
}
