// The page's state: what the server last sent and what this page is doing.
// Modules change it and call the hooks; views.js sets the hooks.

export const app = {
  canvasId: document.querySelector('meta[name="gapmap-canvas"]').content,
  session: null,
  me: { name: localStorage.getItem('gapmap-name') || '', color: '#888' },
  sections: [],
  limits: null,
  board: null,
  byId: new Map(),
  people: [],
  view: 'canvas',
  editor: null, // { kind: 'edit'|'add'|'title', note, section, base, el }
  tagEditor: null,
  focusId: null,
  filters: { tag: '', status: '', author: '' },
  highlight: null, // { label, board } to compare the live board with
  history: null,
  snapshot: null,
  historyPoint: null,
  thread: null,
  evidence: null, // the note whose evidence is open
  interview: null, // the open interview's id
  review: null, // the review's rows, asked for while the Review view is open
  lastOwnChange: 0,
  arrivedAt: 0, // when the last message came: update() writes how long it took to show (body[data-update-ms])
};

/** Set by views.js: `render` lays out the current view anew, `update` brings it up to date in place. */
export const hooks = { render() {}, update() {}, message() {} };

export const sectionInfo = (id) => app.sections.find((s) => s.id === id) || { id, title: id };
export const note = (id) => app.byId.get(id);
