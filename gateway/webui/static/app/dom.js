// Small DOM helpers. Text is only ever inserted as text nodes, never as
// HTML, so nothing from a transcript or a note can become markup.

/**
 * h builds an element: attrs are attributes ("on…" keys add listeners,
 * true sets a bare attribute, null/false skip it); children are nodes or
 * strings (inserted as text).
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** clear empties an element and fills it with children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** when formats an ISO time in the user's locale. */
export function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return isNaN(d) ? '' : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** clock formats a Go duration in nanoseconds (or seconds when asSeconds) as m:ss. */
export function clock(v, asSeconds = false) {
  const s = Math.max(0, Math.floor(asSeconds ? v : v / 1e9));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

const stateWords = {
  recording: 'Recording',
  drafting: 'Drafting',
  pending_review: 'Waiting for review',
  approved: 'Approved, queued for the EHR',
  pushing: 'Sending to the EHR',
  pushed: 'Filed in the EHR',
  push_failed: 'Could not be filed',
  rejected: 'Rejected',
};

/** stateBadge shows a note's state in words, coloured by state. */
export function stateBadge(state) {
  return h('span', { class: `badge state-${state}`, 'data-state': state }, stateWords[state] || state);
}
