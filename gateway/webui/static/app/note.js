// The note: the draft beside its transcript, every sentence linked to the
// utterances it cites. The clinician writes freely (any section, empty
// ones too; sentences added, removed, or a whole section edited as text,
// unchanged sentences keeping their citations), saves against the version
// they saw, acknowledges each open flag and approves that exact version.
// The page follows the note live (/v1/events): its state and push, who
// else is reviewing it, and a newer version, which is merged with the
// clinician's unsaved text rather than thrown away.

import { api, authHeaders, plainWords } from './api.js';
import { clock, fill, h, stateBadge, when } from './dom.js';
import { subscribe } from './events.js';

const LOCK_RENEW_MS = 60000;
const wide = () => window.matchMedia('(min-width: 900px)').matches;

export function noteView(main, id, user) {
  let note = null; // the version the page shows and edits from
  let work = []; // the sections being edited: [{ id, title, sentences: [...], raw: string|null }]
  let base = []; // note's sections as loaded, to tell what the clinician changed
  let dirty = false;
  let busy = false;
  let theirs = {}; // section id → sections of a newer version shown beside the clinician's
  let lock = null; // someone else's soft lock
  let lockTimer = null;
  let locked = false; // this page holds the lock
  let missedWhileLoading = false; // the event stream connected before the note was shown
  const path = `/v1/notes/${encodeURIComponent(id)}`;

  const root = h('div', { class: 'note-page' });
  const live = h('p', { class: 'visually-hidden', role: 'status', id: 'note-live' });
  main.append(root, live);
  const banner = h('div', { id: 'note-banner', role: 'alert', class: 'errors' });

  async function load() {
    fill(root, h('p', { class: 'status' }, 'Loading the note…'));
    let n;
    try {
      n = await api('GET', path);
    } catch (e) {
      fill(root, h('h1', {}, 'Note'), h('p', { class: 'error', role: 'alert' }, plainWords(e.code, e.message)),
        h('p', {}, h('a', { href: '#/queue' }, 'Back to the queue')));
      return;
    }
    show(n);
    if (missedWhileLoading) {
      missedWhileLoading = false;
      resync();
    }
  }

  // show puts version n on screen as the clinician's starting point.
  function show(n) {
    note = n;
    lock = otherLock(n.lock);
    base = sectionsOf(n);
    work = structuredClone(base).map((s) => ({ ...s, raw: null }));
    theirs = {};
    dirty = false;
    render();
  }

  function editable() {
    return note.state === 'pending_review' && user.role !== 'admin';
  }

  function render() {
    const n = note;
    const focus = rememberFocus();
    fill(banner);
    fill(root,
      h('div', { class: 'note-head card' },
        h('div', { class: 'note-title' },
          h('h1', {}, patientTitle(n)),
          h('span', { id: 'note-state' }, stateBadge(n.state)),
          h('span', { class: 'version', id: 'note-version' }, `Version ${n.version}`)),
        h('p', { class: 'muted' },
          [demographics(n), `Template ${n.template}`, n.encounter ? `encounter ${n.encounter}` : null,
            `recorded by ${n.clinician_name || n.clinician}`, when(n.created_at)].filter(Boolean).join(' · ')),
        destination(n),
        lockNotice(),
        banner),
      h('div', { class: 'note-columns' },
        h('div', { class: 'draft-column' }, renderDraft(), editable() ? approvalCard() : null),
        renderTranscript(n)),
      auditTrail());
    for (const t of root.querySelectorAll('textarea.sentence-text, textarea.section-text')) fit(t);
    restoreFocus(focus);
  }

  // fit grows a text box to its text, so nothing typed is hidden.
  function fit(t) {
    t.style.height = 'auto';
    t.style.height = `${t.scrollHeight + 2}px`;
  }

  function patientTitle(n) {
    return n.patient_name ? `${n.patient_name} (${n.patient})` : `Patient ${n.patient}`;
  }

  function demographics(n) {
    const bits = [n.patient_birth_date ? `born ${n.patient_birth_date}` : null, n.patient_sex || null].filter(Boolean);
    return bits.length ? bits.join(', ') : null;
  }

  // destination says where the note goes and, once filed, where it went.
  function destination(n) {
    const to = n.connector_name || n.connector || 'the EHR';
    const ref = n.external_id ? documentRef(n.external_id) : null;
    switch (n.state) {
      case 'approved':
        return h('p', { class: 'push', id: 'push' }, `Approved version ${n.approved_version} by ${n.approved_by_name || n.approved_by} ${when(n.approved_at)}; queued for `, h('strong', {}, to), '.');
      case 'pushing':
        return h('p', { class: 'push', id: 'push' }, `Approved version ${n.approved_version}; sending to `, h('strong', {}, to), ` now (attempt ${n.push_attempts || 1}).`);
      case 'pushed':
        return h('p', { class: 'push ok', id: 'push' }, `Filed in `, h('strong', {}, to), ` ${when(n.pushed_at)}`,
          ref ? [' as ', ref] : null, '.');
      case 'push_failed':
        return h('div', { class: 'push failed', id: 'push' },
          h('p', {}, h('strong', {}, `${to} did not accept this note. `), `After ${n.push_attempts || 0} attempts it said:`),
          h('blockquote', { id: 'push-error' }, n.push_error || 'no message'),
          h('button', { type: 'button', id: 'retry', onclick: retry }, 'Retry sending'));
      case 'rejected':
        return h('p', { class: 'push', id: 'push' }, `Rejected by ${n.rejected_by || 'a reviewer'}`, n.reject_reason ? `: ${n.reject_reason}` : '.');
      default:
        return h('p', { class: 'push muted', id: 'push' }, 'Goes to ', h('strong', {}, to), ' once approved',
          ref ? [' (replacing ', ref, ')'] : null, '.');
    }
  }

  // documentRef shows the EHR's reference of a filed document: a link
  // when it is a web address, else its id. A path never shows.
  function documentRef(ref) {
    if (/^https?:\/\//i.test(ref)) return h('a', { href: ref, id: 'ehr-ref', rel: 'noreferrer', target: '_blank' }, 'the document in the EHR');
    const shown = ref.includes('/') && !/^[A-Za-z]+\/[^/]+(\/_history\/[^/]+)?$/.test(ref) ? ref.split('/').pop() : ref;
    return h('code', { id: 'ehr-ref' }, shown);
  }

  function otherLock(l) {
    return l && l.holder !== user.sub ? l : null;
  }

  function lockNotice() {
    if (!lock || !editable()) return null;
    return h('p', { class: 'notice', id: 'lock-notice' },
      h('strong', {}, `${lock.name || lock.holder} is also reviewing this note`),
      ` (until ${new Date(lock.expires_at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}). `,
      'You can still edit: if they save first, your text is kept and their version shown beside it.');
  }

  // takeLock holds the note's soft lock while the clinician edits, so a
  // second reviewer sees who is at work; it is renewed until they leave.
  async function takeLock() {
    clearTimeout(lockTimer);
    if (!note || !editable()) return;
    locked = true;
    try {
      await api('POST', `${path}/lock`);
    } catch {
      // Held by someone else (the page shows who) or not offered: edits still go by version.
    }
    lockTimer = setTimeout(takeLock, LOCK_RENEW_MS);
  }

  async function refreshLock() {
    try {
      const n = await api('GET', path);
      const l = otherLock(n.lock);
      if (JSON.stringify(l) === JSON.stringify(lock)) return;
      lock = l;
      const old = root.querySelector('#lock-notice');
      const next = lockNotice();
      if (old && next) old.replaceWith(next);
      else if (old) old.remove();
      else if (next) banner.before(next);
      if (next) live.textContent = next.textContent;
    } catch {
      // The next event tries again.
    }
  }

  // onEvent follows the note: a new state or version is shown at once;
  // while the clinician has unsaved text it is merged instead (absorb).
  async function onEvent(type, e) {
    if (!note || e.id !== id) return;
    if (type === 'lock') {
      refreshLock();
      return;
    }
    if (e.version === note.version && e.state === note.state) return;
    let n;
    try {
      n = await api('GET', path);
    } catch {
      return;
    }
    if (n.version === note.version && n.state === note.state) return;
    if (dirty && n.version > note.version) {
      absorb(n);
      return;
    }
    if (dirty) {
      // Approved or rejected by someone else: the typed text stays on
      // screen (it can no longer be saved to this version) until the
      // clinician leaves or reloads.
      fill(banner, h('div', { class: 'conflict', id: 'conflict' }, h('p', {},
        h('strong', {}, `Someone else changed this note's state (${n.state.replace(/_/g, ' ')}) while you were editing.`),
        ' Your unsaved text is still here; it cannot be saved to this version. Copy what you need, then reload.')));
      return;
    }
    show(n);
    live.textContent = `The note is now version ${n.version}: ${root.querySelector('#note-state').textContent}.`;
  }

  // sectionsOf is a version's sections.
  function sectionsOf(n) {
    return structuredClone((n.draft && n.draft.sections) || []).map((s) => ({ ...s, sentences: s.sentences || [] }));
  }

  // ---- the draft ----

  function renderDraft() {
    const box = h('section', { class: 'card draft', 'aria-labelledby': 'draft-h' }, h('h2', { id: 'draft-h' }, 'Draft'));
    if (note.draft && note.draft.fallback) box.append(h('p', { class: 'notice' }, `Drafted by the fallback drafter: ${note.draft.fallback}`));
    if (Object.keys(theirs).length) {
      box.append(h('p', { class: 'conflict', id: 'merge-help' },
        `Where you and the other reviewer both changed a section, their version ${note.version} is shown beside yours. `,
        'Keep your text, take theirs, or combine them, then save.'));
    }
    work.forEach((s, si) => box.append(renderSection(s, si)));
    return box;
  }

  function renderSection(s, si) {
    const can = editable();
    const title = s.title || s.id;
    const sec = h('div', { class: 'section', 'data-section': s.id, id: `sec-${s.id}` },
      h('div', { class: 'section-head' },
        h('h3', { id: `sec-${si}` }, title),
        can ? h('button', {
          type: 'button', class: 'link', id: `as-text-${si}`, 'aria-pressed': String(s.raw !== null),
          onclick: () => toggleText(si),
        }, s.raw !== null ? 'Edit sentence by sentence' : 'Edit as text') : null));
    const editor = h('div', { class: 'mine-side' });
    if (s.raw !== null) {
      const t = h('textarea', {
        id: `text-${si}`, class: 'section-text', rows: Math.max(3, s.raw.split('\n').length + 1),
        'aria-labelledby': `sec-${si}`, 'aria-describedby': `text-help-${si}`,
        oninput: (ev) => { s.raw = ev.target.value; fit(ev.target); markDirty(); },
      });
      t.value = s.raw;
      editor.append(t, h('p', { class: 'help small', id: `text-help-${si}` },
        'One sentence per line. Sentences you leave as they are keep their citations.'));
    } else {
      const list = h('div', { class: 'sentences' });
      s.sentences.forEach((x, xi) => list.append(sentence(x, si, xi, can)));
      if (can && s.sentences.length === 0) {
        // An empty section is a place to write, not a dead end.
        s.sentences.push({ text: '', evidence: [], flags: [], fresh: true });
        list.append(sentence(s.sentences[0], si, 0, can));
      } else if (s.sentences.length === 0) {
        list.append(h('p', { class: 'muted' }, 'Nothing written in this section.'));
      }
      editor.append(list);
      if (can) {
        editor.append(h('button', { type: 'button', class: 'add', id: `add-${si}`, onclick: () => addSentence(si) },
          '+ Add a sentence', h('span', { class: 'visually-hidden' }, ` to ${title}`)));
      }
    }
    const other = theirs[s.id];
    if (!other) {
      sec.append(editor);
    } else {
      // The other version sits beside the clinician's where there is room.
      sec.append(h('div', { class: 'merge' }, editor, h('div', { class: 'theirs', id: `theirs-${si}` },
        h('h4', {}, `Their version ${note.version} of ${title}`),
        other.sentences.length ? h('ul', {}, other.sentences.map((x) => h('li', {}, x.text))) : h('p', { class: 'muted' }, 'Empty.'),
        h('div', { class: 'actions' },
          h('button', { type: 'button', id: `take-theirs-${si}`, onclick: () => takeTheirs(si) }, 'Use their version'),
          h('button', { type: 'button', id: `keep-mine-${si}`, onclick: () => { delete theirs[s.id]; render(); } }, 'Keep mine')))));
    }
    return sec;
  }

  function sentence(x, si, xi, can) {
    const idText = `s-${si}-${xi}`;
    const evidence = x.evidence || [];
    const flags = x.flags || [];
    const mine = x.author === 'clinician';
    const label = `${work[si].title || work[si].id}, sentence ${xi + 1}`;
    const field = can
      ? h('textarea', {
        id: idText, class: 'sentence-text', rows: Math.max(1, Math.ceil((x.text || '').length / 60)),
        'aria-label': label, 'data-section': si, 'data-sentence': xi,
        placeholder: x.fresh ? `Write in ${work[si].title || work[si].id}…` : null,
        oninput: (ev) => {
          x.text = ev.target.value;
          if (!x.fresh) x.edited = true;
          mark.hidden = !x.text.trim();
          fit(ev.target);
          markDirty();
        },
      })
      : h('p', { id: idText, class: 'sentence-text' }, x.text);
    if (can) field.value = x.text;
    const quote = h('ol', { class: 'cited-lines', id: `${idText}-cited`, hidden: true });
    const changed = x.edited || x.fresh;
    const mark = h('span', { class: 'author-mark', hidden: !(mine || changed) || !x.text.trim() },
      changed ? 'yours (unsaved)' : 'yours');
    // The one empty slot of an empty section has nothing to remove.
    const placeholder = x.fresh && !x.text && work[si].sentences.length === 1;
    const wrap = h('div', { class: `sentence${flags.length ? ' flagged' : ''}${mine || (changed && x.text) ? ' mine' : ''}`, 'data-evidence': evidence.join(' ') },
      field,
      h('div', { class: 'cites' },
        can || mine ? mark : null,
        evidence.length === 0 && !(mine || changed) ? h('span', { class: 'muted small' }, 'cites nothing') : null,
        evidence.map((u) => h('button', {
          type: 'button', class: 'chip', 'data-utterance': u, 'aria-expanded': 'false', 'aria-controls': `${idText}-cited`,
          'aria-label': `Show utterance ${u} of the transcript`,
          onclick: (ev) => cite(ev.currentTarget, quote, evidence, u),
        }, `#${u}`)),
        can && !placeholder ? h('button', {
          type: 'button', class: 'remove', 'aria-label': `Remove ${label}`, onclick: () => removeSentence(si, xi),
        }, 'Remove') : null),
      quote,
      flags.length ? h('ul', { class: 'flags', 'aria-label': 'Support check' },
        flags.map((f) => h('li', {}, h('span', { class: 'flag-mark', 'aria-hidden': 'true' }, '!'), ` Check: ${f}`))) : null);
    const cited = () => showUtterances(evidence, false);
    wrap.addEventListener('mouseenter', cited);
    wrap.addEventListener('focusin', cited);
    wrap.addEventListener('mouseleave', () => showUtterances([], false));
    return wrap;
  }

  // cite shows the words a sentence cites: beside the sentence (always,
  // so a phone need not scroll to the transcript), and on a wide screen
  // also in the transcript column, which takes the focus there.
  function cite(chip, quote, evidence, u) {
    const open = chip.getAttribute('aria-expanded') !== 'true';
    for (const c of chip.parentElement.querySelectorAll('.chip')) c.setAttribute('aria-expanded', 'false');
    fill(quote);
    if (open) {
      chip.setAttribute('aria-expanded', 'true');
      const line = (note.transcript || []).find((t) => t.index === u);
      quote.append(h('li', {}, h('span', { class: 'u-num' }, `#${u}`), ' ',
        h('span', { class: 'time' }, line ? clock(line.start) : ''), ' ',
        line ? (line.gap ? '[audio that could not be transcribed]' : line.text) : 'not in the transcript'));
    }
    quote.hidden = !open;
    if (wide()) showUtterances([u], true);
    else showUtterances(evidence, false);
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

  function addSentence(si) {
    const s = work[si];
    s.sentences.push({ text: '', evidence: [], flags: [], fresh: true });
    markDirty();
    render();
    const t = root.querySelector(`#s-${si}-${s.sentences.length - 1}`);
    if (t) t.focus();
  }

  function removeSentence(si, xi) {
    work[si].sentences.splice(xi, 1);
    markDirty();
    render();
    const next = root.querySelector(`#s-${si}-${Math.min(xi, work[si].sentences.length - 1)}`) || root.querySelector(`#add-${si}`);
    if (next) next.focus();
    live.textContent = `Sentence ${xi + 1} removed. Save to keep the change.`;
  }

  function toggleText(si) {
    const s = work[si];
    if (s.raw === null) {
      s.raw = s.sentences.map((x) => x.text).filter((t) => t.trim()).join('\n');
    } else {
      s.sentences = parseSection(s.raw, s.sentences);
      s.raw = null;
    }
    render();
    const el = root.querySelector(`#text-${si}`) || root.querySelector(`#s-${si}-0`);
    if (el) el.focus();
  }

  function takeTheirs(si) {
    const s = work[si];
    const t = theirs[s.id];
    delete theirs[s.id];
    work[si] = { ...structuredClone(t), raw: null };
    markDirty();
    render();
  }

  // parseSection reads a section written as text: each line, or each
  // sentence of a line, is a sentence; one whose text is unchanged keeps
  // its citations, flags and author; the rest are the clinician's.
  function parseSection(raw, before) {
    const pool = before.filter((x) => x.text.trim());
    const take = (text) => {
      const i = pool.findIndex((x) => x.text.trim() === text);
      if (i < 0) return null;
      return pool.splice(i, 1)[0];
    };
    const out = [];
    for (const line of raw.split('\n').map((l) => l.trim()).filter(Boolean)) {
      const kept = take(line);
      if (kept) {
        out.push(kept);
        continue;
      }
      for (const part of line.split(/(?<=[.!?])\s+(?=\S)/)) {
        out.push(take(part) || { text: part, evidence: [], flags: [], edited: true });
      }
    }
    return out;
  }

  // edited is the sections as the clinician has them: text sections
  // parsed, empty sentences dropped, the page's own marks removed.
  function edited() {
    return work.map((s) => ({
      id: s.id,
      title: s.title,
      sentences: (s.raw !== null ? parseSection(s.raw, s.sentences) : s.sentences)
        .map((x) => ({ ...x, text: x.text.trim() }))
        .filter((x) => x.text !== '')
        // The page's marks go, and so does author: the server decides whose
        // a sentence is (new or changed text is the clinician's).
        .map(({ fresh, edited: _e, author, ...x }) => x),
    }));
  }

  function markDirty() {
    if (dirty) return;
    dirty = true;
    if (!locked) takeLock(); // others see who is editing
    updateApproval();
  }

  // ---- merging a newer version into unsaved work ----

  const same = (a, b) => JSON.stringify((a || { sentences: [] }).sentences.map((x) => x.text.trim()).filter(Boolean))
    === JSON.stringify((b || { sentences: [] }).sentences.map((x) => x.text.trim()).filter(Boolean));

  // absorb moves the clinician's unsaved work onto newer version n: a
  // section only they changed keeps their text, one only the other
  // changed takes the other's, and one both changed keeps theirs beside
  // the clinician's to merge by hand. Nothing typed is thrown away.
  function absorb(n) {
    const mine = edited();
    const newer = sectionsOf(n);
    const byId = (list, sid) => list.find((s) => s.id === sid);
    const next = [];
    const conflicts = {};
    for (const t of newer) {
      const b = byId(base, t.id);
      const m = byId(mine, t.id);
      const w = byId(work, t.id);
      const iChanged = !same(b, m);
      const theyChanged = !same(b, t);
      if (!iChanged || !w) {
        next.push({ ...t, raw: null });
      } else {
        next.push({ ...t, sentences: w.sentences, raw: w.raw });
        if (theyChanged) conflicts[t.id] = t;
      }
    }
    note = n;
    lock = otherLock(n.lock) || lock;
    base = newer;
    work = next;
    theirs = conflicts;
    dirty = true;
    render();
    fill(banner, h('div', { class: 'conflict', id: 'conflict' },
      h('p', {}, h('strong', {}, `Someone else saved version ${n.version} while you were editing.`),
        ' Your unsaved text is kept. ',
        Object.keys(conflicts).length
          ? `Their version is shown beside yours in ${Object.keys(conflicts).length === 1 ? 'the section' : 'the sections'} you both changed; decide there, then save.`
          : 'Their changes were in other sections and are taken in; save when ready.')));
    live.textContent = banner.textContent;
  }

  // ---- approval ----

  // openFlags lists the flags of the saved version, with the ids the
  // approve call acknowledges them by ("<section id>/<sentence>/<flag>").
  function openFlags() {
    const out = [];
    for (const s of sectionsOf(note)) {
      s.sentences.forEach((x, xi) => (x.flags || []).forEach((f, fi) => out.push({
        id: `${s.id}/${xi}/${fi}`, section: s.title || s.id, sentence: xi, text: x.text, flag: f,
      })));
    }
    return out;
  }

  function approvalCard() {
    const flags = openFlags();
    const save = h('button', { type: 'button', id: 'save', disabled: !dirty, onclick: saveEdits }, 'Save edits');
    const approve = h('button', { type: 'button', class: 'primary', id: 'approve', onclick: approveNote }, `Approve version ${note.version}`);
    const reason = h('textarea', { id: 'reject-reason', rows: 2 });
    const rejectForm = h('form', { class: 'reject-form', hidden: true, onsubmit: rejectNote },
      h('label', { for: 'reject-reason' }, 'Why is this draft rejected?'), reason,
      h('div', { class: 'actions' },
        h('button', { type: 'submit', class: 'danger', id: 'confirm-reject' }, 'Reject the draft'),
        h('button', { type: 'button', onclick: () => { rejectForm.hidden = true; } }, 'Cancel')));
    const reject = h('button', { type: 'button', id: 'reject', onclick: () => { rejectForm.hidden = false; reason.focus(); } }, 'Reject…');
    const list = flags.length
      ? h('fieldset', { class: 'acks', id: 'acks' },
        h('legend', {}, `${flags.length} ${flags.length === 1 ? 'sentence needs' : 'flags need'} checking before approval`),
        flags.map((f, i) => h('div', { class: 'ack' },
          h('input', { type: 'checkbox', id: `ack-${i}`, 'data-flag': f.id, onchange: updateApproval }),
          h('label', { for: `ack-${i}` },
            h('span', { class: 'ack-where' }, `${f.section}, sentence ${f.sentence + 1}: `),
            h('q', {}, f.text), h('span', { class: 'ack-flag' }, ` — ${f.flag}. `),
            'I have checked this against the transcript.'))))
      : h('p', { class: 'muted', id: 'acks' }, 'The support check found nothing to confirm.');
    return h('section', { class: 'card approval', 'aria-labelledby': 'approval-h' },
      h('h2', { id: 'approval-h' }, 'Approve'),
      list,
      h('p', { class: 'muted', id: 'save-hint', role: 'status' }, ''),
      h('div', { class: 'actions' }, save, approve, reject),
      rejectForm);
  }

  // updateApproval says what stands between the clinician and approval.
  function updateApproval() {
    const save = root.querySelector('#save');
    const hint = root.querySelector('#save-hint');
    if (!save || !hint) return;
    save.disabled = !dirty;
    const open = [...root.querySelectorAll('#acks input[type=checkbox]')].filter((c) => !c.checked).length;
    if (dirty) hint.textContent = 'Save your edits before approving.';
    else if (open) hint.textContent = `Tick the ${open} ${open === 1 ? 'flag' : 'flags'} above to approve.`;
    else hint.textContent = '';
  }

  async function change(label, fn) {
    if (busy) return false;
    busy = true;
    fill(banner, h('p', { class: 'status' }, `${label}…`));
    try {
      show(await fn());
      fill(banner, h('p', { class: 'ok', id: 'done' }, `${label}: done.`));
      return true;
    } catch (e) {
      await failed(e);
      return false;
    } finally {
      busy = false;
    }
  }

  async function failed(e) {
    if (e.code === 'version_conflict') {
      try {
        absorb(await api('GET', path));
        return;
      } catch {
        // Say so below.
      }
    }
    if (e.code === 'unacknowledged_flags') {
      const missing = (e.body && e.body.flags) || [];
      for (const f of missing) {
        const box = root.querySelector(`#acks input[data-flag="${CSS.escape(f.id)}"]`);
        if (box) box.checked = false;
      }
      fill(banner, h('p', { class: 'error', id: 'ack-error' }, `Check ${missing.length === 1 ? 'the flagged sentence' : `the ${missing.length} flagged sentences`} and tick ${missing.length === 1 ? 'it' : 'each'} before approving.`));
      return;
    }
    fill(banner, h('p', { class: 'error' }, plainWords(e.code, e.message)));
  }

  function saveEdits() {
    const sections = edited();
    return change('Saving your edits', () => api('PUT', path, { body: { sections, version: note.version }, version: note.version }));
  }

  function approveNote() {
    if (dirty) {
      updateApproval();
      root.querySelector('#save').focus();
      return;
    }
    const boxes = [...root.querySelectorAll('#acks input[type=checkbox]')];
    const open = boxes.filter((c) => !c.checked);
    if (open.length) {
      fill(banner, h('p', { class: 'error', id: 'ack-error' },
        `${open.length} flagged ${open.length === 1 ? 'sentence is' : 'sentences are'} not yet checked: tick each one to approve version ${note.version}.`));
      open[0].focus();
      return;
    }
    const acknowledged = boxes.map((c) => c.dataset.flag);
    return change(`Approving version ${note.version}`, () => api('POST', `${path}/approve`,
      { body: { version: note.version, acknowledged_flags: acknowledged }, version: note.version }));
  }

  function rejectNote(ev) {
    ev.preventDefault();
    const reason = root.querySelector('#reject-reason').value.trim();
    return change('Rejecting the draft', () => api('POST', `${path}/reject`,
      { body: { version: note.version, reason }, version: note.version }));
  }

  function retry() {
    return change('Queuing the push again', () => api('POST', `${path}/retry`));
  }

  // ---- transcript and audit ----

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
    return h('section', { class: 'card transcript-card', 'aria-labelledby': 'tx-h', tabindex: 0 },
      h('h2', { id: 'tx-h' }, 'Transcript'),
      (n.transcript || []).length ? list : h('p', { class: 'muted' }, 'No speech was transcribed.'));
  }

  function highlightSentences(index) {
    for (const s of root.querySelectorAll('.sentence')) {
      const ev = (s.dataset.evidence || '').split(' ').filter(Boolean).map(Number);
      s.classList.toggle('citing', index != null && ev.includes(index));
    }
  }

  function auditTrail() {
    const body = h('div', { id: 'audit-body' }, h('p', { class: 'muted' }, 'Loading…'));
    const d = h('details', { class: 'card audit', id: 'audit' }, h('summary', {}, 'Audit trail'), body);
    d.addEventListener('toggle', async () => {
      if (!d.open) return;
      try {
        const { entries } = await api('GET', `${path}/audit`);
        fill(body, renderAudit(entries));
      } catch (e) {
        fill(body, h('p', { class: 'error' }, plainWords(e.code, e.message)));
      }
    });
    return d;
  }

  function renderAudit(entries) {
    const reads = entries.filter((e) => e.action === 'view' || e.action === 'list');
    const acts = entries.filter((e) => e.action !== 'view' && e.action !== 'list');
    const readers = [...new Set(reads.map(person))];
    return [
      h('ol', { class: 'audit-list' }, acts.map((e) => h('li', { class: 'audit-entry', 'data-action': e.action },
        h('time', { datetime: e.at }, when(e.at)), ' ',
        h('strong', {}, person(e)), ' ', actionWords(e),
        e.changes && e.changes.length ? h('ul', { class: 'diff' }, e.changes.map((c) => h('li', { class: `diff-${c.op}` },
          `${titleOf(c.section)}: sentence ${c.index + 1} ${c.op === 'changed' ? 'rewritten' : c.op}`))) : null))),
      reads.length ? h('details', { class: 'reads', id: 'audit-reads' },
        h('summary', {}, `${reads.length} ${reads.length === 1 ? 'read' : 'reads'} by ${readers.join(', ')}`),
        h('ol', {}, reads.map((e) => h('li', {}, h('time', { datetime: e.at }, when(e.at)), ' ', person(e), e.action === 'list' ? ' saw it in a queue' : ' opened it')))) : null,
    ];
  }

  function person(e) {
    if (e.role === 'system') return 'scribegate';
    return e.actor_name ? `${e.actor_name} (${e.role})` : `${e.actor} (${e.role})`;
  }

  function titleOf(sectionID) {
    const s = sectionsOf(note).find((x) => x.id === sectionID);
    return s ? s.title || s.id : sectionID;
  }

  function actionWords(e) {
    const v = e.from_version !== e.version ? `version ${e.from_version} → ${e.version}` : `version ${e.version}`;
    switch (e.action) {
      case 'create': return 'started the recording';
      case 'draft': return `drafted the note (${v})`;
      case 'edit': return `edited the note (${v})`;
      case 'amend': return `amended the filed note (${v})`;
      case 'approve': {
        const acks = e.acknowledged_flags || [];
        return [`approved version ${e.version}`, acks.length ? `, having checked ${acks.length} flagged ${acks.length === 1 ? 'sentence' : 'sentences'}: ` : '',
          acks.map((f) => `${titleOf(f.section)} sentence ${f.sentence + 1} (${f.flag})`).join('; ')].join('');
      }
      case 'reject': return `rejected version ${e.version}`;
      case 'retry_push': return 'asked to send it again';
      case 'push_start': return `started sending it to the EHR${e.detail ? ` (${e.detail})` : ''}`;
      case 'push_ok': return 'filed it in the EHR';
      case 'push_retry': return `will try the EHR again${e.detail ? ` (${e.detail})` : ''}`;
      case 'push_failed': return `could not file it${e.detail ? `: ${e.detail}` : ''}`;
      default: return `${e.action.replace(/_/g, ' ')}${e.detail ? ` (${e.detail})` : ''}`;
    }
  }

  // ---- focus across re-renders ----

  function rememberFocus() {
    const el = document.activeElement;
    if (!el || !el.id || !root.contains(el)) return null;
    return { id: el.id, start: el.selectionStart, end: el.selectionEnd };
  }

  function restoreFocus(f) {
    if (!f) return;
    const el = root.querySelector(`#${CSS.escape(f.id)}`);
    if (!el) return;
    el.focus({ preventScroll: true });
    if (typeof f.start === 'number' && el.setSelectionRange) el.setSelectionRange(f.start, f.end);
  }

  // resync checks what the event stream may have missed while it was not
  // following the note: a newer version or state, and another reviewer's
  // lock taken or let go.
  function resync() {
    onEvent('note', { id, version: -1, state: '' });
    refreshLock();
  }

  const stop = subscribe(onEvent, () => {
    // After a (re)connection anything may have been missed: check. A
    // stream that connects while the note loads may have begun following
    // after the load was answered: check once the note is shown.
    if (note) resync();
    else missedWhileLoading = true;
  });
  load();
  return () => {
    stop();
    clearTimeout(lockTimer);
    if (locked) {
      fetch(`${path}/lock`, { method: 'DELETE', keepalive: true, headers: authHeaders('DELETE') }).catch(() => {});
    }
  };
}
