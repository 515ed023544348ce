/**
 * The page's drawing helpers, as a script string that runs before page-script.ts in the same script tag:
 * DOM building (text only, never markup), number, byte and ttl formatting, the hand-drawn canvas charts,
 * and the tree view of a value's tagged JSON. They are exported on one global, `skv`.
 */
export const RENDER_SCRIPT = `
var skv = (function () {
  'use strict';
  var COLORS = ['#4f9cf9', '#f5a623', '#7ed321', '#e35d6a', '#b58cf5', '#50e3c2', '#f8e71c', '#ff8fd0'];

  function h(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function fmtNum(n) {
    if (n === null || n === undefined || isNaN(n)) return '–';
    var a = Math.abs(n);
    if (a >= 1e9) return (n / 1e9).toFixed(2) + 'G';
    if (a >= 1e6) return (n / 1e6).toFixed(2) + 'M';
    if (a >= 1e4) return (n / 1e3).toFixed(1) + 'k';
    if (a >= 100 || n === Math.round(n)) return String(Math.round(n));
    return String(Math.round(n * 10) / 10);
  }
  function fmtBytes(n) {
    if (n === null || n === undefined) return '–';
    if (n < 1024) return n + ' B';
    if (n < 1048576) return (n / 1024).toFixed(1) + ' KB';
    if (n < 1073741824) return (n / 1048576).toFixed(1) + ' MB';
    return (n / 1073741824).toFixed(2) + ' GB';
  }
  function fmtTtl(ms) {
    if (ms === null || ms === undefined || ms < 0) return 'none';
    if (ms < 1000) return ms + ' ms';
    if (ms < 60000) return (ms / 1000).toFixed(1) + ' s';
    if (ms < 3600000) return (ms / 60000).toFixed(1) + ' min';
    if (ms < 86400000) return (ms / 3600000).toFixed(1) + ' h';
    return (ms / 86400000).toFixed(1) + ' d';
  }
  function fmtMs(ms) {
    if (ms === null || ms === undefined) return '–';
    if (ms < 1) return Math.round(ms * 1000) + ' µs';
    return (Math.round(ms * 100) / 100) + ' ms';
  }
  function fmtUptime(ms) {
    var s = Math.floor(ms / 1000);
    if (s < 60) return s + 's';
    if (s < 3600) return Math.floor(s / 60) + 'm ' + (s % 60) + 's';
    if (s < 86400) return Math.floor(s / 3600) + 'h ' + Math.floor((s % 3600) / 60) + 'm';
    return Math.floor(s / 86400) + 'd ' + Math.floor((s % 86400) / 3600) + 'h';
  }
  function fmtTime(t) {
    var d = new Date(t);
    function p(n, w) { n = String(n); while (n.length < w) n = '0' + n; return n; }
    return p(d.getHours(), 2) + ':' + p(d.getMinutes(), 2) + ':' + p(d.getSeconds(), 2) + '.' + p(d.getMilliseconds(), 3);
  }
  function who(c) { return c.label; }

  // Charts: hand-drawn on canvas, one line per series; the y axis starts at 0.
  function niceMax(v) {
    if (v <= 0) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var m = v / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }
  function drawChart(canvas, series, fmt, shown, span) {
    var dpr = window.devicePixelRatio || 1;
    var w = canvas.clientWidth || 300;
    var ht = canvas.clientHeight || 150;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(ht * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(ht * dpr);
    }
    var ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, ht);
    var L = 48, R = 6, T = 6, B = 16;
    var raw = 0;
    series.forEach(function (s) { s.values.forEach(function (v) { if (v !== null && v !== undefined && v > raw) raw = v; }); });
    var max = niceMax(raw);
    ctx.font = '10px system-ui, sans-serif';
    ctx.lineWidth = 1;
    for (var i = 0; i <= 4; i++) {
      var y = T + ((ht - T - B) * i) / 4;
      ctx.strokeStyle = i === 4 ? '#3a4452' : '#222a35';
      ctx.beginPath(); ctx.moveTo(L, Math.round(y) + 0.5); ctx.lineTo(w - R, Math.round(y) + 0.5); ctx.stroke();
      ctx.fillStyle = '#8a94a6';
      ctx.textAlign = 'right';
      ctx.fillText(fmt(max * (1 - i / 4)), L - 5, y + 3);
    }
    ctx.textAlign = 'left';
    ctx.fillText(span, L, ht - 3);
    ctx.textAlign = 'right';
    ctx.fillText('now', w - R, ht - 3);
    var n = shown;
    var step = (w - L - R) / (n - 1);
    series.forEach(function (s) {
      var vals = s.values.slice(-n);
      var off = n - vals.length;
      ctx.strokeStyle = s.color;
      ctx.lineWidth = s.width || 1.5;
      ctx.beginPath();
      var pen = false;
      for (var j = 0; j < vals.length; j++) {
        var v = vals[j];
        if (v === null || v === undefined) { pen = false; continue; }
        var x = L + (off + j) * step;
        var yy = T + (ht - T - B) * (1 - v / max);
        if (pen) ctx.lineTo(x, yy); else ctx.moveTo(x, yy);
        pen = true;
      }
      ctx.stroke();
    });
    var first = series[0] ? series[0].values : [];
    canvas.dataset.max = String(raw);
    canvas.dataset.last = String(first.length ? first[first.length - 1] : '');
    canvas.dataset.points = String(first.length);
  }
  function legend(node, series, fmt) {
    clear(node);
    series.forEach(function (s) {
      var span = h('span');
      var sw = h('i');
      sw.style.background = s.color;
      span.appendChild(sw);
      span.appendChild(document.createTextNode(s.name));
      var last = s.values.length ? s.values[s.values.length - 1] : null;
      span.appendChild(h('b', '', last === null || last === undefined ? '–' : fmt(last)));
      node.appendChild(span);
    });
  }

  var TAGS = ['$undefined', '$number', '$bigint', '$date', '$regexp', '$map', '$set', '$binary', '$error', '$object', '$circular', '$truncated'];
  function tagOf(v) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
    var ks = Object.keys(v);
    return ks.length === 1 && TAGS.indexOf(ks[0]) !== -1 ? ks[0] : null;
  }
  function leaf(cls, text) { return h('span', cls, text); }
  function group(label, items, depth, render) {
    var d = h('details');
    if (depth < 3) d.open = true;
    d.appendChild(h('summary', '', label));
    var ul = h('ul');
    items.forEach(function (item) { var li = h('li'); render(li, item); ul.appendChild(li); });
    d.appendChild(ul);
    return d;
  }
  function hexGroups(hex) {
    var out = [];
    for (var i = 0; i < hex.length && i < 1024; i += 2) out.push(hex.slice(i, i + 2));
    return out.join(' ') + (hex.length > 1024 ? ' …' : '');
  }
  function render(v, depth) {
    if (v === null) return leaf('b', 'null');
    if (typeof v === 'boolean') return leaf('b', String(v));
    if (typeof v === 'number') return leaf('n', String(v));
    if (typeof v === 'string') return leaf('s', JSON.stringify(v));
    if (Array.isArray(v)) {
      if (!v.length) return leaf('t', '[]');
      return group('Array(' + v.length + ')', v.map(function (x, i) { return [i, x]; }), depth, function (li, kv) {
        li.appendChild(leaf('k', kv[0] + ': '));
        li.appendChild(render(kv[1], depth + 1));
      });
    }
    var tag = tagOf(v);
    var b = tag ? v[tag] : null;
    switch (tag) {
      case '$undefined': return leaf('u', 'undefined');
      case '$number': return leaf('n', b);
      case '$bigint': return leaf('n', b + 'n');
      case '$date': return leaf('d', 'Date ' + (b === null ? 'Invalid Date' : b));
      case '$regexp': return leaf('x', '/' + b.source + '/' + b.flags);
      case '$error': return leaf('x', b.name + ': ' + b.message);
      case '$circular': return leaf('u', '[Circular ' + b + ']');
      case '$truncated':
        if (b.kind === 'string') { var s = leaf('s', JSON.stringify(b.text)); s.appendChild(leaf('u', ' … ' + b.more + ' more characters')); return s; }
        return leaf('u', '… ' + b.more + ' more');
      case '$binary': {
        var bin = h('span');
        var n = b.hex.length / 2 + (b.more || 0);
        bin.appendChild(leaf('t', b.type + '(' + n + ' bytes) '));
        bin.appendChild(leaf('x', hexGroups(b.hex) + (b.more ? ' … ' + b.more + ' more' : '')));
        return bin;
      }
      case '$map':
        if (!b.length) return leaf('t', 'Map(0) {}');
        return group('Map(' + b.length + ')', b, depth, function (li, pair) {
          if (tagOf(pair) === '$truncated') { li.appendChild(render(pair, depth + 1)); return; }
          li.appendChild(render(pair[0], depth + 1));
          li.appendChild(leaf('arrow', ' => '));
          li.appendChild(render(pair[1], depth + 1));
        });
      case '$set':
        if (!b.length) return leaf('t', 'Set(0) {}');
        return group('Set(' + b.length + ')', b, depth, function (li, x) { li.appendChild(render(x, depth + 1)); });
      case '$object':
        return renderObject(b, depth);
      default:
        return renderObject(v, depth);
    }
  }
  function renderObject(o, depth) {
    var keys = Object.keys(o);
    if (!keys.length) return leaf('t', '{}');
    return group('Object {' + keys.length + '}', keys, depth, function (li, k) {
      li.appendChild(leaf('k', k + ': '));
      li.appendChild(render(o[k], depth + 1));
    });
  }

  var HINTS = {
    json: 'JSON. Types JSON lacks are tagged: {"$map":[[k,v]]}, {"$set":[…]}, {"$date":"ISO"}, {"$bigint":"1"}, {"$binary":{"type":"Uint8Array","hex":"0a0b"}}, {"$undefined":true}, {"$number":"NaN"}.',
    string: 'The text as it is, without quotes.',
    number: 'A number: 42, -1.5, 1e9, NaN, Infinity, -0.',
    bigint: 'An integer of any size: 12345678901234567890.',
    boolean: 'true or false.',
    date: 'An ISO date (2024-05-01T12:00:00Z) or ms since the epoch.',
    null: 'null (the text is ignored).',
    map: 'A JSON list of [key, value] pairs (keys of any type), or an object (string keys).',
    set: 'A JSON list of members.',
    binary: 'Hex digits: 00 ff 10 … (a Uint8Array).'
  };
  function inputFor(v) {
    if (typeof v === 'string') return ['string', v];
    if (typeof v === 'number') return ['number', String(v)];
    if (typeof v === 'boolean') return ['boolean', String(v)];
    if (v === null) return ['null', ''];
    var tag = tagOf(v);
    if (tag === '$number') return ['number', v.$number];
    if (tag === '$bigint') return ['bigint', v.$bigint];
    if (tag === '$date' && v.$date) return ['date', v.$date];
    if (tag === '$binary' && v.$binary.type === 'Uint8Array' && !v.$binary.more) return ['binary', v.$binary.hex];
    return ['json', JSON.stringify(v, null, 2)];
  }
  return {
    COLORS: COLORS,
    h: h,
    clear: clear,
    fmtNum: fmtNum,
    fmtBytes: fmtBytes,
    fmtTtl: fmtTtl,
    fmtMs: fmtMs,
    fmtUptime: fmtUptime,
    fmtTime: fmtTime,
    who: who,
    drawChart: drawChart,
    legend: legend,
    tagOf: tagOf,
    render: render,
    HINTS: HINTS,
    inputFor: inputFor
  };
})();
`;
