// The recorder: the microphone through an AudioWorklet as 16-bit PCM over
// a WebSocket to /v1/listen (Deepgram's live protocol), the live
// transcript and draft, the elapsed time and how far the transcript is
// behind, what is left after Stop, and the link to the note when it is
// queued. Leaving the view or the page while recording asks first: a
// visit is never ended by a stray click.

import { api, plainWords, ssoInfo, token } from './api.js';
import { clock, fill, h } from './dom.js';

const KEEPALIVE_MS = 5000;
// A dropped connection is tried again after 0.5 s, then twice as long each
// time up to 8 s, for as long as the gateway keeps the session for its
// client: the resume_window its first Durable on each connection gives
// (streaming.resume_window). A gateway that did not say gets 18 tries, some
// two minutes in all, its default window.
const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 8000;
const MAX_RETRIES = 18;
// Close codes after which the session can be resumed: the connection was
// lost (1006), the gateway restarted or the session moved (1012), or its
// audio could not be stored for a while (1013). Never 4001: another
// connection (another tab, or this one after a drop) took the session
// over, and taking it back would knock that one off.
const RESUMABLE = [1006, 1012, 1013];
const TAKEN_OVER = 4001;
// At most this much audio is kept waiting for a Durable (ten minutes at
// 16 kHz); a gateway without an audio store sends none.
const MAX_UNACKED_BYTES = 20 << 20;

