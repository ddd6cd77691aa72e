// An unmodified automerge-repo 2.5 client for gapmap's interop tests
// (tests/tests/e2e/interop.rs). Each command connects to a sync server with
// WebSocketClientAdapter, does one thing and prints JSON lines on stdout.
//
//   node client.mjs create URL [TITLE]             create a canvas (DESIGN §3, strings
//                                                  as JS Automerge 3 writes them: Text);
//                                                  returns once the server holds it
//   node client.mjs create-other URL              create a document that is not a canvas
//                                                  (a to-do list); returns once the server
//                                                  holds it
//   node client.mjs find URL DOCURL [--until TEXT] print the document; with --until,
//                                                  print {"ready"} first, then wait for a
//                                                  note whose text contains TEXT
//   node client.mjs add URL DOCURL SECTION TEXT    add a note; returns once the server
//                                                  holds the change
//   node client.mjs splice URL DOCURL NOTE POS DEL TEXT   splice a note's text, likewise
//   node client.mjs ephemeral-listen URL DOCURL    print {"ready"}, then the first
//                                                  ephemeral message for DOCURL
//   node client.mjs ephemeral-send URL DOCURL JSON broadcast JSON (3 times, 300 ms apart)
//
// DOCURL "random" is a fresh URL nobody has. Exit codes: 0 done, 1 failure
// (message on stderr), 2 usage, 3 timed out (GAPMAP_JS_TIMEOUT_MS, default
// 20000), 4 the server says the document is unavailable.
import {
  Repo,
  generateAutomergeUrl,
  splice,
} from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import { getHeads, hasHeads } from "@automerge/automerge"

const timeoutMs = Number(process.env.GAPMAP_JS_TIMEOUT_MS ?? 20000)
const timer = setTimeout(() => fail(3, `timed out after ${timeoutMs} ms`), timeoutMs)
timer.unref()

const usage = "usage: node client.mjs create|create-other|find|add|splice|ephemeral-listen|ephemeral-send URL [DOCURL] [ARGS…]"
const [cmd, url, docArg, ...rest] = process.argv.slice(2)
const out = value => console.log(JSON.stringify(value))
const sleep = ms => new Promise(r => setTimeout(r, ms))

function fail(code, message) {
  console.error(`client.mjs ${cmd ?? ""}: ${message}`)
  process.exit(code)
}

// A repo with one websocket connection, once the server has answered our join.
async function connect(name) {
  const adapter = new WebSocketClientAdapter(url, 500)
  const repo = new Repo({ network: [adapter], peerId: `js-${name}-${process.pid}` })
  if (repo.peers.length === 0) {
    await new Promise(resolve => repo.networkSubsystem.once("peer", resolve))
  }
  return repo
}

// Waits until a second, fresh connection to the server can fetch the
// document with every change `doc` holds: the server has them.
async function untilServerHas(docUrl, doc) {
  const heads = getHeads(doc)
  const checker = await connect("check")
  const handle = await checker.find(docUrl)
  while (!hasHeads(handle.doc(), heads)) {
    await new Promise(r => handle.once("change", r))
  }
  return getHeads(handle.doc())
}

// gapmap note ids: 12 random characters of lowercase base32.
function noteId() {
  const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
  return Array.from(crypto.getRandomValues(new Uint8Array(12)), b => alphabet[b & 31]).join("")
}

// A note as DESIGN §3 has it; every string is a plain JS string, which JS
// Automerge 3 stores as Text.
function note(section, text, rank) {
  const now = Date.now()
  return {
    section,
    text,
    rank,
    status: "hypothesis",
    tags: {},
    links: {},
    votes: {},
    comments: {},
    ratings: {},
    author: "js",
    created_at: now,
    updated_at: now,
    trashed_at: null,
  }
}

function nextRank(doc, section) {
  let last = ""
  for (const n of Object.values(doc.notes ?? {})) {
    if (String(n.section) === section && String(n.rank) > last) last = String(n.rank)
  }
  if (last === "") return "a0"
  // Good enough for tests: a0 … a9, then append a digit (still sorts after).
  const tail = last.at(-1)
  return tail >= "0" && tail < "9" ? last.slice(0, -1) + String.fromCharCode(tail.charCodeAt(0) + 1) : `${last}V`
}

