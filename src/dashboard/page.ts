/**
 * The dashboard page: HTML, CSS and the browser script as strings (package.json ships only compiled .js,
 * and there is no build step for the browser). Everything loads from the daemon's listener; the CSP of
 * server.ts forbids anything else. The script polls `/api/snapshot` once a second, computes rates from the
 * counter deltas, and re-renders; every text from the snapshot goes through escapeHtml (escape.ts), whose
 * source is embedded here as is.
 */
import { escapeHtml } from './escape.js';

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>xvs dashboard</title>
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/app.css">
<script src="/app.js" defer></script>
</head>
<body>
<header><h1>xvs</h1><span class="ro">read-only</span><span id="status">connecting…</span></header>
<main id="app"><p class="muted">loading…</p></main>
</body>
</html>
`;

/** a switch with three ports, as the browser tab's icon */
export const DASHBOARD_ICON = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect x="1" y="5" width="14" height="6" rx="2" fill="#4f46e5"/><circle cx="4.5" cy="8" r="1.2" fill="#fff"/><circle cx="8" cy="8" r="1.2" fill="#fff"/><circle cx="11.5" cy="8" r="1.2" fill="#fff"/></svg>';

export const DASHBOARD_CSS = `
:root { --bg:#f6f7f9; --card:#fff; --ink:#1d2330; --muted:#6b7280; --line:#d5d9e0; --rx:#2563eb; --tx:#d97706; --ok:#16a34a; --bad:#dc2626; --warn:#ca8a04; }
* { box-sizing: border-box; }
body { margin:0; font: 14px/1.4 system-ui, sans-serif; background: var(--bg); color: var(--ink); }
header { display:flex; gap:12px; align-items:baseline; padding:10px 20px; background:#1d2330; color:#fff; }
header h1 { margin:0; font-size:20px; }
.ro { font-size:12px; padding:1px 6px; border:1px solid #9ca3af; border-radius:8px; color:#d1d5db; }
#status { margin-left:auto; font-size:12px; color:#d1d5db; }
#status.err { color:#fca5a5; }
main { padding: 12px 20px; }
section.switch, section.hnv { background: var(--card); border:1px solid var(--line); border-radius:8px; padding:12px 16px; margin-bottom:16px; }
h2 { margin:0 0 8px; font-size:17px; }
h3 { margin:14px 0 6px; font-size:14px; color:#374151; }
.muted { color: var(--muted); }
svg.topo { display:block; max-width:100%; }
svg.topo text { font: 12px system-ui, sans-serif; fill: var(--ink); }
svg.topo text.small { font-size:10px; fill: var(--muted); }
svg.topo .sw { fill:#e0e7ff; stroke:#4f46e5; }
svg.topo .port { fill:#fff; stroke:#9ca3af; }
svg.topo .link { stroke:#9ca3af; stroke-width:2; }
svg.topo .up { fill: var(--ok); } svg.topo .down { fill: var(--bad); }
ol.pipeline { list-style:none; margin:0; padding:0; display:flex; flex-wrap:wrap; gap:6px; align-items:center; }
ol.pipeline li { border:1px solid var(--line); border-radius:6px; padding:4px 8px; background:#fafafa; }
ol.pipeline li.state-empty { color: var(--muted); border-style:dashed; }
ol.pipeline li .path { font-size:10px; text-transform:uppercase; color: var(--muted); margin-right:4px; }
ol.pipeline li.arrow { border:none; background:none; padding:0; color: var(--muted); }
.chip { display:inline-block; font-size:12px; padding:0 6px; margin-left:4px; border-radius:8px; background:#e5e7eb; }
.chip.running { background:#dcfce7; } .chip.failed { background:#fee2e2; } .chip.disabled { background:#f3f4f6; color: var(--muted); }
table { border-collapse: collapse; font-size:13px; }
th, td { text-align:left; padding:2px 10px 2px 0; border-bottom:1px solid #eef0f3; }
td.num, th.num { text-align:right; font-variant-numeric: tabular-nums; }
.charts { display:flex; flex-wrap:wrap; gap:10px; }
.chart { border:1px solid var(--line); border-radius:6px; padding:6px 8px; width:260px; }
.chart .name { font-weight:600; }
.chart svg { display:block; background:#fbfbfc; }
.chart path { fill:none; stroke-width:1.5; }
.chart path.rx { stroke: var(--rx); } .chart path.tx { stroke: var(--tx); }
.rx-t { color: var(--rx); } .tx-t { color: var(--tx); }
svg.bar { display:block; } svg.bar rect { fill: var(--bad); }
td.reach { width:22px; text-align:center; }
td.reach.same-vsid { background:#bbf7d0; } td.reach.routed { background:#fde68a; } td.reach.none { background:#f3f4f6; color:#9ca3af; } td.reach.self { background:#e5e7eb; }
`;

/** The browser script (plain ES2017; no template literals, so it can live in this one). */
const CLIENT = String.raw`(function () {
var WINDOW = 60;
var portRates = new Map(); // per port: the last counters and the rates of the last WINDOW polls
var e = escapeHtml;

function fmt(v) {
  if (v >= 1e9) return (v / 1e9).toFixed(1) + 'G';
  if (v >= 1e6) return (v / 1e6).toFixed(1) + 'M';
  if (v >= 1e3) return (v / 1e3).toFixed(1) + 'k';
  return v >= 10 ? v.toFixed(0) : v.toFixed(1);
}

/** counters → packets per second, per port, over the last WINDOW polls */
function account(snap) {
  var seen = new Set();
  snap.switches.forEach(function (sw) {
    sw.ports.forEach(function (p) {
      var key = sw.name + '\u0000' + p.name;
      seen.add(key);
      var h = portRates.get(key);
      if (!h) { h = { last: null, rx: [], tx: [] }; portRates.set(key, h); }
      if (h.last && snap.at > h.last.at) {
        var dt = (snap.at - h.last.at) / 1000;
        h.rx.push(Math.max(0, (p.rxPackets - h.last.rx) / dt));
        h.tx.push(Math.max(0, (p.txPackets - h.last.tx) / dt));
        if (h.rx.length > WINDOW) { h.rx.shift(); h.tx.shift(); }
      }
      h.last = { at: snap.at, rx: p.rxPackets, tx: p.txPackets };
    });
  });
  portRates.forEach(function (_, k) { if (!seen.has(k)) portRates.delete(k); });
}

function linePath(values, max, w, h) {
  if (values.length === 0) return 'M0 ' + h;
  var step = w / (WINDOW - 1);
  var x0 = w - step * (values.length - 1);
  return values.map(function (v, i) {
    return (i === 0 ? 'M' : 'L') + (x0 + i * step).toFixed(1) + ' ' + (h - (v / max) * (h - 4)).toFixed(1);
  }).join(' ');
}

function label(text, max) {
  return text.length > max ? text.slice(0, max - 1) + '…' : text;
}

/** the switch in the middle, uplink and host port above it, VM ports below, each with its link state */
function topology(sw) {
  var top = sw.ports.filter(function (p) { return p.kind !== 'vm'; });
  var vms = sw.ports.filter(function (p) { return p.kind === 'vm'; });
  var bw = 130, bh = 44, gap = 14;
  var width = Math.max(560, vms.length * (bw + gap) + gap, top.length * (bw + gap) + gap + 200);
  var height = 250, cx = width / 2, sy = 103;
  var out = [];
  function box(p, x, y) {
    var state = p.up ? 'up' : 'down';
    var role = p.kind === 'external' ? 'uplink' : p.kind === 'internal' ? 'host port' : 'vm';
    out.push('<g class="port-node" data-port="' + e(p.name) + '" data-kind="' + e(p.kind) + '"><title>' + e(p.name) + ' (' + e(role) + ', netdev ' + e(p.netdev) + ', link ' + state + ')</title>' +
      '<rect class="port" x="' + x + '" y="' + y + '" width="' + bw + '" height="' + bh + '" rx="6"/>' +
      '<circle class="' + state + '" cx="' + (x + 12) + '" cy="' + (y + 14) + '" r="5"/>' +
      '<text x="' + (x + 22) + '" y="' + (y + 18) + '">' + e(label(p.name, 15)) + '</text>' +
      '<text class="small" x="' + (x + 10) + '" y="' + (y + 35) + '">' + e(role) + ' · ' + e(label(p.netdev, 13)) + '</text></g>');
  }
  var links = [];
  top.forEach(function (p, i) {
    var x = cx - (top.length * (bw + gap) - gap) / 2 + i * (bw + gap);
    links.push('<line class="link" x1="' + (x + bw / 2) + '" y1="' + (10 + bh) + '" x2="' + cx + '" y2="' + sy + '"/>');
    box(p, x, 10);
  });
  vms.forEach(function (p, i) {
    var x = cx - (vms.length * (bw + gap) - gap) / 2 + i * (bw + gap);
    links.push('<line class="link" x1="' + (x + bw / 2) + '" y1="' + (height - 10 - bh) + '" x2="' + cx + '" y2="' + (sy + 44) + '"/>');
    box(p, x, height - 10 - bh);
  });
  var sw0 = '<rect class="sw" x="' + (cx - 110) + '" y="' + sy + '" width="220" height="44" rx="8"/>' +
    '<text x="' + cx + '" y="' + (sy + 19) + '" text-anchor="middle" font-weight="600">' + e(label(sw.name, 24)) + '</text>' +
    '<text class="small" x="' + cx + '" y="' + (sy + 35) + '" text-anchor="middle">' + e(sw.type) + ' switch · ' + sw.ports.length + ' ports</text>';
  return '<svg class="topo" role="img" aria-label="switch ' + e(sw.name) + ' and its ports" viewBox="0 0 ' + width + ' ' + height + '" width="' + width + '" height="' + height + '">' +
    links.join('') + sw0 + out.join('') + '</svg>';
}

function pipeline(sw) {
  var ext = new Map(sw.extensions.map(function (x) { return [x.name, x]; }));
  var items = sw.pipeline.map(function (s) {
    var inner = '';
    (s.extensions || []).forEach(function (n) {
      var x = ext.get(n);
      var st = !x ? 'running' : !x.enabled ? 'disabled' : x.running ? 'running' : 'failed';
      inner += '<span class="chip ext ' + st + '" data-extension="' + e(n) + '" title="' + e(st) + '">' + e(n) + '</span>';
    });
    (s.policies || []).forEach(function (p) {
      inner += '<span class="chip policy" data-policy="' + e(p.policy) + '" title="' + e(p.ports.join('\n')) + '">' + e(p.policy) + ' ×' + p.ports.length + '</span>';
    });
    return '<li class="stage state-' + e(s.state) + '" data-stage="' + e(s.stage) + '"><span class="path">' + e(s.path) + '</span><b>' + e(s.stage) + '</b>' + inner + '</li>';
  });
  var failed = sw.failed.length === 0 ? '' : '<p class="bad">taken out after a failure: ' + sw.failed.map(function (f) { return e(f.name) + ' (' + e(f.error) + ')'; }).join(', ') + '</p>';
  return '<ol class="pipeline">' + items.join('<li class="arrow" aria-hidden="true">→</li>') + '</ol>' + failed;
}

function extensions(sw) {
  if (sw.extensions.length === 0) return '<p class="muted">no extensions</p>';
  return '<table class="extensions"><tr><th>extension</th><th>state</th><th>on error</th><th class="num">frames</th><th class="num">drops</th><th class="num">errors</th><th>last failure</th></tr>' +
    sw.extensions.map(function (x) {
      var st = !x.enabled ? 'disabled' : x.running ? 'running' : 'failed';
      return '<tr data-extension="' + e(x.name) + '"><td>' + e(x.name) + '</td><td><span class="chip ' + st + '">' + st + '</span></td><td>' + e(x.onError) + '</td><td class="num">' + e(x.frames) + '</td><td class="num">' + e(x.drops) + '</td><td class="num">' + e(x.errors) + '</td><td>' + e(x.failure || '') + '</td></tr>';
    }).join('') + '</table>';
}

function charts(sw) {
  var w = 240, h = 60;
  return '<div class="charts">' + sw.ports.map(function (p) {
    var hist = portRates.get(sw.name + '\u0000' + p.name) || { rx: [], tx: [] };
    var max = Math.max(1, Math.max.apply(null, hist.rx.concat(hist.tx)));
    var rx = hist.rx.length ? hist.rx[hist.rx.length - 1] : 0;
    var tx = hist.tx.length ? hist.tx[hist.tx.length - 1] : 0;
    return '<div class="chart" data-switch="' + e(sw.name) + '" data-port="' + e(p.name) + '"><div class="name">' + e(p.name) + '</div>' +
      '<svg width="' + w + '" height="' + h + '" viewBox="0 0 ' + w + ' ' + h + '" role="img" aria-label="packets per second of port ' + e(p.name) + '">' +
      '<path class="rx" d="' + linePath(hist.rx, max, w, h) + '"/><path class="tx" d="' + linePath(hist.tx, max, w, h) + '"/></svg>' +
      '<div class="rates"><span class="rx-t">in <span class="rx-v">' + fmt(rx) + '</span> pps</span> · <span class="tx-t">out <span class="tx-v">' + fmt(tx) + '</span> pps</span> <span class="muted">(max ' + fmt(max) + ')</span></div></div>';
  }).join('') + '</div><p class="muted">in: frames the switch received from the port; out: frames it sent to the port (last ' + WINDOW + ' s)</p>';
}

function drops(sw) {
  var rows = [];
  sw.ports.forEach(function (p) {
    Object.keys(p.drops).forEach(function (r) { rows.push({ port: p.name, reason: r, n: p.drops[r] }); });
  });
  if (rows.length === 0) return '<p class="muted drops-none">no drops</p>';
  rows.sort(function (a, b) { return b.n - a.n; });
  var max = rows[0].n;
  return '<table class="drops"><tr><th>reason</th><th>port</th><th class="num">frames</th><th></th></tr>' + rows.map(function (r) {
    return '<tr data-reason="' + e(r.reason) + '"><td>' + e(r.reason) + '</td><td>' + e(r.port) + '</td><td class="num">' + e(r.n) + '</td><td><svg class="bar" width="200" height="10"><rect width="' + Math.max(2, Math.round((r.n / max) * 200)) + '" height="10" rx="2"/></svg></td></tr>';
  }).join('') + '</table>';
}

function table(cols, rows) {
  if (rows.length === 0) return '<p class="muted">none</p>';
  return '<table><tr>' + cols.map(function (c) { return '<th>' + e(c) + '</th>'; }).join('') + '</tr>' +
    rows.map(function (r) { return '<tr>' + r.map(function (v) { return '<td>' + e(v === undefined || v === null ? '' : v) + '</td>'; }).join('') + '</tr>'; }).join('') + '</table>';
}

function hnv(h) {
  if (!h) return '<section class="hnv" id="hnv"><h2>HNV</h2><p class="muted">not available</p></section>';
  var r = h.reachability;
  var reach = r.endpoints.length === 0 ? '<p class="muted">no lookup records</p>' :
    '<table class="reach"><tr><th></th>' + r.endpoints.map(function (_, j) { return '<th>' + (j + 1) + '</th>'; }).join('') + '</tr>' +
    r.endpoints.map(function (a, i) {
      return '<tr><th>' + (i + 1) + ' ' + e(a.ca) + ' <span class="muted">VSID ' + e(a.vsid) + ' · ' + e(a.location) + '</span></th>' + r.reach[i].map(function (c) {
        var sym = c === 'same-vsid' ? '●' : c === 'routed' ? '◐' : c === 'self' ? '' : '·';
        return '<td class="reach ' + e(c) + '" title="' + e(c) + '">' + sym + '</td>';
      }).join('') + '</tr>';
    }).join('') + '</table><p class="muted">● same virtual subnet · ◐ routed within the routing domain · · isolated — what the HNV policy allows, from the records (not a probe)' +
    (r.omitted > 0 ? '; ' + r.omitted + ' more records not shown' : '') + '</p>';
  return '<section class="hnv" id="hnv"><h2>HNV</h2><p class="muted">host ' + e(h.host) + ' · policy source ' + e(h.source) + '</p>' +
    '<h3>Lookup records</h3>' + table(['VSID', 'CA', 'MAC', 'PA', 'encap', 'type', 'location'], h.lookupRecords.map(function (x) { return [x.vsid, x.ca, x.mac, x.pa, x.encap, x.type || 'static', x.location + (x.paHost ? ' (' + x.paHost + ')' : '')]; })) +
    '<h3>Provider addresses</h3>' + table(['switch', 'address', 'VLAN', 'gateway', 'host', 'local'], h.providerAddresses.map(function (x) { return [x.switch, x.address + '/' + x.prefixLength, x.vlanId, x.gateway, x.host, x.local ? 'yes' : 'no']; })) +
    '<h3>Virtual subnets</h3>' + table(['VSID', 'routing domain', 'records', 'ports', 'MTU'], h.vsids.map(function (x) { return [x.vsid, x.routingDomain, x.records, x.ports.join(', '), x.mtu]; })) +
    '<h3>Customer routes</h3>' + table(['routing domain', 'VSID', 'prefix', 'next hop', 'metric'], h.customerRoutes.map(function (x) { return [x.routingDomain, x.vsid, x.prefix, x.nextHop, x.metric]; })) +
    '<h3>Reachability</h3>' + reach + '</section>';
}

function render(snap) {
  var html = snap.switches.length === 0 ? '<p class="muted">no switches</p>' : '';
  snap.switches.forEach(function (sw) {
    html += '<section class="switch" data-switch="' + e(sw.name) + '"><h2>' + e(sw.name) + ' <span class="muted">' + e(sw.type) + '</span></h2>' +
      topology(sw) + '<h3>Pipeline</h3>' + pipeline(sw) + '<h3>Extensions</h3>' + extensions(sw) +
      '<h3>Port rates</h3>' + charts(sw) + '<h3>Drops by reason</h3>' + drops(sw) + '</section>';
  });
  html += hnv(snap.hnv);
  document.getElementById('app').innerHTML = html;
}

var polls = 0;
function poll() {
  fetch('/api/snapshot', { cache: 'no-store' }).then(function (r) {
    if (!r.ok) throw new Error('HTTP ' + r.status);
    return r.json();
  }).then(function (snap) {
    account(snap);
    render(snap);
    polls++;
    var st = document.getElementById('status');
    st.className = '';
    st.textContent = 'updated ' + new Date(snap.at).toLocaleTimeString() + ' · poll ' + polls;
    document.body.setAttribute('data-polls', String(polls));
  }).catch(function (err) {
    var st = document.getElementById('status');
    st.className = 'err';
    st.textContent = 'daemon not answering: ' + err.message;
  }).then(function () { setTimeout(poll, 1000); });
}
poll();
})();
`;

/** the script served as /app.js: the escaping function, then the page logic */
export function dashboardScript(): string {
  return `'use strict';\n${escapeHtml.toString()}\n${CLIENT}`;
}
