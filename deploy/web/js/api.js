// REST client: the session (tokens in localStorage), the JSON envelope
// {code, message, data, timestamp}, and token refresh (docs/social.md,
// README "Calling the API"). Refresh tokens are single-use and presenting a
// spent one revokes the session, so a refresh runs at most once at a time:
// one promise per tab, and a Web Lock across the tabs of this origin (a tab
// that waited for the lock picks up the pair the other tab stored).

const KEY = 'beaver.session';

export class ApiError extends Error {
  constructor(status, kind, message, data) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.kind = kind || 'error';
    this.data = data || {};
  }
}

let session = readStored();
let refreshing = null;
let refreshTimer = null;
const listeners = new Set();

function readStored() {
  try {
    const s = JSON.parse(localStorage.getItem(KEY) || 'null');
    return s && s.access_token && s.refresh_token ? s : null;
  } catch {
    return null;
  }
}

/** fn(session|null) is called whenever the session changes (login, refresh, logout, expiry). */
export function onSession(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function currentSession() {
  return session;
}

export function accessToken() {
  return session ? session.access_token : null;
}

function store(tokens, reason) {
  session = tokens
    ? {
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token,
        user_id: tokens.user_id || (session && session.user_id),
        session_id: tokens.session_id || (session && session.session_id),
        // refresh a minute before the access token runs out
        expires_at: Date.now() + (tokens.expires_in || 900) * 1000,
      }
    : null;
  if (session) localStorage.setItem(KEY, JSON.stringify(session));
  else localStorage.removeItem(KEY);
  scheduleRefresh();
  for (const fn of listeners) fn(session, reason);
}

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  if (!session) return;
  const inMs = Math.max(5_000, session.expires_at - Date.now() - 60_000);
  refreshTimer = setTimeout(() => refresh().catch(() => {}), inMs);
}

// another tab logged out or refreshed: follow it
window.addEventListener('storage', (e) => {
  if (e.key !== KEY) return;
  const s = readStored();
  if (!s) {
    if (session) store(null, 'logout');
  } else if (!session || s.access_token !== session.access_token) {
    session = s;
    scheduleRefresh();
    for (const fn of listeners) fn(session, 'refresh');
  }
});

/** Trade the refresh token for a new pair. Rejects (and ends the session) when it is refused. */
export function refresh() {
  if (!refreshing) {
    refreshing = withLock(async () => {
      const before = session && session.refresh_token;
      const stored = readStored();
      if (stored && before && stored.refresh_token !== before) {
        // another tab refreshed while we waited for the lock
        session = stored;
        scheduleRefresh();
        for (const fn of listeners) fn(session, 'refresh');
        return;
      }
      if (!before) throw new ApiError(401, 'unauthorized', 'not signed in');
      let data;
      try {
        data = await request('POST', '/api/auth/refresh', { refresh_token: before }, { auth: false });
      } catch (e) {
        if (e.status === 401 || e.status === 403 || e.status === 422) store(null, 'expired');
        throw e;
      }
      store(data, 'refresh');
    }).finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

function withLock(fn) {
  if (navigator.locks && navigator.locks.request) return navigator.locks.request('beaver-token-refresh', fn);
  return fn();
}

/**
 * request(method, path, body?, {auth = true, raw = false, headers})
 * Resolves with the envelope's `data`; rejects with ApiError (status, kind, data).
 * `raw` sends `body` as is (a Blob for file parts).
 */
export async function request(method, path, body, opts = {}) {
  const { auth = true, raw = false, retry = true, headers = {} } = opts;
  if (auth && session && Date.now() > session.expires_at - 15_000) {
    await refresh().catch(() => {});
  }
  const h = { accept: 'application/json', ...headers };
  let payload;
  if (body !== undefined && body !== null) {
    if (raw) payload = body;
    else {
      h['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
  }
  if (auth) {
    if (!session) throw new ApiError(401, 'unauthorized', 'not signed in');
    h.authorization = `Bearer ${session.access_token}`;
  }
  let res;
  try {
    res = await fetch(path, { method, headers: h, body: payload, cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, 'network', navigator.onLine ? 'The server cannot be reached' : 'You are offline');
  }
  let env = null;
  try {
    env = await res.json();
  } catch {
    env = null;
  }
  if (res.status === 401 && auth && retry && session) {
    try {
      await refresh();
    } catch {
      throw new ApiError(401, 'unauthorized', 'Your session has ended; please sign in again');
    }
    return request(method, path, body, { ...opts, retry: false });
  }
  if (!res.ok) {
    const data = (env && env.data) || {};
    throw new ApiError(res.status, data.error, (env && env.message) || res.statusText, data);
  }
  return env ? env.data : null;
}

export const get = (path, opts) => request('GET', path, undefined, opts);
export const post = (path, body, opts) => request('POST', path, body === undefined ? {} : body, opts);
export const put = (path, body, opts) => request('PUT', path, body === undefined ? {} : body, opts);
export const patch = (path, body, opts) => request('PATCH', path, body, opts);
export const del = (path, opts) => request('DELETE', path, undefined, opts);

export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') u.set(k, String(v));
  const s = u.toString();
  return s ? `?${s}` : '';
}

// ---- accounts ---------------------------------------------------------------

export async function login(username, password) {
  const data = await request('POST', '/api/user/login', { username, password }, { auth: false });
  store(data, 'login');
  return data;
}

export async function register(fields) {
  return request('POST', '/api/user/register', fields, { auth: false });
}

export async function logout() {
  try {
    if (session) await request('POST', '/api/auth/logout', {}, { retry: false });
  } catch {
    // the session ends locally whatever the server said
  }
  store(null, 'logout');
}

/** Forget the session locally (after the server said it ended). */
export function dropSession(reason = 'expired') {
  store(null, reason);
}
