// The web client end to end: two users, each in a browser context of their
// own, sign up, become friends through the UI and chat — live delivery both
// ways, typing, read receipts, edit / reactions / recall, history paging,
// going offline and catching up by `sync`, a group chat with its unread
// badge, attachments, notifications and moments. A screenshot of each view
// lands in target/browser-screenshots/.
//
// Steps run in order and share the two pages; after a failing step the rest
// are skipped (each failure also leaves fail-<step>-{ada,bea}.png).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, RUN, launch, serveClientFrom, screenshot, eventually, expectText, expectCount, expectVisible, expectHidden, api, png } from './helpers.mjs';

const ada = { username: `ada_${RUN}`, nickname: 'Ada', password: 'correct horse battery' };
const bea = { username: `bea_${RUN}`, nickname: 'Bea', password: 'correct horse battery' };
const groupName = `Room ${RUN}`;

let browser;
let A; // Ada's page
let B; // Bea's page
let failed = null;
const problems = []; // uncaught page errors and CSP violations, per page
const sentFramesA = []; // what Ada's page sent over its WebSocket

function step(name, fn, timeout = 60_000) {
  test(name, { timeout }, async (t) => {
    if (failed) {
      t.skip(`skipped: "${failed}" failed`);
      return;
    }
    try {
      await fn();
    } catch (e) {
      failed = name;
      const slug = name.replace(/[^a-z0-9]+/gi, '-').toLowerCase().slice(0, 40);
      await Promise.allSettled([screenshot(A, `fail-${slug}-ada`), screenshot(B, `fail-${slug}-bea`)]);
      throw e;
    }
  });
}

