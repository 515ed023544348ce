/**
 * The inspector page's script, as a string (plain ES2020 for the browser; no build step), run after the
 * helpers of page-render.ts. It never puts data into HTML: every key, value and label goes through `textContent`, so a stored value cannot inject
 * markup, and the page's CSP allows no other script anyway.
 *
 * Talks to the routes of index.ts: `/api/events` (Server-Sent Events: charts and tables every interval),
 * `/api/monitor` (the command stream), `/api/keys`, `/api/namespaces`, `/api/key`, and the POST routes
 * `/api/set`, `/api/expire`, `/api/del`.
 */
export const PAGE_SCRIPT = String.raw`
(function () {
  'use strict';
  var token = new URLSearchParams(location.search).get('token') || '';
  var info = null;
  var history = [];
  var HISTORY = 300;
  var SHOWN = 120;
  function $(id) { return document.getElementById(id); }
  var COLORS = skv.COLORS, h = skv.h, clear = skv.clear, legend = skv.legend, tagOf = skv.tagOf, render = skv.render;
  var fmtNum = skv.fmtNum, fmtBytes = skv.fmtBytes, fmtTtl = skv.fmtTtl, fmtMs = skv.fmtMs, fmtUptime = skv.fmtUptime;
  var fmtTime = skv.fmtTime, who = skv.who, HINTS = skv.HINTS, inputFor = skv.inputFor;
  function drawChart(canvas, series, fmt) {
    var span = '-' + Math.round((SHOWN * ((info && info.interval) || 1000)) / 1000) + 's';
    skv.drawChart(canvas, series, fmt, SHOWN, span);
  }
  function query(params) {
    var p = new URLSearchParams();
    Object.keys(params || {}).forEach(function (k) { if (params[k] !== undefined && params[k] !== null) p.set(k, String(params[k])); });
    p.set('token', token);
    return p.toString();
  }
  function answer(r) {
    return r.text().then(function (text) {
      var body = null;
      try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
      if (!r.ok) {
        var err = new Error((body && body.error && body.error.message) || ('HTTP ' + r.status));
        err.status = r.status;
        throw err;
      }
      return body;
    });
  }
  function getJson(path, params) { return fetch(path + '?' + query(params)).then(answer); }
  function postJson(path, body) {
    return fetch(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-sharedkv-token': token },
      body: JSON.stringify(body)
    }).then(answer);
  }


  // ---- status ----
  function setStatus(text, kind) {
    var s = $('status');
    s.textContent = text;
    s.className = 'pill ' + (kind || '');
  }

  function column(name) { return history.map(function (p) { return p[name]; }); }
  function drawAll() {
    var recent = history.slice(-SHOWN);
    var totals = {};
    recent.forEach(function (p) { Object.keys(p.byCommand).forEach(function (c) { totals[c] = (totals[c] || 0) + p.byCommand[c]; }); });
    var top = Object.keys(totals).sort(function (a, b) { return totals[b] - totals[a]; }).slice(0, 6);
    var ops = [{ name: 'all', color: '#e6edf3', width: 2, values: column('ops') }];
    top.forEach(function (c, i) {
      ops.push({ name: c, color: COLORS[i % COLORS.length], values: history.map(function (p) { return p.byCommand[c] || 0; }) });
    });
    drawChart($('chart-ops'), ops, fmtNum);
    legend($('legend-ops'), ops, function (v) { return fmtNum(v) + '/s'; });

    var lat = [
      { name: 'ping p50', color: COLORS[0], values: column('pingP50') },
      { name: 'ping p99', color: COLORS[1], values: column('pingP99') }
    ];
    drawChart($('chart-latency'), lat, fmtMs);
    legend($('legend-latency'), lat, fmtMs);
    var exec = column('execUs').filter(function (v) { return v !== null; });
    if (exec.length) {
      var span = h('span', '', 'owner exec mean');
      span.appendChild(h('b', '', exec[exec.length - 1] + ' µs'));
      $('legend-latency').appendChild(span);
    }
    var pend = [
      { name: 'pending', color: COLORS[3], values: column('pending') },
      { name: 'clients', color: COLORS[2], values: column('clients') }
    ];
    drawChart($('chart-pending'), pend, fmtNum);
    legend($('legend-pending'), pend, fmtNum);
    var keys = [{ name: 'keys', color: COLORS[0], values: column('keys') }];
    drawChart($('chart-keys'), keys, fmtNum);
    legend($('legend-keys'), keys, fmtNum);
    var bytes = [{ name: 'bytes', color: COLORS[4], values: column('bytes') }];
    drawChart($('chart-bytes'), bytes, fmtBytes);
    legend($('legend-bytes'), bytes, fmtBytes);
  }

  // ---- live ticks ----
  var ticks = 0;
  var lastKeyCount = null;
  function onTick(t, fresh) {
    if (t.error) { setStatus('owner unreachable', 'bad'); $('status').title = t.error; return; }
    setStatus('live', 'ok');
    $('status').title = '';
    if (fresh && t.point) {
      history.push(t.point);
      if (history.length > HISTORY) history.shift();
    }
    var p = history.length ? history[history.length - 1] : null;
    if (p) {
      $('stat-ops').textContent = fmtNum(p.ops);
      $('stat-keys').textContent = fmtNum(p.keys);
      $('stat-bytes').textContent = fmtBytes(p.bytes);
      $('stat-clients').textContent = String(p.clients);
      $('stat-pending').textContent = String(p.pending);
      $('stat-ping').textContent = fmtMs(p.pingP50);
    }
    if (t.stats) {
      $('stat-uptime').textContent = fmtUptime(t.stats.uptime);
      var reads = t.stats.hits + t.stats.misses;
      $('stat-hits').textContent = reads ? Math.round((100 * t.stats.hits) / reads) + '%' : '–';
      renderLatency(t.stats.latency);
    }
    drawAll();
    renderClients(t.clients);
    renderLocks(t.locks);
    renderSubs(t.subscriptions);
    ticks++;
    document.body.dataset.ticks = String(ticks);
    if (p) {
      if (lastKeyCount !== null && p.keys !== lastKeyCount) keyspaceChanged();
      lastKeyCount = p.keys;
    }
  }
  function cell(row, text, cls) { var td = h('td', cls || '', text); row.appendChild(td); return td; }
  function renderLatency(lat) {
    var body = $('latency-table').tBodies[0];
    clear(body);
    if (!lat) { var r0 = h('tr'); cell(r0, 'not reported by this target', 'muted').colSpan = 6; body.appendChild(r0); return; }
    Object.keys(lat).sort(function (a, b) { return lat[b].calls - lat[a].calls; }).slice(0, 30).forEach(function (name) {
      var l = lat[name];
      var r = h('tr');
      cell(r, name, 'mono');
      cell(r, fmtNum(l.calls), 'num');
      cell(r, l.meanUs, 'num');
      cell(r, l.p50Us, 'num');
      cell(r, l.p99Us, 'num');
      cell(r, l.maxUs, 'num');
      body.appendChild(r);
    });
  }
  function unavailable(body, cols, text) {
    clear(body);
    var r = h('tr');
    cell(r, text, 'muted').colSpan = cols;
    body.appendChild(r);
  }
  function renderClients(res) {
    var body = $('clients-table').tBodies[0];
    if (!res) { unavailable(body, 7, info && !info.features.clients ? 'not available for this target' : '–'); return; }
    clear(body);
    $('clients-note').textContent = res.clients.length + (res.complete ? '' : ' (only those holding locks or subscriptions: the owner does not list sessions)');
    res.clients.forEach(function (c) {
      var r = h('tr');
      r.dataset.client = String(c.id);
      if (c.pid) r.dataset.pid = String(c.pid);
      cell(r, c.id, 'num');
      var name = cell(r, c.label, 'mono');
      if (c.self) name.appendChild(h('span', 'badge', 'this inspector'));
      cell(r, c.pid || '–', 'num');
      cell(r, c.transport);
      cell(r, c.waiting, 'num');
      cell(r, c.locks.map(function (l) { return l.name + ' #' + l.token; }).join(', ') + (c.waitingFor.length ? ' (waits: ' + c.waitingFor.join(', ') + ')' : ''), 'mono');
      cell(r, c.subscriptions.concat(c.watches.map(function (w) { return 'watch ' + w; })).join(', '), 'mono');
      body.appendChild(r);
    });
  }
  function renderLocks(locks) {
    var body = $('locks-table').tBodies[0];
    if (!locks) { unavailable(body, 4, info && !info.features.locks ? 'not available for this target' : '–'); return; }
    clear(body);
    if (!locks.length) { unavailable(body, 4, 'no locks held'); return; }
    locks.forEach(function (l) {
      var r = h('tr');
      r.dataset.lock = l.name;
      cell(r, l.name + (l.limit > 1 ? ' (' + l.holders.length + '/' + l.limit + ')' : ''), 'mono');
      cell(r, l.holders.map(function (x) { return who(x) + (x.pid ? ' pid ' + x.pid : '') + ' #' + x.token + ' · ' + fmtTtl(x.ttl); }).join('\n'), 'mono');
      cell(r, l.waiters.length ? l.waiters.map(function (x) { return who(x) + ' · ' + (x.wait < 0 ? '∞' : fmtTtl(x.wait)); }).join('\n') : '–', 'mono');
      cell(r, l.fence, 'num');
      body.appendChild(r);
    });
  }
  function renderSubs(subs) {
    var body = $('subs-table').tBodies[0];
    if (!subs) { unavailable(body, 3, info && !info.features.subscriptions ? 'not available for this target' : '–'); return; }
    clear(body);
    if (!subs.length) { unavailable(body, 3, 'no subscriptions'); return; }
    subs.forEach(function (s) {
      var r = h('tr');
      cell(r, s.kind);
      cell(r, s.target, 'mono');
      cell(r, s.clients.map(who).join(', '), 'mono');
      body.appendChild(r);
    });
  }
  function connectEvents() {
    var es = new EventSource('/api/events?' + query({}));
    es.addEventListener('init', function (e) {
      var d = JSON.parse(e.data);
      history = d.history || [];
      if (d.last) onTick(d.last, false); else drawAll();
    });
    es.addEventListener('tick', function (e) { onTick(JSON.parse(e.data), true); });
    es.onerror = function () { setStatus('reconnecting…', 'warn'); };
  }

  // ---- keys ----
  var pages = [];
  var pageIndex = -1;
  var selected = null;
  var lastFetch = 0;
  var refreshTimer = null;
  function currentQuery() {
    return { match: $('search').value.trim() || '*', type: $('type-filter').value || undefined, count: Number($('page-size').value) };
  }
  function fetchPage(cursor) {
    var q = currentQuery();
    q.cursor = cursor;
    lastFetch = Date.now();
    return getJson('/api/keys', q);
  }
  var searchSeq = 0;
  function search() {
    $('keys-info').textContent = 'searching…';
    // Answers can arrive out of order (a refresh racing a new search): only the latest one is shown.
    var seq = ++searchSeq;
    return fetchPage(0).then(function (page) {
      if (seq !== searchSeq) return;
      pages = [page];
      pageIndex = 0;
      renderKeys();
    }, function (err) { if (seq === searchSeq) showKeysError(err); });
  }
  function showKeysError(err) { $('keys-info').textContent = 'error: ' + err.message; }
  function renderKeys() {
    var body = $('keys-table').tBodies[0];
    clear(body);
    var page = pages[pageIndex];
    if (!page) return;
    page.items.forEach(function (it) {
      var r = h('tr');
      r.dataset.key = it.key;
      if (selected === it.key) r.className = 'sel';
      cell(r, it.key, 'key');
      var tc = h('td');
      tc.appendChild(h('span', 'type ' + it.type, it.type));
      r.appendChild(tc);
      cell(r, fmtBytes(it.size), 'num');
      cell(r, fmtTtl(it.ttl), 'num');
      r.addEventListener('click', function () { select(it.key); });
      body.appendChild(r);
    });
    var more = page.cursor !== 0;
    $('keys-info').textContent = 'page ' + (pageIndex + 1) + ' · ' + page.items.length + ' keys' + (more ? ' · more' : ' · end');
    $('page-prev').disabled = pageIndex <= 0;
    $('page-first').disabled = pageIndex <= 0;
    $('page-next').disabled = !(pageIndex + 1 < pages.length || more);
  }
  function nextPage() {
    if (pageIndex + 1 < pages.length) { pageIndex++; renderKeys(); return; }
    var page = pages[pageIndex];
    if (!page || page.cursor === 0) return;
    fetchPage(page.cursor).then(function (p) {
      pages.push(p);
      pageIndex = pages.length - 1;
      renderKeys();
    }, function (err) {
      // An expired cursor: start again.
      if (err.status === 400) search(); else showKeysError(err);
    });
  }
  function keyspaceChanged() {
    if (refreshTimer) return;
    var wait = Math.max(0, 2000 - (Date.now() - lastFetch));
    refreshTimer = setTimeout(function () {
      refreshTimer = null;
      if (pageIndex <= 0) search();
      loadNamespaces();
    }, wait);
  }
  var nsTimer = 0;
  function loadNamespaces() {
    if (Date.now() - nsTimer < 4000) return;
    nsTimer = Date.now();
    getJson('/api/namespaces').then(function (r) {
      var list = $('ns-list');
      clear(list);
      var current = $('search').value.trim();
      r.namespaces.forEach(function (ns) {
        var glob = ns.name === '' ? '*' : ns.name.replace(/[*?[\]\\]/g, '\\$&') + ':*';
        var chip = h('span', 'chip' + (current === glob ? ' on' : ''), ns.name === '' ? '(no namespace)' : ns.name);
        chip.dataset.ns = ns.name;
        chip.appendChild(h('span', '', fmtNum(ns.keys)));
        chip.title = fmtNum(ns.keys) + ' keys' + (ns.bytes ? ', ' + fmtBytes(ns.bytes) : '');
        chip.addEventListener('click', function () {
          $('search').value = glob;
          nsTimer = 0;
          search().then(loadNamespaces);
        });
        list.appendChild(chip);
      });
      $('ns-note').textContent = fmtNum(r.total) + ' keys' + (r.partial ? ' (namespaces counted over the first ' + fmtNum(r.scanned) + ')' : '');
    }, function () {});
  }

  // ---- value viewer (the tree itself is drawn by skv.render) ----
  var current = null;
  function showViewer(mode) {
    $('v-empty').hidden = mode !== 'empty';
    $('v-body').hidden = mode !== 'value';
    $('editor').hidden = mode !== 'edit';
  }
  function select(key) {
    selected = key;
    Array.prototype.forEach.call($('keys-table').tBodies[0].rows, function (r) { r.className = r.dataset.key === key ? 'sel' : ''; });
    return loadValue(key);
  }
  function loadValue(key) {
    $('ttl-form').hidden = true;
    return getJson('/api/key', { key: key }).then(function (v) {
      current = v;
      showViewer('value');
      $('v-key').textContent = v.key;
      $('v-meta').textContent = v.type + ' · ' + fmtBytes(v.size) + ' · ttl ' + fmtTtl(v.ttl);
      var tree = $('v-tree');
      clear(tree);
      tree.appendChild(render(v.json, 0));
      $('v-note').textContent = v.truncated ? 'This value is large and shown in part; it cannot be edited here.' : '';
      $('v-edit').disabled = v.truncated || (info && info.readonly);
    }, function (err) {
      current = null;
      showViewer('value');
      $('v-key').textContent = key;
      $('v-meta').textContent = err.status === 404 ? 'no such key (deleted or expired)' : 'error: ' + err.message;
      clear($('v-tree'));
      $('v-edit').disabled = true;
    });
  }

  // ---- editing ----
  var editingNew = false;
  function openEditor(isNew) {
    editingNew = isNew;
    $('e-error').textContent = '';
    $('e-key').value = isNew ? '' : current.key;
    $('e-key').disabled = !isNew;
    var pre = isNew ? ['json', ''] : inputFor(current.json);
    $('e-type').value = pre[0];
    $('e-text').value = pre[1];
    $('e-ttl-mode').value = isNew ? 'none' : 'keep';
    $('e-ttl-mode').options[0].disabled = isNew;
    $('e-ttl').hidden = true;
    $('e-ttl').value = '';
    updateHint();
    showViewer('edit');
    (isNew ? $('e-key') : $('e-text')).focus();
  }
  function updateHint() {
    var t = $('e-type').value;
    $('e-hint').textContent = HINTS[t] || '';
    $('e-text').disabled = t === 'null';
  }
  function confirmAction(text, okLabel) {
    var d = $('confirm');
    $('confirm-text').textContent = text;
    $('confirm-ok').textContent = okLabel || 'Confirm';
    return new Promise(function (resolve) {
      function done(v) {
        $('confirm-ok').removeEventListener('click', ok);
        $('confirm-cancel').removeEventListener('click', no);
        d.removeEventListener('cancel', no);
        d.close();
        resolve(v);
      }
      function ok() { done(true); }
      function no() { done(false); }
      $('confirm-ok').addEventListener('click', ok);
      $('confirm-cancel').addEventListener('click', no);
      d.addEventListener('cancel', no);
      d.showModal();
    });
  }
  function save() {
    var key = $('e-key').value;
    if (!key) { $('e-error').textContent = 'A key is needed.'; return; }
    var mode = $('e-ttl-mode').value;
    var ttl = mode;
    if (mode === 'set') {
      ttl = Number($('e-ttl').value);
      if (!(ttl > 0) || Math.floor(ttl) !== ttl) { $('e-error').textContent = 'The ttl must be a positive whole number of ms.'; return; }
    }
    var as = $('e-type').value;
    var ttlText = mode === 'keep' ? 'keeping its ttl' : mode === 'none' ? 'with no expiry' : 'expiring in ' + fmtTtl(ttl);
    confirmAction((editingNew ? 'Create ' : 'Overwrite ') + key + ' as ' + as + ', ' + ttlText + '?', 'Save').then(function (yes) {
      if (!yes) return;
      postJson('/api/set', { key: key, as: as, text: $('e-text').value, ttl: ttl }).then(function () {
        selected = key;
        loadValue(key);
        search();
      }, function (err) { $('e-error').textContent = err.message; });
    });
  }
  function setTtl(ms) {
    var key = current.key;
    var text = ms === null ? 'Remove the ttl of ' + key + ' (it will not expire)?' : 'Expire ' + key + ' in ' + fmtTtl(ms) + '?';
    confirmAction(text, 'Apply').then(function (yes) {
      if (!yes) return;
      postJson('/api/expire', { key: key, ttl: ms }).then(function () { loadValue(key); search(); }, function (err) { $('v-note').textContent = err.message; });
    });
  }
  function del() {
    var key = current.key;
    confirmAction('Delete ' + key + '? This cannot be undone.', 'Delete').then(function (yes) {
      if (!yes) return;
      postJson('/api/del', { key: key }).then(function () {
        current = null;
        selected = null;
        showViewer('empty');
        search();
      }, function (err) { $('v-note').textContent = err.message; });
    });
  }

  // ---- command stream ----
  var mon = null;
  var monPaused = false;
  var monReceived = 0;
  var monDropped = 0;
  var MON_ROWS = 1000;
  function monMatches(row) {
    var f = $('mon-filter').value.trim().toLowerCase();
    return !f || row.dataset.text.indexOf(f) !== -1;
  }
  function monInfo() {
    var rows = $('mon-table').tBodies[0].rows;
    var shown = 0;
    for (var i = 0; i < rows.length; i++) if (!rows[i].hidden) shown++;
    $('mon-info').textContent = (monPaused ? 'paused · ' : 'live · ') + shown + ' shown · ' + fmtNum(monReceived) + ' received' + (monDropped ? ' · ' + fmtNum(monDropped) + ' not shown (too many)' : '');
  }
  function monStart() {
    if (info && !info.features.monitor) { $('mon-info').textContent = 'not available for this target'; $('mon-toggle').disabled = true; return; }
    mon = new EventSource('/api/monitor?' + query({}));
    mon.addEventListener('batch', function (e) {
      var b = JSON.parse(e.data);
      monDropped += b.dropped;
      monReceived += b.events.length + b.dropped;
      var body = $('mon-table').tBodies[0];
      var frag = document.createDocumentFragment();
      for (var i = b.events.length - 1; i >= 0; i--) {
        var ev = b.events[i];
        var r = h('tr');
        cell(r, fmtTime(ev.time));
        cell(r, ev.client);
        cell(r, ev.command);
        cell(r, ev.args, 'args');
        r.dataset.command = ev.command;
        r.dataset.text = (ev.client + ' ' + ev.command + ' ' + ev.args).toLowerCase();
        r.hidden = !monMatches(r);
        frag.appendChild(r);
      }
      body.insertBefore(frag, body.firstChild);
      while (body.rows.length > MON_ROWS) body.deleteRow(body.rows.length - 1);
      monInfo();
    });
    mon.onerror = function () { $('mon-info').textContent = 'reconnecting…'; };
  }
  function monToggle() {
    monPaused = !monPaused;
    $('mon-toggle').textContent = monPaused ? 'Resume' : 'Pause';
    // Pausing closes the stream: the owner stops monitoring once no page shows it.
    if (monPaused && mon) { mon.close(); mon = null; } else if (!monPaused) monStart();
    monInfo();
  }

  // ---- wiring ----
  function wire() {
    $('search-go').addEventListener('click', function () { search(); });
    $('search').addEventListener('keydown', function (e) { if (e.key === 'Enter') search(); });
    $('type-filter').addEventListener('change', function () { search(); });
    $('page-size').addEventListener('change', function () { search(); });
    $('page-next').addEventListener('click', nextPage);
    $('page-prev').addEventListener('click', function () { if (pageIndex > 0) { pageIndex--; renderKeys(); } });
    $('page-first').addEventListener('click', function () { search(); });
    $('new-key').addEventListener('click', function () { openEditor(true); });
    $('v-edit').addEventListener('click', function () { if (current) openEditor(false); });
    $('v-refresh').addEventListener('click', function () { if (selected) loadValue(selected); });
    $('v-delete').addEventListener('click', function () { if (current) del(); });
    $('v-ttl').addEventListener('click', function () { $('ttl-form').hidden = !$('ttl-form').hidden; $('t-ms').focus(); });
    $('t-cancel').addEventListener('click', function () { $('ttl-form').hidden = true; });
    $('t-persist').addEventListener('click', function () { if (current) setTtl(null); });
    $('t-set').addEventListener('click', function () {
      var ms = Number($('t-ms').value);
      if (!(ms > 0) || Math.floor(ms) !== ms) { $('v-note').textContent = 'The ttl must be a positive whole number of ms.'; return; }
      if (current) setTtl(ms);
    });
    $('e-type').addEventListener('change', updateHint);
    $('e-ttl-mode').addEventListener('change', function () { $('e-ttl').hidden = $('e-ttl-mode').value !== 'set'; });
    $('e-save').addEventListener('click', save);
    $('e-cancel').addEventListener('click', function () { showViewer(current ? 'value' : 'empty'); });
    $('mon-toggle').addEventListener('click', monToggle);
    $('mon-filter').addEventListener('input', function () {
      var rows = $('mon-table').tBodies[0].rows;
      for (var i = 0; i < rows.length; i++) rows[i].hidden = !monMatches(rows[i]);
      monInfo();
    });
    $('mon-clear').addEventListener('click', function () { clear($('mon-table').tBodies[0]); monReceived = 0; monDropped = 0; monInfo(); });
    window.addEventListener('resize', drawAll);
  }

  getJson('/api/info').then(function (i) {
    info = i;
    $('target').textContent = i.description + (i.readonly ? ' · read-only' : '');
    $('latency-note').textContent = i.kind === 'owner' ? 'ping through the owner\'s event loop' : 'ping round trip';
    i.valueTypes.forEach(function (t) { $('type-filter').appendChild(h('option', '', t)); });
    i.inputTypes.forEach(function (t) { $('e-type').appendChild(h('option', '', t)); });
    if (i.readonly) ['v-edit', 'v-ttl', 'v-delete', 'new-key'].forEach(function (id) { $(id).hidden = true; });
    wire();
    connectEvents();
    search();
    loadNamespaces();
    monStart();
    document.body.dataset.ready = '1';
  }, function (err) { setStatus('error: ' + err.message, 'bad'); });
})();
`;
