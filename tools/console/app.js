// exchange operator console (docs/console.md). Plain DOM, no framework: every value from the
// server goes into the page through textContent, never as HTML.
'use strict';
(function () {
  const S = { csrf: '', me: null, offset: 0, limit: 50, total: 0, matching: 0, rows: [], detail: null, loads: 0 };
  const $ = (id) => document.getElementById(id);
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('data-')) e.setAttribute(k, v);
      else if (k === 'onclick') e.addEventListener('click', v);
      else e.setAttribute(k, v);
    }
    for (const k of kids) if (k !== null && k !== undefined) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
    return e;
  }
  function showError(msg) { const e = $('error'); e.textContent = msg || ''; e.hidden = !msg; }
  async function api(method, path, body) {
    const opt = { method, credentials: 'same-origin', headers: {} };
    if (method !== 'GET') {
      opt.headers['Content-Type'] = 'application/json';
      opt.headers['X-CSRF-Token'] = S.csrf;
      opt.body = JSON.stringify(body || {});
    }
    const r = await fetch(path, opt);
    let j = null;
    try { j = await r.json(); } catch (e) { j = { error: 'unreadable answer' }; }
    return { status: r.status, json: j };
  }
  const STATE_TEXT = { new: 'new', changed: 'changed since last run', awaiting: 'awaiting second approval',
    approved: 'approved', released: 'released', rejected: 'rejected', unchanged: 'unchanged' };
  function stateBadge(s) { return el('span', { class: 'state state-' + s, text: STATE_TEXT[s] || s }); }
  function problemsText(ps) {
    return ps.map((p) => p.code + (p.counts ? '' : '*') + ' [' + p.agencies.join(', ') + ']').join('; ');
  }
  function query() {
    const q = new URLSearchParams();
    for (const [k, id] of [['state', 'f-state'], ['problem', 'f-problem'], ['agency', 'f-agency'], ['q', 'f-q'], ['sort', 'f-sort']])
      if ($(id).value) q.set(k, $(id).value);
    q.set('offset', S.offset); q.set('limit', S.limit);
    return q;
  }
  function fillSelect(id, values) {
    const s = $(id), cur = s.value;
    if (s.options.length - 1 === values.length) return;
    while (s.options.length > 1) s.remove(1);
    for (const v of values.slice().sort()) s.append(el('option', { value: v, text: v }));
    s.value = cur;
  }
  async function loadQueue(refresh) {
    const q = query();
    if (refresh) q.set('refresh', '1');
    const r = await api('GET', '/api/queue?' + q.toString());
    if (r.status !== 200) { showError(r.json.error); return; }
    showError('');
    const j = r.json;
    S.total = j.total; S.matching = j.matching; S.rows = j.families;
    fillSelect('f-problem', j.problems); fillSelect('f-agency', j.agencies);
    const c = $('counts'); c.textContent = '';
    c.append(el('span', { text: 'run ' + j.run + ': ' + j.total + ' candidate families' }));
    for (const k of ['new', 'changed', 'awaiting', 'awaiting_me', 'approved', 'released', 'rejected', 'unchanged'])
      if (j.counts[k]) c.append(el('span', { 'data-count': k, text: (k === 'awaiting_me' ? 'awaiting my approval' : STATE_TEXT[k]) + ': ' + j.counts[k] }));
    const tb = $('queue').tBodies[0]; tb.textContent = '';
    for (const f of j.families) {
      const tr = el('tr', { 'data-family': f.family, 'data-state': f.state });
      tr.append(el('td', {}, el('input', { type: 'checkbox', class: 'sel', 'data-family': f.family, 'aria-label': 'select ' + f.family })));
      tr.append(el('td', {}, el('button', { type: 'button', class: 'fam', 'data-family': f.family, text: f.family, onclick: () => openDetail(f.family) })));
      tr.append(el('td', { class: 'num', text: f.persons }));
      tr.append(el('td', { class: 'pb', text: problemsText(f.problems) }));
      tr.append(el('td', { text: f.first })); tr.append(el('td', { text: f.last }));
      tr.append(el('td', {}, stateBadge(f.state), f.approved_by_me ? ' (you approved)' : '', f.uncovered ? ' (' + f.uncovered + ' newer record' + (f.uncovered === 1 ? '' : 's') + (f.renewable_by_me ? ': renew your approval)' : ')') : '', f.forged ? el('span', { class: 'bad', text: ' ' + f.forged + ' forged' }) : null));
      tr.append(el('td', { class: 'num', text: f.approvals + '/' + f.required }));
      tr.append(el('td', { text: f.last_by ? f.last_by + ' ' + f.last_time + (f.last_reason ? ': ' + f.last_reason : '') : '' }));
      tb.append(tr);
    }
    const from = j.matching ? j.offset + 1 : 0, to = j.offset + j.families.length;
    $('page-info').textContent = from + '–' + to + ' of ' + j.matching + ' (loaded in ' + (j.view_seconds * 1000).toFixed(0) + ' ms)';
    $('prev').disabled = S.offset === 0; $('next').disabled = to >= j.matching;
    $('select-all').checked = false;
    S.loads++; document.body.dataset.loads = String(S.loads); document.body.dataset.ready = '1';
  }
  function selected() { return Array.from(document.querySelectorAll('#queue input.sel:checked')).map((e) => e.dataset.family); }
  async function pollJob(job, what) {
    const p = $('progress'); p.hidden = false; document.body.dataset.busy = '1';
    let j = job;
    while (j.state !== 'finished') {
      $('progress-text').textContent = what + ': ' + j.done + ' of ' + j.total;
      $('progress-bar').max = j.total || 1; $('progress-bar').value = j.done;
      await new Promise((res) => setTimeout(res, 150));
      const r = await api('GET', '/api/jobs/' + j.id);
      if (r.status !== 200) break;
      j = r.json;
    }
    p.hidden = true; document.body.dataset.busy = '';
    S.lastJob = j;
    return j;
  }
  function jobSummary(j) {
    const bad = j.results.filter((x) => !x.ok);
    return (j.done - j.failed) + ' of ' + j.total + ' done' + (bad.length ? '; failed: ' + bad.map((x) => x.family + ' (' + x.message + ')').join('; ') : '');
  }
  // a message about the open family survives the detail view being redrawn
  function say(msgEl, text, bad) {
    msgEl.textContent = text; msgEl.className = bad ? 'bad' : 'ok';
    if (msgEl.id === 'd-msg') S.dmsg = { family: S.detail, text, bad };
  }
  async function decide(fams, decision, reason, msgEl) {
    if (!fams.length) { say(msgEl, 'select families first', true); return; }
    const r = await api('POST', '/api/decide', { families: fams, decision, reason });
    if (r.status !== 202) { say(msgEl, r.json.error, true); return false; }
    const j = await pollJob(r.json, decision === 'approve' ? 'approving' : 'rejecting');
    say(msgEl, (decision === 'approve' ? 'approve: ' : 'reject: ') + jobSummary(j), j.failed);
    await loadQueue(false); loadJobs();
    if (S.detail) await openDetail(S.detail);
    return true;
  }
  async function release(fams, msgEl) {
    if (!fams.length) { say(msgEl, 'select families first', true); return; }
    const r = await api('POST', '/api/release', { families: fams });
    if (r.status !== 202) { say(msgEl, r.json.error, true); return; }
    const j = await pollJob(r.json, 'releasing');
    say(msgEl, 'release: ' + jobSummary(j) + (j.results.length ? ' — ' + j.results.map((x) => x.message).join('; ') : ''), j.failed);
    await loadQueue(false); loadJobs();
    if (S.detail) await openDetail(S.detail);
  }
  async function openDetail(fam) {
    const r = await api('GET', '/api/family/' + encodeURIComponent(fam));
    if (r.status !== 200) { showError(r.json.error); return; }
    S.detail = fam;
    const f = r.json, b = $('detail-body'); b.textContent = '';
    b.append(el('h2', { text: 'Family ' + f.family }));
    b.append(el('p', {}, stateBadge(f.state), ' ' + f.approvals + ' of ' + f.required + ' approvals; ' + f.persons + ' persons, ' + f.records + ' records, links ' + f.links + (f.packets ? '; ' + f.packets + ' packet(s) released' : '') + (f.uncovered ? '; ' + f.uncovered + ' record(s) newer than the approvals: ' + f.required + ' operators must approve again before they can be released' : '')));
    b.append(el('h3', { text: 'Problems' }));
    const pt = el('table', { id: 'd-problems' }, el('tr', {}, el('th', { text: 'Problem' }), el('th', { text: 'Agencies' }), el('th', { text: 'First' }), el('th', { text: 'Last' }), el('th', { text: 'Counts' })));
    for (const p of f.problems) pt.append(el('tr', {}, el('td', { text: p.code }), el('td', { text: p.agencies.join(', ') }), el('td', { text: p.first }), el('td', { text: p.last }), el('td', { text: p.counts ? 'yes' : 'no' })));
    b.append(pt);
    b.append(el('h3', { text: 'Members (pseudonymous)' }));
    const mt = el('table', { id: 'd-members' }, el('tr', {}, el('th', { text: 'Person' }), el('th', { text: 'Records' }), el('th', { text: 'Agencies' })));
    for (const m of f.members) mt.append(el('tr', {}, el('td', { class: 'mono', text: m.person }), el('td', { class: 'num', text: m.records }), el('td', { text: m.agencies.join(', ') })));
    b.append(mt);
    b.append(el('h3', { text: 'Review pairs and conflicts' }));
    if (!f.pairs.length) b.append(el('p', { text: 'none' }));
    else {
      const t = el('table', { id: 'd-pairs' }, el('tr', {}, el('th', { text: 'Kind' }), el('th', { text: 'Record A' }), el('th', { text: 'Record B' }), el('th', { text: 'Confidence' }), el('th', { text: 'Evidence' })));
      for (const p of f.pairs) t.append(el('tr', {}, el('td', { text: p.kind }), el('td', { text: p.a.agency + ' ' + p.a.ref + ' (' + p.a.person + ')' }), el('td', { text: p.b.agency + ' ' + p.b.ref + ' (' + p.b.person + ')' }), el('td', { text: p.kind === 'review' ? 'Dice ' + p.score.toFixed(3) : 'match key ' + (p.key_name || p.key) + ' refused' }), el('td', { text: p.kind === 'review' ? pairEvidence(p) : '' })));
      b.append(t);
    }
    b.append(el('h3', { text: 'Decisions' }));
    if (!f.decisions.length) b.append(el('p', { text: 'none yet' }));
    else {
      const t = el('table', { id: 'd-decisions' }, el('tr', {}, el('th', { text: 'Operator' }), el('th', { text: 'Decision' }), el('th', { text: 'When' }), el('th', { text: 'Reason' }), el('th', { text: 'Signature' })));
      for (const d of f.decisions) t.append(el('tr', {}, el('td', { text: d.operator + (d.label ? ' (' + d.label + ')' : '') }), el('td', { text: d.decision + (d.current ? '' : ' (earlier members)') }), el('td', { text: d.time }), el('td', { text: d.reason }), el('td', { class: d.verified ? 'ok' : 'bad', text: d.verified ? 'verifies' : 'does not verify' })));
      b.append(t);
    }
    b.append(el('h3', { text: 'Decide' }));
    const reason = el('input', { id: 'd-reason', type: 'text', maxlength: '500', placeholder: 'reason (recorded and signed)' });
    const msg = el('p', { id: 'd-msg', role: 'status' });
    const ap = el('button', { type: 'button', id: 'd-approve', text: 'Approve', onclick: () => decide([f.family], 'approve', reason.value, msg) });
    const rj = el('button', { type: 'button', id: 'd-reject', class: 'danger', text: 'Reject', onclick: () => decide([f.family], 'reject', reason.value, msg) });
    if (f.approved_by_me) ap.disabled = true;
    b.append(el('p', {}, reason, ' ', ap, ' ', rj));
    if (S.me.can_release) {
      const rl = el('button', { type: 'button', id: 'd-release', text: 'Release packet to ' + S.me.recipients[0], onclick: () => release([f.family], msg) });
      rl.disabled = f.state !== 'approved';
      b.append(el('p', {}, rl));
    }
    if (S.dmsg && S.dmsg.family === f.family) { msg.textContent = S.dmsg.text; msg.className = S.dmsg.bad ? 'bad' : 'ok'; }
    b.append(msg);
    $('detail').hidden = false;
    document.body.dataset.detail = f.family;
  }
  // what the matcher holds on a review pair: ages, areas, the keys the records agree and differ on
  function pairEvidence(p) {
    const age = (x) => (x.age === null || x.age === undefined ? '?' : String(x.age));
    const named = (k) => (p.keys && p.keys[k] ? k + ' (' + p.keys[k] + ')' : k);
    const keys = (s) => [].concat(s.match, s.blocking, s.household).map(named);
    const same = keys(p.same), differ = keys(p.differ);
    return 'age ' + age(p.a) + ' / ' + age(p.b) + '; area ' + (p.a.area || '?') + ' / ' + (p.b.area || '?') +
      '; agree: ' + (same.length ? same.join(', ') : 'none') + '; differ: ' + (differ.length ? differ.join(', ') : 'none');
  }
  async function loadReviews() {
    const r = await api('GET', '/api/reviews?limit=500');
    if (r.status !== 200) { showError(r.json.error); return; }
    const tb = $('reviews').tBodies[0]; tb.textContent = '';
    for (const p of r.json.pairs) {
      const reason = el('input', { type: 'text', class: 'rv-reason', maxlength: '500', placeholder: 'reason' });
      const msg = el('span', { class: 'rv-msg', role: 'status' });
      const send = async (decision) => {
        const q = await api('POST', '/api/review', { a: { agency: p.a.agency, ref: p.a.ref }, b: { agency: p.b.agency, ref: p.b.ref }, decision, reason: reason.value });
        msg.textContent = q.status === 200 ? q.json.message : q.json.error;
        msg.className = 'rv-msg ' + (q.status === 200 ? 'ok' : 'bad');
        if (q.status === 200) tr.dataset.decided = decision;
      };
      const tr = el('tr', { 'data-family': p.family, 'data-pair': p.a.agency + ':' + p.a.ref + '|' + p.b.agency + ':' + p.b.ref },
        el('td', {}, el('button', { type: 'button', class: 'fam', text: p.family, onclick: () => openDetail(p.family) })),
        el('td', { text: p.a.agency + ' ' + p.a.ref + ' (' + p.a.person + ')' }),
        el('td', { text: p.b.agency + ' ' + p.b.ref + ' (' + p.b.person + ')' }),
        el('td', { class: 'num', text: p.score.toFixed(3) }),
        el('td', { class: 'rv-evidence', text: pairEvidence(p) }),
        el('td', { text: p.family_persons + ' persons; ' + problemsText(p.family_problems) + '; ' + (STATE_TEXT[p.family_state] || p.family_state) }),
        el('td', {}, reason, ' ', el('button', { type: 'button', class: 'rv-same', text: 'Same person', onclick: () => send('same') }), ' ',
          el('button', { type: 'button', class: 'rv-different', text: 'Different people', onclick: () => send('different') }), ' ', msg));
      if (p.decided) {
        tr.dataset.decided = p.decided.decision;
        msg.textContent = 'decided: ' + (p.decided.decision === 'same' ? 'same person' : 'different people') + ' by ' + p.decided.by + ' ' + p.decided.time + (p.decided.verified ? '' : ' (signature does not verify: ignored)');
      }
      tb.append(tr);
    }
    document.body.dataset.reviews = String(r.json.total);
  }
  async function loadJobs() {
    const ul = $('jobs'); ul.textContent = '';
    if (S.lastJob) ul.append(el('li', { text: 'job ' + S.lastJob.id + ' (' + S.lastJob.kind + '): ' + jobSummary(S.lastJob) }));
  }
  async function startRun() {
    const msg = $('run-msg');
    const r = await api('POST', '/api/run', { date: $('run-date').value });
    if (r.status !== 202) { say(msg, r.json.error, true); return; }
    const j = await pollJob(r.json, 'linkage run');
    say(msg, j.results.map((x) => x.message).join('; '), j.failed);
    loadJobs(); await loadQueue(true);
  }
  function show(view) {
    for (const v of ['queue', 'reviews', 'jobs']) { $('view-' + v).hidden = v !== view; $('tab-' + v).classList.toggle('active', v === view); }
    if (view === 'reviews') loadReviews();
    if (view === 'jobs') loadJobs();
  }
  async function init() {
    const r = await api('GET', '/api/session');
    if (r.status !== 200) { showError(r.json.error); return; }
    S.csrf = r.json.csrf; S.me = r.json;
    $('who').textContent = 'Operator ' + r.json.operator + (r.json.label ? ' (' + r.json.label + ')' : '') + ', key ' + r.json.key.slice(0, 16) + '… — agreement ' + r.json.agreement + ', ' + r.json.required + ' approvals needed' + (r.json.can_release ? '; releases to ' + r.json.recipients.join(', ') : '');
    if (!r.json.can_release) $('release-selected').hidden = true;
    for (const b of document.querySelectorAll('nav .tab')) b.addEventListener('click', () => show(b.dataset.view));
    for (const id of ['f-state', 'f-problem', 'f-agency', 'f-sort']) $(id).addEventListener('change', () => { S.offset = 0; loadQueue(false); });
    $('f-q').addEventListener('input', () => { S.offset = 0; loadQueue(false); });
    $('filters').addEventListener('submit', (e) => e.preventDefault());
    $('run-form').addEventListener('submit', (e) => e.preventDefault());
    $('run-start').addEventListener('click', startRun);
    $('refresh').addEventListener('click', () => loadQueue(true));
    $('prev').addEventListener('click', () => { S.offset = Math.max(0, S.offset - S.limit); loadQueue(false); });
    $('next').addEventListener('click', () => { S.offset += S.limit; loadQueue(false); });
    $('select-all').addEventListener('change', (e) => { for (const c of document.querySelectorAll('#queue input.sel')) c.checked = e.target.checked; });
    $('approve-selected').addEventListener('click', () => decide(selected(), 'approve', $('reason').value, $('batch-msg')));
    $('reject-selected').addEventListener('click', () => decide(selected(), 'reject', $('reason').value, $('batch-msg')));
    $('release-selected').addEventListener('click', () => release(selected(), $('batch-msg')));
    $('detail-close').addEventListener('click', () => { $('detail').hidden = true; S.detail = null; document.body.dataset.detail = ''; });
    await loadQueue(false);
  }
  document.addEventListener('DOMContentLoaded', init);
})();