export function recorderView(main, user) {
  const patient = h('input', { id: 'patient', name: 'patient', required: true, autocomplete: 'off', spellcheck: 'false' });
  const encounter = h('input', { id: 'encounter', name: 'encounter', autocomplete: 'off', spellcheck: 'false' });
  // The patient as confirmed with them: shown to the reviewer and sent to
  // EHRs that match documents on name and birth date.
  const patientName = h('input', { id: 'patient-name', name: 'patient_name', autocomplete: 'off', spellcheck: 'false', maxlength: 200 });
  const birthDate = h('input', { id: 'patient-birth-date', name: 'patient_birth_date', type: 'date' });
  const sex = h('select', { id: 'patient-sex', name: 'patient_sex' },
    h('option', { value: '' }, '—'), h('option', { value: 'female' }, 'Female'), h('option', { value: 'male' }, 'Male'),
    h('option', { value: 'other' }, 'Other'), h('option', { value: 'unknown' }, 'Unknown'));
  const template = h('select', { id: 'template', name: 'template' }, h('option', { value: '' }, 'Loading templates…'));
  const startBtn = h('button', { type: 'submit', class: 'primary', id: 'start' }, 'Start recording');
  const pauseBtn = h('button', { type: 'button', id: 'pause', disabled: true, onclick: togglePause }, 'Pause');
  const stopBtn = h('button', { type: 'button', id: 'stop', disabled: true, onclick: stop }, 'Stop and draft');
  const status = h('p', { class: 'status', id: 'rec-status', role: 'status', 'aria-live': 'polite' }, 'Ready.');
  const errors = h('div', { class: 'errors', id: 'rec-errors', role: 'alert' });
  const transcript = h('ol', { class: 'live-transcript', id: 'live-transcript', 'aria-label': 'Live transcript' });
  const draftIdle = () => h('p', { class: 'muted' }, 'The draft grows here as you talk.');
  const draft = h('div', { class: 'live-draft', id: 'live-draft' }, draftIdle());
  const elapsed = h('span', { class: 'elapsed', id: 'elapsed', role: 'timer', 'aria-label': 'Recorded' }, '0:00');
  const behind = h('span', { class: 'behind muted', id: 'behind' }, '');
  const progress = h('p', { class: 'progress', id: 'rec-progress', role: 'status', 'aria-live': 'polite' });
  const leaveDialog = h('dialog', { id: 'leave-dialog', 'aria-labelledby': 'leave-h', 'aria-describedby': 'leave-text' },
    h('h2', { id: 'leave-h' }, 'You are recording'),
    h('p', { id: 'leave-text' }, 'Leaving this page would end the recording of this visit. Keep recording, or stop now: the note is drafted from everything recorded and waits in your queue.'),
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'primary', id: 'keep-recording', autofocus: true }, 'Keep recording'),
      h('button', { type: 'button', id: 'stop-and-leave' }, 'Stop, draft the note and leave')));
  const ready = h('div', { id: 'note-ready' });
  const level = h('meter', { id: 'level', min: 0, max: 1, value: 0, 'aria-label': 'Microphone level' });

  // The patient as the EHR holds them, from a launch or a lookup: shown
  // fixed, and recording waits until the clinician confirms them.
  const launch = (ssoInfo() && ssoInfo().launch) || null;
  const confirm = h('input', { type: 'checkbox', id: 'confirm-patient' });
  const patientPanel = h('div', { id: 'patient-panel' });
  let chosen = null;
  function choose(p, from) {
    chosen = p;
    confirm.checked = false;
    patient.value = p.patient;
    encounter.value = p.encounter || '';
    patientName.value = p.name || '';
    birthDate.value = p.birth_date || '';
    sex.value = p.sex || '';
    for (const el of [patient, patientName, birthDate]) el.readOnly = true;
    encounter.readOnly = !!launch;
    sex.disabled = true;
    const born = p.birth_date ? `Born ${p.birth_date}` : 'Birth date not recorded';
    fill(patientPanel, h('div', { class: 'launch', id: 'launch-patient', role: 'group', 'aria-labelledby': 'launch-h' },
      h('h2', { id: 'launch-h' }, from),
      h('p', { class: 'launch-name', id: 'launch-name' }, p.name || p.patient),
      h('p', { id: 'launch-born' }, born, p.sex ? ` · ${p.sex}` : ''),
      p.encounter ? h('p', { id: 'launch-encounter' }, `Encounter: ${p.encounter_label || p.encounter}`) : null,
      h('label', { class: 'confirm' }, confirm, ' This is the patient I am seeing')));
  }
  if (launch) choose(launch, launch.standalone ? `Patient chosen in ${launch.ehr}` : `Patient from ${launch.ehr}`);

  // Lookup: no launch named the patient, so find them in the clinic's EHR.
  const findName = h('input', { id: 'find-name', autocomplete: 'off', spellcheck: 'false' });
  const findBirth = h('input', { id: 'find-birth', type: 'date' });
  const findID = h('input', { id: 'find-id', autocomplete: 'off', spellcheck: 'false' });
  const findResults = h('ul', { class: 'find-results', id: 'find-results', 'aria-live': 'polite' });
  const lookup = launch ? null : h('details', { class: 'lookup', id: 'lookup' },
    h('summary', {}, 'Find the patient in the EHR'),
    h('div', { class: 'fields' },
      h('div', { class: 'field' }, h('label', { for: 'find-name' }, 'Name'), findName),
      h('div', { class: 'field' }, h('label', { for: 'find-birth' }, 'Date of birth'), findBirth),
      h('div', { class: 'field' }, h('label', { for: 'find-id' }, 'MRN or identifier'), findID)),
    h('div', { class: 'actions' }, h('button', { type: 'button', id: 'find', onclick: find }, 'Search')),
    findResults);

  async function find() {
    const q = new URLSearchParams();
    if (findName.value.trim()) q.set('name', findName.value.trim());
    if (findBirth.value) q.set('birthdate', findBirth.value);
    if (findID.value.trim()) q.set('identifier', findID.value.trim());
    if (![...q.keys()].length) {
      fill(findResults, h('li', { class: 'muted' }, 'Enter a name, date of birth or identifier.'));
      return;
    }
    fill(findResults, h('li', { class: 'muted' }, 'Searching…'));
    try {
      const body = await api('GET', `/v1/patients?${q}`);
      if (!body.patients.length) {
        fill(findResults, h('li', { class: 'muted' }, 'No patient matches.'));
        return;
      }
      fill(findResults, body.patients.map((p) => h('li', {},
        h('button', { type: 'button', class: 'link', 'data-patient': p.id, onclick: () => {
          choose({ patient: p.id, name: p.name, birth_date: p.birth_date, sex: p.sex }, 'Patient from the EHR');
          fill(findResults);
          lookup.open = false;
          confirm.focus();
        } }, p.name || p.id),
        ` · ${p.birth_date || 'birth date not recorded'}`, p.identifiers && p.identifiers.length ? ` · ${p.identifiers.join(', ')}` : '')));
    } catch (e) {
      fill(findResults, h('li', { class: 'error' }, plainWords(e.code, e.message)));
    }
  }

  const form = h('form', { class: 'card', onsubmit: start },
    h('h1', {}, 'Record a consultation'),
    lookup,
    patientPanel,
    h('div', { class: 'fields' },
      h('div', { class: 'field' }, h('label', { for: 'patient' }, 'Patient id'), patient),
      h('div', { class: 'field' }, h('label', { for: 'encounter' }, 'Encounter id ', h('span', { class: 'muted' }, '(optional)')), encounter),
      h('div', { class: 'field' }, h('label', { for: 'patient-name' }, 'Patient name ', h('span', { class: 'muted' }, '(optional)')), patientName),
      h('div', { class: 'field' }, h('label', { for: 'patient-birth-date' }, 'Date of birth ', h('span', { class: 'muted' }, '(optional)')), birthDate),
      h('div', { class: 'field' }, h('label', { for: 'patient-sex' }, 'Sex ', h('span', { class: 'muted' }, '(optional)')), sex),
      h('div', { class: 'field' }, h('label', { for: 'template' }, 'Template'), template)),
    h('div', { class: 'actions' }, startBtn, pauseBtn, stopBtn, h('span', { class: 'level' }, level)),
    h('p', { class: 'clock' }, elapsed, ' ', behind),
    status, progress, errors);
  main.append(form,
    h('div', { class: 'columns' },
      h('section', { class: 'card', 'aria-labelledby': 'tx-h' }, h('h2', { id: 'tx-h' }, 'Transcript'), transcript),
      h('section', { class: 'card', 'aria-labelledby': 'dr-h' }, h('h2', { id: 'dr-h' }, 'Draft'), draft, ready)),
    leaveDialog);

  api('GET', '/v1/templates').then((body) => {
    fill(template, body.templates.map((t) =>
      h('option', { value: t.id, selected: t.id === body.default }, t.name || t.id)));
  }).catch((e) => {
    fill(template, h('option', { value: '' }, 'Default template'));
    showError(plainWords(e.code, e.message));
  });

  let ws = null;
  let audio = null; // { ctx, stream, node, source, analyser }
  let paused = false;
  let keepAlive = null;
  let interim = null;
  let gotReady = false;
  let stopping = false;
  // Resume: the session's id (from Durable), the audio captured so far
  // (the session's offset), what of it the gateway has not said is stored
  // (to send again after a reconnection), and whether the current
  // connection has been sent it yet.
  let query = null;
  let sessionId = '';
  let captured = 0;
  let unacked = []; // [{ at, bytes: Uint8Array }]
  let caughtUp = false;
  let retries = 0;
  let retryTimer = null;
  let resumeWindowMs = null; // how long the gateway waits for this page after a drop
  let lostAt = 0; // when the connection dropped, while reconnecting
  let closeWhenCaughtUp = false;
  let closeSent = false; // CloseStream went: the gateway finishes the note whatever this page does
  let shownSecs = -1;
  let eta = null; // after Stop: { at, left } of the first report, to estimate the time left

  function showError(text) {
    errors.append(h('p', { class: 'error' }, text));
  }

  function setRecording(on) {
    startBtn.disabled = on;
    pauseBtn.disabled = !on;
    stopBtn.disabled = !on;
    for (const el of [patient, encounter, patientName, birthDate, sex, template, confirm]) el.disabled = on;
    if (chosen) sex.disabled = true;
  }

  async function start(ev) {
    ev.preventDefault();
    if (!patient.value.trim()) {
      showError(plainWords('missing_patient'));
      patient.focus();
      return;
    }
    if (chosen && !confirm.checked) {
      showError('Confirm that this is the patient you are seeing before recording.');
      confirm.focus();
      return;
    }
    fill(errors);
    fill(transcript);
    fill(ready);
    fill(draft, draftIdle());
    fill(progress);
    elapsed.textContent = '0:00';
    behind.textContent = '';
    eta = null;
    gotReady = false;
    stopping = false;
    paused = false;
    pauseBtn.textContent = 'Pause';
    setRecording(true);
    status.textContent = 'Asking for the microphone…';
    try {
      audio = await openMicrophone();
    } catch (e) {
      setRecording(false);
      status.textContent = 'Not recording.';
      showError(e && e.name === 'NotAllowedError'
        ? 'The browser was not allowed to use the microphone. Allow it for this site and try again.'
        : `The microphone could not be opened (${e && e.message ? e.message : e}).`);
      return;
    }
    query = new URLSearchParams({
      encoding: 'linear16', sample_rate: String(audio.rate), channels: '1',
      interim_results: 'true', punctuate: 'true', progress: 'true', patient: patient.value.trim(),
    });
    if (encounter.value.trim()) query.set('encounter', encounter.value.trim());
    if (patientName.value.trim()) query.set('patient_name', patientName.value.trim());
    if (birthDate.value) query.set('patient_birth_date', birthDate.value);
    if (sex.value) query.set('patient_sex', sex.value);
    if (template.value) query.set('template', template.value);
    sessionId = '';
    captured = 0;
    unacked = [];
    retries = 0;
    lostAt = 0;
    resumeWindowMs = null;
    closeWhenCaughtUp = false;
    closeSent = false;
    shownSecs = -1;
    // Audio is kept until the gateway says it is stored (Durable), so
    // that a dropped connection loses none of it.
    const rate = audio.rate;
    audio.node.port.onmessage = (e) => {
      // Nothing is taken once paused, or once the microphone is closed
      // (a chunk still queued then is neither counted nor sent).
      if (paused || !audio) return;
      const bytes = new Uint8Array(e.data);
      unacked.push({ at: captured, bytes });
      captured += bytes.length;
      if (captured - unacked[0].at > MAX_UNACKED_BYTES) unacked.shift();
      // How much was recorded, for support (and the browser tests).
      status.dataset.audioBytes = String(captured);
      const secs = Math.floor(captured / 2 / rate);
      if (secs !== shownSecs) {
        shownSecs = secs;
        elapsed.textContent = clock(secs, true);
      }
      if (ws && ws.readyState === WebSocket.OPEN && caughtUp) ws.send(bytes);
    };
    meter();
    connect();
  }

  // connect opens the session's WebSocket: a new session, or, once the
  // gateway has named it, the same one again (session=<id>&resume=true),
  // whose first message says from where to send.
  function connect() {
    retryTimer = null;
    const q = new URLSearchParams(query);
    if (sessionId) {
      q.set('session', sessionId);
      q.set('resume', 'true');
    }
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    // A signed-in session's cookie goes with the upgrade by itself.
    const sock = new WebSocket(`${proto}//${location.host}/v1/listen?${q}`, token() ? ['token', token()] : []);
    sock.binaryType = 'arraybuffer';
    ws = sock;
    caughtUp = false;
    sock.onopen = () => {
      if (!sessionId) {
        status.textContent = 'Recording. Speak normally; the transcript appears as you go.';
        sendFrom(0);
      }
    };
    sock.onmessage = (e) => onMessage(e.data);
    sock.onerror = () => { /* onclose says what happened */ };
    sock.onclose = (e) => onClose(sock, e);
  }

  // sendFrom sends the audio kept from offset on (what the gateway does
  // not hold) and then the audio as it comes.
  function sendFrom(offset) {
    acknowledge(offset);
    for (const c of unacked) {
      const skip = Math.max(0, offset - c.at);
      ws.send(skip ? c.bytes.subarray(skip) : c.bytes);
    }
    caughtUp = true;
    retries = 0;
    lostAt = 0;
    if (closeWhenCaughtUp) closeStream();
  }

  // acknowledge forgets the audio the gateway has stored.
  function acknowledge(stored) {
    let n = 0;
    while (n < unacked.length && unacked[n].at + unacked[n].bytes.length <= stored) n++;
    if (n) unacked = unacked.slice(n);
  }

  function onClose(sock, e) {
    if (sock !== ws) return;
    ws = null;
    if (!lostAt) lostAt = Date.now();
    const left = resumeWindowMs === null
      ? (retries < MAX_RETRIES ? RETRY_MAX_MS : 0)
      : lostAt + resumeWindowMs - Date.now();
    if (!gotReady && sessionId && RESUMABLE.includes(e.code) && left > 0) {
      retries++;
      const wait = Math.min(RETRY_FIRST_MS * 2 ** (retries - 1), RETRY_MAX_MS, left);
      status.textContent = stopping
        ? 'Connection lost. Reconnecting to finish the note…'
        : 'Connection lost. Still recording; reconnecting…';
      retryTimer = setTimeout(connect, wait);
      return;
    }
    closeMicrophone();
    setRecording(false);
    clearInterval(keepAlive);
    behind.textContent = '';
    if (gotReady) {
      status.textContent = 'Done. The note is waiting for review.';
      fill(progress);
    } else if (e.code === TAKEN_OVER) {
      status.textContent = 'Not recording here.';
      showError('This recording was taken over by another window or device, and goes on there. Its note is drafted when that one stops.');
    } else if (e.code === 1006 && !stopping) {
      status.textContent = 'Not recording.';
      showError(sessionId
        ? 'The connection to the gateway was lost and could not be made again. The audio it had stored is kept and drafted; start a new recording for the rest.'
        : 'The connection to the gateway was refused or lost. Check the patient id and your sign-in, then try again; audio already received is kept.');
    } else {
      status.textContent = 'Recording ended.';
    }
  }

  function onMessage(raw) {
    let m;
    try { m = JSON.parse(raw); } catch { return; }
    switch (m.type) {
      case 'Results': {
        const alt = (m.channel && m.channel.alternatives && m.channel.alternatives[0]) || {};
        const text = (alt.transcript || '').trim();
        if (!text) return;
        const line = interim || h('li', { class: 'utterance' });
        fill(line, h('span', { class: 'time' }, clock(m.start || 0, true)), ' ', h('span', { class: 'text' }, text));
        if (!interim) transcript.append(line);
        if (m.is_final === false) {
          line.classList.add('interim');
          interim = line;
        } else {
          line.classList.remove('interim');
          line.classList.add('final');
          interim = null;
        }
        line.scrollIntoView({ block: 'nearest' });
        break;
      }
      case 'Durable':
        if (m.request_id) sessionId = m.request_id;
        if (typeof m.resume_window === 'number') resumeWindowMs = m.resume_window * 1000;
        if (caughtUp) {
          acknowledge(m.bytes);
        } else if (sessionId) {
          // A resumed connection: its first message says what is stored.
          status.textContent = stopping ? 'Reconnected. Finishing the note…' : 'Reconnected. Recording.';
          sendFrom(m.bytes);
        }
        break;
      case 'NoteDraft':
        renderDraft(m.draft || {}, m.live);
        break;
      case 'Progress':
        showProgress(m);
        break;
      case 'NoteReady':
        gotReady = true;
        fill(ready, h('p', { class: 'ready' },
          'The note is queued for review. ',
          h('a', { href: `#/notes/${encodeURIComponent(m.note_id)}`, id: 'open-note' }, 'Open the note')));
        break;
      case 'Error':
        showError(plainWords(m.code, m.description));
        break;
      default:
        break;
    }
  }

  // renderDraft shows a draft: live ones as they come (the sections with
  // something in them), the final one whole.
  function renderDraft(d, isLive) {
    const sections = (d.sections || []).filter((s) => !isLive || (s.sentences || []).length);
    fill(draft,
      h('p', { class: 'muted small', 'data-live': isLive ? 'true' : 'false' },
        isLive ? `Live draft at ${clock(shownSecs, true)}; it is written again from the whole visit when you stop.` : 'Final draft.'),
      sections.length === 0 ? h('p', { class: 'muted' }, 'Nothing to draft yet.') : null,
      sections.map((s) => h('div', { class: 'draft-section' },
        h('h3', {}, s.title || s.id),
        (s.sentences || []).length === 0
          ? h('p', { class: 'muted' }, 'Nothing drafted.')
          : h('ul', { class: 'draft-sentences' }, (s.sentences || []).map((x) => h('li', {}, x.text))))));
    if (d.fallback) draft.prepend(h('p', { class: 'notice' }, `Drafted by the fallback drafter: ${d.fallback}`));
  }

  // showProgress says how far the transcript is behind while recording,
  // and after Stop what is left before the note is ready.
  function showProgress(m) {
    const pending = m.pending || 0;
    const secs = Math.round(m.pending_seconds || 0);
    if (m.stage === 'recording') {
      behind.textContent = secs >= 3
        ? `· transcript about ${secs} s behind (${pending} ${pending === 1 ? 'utterance' : 'utterances'} waiting)`
        : '· transcript up to date';
      behind.classList.toggle('lagging', secs >= 10);
      return;
    }
    behind.textContent = '';
    if (m.stage === 'drafting') {
      progress.textContent = 'Transcript complete. Writing the draft…';
      return;
    }
    const now = Date.now();
    if (!eta) eta = { at: now, left: m.pending_seconds || 0 };
    const done = eta.left - (m.pending_seconds || 0);
    let time = 'estimating the time left';
    if (done > 0 && now > eta.at) {
      const left = Math.ceil((m.pending_seconds || 0) / (done / ((now - eta.at) / 1000)));
      time = `about ${clock(left, true)} left`;
    }
    progress.textContent = pending
      ? `Transcribing the last ${pending} ${pending === 1 ? 'utterance' : 'utterances'} (${secs} s of speech): ${time}.`
      : 'Finishing the transcript…';
  }

  function togglePause() {
    if (!ws) return;
    paused = !paused;
    pauseBtn.textContent = paused ? 'Resume' : 'Pause';
    pauseBtn.setAttribute('aria-pressed', String(paused));
    if (paused) {
      status.textContent = 'Paused. Nothing is being sent; the session is kept open.';
      keepAlive = setInterval(() => send({ type: 'KeepAlive' }), KEEPALIVE_MS);
      send({ type: 'KeepAlive' });
    } else {
      clearInterval(keepAlive);
      status.textContent = 'Recording.';
    }
  }

  function stop() {
    if (!ws && !retryTimer) return;
    stopping = true;
    clearInterval(keepAlive);
    if (audio) audio.node.port.postMessage('flush');
    // Let the flushed chunk reach the socket before the stream is closed;
    // while reconnecting, CloseStream follows the audio the gateway missed.
    setTimeout(() => {
      closeMicrophone();
      if (ws && ws.readyState === WebSocket.OPEN && caughtUp) {
        closeStream();
      } else {
        closeWhenCaughtUp = true;
      }
    }, 50);
    stopBtn.disabled = true;
    pauseBtn.disabled = true;
    status.textContent = 'Stopped. Finishing the note…';
    progress.textContent = 'Finishing the transcript…';
  }

  function closeStream() {
    send({ type: 'CloseStream' });
    closeSent = true;
  }

  // recording: a visit is being recorded whose end the gateway has not
  // been told yet (leaving now would cut it short).
  function recording() {
    return !!(ws || retryTimer || audio) && !gotReady && !closeSent;
  }

  // ask shows the leave dialog; it resolves true once the recording is
  // stopped and its note is being drafted, false to keep recording.
  function ask() {
    return new Promise((resolve) => {
      const keep = leaveDialog.querySelector('#keep-recording');
      const go = leaveDialog.querySelector('#stop-and-leave');
      const done = (leave) => {
        keep.onclick = null;
        go.onclick = null;
        leaveDialog.oncancel = null;
        leaveDialog.close();
        resolve(leave);
      };
      keep.onclick = () => done(false);
      leaveDialog.oncancel = (ev) => { ev.preventDefault(); done(false); };
      go.onclick = () => {
        stop();
        const wait = () => (closeSent || !ws ? done(true) : setTimeout(wait, 50));
        wait();
      };
      leaveDialog.showModal();
      keep.focus();
    });
  }

  function send(msg) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
  }

  function meter() {
    if (!audio || !audio.analyser) return;
    const buf = new Float32Array(audio.analyser.fftSize);
    audio.analyser.getFloatTimeDomainData(buf);
    let sum = 0;
    for (const v of buf) sum += v * v;
    level.value = Math.min(1, Math.sqrt(sum / buf.length) * 4);
    requestAnimationFrame(meter);
  }

  function closeMicrophone() {
    if (!audio) return;
    const a = audio;
    audio = null;
    level.value = 0;
    for (const t of a.stream.getTracks()) t.stop();
    a.source.disconnect();
    a.ctx.close().catch(() => {});
  }

  // Leaving the view (once the router has asked, or after Stop): a
  // session not yet told is finished, so the gateway drafts what it has;
  // a stopped one finishes on its own.
  const leave = () => {
    clearTimeout(retryTimer);
    retryTimer = null;
    if (ws) {
      if (!closeSent) closeStream();
      ws.onclose = null;
      ws = null;
    }
    closeMicrophone();
  };
  return { leave, guard: recording, ask };
}

