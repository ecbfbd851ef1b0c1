// The gateway's /v1 API as the page uses it, and who is signed in: a
// development token pasted into the page, or a session the gateway keeps
// for single sign-on or an EHR launch (an HttpOnly cookie the page cannot
// read, whose changes carry the session's CSRF token).

const KEY = 'scribegate.token';

// sso is GET /auth/session's answer; null when the gateway has no
// single sign-on (its sign-in routes are absent).
let sso = null;

/**
 * loadSession asks the gateway who the session cookie signs in. A 200 is
 * the answer (with or without a user); a 404 or other refusal means the
 * gateway has no single sign-on. While the gateway cannot answer (a 5xx,
 * such as 503 store_unavailable when its session store cannot be read,
 * or no connection) the question is not taken as "signed out": waiting is
 * told why (the error code, "network" when unreachable) and it is asked
 * again after the gateway's Retry-After, backing off to at most 10 s.
 */
export async function loadSession(waiting = () => {}) {
  for (let attempt = 0; ; attempt++) {
    let res = null;
    try {
      res = await fetch('/auth/session', { cache: 'no-store', headers: { Accept: 'application/json' } });
      if (res.status < 500) {
        sso = res.ok ? await res.json() : null;
        return sso;
      }
    } catch {
      res = null; // unreachable, or an answer cut short: ask again
    }
    waiting((res && res.headers.get('Scribegate-Error-Code')) || (res ? `http_${res.status}` : 'network'));
    const after = Number(res && res.headers.get('Retry-After')) || 1;
    await new Promise((done) => setTimeout(done, 1000 * Math.min(10, Math.max(after, 2 ** attempt))));
  }
}

/** ssoInfo is the gateway's sign-in setup and session; null without SSO. */
export function ssoInfo() {
  return sso;
}

/**
 * authHeaders are what a call made with method must carry: the token,
 * or, for a cookie session's changes, its CSRF token.
 */
export function authHeaders(method = 'GET') {
  if (token()) return { Authorization: `Bearer ${token()}` };
  if (sso && sso.csrf && method !== 'GET' && method !== 'HEAD') return { 'X-CSRF-Token': sso.csrf };
  return {};
}

/**
 * signOut ends the session: forgets the token, or asks the gateway to end
 * the cookie session; it resolves to the provider's sign-out page, if any.
 */
export async function signOut() {
  clearToken();
  if (!sso || !sso.user) return '';
  let out = {};
  try {
    const res = await fetch('/auth/logout', { method: 'POST', headers: authHeaders('POST'), cache: 'no-store' });
    out = res.ok ? await res.json() : {};
  } catch { /* the session is dropped from the page either way */ }
  sso = { ...sso, user: null, csrf: '', launch: null };
  return out.redirect || '';
}

/** token is the signed-in user's JWT, kept for this tab only. */
export function token() {
  return sessionStorage.getItem(KEY) || '';
}

export function setToken(t) {
  sessionStorage.setItem(KEY, t);
}

export function clearToken() {
  sessionStorage.removeItem(KEY);
}

/**
 * claims reads a JWT's payload without verifying it (the gateway verifies
 * every call); null when it is not a JWT.
 */
export function claims(t) {
  const parts = (t || '').split('.');
  if (parts.length !== 3) return null;
  try {
    const b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
    const c = JSON.parse(decodeURIComponent(escape(json)));
    return c && typeof c === 'object' ? c : null;
  } catch {
    return null;
  }
}

/** ApiError is a gateway error: its HTTP status and stable code. */
export class ApiError extends Error {
  constructor(status, code, message, body) {
    super(message || code);
    this.status = status;
    this.code = code;
    this.body = body || {};
  }
}

/**
 * api calls the gateway with the token. version, when given, is sent as
 * If-Match so a change applies only to the version the user saw.
 */
export async function api(method, path, { body, version } = {}) {
  const headers = { ...authHeaders(method), Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (version) headers['If-Match'] = `"v${version}"`;
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, 'network', 'The gateway could not be reached. Check the connection and try again.');
  }
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (!res.ok) {
    const e = (data && data.error) || {};
    if (res.status === 401) window.dispatchEvent(new CustomEvent('scribegate:unauthorized', { detail: e.code }));
    throw new ApiError(res.status, e.code || `http_${res.status}`, e.message, e);
  }
  return data;
}

const plain = {
  unauthorized: 'You are not signed in. Sign in again.',
  token_expired: 'Your sign-in has expired. Please sign in again.',
  invalid_token: 'That token was not accepted by this gateway.',
  forbidden: 'Your role does not allow this.',
  note_not_found: 'This note does not exist, or it belongs to another clinic.',
  invalid_state: 'The note has moved on since you opened it, so this is no longer possible. Reload to see where it is now.',
  version_conflict: 'Someone else changed this note since you opened it.',
  version_required: 'The page did not say which version you reviewed. Reload the note.',
  missing_patient: 'Enter the patient id before recording.',
  unknown_template: 'That template is not available on this gateway.',
  unsupported_sample_rate: 'This microphone records at a rate the gateway does not accept.',
  shutting_down: 'The gateway is restarting. Try again in a moment.',
  frame_too_large: 'The audio arrived in pieces too large for the gateway; the recording was stopped and what was received is kept.',
  max_duration: 'The consultation reached the longest allowed recording and was finished.',
  transcription_failed: 'Some audio could not be transcribed; the gaps are marked in the transcript.',
  draft_failed: 'The draft could not be written; the note was queued with empty sections for you to write.',
  session_failed: 'The note could not be saved. The recording may need to be repeated.',
  lookup_unavailable: 'Your clinic\'s EHR cannot be searched from here. Enter the patient id.',
  ehr_unavailable: 'The EHR did not answer. Try again, or enter the patient id.',
  network: 'The gateway could not be reached. Check the connection and try again.',
  unacknowledged_flags: 'Tick "checked" beside every support-check flag of this version before approving it.',
  internal: 'The gateway had an unexpected problem. Try again; if it keeps happening, tell your administrator.',
};

/** plainWords says what went wrong for a person, not a program. */
export function plainWords(code, message) {
  return plain[code] || message || 'Something went wrong.';
}
