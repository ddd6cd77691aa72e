// Small DOM helpers. Text from the document only ever enters the page as
// text (textContent or text nodes, never innerHTML), so markup in a note is
// shown, not run.

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

/** An element: props are attributes (data-*, aria-*, class…) or on* handlers; children are nodes or text. */
export function h(tag, props, ...children) {
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

const pad = (n) => String(n).padStart(2, '0');

/** A time as ISO 8601 in the reader's zone, to the minute: 2026-03-14 09:05. */
export function isoTime(ms) {
  if (!ms && ms !== 0) return '';
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return '';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** Where the caret is in `node`, in characters, or null when it is elsewhere. */
export function caretOffset(node) {
  const sel = window.getSelection();
  if (!sel.rangeCount || !node.contains(sel.getRangeAt(0).endContainer)) return null;
  const range = sel.getRangeAt(0).cloneRange();
  range.selectNodeContents(node);
  range.setEnd(sel.getRangeAt(0).endContainer, sel.getRangeAt(0).endOffset);
  return range.toString().length;
}

export function setCaret(node, offset) {
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

export function placeCaretAtEnd(node) {
  const range = document.createRange();
  range.selectNodeContents(node);
  range.collapse(false);
  const sel = window.getSelection();
  sel.removeAllRanges();
  sel.addRange(range);
}
