// The WebSocket (docs/push.md): authenticated by a first `auth` frame (the
// token stays out of URLs and logs), a `ping` heartbeat with a pong deadline,
// reconnection with backoff, and `ready` -> the app sends `sync`.
//
// States: 'idle' (not started), 'connecting', 'online', 'offline' (waiting
// to reconnect, or the browser is offline), 'kicked' (signed in elsewhere:
// no automatic reconnect, the user decides), 'stopped'.

import { accessToken, refresh } from './api.js';

const PING_EVERY_MS = 20_000; // server closes after 60 s of silence
const PONG_DEADLINE_MS = 10_000;
const ACK_TIMEOUT_MS = 10_000;

function deviceId() {
  let id = localStorage.getItem('beaver.device');
  if (!id) {
    const b = new Uint8Array(8);
    crypto.getRandomValues(b);
    id = 'web-' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    localStorage.setItem('beaver.device', id);
  }
  return id;
}

export class Realtime extends EventTarget {
  constructor() {
    super();
    this.ws = null;
    this.state = 'idle';
    this.attempt = 0;
    this.retryTimer = null;
    this.pingTimer = null;
    this.pongTimer = null;
    this.pending = new Map(); // frame id -> {resolve, reject, timer}
    this.nextId = 1;
    this.wanted = false;
    this.authFailures = 0;
    this.onOnline = () => {
      if (this.wanted && this.state !== 'online' && this.state !== 'kicked') this.connectNow();
    };
    this.onOffline = () => {
      // The browser says the network is gone: the socket is as good as dead
      // (and may linger half-open); close it and wait for 'online'.
      if (this.ws) this.drop('offline');
      this.setState('offline');
    };
    window.addEventListener('online', this.onOnline);
    window.addEventListener('offline', this.onOffline);
  }

  setState(state, detail = {}) {
    if (this.state === state && !detail.force) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: { state, ...detail } }));
  }

  start() {
    this.wanted = true;
    this.connectNow();
  }

  stop() {
    this.wanted = false;
    clearTimeout(this.retryTimer);
    this.drop('stopped');
    this.setState('stopped');
  }

  /** Stop for good (signed out): also forget the window's online/offline events. */
  dispose() {
    this.stop();
    window.removeEventListener('online', this.onOnline);
    window.removeEventListener('offline', this.onOffline);
  }

  /** Reconnect at once (the "Reconnect" button, the 'online' event, a new token). */
  connectNow() {
    clearTimeout(this.retryTimer);
    if (!this.wanted) return;
    if (!navigator.onLine) {
      this.setState('offline');
      return;
    }
    if (this.ws && (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING)) return;
    this.open();
  }

  open() {
    const token = accessToken();
    if (!token) {
      this.setState('offline');
      return;
    }
    this.setState('connecting');
    this.tokenUsed = token;
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${proto}//${location.host}/ws`);
    this.ws = ws;
    ws.onopen = () => {
      ws.send(JSON.stringify({ type: 'auth', data: { token, device_id: deviceId(), platform: 'web' } }));
    };
    ws.onmessage = (ev) => {
      if (ws !== this.ws) return;
      let frame;
      try {
        frame = JSON.parse(ev.data);
      } catch {
        return;
      }
      this.handle(frame);
    };
    ws.onclose = (ev) => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.stopHeartbeat();
      this.failPending('connection closed');
      this.closed(ev.code, ev.reason);
    };
    ws.onerror = () => {
      // onclose follows
    };
  }

  closed(code) {
    if (!this.wanted) return;
    if (this.state === 'kicked') return;
    if (code === 4401 && this.authFailures < 3) {
      this.authFailures += 1;
      if (accessToken() && accessToken() !== this.tokenUsed) {
        // refreshed meanwhile (by a REST call): just try the new token
        this.scheduleRetry(0);
        return;
      }
      // the token was refused: refresh it (the session may have ended) and retry
      refresh()
        .then(() => this.scheduleRetry(0))
        .catch(() => this.setState('offline', { reason: 'signed_out' }));
      this.setState('offline');
      return;
    }
    if (!navigator.onLine) {
      this.setState('offline');
      return;
    }
    this.scheduleRetry();
  }

  scheduleRetry(delay) {
    clearTimeout(this.retryTimer);
    if (delay === undefined) {
      const base = Math.min(10_000, 500 * 2 ** Math.min(this.attempt, 5));
      delay = base / 2 + Math.random() * (base / 2);
    }
    this.attempt += 1;
    this.setState('offline', { retryInMs: delay, force: true });
    this.retryTimer = setTimeout(() => this.connectNow(), delay);
  }

  drop(reason) {
    const ws = this.ws;
    this.ws = null;
    this.stopHeartbeat();
    this.failPending(reason);
    if (ws) {
      try {
        ws.close(1000, reason);
      } catch {
        // already closing
      }
    }
  }

  handle(frame) {
    const { type, data, id } = frame;
    if (id && this.pending.has(id)) {
      const p = this.pending.get(id);
      if (type === 'error') {
        const err = new Error((data && data.message) || 'error');
        err.code = data && data.code;
        err.kind = data && data.kind;
        err.data = data;
        p.reject(err);
      } else p.resolve(frame);
      clearTimeout(p.timer);
      this.pending.delete(id);
      return;
    }
    switch (type) {
      case 'ready':
        this.attempt = 0;
        this.authFailures = 0;
        this.ready = data;
        this.startHeartbeat();
        this.setState('online', { ready: data, force: true });
        break;
      case 'pong':
        clearTimeout(this.pongTimer);
        break;
      case 'kick':
        // signed in elsewhere, replaced by the same device id, or signed out
        this.setState('kicked', { reason: data && data.reason, by: data && data.by_platform });
        this.wanted = data && data.reason === 'signed_out' ? false : this.wanted;
        break;
      default:
        this.dispatchEvent(new CustomEvent('frame', { detail: frame }));
    }
  }

  startHeartbeat() {
    this.stopHeartbeat();
    this.pingTimer = setInterval(() => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
      this.ws.send(JSON.stringify({ type: 'ping' }));
      clearTimeout(this.pongTimer);
      this.pongTimer = setTimeout(() => {
        // no pong: the connection is dead though nobody told us
        this.drop('heartbeat');
        this.closed(4002);
      }, PONG_DEADLINE_MS);
    }, PING_EVERY_MS);
  }

  stopHeartbeat() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
  }

  failPending(reason) {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(Object.assign(new Error(reason), { code: 0, kind: 'disconnected' }));
    }
    this.pending.clear();
  }

  get isOnline() {
    return this.state === 'online' && this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  /** Fire and forget (typing). Returns false when not connected. */
  send(type, data) {
    if (!this.isOnline) return false;
    this.ws.send(JSON.stringify({ type, data }));
    return true;
  }

  /** A frame whose answer (ack, sync.done, error) echoes its id. */
  call(type, data, timeoutMs = ACK_TIMEOUT_MS) {
    if (!this.isOnline) return Promise.reject(Object.assign(new Error('not connected'), { code: 0, kind: 'disconnected' }));
    const id = `f${this.nextId++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(Object.assign(new Error('no answer'), { code: 0, kind: 'timeout' }));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.ws.send(JSON.stringify({ type, id, data }));
    });
  }
}
