// Notes and sections, keyed by id: a note's element is made once and then
// updated in place, so an edit elsewhere never replaces the note someone is
// typing in (nor moves their caret).
import { h, $ } from './dom.js';
import { app, sectionInfo, note as noteById } from './state.js';
import { act } from './socket.js';
import { HINTS, EMPTY, STATUS, STATUSES } from './words.js';

/** Set by the modules that own these actions (editor, thread, move). */
export const actions = { edit() {}, tags() {}, thread() {}, evidence() {}, move() {}, add() {}, dropTarget() {} };

function matchesFilters(n) {
  const f = app.filters;
  return (!f.tag || n.tags.includes(f.tag)) && (!f.status || n.status === f.status) && (!f.author || n.author === f.author);
}

/** How a note differs from the highlighted earlier point: 'new', 'changed' or ''. */
function changeSince(n) {
  if (!app.highlight) return '';
  const before = app.highlight.board.notes.find((b) => b.id === n.id);
  if (!before || before.trashed) return 'new';
  const same = before.text === n.text && before.status === n.status && before.section === n.section
    && before.tags.join() === n.tags.join() && before.votes.length === n.votes.length
    && before.comments.length === n.comments.length;
  return same ? '' : 'changed';
}

/** Everything a note's element shows, as one string: equal strings, nothing to redraw. */
export function signature(n) {
  return JSON.stringify([n.text, n.status, n.tags, n.author, n.votes, n.comments.map((c) => c.resolved), n.conflicts,
    n.evidence, changeSince(n), matchesFilters(n), app.me.name]);
}

const count = (n, one, many) => `${n} ${n === 1 ? one : many}`;

/** A new note element; `readOnly` for the past (history), without actions. */
export function createNote(n, readOnly) {
  const text = h('div', { class: 'note-text', id: `nt-${n.id}` });
  const el = h('article', {
    class: 'note', 'data-note-id': n.id,
    'aria-labelledby': `nt-${n.id}`, 'aria-describedby': `nf-${n.id}${readOnly ? '' : ' note-keys'}`,
  }, text,
  h('div', { class: 'note-tags' }),
  h('div', { class: 'note-conflicts' }),
  h('footer', { class: 'note-foot', id: `nf-${n.id}` },
    h('span', { class: 'status-mark' }, h('span', { class: 'mark', 'aria-hidden': 'true' }), h('span', { class: 'status-label' })),
    h('span', { class: 'author' }),
    h('span', { class: 'counts' }),
    h('button', { type: 'button', class: 'evidence', 'data-evidence': '', 'data-action': 'evidence', tabindex: '-1' })));
  if (!readOnly) {
    el.tabIndex = 0;
    el.draggable = true;
    el.append(h('div', { class: 'note-actions', role: 'toolbar', 'aria-label': 'Note actions' },
      h('button', { type: 'button', class: 'vote', 'data-action': 'vote', tabindex: '-1' }),
      h('button', { type: 'button', class: 'comments', 'data-action': 'comments', tabindex: '-1' }),
      h('select', { class: 'status-select', 'data-action': 'status', 'aria-label': 'Status', tabindex: '-1' },
        STATUSES.map((s) => h('option', { value: s }, s))),
      h('button', { type: 'button', class: 'tag-btn', 'data-action': 'tags', tabindex: '-1' }, 'Tags'),
      h('button', { type: 'button', class: 'move-btn', 'data-action': 'move', tabindex: '-1', 'aria-haspopup': 'menu' }, 'Move to…'),
      h('button', { type: 'button', class: 'trash-btn', 'data-action': 'trash', tabindex: '-1' }, 'Trash')));
    wire(el);
  }
  updateNote(el, n, readOnly);
  return el;
}

function wire(el) {
  const id = () => el.dataset.noteId;
  el.addEventListener('click', (e) => {
    const button = e.target.closest('button[data-action]');
    if (!button || !el.contains(button)) return;
    const n = noteById(id());
    if (!n) return;
    const action = button.dataset.action;
    if (action === 'vote') act('vote', { note: n.id, on: !n.votes.includes(app.me.name) });
    else if (action === 'comments') actions.thread(n.id);
    else if (action === 'evidence') actions.evidence(n.id);
    else if (action === 'tags') actions.tags(el, n);
    else if (action === 'move') actions.move(el, button);
    else if (action === 'trash') act('trash', { note: n.id });
  });
  $('select', el).addEventListener('change', (e) => act('mark', { note: id(), status: e.target.value }));
  el.addEventListener('dblclick', (e) => { if (!e.target.closest('button, select, input, .note-actions')) actions.edit(id()); });
  el.addEventListener('dragstart', (e) => {
    if (app.editor) { e.preventDefault(); return; }
    e.dataTransfer.setData('text/x-gapmap-note', id());
    e.dataTransfer.effectAllowed = 'move';
    el.classList.add('dragging');
  });
  el.addEventListener('dragend', () => el.classList.remove('dragging'));
  el.addEventListener('focus', () => { app.focusId = id(); });
}

