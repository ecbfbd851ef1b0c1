// Live updates: the gateway's /v1/events stream of note and lock changes.
// EventSource cannot send the Authorization header, so the stream is read
// with fetch; a dropped stream is opened again, and each (re)connection
// is reported so a view can reload what it may have missed.

import { authHeaders } from './api.js';

/**
 * subscribe calls onEvent(type, data) for each event ("note" or "lock",
 * data {id, state, version}) and onConnected() each time the stream
 * (re)opens. It returns a function that stops it.
 */
export function subscribe(onEvent, onConnected) {
  let stopped = false;
  let ctrl = null;
  let delay = 1000;
  let timer = null;

  async function run() {
    while (!stopped) {
      ctrl = new AbortController();
      try {
        const res = await fetch('/v1/events', {
          headers: { ...authHeaders(), Accept: 'text/event-stream' },
          signal: ctrl.signal, cache: 'no-store',
        });
        if (res.status === 401) {
          window.dispatchEvent(new CustomEvent('scribegate:unauthorized'));
          return;
        }
        if (!res.ok || !res.body) throw new Error(`events: ${res.status}`);
        delay = 1000;
        if (onConnected) onConnected();
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value.replace(/\r\n?/g, '\n');
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            dispatch(buf.slice(0, i));
            buf = buf.slice(i + 2);
          }
        }
      } catch {
        // Dropped or refused: try again below.
      }
      if (stopped) return;
      await new Promise((r) => { timer = setTimeout(r, delay); });
      delay = Math.min(delay * 2, 15000);
    }
  }

  function dispatch(block) {
    let type = 'message';
    let data = '';
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) type = line.slice(6).trim();
      else if (line.startsWith('data:')) data += line.slice(5).trim();
    }
    if (!data) return;
    try {
      onEvent(type, JSON.parse(data));
    } catch {
      // A malformed event is skipped; the next reconnection reloads.
    }
  }

  run();
  return () => {
    stopped = true;
    clearTimeout(timer);
    if (ctrl) ctrl.abort();
  };
}
