// Tiny DOM helpers: element creation without innerHTML (no markup is ever
// built from strings, so nothing a user typed can become markup).

/**
 * h('button', {class: 'x', onclick: fn, 'aria-label': 'Send'}, 'Send')
 * Attributes: `class`, `text`, `on<event>` (listeners), `dataset` (object),
 * booleans (true sets the attribute, false/null/undefined skips it),
 * everything else via setAttribute. Children: nodes, strings, arrays, null.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value' && 'value' in el) el.value = v;
    else if (k === 'checked' || k === 'disabled' || k === 'hidden' || k === 'multiple' || k === 'required') el[k] = Boolean(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function $(sel, root = document) {
  return root.querySelector(sel);
}

/** Announce to screen readers through the page's polite live region. */
export function announce(text) {
  const region = document.getElementById('announcer');
  if (!region) return;
  // a fresh node each time so repeated identical texts are read again
  const p = document.createElement('p');
  p.textContent = text;
  region.append(p);
  while (region.childNodes.length > 5) region.firstChild.remove();
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dayFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });
const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

export function shortTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const now = new Date();
  return d.toDateString() === now.toDateString() ? timeFmt.format(d) : dayFmt.format(d);
}

export function fullTime(iso) {
  return iso ? fullFmt.format(new Date(iso)) : '';
}

export function timeEl(iso, short = true) {
  return h('time', { datetime: iso || '', title: fullTime(iso) }, short ? shortTime(iso) : fullTime(iso));
}

export function formatBytes(n) {
  if (!Number.isFinite(n)) return '';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** A short status line (role=status) that a view can write messages into. */
export function statusLine(cls = 'form-status') {
  const el = h('p', { class: cls, role: 'status' });
  el.show = (text, isError = false) => {
    el.textContent = text || '';
    el.classList.toggle('error', Boolean(isError));
  };
  return el;
}

export function randomId(prefix = '') {
  const b = new Uint8Array(12);
  crypto.getRandomValues(b);
  return prefix + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

export function debounce(fn, ms) {
  let t = null;
  const d = (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
  d.cancel = () => clearTimeout(t);
  return d;
}

export function initials(name) {
  const s = (name || '?').trim();
  return (s[0] || '?').toUpperCase();
}