function watch(page, who) {
  page.on('pageerror', (e) => problems.push(`${who}: uncaught ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) problems.push(`${who}: ${m.text()}`);
  });
}

const nav = (page, name) => page.locator(`nav [data-nav="${name}"]`);
const messages = (page) => page.locator('.messages li.msg');
const message = (page, text) => page.locator('.messages li.msg', { hasText: text });
const convItem = (page, title) => page.locator('.conv-list a.conv', { has: page.locator('.conv-title', { hasText: title }) });

async function send(page, text) {
  const box = page.getByRole('textbox', { name: 'Message', exact: true });
  await box.fill(text);
  await box.press('Enter');
  // numbered by the server: no longer "Sending…"
  await expectText(message(page, text).locator('.status-text'), /Sent|Read/, `"${text}" confirmed`);
}

async function messageAction(page, text, action) {
  const li = message(page, text).last();
  await li.hover();
  await li.getByRole('button', { name: 'Message actions' }).click();
  await li.getByRole('button', { name: action, exact: true }).click();
}

async function signUp(page, who, shot) {
  await page.goto(`${BASE}/`);
  await expectText(page.locator('h1'), 'Sign in to Beaver', 'the sign-in page');
  if (shot) await screenshot(page, '01-login');
  await page.getByRole('link', { name: 'Create an account' }).click();
  await expectText(page.locator('h1'), 'Create your account');
  await page.getByLabel('Username', { exact: true }).fill(who.username);
  await page.getByLabel('Display name (optional)').fill(who.nickname);
  await page.getByLabel('Password').fill(who.password);
  if (shot) await screenshot(page, '02-register');
  await page.getByRole('button', { name: 'Create account' }).click();
  await expectText(page.locator('h1'), 'Chats', `${who.nickname} signed in`);
  await expectText(page.locator('.conv-pane .empty'), 'No conversations yet');
  await expectVisible(page.locator('#connection[data-state="online"]'), `${who.nickname}'s socket is up`);
}

before(async () => {
  browser = await launch();
  const ctxA = await browser.newContext({ viewport: { width: 1100, height: 760 } });
  const ctxB = await browser.newContext({ viewport: { width: 1100, height: 760 } });
  if (process.env.BEAVER_WEB_DIR) {
    await serveClientFrom(ctxA, process.env.BEAVER_WEB_DIR);
    await serveClientFrom(ctxB, process.env.BEAVER_WEB_DIR);
  }
  A = await ctxA.newPage();
  B = await ctxB.newPage();
  watch(A, 'ada');
  watch(B, 'bea');
  A.on('websocket', (ws) => ws.on('framesent', (f) => sentFramesA.push({ at: Date.now(), payload: String(f.payload) })));
});

after(async () => {
  if (browser) await browser.close();
});

step('the gateway serves the client with a strict CSP and keeps unknown paths a JSON 404', async () => {
  const page = await fetch(`${BASE}/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type'), /text\/html/);
  const csp = page.headers.get('content-security-policy') || '';
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, /connect-src 'self' ws:/);
  assert.ok(page.headers.get('cache-control'), 'Cache-Control on the page');
  const js = await fetch(`${BASE}/web/js/main.js`);
  assert.equal(js.status, 200);
  assert.match(js.headers.get('content-type'), /javascript/);
  for (const p of ['/nothing/here', '/web/no-such-file.js', '/index.html']) {
    const r = await fetch(BASE + p);
    assert.equal(r.status, 404, p);
    assert.equal((await r.json()).data.error, 'not_found', p);
  }
});

step('two users sign up in two browser contexts', async () => {
  await signUp(A, ada, true);
  await screenshot(A, '03-conversations-empty');
  await signUp(B, bea, false);
});

step('they become friends through the UI', async () => {
  await nav(A, 'friends').click();
  await A.getByLabel('Find people').fill(bea.username);
  await A.getByRole('button', { name: 'Search' }).click();
  await A.getByRole('button', { name: 'Add Bea as a friend' }).click();
  await expectText(A.locator('.page > .form-status'), 'Friend request sent to Bea');

  // Bea's Friends badge lights up live, and the request is listed
  await expectText(B.locator('[data-badge="friends"]'), '1', "Bea's friend-request badge");
  await nav(B, 'friends').click();
  const req = B.locator('section[aria-labelledby="incoming-heading"] .person', { hasText: 'Ada' });
  await expectText(req, 'wants to be your friend');
  await screenshot(B, '04-friends-request');
  await B.getByRole('button', { name: 'Accept Ada' }).click();
  await expectText(B.locator('section[aria-labelledby="friends-heading"] .person-name'), 'Ada', "Ada in Bea's friends");
  // Ada's list follows by itself (a `friend` frame)
  await expectText(A.locator('section[aria-labelledby="friends-heading"] .person-name'), 'Bea', "Bea in Ada's friends");
  await screenshot(A, '05-friends');
});

step('messages go both ways live, with the unread badge on the receiving side', async () => {
  await A.getByRole('link', { name: 'Message Bea' }).click();
  await expectText(A.locator('#chat-heading'), 'Bea');
  await send(A, 'Hello Bea, this is Ada');

  // Bea is still on her friends page: the conversation appears with a badge
  await expectText(B.locator('[data-badge="chats"]'), '1', "Bea's Chats badge");
  await nav(B, 'chats').click();
  await expectText(convItem(B, 'Ada').locator('.badge'), '1', 'unread badge on the conversation');
  await expectText(convItem(B, 'Ada').locator('.conv-preview'), 'Hello Bea, this is Ada');
  await screenshot(B, '06-conversation-list');
  await convItem(B, 'Ada').click();
  await expectText(message(B, 'Hello Bea, this is Ada'), 'Hello Bea, this is Ada');
  await expectCount(convItem(B, 'Ada').locator('.badge'), 0, 'the badge clears once read');

  await send(B, 'Hi Ada! Bea here.');
  await expectText(message(A, 'Hi Ada! Bea here.'), 'Hi Ada! Bea here.', "Bea's reply reaches Ada live");
});

step('each sees the other typing', async () => {
  await B.getByRole('textbox', { name: 'Message', exact: true }).fill('I am writing someth');
  await expectText(A.locator('.typing'), 'Bea is typing…', "Ada sees Bea typing");
  await screenshot(A, '07-chat-typing');
  await B.getByRole('textbox', { name: 'Message', exact: true }).fill('');
  await A.getByRole('textbox', { name: 'Message', exact: true }).fill('Let me answer');
  await expectText(B.locator('.typing'), 'Ada is typing…', 'Bea sees Ada typing');
  await A.getByRole('textbox', { name: 'Message', exact: true }).fill('');
  // the notice goes away by itself
  await expectText(A.locator('.typing'), /^$/, "Bea's typing notice expires", 12_000);
});

step('a read receipt appears when the other side reads', async () => {
  await nav(B, 'friends').click(); // Bea leaves the chat
  await send(A, 'Did you read this?');
  const status = message(A, 'Did you read this?').locator('.status-text');
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(await status.innerText(), 'Sent', 'not read while Bea is elsewhere');
  await nav(B, 'chats').click();
  await expectText(convItem(B, 'Ada').locator('.badge'), '1');
  await convItem(B, 'Ada').click();
  await expectText(message(B, 'Did you read this?'), 'Did you read this?');
  await expectText(status, 'Read', 'Ada sees the read receipt');
});

step('edit, reactions and recall show on the other side', async () => {
  await send(A, 'This has a tpyo');
  await expectText(message(B, 'This has a tpyo'), 'tpyo');
  await messageAction(A, 'This has a tpyo', 'Edit');
  const box = A.getByRole('textbox', { name: 'Message', exact: true });
  assert.equal(await box.inputValue(), 'This has a tpyo', 'the composer holds the text to edit');
  await box.fill('This had a typo, now fixed');
  await box.press('Enter');
  await expectText(message(A, 'This had a typo, now fixed'), 'edited');
  await expectText(message(B, 'This had a typo, now fixed'), 'edited', 'Bea sees the edit');
  await expectCount(message(B, 'tpyo'), 0, 'the old text is gone on Bea’s side');

  await messageAction(B, 'This had a typo, now fixed', 'React 👍');
  await expectText(message(B, 'This had a typo, now fixed').locator('.reaction'), '👍 1');
  await expectText(message(A, 'This had a typo, now fixed').locator('.reaction'), '👍 1', 'Ada sees the reaction');

  await send(A, 'Oops, wrong chat');
  await expectText(message(B, 'Oops, wrong chat'), 'Oops');
  await messageAction(A, 'Oops, wrong chat', 'Recall');
  await expectText(messages(A), 'You recalled a message');
  await expectText(messages(B), 'Ada recalled a message', 'Bea sees the recall');
  await expectCount(message(B, 'Oops, wrong chat'), 0, 'the recalled text is gone on Bea’s side');
  await screenshot(A, '08-chat-direct');
});

step('keyboard only: the message menu opens, closes and reacts', async () => {
  const li = message(B, 'Hi Ada! Bea here.');
  const more = li.getByRole('button', { name: 'Message actions' });
  await more.focus();
  await B.keyboard.press('Enter');
  const menu = li.locator('.menu');
  await expectVisible(menu, 'Enter opens the menu');
  assert.equal(await B.evaluate(() => document.activeElement.getAttribute('aria-label')), 'React 👍', 'focus moves into the menu');
  await B.keyboard.press('Escape');
  await expectHidden(menu, 'Escape closes it');
  assert.equal(await B.evaluate(() => document.activeElement.getAttribute('aria-label')), 'Message actions', 'focus returns to the button');
  await B.keyboard.press('Enter');
  await B.keyboard.press('Tab'); // 👍 -> ❤️
  await B.keyboard.press('Enter');
  await expectText(message(A, 'Hi Ada! Bea here.').locator('.reaction'), '❤️ 1', 'Ada sees the reaction made with the keyboard');
  // the composer: typing and Enter send
  await B.getByRole('textbox', { name: 'Message', exact: true }).focus();
  await B.keyboard.type('Typed with the keyboard');
  await B.keyboard.press('Enter');
  await expectText(message(A, 'Typed with the keyboard'), 'keyboard');
});

step('older history pages in on scroll', async () => {
  // 60 more messages from Bea, over the REST API
  const login = await api('POST', '/api/user/login', { body: { username: bea.username, password: bea.password } });
  const adaId = (await api('GET', `/api/user/search?q=${ada.username}`, { token: login.access_token })).users[0].user_id;
  for (let i = 1; i <= 60; i += 1) {
    const n = String(i).padStart(2, '0');
    await api('POST', '/api/chat/send', {
      token: login.access_token,
      body: { to_user_id: adaId, client_msg_id: `seed-${RUN}-${n}`, type: 'text', content: { text: `seed ${n}` } },
    });
  }
  await A.reload();
  await expectText(A.locator('#chat-heading'), 'Bea');
  await expectText(message(A, 'seed 60'), 'seed 60');
  // the newest page is 50 messages: seed 11 … seed 60
  await expectCount(messages(A), 50, 'one page of history');
  assert.equal(await message(A, 'seed 10').count(), 0, 'seed 10 is not loaded yet');
  await expectVisible(A.getByRole('button', { name: 'Load older messages' }), 'the paging button');
  await A.locator('.scroller').evaluate((el) => {
    el.scrollTop = 0;
  });
  await expectText(message(A, 'seed 10'), 'seed 10', 'the older page arrived');
  await expectText(message(A, 'Hello Bea, this is Ada'), 'Hello Bea', 'back to the first message');
  await expectText(A.locator('.history-note'), 'Beginning of the conversation');
  const n = await messages(A).count();
  assert.ok(n > 60, `all of the history is shown (${n} messages)`);
  // reading the history cleared the badge (the chat is on screen)
  await expectCount(convItem(A, 'Bea').locator('.badge'), 0, 'no unread badge on the open chat');
  await A.locator('.scroller').evaluate((el) => {
    el.scrollTop = 0;
  });
  await screenshot(A, '09-chat-history');
});

step('a refused access token is refreshed, for REST and the socket alike', async () => {
  const before = await A.evaluate(() => JSON.parse(localStorage.getItem('beaver.session')));
  // as if the access token had run out while the page was closed
  await A.evaluate(() => {
    const s = JSON.parse(localStorage.getItem('beaver.session'));
    s.access_token = 'expired.' + s.access_token.split('.')[1] + '.x';
    localStorage.setItem('beaver.session', JSON.stringify(s));
  });
  await A.reload();
  await expectText(message(A, 'seed 60'), 'seed 60', 'history loads after the refresh');
  await expectVisible(A.locator('#connection[data-state="online"]'), 'the socket authenticates with the new token');
  const afterRefresh = await A.evaluate(() => JSON.parse(localStorage.getItem('beaver.session')));
  assert.notEqual(afterRefresh.refresh_token, before.refresh_token, 'the refresh token was rotated');
  assert.ok(!afterRefresh.access_token.startsWith('expired.'), 'a new access token is stored');
  await send(A, 'Still here after a token refresh');
  await expectText(message(B, 'Still here after a token refresh'), 'token refresh');
});

step('offline and back online: the missed messages come by sync', async () => {
  await nav(B, 'chats').click();
  await convItem(B, 'Ada').click();
  await A.context().setOffline(true);
  await expectText(A.locator('#connection'), 'Offline', "Ada's client notices");
  const offlineAt = Date.now();
  await send(B, 'Sent while you were offline (1)');
  await send(B, 'Sent while you were offline (2)');
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(await message(A, 'while you were offline').count(), 0, 'nothing arrives while offline');
  await screenshot(A, '10-offline');
  await A.context().setOffline(false);
  await expectVisible(A.locator('#connection[data-state="online"]'), 'Ada reconnects', 20_000);
  await expectText(message(A, 'Sent while you were offline (1)'), '(1)', 'missed message 1 after reconnect');
  await expectText(message(A, 'Sent while you were offline (2)'), '(2)', 'missed message 2 after reconnect');
  const syncs = sentFramesA.filter((f) => f.at > offlineAt && /"type":"sync"/.test(f.payload) && f.payload.includes('direct:'));
  assert.ok(syncs.length >= 1, 'a sync frame listing the conversation was sent after reconnecting');
  // and the two arrived in order, after everything else
  const texts = await messages(A).allInnerTexts();
  const i1 = texts.findIndex((t) => t.includes('offline (1)'));
  const i2 = texts.findIndex((t) => t.includes('offline (2)'));
  assert.ok(i1 >= 0 && i2 === i1 + 1 && i2 === texts.length - 1, 'in seq order at the end');
});

step('a group chat: created in the UI, unread badge in the list, read count', async () => {
  await nav(B, 'chats').click(); // Bea watches her list
  await nav(A, 'groups').click();
  await A.getByLabel('Group name').fill(groupName);
  await A.getByRole('checkbox', { name: 'Bea' }).check();
  await A.getByRole('button', { name: 'Create group' }).click();
  await expectText(A.locator('#chat-heading'), groupName);
  await expectText(A.locator('.messages li.system'), 'You created the group');
  await send(A, 'Hello group!');

  await expectText(convItem(B, groupName).locator('.badge'), '1', 'the group shows 1 unread in Bea’s list');
  await expectText(convItem(B, groupName).locator('.conv-preview'), 'Ada: Hello group!');
  await expectText(B.locator('[data-badge="chats"]'), '1');
  await screenshot(B, '11-conversation-list-unread');
  await convItem(B, groupName).click();
  await expectText(message(B, 'Hello group!').locator('.sender'), 'Ada', 'sender shown in the group');
  await expectCount(convItem(B, groupName).locator('.badge'), 0);
  await expectText(message(A, 'Hello group!').locator('.status-text'), 'Read by 1', 'Ada sees one reader', 15_000);
  await send(B, 'Hi everyone');
  await expectText(message(A, 'Hi everyone'), 'Hi everyone', 'Bea’s group message reaches Ada');
  await screenshot(A, '12-group-chat');
});

step('groups view and members', async () => {
  await nav(A, 'groups').click();
  const row = A.locator('.person', { hasText: groupName });
  await expectText(row, '2 members');
  await screenshot(A, '13-groups');
  await A.getByRole('link', { name: `Members of ${groupName}` }).click();
  await expectText(A.locator('h1'), groupName);
  await expectText(A.locator('section[aria-labelledby="members-heading"] .person'), /Ada \(you\)[\s\S]*owner/);
  await expectText(A.locator('section[aria-labelledby="members-heading"] .person'), /Bea[\s\S]*member/);
  await screenshot(A, '14-group-members');
});

step('attachments: an image and a file', async () => {
  await nav(A, 'chats').click();
  await convItem(A, 'Bea').click();
  await nav(B, 'chats').click();
  await convItem(B, 'Ada').click();
  const image = await png(120, 80, [200, 60, 40]);
  await A.locator('#composer-file').setInputFiles([
    { name: 'red.png', mimeType: 'image/png', buffer: image },
    { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('shopping list\n- wood\n- more wood\n') },
  ]);
  const img = B.locator('.messages li.msg img.image').last();
  await eventually(
    'Bea sees the picture, loaded',
    async () => assert.ok((await img.evaluate((el) => el.complete && el.naturalWidth)) > 0),
    15_000,
  );
  await expectText(B.locator('.messages li.msg button.file'), 'notes.txt', 'Bea sees the file');
  await expectText(B.locator('.conv-list'), /\[(file|image)\]/);
  await screenshot(B, '15-chat-attachments');
});

step('notifications inbox and badge', async () => {
  await expectText(B.locator('[data-badge="notifications"]'), /\d/, 'Bea has unread notifications');
  await nav(B, 'notifications').click();
  await expectText(B.locator('.inbox'), 'Ada wants to be your friend');
  await expectText(B.locator('.inbox'), `Ada added you to “${groupName}”`);
  await screenshot(B, '16-notifications');
  await B.getByRole('button', { name: 'Mark all as read' }).click();
  await expectHidden(B.locator('[data-badge="notifications"]'), 'the badge clears');
});

step('moments: post, see it on the friend’s timeline, like it', async () => {
  await nav(A, 'moments').click();
  await A.getByLabel('What’s new?').fill(`First moment ${RUN}`);
  await A.getByRole('button', { name: 'Post', exact: true }).click();
  await expectText(A.locator('.moments'), `First moment ${RUN}`);
  await expectVisible(B.locator('[data-badge="moments"]'), 'Bea gets the new-post dot');
  await nav(B, 'moments').click();
  const m = B.locator('.moment', { hasText: `First moment ${RUN}` });
  await m.getByRole('button', { name: 'Like', exact: true }).click();
  await expectText(m.locator('.likes'), 'Bea');
  await m.getByLabel('Comment on Ada’s moment').fill('Lovely');
  await m.getByRole('button', { name: 'Comment', exact: true }).click();
  await expectText(m.locator('.comments'), 'Bea: Lovely');
  await screenshot(B, '17-moments');
});

step('narrow screens: the list and the chat take turns', async () => {
  await B.setViewportSize({ width: 390, height: 760 });
  await nav(B, 'chats').click();
  await expectVisible(convItem(B, 'Ada'), 'the list fills the screen');
  await screenshot(B, '18-narrow-list');
  await convItem(B, 'Ada').click();
  await expectVisible(B.locator('#chat-heading'), 'the chat fills the screen');
  assert.ok(!(await convItem(B, 'Ada').isVisible()), 'the list is out of the way');
  await expectVisible(B.locator('.chat-head .back'), 'a way back to the list');
  await screenshot(B, '19-narrow-chat');
  await B.locator('.chat-head .back').click();
  await expectVisible(convItem(B, 'Ada'), 'back to the list');
  await B.setViewportSize({ width: 1100, height: 760 });
});

step('profile page and signing out', async () => {
  await nav(A, 'me').click();
  await expectText(A.locator('.username'), ada.username);
  await screenshot(A, '20-me');
  await A.getByRole('button', { name: 'Sign out' }).click();
  await expectText(A.locator('h1'), 'Sign in to Beaver');
  assert.equal(await A.evaluate(() => localStorage.getItem('beaver.session')), null, 'the tokens are gone');
});

step('no uncaught errors or CSP violations on either page', async () => {
  assert.deepEqual(problems, []);
});

step('the API reference page renders every operation of the contract', async () => {
  const doc = await (await fetch(`${BASE}/api/openapi.json`)).json();
  const operations = Object.values(doc.paths).flatMap((item) => Object.keys(item).filter((m) => ['get', 'put', 'post', 'delete', 'patch'].includes(m)));
  const page = await A.context().newPage();
  const pageProblems = [];
  page.on('pageerror', (e) => pageProblems.push(`uncaught ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) pageProblems.push(m.text());
  });
  page.on('request', (r) => {
    if (!r.url().startsWith(BASE) && !r.url().startsWith('data:')) pageProblems.push(`a request off the origin: ${r.url()}`);
  });
  await page.goto(`${BASE}/api/docs/`);
  await expectText(page.locator('.info .title'), /Beaver/, 'the document title', 20_000);
  await eventually('every operation listed', async () => assert.equal(await page.locator('.opblock').count(), operations.length), 20_000);
  await expectVisible(page.locator('.opblock-summary-path', { hasText: '/api/chat/send' }).first(), 'the send operation');
  await screenshot(page, '21-api-reference');
  await page.close();
  assert.deepEqual(pageProblems, []);
});