// openMicrophone opens the microphone and the PCM worklet. A 16 kHz audio
// context lets the browser resample; where that fails, the context's own
// rate is sent when the gateway accepts it, else the worklet downsamples.
async function openMicrophone() {
  if (!navigator.mediaDevices || !window.AudioWorkletNode) {
    throw new Error('this browser cannot record here (a secure https page is needed)');
  }
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
  });
  let ctx;
  let source;
  try {
    ctx = new AudioContext({ sampleRate: 16000 });
    source = ctx.createMediaStreamSource(stream);
  } catch {
    if (ctx) ctx.close().catch(() => {});
    ctx = new AudioContext();
    source = ctx.createMediaStreamSource(stream);
  }
  const rate = ctx.sampleRate >= 8000 && ctx.sampleRate <= 48000 ? ctx.sampleRate : 16000;
  await ctx.audioWorklet.addModule('/app/pcm-worklet.js');
  const node = new AudioWorkletNode(ctx, 'pcm16', { processorOptions: { targetRate: rate } });
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 1024;
  // Nodes are only rendered when something pulls them: route both into a
  // silent gain on the speakers so nothing is heard.
  const silent = ctx.createGain();
  silent.gain.value = 0;
  source.connect(node);
  source.connect(analyser);
  node.connect(silent);
  analyser.connect(silent);
  silent.connect(ctx.destination);
  if (ctx.state === 'suspended') await ctx.resume();
  return { ctx, stream, source, node, analyser, rate };
}
