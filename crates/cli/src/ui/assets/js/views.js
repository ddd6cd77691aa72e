// The views: the progress canvas (framed by the job statement and the
// customer), the other frameworks' grids, the job form, the trash and the
// history. `render` lays a view out; `update` brings it up to date in place.
import { h, $, $$, isoTime } from './dom.js';
import { app, hooks, sectionInfo } from './state.js';
import { send, act } from './socket.js';
import { VIEWS, NOTE_VIEWS } from './words.js';
import { createSection, fill } from './notes.js';
import { interviewsView, updateInterviews } from './interviews.js';
import { reviewView } from './review.js';

/** The laid-out view: its sections (id -> { el, list, count }) and its notes (id -> { el, sig }). */
let laid = null;
let updates = 0;

/** The progress canvas: NOW, the GAP (constraints, catalysts), TO BE, and the design beneath. */
function progressLayout(make) {
  return h('div', { class: 'progress' },
    h('div', { class: 'progress-row' },
      h('div', { class: 'col col-now' }, make('now')),
      h('div', { class: 'col col-gap' }, h('div', { class: 'gap-label', 'aria-hidden': 'true' }, 'GAP'), make('constraint'), make('catalyst')),
      h('div', { class: 'col col-tobe' }, make('to-be'))),
    h('div', { class: 'design-row' }, make('design')));
}

function gridLayout(view, make) {
  const grid = h('div', { class: `grid grid-${view}` },
    VIEWS[view].map((row) => h('div', { class: 'grid-row' }, row.map(make))));
  if (view !== 'forces') return grid;
  return h('div', { class: 'forces' },
    h('p', { class: 'axis axis-top' }, 'Progress-making forces: push and pull'),
    grid,
    h('p', { class: 'axis axis-bottom' }, 'Progress-hindering forces: anxiety and inertia'));
}

/** Sections of `view` for `board`, with their notes. */
function sectionsOf(view, readOnly) {
  const sections = new Map();
  const make = (id) => {
    const s = createSection(id, readOnly);
    sections.set(id, s);
    return s.el;
  };
  const root = view === 'canvas' ? progressLayout(make) : gridLayout(view, make);
  return { root, sections };
}

/** The frame of the canvas: the job statement, the customer, and progress from NOW to TO BE. */
function frame(board) {
  const job = board.job;
  const live = board.notes.filter((n) => !n.trashed);
  const inSection = (id) => live.filter((n) => n.section === id);
  const validated = (ns) => ns.filter((n) => n.status === 'validated').length;
  const stage = (label, ids, cls) => {
    const ns = ids.flatMap(inSection);
    return h('li', { class: `stage ${cls}` }, h('strong', {}, label),
      h('span', {}, `${ns.length} ${ns.length === 1 ? 'note' : 'notes'}`), h('span', {}, `${validated(ns)} validated`));
  };
  const part = (v) => (v ? h('em', {}, v) : h('em', { class: 'blank' }, '…'));
  const hasJob = job.situation || job.motivation || job.outcome;
  return h('div', { class: 'frame' },
    h('section', { class: 'frame-job', 'aria-label': 'Job statement' },
      h('p', { class: 'sentence' }, 'When ', part(job.situation), ', I want to ', part(job.motivation), ', so I can ', part(job.outcome), '.'),
      h('p', { class: 'frame-customer' }, h('span', { class: 'frame-label' }, 'Customer: '),
        board.customer.type || board.customer.description
          ? `${board.customer.type}${board.customer.type && board.customer.description ? ' — ' : ''}${board.customer.description}`
          : 'not described yet'),
      h('button', { type: 'button', class: 'frame-edit', onclick: () => hooks.view('job') }, hasJob ? 'Edit job & customer' : 'Start here: write the job statement')),
    h('ol', { class: 'journey', 'aria-label': 'Progress from NOW to TO BE' },
      stage('NOW', ['now'], 'stage-now'),
      stage('GAP', ['constraint', 'catalyst'], 'stage-gap'),
      stage('TO BE', ['to-be'], 'stage-tobe'),
      stage('DESIGN', ['design'], 'stage-design')));
}

function jobView(board) {
  const job = board.job;
  const field = (label, value, save, multiline) => {
    const input = multiline
      ? h('textarea', { rows: '2', maxlength: String(app.limits ? app.limits.text : 4000) })
      : h('input', { maxlength: '200' });
    input.value = value;
    input.dataset.base = value;
    const commit = () => { if (input.value !== input.dataset.base) save(input.value).catch(() => {}); };
    input.addEventListener('blur', commit);
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); commit(); input.blur(); }
      if (e.key === 'Escape') { input.value = input.dataset.base; input.blur(); }
    });
    return h('label', { class: 'field' }, h('span', {}, label), input);
  };
  return h('div', { class: 'job-view' },
    h('section', { class: 'job-statement', 'data-part': 'job', 'aria-labelledby': 'job-h' },
      h('h2', { id: 'job-h' }, 'Job statement'),
      h('p', { class: 'hint' }, 'The job never changes; its context does. Say it in the customer’s words.'),
      h('p', { class: 'sentence' }, 'When ', h('em', {}, job.situation || '…'), ', I want to ', h('em', {}, job.motivation || '…'), ', so I can ', h('em', {}, job.outcome || '…'), '.'),
      field('Situation (when…)', job.situation, (v) => send('job', { situation: v }), true),
      field('Motivation (I want to…)', job.motivation, (v) => send('job', { motivation: v }), true),
      field('Expected outcome (so I can…)', job.outcome, (v) => send('job', { outcome: v }), true)),
    h('section', { class: 'customer', 'data-part': 'customer', 'aria-labelledby': 'customer-h' },
      h('h2', { id: 'customer-h' }, 'Customer'),
      field('Type (user, buyer, support, …)', board.customer.type, (v) => send('customer', { type: v }), false),
      field('Who they are', board.customer.description, (v) => send('customer', { description: v }), true)));
}

