/**
 * A Redis Cluster behind one contract entry (`<NAME>_PORT_<p>_CLUSTER=seeds`): port <p> is the
 * cluster's entry (each connection to a live primary), and every node — primaries and replicas —
 * gets a listener of its own from the entry's port range, for the life of the process the same
 * port for the same node id. Replies that name nodes are rewritten to those listeners
 * (ClusterRewriter), so a cluster client behind the ambassador only ever learns its addresses.
 * The topology is followed: new nodes get listeners, removed nodes' listeners stop accepting and
 * close once their clients are done, a node announced elsewhere is followed there.
 */
import { formatUpstream, type UpstreamAddress } from '../config/address.js';
import { ConfigError } from '../config/configError.js';
import type { ClusterSpec, ListenerSpec } from '../config/listenerSpec.js';
import type { ClusterSettings, TlsSettings } from '../config/settings.js';
import type { Logger } from '../log/logger.js';
import type { ListenerFactory } from '../listenerFactory.js';
import { ClusterRewriter, type NodePorts } from '../proxy/clusterRewriter.js';
import type { Listener } from '../proxy/listener.js';
import type { ClusterRuntime } from '../proxy/listenerRuntime.js';
import { ClusterEntrySelector } from '../upstream/clusterEntrySelector.js';
import { ClusterTopology, SLOTS, type ClusterNode } from '../upstream/clusterTopology.js';
import { NodeSelector } from '../upstream/nodeSelector.js';
import type { ListenerReadiness } from '../upstream/upstreamProbes.js';

interface NodeEntry {
  /** The node's id once the topology named it (null: known only from an address a reply named). */
  id: string | null;
  addr: UpstreamAddress;
  readonly port: number;
  listener: Listener;
  readonly selector: NodeSelector;
  /** The cluster no longer lists it: its listener takes no new clients. */
  gone: boolean;
}

export class ClusterGroup implements NodePorts {
  readonly entry: Listener;
  private readonly topology: ClusterTopology;
  private readonly rewriter = new ClusterRewriter(this);
  private readonly byId = new Map<string, NodeEntry>();
  private readonly byAddress = new Map<string, NodeEntry>();
  /** The other names replies give a node (its IP or hostname, whichever it is not announced by). */
  private readonly byAlias = new Map<string, NodeEntry>();
  private readonly free: number[] = [];
  private readonly baseName: string;
  private started = false;
  private bindHost: string | null = null;
  /** Set once the first reading of the topology settled start() (or failed it). */
  private firstRead: ((err: Error | null) => void) | null = null;

  constructor(
    private readonly spec: ListenerSpec & { readonly target: { readonly kind: 'cluster'; readonly cluster: ClusterSpec } },
    private readonly factory: ListenerFactory,
    private readonly settings: ClusterSettings & { readonly tls: TlsSettings; readonly timeoutMs: number },
    private readonly log: Logger,
  ) {
    const range = spec.target.cluster.ports!;
    for (let p = range.from; p <= range.to; p++) this.free.push(p);
    this.baseName = spec.name.slice(0, spec.name.lastIndexOf(':'));
    this.topology = new ClusterTopology(
      spec.target.cluster.seeds,
      { tls: settings.tls, preamble: factory.preamble, timeoutMs: settings.timeoutMs, refreshMs: settings.refreshMs },
      log,
      spec.name,
      { onNodes: (nodes) => this.onNodes(nodes), onNotACluster: (seed, error) => this.onNotACluster(seed, error) },
    );
    const selector = new ClusterEntrySelector(this.topology, (url) => this.nodeAt(url)?.selector.healthOf(url) ?? null);
    this.entry = factory.make(spec.name, spec.port, selector, { cluster: this.runtimeFor(spec.name) }).listener;
  }

  /** Every listener of the group: the entry and the nodes'. */
  get listeners(): Listener[] {
    return [this.entry, ...new Set([...this.byId.values(), ...this.byAddress.values()].map((e) => e.listener))];
  }

