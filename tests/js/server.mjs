// The JavaScript reference sync server: an unmodified automerge-repo 2.5 Repo
// behind the websocket adapter, storing on disk. gapmap's interop tests and
// benchmarks run gapmap clients against it.
//
//   node server.mjs [PORT] [DATA_DIR]     (or PORT=… DATA_DIR=… HOST=… node server.mjs)
//
// Port 0 (the default) picks a free port; HOST defaults to 127.0.0.1. Prints
// `listening <port>` on stdout once it accepts connections; SIGTERM stops it.
import { Repo } from "@automerge/automerge-repo"
import { WebSocketServerAdapter } from "@automerge/automerge-repo-network-websocket"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"
import { WebSocketServer } from "ws"

const port = Number(process.argv[2] ?? process.env.PORT ?? 0)
const dir = process.argv[3] ?? process.env.DATA_DIR ?? "automerge-repo-data"

const wss = new WebSocketServer({ host: process.env.HOST ?? "127.0.0.1", port })
const repo = new Repo({
  network: [new WebSocketServerAdapter(wss)],
  storage: new NodeFSStorageAdapter(dir),
  peerId: `js-server-${process.pid}`,
  // Like automerge-repo-sync-server: serve what peers ask for, announce nothing.
  sharePolicy: async () => false,
})

wss.on("listening", () => console.log(`listening ${wss.address().port}`))

const stop = async () => {
  await repo.shutdown().catch(() => {})
  wss.close()
  process.exit(0)
}
process.on("SIGTERM", stop)
process.on("SIGINT", stop)