function trashView(board) {
  const trashed = board.notes.filter((n) => n.trashed);
  return h('div', { class: 'trash-view' },
    h('h2', {}, 'Trash'),
    trashed.length ? h('p', { class: 'hint' }, 'Nothing is lost: restore a note to put it back where it was.') : h('p', { class: 'empty' }, 'The trash is empty.'),
    trashed.length ? h('ul', { class: 'trash-list' }, trashed.map((n) => h('li', { class: 'trashed', 'data-note-id': n.id },
      h('span', { class: 'trashed-section' }, sectionInfo(n.section).title),
      h('span', { class: 'trashed-text' }, n.text),
      h('button', { type: 'button', class: 'restore', 'aria-label': `Restore: ${n.text.slice(0, 60)}`, onclick: () => act('restore', { note: n.id }) }, 'Restore')))) : null);
}

function snapshotOf(past) {
  const wrap = h('div', { class: 'snapshot', 'data-readonly': 'true' }, h('h2', {}, past.title));
  for (const view of NOTE_VIEWS) {
    const { root, sections } = sectionsOf(view, true);
    fill(sections, past, new Map(), true);
    wrap.append(root);
  }
  return wrap;
}

function historyView() {
  const wrap = h('div', { class: 'history-view' });
  if (!app.history) {
    wrap.append(h('p', { class: 'loading' }, 'Reading the history…'));
    return wrap;
  }
  const changes = app.history.changes;
  const point = app.historyPoint || changes.length;
  const slider = h('input', { type: 'range', min: '1', max: String(changes.length), value: String(point), class: 'history-slider', 'aria-label': 'Point in history' });
  let timer = null;
  slider.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => showPoint({ count: Number(slider.value) }), 120);
  });
  const change = changes[point - 1];
  const rounds = app.history.rounds.filter((r) => r.index !== null);
  wrap.append(
    h('div', { class: 'history-controls' },
      h('label', {}, 'Change ', h('strong', { class: 'history-index' }, `${point} of ${changes.length}`), ' ', slider),
      change ? h('p', { class: 'history-change' }, h('time', { datetime: new Date(change.time).toISOString() }, isoTime(change.time)), ` · ${change.author}: ${change.message}`) : null,
      rounds.length ? h('div', { class: 'rounds' }, 'Rounds: ', rounds.map((r) => h('button', {
        type: 'button', class: 'round', 'data-round': r.id, onclick: () => showPoint({ round: r.id, count: r.index + 1 }),
      }, r.label))) : h('p', { class: 'hint' }, 'No research rounds yet (gapmap round start LABEL).'),
      h('button', { type: 'button', class: 'highlight', onclick: highlightSince }, 'Highlight what changed since this point'),
      roundForm(),
      h('span', { class: 'readonly-note' }, 'Read-only: the canvas as it was.')));
  if (app.snapshot) wrap.append(snapshotOf(app.snapshot));
  return wrap;
}

let roundFields = 0;

/** Starts a research round here (as `gapmap round start LABEL --focus S…`): a label and the sections it is about. */
function roundForm() {
  roundFields += 1;
  const id = `round-label-${roundFields}`;
  const label = h('input', { id, maxlength: '200', autocomplete: 'off' });
  const focus = app.sections.map((s) => h('label', { class: 'focus-choice' }, h('input', { type: 'checkbox', value: s.id }), ` ${s.title}`));
  const form = h('form', { class: 'round-form', 'aria-label': 'Start a round' },
    h('div', { class: 'field' }, h('label', { for: id }, 'Round label'), label),
    h('details', {}, h('summary', {}, 'Focus (optional): the sections this round is about'), h('div', { class: 'focus-list' }, focus)),
    h('button', { type: 'submit' }, 'Start round'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const picked = focus.map((l) => l.firstChild).filter((c) => c.checked).map((c) => c.value);
    send('round-start', { label: label.value, focus: picked }).then(() => {
      label.value = '';
      return send('history');
    }).then(() => update()).catch(() => {});
  });
  return form;
}

export function showPoint(point) {
  app.historyPoint = point.count;
  act('at', point.round ? { round: point.round } : { count: point.count });
}

function highlightSince() {
  if (!app.snapshot || !app.history) return;
  const point = app.historyPoint || app.history.changes.length;
  app.highlight = { label: `change ${point}`, board: app.snapshot };
  hooks.view('canvas');
}