  /**
   * Listens on the entry port, then waits (at most `waitMs`) for a first reading of the topology:
   * a seed that is no cluster node, or a range too small for the cluster, is a configuration error.
   */
  async start(bindHost: string | null, waitMs: number): Promise<void> {
    this.bindHost = bindHost;
    await this.entry.listen(bindHost);
    const first = new Promise<Error | null>((resolve) => {
      this.firstRead = resolve;
      setTimeout(() => resolve(null), waitMs).unref();
    });
    this.started = true;
    this.topology.start();
    const err = await first;
    this.firstRead = null;
    if (err !== null) throw err;
    for (const e of this.byAddress.values()) this.open(e);
  }

  stop(): void {
    this.topology.stop();
    for (const e of new Set([...this.byId.values(), ...this.byAddress.values()])) e.selector.stop();
  }

  /** /readyz: the entry is ready when every slot is served; each node listener by its health check. */
  status(): Record<string, ListenerReadiness> {
    const out: Record<string, ListenerReadiness> = {};
    const covered = this.covered();
    out[this.spec.name] = {
      ready: covered === SLOTS,
      master: null,
      upstreams: [{ upstream: 'cluster', up: covered === SLOTS, ...(covered === SLOTS ? {} : { error: `${covered} of ${SLOTS} slots served by a primary that is online` }) }],
    };
    for (const e of this.byAddress.values()) {
      if (e.gone) continue;
      // A node the cluster itself reports failed does not hold readiness back (its listener still
      // shows it down): whether its slots are served is the entry's coverage, above.
      const failed = e.id !== null && this.topology.current.some((n) => n.id === e.id && !n.online);
      out[e.listener.name] = { ready: e.selector.ready() || failed, master: e.addr.url, upstreams: e.selector.status() };
    }
    return out;
  }

  /**
   * Slots served by a primary that is online both in the cluster's view and by the ambassador's
   * own health check of its node: the cluster takes its node timeout (and a majority) to mark a
   * dead primary failed, and meanwhile its slots are not served.
   */
  private covered(): number {
    let n = 0;
    for (const node of this.topology.current) {
      if (!node.primary || !node.online) continue;
      const e = this.byId.get(node.id);
      if (e === undefined || e.selector.ready()) n += node.slots;
    }
    return n;
  }

  portFor(host: string, port: number): number | null {
    const key = `${host}:${port}`;
    const e = this.byAddress.get(key) ?? this.byAlias.get(key) ?? this.add(null, host, port);
    if (e === null) return null;
    // An address a reply named before the topology did: read it again to learn the node.
    if (e.id === null) this.topology.refreshSoon('a reply named a node not known yet');
    return e.port;
  }

  private onNodes(nodes: readonly ClusterNode[]): void {
    if (this.firstRead !== null && nodes.length > this.free.length + this.byAddress.size) {
      const range = this.spec.target.cluster.ports!;
      this.firstRead(
        new ConfigError(
          `${this.spec.source}: the cluster has ${nodes.length} nodes, but the node ports ${range.from}-${range.to} hold only ${range.to - range.from + 1}; ` +
            'give a range with a port for every node (AMBASSADOR_CLUSTER_PORTS or <NAME>_PORT_<p>_CLUSTER_PORTS)',
        ),
      );
      return;
    }
    const seen = new Set<string>();
    for (const n of nodes) {
      seen.add(n.id);
      this.follow(n);
    }
    for (const [id, e] of this.byId) if (!seen.has(id) && !e.gone) this.retire(e);
    this.firstRead?.(null);
  }

  private onNotACluster(seed: string, error: string): void {
    if (this.topology.current.length > 0) return; // one node's mistake; the others answered
    const err = new ConfigError(`${this.spec.source}: seed ${seed} is not a Redis Cluster node (${error}); name cluster nodes (for example REDIS_PORT_7000_CLUSTER=10.0.0.7:7000)`);
    if (this.firstRead !== null) this.firstRead(err);
    else this.log.error('cluster seed is not a cluster node', { listener: this.spec.name, seed, error });
  }

