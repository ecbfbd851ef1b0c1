// The note: the draft beside its transcript, every sentence linked to the
// utterances it cites; edit, approve or reject that exact version; the
// push status and the audit trail.

import { api, plainWords } from './api.js';
import { clock, fill, h, stateBadge, when } from './dom.js';

export function noteView(main, id, user) {
  let note = null;
  let dirty = false;
  let busy = false;

  const root = h('div', { class: 'note-page' });
  main.append(root);
  const banner = h('div', { id: 'note-banner', role: 'alert', class: 'errors' });

  async function load() {
    fill(root, h('p', { class: 'status' }, 'Loading the note…'));
    try {
      note = await api('GET', `/v1/notes/${encodeURIComponent(id)}`);
    } catch (e) {
      fill(root, h('h1', {}, 'Note'), h('p', { class: 'error', role: 'alert' }, plainWords(e.code, e.message)),
        h('p', {}, h('a', { href: '#/queue' }, 'Back to the queue')));
      return;
    }
    dirty = false;
    render();
  }

  function render() {
    const n = note;
    const editable = n.state === 'pending_review' && user.role !== 'admin';
    fill(banner);
    const transcript = renderTranscript(n);
    const draft = renderDraft(n, editable);
    fill(root,
      h('div', { class: 'note-head card' },
        h('div', { class: 'note-title' },
          h('h1', {}, `Patient ${n.patient}`),
          h('span', { id: 'note-state' }, stateBadge(n.state)),
          h('span', { class: 'version', id: 'note-version' }, `Version ${n.version}`)),
        h('p', { class: 'muted' },
          [`Template ${n.template}`, n.encounter ? `encounter ${n.encounter}` : null,
            n.connector ? `files to ${n.connector}` : null,
            `recorded by ${n.clinician_name || n.clinician}`, when(n.created_at)].filter(Boolean).join(' · ')),
        pushStatus(n),
        banner,
        editable ? actions() : null),
      h('div', { class: 'note-columns' }, draft, transcript),
      auditTrail());
  }

  function pushStatus(n) {
    switch (n.state) {
      case 'approved':
        return h('p', { class: 'push' }, `Approved version ${n.approved_version} by ${n.approved_by_name || n.approved_by} ${when(n.approved_at)}; queued to file in the EHR.`);
      case 'pushing':
        return h('p', { class: 'push' }, `Approved version ${n.approved_version}; sending to the EHR now (attempt ${n.push_attempts || 1}).`);
      case 'pushed':
        return h('p', { class: 'push ok' }, `Filed in the EHR ${when(n.pushed_at)}`, n.external_id ? ` as ${n.external_id}` : '', '.');
      case 'push_failed':
        return h('div', { class: 'push failed' },
          h('p', {}, h('strong', {}, 'The EHR did not accept this note. '), `After ${n.push_attempts || 0} attempts it said:`),
          h('blockquote', { id: 'push-error' }, n.push_error || 'no message'),
          user.role === 'clinician' || user.role === 'reviewer' || user.role === 'admin'
            ? h('button', { type: 'button', id: 'retry', onclick: retry }, 'Retry sending') : null);
      case 'rejected':
        return h('p', { class: 'push' }, `Rejected by ${n.rejected_by || 'a reviewer'}`, n.reject_reason ? `: ${n.reject_reason}` : '.');
      default:
        return null;
    }
  }

  function actions() {
    const save = h('button', { type: 'button', id: 'save', disabled: true, onclick: saveEdits }, 'Save edits');
    const approve = h('button', { type: 'button', class: 'primary', id: 'approve', onclick: approveNote }, `Approve version ${note.version}`);
    const reason = h('textarea', { id: 'reject-reason', rows: 2 });
    const rejectForm = h('form', { class: 'reject-form', hidden: true, onsubmit: rejectNote },
      h('label', { for: 'reject-reason' }, 'Why is this draft rejected?'), reason,
      h('div', { class: 'actions' },
        h('button', { type: 'submit', class: 'danger', id: 'confirm-reject' }, 'Reject the draft'),
        h('button', { type: 'button', onclick: () => { rejectForm.hidden = true; } }, 'Cancel')));
    const reject = h('button', { type: 'button', id: 'reject', onclick: () => { rejectForm.hidden = false; reason.focus(); } }, 'Reject…');
    const hint = h('span', { class: 'muted', id: 'save-hint' }, '');
    return h('div', { class: 'note-actions' }, h('div', { class: 'actions' }, save, approve, reject, hint), rejectForm);
  }

  function markDirty() {
    if (dirty) return;
    dirty = true;
    const save = root.querySelector('#save');
    const approve = root.querySelector('#approve');
    if (save) save.disabled = false;
    if (approve) approve.disabled = true;
    const hint = root.querySelector('#save-hint');
    if (hint) hint.textContent = 'Save your edits before approving.';
  }

  function renderDraft(n, editable) {
    const sections = (n.draft && n.draft.sections) || [];
    const box = h('section', { class: 'card draft', 'aria-labelledby': 'draft-h' }, h('h2', { id: 'draft-h' }, 'Draft'));
    if (n.draft && n.draft.fallback) box.append(h('p', { class: 'notice' }, `Drafted by the fallback drafter: ${n.draft.fallback}`));
    sections.forEach((s, si) => {
      const sec = h('div', { class: 'section', 'data-section': s.id },
        h('h3', { id: `sec-${si}` }, s.title || s.id));
      const sentences = s.sentences || [];
      if (sentences.length === 0) sec.append(h('p', { class: 'muted' }, 'Nothing drafted for this section.'));
      sentences.forEach((x, xi) => sec.append(sentence(x, si, xi, editable)));
      box.append(sec);
    });
    return box;
  }

  function sentence(x, si, xi, editable) {
    const idText = `s-${si}-${xi}`;
    const evidence = x.evidence || [];
    const flags = x.flags || [];
    const field = editable
      ? h('textarea', { id: idText, class: 'sentence-text', rows: Math.max(1, Math.ceil((x.text || '').length / 70)),
        'aria-labelledby': `sec-${si} ${idText}-label`, 'data-section': si, 'data-sentence': xi, oninput: markDirty })
      : h('p', { id: idText, class: 'sentence-text' }, x.text);
    if (editable) field.value = x.text;
    const sectionID = ((note.draft && note.draft.sections) || [])[si].id;
    const mine = x.author === 'clinician';
    const wrap = h('div', { class: `sentence${flags.length ? ' flagged' : ''}${mine ? ' clinician' : ''}`, 'data-evidence': evidence.join(' ') },
      h('span', { class: 'visually-hidden', id: `${idText}-label` }, `sentence ${xi + 1}`),
      field,
      h('div', { class: 'cites' },
        evidence.length === 0 ? h('span', { class: 'muted small' }, 'cites nothing') : null,
        evidence.map((u) => h('button', {
          type: 'button', class: 'chip', 'data-utterance': u,
          'aria-label': `Show utterance ${u} in the transcript`,
          onclick: () => showUtterances([u], true),
        }, `#${u}`))),
      mine ? h('span', { class: 'muted small author' }, 'written by a clinician') : null,
      // Approving needs each flag acknowledged by its id (section/sentence/flag).
      flags.length ? h('ul', { class: 'flags', 'aria-label': 'Support check' },
        flags.map((f, fi) => h('li', {}, h('span', { class: 'flag-mark', 'aria-hidden': 'true' }, '!'), ` Check: ${f} `,
          h('label', { class: 'small' }, h('input', { type: 'checkbox', class: 'ack-flag', 'data-flag': `${sectionID}/${xi}/${fi}` }), ' checked')))) : null);
    const cited = () => showUtterances(evidence, false);
    wrap.addEventListener('mouseenter', cited);
    wrap.addEventListener('focusin', cited);
    wrap.addEventListener('mouseleave', () => showUtterances([], false));
    return wrap;
  }

  function showUtterances(indices, scroll) {
    const set = new Set(indices.map(Number));
    let first = null;
    for (const li of root.querySelectorAll('.transcript li')) {
      const on = set.has(Number(li.dataset.index));
      li.classList.toggle('cited', on);
      if (on) li.setAttribute('aria-current', 'true');
      else li.removeAttribute('aria-current');
      if (on && !first) first = li;
    }
    if (scroll && first) {
      first.scrollIntoView({ block: 'center', behavior: 'smooth' });
      first.focus({ preventScroll: true });
    }
  }

  function renderTranscript(n) {
    const list = h('ol', { class: 'transcript', id: 'transcript' });
    for (const u of n.transcript || []) {
      const li = h('li', { 'data-index': u.index, id: `u-${u.index}`, tabindex: -1, class: u.gap ? 'gap' : '' },
        h('span', { class: 'u-num' }, `#${u.index}`),
        h('span', { class: 'time' }, clock(u.start)),
        u.speaker ? h('span', { class: 'speaker' }, u.speaker) : null,
        h('span', { class: 'text' }, u.gap ? '[audio that could not be transcribed]' : u.text));
      li.addEventListener('mouseenter', () => highlightSentences(u.index));
      li.addEventListener('mouseleave', () => highlightSentences(null));
      list.append(li);
    }
    return h('section', { class: 'card transcript-card', 'aria-labelledby': 'tx-h' },
      h('h2', { id: 'tx-h' }, 'Transcript'),
      (n.transcript || []).length ? list : h('p', { class: 'muted' }, 'No speech was transcribed.'));
  }

  function highlightSentences(index) {
    for (const s of root.querySelectorAll('.sentence')) {
      const ev = (s.dataset.evidence || '').split(' ').filter(Boolean).map(Number);
      s.classList.toggle('citing', index != null && ev.includes(index));
    }
  }

  function editedSections() {
    const sections = structuredClone((note.draft && note.draft.sections) || []);
    for (const t of root.querySelectorAll('textarea.sentence-text')) {
      sections[Number(t.dataset.section)].sentences[Number(t.dataset.sentence)].text = t.value.trim();
    }
    // A sentence emptied by the reviewer is removed from the note.
    for (const s of sections) s.sentences = (s.sentences || []).filter((x) => x.text !== '');
    return sections;
  }

  async function change(label, fn) {
    if (busy) return;
    busy = true;
    fill(banner, h('p', { class: 'status' }, `${label}…`));
    try {
      note = await fn();
      dirty = false;
      render();
      fill(banner, h('p', { class: 'ok', id: 'done' }, `${label}: done.`));
    } catch (e) {
      fill(banner, errorBox(e));
    } finally {
      busy = false;
    }
  }

  function errorBox(e) {
    if (e.code === 'version_conflict') {
      const cur = e.body && e.body.current_version;
      return h('div', { class: 'conflict', id: 'conflict' },
        h('p', {}, h('strong', {}, 'Someone else changed this note'), cur ? ` (it is now version ${cur}; you opened version ${note.version}).` : '.',
          ' Your edits were not saved and nothing was overwritten. Reload to see the current note, then make your changes again.'),
        h('button', { type: 'button', id: 'reload', onclick: load }, 'Reload the note'));
    }
    return h('p', { class: 'error' }, plainWords(e.code, e.message));
  }

  function saveEdits() {
    const sections = editedSections();
    return change('Saving your edits', () => api('PUT', `/v1/notes/${encodeURIComponent(id)}`,
      { body: { sections, version: note.version }, version: note.version }));
  }

  function approveNote() {
    if (dirty) return;
    return change(`Approving version ${note.version}`, () => api('POST', `/v1/notes/${encodeURIComponent(id)}/approve`,
      { body: { version: note.version, acknowledged_flags: acknowledgedFlags() }, version: note.version }));
  }

  function acknowledgedFlags() {
    return [...root.querySelectorAll('input.ack-flag:checked')].map((c) => c.dataset.flag);
  }

  function rejectNote(ev) {
    ev.preventDefault();
    const reason = root.querySelector('#reject-reason').value.trim();
    return change('Rejecting the draft', () => api('POST', `/v1/notes/${encodeURIComponent(id)}/reject`,
      { body: { version: note.version, reason }, version: note.version }));
  }

  function retry() {
    return change('Queuing the push again', () => api('POST', `/v1/notes/${encodeURIComponent(id)}/retry`));
  }

  function auditTrail() {
    const body = h('div', { id: 'audit-body' }, h('p', { class: 'muted' }, 'Loading…'));
    const d = h('details', { class: 'card audit', id: 'audit' }, h('summary', {}, 'Audit trail'), body);
    d.addEventListener('toggle', async () => {
      if (!d.open) return;
      try {
        const { entries } = await api('GET', `/v1/notes/${encodeURIComponent(id)}/audit`);
        fill(body, h('table', { class: 'audit-table' },
          h('thead', {}, h('tr', {}, ['When', 'Who', 'Action', 'State', 'Version', 'Detail'].map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', {}, entries.map((e) => h('tr', {},
            h('td', {}, when(e.at)), h('td', {}, `${e.actor} (${e.role})`), h('td', {}, e.action),
            h('td', {}, e.from_state && e.to_state && e.from_state !== e.to_state ? `${e.from_state} → ${e.to_state}` : (e.to_state || '')),
            h('td', {}, e.from_version !== e.version ? `${e.from_version} → ${e.version}` : String(e.version)),
            h('td', {}, e.detail || ''))))));
      } catch (e) {
        fill(body, h('p', { class: 'error' }, plainWords(e.code, e.message)));
      }
    });
    return d;
  }

  load();
  return () => {};
}