/** Brings a note's element up to date; the text of a note being edited here is left alone. */
export function updateNote(el, n, readOnly) {
  const editing = app.editor && app.editor.kind === 'edit' && app.editor.note === n.id;
  const text = el.firstElementChild;
  if (!editing && text.textContent !== n.text) text.textContent = n.text;
  const change = readOnly ? '' : changeSince(n);
  el.className = `note status-${n.status}${change ? ` since-${change}` : ''}${!readOnly && !matchesFilters(n) ? ' filtered-out' : ''}${editing ? ' editing' : ''}`;
  el.dataset.status = n.status;
  const status = STATUS[n.status] || STATUS.hypothesis;
  const foot = el.querySelector('.note-foot');
  foot.querySelector('.mark').textContent = status.mark;
  foot.querySelector('.status-label').textContent = status.label;
  foot.querySelector('.author').textContent = n.author || '?';
  const votes = n.votes.length;
  const open = n.comments.filter((c) => !c.resolved).length;
  foot.querySelector('.counts').textContent = [votes ? count(votes, 'vote', 'votes') : '', n.comments.length ? count(n.comments.length, 'comment', 'comments') + (open ? ` (${open} open)` : '') : ''].filter(Boolean).join(' · ');
  const ev = foot.querySelector('.evidence');
  const supports = (n.evidence && n.evidence.supports) || 0;
  const contradicts = (n.evidence && n.evidence.contradicts) || 0;
  ev.dataset.supports = String(supports);
  ev.dataset.contradicts = String(contradicts);
  ev.hidden = !supports && !contradicts;
  const people = (n.evidence && n.evidence.interviewees.length) || 0;
  ev.dataset.interviewees = String(people);
  // The CLI's words (`+2 −1 · 2 interviewees`), spelt out for a screen reader.
  ev.replaceChildren(h('span', { class: 'visually-hidden' }, 'Evidence: '),
    `+${supports} −${contradicts} · ${people} ${people === 1 ? 'interviewee' : 'interviewees'}`,
    h('span', { class: 'visually-hidden' }, ` (${supports} supporting, ${contradicts} contradicting)`));
  ev.title = 'Open the findings behind this note';
  const tags = el.querySelector('.note-tags');
  tags.replaceChildren(...n.tags.map((t) => h('span', { class: 'tag', 'data-tag': t }, `#${t}`)));
  const conflicts = el.querySelector('.note-conflicts');
  conflicts.replaceChildren(...Object.entries(n.conflicts || {}).map(([field, values]) => h('div', { class: 'conflict', 'data-conflict': field },
    `Conflict: ${field} is `, values.join(' or '), readOnly ? null : ' — keep ',
    readOnly ? null : values.map((v) => h('button', {
      type: 'button', class: 'pick', 'data-value': v,
      onclick: () => (field === 'status' ? act('mark', { note: n.id, status: v }) : act('move', { note: n.id, section: v })),
    }, v)))));
  const old = el.querySelector('.since-label');
  if (old) old.remove();
  if (change) el.append(h('div', { class: 'since-label' }, change));
  if (readOnly) return;
  const mine = n.votes.includes(app.me.name);
  const vote = el.querySelector('.vote');
  vote.classList.toggle('voted', mine);
  vote.setAttribute('aria-pressed', String(mine));
  vote.textContent = `▲ Vote${votes ? ` ${votes}` : ''}`;
  vote.title = mine ? 'Take back your vote' : 'Dot-vote for this note';
  el.querySelector('.comments').textContent = `Comments${n.comments.length ? ` ${n.comments.length}` : ''}`;
  const select = el.querySelector('select');
  if (select.value !== n.status && document.activeElement !== select) select.value = n.status;
}

/** A section: heading, count, add button, hint, its empty state and the list its notes go in. */
export function createSection(id, readOnly) {
  const info = sectionInfo(id);
  const list = h('div', { class: 'notes' });
  const el = h('section', { class: `section section-${id}`, 'data-section': id, 'aria-labelledby': `sh-${id}${readOnly ? '-past' : ''}` },
    h('header', { class: 'section-head' },
      h('h2', { id: `sh-${id}${readOnly ? '-past' : ''}` }, info.title),
      h('span', { class: 'count' }, '0'),
      readOnly ? null : h('button', { type: 'button', class: 'add', 'aria-label': `Add a note to ${info.title}`, title: `New note in ${info.title} (n)`, onclick: () => actions.add(id) }, '+')),
    HINTS[id] ? h('p', { class: 'hint' }, HINTS[id]) : null,
    EMPTY[id] && !readOnly ? h('p', { class: 'empty-state' }, EMPTY[id]) : null,
    list);
  if (!readOnly) actions.dropTarget(list, id);
  return { el, list, count: $('.count', el) };
}

/**
 * Puts `els` into `list` in order, moving as few elements as possible and
 * never the ones already in place; anything else in the list (the new-note
 * editor, a drop marker) stays after them.
 */
export function order(list, els) {
  let ref = list.firstElementChild;
  for (const el of els) {
    while (ref && !ref.dataset.noteId && ref.classList.contains('drop-marker')) ref = ref.nextElementSibling;
    if (ref === el) { ref = el.nextElementSibling; continue; }
    list.insertBefore(el, ref);
  }
}

/** Fills sections with the notes of `board`: keyed by note id in `cache` (id -> { el, sig }). */
export function fill(sections, board, cache, readOnly) {
  const bySection = new Map();
  for (const n of board.notes) {
    if (n.trashed) continue;
    if (!bySection.has(n.section)) bySection.set(n.section, []);
    bySection.get(n.section).push(n);
  }
  const seen = new Set();
  for (const [id, sec] of sections) {
    const notes = bySection.get(id) || [];
    const els = notes.map((n) => {
      seen.add(n.id);
      const sig = signature(n);
      let entry = cache.get(n.id);
      if (!entry) {
        entry = { el: createNote(n, readOnly), sig };
        cache.set(n.id, entry);
      } else if (entry.sig !== sig) {
        updateNote(entry.el, n, readOnly);
        entry.sig = sig;
      }
      return entry.el;
    });
    order(sec.list, els);
    sec.count.textContent = String(notes.length);
    sec.el.classList.toggle('is-empty', notes.length === 0);
  }
  for (const [id, entry] of cache) {
    if (!seen.has(id)) { entry.el.remove(); cache.delete(id); }
  }
}