/** Lays out the current view anew (on a change of view, or for the views that are forms and lists). */
export function render() {
  const main = $('#board');
  if (!app.board) return;
  main.dataset.view = app.view;
  main.setAttribute('aria-labelledby', `tab-${app.view}`);
  if (NOTE_VIEWS.has(app.view)) {
    const { root, sections } = sectionsOf(app.view, false);
    const top = app.view === 'canvas' ? h('div', { class: 'frame-slot' }) : null;
    laid = { view: app.view, sections, notes: new Map(), top, frameSig: '' };
    main.replaceChildren(...[top, root].filter(Boolean));
  } else {
    laid = null;
    if (app.view === 'interviews') main.replaceChildren(interviewsView());
  }
  update();
}

/** Brings what is shown up to date with `app.board`, touching only what changed. */
export function update() {
  const main = $('#board');
  if (!app.board) return;
  document.title = `${app.board.title} · gapmap`;
  if (!(app.editor && app.editor.kind === 'title')) $('#title').textContent = app.board.title;
  const trashed = app.board.notes.filter((n) => n.trashed).length;
  $('#trash-count').textContent = trashed ? `(${trashed})` : '';
  renderFilters();
  renderBanner();
  if (laid && laid.view === app.view) {
    // What has the focus (and where its caret is) survives even when its note moves.
    const active = document.activeElement;
    const text = active && active.isContentEditable ? active : null;
    const caret = text ? caretOf(text) : null;
    fill(laid.sections, app.board, laid.notes, false);
    if (laid.top) {
      const sig = JSON.stringify([app.board.job, app.board.customer, app.board.notes.map((n) => [n.section, n.status, n.trashed])]);
      if (sig !== laid.frameSig) { laid.top.replaceChildren(frame(app.board)); laid.frameSig = sig; }
    }
    if (active && active !== document.activeElement && active.isConnected) {
      active.focus({ preventScroll: true });
      if (text && caret !== null) hooks.setCaret(text, caret);
    }
  } else if (app.view === 'interviews') {
    updateInterviews();
  } else if (!NOTE_VIEWS.has(app.view)) {
    const active = document.activeElement;
    // Keep a field of the job view (or the round form) that has the focus as it is.
    const typing = active && main.contains(active) && (active.tagName === 'TEXTAREA' || active.tagName === 'INPUT');
    if (!(typing && (app.view === 'job' || active.closest('.round-form')))) {
      const focusedRestore = active && main.contains(active) && active.classList.contains('restore');
      main.replaceChildren(app.view === 'job' ? jobView(app.board) : app.view === 'trash' ? trashView(app.board) : app.view === 'review' ? reviewView() : historyView());
      if (focusedRestore) { const next = $('.restore', main) || $('#tab-trash'); if (next) next.focus(); }
    }
  } else {
    render();
    return;
  }
  hooks.decorate();
  hooks.thread();
  hooks.evidence();
  updates += 1;
  document.body.dataset.renders = String(updates);
  document.body.dataset.updateMs = (performance.now() - app.arrivedAt).toFixed(1);
  document.body.dataset.ready = 'true';
}

function caretOf(node) {
  const sel = window.getSelection();
  if (!sel.rangeCount || !node.contains(sel.getRangeAt(0).endContainer)) return null;
  const range = sel.getRangeAt(0).cloneRange();
  range.selectNodeContents(node);
  range.setEnd(sel.getRangeAt(0).endContainer, sel.getRangeAt(0).endOffset);
  return range.toString().length;
}

function renderBanner() {
  const banner = $('#banner');
  banner.hidden = !app.highlight;
  banner.replaceChildren();
  if (app.highlight) {
    banner.append(`Highlighting what changed since ${app.highlight.label}. `,
      h('button', { type: 'button', onclick: () => { app.highlight = null; update(); } }, 'Clear'));
  }
}

function renderFilters() {
  const notes = app.board.notes.filter((n) => !n.trashed);
  const fill1 = (select, values, current) => {
    const have = Array.from(select.options).slice(1).map((o) => o.value);
    if (have.join('\n') === values.join('\n')) return;
    select.replaceChildren(h('option', { value: '' }, 'all'), ...values.map((v) => h('option', { value: v }, v)));
    select.value = current;
  };
  fill1($('#filter-tag'), [...new Set(notes.flatMap((n) => n.tags))].sort(), app.filters.tag);
  fill1($('#filter-author'), [...new Set(notes.map((n) => n.author).filter(Boolean))].sort(), app.filters.author);
}

/** The visible sections, in reading order. */
export const visibleSections = () => $$('#board [data-section]');

export function noteElement(id) {
  return laid && laid.notes.has(id) ? laid.notes.get(id).el : null;
}

export function sectionList(id) {
  return laid && laid.sections.has(id) ? laid.sections.get(id).list : null;
}

/** Forgets a note's drawn state so the next update redraws it (after its editor closes). */
export function invalidate(id) {
  if (laid && laid.notes.has(id)) laid.notes.get(id).sig = '';
}
