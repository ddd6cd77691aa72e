// The page's websocket (/api/ws): JSON requests with a `ref`, answered by
// `ack`/`error` with the same ref; `board`, `presence`, `history` and
// `snapshot` messages come whenever the server has news.
import { $ } from './dom.js';
import { app, hooks } from './state.js';

let ws = null;
let retry = 500;
let nextRef = 1;
const pending = new Map();

export function connect(onMessage) {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  ws = new WebSocket(`${proto}//${location.host}/api/ws?canvas=${encodeURIComponent(app.canvasId)}`);
  setStatus('connecting…', 'connecting');
  ws.onopen = () => {
    retry = 500;
    setStatus('live', 'live');
  };
  ws.onmessage = (event) => {
    app.arrivedAt = performance.now();
    let msg;
    try { msg = JSON.parse(event.data); } catch { return; }
    const waiting = msg.ref != null ? pending.get(msg.ref) : null;
    if (waiting) pending.delete(msg.ref);
    onMessage(msg);
    if (!waiting) return;
    if (msg.type === 'error') waiting.reject(new Error(msg.message));
    else waiting.resolve(msg);
  };
  ws.onclose = () => {
    setStatus('offline: reconnecting…', 'offline');
    for (const [, p] of pending) p.reject(new Error('disconnected'));
    pending.clear();
    setTimeout(() => connect(onMessage), retry);
    retry = Math.min(retry * 2, 5000);
  };
}

function setStatus(text, kind) {
  const s = $('#status');
  s.textContent = text;
  s.className = `conn ${kind}`;
  document.body.dataset.connection = kind;
}

/** Sends a request; resolves with the answer, rejects (and the page shows) an error. */
export function send(op, fields) {
  const ref = nextRef++;
  const message = Object.assign({ op, ref }, fields || {});
  if (op !== 'presence' && op !== 'history' && op !== 'at' && op !== 'review') app.lastOwnChange = Date.now();
  return new Promise((resolve, reject) => {
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      hooks.message('Not connected: the change was not made. Reconnecting…');
      reject(new Error('not connected'));
      return;
    }
    pending.set(ref, { resolve, reject });
    ws.send(JSON.stringify(message));
  });
}

/** `send` for fire-and-forget actions: the error is already shown. */
export const act = (op, fields) => send(op, fields).catch(() => {});
