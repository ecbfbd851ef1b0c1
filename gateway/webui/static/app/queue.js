// The review queue: the user's notes (a reviewer's: the clinic's) by
// state, oldest first, a page at a time. It follows /v1/events: a new
// note, a change of state or a push shows without a reload.

import { api, plainWords } from './api.js';
import { fill, h, stateBadge, when } from './dom.js';
import { subscribe } from './events.js';

const tabs = [
  { id: 'pending', label: 'Waiting for review', states: 'pending_review' },
  { id: 'approved', label: 'Approved / sending', states: 'approved,pushing' },
  { id: 'pushed', label: 'Filed in EHR', states: 'pushed' },
  { id: 'failed', label: 'Push failed', states: 'push_failed' },
  { id: 'rejected', label: 'Rejected', states: 'rejected' },
];

export function queueView(main, user) {
  const wanted = new URLSearchParams(location.hash.split('?')[1] || '').get('tab');
  let current = tabs.find((t) => t.id === wanted) || tabs[0];
  let next = '';
  let loading = false;

  const counts = tabs.map(() => h('span', { class: 'count' }));
  const tabButtons = tabs.map((t, i) => h('button', {
    type: 'button', role: 'tab', id: `tab-${t.id}`, 'aria-controls': 'queue-panel',
    onclick: () => select(t), onkeydown: arrows,
  }, t.label, counts[i]));
  const body = h('tbody', { id: 'queue-rows' });
  const status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
  const errors = h('div', { role: 'alert', class: 'errors' });
  const more = h('button', { type: 'button', id: 'load-more', hidden: true, onclick: () => load(false) }, 'Load more');
  const scope = user.role === 'clinician' ? 'Your notes' : `Notes of clinic ${user.clinic}`;

  main.append(h('section', { class: 'card' },
    h('h1', { id: 'queue-h' }, 'Review queue'),
    h('p', { class: 'muted' }, `${scope}, oldest first.`),
    h('div', { role: 'tablist', 'aria-label': 'Note state', class: 'tabs' }, tabButtons),
    h('div', { id: 'queue-panel', role: 'tabpanel' },
      h('table', { class: 'queue', 'aria-labelledby': 'queue-h' },
        h('thead', {}, h('tr', {},
          h('th', { scope: 'col' }, 'Patient'),
          h('th', { scope: 'col' }, 'Template'),
          h('th', { scope: 'col' }, 'Recorded'),
          h('th', { scope: 'col' }, 'Clinician'),
          h('th', { scope: 'col' }, 'State'))),
        body),
      status, errors, h('div', { class: 'actions' }, more))));

  function arrows(ev) {
    const i = tabs.indexOf(current);
    let j = null;
    if (ev.key === 'ArrowRight') j = (i + 1) % tabs.length;
    else if (ev.key === 'ArrowLeft') j = (i + tabs.length - 1) % tabs.length;
    else if (ev.key === 'Home') j = 0;
    else if (ev.key === 'End') j = tabs.length - 1;
    if (j == null) return;
    ev.preventDefault();
    select(tabs[j]);
    tabButtons[j].focus();
  }

  function select(t) {
    current = t;
    history.replaceState(null, '', `#/queue?tab=${t.id}`);
    load(true);
  }

  // refresh shows the current tab again from its start, and the counts.
  let refreshTimer = null;
  function refresh() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => { loadCounts(); load(true); }, 250);
  }

  async function loadCounts() {
    try {
      const c = (await api('GET', '/v1/notes/counts')).counts || {};
      tabs.forEach((t, i) => {
        const n = t.states.split(',').reduce((a, st) => a + (c[st] || 0), 0);
        counts[i].textContent = n ? ` (${n})` : '';
      });
    } catch {
      // Counts are a convenience; the list says what there is.
    }
  }

  async function load(reset) {
    if (loading) {
      if (reset) refresh(); // an event during a load: load again after it
      return;
    }
    loading = true;
    tabButtons.forEach((b, i) => {
      const on = tabs[i] === current;
      b.setAttribute('aria-selected', String(on));
      b.tabIndex = on ? 0 : -1;
    });
    if (reset) {
      fill(body);
      next = '';
    }
    fill(errors);
    status.textContent = 'Loading…';
    const q = new URLSearchParams({ state: current.states, limit: '25' });
    if (next) q.set('cursor', next);
    try {
      const page = await api('GET', `/v1/notes?${q}`);
      for (const n of page.notes) body.append(row(n));
      next = page.next || '';
      more.hidden = !next;
      status.textContent = body.children.length === 0 ? 'No notes here.' : `${body.children.length} shown${next ? '; more to load' : ''}.`;
    } catch (e) {
      status.textContent = '';
      errors.append(h('p', { class: 'error' }, plainWords(e.code, e.message)));
    } finally {
      loading = false;
    }
  }

  function row(n) {
    return h('tr', { 'data-note': n.id, 'data-state': n.state },
      h('td', {}, h('a', { href: `#/notes/${encodeURIComponent(n.id)}` }, n.patient_name ? `${n.patient_name} (${n.patient})` : n.patient),
        n.encounter ? h('span', { class: 'muted' }, ` · ${n.encounter}`) : null),
      h('td', { 'data-label': 'Template' }, n.template),
      h('td', { 'data-label': 'Recorded' }, h('time', { datetime: n.created_at }, when(n.created_at))),
      h('td', { 'data-label': 'Clinician' }, n.clinician_name || n.clinician),
      h('td', { 'data-label': 'State' }, stateBadge(n.state), n.push_error ? h('div', { class: 'small error-text' }, n.push_error) : null,
        n.connector ? h('div', { class: 'small muted' }, `to ${n.connector_name || n.connector}`) : null));
  }

  const stop = subscribe((type) => { if (type === 'note') refresh(); }, () => refresh());
  loadCounts();
  load(true);
  return () => { stop(); clearTimeout(refreshTimer); };
}
