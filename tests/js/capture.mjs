// Captures real automerge-repo websocket frames as test fixtures for
// gapmap-proto (crates/proto/tests/fixtures/).
//
//   node capture.mjs [OUT_DIR]
//
// An unmodified automerge-repo 2.5 server (WebSocketServerAdapter, NodeFS
// storage, remote-heads gossiping on) listens on a free port; a logging proxy
// sits in front of it and saves every binary frame, in both directions, as
// `<nn>-<type>-<c2s|s2c>.cbor` in the order it passed. Two unmodified clients
// (WebSocketClientAdapter) connect through the proxy and run the scenario
// below. Nothing here builds a frame by hand except the join that offers an
// unsupported protocol version, which is encoded with automerge-repo's own
// CBOR encoder; the server's error reply to it is real.
import { mkdirSync, readdirSync, rmSync, writeFileSync, mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { Repo, cbor, generateAutomergeUrl } from "@automerge/automerge-repo"
import {
  WebSocketClientAdapter,
  WebSocketServerAdapter,
} from "@automerge/automerge-repo-network-websocket"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"
import { WebSocket, WebSocketServer } from "ws"

const here = fileURLToPath(new URL(".", import.meta.url))
const outDir = resolve(process.argv[2] ?? join(here, "../../crates/proto/tests/fixtures"))
const sleep = ms => new Promise(r => setTimeout(r, ms))
const listening = wss => new Promise(r => wss.on("listening", () => r(wss.address().port)))

// ---- the reference server -------------------------------------------------
const serverWss = new WebSocketServer({ host: "127.0.0.1", port: 0 })
const serverPort = await listening(serverWss)
const serverDir = mkdtempSync(join(tmpdir(), "gapmap-capture-"))
const server = new Repo({
  network: [new WebSocketServerAdapter(serverWss)],
  storage: new NodeFSStorageAdapter(serverDir),
  peerId: "capture-server",
  sharePolicy: async () => false,
  enableRemoteHeadsGossiping: true,
})

// ---- the logging proxy ----------------------------------------------------
const frames = [] // { dir, bytes, type, phase }
let phase = "setup"
const proxyWss = new WebSocketServer({ host: "127.0.0.1", port: 0 })
const proxyPort = await listening(proxyWss)
proxyWss.on("connection", downstream => {
  const upstream = new WebSocket(`ws://127.0.0.1:${serverPort}`)
  const pending = []
  let peer = "?" // the client's peer id, from its join
  const record = (dir, data, isBinary) => {
    if (!isBinary) throw new Error(`text frame ${dir}: automerge-repo sends binary only`)
    const bytes = new Uint8Array(data)
    const { type, senderId } = cbor.decode(bytes)
    if (type === "join") peer = senderId.replace("capture-", "")
    frames.push({ dir, bytes, type, phase, peer })
  }
  downstream.on("message", (data, isBinary) => {
    record("c2s", data, isBinary)
    if (upstream.readyState === WebSocket.OPEN) upstream.send(data, { binary: isBinary })
    else pending.push([data, isBinary])
  })
  upstream.on("open", () => {
    for (const [data, isBinary] of pending) upstream.send(data, { binary: isBinary })
  })
  upstream.on("message", (data, isBinary) => {
    record("s2c", data, isBinary)
    downstream.send(data, { binary: isBinary })
  })
  upstream.on("close", () => downstream.close())
  downstream.on("close", () => upstream.close())
})

const connectClient = (peerId, extra = {}) =>
  new Repo({
    network: [new WebSocketClientAdapter(`ws://127.0.0.1:${proxyPort}`)],
    peerId,
    ...extra,
  })

// ---- the scenario ---------------------------------------------------------
phase = "alice (with storage) joins, creates and changes a document"
const alice = connectClient("capture-alice", {
  storage: new NodeFSStorageAdapter(mkdtempSync(join(tmpdir(), "gapmap-capture-a-"))),
  enableRemoteHeadsGossiping: true,
})
await alice.networkSubsystem.whenReady()
await sleep(300)
const handle = alice.create({ title: "capture", notes: {} })
handle.change(d => {
  d.notes.n1 = { section: "now", text: "works offline on the train", votes: { ann: true } }
})
await sleep(800)

phase = "alice subscribes to the server's remote heads, changes again"
const serverStorageId = await server.storageId()
alice.subscribeToRemotes([serverStorageId])
handle.change(d => {
  d.notes.n1.status = "hypothesis"
})
await sleep(800)

phase = "alice asks for a document the server lacks"
const missing = generateAutomergeUrl()
try {
  await alice.find(missing)
  throw new Error("expected the missing document to be unavailable")
} catch (e) {
  if (!/unavailable/i.test(String(e))) throw e
}
await sleep(300)

phase = "bob (no storage: isEphemeral) joins and requests alice's document"
const bob = connectClient("capture-bob")
await bob.networkSubsystem.whenReady()
await sleep(300)
const bobHandle = await bob.find(handle.url)
await sleep(500)

phase = "alice broadcasts an ephemeral message; the server forwards it to bob, who echoes it back"
const received = new Promise(r => bobHandle.on("ephemeral-message", r))
handle.broadcast({ cursor: { note: "n1", offset: 5 }, name: "alice" })
await received
await sleep(300)

phase = "a raw socket joins offering only protocol version 2; the server answers error"
await new Promise((resolveDone, reject) => {
  const ws = new WebSocket(`ws://127.0.0.1:${proxyPort}`)
  ws.on("open", () =>
    ws.send(
      cbor.encode({
        type: "join",
        senderId: "capture-bad-version",
        peerMetadata: { isEphemeral: true },
        supportedProtocolVersions: ["2"],
      }),
    ),
  )
  ws.on("close", resolveDone)
  ws.on("error", reject)
})
await sleep(200)

// ---- write fixtures -------------------------------------------------------
// shutdown() flushes every handle and throws on the unavailable one: ignore.
for (const repo of [alice, bob, server]) await repo.shutdown().catch(() => {})
proxyWss.close()
serverWss.close()
rmSync(serverDir, { recursive: true, force: true })

mkdirSync(outDir, { recursive: true })
for (const f of readdirSync(outDir)) if (f.endsWith(".cbor")) rmSync(join(outDir, f))
const index = []
frames.forEach((f, i) => {
  const name = `${String(i + 1).padStart(2, "0")}-${f.type}-${f.dir}.cbor`
  writeFileSync(join(outDir, name), f.bytes)
  const message = summary(cbor.decode(f.bytes))
  index.push({ name, phase: f.phase, client: f.peer, bytes: f.bytes.length, message })
})
writeFileSync(join(outDir, "index.json"), JSON.stringify(index, null, 2) + "\n")
for (const i of index) console.log(`${i.name.padEnd(40)} ${i.client.padEnd(12)} ${i.bytes}B ${i.phase}`)

function summary(msg) {
  const out = {}
  for (const [k, v] of Object.entries(msg)) {
    out[k] = v instanceof Uint8Array ? `<${v.length} bytes>` : v === undefined ? "<undefined>" : v
  }
  return out
}
process.exit(0)
