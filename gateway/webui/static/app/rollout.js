// The rollout page (#/rollout): a clinic's documentation turnaround,
// backlog, edit rate and pilot groups side by side, drawn with Chart.js
// (vendored under /app/vendor, loaded on the first visit) from
// GET /v1/metrics/rollout. Every chart has a table of the same figures
// beside it for screen readers and for reading exact values.

import { ApiError, api, authHeaders, plainWords } from './api.js';
import { fill, h } from './dom.js';

// Colours of the pilot groups, in the report's order (unassigned last,
// always grey), chosen to stay apart for the common colour blindnesses.
const palette = ['#1f6f9f', '#d9822b', '#2d8a5f', '#8e4fa8', '#b8433f', '#5d7f0f'];
const grey = '#8c9aa3';

let chartLib = null;

/** loadChart loads the vendored Chart.js once and resolves to it. */
function loadChart() {
  if (!chartLib) {
    chartLib = new Promise((resolve, reject) => {
      const s = document.createElement('script');
      s.src = '/app/vendor/chart.umd.min.js';
      s.onload = () => resolve(window.Chart);
      s.onerror = () => reject(new Error('the charting library could not be loaded'));
      document.head.append(s);
    });
  }
  return chartLib;
}

function stylesheet() {
  if (document.querySelector('link[data-rollout]')) return;
  document.head.append(h('link', { rel: 'stylesheet', href: '/app/rollout.css', 'data-rollout': true }));
}

const day = 24 * 3600 * 1000;
const isoDate = (d) => d.toISOString().slice(0, 10);

function colours(groups) {
  const out = {};
  let i = 0;
  for (const g of groups) out[g.key] = g.key === 'unassigned' ? grey : palette[i++ % palette.length];
  return out;
}

const minutes = (m) => (m >= 120 ? `${(m / 60).toFixed(1)} h` : `${Math.round(m)} min`);
const percent = (r) => `${(r * 100).toFixed(1)}%`;
const shortDate = (iso) => new Date(iso).toLocaleDateString(undefined, { day: 'numeric', month: 'short', timeZone: 'UTC' });

