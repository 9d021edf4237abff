/**
 * Ports the test chooses itself, below the kernel's ephemeral range (32768–60999 here), for what
 * freePort() cannot give: a Redis Cluster node listens on p and on its cluster bus p + 10000, and
 * a bus port inside the ephemeral range can be taken by any outgoing connection (a TIME-WAIT
 * socket on it made a node fail to start); a cluster ambassador needs an entry port and a range
 * of node ports right after it.
 *
 * - Cluster nodes: 20000–22699, so their buses are 30000–32699.
 * - Ambassador listeners: 23000–29999 (no bus; clear of the nodes' buses).
 *
 * Each vitest worker starts at its own place in each range (VITEST_POOL_ID) and a random offset
 * within it; a port is handed out once per process, and only after a bind test on 127.0.0.1
 * (for a node, of both p and p + 10000).
 */
import net from 'node:net';

const NODE_RANGE = { from: 20000, to: 22699 };
const AMBASSADOR_RANGE = { from: 23000, to: 29999 };
const BUS_OFFSET = 10000;

const handedOut = new Set<number>();

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/** Where this worker starts looking in `range`: its own slice of it, at a random place. */
function startIn(range: { from: number; to: number }): number {
  const size = range.to - range.from + 1;
  const pool = Number(process.env.VITEST_POOL_ID ?? '1');
  const slices = 4;
  const slice = Math.floor(size / slices);
  return range.from + ((pool - 1) % slices) * slice + Math.floor(Math.random() * slice);
}

/**
 * `n` consecutive ports of `range`, each free (and, with `bus`, each p + 10000 free too), none
 * handed out before in this process.
 */
async function block(n: number, range: { from: number; to: number }, bus: boolean): Promise<number[]> {
  const starts = range.to - range.from + 2 - n;
  const first = startIn(range) - range.from;
  for (let tried = 0; tried < starts; tried++) {
    const at = range.from + ((first + tried) % starts);
    const ports = Array.from({ length: n }, (_, k) => at + k);
    if (ports.some((p) => handedOut.has(p))) continue;
    let free = true;
    for (const p of ports) {
      if (!(await canBind(p)) || (bus && !(await canBind(p + BUS_OFFSET)))) {
        free = false;
        break;
      }
    }
    if (!free) continue;
    for (const p of ports) handedOut.add(p);
    return ports;
  }
  throw new Error(`no ${n} consecutive free ports in ${range.from}-${range.to}${bus ? ' (with their cluster bus ports)' : ''}`);
}

/** `n` ports for Redis Cluster nodes (consecutive), each with its bus port free. */
export function clusterNodePorts(n: number): Promise<number[]> {
  return block(n, NODE_RANGE, true);
}

/** An ambassador's cluster listener: its entry port and `nodes` node ports right above it. */
export async function ambassadorPorts(nodes: number): Promise<{ entry: number; from: number; to: number }> {
  const ports = await block(nodes + 1, AMBASSADOR_RANGE, false);
  return { entry: ports[0]!, from: ports[1]!, to: ports[ports.length - 1]! };
}

/** `n` consecutive free ports in the ambassador range, for listeners that are not cluster ones. */
export function listenerPorts(n: number): Promise<number[]> {
  return block(n, AMBASSADOR_RANGE, false);
}