  /** A node as the topology describes it: known by id, adopted from its address, or new. */
  private follow(n: ClusterNode): void {
    const key = `${n.host}:${n.port}`;
    let e = this.byId.get(n.id) ?? null;
    if (e === null) {
      const byAddr = this.byAddress.get(key);
      e = byAddr !== undefined && byAddr.id === null ? byAddr : this.add(n.id, n.host, n.port);
      if (e === null) return;
      e.id = n.id;
      this.byId.set(n.id, e);
    }
    if (e.gone) this.revive(e);
    for (const a of n.aliases) this.byAlias.set(`${a}:${n.port}`, e);
    if (e.addr.host !== n.host || e.addr.port !== n.port) {
      this.byAddress.delete(`${e.addr.host}:${e.addr.port}`);
      e.addr = address(n.host, n.port);
      e.selector.moveTo(e.addr);
      this.byAddress.set(key, e);
      this.log.info('cluster node moved', { listener: e.listener.name, node: n.id, upstream: e.addr.url });
    }
  }

  /** A listener for a node, on the next free port of the range (null when none is left). */
  private add(id: string | null, host: string, port: number): NodeEntry | null {
    const listenPort = this.free.shift();
    if (listenPort === undefined) {
      this.log.error('cluster node ports used up: a node cannot get a listener', { listener: this.spec.name, node: id ?? `${host}:${port}` });
      return null;
    }
    const name = `${this.baseName}:${listenPort}`;
    const addr = address(host, port);
    const selector = new NodeSelector(addr, this.factory.health, this.factory.statsOf(name), this.log, (reason) => this.topology.refreshSoon(`node ${addr.url} down: ${reason}`));
    // A node's connection lost closes its clients (as socat would): a cluster client then asks
    // the cluster where its slots went, rather than wait on a node that may be gone.
    const listener = this.factory.make(name, listenPort, selector, { cluster: this.runtimeFor(name), loss: 'close', tlsAs: this.spec.port }).listener;
    const e: NodeEntry = { id, addr, port: listenPort, listener, selector, gone: false };
    this.byAddress.set(`${host}:${port}`, e);
    if (this.started && this.firstRead === null) this.open(e);
    return e;
  }

  private open(e: NodeEntry): void {
    e.selector.start();
    e.listener.listen(this.bindHost).then(
      () => this.log.info('cluster node listener', { listener: e.listener.name, port: e.port, upstream: e.addr.url, node: e.id }),
      (err: Error) => this.log.error('cannot listen for a cluster node', { listener: e.listener.name, port: e.port, error: err.message }),
    );
  }

  /** The node left the cluster: no new clients; the ones it has finish. Its port stays its own. */
  private retire(e: NodeEntry): void {
    e.gone = true;
    e.listener.stopAccepting();
    e.selector.stop();
    this.log.info('cluster node removed', { listener: e.listener.name, node: e.id });
  }

  /** A removed node came back: a new listener on its old port. */
  private revive(e: NodeEntry): void {
    e.gone = false;
    const name = e.listener.name;
    e.listener = this.factory.make(name, e.port, e.selector, { cluster: this.runtimeFor(name), loss: 'close', tlsAs: this.spec.port }).listener;
    this.open(e);
  }

  private nodeAt(url: string): NodeEntry | undefined {
    for (const e of this.byAddress.values()) if (e.addr.url === url) return e;
    return undefined;
  }

  private runtimeFor(name: string): ClusterRuntime {
    const stats = this.factory.statsOf(name);
    return {
      rewriter: this.rewriter,
      announceHost: this.settings.announceHost,
      onRedirect: (kind) => {
        stats.redirected(kind);
        if (kind === 'moved') this.topology.refreshSoon('a client was redirected (MOVED)');
      },
    };
  }
}

function address(host: string, port: number): UpstreamAddress {
  return { host, port, tls: false, url: formatUpstream(host, port) };
}
