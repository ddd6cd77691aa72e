// The gapmap board: plain JavaScript, no build step, no dependencies.
//
// The page holds no canvas logic: it renders what the server sends over
// its websocket (/api/ws) and sends small JSON requests for every change.
// Text from the document is only ever put into the page as text
// (textContent, never innerHTML), so markup in a note is shown, not run.
'use strict';

(() => {
  const canvasId = document.querySelector('meta[name="gapmap-canvas"]').content;
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

  /** An element: props are attributes (data-*, aria-*, class…) or on* handlers; children are nodes or text. */
  function h(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else if (key === 'class') node.className = value;
      else if (key === 'style') node.style.cssText = value;
      else if (value === true) node.setAttribute(key, '');
      else node.setAttribute(key, String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const STATUSES = ['hypothesis', 'validated', 'invalidated'];
  const VIEWS = {
    canvas: null, // laid out by progressLayout
    forces: [['push', 'pull'], ['anxiety', 'inertia']],
    jobmap: [['define', 'locate', 'prepare', 'confirm', 'execute', 'monitor', 'modify', 'conclude']],
    outcomes: [['goal', 'hazard', 'problem']],
    jpg: [['job', 'pain', 'gain']],
  };
  const HINTS = {
    now: 'What the customer does today, observably',
    'to-be': 'The more desired state they want to reach',
    constraint: 'What holds them back',
    catalyst: 'What would make progress smooth',
    design: 'What fills the gap',
    push: 'Problems of the current situation',
    pull: 'The attraction of the new solution',
    anxiety: 'Fears about the new solution',
    inertia: 'Habits of the present',
  };

  const app = {
    ws: null,
    session: null,
    me: { name: localStorage.getItem('gapmap-name') || '', color: '#888' },
    sections: [],
    board: null,
    people: [],
    view: 'canvas',
    editor: null, // { kind: 'edit'|'add', note, section, base, el, text }
    focusId: null,
    filters: { tag: '', status: '', author: '' },
    highlight: null, // { label, board } to compare the live board with
    history: null,
    snapshot: null,
    historyPoint: null,
    thread: null,
    tagEditor: null,
    moving: false,
    nextRef: 1,
    pending: new Map(),
    retry: 500,
    renders: 0,
  };
  window.gapmapBoard = app; // for people poking around in the console

  // ---- connection ------------------------------------------------------

  function connect() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${proto}//${location.host}/api/ws?canvas=${encodeURIComponent(canvasId)}`);
    app.ws = ws;
    setStatus('connecting…', 'connecting');
    ws.onopen = () => {
      app.retry = 500;
      setStatus('live', 'live');
    };
    ws.onmessage = (event) => {
      let msg;
      try { msg = JSON.parse(event.data); } catch { return; }
      receive(msg);
    };
    ws.onclose = () => {
      setStatus('offline: reconnecting…', 'offline');
      for (const [, p] of app.pending) p.reject(new Error('disconnected'));
      app.pending.clear();
      setTimeout(connect, app.retry);
      app.retry = Math.min(app.retry * 2, 5000);
    };
  }

  function setStatus(text, kind) {
    const s = $('#status');
    s.textContent = text;
    s.className = `conn ${kind}`;
    document.body.dataset.connection = kind;
  }

  /** Sends a request; resolves with the answer, rejects (and shows) an error. */
  function send(op, fields) {
    const ref = app.nextRef++;
    const message = Object.assign({ op, ref }, fields || {});
    return new Promise((resolve, reject) => {
      if (!app.ws || app.ws.readyState !== WebSocket.OPEN) {
        showMessage('Not connected: the change was not made. Reconnecting…');
        reject(new Error('not connected'));
        return;
      }
      app.pending.set(ref, { resolve, reject });
      app.ws.send(JSON.stringify(message));
    });
  }

  function receive(msg) {
    const waiting = msg.ref != null ? app.pending.get(msg.ref) : null;
    if (waiting) app.pending.delete(msg.ref);
    switch (msg.type) {
      case 'hello':
        app.session = msg.session;
        app.sections = msg.sections;
        app.limits = msg.limits;
        if (app.me.name && app.me.name !== msg.name) {
          send('hello', { name: app.me.name }).then((r) => { app.me = r.result; renderMe(); }).catch(() => {});
        } else {
          app.me = { name: msg.name, color: msg.color };
        }
        renderMe();
        break;
      case 'board':
        app.board = msg.board;
        render();
        break;
      case 'presence':
        app.people = msg.people.filter((p) => p.id !== app.session);
        renderPeople();
        break;
      case 'history':
        app.history = msg.history;
        if (waiting) waiting.resolve(msg);
        if (app.view === 'history') render();
        return;
      case 'snapshot':
        app.snapshot = msg.board;
        if (waiting) waiting.resolve(msg);
        if (app.view === 'history') render();
        return;
      case 'ack':
        if (waiting) waiting.resolve(msg);
        return;
      case 'error':
        showMessage(msg.message);
        if (waiting) waiting.reject(new Error(msg.message));
        return;
      default:
    }
  }

  let messageTimer = null;
  function showMessage(text) {
    const m = $('#message');
    m.textContent = text;
    m.hidden = false;
    clearTimeout(messageTimer);
    messageTimer = setTimeout(() => { m.hidden = true; }, 8000);
  }

  // ---- rendering -------------------------------------------------------

  const sectionInfo = (id) => app.sections.find((s) => s.id === id) || { id, title: id };
  const liveNotes = (board) => (board ? board.notes.filter((n) => !n.trashed) : []);

  function matchesFilters(note) {
    const f = app.filters;
    return (!f.tag || note.tags.includes(f.tag))
      && (!f.status || note.status === f.status)
      && (!f.author || note.author === f.author);
  }

  /** How a note differs from the highlighted earlier point: 'new', 'changed' or ''. */
  function changeSince(note) {
    if (!app.highlight) return '';
    const before = app.highlight.board.notes.find((n) => n.id === note.id);
    if (!before || before.trashed) return 'new';
    const same = before.text === note.text && before.status === note.status && before.section === note.section
      && before.tags.join() === note.tags.join() && before.votes.length === note.votes.length
      && before.comments.length === note.comments.length;
    return same ? '' : 'changed';
  }

  function noteElement(note, readOnly) {
    const votes = note.votes.length;
    const mine = note.votes.includes(app.me.name);
    const open = note.comments.filter((c) => !c.resolved).length;
    const change = readOnly ? '' : changeSince(note);
    const classes = ['note', `status-${note.status}`];
    if (change) classes.push(`since-${change}`);
    if (!readOnly && !matchesFilters(note)) classes.push('filtered-out');
    const el = h('article', {
      class: classes.join(' '),
      'data-note-id': note.id,
      'data-status': note.status,
      tabindex: readOnly ? null : '0',
      draggable: readOnly ? null : 'true',
    },
    h('div', { class: 'note-text' }, note.text),
    note.tags.length ? h('div', { class: 'note-tags' }, note.tags.map((t) => h('span', { class: 'tag', 'data-tag': t }, `#${t}`))) : null,
    h('div', { class: 'note-meta' },
      h('span', { class: 'author', title: `written by ${note.author}` }, note.author || '?'),
      readOnly ? h('span', { class: 'votes-count' }, votes ? `▲ ${votes}` : '') : h('button', {
        class: `vote${mine ? ' voted' : ''}`, title: mine ? 'Take back your vote' : 'Dot-vote for this note', 'aria-pressed': String(mine),
        onclick: () => send('vote', { note: note.id, on: !mine }).catch(() => {}),
      }, `▲ ${votes}`),
      readOnly ? null : h('button', {
        class: 'comments', title: 'Comments', onclick: () => openThread(note.id),
      }, `✉ ${note.comments.length}${open ? ' •' : ''}`),
      readOnly ? h('span', { class: 'status-label' }, note.status) : statusSelect(note),
      readOnly ? null : h('button', { class: 'tag-btn', title: 'Add or remove tags', onclick: () => editTags(el, note) }, '#'),
      readOnly ? null : h('button', { class: 'trash-btn', title: 'Move to the trash', onclick: () => send('trash', { note: note.id }).catch(() => {}) }, '✕'),
    ));
    if (change) el.append(h('div', { class: 'since-label' }, change === 'new' ? 'new' : 'changed'));
    const conflicts = Object.entries(note.conflicts || {});
    for (const [field, values] of conflicts) {
      el.append(h('div', { class: 'conflict', 'data-conflict': field },
        `Conflict: ${field} is `, values.join(' or '), readOnly ? null : ' — keep ',
        readOnly ? null : values.map((v) => h('button', {
          class: 'pick', 'data-value': v,
          onclick: () => (field === 'status'
            ? send('mark', { note: note.id, status: v })
            : send('move', { note: note.id, section: v })).catch(() => {}),
        }, v))));
    }
    if (!readOnly) {
      el.addEventListener('dblclick', (e) => { if (!e.target.closest('button, select, input')) startEdit(note.id); });
      el.addEventListener('dragstart', (e) => {
        if (app.editor) { e.preventDefault(); return; }
        e.dataTransfer.setData('text/x-gapmap-note', note.id);
        e.dataTransfer.effectAllowed = 'move';
        el.classList.add('dragging');
      });
      el.addEventListener('dragend', () => el.classList.remove('dragging'));
      el.addEventListener('focus', () => { app.focusId = note.id; });
    }
    return el;
  }

  function statusSelect(note) {
    return h('select', {
      class: 'status-select', title: 'Validation status', 'aria-label': 'status',
      onchange: (e) => send('mark', { note: note.id, status: e.target.value }).catch(() => {}),
    }, STATUSES.map((s) => h('option', { value: s, selected: s === note.status }, s)));
  }

  function sectionElement(id, board, readOnly) {
    const info = sectionInfo(id);
    const notes = liveNotes(board).filter((n) => n.section === id);
    const list = h('div', { class: 'notes' }, notes.map((n) => noteElement(n, readOnly)));
    const el = h('section', { class: `section section-${id}`, 'data-section': id, tabindex: readOnly ? null : '-1' },
      h('header', { class: 'section-head' },
        h('h2', {}, info.title),
        h('span', { class: 'count' }, String(notes.length)),
        readOnly ? null : h('button', { class: 'add', title: `New note in ${info.title} (n)`, onclick: () => startAdd(id) }, '+')),
      HINTS[id] ? h('p', { class: 'hint' }, HINTS[id]) : null,
      list);
    if (!readOnly) dropTarget(list, id);
    return el;
  }

  function progressLayout(board, readOnly) {
    const s = (id) => sectionElement(id, board, readOnly);
    return h('div', { class: 'progress' },
      h('div', { class: 'progress-row' },
        h('div', { class: 'col col-now' }, s('now')),
        h('div', { class: 'col col-gap' }, h('div', { class: 'gap-label' }, 'GAP'), s('constraint'), s('catalyst')),
        h('div', { class: 'col col-tobe' }, s('to-be'))),
      h('div', { class: 'design-row' }, s('design')));
  }

  function gridLayout(rows, board, readOnly, view) {
    const grid = h('div', { class: `grid grid-${view}` },
      rows.map((row) => h('div', { class: 'grid-row' }, row.map((id) => sectionElement(id, board, readOnly)))));
    if (view === 'forces') {
      return h('div', { class: 'forces' },
        h('div', { class: 'axis axis-top' }, 'Progress-making forces: push and pull'),
        grid,
        h('div', { class: 'axis axis-bottom' }, 'Progress-hindering forces: anxiety and inertia'));
    }
    return grid;
  }

  function jobView(board) {
    const job = board.job;
    const field = (label, value, save, multiline) => {
      const input = multiline
        ? h('textarea', { rows: '2', maxlength: String(app.limits ? app.limits.text : 4000) }, value)
        : h('input', { value, maxlength: '200' });
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
      h('section', { class: 'job-statement', 'data-part': 'job' },
        h('h2', {}, 'Job statement'),
        h('p', { class: 'sentence' }, 'When ', h('em', {}, job.situation || '…'), ', I want to ', h('em', {}, job.motivation || '…'), ', so I can ', h('em', {}, job.outcome || '…'), '.'),
        field('Situation (when…)', job.situation, (v) => send('job', { situation: v }), true),
        field('Motivation (I want to…)', job.motivation, (v) => send('job', { motivation: v }), true),
        field('Expected outcome (so I can…)', job.outcome, (v) => send('job', { outcome: v }), true)),
      h('section', { class: 'customer', 'data-part': 'customer' },
        h('h2', {}, 'Customer'),
        field('Type (user, buyer, support, …)', board.customer.type, (v) => send('customer', { type: v }), false),
        field('Who they are', board.customer.description, (v) => send('customer', { description: v }), true)));
  }

  function trashView(board) {
    const trashed = board.notes.filter((n) => n.trashed);
    return h('div', { class: 'trash-view' },
      h('h2', {}, 'Trash'),
      trashed.length ? null : h('p', { class: 'empty' }, 'The trash is empty.'),
      h('ul', { class: 'trash-list' }, trashed.map((n) => h('li', { class: 'trashed', 'data-note-id': n.id },
        h('span', { class: 'trashed-section' }, sectionInfo(n.section).title),
        h('span', { class: 'trashed-text' }, n.text),
        h('button', { class: 'restore', onclick: () => send('restore', { note: n.id }).catch(() => {}) }, 'Restore')))));
  }

  function historyView() {
    const wrap = h('div', { class: 'history-view' });
    if (!app.history) {
      wrap.append(h('p', { class: 'loading' }, 'Reading the history…'));
      return wrap;
    }
    const changes = app.history.changes;
    const point = app.historyPoint || changes.length;
    const slider = h('input', { type: 'range', min: '1', max: String(changes.length), value: String(point), class: 'history-slider', 'aria-label': 'point in history' });
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
        change ? h('p', { class: 'history-change' }, `${new Date(change.time).toLocaleString()} · ${change.author}: ${change.message}`) : null,
        rounds.length ? h('div', { class: 'rounds' }, 'Rounds: ', rounds.map((r) => h('button', {
          class: 'round', 'data-round': r.id, onclick: () => showPoint({ round: r.id, count: r.index + 1 }),
        }, r.label))) : h('p', { class: 'hint' }, 'No research rounds yet (gapmap round start LABEL).'),
        h('button', { class: 'highlight', onclick: highlightSince }, 'Highlight what changed since this point'),
        h('span', { class: 'readonly-note' }, 'Read-only: the canvas as it was.')));
    if (app.snapshot) {
      const past = app.snapshot;
      wrap.append(h('div', { class: 'snapshot', 'data-readonly': 'true' },
        h('h2', {}, past.title),
        progressLayout(past, true),
        gridLayout(VIEWS.forces, past, true, 'forces'),
        gridLayout(VIEWS.jobmap, past, true, 'jobmap'),
        gridLayout(VIEWS.outcomes, past, true, 'outcomes'),
        gridLayout(VIEWS.jpg, past, true, 'jpg')));
    }
    return wrap;
  }

  function showPoint(point) {
    app.historyPoint = point.count;
    send('at', point.round ? { round: point.round } : { count: point.count }).catch(() => {});
  }

  function highlightSince() {
    if (!app.snapshot || !app.history) return;
    const point = app.historyPoint || app.history.changes.length;
    app.highlight = { label: `change ${point}`, board: app.snapshot };
    setView('canvas');
  }

  function render() {
    const main = $('#board');
    if (!app.board) return;
    document.title = `${app.board.title} · gapmap`;
    if (!(app.editor && app.editor.kind === 'title')) $('#title').textContent = app.board.title;
    const trashed = app.board.notes.filter((n) => n.trashed).length;
    $('#trash-count').textContent = trashed ? `(${trashed})` : '';
    renderFilters();
    const banner = $('#banner');
    banner.hidden = !app.highlight;
    banner.replaceChildren();
    if (app.highlight) {
      banner.append(`Highlighting what changed since ${app.highlight.label}. `,
        h('button', { onclick: () => { app.highlight = null; render(); } }, 'Clear'));
    }
    const hadFocus = document.activeElement && main.contains(document.activeElement) ? app.focusId : null;
    let content;
    if (app.view === 'canvas') content = progressLayout(app.board, false);
    else if (app.view === 'job') content = jobView(app.board);
    else if (app.view === 'trash') content = trashView(app.board);
    else if (app.view === 'history') content = historyView();
    else content = gridLayout(VIEWS[app.view], app.board, false, app.view);
    // Keep a field of the job view that has the focus as it is.
    const active = document.activeElement;
    if (app.view === 'job' && active && main.contains(active) && (active.tagName === 'TEXTAREA' || active.tagName === 'INPUT')) {
      return;
    }
    main.dataset.view = app.view;
    // What had the focus, to give it back after the swap.
    const editorText = app.editor && app.editor.kind !== 'title' ? $('.note-text', app.editor.el) : null;
    const keep = {
      editor: editorText !== null && document.activeElement === editorText,
      caret: editorText !== null && document.activeElement === editorText ? caretOffset(editorText) : null,
      tags: app.tagEditor !== null && document.activeElement === app.tagEditor.input,
    };
    app.moving = true;
    main.replaceChildren(content);
    app.moving = false;
    restoreEditor(keep);
    restoreTagEditor(keep);
    decoratePresence();
    if (app.thread) renderThread();
    if (hadFocus && !app.editor) {
      const again = main.querySelector(`[data-note-id="${CSS.escape(hadFocus)}"]`);
      if (again) again.focus({ preventScroll: true });
    }
    app.renders += 1;
    document.body.dataset.renders = String(app.renders);
    document.body.dataset.ready = 'true';
  }

  function renderFilters() {
    const notes = liveNotes(app.board);
    const fill = (select, values, current) => {
      const options = [h('option', { value: '' }, 'all'), ...values.map((v) => h('option', { value: v, selected: v === current }, v))];
      select.replaceChildren(...options);
      select.value = current;
    };
    const tags = [...new Set(notes.flatMap((n) => n.tags))].sort();
    const authors = [...new Set(notes.map((n) => n.author).filter(Boolean))].sort();
    fill($('#filter-tag'), tags, app.filters.tag);
    fill($('#filter-author'), authors, app.filters.author);
  }

  function renderMe() {
    const b = $('#me');
    b.textContent = app.me.name || 'you';
    b.style.borderColor = app.me.color;
    b.title = 'Your name on this board: click to change';
  }

  function renderPeople() {
    const box = $('#people');
    box.replaceChildren(...app.people.map((p) => h('span', {
      class: `person${p.here ? ' here' : ' remote'}`, 'data-person': p.name, 'data-session': p.id,
      style: `--color: ${p.color}`, title: `${p.name}${p.here ? ' (on this machine)' : ' (through a peer)'}${p.editing ? ', editing a note' : ''}`,
    }, h('span', { class: 'dot' }), p.name)));
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

  // ---- editing ---------------------------------------------------------

  function setEditing(noteId) {
    send('presence', { editing: noteId }).catch(() => {});
  }

  function startEdit(noteId) {
    if (app.view === 'history') return;
    if (app.editor) finishEdit(true);
    const el = document.querySelector(`#board [data-note-id="${CSS.escape(noteId)}"]`);
    const note = app.board.notes.find((n) => n.id === noteId);
    if (!el || !note) return;
    const text = $('.note-text', el);
    el.draggable = false;
    el.classList.add('editing');
    text.contentEditable = 'plaintext-only';
    app.editor = { kind: 'edit', note: noteId, base: note.text, el };
    bindEditor(text);
    text.focus();
    placeCaretAtEnd(text);
    setEditing(noteId);
  }

  function startAdd(section) {
    if (app.view === 'history' || app.view === 'trash' || app.view === 'job') return;
    if (app.editor) finishEdit(true);
    const text = h('div', { class: 'note-text', 'data-placeholder': 'New note… (Enter to add, Esc to cancel)' });
    const el = h('article', { class: 'note draft editing', 'data-draft': section }, text);
    app.editor = { kind: 'add', section, base: '', el };
    restoreEditor();
    text.contentEditable = 'plaintext-only';
    bindEditor(text);
    text.focus();
  }

  function bindEditor(text) {
    text.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); finishEdit(true); }
      else if (e.key === 'Escape') { e.preventDefault(); finishEdit(false); }
      e.stopPropagation();
    });
    text.addEventListener('blur', () => {
      // Re-rendering moves the editor; only a real blur saves.
      setTimeout(() => {
        if (app.editor && app.editor.el.contains(text) && document.activeElement !== text && !app.moving) finishEdit(true);
      }, 0);
    });
  }

  /** Puts the open editor back into a freshly rendered board. */
  function restoreEditor(keep) {
    const ed = app.editor;
    if (!ed || ed.kind === 'title') return;
    const main = $('#board');
    const text = $('.note-text', ed.el);
    const hadFocus = keep ? keep.editor : document.activeElement === text;
    const caret = keep ? keep.caret : (hadFocus ? caretOffset(text) : null);
    app.moving = true;
    if (ed.kind === 'edit') {
      const fresh = main.querySelector(`[data-note-id="${CSS.escape(ed.note)}"]`);
      const note = app.board.notes.find((n) => n.id === ed.note);
      if (!note || note.trashed) {
        app.moving = false;
        app.editor = null;
        showMessage('The note you were editing was moved to the trash by someone else.');
        return;
      }
      if (fresh) fresh.replaceWith(ed.el);
    } else {
      const list = main.querySelector(`[data-section="${CSS.escape(ed.section)}"] .notes`);
      if (list) list.append(ed.el);
    }
    if (hadFocus && ed.el.isConnected) {
      text.focus({ preventScroll: true });
      setCaret(text, caret);
    }
    app.moving = false;
  }

  async function finishEdit(save) {
    const ed = app.editor;
    if (!ed || ed.finishing) return;
    const text = $('.note-text', ed.el);
    const value = text.innerText.replace(/\n+$/, '');
    if (!save) {
      app.editor = null;
      setEditing(null);
      render();
      return;
    }
    ed.finishing = true;
    try {
      if (ed.kind === 'edit') {
        if (value.trim() && value !== ed.base) await send('edit', { note: ed.note, text: value, base: ed.base });
        else if (!value.trim()) showMessage('A note cannot be empty: move it to the trash instead.');
      } else if (ed.kind === 'add' && value.trim()) {
        const r = await send('add', { section: ed.section, text: value });
        app.focusId = r.result && r.result.note;
      }
      app.editor = null;
      setEditing(null);
      render();
    } catch (err) {
      // Refused (too long, …): keep the editor open so nothing typed is lost.
      ed.finishing = false;
      if (ed.el.isConnected) text.focus();
    }
  }

  function caretOffset(node) {
    const sel = window.getSelection();
    if (!sel.rangeCount) return null;
    const range = sel.getRangeAt(0).cloneRange();
    range.selectNodeContents(node);
    range.setEnd(sel.getRangeAt(0).endContainer, sel.getRangeAt(0).endOffset);
    return range.toString().length;
  }

  function setCaret(node, offset) {
    if (offset === null || offset === undefined) { placeCaretAtEnd(node); return; }
    const walker = document.createTreeWalker(node, NodeFilter.SHOW_TEXT);
    let left = offset;
    let t;
    while ((t = walker.nextNode())) {
      if (left <= t.length) {
        const range = document.createRange();
        range.setStart(t, left);
        range.collapse(true);
        const sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
        return;
      }
      left -= t.length;
    }
    placeCaretAtEnd(node);
  }

  function placeCaretAtEnd(node) {
    const range = document.createRange();
    range.selectNodeContents(node);
    range.collapse(false);
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }

  function editTags(el, note) {
    const input = h('input', { class: 'tag-input', placeholder: 'tag  -tag   (Enter)', 'aria-label': 'tags to add or remove' });
    const done = (save) => {
      if (app.tagEditor && app.tagEditor.input === input) app.tagEditor = null;
      const words = input.value.split(/\s+/).filter(Boolean);
      input.remove();
      if (!save || !words.length) return;
      const add = words.filter((w) => !w.startsWith('-')).map((w) => w.replace(/^[+#]/, ''));
      const remove = words.filter((w) => w.startsWith('-')).map((w) => w.slice(1));
      send('tag', { note: note.id, add, remove }).catch(() => {});
    };
    input.addEventListener('keydown', (e) => {
      e.stopPropagation();
      if (e.key === 'Enter') { e.preventDefault(); done(true); }
      if (e.key === 'Escape') done(false);
    });
    input.addEventListener('blur', () => {
      // Re-rendering moves the field; only a real blur closes it.
      setTimeout(() => { if (input.isConnected && document.activeElement !== input && !app.moving) done(false); }, 0);
    });
    app.tagEditor = { note: note.id, input };
    $('.note-meta', el).after(input);
    input.focus();
  }

  /** Puts an open tag field back into a freshly rendered board. */
  function restoreTagEditor(keep) {
    const ed = app.tagEditor;
    if (!ed) return;
    const meta = document.querySelector(`#board [data-note-id="${CSS.escape(ed.note)}"] .note-meta`);
    if (!meta) { app.tagEditor = null; return; }
    const hadFocus = keep.tags;
    app.moving = true;
    meta.after(ed.input);
    if (hadFocus) ed.input.focus({ preventScroll: true });
    app.moving = false;
  }

  // ---- drag and drop ---------------------------------------------------

  function dropTarget(list, section) {
    const marker = () => $('.drop-marker') || h('div', { class: 'drop-marker' });
    const anchor = (e) => {
      const notes = $$(':scope > .note:not(.dragging):not(.draft)', list);
      return notes.find((n) => {
        const r = n.getBoundingClientRect();
        return e.clientY < r.top + r.height / 2;
      });
    };
    list.addEventListener('dragover', (e) => {
      if (!e.dataTransfer.types.includes('text/x-gapmap-note')) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = 'move';
      const before = anchor(e);
      const m = marker();
      if (before) before.before(m); else list.append(m);
    });
    list.addEventListener('dragleave', (e) => {
      if (!list.contains(e.relatedTarget)) $$('.drop-marker').forEach((m) => m.remove());
    });
    list.addEventListener('drop', (e) => {
      const id = e.dataTransfer.getData('text/x-gapmap-note');
      $$('.drop-marker').forEach((m) => m.remove());
      if (!id) return;
      e.preventDefault();
      const before = anchor(e);
      const fields = { note: id, section };
      if (before && before.dataset.noteId !== id) fields.before = before.dataset.noteId;
      send('move', fields).catch(() => {});
    });
  }

  // ---- comments --------------------------------------------------------

  function openThread(noteId) {
    app.thread = noteId;
    renderThread();
    const box = $('#thread textarea');
    if (box) box.focus();
  }

  function renderThread() {
    const aside = $('#thread');
    const note = app.board && app.board.notes.find((n) => n.id === app.thread);
    if (!note) { aside.hidden = true; app.thread = null; return; }
    const typed = $('textarea', aside);
    const draft = typed ? typed.value : '';
    aside.hidden = false;
    aside.dataset.noteId = note.id;
    const input = h('textarea', { rows: '3', placeholder: 'Add a comment', 'aria-label': 'new comment' });
    input.value = draft;
    const post = () => {
      const text = input.value.trim();
      if (!text) return;
      send('comment', { note: note.id, text }).then(() => { input.value = ''; }).catch(() => {});
    };
    input.addEventListener('keydown', (e) => {
      e.stopPropagation();
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); post(); }
      if (e.key === 'Escape') { app.thread = null; aside.hidden = true; }
    });
    aside.replaceChildren(
      h('header', {}, h('h2', {}, 'Comments'), h('button', { class: 'close', title: 'Close', onclick: () => { app.thread = null; aside.hidden = true; } }, '×')),
      h('blockquote', {}, note.text),
      h('ol', { class: 'comment-list' }, note.comments.map((c) => h('li', { class: `comment${c.resolved ? ' resolved' : ''}`, 'data-comment-id': c.id },
        h('div', { class: 'comment-head' }, h('strong', {}, c.author || '?'), ' ', c.at ? new Date(c.at).toLocaleString() : ''),
        h('p', {}, c.text),
        h('button', {
          class: c.resolved ? 'reopen' : 'resolve',
          onclick: () => send('resolve', { note: note.id, comment: c.id, resolved: !c.resolved }).catch(() => {}),
        }, c.resolved ? 'Reopen' : 'Resolve')))),
      input,
      h('button', { class: 'post', onclick: post }, 'Comment'));
    if (typed && document.activeElement === typed) input.focus();
  }

  // ---- views, keyboard, header ------------------------------------------

  function setView(view) {
    if (app.editor) finishEdit(true);
    app.view = view;
    for (const b of $$('.views button')) b.classList.toggle('active', b.dataset.view === view);
    if (view === 'history') {
      app.snapshot = null;
      send('history').then((m) => {
        const n = m.history.changes.length;
        app.historyPoint = n;
        if (n) showPoint({ count: n });
      }).catch(() => {});
    }
    render();
  }

  function visibleSections() {
    return $$('#board [data-section]');
  }

  function focusNote(el) {
    if (!el) return;
    el.focus();
    app.focusId = el.dataset.noteId || null;
  }

  function onKey(e) {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey) return;
    const target = e.target;
    if (target.closest && target.closest('input, textarea, select, [contenteditable="plaintext-only"], [contenteditable="true"]')) return;
    const note = target.closest && target.closest('#board .note[data-note-id]');
    const section = target.closest && target.closest('#board [data-section]');
    if (e.key === 'n' && !e.altKey) {
      const id = section ? section.dataset.section : (visibleSections()[0] || {}).dataset?.section;
      if (id) { e.preventDefault(); startAdd(id); }
      return;
    }
    if (e.key === 'Escape') {
      app.highlight = null;
      if (app.thread) { app.thread = null; $('#thread').hidden = true; }
      render();
      return;
    }
    if (!note) {
      if (e.key.startsWith('Arrow')) {
        const first = $('#board .note[data-note-id]:not(.filtered-out)');
        if (first) { e.preventDefault(); focusNote(first); }
      }
      return;
    }
    if (e.key === 'Enter') { e.preventDefault(); startEdit(note.dataset.noteId); return; }
    if (e.key === 'Delete') { e.preventDefault(); send('trash', { note: note.dataset.noteId }).catch(() => {}); return; }
    const siblings = $$(':scope > .note[data-note-id]:not(.filtered-out)', note.parentElement);
    const i = siblings.indexOf(note);
    if (e.altKey && (e.key === 'ArrowUp' || e.key === 'ArrowDown')) {
      e.preventDefault();
      const other = siblings[e.key === 'ArrowUp' ? i - 1 : i + 1];
      if (!other) return;
      const fields = { note: note.dataset.noteId, section: section.dataset.section };
      fields[e.key === 'ArrowUp' ? 'before' : 'after'] = other.dataset.noteId;
      send('move', fields).catch(() => {});
      return;
    }
    if (e.key === 'ArrowUp' || e.key === 'ArrowDown') {
      e.preventDefault();
      focusNote(siblings[e.key === 'ArrowUp' ? i - 1 : i + 1]);
    } else if (e.key === 'ArrowLeft' || e.key === 'ArrowRight') {
      e.preventDefault();
      const all = visibleSections();
      let j = all.indexOf(section);
      for (;;) {
        j += e.key === 'ArrowLeft' ? -1 : 1;
        if (j < 0 || j >= all.length) return;
        const notes = $$('.note[data-note-id]:not(.filtered-out)', all[j]);
        if (notes.length) { focusNote(notes[Math.min(i, notes.length - 1)]); return; }
      }
    }
  }

  function editTitle() {
    const t = $('#title');
    if (app.editor) finishEdit(true);
    const base = t.textContent;
    t.contentEditable = 'plaintext-only';
    app.editor = { kind: 'title', el: t };
    t.focus();
    placeCaretAtEnd(t);
    const done = (save) => {
      t.contentEditable = 'false';
      t.removeEventListener('keydown', key);
      app.editor = null;
      const value = t.textContent.trim();
      if (save && value && value !== base) send('title', { title: value }).catch(() => { t.textContent = base; });
      else t.textContent = base;
    };
    const key = (e) => {
      e.stopPropagation();
      if (e.key === 'Enter') { e.preventDefault(); done(true); }
      if (e.key === 'Escape') { e.preventDefault(); done(false); }
    };
    t.addEventListener('keydown', key);
    t.addEventListener('blur', () => { if (app.editor && app.editor.kind === 'title') done(true); }, { once: true });
  }

  function editName() {
    const b = $('#me');
    const input = h('input', { class: 'name-input', value: app.me.name, maxlength: '64', 'aria-label': 'your name' });
    input.value = app.me.name;
    b.replaceWith(input);
    input.focus();
    input.select();
    const done = (save) => {
      if (!input.isConnected) return;
      input.replaceWith(b);
      const name = input.value.trim();
      if (save && name && name !== app.me.name) {
        send('hello', { name }).then((r) => {
          app.me = r.result;
          localStorage.setItem('gapmap-name', app.me.name);
          renderMe();
          render();
        }).catch(() => {});
      }
    };
    input.addEventListener('keydown', (e) => {
      e.stopPropagation();
      if (e.key === 'Enter') done(true);
      if (e.key === 'Escape') done(false);
    });
    input.addEventListener('blur', () => done(true));
  }

  function init() {
    for (const b of $$('.views button')) b.addEventListener('click', () => setView(b.dataset.view));
    for (const [key, id] of [['tag', 'filter-tag'], ['status', 'filter-status'], ['author', 'filter-author']]) {
      $(`#${id}`).addEventListener('change', (e) => { app.filters[key] = e.target.value; render(); });
    }
    for (const format of ['md', 'json', 'svg', 'png']) {
      $(`#export-${format}`).href = `/c/${encodeURIComponent(canvasId)}/export/${format}`;
    }
    $('#title').addEventListener('dblclick', editTitle);
    $('#title').addEventListener('keydown', (e) => { if (e.key === 'Enter' && !app.editor) { e.preventDefault(); editTitle(); } });
    $('#me').addEventListener('click', editName);
    document.addEventListener('keydown', onKey);
    renderMe();
    connect();
  }

  init();
})();