/** rolloutView shows the rollout figures to reviewers and admins. */
export function rolloutView(main, user) {
  stylesheet();
  const charts = [];
  const errors = h('div', { role: 'alert', class: 'errors' });
  const status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
  const params = new URLSearchParams(location.hash.split('?')[1] || '');
  const until = h('input', { type: 'date', id: 'rollout-until', value: params.get('until') || isoDate(new Date(Date.now() + day)) });
  const since = h('input', { type: 'date', id: 'rollout-since', value: params.get('since') || isoDate(new Date(Date.now() - 89 * day)) });
  const by = h('select', { id: 'rollout-by' },
    h('option', { value: 'clinician' }, 'clinician'), h('option', { value: 'template' }, 'template'));
  by.value = params.get('group_by') === 'template' ? 'template' : 'clinician';
  const body = h('div', { id: 'rollout-body' });

  main.append(h('section', { class: 'card rollout' },
    h('h1', {}, 'Rollout'),
    h('p', { class: 'muted' }, `Clinic ${user.clinic}: documentation turnaround, backlog and how much the drafts are changed, by pilot group. Visits are counted in the period they were recorded.`),
    h('form', { class: 'rollout-form', onsubmit: (e) => { e.preventDefault(); load(); } },
      h('label', { for: 'rollout-since' }, 'From'), since,
      h('label', { for: 'rollout-until' }, 'Until'), until,
      h('label', { for: 'rollout-by' }, 'Rows by'), by,
      h('button', { type: 'submit', class: 'primary' }, 'Show'),
      h('button', { type: 'button', id: 'rollout-csv', onclick: csv }, 'Download CSV')),
    errors, status),
  body);

  function query(groupBy) {
    const q = new URLSearchParams({ since: since.value, until: until.value });
    if (groupBy) q.set('group_by', groupBy);
    return q;
  }

  async function load() {
    fill(errors);
    status.textContent = 'Loading…';
    history.replaceState(null, '', `#/rollout?${query(by.value)}`);
    try {
      const [rep, Chart] = await Promise.all([api('GET', `/v1/metrics/rollout?${query('clinician')}`), loadChart()]);
      const rows = by.value === 'clinician' ? rep.rows : (await api('GET', `/v1/metrics/rollout?${query(by.value)}`)).rows;
      draw(Chart, rep, rows || []);
      status.textContent = `${rep.total.visits} visits from ${shortDate(rep.since)} to ${shortDate(rep.until)}.`;
      document.body.dataset.rollout = 'ready'; // for the browser test
    } catch (e) {
      status.textContent = '';
      errors.append(h('p', { class: 'error' }, e instanceof ApiError ? plainWords(e.code, e.message) : e.message));
    }
  }

  async function csv() {
    fill(errors);
    try {
      const res = await fetch(`/v1/metrics/rollout?${query(by.value)}&format=csv`, { headers: authHeaders('GET'), cache: 'no-store' });
      if (!res.ok) throw new ApiError(res.status, `http_${res.status}`, 'The figures could not be exported.');
      const url = URL.createObjectURL(await res.blob());
      const a = h('a', { href: url, download: `rollout-${since.value}-${until.value}.csv`, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (e) {
      errors.append(h('p', { class: 'error' }, e instanceof ApiError ? plainWords(e.code, e.message) : e.message));
    }
  }

  function draw(Chart, rep, rows) {
    for (const c of charts.splice(0)) c.destroy();
    const groups = rep.groups || [];
    const col = colours(groups);
    const labels = rep.series.map((p) => shortDate(p.start));
    const canvas = (id, label) => h('canvas', { id, role: 'img', 'aria-label': label });
    const common = { animation: false, responsive: true, maintainAspectRatio: false, plugins: { legend: { position: 'bottom' } } };

    const tiles = h('div', { class: 'tiles' }, groups.map((g) => h('div', { class: 'tile', 'data-group': g.key },
      h('h3', {}, h('span', { class: 'swatch', 'data-colour': col[g.key] }), g.key),
      h('p', { class: 'big' }, minutes(g.to_approval_minutes.median)), h('p', { class: 'muted' }, 'median, end of visit → approved'),
      h('dl', {},
        h('dt', {}, 'Visits'), h('dd', {}, String(g.visits)),
        h('dt', {}, 'p90 to approved'), h('dd', {}, minutes(g.to_approval_minutes.p90)),
        h('dt', {}, 'Median to filed'), h('dd', {}, minutes(g.to_push_minutes.median)),
        h('dt', {}, 'Waiting > 24 h'), h('dd', {}, String(g.pending_over_24h)),
        h('dt', {}, 'Sentences edited'), h('dd', {}, percent(g.edit_rate)),
        h('dt', {}, 'Words edited'), h('dd', {}, percent(g.word_edit_rate)),
        h('dt', {}, 'Push failures'), h('dd', {}, String(g.push_failures)),
        h('dt', {}, 'Rejected'), h('dd', {}, String(g.rejected))))));

    const turnaround = canvas('chart-turnaround', 'Median minutes from the end of the visit to approval, by week and pilot group');
    const backlog = canvas('chart-backlog', 'Notes waiting for review longer than 24 hours and 72 hours at the end of each week, by pilot group');
    const edits = canvas('chart-edits', 'Share of drafted sentences and words clinicians changed, by clinician');
    const side = canvas('chart-groups', 'Pilot groups side by side: median and 90th percentile hours to approval and to filing');

    fill(body,
      h('section', { class: 'card' }, h('h2', {}, 'Pilot groups side by side'), tiles,
        h('div', { class: 'chart short' }, side)),
      h('div', { class: 'charts' },
        h('section', { class: 'card' }, h('h2', {}, 'Turnaround over time'), h('div', { class: 'chart' }, turnaround)),
        h('section', { class: 'card' }, h('h2', {}, 'Backlog by age'), h('div', { class: 'chart' }, backlog))),
      h('section', { class: 'card' }, h('h2', {}, 'Edit rate by clinician'), h('div', { class: 'chart tall' }, edits)),
      h('section', { class: 'card' }, h('h2', {}, `Figures by ${by.value}`), table(rep.total, groups, rows)),
      h('section', { class: 'card two' },
        h('div', {}, h('h2', {}, 'Push failures'), list(rep.push_failures, (f) => `${f.connector} · ${f.reason}`)),
        h('div', {}, h('h2', {}, 'Rejections'), list(rep.rejections, (r) => r.reason || '(no reason given)'))));
    for (const el of tiles.querySelectorAll('.swatch')) el.style.background = el.dataset.colour;

    charts.push(new Chart(turnaround, {
      type: 'line',
      data: { labels, datasets: groups.map((g) => ({
        label: g.key, data: rep.series.map((p) => p.to_approval_median[g.key] / 60), borderColor: col[g.key], backgroundColor: col[g.key], tension: 0.25,
      })) },
      options: { ...common, scales: { y: { beginAtZero: true, title: { display: true, text: 'hours to approval (median)' } } } },
    }));
    charts.push(new Chart(backlog, {
      type: 'bar',
      data: { labels, datasets: groups.flatMap((g) => [
        { label: `${g.key} > 72 h`, stack: g.key, data: rep.series.map((p) => p.pending_over_72h[g.key]), backgroundColor: col[g.key] },
        { label: `${g.key} 24–72 h`, stack: g.key, data: rep.series.map((p) => p.pending_over_24h[g.key] - p.pending_over_72h[g.key]), backgroundColor: `${col[g.key]}80` },
      ]) },
      options: { ...common, scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, title: { display: true, text: 'notes waiting' } } } },
    }));
    const clinicians = (rep.rows || []).filter((r) => r.approved > 0);
    charts.push(new Chart(edits, {
      type: 'bar',
      data: { labels: clinicians.map((r) => `${r.key} (${r.group})`), datasets: [
        { label: 'sentences changed, added or removed', data: clinicians.map((r) => r.edit_rate * 100), backgroundColor: clinicians.map((r) => col[r.group] || grey) },
        { label: 'words (edit distance)', data: clinicians.map((r) => r.word_edit_rate * 100), backgroundColor: clinicians.map((r) => `${col[r.group] || grey}80`) },
      ] },
      options: { ...common, indexAxis: 'y', scales: { x: { beginAtZero: true, title: { display: true, text: '% of the draft' } } } },
    }));
    charts.push(new Chart(side, {
      type: 'bar',
      data: { labels: ['median to approved', 'p90 to approved', 'median to filed', 'p90 to filed'], datasets: groups.map((g) => ({
        label: g.key, backgroundColor: col[g.key],
        data: [g.to_approval_minutes.median, g.to_approval_minutes.p90, g.to_push_minutes.median, g.to_push_minutes.p90].map((m) => m / 60),
      })) },
      options: { ...common, scales: { y: { beginAtZero: true, title: { display: true, text: 'hours after the visit' } } } },
    }));
  }

  load();
  return () => { for (const c of charts.splice(0)) c.destroy(); };
}

function table(total, groups, rows) {
  const cols = [
    ['Visits', (f) => f.visits], ['Median to approved', (f) => minutes(f.to_approval_minutes.median)],
    ['p90 to approved', (f) => minutes(f.to_approval_minutes.p90)], ['Median to filed', (f) => minutes(f.to_push_minutes.median)],
    ['Waiting', (f) => f.pending], ['> 24 h', (f) => f.pending_over_24h], ['> 72 h', (f) => f.pending_over_72h],
    ['Sentences edited', (f) => percent(f.edit_rate)], ['Words edited', (f) => percent(f.word_edit_rate)],
    ['Flags raised', (f) => f.flags_raised], ['Push failures', (f) => f.push_failures], ['Rejected', (f) => f.rejected],
  ];
  const tr = (cls, f, name) => h('tr', { class: cls }, h('th', { scope: 'row' }, name), cols.map(([, v]) => h('td', {}, String(v(f)))));
  // The wrapper scrolls sideways on a phone, so it takes the focus for
  // the keyboard to scroll it.
  return h('div', { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': 'Figures table' }, h('table', { id: 'rollout-table', class: 'figures' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Who'), cols.map(([n]) => h('th', { scope: 'col' }, n)))),
    h('tbody', {}, tr('total', total, 'Clinic'), groups.map((g) => tr('group', g, g.key)),
      rows.map((r) => tr('row', r, r.group ? `${r.key} (${r.group})` : r.key)))));
}

function list(items, label) {
  if (!items || !items.length) return h('p', { class: 'muted' }, 'None.');
  return h('ul', { class: 'counts' }, items.map((i) => h('li', {}, h('span', {}, label(i)), h('span', { class: 'n' }, String(i.count)))));
}
