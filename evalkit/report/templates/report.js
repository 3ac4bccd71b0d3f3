/* evalkit report: the case table and the per-case drill-down, built from the JSON data
   block. Every value taken from the data reaches the page through textContent (or a
   property such as title), never through innerHTML: outputs and inputs are untrusted. */
(function () {
  'use strict';

  const D = JSON.parse(document.getElementById('evalkit-data').textContent);
  const S = D.s, C = D.C, T = D.T, P = D.P, SLOTS = D.S;
  const nCases = C.id.length;
  const nTrials = T.arm.length;
  const hasBase = D.arms.length > 1;
  const OK = S.indexOf('ok');

  /* A column is a list, or a {position: value} map for mostly-default columns. */
  function at(col, i, dflt) {
    const v = col[i];
    return v === undefined || v === null ? dflt : v;
  }
  function str(i) { return i >= 0 ? S[i] : ''; }
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function fmtMs(ms) {
    if (ms < 0) return 'n/a';
    if (ms === 0) return '<1 ms';
    if (ms < 1000) return ms + ' ms';
    return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + ' s';
  }
  function fmtInt(n) { return Number(n).toLocaleString('en-US'); }
  function pct(x) { return (x * 100).toFixed(0) + '%'; }

  const caseStart = new Int32Array(nCases + 1);
  for (let i = 0; i < nCases; i++) caseStart[i + 1] = caseStart[i] + C.nt[i];
  const spanStart = new Int32Array(nTrials + 1);
  for (let t = 0; t < nTrials; t++) spanStart[t + 1] = spanStart[t] + Math.max(0, T.np[t]);
  /* Arm and trial number of each trial: trials come grouped by case, then arm, numbered
     0, 1, 2… within a group unless T.k says otherwise. */
  const armOf = new Int32Array(nTrials);
  const trialNo = new Int32Array(nTrials);
  for (let i = 0; i < nCases; i++) {
    let prevArm = -1, k = 0;
    for (let t = caseStart[i]; t < caseStart[i + 1]; t++) {
      const a = at(T.arm, t, 0);
      k = a === prevArm ? k + 1 : 0;
      prevArm = a;
      armOf[t] = a;
      trialNo[t] = at(T.k, t, -1) >= 0 ? at(T.k, t, -1) : k;
    }
  }

  function rate(s, n) { return n > 0 ? s / n : NaN; }
  function candRate(i) { return rate(C.cs[i], C.cn[i]); }
  function baseRate(i) { return C.bn[i] >= 0 ? rate(C.bs[i], C.bn[i]) : NaN; }
  function delta(i) { return candRate(i) - baseRate(i); }
  const STATUS = ['pass', 'fail', 'n/a'];
  const FLIP = ['', 'regressed', 'improved'];

  /* ---------------------------------------------------------------- case table */
  function num(x) { return Number.isNaN(x) ? -Infinity : x; }
  const COLUMNS = [
    { key: 'rank', label: '#', width: '56px', value: (i) => i,
      cell: (td, i) => { td.textContent = String(i + 1); td.className = 'muted'; } },
    { key: 'id', label: 'case', width: '', value: (i) => C.id[i], text: true,
      cell: (td, i) => { td.textContent = C.id[i]; td.title = C.id[i]; } },
    { key: 'tags', label: 'tags', width: '180px', value: (i) => C.tags[i].map((t) => D.tags[t]).join(','), text: true,
      cell: (td, i) => { for (const t of C.tags[i]) td.appendChild(el('span', 'chip', D.tags[t])); } },
    { key: 'status', label: 'status', width: '84px', value: (i) => C.st[i],
      cell: (td, i) => { const s = STATUS[C.st[i]]; td.appendChild(el('span', 'pill ' + (s === 'n/a' ? 'na' : s), s)); } },
    { key: 'flip', label: 'flip', width: '100px', base: true, value: (i) => -C.fl[i] * (C.fl[i] === 1 ? 2 : 1),
      cell: (td, i) => { if (C.fl[i]) td.appendChild(el('span', 'pill ' + FLIP[C.fl[i]], FLIP[C.fl[i]])); } },
    { key: 'base', label: 'baseline', width: '104px', base: true, value: (i) => num(baseRate(i)),
      cell: (td, i) => { td.textContent = C.bn[i] >= 0 ? C.bs[i] + '/' + C.bn[i] + ' (' + pct(baseRate(i)) + ')' : '–'; } },
    { key: 'cand', label: hasBase ? 'candidate' : 'completed', width: '104px', value: (i) => num(candRate(i)),
      cell: (td, i) => { td.textContent = C.cn[i] > 0 ? C.cs[i] + '/' + C.cn[i] + ' (' + pct(candRate(i)) + ')' : '0/0'; } },
    { key: 'delta', label: 'Δ', width: '90px', base: true, value: (i) => num(delta(i)),
      cell: (td, i) => {
        const d = delta(i);
        if (Number.isNaN(d)) { td.textContent = '–'; return; }
        td.textContent = (d > 0 ? '+' : d < 0 ? '−' : '±') + Math.abs(d * 100).toFixed(0) + ' pp';
        td.className = d < 0 ? 'neg' : d > 0 ? 'pos' : '';
      } },
    { key: 'err', label: 'errors', width: '70px', value: (i) => C.err[i],
      cell: (td, i) => { if (C.err[i]) td.appendChild(el('span', 'pill err', C.err[i])); } },
    { key: 'te', label: 'tool errors', width: '92px', value: (i) => C.te[i],
      cell: (td, i) => { td.textContent = C.te[i] ? String(C.te[i]) : ''; } },
  ].filter((c) => hasBase || !c.base);

  const head = document.getElementById('case-head');
  const body = document.getElementById('case-body');
  const scroller = document.getElementById('case-scroll');
  const countEl = document.getElementById('case-count');
  const fSearch = document.getElementById('f-search');
  const fTag = document.getElementById('f-tag');
  const fStatus = document.getElementById('f-status');
  const fFlip = document.getElementById('f-flip');

  D.tags.forEach((t, i) => { const o = el('option', null, t); o.value = String(i); fTag.appendChild(o); });

  let sortKey = 'rank', sortDir = 1;
  let view = [];
  let rowHeight = 30;
  let rendered = [-1, -1];

  for (const col of COLUMNS) {
    const th = el('th', null, col.label);
    th.dataset.key = col.key;
    th.scope = 'col';
    if (col.width) th.style.width = col.width;
    th.title = 'sort by ' + col.label;
    th.addEventListener('click', () => {
      if (sortKey === col.key) sortDir = -sortDir; else { sortKey = col.key; sortDir = 1; }
      update(false);
    });
    head.appendChild(th);
  }

  function matches(i, q, tag, status, flip) {
    if (q && C.id[i].toLowerCase().indexOf(q) < 0) return false;
    if (tag >= 0 && C.tags[i].indexOf(tag) < 0) return false;
    if (status === 'errors') { if (!C.err[i] && !C.te[i]) return false; }
    else if (status && STATUS[C.st[i]] !== status) return false;
    if (flip === 'none') { if (C.fl[i]) return false; }
    else if (flip && FLIP[C.fl[i]] !== flip) return false;
    return true;
  }

  function update(resetScroll) {
    const q = fSearch.value.trim().toLowerCase();
    const tag = fTag.value === '' ? -1 : Number(fTag.value);
    const status = fStatus.value;
    const flip = fFlip ? fFlip.value : '';
    view = [];
    for (let i = 0; i < nCases; i++) if (matches(i, q, tag, status, flip)) view.push(i);
    const col = COLUMNS.find((c) => c.key === sortKey) || COLUMNS[0];
    if (col.key !== 'rank' || sortDir !== 1) {
      const keys = new Map(view.map((i) => [i, col.value(i)]));
      view.sort((a, b) => {
        const x = keys.get(a), y = keys.get(b);
        const c = col.text ? String(x).localeCompare(String(y)) : (x < y ? -1 : x > y ? 1 : 0);
        return c !== 0 ? c * sortDir : a - b;
      });
    }
    for (const th of head.children) {
      th.classList.toggle('sorted-asc', th.dataset.key === sortKey && sortDir === 1);
      th.classList.toggle('sorted-desc', th.dataset.key === sortKey && sortDir === -1);
    }
    countEl.textContent = 'showing ' + fmtInt(view.length) + ' of ' + fmtInt(nCases) + ' cases';
    if (resetScroll) scroller.scrollTop = 0;
    rendered = [-1, -1];
    renderRows();
  }

  function spacer(height) {
    const tr = el('tr', 'spacer');
    const td = el('td');
    td.colSpan = COLUMNS.length;
    td.style.height = height + 'px';
    tr.appendChild(td);
    return tr;
  }

  function renderRows() {
    const top = scroller.scrollTop;
    // The box grows with its rows up to a max-height: before the first rows exist it is
    // only as tall as its header, so size the window on the viewport.
    const h = Math.max(scroller.clientHeight, window.innerHeight || 800);
    const first = Math.max(0, Math.floor(top / rowHeight) - 15);
    const last = Math.min(view.length, Math.ceil((top + h) / rowHeight) + 15);
    if (first === rendered[0] && last === rendered[1]) return;
    rendered = [first, last];
    const frag = document.createDocumentFragment();
    frag.appendChild(spacer(first * rowHeight));
    for (let r = first; r < last; r++) {
      const i = view[r];
      const tr = el('tr', 'case-row');
      tr.dataset.case = String(i);
      tr.tabIndex = 0;
      for (const col of COLUMNS) {
        const td = el('td');
        col.cell(td, i);
        tr.appendChild(td);
      }
      frag.appendChild(tr);
    }
    frag.appendChild(spacer((view.length - last) * rowHeight));
    body.textContent = '';
    if (!view.length) {
      const tr = el('tr');
      const td = el('td', 'empty', 'no case matches the filters');
      td.colSpan = COLUMNS.length;
      tr.appendChild(td);
      body.appendChild(tr);
      return;
    }
    body.appendChild(frag);
    const sample = body.querySelector('tr.case-row');
    if (sample) {
      const measured = sample.getBoundingClientRect().height;
      if (measured > 0 && Math.abs(measured - rowHeight) > 0.5) {
        rowHeight = measured;
        rendered = [-1, -1];
        renderRows();
      }
    }
  }

  let pending = false;
  scroller.addEventListener('scroll', () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; renderRows(); });
  });
  window.addEventListener('resize', () => { rendered = [-1, -1]; renderRows(); });
  fSearch.addEventListener('input', () => update(true));
  fTag.addEventListener('change', () => update(true));
  fStatus.addEventListener('change', () => update(true));
  if (fFlip) fFlip.addEventListener('change', () => update(true));
  body.addEventListener('click', (ev) => {
    const tr = ev.target.closest('tr.case-row');
    if (tr) openDetail(Number(tr.dataset.case), tr);
  });
  body.addEventListener('keydown', (ev) => {
    const tr = ev.target.closest('tr.case-row');
    if (!tr) return;
    if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); openDetail(Number(tr.dataset.case), tr); }
  });

  /* ---------------------------------------------------------------- drill-down */
  const panel = document.getElementById('detail');
  const overlay = document.getElementById('detail-overlay');
  const panelBody = document.getElementById('detail-body');
  const panelTitle = document.getElementById('detail-title');
  let returnFocus = null;

  function closeDetail() {
    panel.hidden = true;
    overlay.hidden = true;
    panelBody.textContent = '';
    if (returnFocus && document.body.contains(returnFocus)) returnFocus.focus();
  }
  document.getElementById('detail-close').addEventListener('click', closeDetail);
  overlay.addEventListener('click', closeDetail);
  document.addEventListener('keydown', (ev) => { if (ev.key === 'Escape' && !panel.hidden) closeDetail(); });

  function completionSlots() {
    const flagged = SLOTS.filter((b) => b.c);
    return flagged.length ? flagged : SLOTS;
  }
  const COMPLETION = completionSlots();

  /* 1 completed, 0 not, -1 undefined (a completion scorer errored) — the stats rule. */
  function completed(t) {
    if (at(T.st, t, OK) !== OK) return 0;
    let undef = false;
    for (const b of COMPLETION) {
      const ok = b.ok[t];
      if (ok === 0) return 0;
      if (ok === -1 && at(b.st, t, OK) !== OK) undef = true;
    }
    return undef ? -1 : 1;
  }

  function pretty(text, whole) {
    if (!whole) return text;
    try {
      const v = JSON.parse(text);
      if (typeof v === 'string') return v;
      if (v !== null && typeof v === 'object') return JSON.stringify(v, null, 2);
    } catch (e) { /* not JSON: shown as is */ }
    return text;
  }

  function textBlock(parent, text, fullLength, cls) {
    const pre = el('pre', cls || null, text);
    parent.appendChild(pre);
    if (fullLength > text.length) {
      parent.appendChild(el('div', 'cut', '… ' + fmtInt(fullLength - text.length) +
        ' more characters not embedded in this report (of ' + fmtInt(fullLength) + '); the full text is in the run folder'));
    }
  }

  function openDetail(ci, row) {
    returnFocus = row || null;
    panelTitle.textContent = 'case ' + C.id[ci];
    panelBody.textContent = '';
    const meta = el('div');
    const s = STATUS[C.st[ci]];
    meta.appendChild(el('span', 'pill ' + (s === 'n/a' ? 'na' : s), s));
    if (C.fl[ci]) meta.appendChild(el('span', 'pill ' + FLIP[C.fl[ci]], FLIP[C.fl[ci]]));
    meta.appendChild(document.createTextNode(' '));
    for (const t of C.tags[ci]) meta.appendChild(el('span', 'chip', D.tags[t]));
    meta.appendChild(el('span', 'muted', ' completed ' + C.cs[ci] + '/' + C.cn[ci] +
      (C.bn[ci] >= 0 ? ' (baseline ' + C.bs[ci] + '/' + C.bn[ci] + ')' : '') + '; passes when it ' + D.rule));
    panelBody.appendChild(meta);
    if (C.why[ci] >= 0) panelBody.appendChild(el('p', 'case-why', str(C.why[ci])));

    panelBody.appendChild(el('h3', null, 'Input'));
    if (C.inp[ci] !== null && C.inp[ci] !== undefined) {
      textBlock(panelBody, pretty(C.inp[ci], !(C.ilen[ci] > C.inp[ci].length)), C.ilen[ci], 'case-input');
    }
    else panelBody.appendChild(el('p', 'muted', D.hasInputs ? 'this case is not in the dataset' : 'not available: the run\'s dataset was not found when the report was written'));
    if (C.exp[ci]) { panelBody.appendChild(el('h3', null, 'Expected')); textBlock(panelBody, pretty(C.exp[ci], !(C.elen[ci] > C.exp[ci].length)), C.elen[ci]); }

    for (let a = 0; a < D.arms.length; a++) {
      const trials = [];
      for (let t = caseStart[ci]; t < caseStart[ci + 1]; t++) if (armOf[t] === a) trials.push(t);
      const done = trials.filter((t) => completed(t) === 1).length;
      panelBody.appendChild(el('h3', null, (D.armLabels[a] || D.arms[a]) + ' — ' + done + ' of ' + trials.length + ' trials completed'));
      if (!trials.length) panelBody.appendChild(el('p', 'muted', 'no trials in this arm'));
      trials.forEach((t, n) => panelBody.appendChild(trialView(t, a === 0 && (n === 0 || completed(t) !== 1))));
    }
    overlay.hidden = false;
    panel.hidden = false;
    panelBody.scrollTop = 0;
    document.getElementById('detail-close').focus();
  }

  function trialView(t, open) {
    const box = el('details', 'trial');
    const done = completed(t);
    const status = str(at(T.st, t, OK));
    if (done !== 1) box.classList.add('failed');
    const parts = ['trial ' + trialNo[t], status, done === 1 ? '✓ completed' : done === 0 ? '✗ not completed' : '? undefined',
      fmtMs(T.lat[t]), fmtInt(T.it[t]) + ' → ' + fmtInt(T.ot[t]) + ' tokens'];
    const cost = T.cost[t];
    if (cost) parts.push('$' + (cost / 1e6).toPrecision(3));
    const att = at(T.att, t, 1);
    if (att > 1) parts.push(att + ' attempts');
    const spans = T.np[t];
    parts.push(Math.abs(spans) + ' spans');
    box.appendChild(el('summary', null, parts.join(' · ')));
    box.dataset.trial = String(t);
    const fill = () => {
      if (box.dataset.filled) return;
      box.dataset.filled = '1';
      box.appendChild(trialBody(t, status));
    };
    box.addEventListener('toggle', () => { if (box.open) fill(); });
    if (open) { box.open = true; fill(); }
    return box;
  }

  function trialBody(t, status) {
    const wrap = el('div', 'trial-body');
    const err = at(T.err, t, -1);
    if (err >= 0) { wrap.appendChild(el('h4', null, 'Error')); textBlock(wrap, str(err), 0, 'trial-error'); }
    wrap.appendChild(el('h4', null, 'Output'));
    const out = T.out[t];
    if (out === null || out === undefined) wrap.appendChild(el('p', 'muted', 'no output (status ' + status + ')'));
    else {
      const full = at(T.olen, t, 0);
      const whole = !(full > out.length);
      const shown = pretty(out, whole);
      const pre = el('pre', 'trial-output', shown);
      wrap.appendChild(pre);
      if (!whole) wrap.appendChild(el('div', 'cut', '… output cut at ' + fmtInt(out.length) + ' of ' + fmtInt(full) +
        ' characters to keep this report small; the full text is in trials.parquet'));
    }
    wrap.appendChild(scoresView(t));
    wrap.appendChild(el('h4', null, 'Trace'));
    wrap.appendChild(timeline(t));
    return wrap;
  }

  function scoresView(t) {
    const frag = document.createDocumentFragment();
    const rows = SLOTS.filter((b) => b.ok[t] !== -1 || b.r[t] >= 0 || at(b.st, t, OK) !== OK);
    frag.appendChild(el('h4', null, 'Scores'));
    if (!rows.length) { frag.appendChild(el('p', 'muted', 'not scored (only trials that ran ok are scored)')); return frag; }
    const table = el('table', 'scores');
    const hr = el('tr');
    for (const h of ['scorer', 'value', 'passed', 'reason']) hr.appendChild(el('th', null, h));
    const thead = el('thead'); thead.appendChild(hr); table.appendChild(thead);
    const tb = el('tbody');
    for (const b of rows) {
      const tr = el('tr');
      tr.appendChild(el('td', null, b.sc + (b.m !== b.sc ? ' / ' + b.m : '') + (b.c ? ' ●' : '')));
      const ok = b.ok[t];
      const v = b.v ? b.v[t] : (ok === 1 ? 1 : ok === 0 ? 0 : null);
      tr.appendChild(el('td', null, v === null || v === undefined ? '–' : String(v)));
      const st = at(b.st, t, OK);
      tr.appendChild(el('td', ok === 1 ? 'pos' : ok === 0 ? 'neg' : 'muted', ok === 1 ? '✓ pass' : ok === 0 ? '✗ fail' : (st !== OK ? str(st) : '–')));
      const reason = el('td', 'reason', str(b.r[t]));
      const j = b.j ? at(b.j, t, -1) : -1;
      if (j >= 0) { const div = el('div', 'judge'); div.appendChild(el('b', null, 'judge reasoning: ')); div.appendChild(document.createTextNode(str(j))); reason.appendChild(div); }
      const d = b.d ? at(b.d, t, -1) : -1;
      if (d >= 0) reason.appendChild(el('div', 'details-json', str(d)));
      tr.appendChild(reason);
      tb.appendChild(tr);
    }
    table.appendChild(tb);
    frag.appendChild(table);
    if (COMPLETION.some((b) => b.c)) frag.appendChild(el('p', 'hint', '● decides task completion'));
    return frag;
  }

  function timeline(t) {
    const box = el('div', 'timeline');
    const n = T.np[t];
    if (n < 0) {
      box.appendChild(el('p', 'muted', 'trace of ' + (-n) + ' span(s) not embedded: this run has more than ' +
        fmtInt(D.limits.maxSpans) + ' spans, so only the traces of failing, regressed and erroring cases are; the rest are in spans.parquet'));
      return box;
    }
    if (n === 0) { box.appendChild(el('p', 'muted', 'no spans recorded for this trial')); return box; }
    const s0 = spanStart[t];
    let total = Math.max(1, T.lat[t]);
    for (let k = s0; k < s0 + n; k++) total = Math.max(total, P.t[k] + P.d[k]);
    for (let k = s0; k < s0 + n; k++) {
      const name = str(P.n[k]);
      const errType = at(P.e, k, -1);
      const retries = at(P.rt, k, 0);
      const row = el('div', 'span-row' + (errType >= 0 ? ' err' : '') + (retries ? ' retry' : ''));
      const label = el('div', 'span-label');
      label.style.paddingLeft = (at(P.dp, k, 0) * 14) + 'px';
      label.appendChild(el('span', null, name));
      label.title = name;
      if (errType >= 0) label.appendChild(el('span', 'badge err', str(errType)));
      if (retries) label.appendChild(el('span', 'badge retry', '⟳ ' + retries + (retries > 1 ? ' retries' : ' retry')));
      const ev = at(P.ev, k, -1);
      if (ev >= 0) label.appendChild(el('span', 'badge ev', str(ev)));
      row.appendChild(label);
      const track = el('div', 'span-track');
      const bar = el('div', 'span-bar' + (name.indexOf('chat') === 0 ? ' chat' : ''));
      bar.style.left = (100 * P.t[k] / total).toFixed(2) + '%';
      bar.style.width = Math.max(0.4, 100 * P.d[k] / total).toFixed(2) + '%';
      bar.title = name + ': starts +' + fmtMs(P.t[k]) + ', lasts ' + fmtMs(P.d[k]);
      track.appendChild(bar);
      row.appendChild(track);
      const tokens = P.it[k] || P.ot[k] ? ' · ' + fmtInt(P.it[k]) + ' → ' + fmtInt(P.ot[k]) + ' tok' : '';
      row.appendChild(el('div', 'span-meta', fmtMs(P.d[k]) + tokens));
      const attrs = at(P.a, k, -1);
      if (attrs >= 0) row.appendChild(el('div', 'span-attrs', str(attrs)));
      box.appendChild(row);
    }
    return box;
  }

  update(true);
}());
