// The gapmap board: plain JavaScript modules, no build step, no
// dependencies. The page holds no canvas logic: it shows what the server
// sends over its websocket (/api/ws) and sends small JSON requests for every
// change. The modules, by concern:
//   js/state.js   what the page knows       js/socket.js  the websocket
//   js/views.js   layouts, keyed updates    js/notes.js   a note, a section
//   js/editor.js  typing                    js/move.js    Move to…, drag and drop
//   js/keys.js    the keyboard              js/thread.js  comments
//   js/live.js    announcing remote changes js/words.js   the method's words
//   js/evidence.js a note's evidence         js/interviews.js  interviews, findings
//   js/review.js  the review's suggestions
import { h, $, $$, setCaret } from './js/dom.js';
import { app, hooks } from './js/state.js';
import { connect, send } from './js/socket.js';
import { actions } from './js/notes.js';
import { render, update } from './js/views.js';
import { startEdit, startAdd, finishEdit, editTitle, editName, editTags } from './js/editor.js';
import { openMove, dropTarget, closeMove } from './js/move.js';
import { openThread, renderThread } from './js/thread.js';
import { openEvidence, renderEvidence } from './js/evidence.js';
import { onKey } from './js/keys.js';
import { noteChanges } from './js/live.js';

let messageTimer = null;
function showMessage(text) {
  const m = $('#message');
  m.textContent = text;
  m.hidden = false;
  clearTimeout(messageTimer);
  messageTimer = setTimeout(() => { m.hidden = true; }, 8000);
}

function renderMe() {
  const b = $('#me');
  b.textContent = app.me.name || 'you';
  b.style.borderColor = app.me.color;
  b.title = 'Your name on this board: click to change';
  b.setAttribute('aria-label', `Your name: ${app.me.name || 'not set'}. Change it`);
}

function renderPeople() {
  $('#people').replaceChildren(...app.people.map((p) => h('li', {
    class: `person${p.here ? ' here' : ' remote'}`, 'data-person': p.name, 'data-session': p.id,
    style: `--color: ${p.color}`, title: `${p.name}${p.here ? ' (on this machine)' : ' (through a peer)'}${p.editing ? ', editing a note' : ''}`,
  }, h('span', { class: 'dot', 'aria-hidden': 'true' }), h('span', { class: 'person-name' }, p.name))));
  decoratePresence();
}

/** Marks the notes other people are editing. */
function decoratePresence() {
  for (const old of $$('.editing-by')) old.remove();
  for (const el of $$('.note.being-edited')) { el.classList.remove('being-edited'); el.style.removeProperty('--editor'); }
  for (const p of app.people) {
    if (!p.editing) continue;
    const el = document.querySelector(`#board [data-note-id="${CSS.escape(p.editing)}"]`);
    if (!el) continue;
    el.classList.add('being-edited');
    el.style.setProperty('--editor', p.color);
    el.append(h('div', { class: 'editing-by', 'data-editor': p.name, style: `--color: ${p.color}` }, `${p.name} is editing`));
  }
}

function receive(msg) {
  switch (msg.type) {
    case 'hello':
      app.session = msg.session;
      app.sections = msg.sections;
      app.limits = msg.limits;
      if (app.me.name && app.me.name !== msg.name) {
        send('hello', { name: app.me.name }).then((r) => { app.me = r.result; renderMe(); update(); }).catch(() => {});
      } else {
        app.me = { name: msg.name, color: msg.color };
      }
      renderMe();
      break;
    case 'board': {
      const first = !app.board;
      noteChanges(app.board, msg.board);
      app.board = msg.board;
      app.byId = new Map(msg.board.notes.map((n) => [n.id, n]));
      if (first) render(); else update();
      if (app.view === 'review') send('review').catch(() => {});
      break;
    }
    case 'review':
      app.review = msg.review;
      if (app.view === 'review') update();
      break;
    case 'presence':
      app.people = msg.people.filter((p) => p.id !== app.session);
      renderPeople();
      break;
    case 'history':
      app.history = msg.history;
      if (app.view === 'history') update();
      break;
    case 'snapshot':
      app.snapshot = msg.board;
      if (app.view === 'history') update();
      break;
    case 'error':
      showMessage(msg.message);
      break;
    default:
  }
}

function setView(view) {
  if (app.editor) finishEdit(true);
  closeMove(false);
  app.view = view;
  for (const b of $$('[role=tab]')) {
    const on = b.dataset.view === view;
    b.classList.toggle('active', on);
    b.setAttribute('aria-selected', String(on));
    b.tabIndex = on ? 0 : -1;
  }
  if (view === 'review') {
    app.review = null;
    send('review').catch(() => {});
  }
  if (view === 'history') {
    app.snapshot = null;
    send('history').then((m) => {
      const n = m.history.changes.length;
      app.historyPoint = n;
      if (n) send('at', { count: n }).catch(() => {});
    }).catch(() => {});
  }
  render();
}

Object.assign(hooks, {
  message: showMessage, view: setView, setCaret, decorate: decoratePresence, thread: renderThread, evidence: renderEvidence, me: renderMe,
});
Object.assign(actions, {
  edit: startEdit, add: startAdd, tags: editTags, thread: openThread, evidence: openEvidence, move: openMove, dropTarget,
});

function init() {
  for (const b of $$('[role=tab]')) b.addEventListener('click', () => setView(b.dataset.view));
  for (const [key, id] of [['tag', 'filter-tag'], ['status', 'filter-status'], ['author', 'filter-author']]) {
    $(`#${id}`).addEventListener('change', (e) => { app.filters[key] = e.target.value; update(); });
  }
  for (const format of ['md', 'json', 'svg', 'png']) {
    $(`#export-${format}`).href = `/c/${encodeURIComponent(app.canvasId)}/export/${format}`;
  }
  $('#print').addEventListener('click', () => window.print());
  $('#title').addEventListener('dblclick', editTitle);
  $('#title').addEventListener('keydown', (e) => { if (e.key === 'Enter' && !app.editor) { e.preventDefault(); editTitle(); } });
  $('#me').addEventListener('click', editName);
  document.addEventListener('keydown', onKey);
  // A touch screen: no keyboard legend; a tapped note shows its actions in the flow.
  if (navigator.maxTouchPoints > 0 || matchMedia('(pointer: coarse)').matches) document.body.classList.add('touch');
  renderMe();
  connect(receive);
}

init();
