// Announces changes made elsewhere (another tab, the CLI, a peer), sparingly:
// at most one sentence every few seconds, never for this page's own changes.
import { $ } from './dom.js';
import { app } from './state.js';

const QUIET_MS = 4000;
let pending = { added: 0, changed: 0, removed: 0 };
let timer = null;
let last = 0;

/** Counts what changed between two boards, unless this page just made a change itself. */
export function noteChanges(before, after) {
  if (!before || Date.now() - app.lastOwnChange < 1500) return;
  const old = new Map(before.notes.filter((n) => !n.trashed).map((n) => [n.id, n]));
  for (const n of after.notes) {
    if (n.trashed) continue;
    const o = old.get(n.id);
    if (!o) pending.added += 1;
    else if (o.text !== n.text || o.status !== n.status || o.section !== n.section) pending.changed += 1;
    old.delete(n.id);
  }
  pending.removed += old.size;
  if (!timer) timer = setTimeout(flush, Math.max(0, last + QUIET_MS - Date.now()));
}

function flush() {
  timer = null;
  last = Date.now();
  const words = [];
  const say = (n, what) => { if (n) words.push(`${n} ${n === 1 ? 'note' : 'notes'} ${what}`); };
  say(pending.added, 'added');
  say(pending.changed, 'changed');
  say(pending.removed, 'removed');
  pending = { added: 0, changed: 0, removed: 0 };
  if (words.length) $('#announce').textContent = `Changed elsewhere: ${words.join(', ')}.`;
}
