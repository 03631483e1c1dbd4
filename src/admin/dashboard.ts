/**
 * The admin dashboard: one page that polls the JSON API every 2 s (figures, publications,
 * clients, a bit-rate chart) and plays any publication in the page over WebSocket-FLV with
 * mpegts.js (served by the admin listener from its npm package; the stream itself comes from the
 * HTTP port, where WebSocket-FLV lives). Plain DOM code, no build step: the page is these strings.
 */

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>monats</title>
<style>
  :root { --bg:#0f1419; --panel:#172028; --line:#26323d; --text:#dce3ea; --dim:#8a99a8; --accent:#4fb3ff; --good:#5fd38d; --bad:#ff6b6b; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.4 system-ui, sans-serif; background:var(--bg); color:var(--text); }
  header { display:flex; align-items:baseline; gap:16px; padding:14px 24px; border-bottom:1px solid var(--line); flex-wrap:wrap; }
  header h1 { margin:0; font-size:20px; }
  header .dim { color:var(--dim); }
  #status { margin-left:auto; }
  #status.bad { color:var(--bad); }
  main { padding:16px 24px; display:grid; gap:16px; grid-template-columns: minmax(0,1fr) 400px; }
  section { background:var(--panel); border:1px solid var(--line); border-radius:8px; padding:12px 16px; min-width:0; }
  section h2 { margin:0 0 8px; font-size:13px; text-transform:uppercase; letter-spacing:.06em; color:var(--dim); }
  .wide { grid-column: 1 / -1; }
  .tiles { display:grid; grid-template-columns:repeat(auto-fit,minmax(130px,1fr)); gap:10px; }
  .tile { background:var(--bg); border:1px solid var(--line); border-radius:6px; padding:8px 12px; }
  .tile .v { font-size:22px; font-weight:600; font-variant-numeric:tabular-nums; }
  .tile .k { color:var(--dim); font-size:12px; }
  table { width:100%; border-collapse:collapse; font-variant-numeric:tabular-nums; }
  th, td { text-align:left; padding:5px 6px; border-bottom:1px solid var(--line); white-space:nowrap; }
  td.wrap { white-space:normal; }
  td.actions { text-align:right; }
  th { color:var(--dim); font-weight:500; font-size:12px; }
  td.num, th.num { text-align:right; }
  .empty { color:var(--dim); padding:8px; }
  button { background:transparent; color:var(--accent); border:1px solid var(--accent); border-radius:4px; padding:1px 8px; cursor:pointer; font:inherit; font-size:13px; margin:1px 0; }
  button.danger { color:var(--bad); border-color:var(--bad); }
  video { width:100%; background:#000; border-radius:6px; aspect-ratio:16/9; }
  #player-info { color:var(--dim); font-size:12px; margin-top:6px; word-break:break-all; }
  canvas { width:100%; height:120px; display:block; }
  .legend span { margin-right:14px; font-size:12px; }
  .in { color:var(--good); } .out { color:var(--accent); }
  .scroll { overflow-x:auto; }
  footer { padding:0 24px 16px; color:var(--dim); font-size:12px; }
  footer a { color:var(--dim); }
  @media (max-width: 1000px) { main { grid-template-columns: 1fr; } }
</style>
</head>
<body>
<header>
  <h1>monats</h1>
  <span class="dim" id="version"></span>
  <span id="status">connecting…</span>
  <div class="dim" id="listening" style="flex-basis:100%; font-size:12px"></div>
</header>
<main>
  <section class="wide">
    <div class="tiles">
      <div class="tile"><div class="v" id="t-clients">–</div><div class="k">clients</div></div>
      <div class="tile"><div class="v" id="t-publications">–</div><div class="k">publications</div></div>
      <div class="tile"><div class="v" id="t-listeners">–</div><div class="k">listeners</div></div>
      <div class="tile"><div class="v in" id="t-in">–</div><div class="k">received</div></div>
      <div class="tile"><div class="v out" id="t-out">–</div><div class="k">sent to players</div></div>
      <div class="tile"><div class="v" id="t-uptime">–</div><div class="k">uptime</div></div>
      <div class="tile"><div class="v" id="t-rss">–</div><div class="k">memory (RSS)</div></div>
    </div>
  </section>
  <section>
    <h2>Publications</h2>
    <div class="scroll"><table id="publications"><thead><tr>
      <th>name</th><th>app</th><th>publisher</th><th>codecs</th><th class="num">in</th><th class="num">out</th>
      <th class="num">listeners</th><th class="num">dropped</th><th></th>
    </tr></thead><tbody></tbody></table></div>
    <h2 style="margin-top:16px">Bit rate (last 2 minutes)</h2>
    <canvas id="chart" width="800" height="120"></canvas>
    <div class="legend"><span class="in">■ received</span><span class="out">■ sent</span></div>
  </section>
  <section>
    <h2>Player</h2>
    <video id="player" controls muted playsinline></video>
    <div id="player-info">Press “play” on a publication to watch it here (WebSocket-FLV).</div>
  </section>
  <section class="wide">
    <h2>Clients</h2>
    <div class="scroll"><table id="clients"><thead><tr>
      <th>protocol</th><th>address</th><th>app</th><th class="num">connected for</th><th class="num">in</th>
      <th class="num">out</th><th class="num">ping</th><th>publishing</th><th>playing</th><th></th>
    </tr></thead><tbody></tbody></table></div>
  </section>
</main>
<footer>JSON API under <a href="/v1/server">/v1/</a> · Prometheus metrics at <a href="/metrics">/metrics</a></footer>
<script src="/assets/mpegts.js"></script>
<script src="/assets/dashboard.js"></script>
</body>
</html>
`;

export const DASHBOARD_SCRIPT = `'use strict';
(function () {
  var $ = function (id) { return document.getElementById(id); };
  var server = null, history = [], player = null, playing = null;

  function bits(n) {
    if (n < 1000) return Math.round(n) + ' bit/s';
    if (n < 1e6) return (n / 1e3).toFixed(n < 1e4 ? 1 : 0) + ' kbit/s';
    return (n / 1e6).toFixed(n < 1e7 ? 2 : 1) + ' Mbit/s';
  }
  function bytes(n) {
    if (n < 1000) return n + ' B';
    var u = ['KB', 'MB', 'GB', 'TB'], i = -1;
    do { n /= 1000; i++; } while (n >= 1000 && i < u.length - 1);
    return n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0) + ' ' + u[i];
  }
  function duration(s) {
    s = Math.max(0, Math.floor(s));
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
    if (s < 86400) return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
    return Math.floor(s / 86400) + ' d ' + Math.floor((s % 86400) / 3600) + ' h';
  }
  function cell(tr, text, cls) {
    var td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }
  function button(td, label, cls, onclick) {
    var b = document.createElement('button');
    b.textContent = label;
    if (cls) b.className = cls;
    b.onclick = onclick;
    td.appendChild(b);
    td.appendChild(document.createTextNode(' '));
    return b;
  }
  function fill(table, rows, empty, columns) {
    var body = table.tBodies[0];
    body.textContent = '';
    if (!rows.length) {
      var tr = body.insertRow();
      var td = cell(tr, empty, 'empty');
      td.colSpan = columns;
      return;
    }
    rows.forEach(function (r) { body.appendChild(r); });
  }
  function api(path, method) {
    return fetch(path, { method: method || 'GET', cache: 'no-store' }).then(function (r) {
      if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
      return r.json();
    });
  }

  function streamURL(pub) {
    var http = server && server.ports.http;
    if (!http) return null;
    var host = location.hostname.indexOf(':') >= 0 && location.hostname[0] !== '[' ? '[' + location.hostname + ']' : location.hostname;
    var app = pub.app && pub.app !== '/' ? pub.app : '';
    return (location.protocol === 'https:' ? 'wss://' : 'ws://') + host + ':' + http + app + '/' + encodeURIComponent(pub.name) + '.flv';
  }
  function stop() {
    if (player) { try { player.destroy(); } catch (e) {} }
    player = null; playing = null;
    $('player-info').textContent = 'Stopped.';
  }
  function play(pub) {
    stop();
    var url = streamURL(pub);
    if (!url) { $('player-info').textContent = 'HTTP is disabled: no WebSocket-FLV to play from.'; return; }
    if (!window.mpegts || !mpegts.isSupported()) { $('player-info').textContent = 'This browser has no Media Source Extensions.'; return; }
    player = mpegts.createPlayer({ type: 'flv', isLive: true, url: url }, { enableStashBuffer: false, liveBufferLatencyChasing: true });
    player.attachMediaElement($('player'));
    player.on(mpegts.Events.ERROR, function (type, detail) { $('player-info').textContent = 'Player error: ' + type + ' ' + detail; });
    player.load();
    var p = player.play();
    if (p && p.catch) p.catch(function () {});
    playing = pub.name;
    $('player-info').textContent = 'Playing ' + pub.name + ' from ' + url;
  }

  function renderPublications(list) {
    var rows = list.filter(function (p) { return p.running; }).map(function (p) {
      var tr = document.createElement('tr');
      cell(tr, p.name);
      cell(tr, p.app || '(script)');
      cell(tr, p.publisher ? p.publisher.protocol + ' ' + p.publisher.address : 'script', 'wrap');
      cell(tr, [p.codecs.video, p.codecs.audio].filter(Boolean).join(' + ') || '–');
      cell(tr, bits(p.bitrateIn), 'num');
      cell(tr, bits(p.bitrateOut), 'num');
      cell(tr, String(p.listeners), 'num');
      cell(tr, String(p.droppedFrames), 'num');
      var td = cell(tr, '', 'actions');
      button(td, playing === p.name ? 'stop' : 'play', '', function () { playing === p.name ? stop() : play(p); refresh(); });
      button(td, 'close', 'danger', function () {
        if (confirm('Close publication ' + p.name + '?')) api('/v1/publications/' + encodeURIComponent(p.name) + '/close', 'POST').then(refresh, alert);
      });
      return tr;
    });
    fill($('publications'), rows, 'Nothing is published. Publish with e.g. ffmpeg -re -i file.flv -c copy -f flv rtmp://host/live/name', 9);
  }
  function renderClients(list) {
    var now = Date.now();
    var rows = list.map(function (c) {
      var tr = document.createElement('tr');
      cell(tr, c.protocol);
      cell(tr, c.address);
      cell(tr, c.app);
      cell(tr, duration((now - Date.parse(c.since)) / 1000), 'num');
      cell(tr, bytes(c.bytesIn), 'num');
      cell(tr, bytes(c.bytesOut), 'num');
      cell(tr, c.ping ? c.ping + ' ms' : '–', 'num');
      cell(tr, c.publishing.join(', '));
      cell(tr, c.playing.join(', '));
      var td = cell(tr, '', 'actions');
      button(td, 'kick', 'danger', function () {
        if (confirm('Disconnect ' + c.protocol + ' ' + c.address + '?')) api('/v1/clients/' + c.id + '/kick', 'POST').then(refresh, alert);
      });
      return tr;
    });
    fill($('clients'), rows, 'No client connected.', 10);
  }
  function drawChart() {
    var canvas = $('chart'), ctx = canvas.getContext('2d');
    var w = canvas.width = canvas.clientWidth * (window.devicePixelRatio || 1);
    var h = canvas.height = 120 * (window.devicePixelRatio || 1);
    ctx.clearRect(0, 0, w, h);
    var max = 1;
    history.forEach(function (p) { max = Math.max(max, p.in, p.out); });
    function line(key, color) {
      ctx.strokeStyle = color; ctx.lineWidth = 2 * (window.devicePixelRatio || 1); ctx.beginPath();
      history.forEach(function (p, i) {
        var x = w - (history.length - 1 - i) * (w / 59), y = h - 4 - (p[key] / max) * (h - 20);
        i ? ctx.lineTo(x, y) : ctx.moveTo(x, y);
      });
      ctx.stroke();
    }
    line('in', '#5fd38d'); line('out', '#4fb3ff');
    ctx.fillStyle = '#8a99a8'; ctx.font = (11 * (window.devicePixelRatio || 1)) + 'px system-ui';
    ctx.fillText(bits(max), 4, 12 * (window.devicePixelRatio || 1));
  }

  function refresh() {
    return Promise.all([api('/v1/server'), api('/v1/publications'), api('/v1/clients')]).then(function (r) {
      server = r[0];
      var pubs = r[1], clients = r[2];
      $('version').textContent = 'v' + server.version + ' · node ' + server.node + ' · pid ' + server.pid;
      $('listening').textContent = server.listening.map(function (l) { return l.protocol + ' ' + l.addresses.join(', '); }).join(' · ');
      var running = pubs.filter(function (p) { return p.running; });
      var bin = 0, bout = 0, listeners = 0;
      running.forEach(function (p) { bin += p.bitrateIn; bout += p.bitrateOut; });
      pubs.forEach(function (p) { listeners += p.listeners; });
      $('t-clients').textContent = clients.length;
      $('t-publications').textContent = running.length;
      $('t-listeners').textContent = listeners;
      $('t-in').textContent = bits(bin);
      $('t-out').textContent = bits(bout);
      $('t-uptime').textContent = duration(server.uptime);
      $('t-rss').textContent = bytes(server.memory.rss);
      history.push({ in: bin, out: bout });
      if (history.length > 60) history.shift();
      renderPublications(pubs);
      renderClients(clients);
      drawChart();
      if (playing && !running.some(function (p) { return p.name === playing; })) stop();
      $('status').textContent = 'live · updated ' + new Date().toLocaleTimeString();
      $('status').className = '';
    }).catch(function (e) {
      $('status').textContent = 'server unreachable (' + e.message + ')';
      $('status').className = 'bad';
    });
  }
  refresh();
  setInterval(refresh, 2000);
})();
`;
