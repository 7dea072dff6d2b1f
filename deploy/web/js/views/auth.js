// Sign in / create an account (docs/social.md; README "Calling the API").

import * as api from '../api.js';
import { h, statusLine } from '../dom.js';

const FIELD_LABELS = { username: 'Username', password: 'Password', email: 'E-mail', nickname: 'Display name', phone: 'Phone' };

export function mount(root, { mode }) {
  const register = mode === 'register';
  const status = statusLine();
  const notice = sessionStorage.getItem('beaver.notice');
  sessionStorage.removeItem('beaver.notice');

  const field = (name, label, attrs = {}) =>
    h('div', { class: 'field' }, h('label', { for: `auth-${name}` }, label), h('input', { id: `auth-${name}`, name, ...attrs }));

  const form = h(
    'form',
    { class: 'card auth-form', 'aria-labelledby': 'auth-title', novalidate: true },
    h('h1', { id: 'auth-title' }, register ? 'Create your account' : 'Sign in to Beaver'),
    notice ? h('p', { class: 'notice', role: 'alert' }, notice) : null,
    field('username', register ? 'Username' : 'Username or e-mail', {
      autocomplete: 'username',
      required: true,
      autocapitalize: 'none',
      spellcheck: 'false',
      ...(register ? { pattern: '[a-z0-9_]{3,32}', 'aria-describedby': 'auth-username-hint' } : {}),
    }),
    register ? h('p', { class: 'hint', id: 'auth-username-hint' }, '3–32 characters: a–z, 0–9 and _') : null,
    register ? field('nickname', 'Display name (optional)', { autocomplete: 'nickname', maxlength: 64 }) : null,
    register ? field('email', 'E-mail (optional)', { type: 'email', autocomplete: 'email' }) : null,
    field('password', 'Password', {
      type: 'password',
      required: true,
      autocomplete: register ? 'new-password' : 'current-password',
      ...(register ? { minlength: 8, 'aria-describedby': 'auth-password-hint' } : {}),
    }),
    register ? h('p', { class: 'hint', id: 'auth-password-hint' }, 'At least 8 characters') : null,
    h('button', { type: 'submit', class: 'primary' }, register ? 'Create account' : 'Sign in'),
    status,
    h(
      'p',
      { class: 'switch' },
      register ? 'Already have an account? ' : 'New here? ',
      h('a', { href: register ? '#/login' : '#/register' }, register ? 'Sign in' : 'Create an account'),
    ),
  );

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    for (const k of Object.keys(data)) if (typeof data[k] === 'string') data[k] = data[k].trim();
    data.password = new FormData(form).get('password'); // passwords are not trimmed
    for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    status.show(register ? 'Creating your account…' : 'Signing in…');
    try {
      if (register) {
        const body = { username: data.username.toLowerCase(), password: data.password };
        if (data.nickname) body.nickname = data.nickname;
        if (data.email) body.email = data.email;
        await api.register(body);
      }
      await api.login(register ? data.username.toLowerCase() : data.username, data.password);
      location.hash = '#/chats';
    } catch (err) {
      status.show(describe(err), true);
      const f = err.data && err.data.field;
      const input = f && form.querySelector(`[name="${f}"]`);
      if (input) {
        input.setAttribute('aria-invalid', 'true');
        input.focus();
      }
    } finally {
      button.disabled = false;
    }
  });

  root.append(h('div', { class: 'auth' }, form));
  form.querySelector('input').focus();
}

function describe(err) {
  switch (err.kind) {
    case 'username_taken':
      return 'That username is taken.';
    case 'email_taken':
      return 'That e-mail address is already used.';
    case 'unauthorized':
      return 'Wrong username or password.';
    case 'too_many_requests':
      return 'Too many attempts; wait a few minutes and try again.';
    case 'invalid_field':
      return `${FIELD_LABELS[err.data.field] || err.data.field}: ${err.message}`;
    default:
      return err.message || 'Something went wrong.';
  }
}
