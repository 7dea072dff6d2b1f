// Your profile, the privacy switches that change what others see
// (docs/services.md, "Settings"), and signing out.

import * as api from '../api.js';
import { app, updateProfile } from '../state.js';
import { h, statusLine } from '../dom.js';

export function mount(root) {
  const status = statusLine();
  const p = app.profile || {};
  const nickname = h('input', { id: 'me-nickname', name: 'nickname', maxlength: 64, value: p.nickname || '' });
  const signature = h('input', { id: 'me-signature', name: 'signature', maxlength: 200, value: p.signature || '' });
  const profileForm = h(
    'form',
    { 'aria-labelledby': 'profile-heading' },
    h('p', {}, 'Username: ', h('strong', { class: 'username' }, p.username || '')),
    h('div', { class: 'field' }, h('label', { for: 'me-nickname' }, 'Display name'), nickname),
    h('div', { class: 'field' }, h('label', { for: 'me-signature' }, 'Status line'), signature),
    h('button', { type: 'submit', class: 'primary' }, 'Save profile'),
  );
  profileForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await updateProfile({ nickname: nickname.value.trim(), signature: signature.value.trim() });
      status.show('Profile saved.');
    } catch (err) {
      status.show(err.message, true);
    }
  });

  const receipts = h('input', { type: 'checkbox', id: 'me-receipts' });
  const online = h('input', { type: 'checkbox', id: 'me-online' });
  const privacy = h(
    'fieldset',
    {},
    h('legend', {}, 'Privacy'),
    h('div', { class: 'check' }, receipts, h('label', { for: 'me-receipts' }, 'Send read receipts')),
    h('div', { class: 'check' }, online, h('label', { for: 'me-online' }, 'Show friends when I am online')),
  );
  api
    .get('/api/user/settings')
    .then((s) => {
      receipts.checked = s.privacy.read_receipts;
      online.checked = s.privacy.show_online;
    })
    .catch(() => {});
  const save = async (patch) => {
    try {
      await api.patch('/api/user/settings', patch);
      status.show('Settings saved.');
    } catch (err) {
      status.show(err.message, true);
    }
  };
  receipts.addEventListener('change', () => save({ privacy: { read_receipts: receipts.checked } }));
  online.addEventListener('change', () => save({ privacy: { show_online: online.checked } }));

  root.append(
    h(
      'div',
      { class: 'page' },
      h('h1', {}, 'Me'),
      status,
      h('section', { class: 'card', 'aria-labelledby': 'profile-heading' }, h('h2', { id: 'profile-heading' }, 'Profile'), profileForm),
      h('section', { class: 'card', 'aria-labelledby': 'settings-heading' }, h('h2', { id: 'settings-heading' }, 'Settings'), privacy),
      h('section', { class: 'card', 'aria-labelledby': 'session-heading' }, h('h2', { id: 'session-heading' }, 'Session'), h('button', { type: 'button', class: 'danger', onclick: () => api.logout() }, 'Sign out')),
    ),
  );
}