async function find(repo, docUrl) {
  try {
    return await repo.find(docUrl)
  } catch (e) {
    if (/unavailable/i.test(String(e))) {
      out({ unavailable: docUrl })
      fail(4, String(e.message ?? e))
    }
    throw e
  }
}

const docUrl = docArg === "random" ? generateAutomergeUrl() : docArg
if (!cmd || !url || (!cmd.startsWith("create") && !docUrl)) fail(2, usage)

switch (cmd) {
  case "create": {
    const repo = await connect("create")
    const [a, b] = [noteId(), noteId()]
    const handle = repo.create({
      schema: "gapmap/canvas/1",
      title: docArg ?? "made in JavaScript",
      customer: { type: "user", description: "a café owner" },
      job: {
        situation: "when the supplier invoices arrive",
        motivation: "I want to pay them without re-typing",
        outcome: "so that Friday nights are free",
      },
      notes: {
        [a]: note("now", "Owner re-types invoices every Friday", "a0"),
        [b]: note("to-be", "Invoices flow into the books untouched", "a0"),
      },
      interviews: {},
      rounds: {},
      members: {},
    })
    const heads = await untilServerHas(handle.url, handle.doc())
    out({ url: handle.url, id: handle.documentId, notes: { [a]: "now", [b]: "to-be" }, heads })
    break
  }

  case "create-other": {
    const repo = await connect("create-other")
    const handle = repo.create({ title: "groceries", items: ["milk", "bread"] })
    const heads = await untilServerHas(handle.url, handle.doc())
    out({ url: handle.url, id: handle.documentId, heads })
    break
  }

  case "find": {
    const repo = await connect("find")
    const handle = await find(repo, docUrl)
    const until = rest[0] === "--until" ? rest[1] : undefined
    const has = () => Object.values(handle.doc().notes ?? {}).some(n => String(n.text).includes(until))
    if (until !== undefined) {
      out({ ready: true })
      while (!has()) await new Promise(r => handle.once("change", r))
    }
    out({ url: handle.url, heads: getHeads(handle.doc()), doc: handle.doc() })
    break
  }

  case "add": {
    const [section, text] = rest
    if (!section || text === undefined) fail(2, usage)
    const repo = await connect("add")
    const handle = await find(repo, docUrl)
    const id = noteId()
    handle.change(d => {
      d.notes[id] = note(section, text, nextRank(d, section))
    })
    const heads = await untilServerHas(handle.url, handle.doc())
    out({ note: id, heads })
    break
  }

  case "splice": {
    const [noteArg, pos, del, text] = rest
    if (!noteArg || pos === undefined || del === undefined || text === undefined) fail(2, usage)
    const repo = await connect("splice")
    const handle = await find(repo, docUrl)
    const id = Object.keys(handle.doc().notes ?? {}).find(k => k.startsWith(noteArg))
    if (!id) fail(1, `no note ${noteArg}`)
    handle.change(d => {
      splice(d, ["notes", id, "text"], Number(pos), Number(del), text)
    })
    const heads = await untilServerHas(handle.url, handle.doc())
    out({ note: id, text: String(handle.doc().notes[id].text), heads })
    break
  }

  case "ephemeral-listen": {
    const repo = await connect("listen")
    const handle = await find(repo, docUrl)
    const received = new Promise(r => handle.once("ephemeral-message", r))
    out({ ready: true })
    const { message, senderId } = await received
    out({ message, senderId })
    break
  }

  case "ephemeral-send": {
    const message = JSON.parse(rest[0] ?? "null")
    if (message === null) fail(2, usage)
    const repo = await connect("send")
    const handle = await find(repo, docUrl)
    // Ephemeral messages reach only the peers connected at that moment, and
    // nothing acknowledges them: send a few.
    for (let i = 0; i < 3; i++) {
      handle.broadcast(message)
      await sleep(300)
    }
    out({ sent: message })
    break
  }

  default:
    fail(2, usage)
}

// Exit now rather than wait for the repos' timers and sockets.
process.exit(0)
