// Child processes, free ports, /proc readings and a tiny RESP client for the harness.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export const CLK_TCK = 100; // getconf CLK_TCK on Linux x86_64/arm64

// ---------------------------------------------------------------- children
const children = new Set();

/** Spawn a child in its own process group so the whole group can be killed. */
export function start(name, cmd, args, { env = process.env, logDir, cwd } = {}) {
  const out = logDir ? fs.openSync(path.join(logDir, `${name}.log`), 'a') : 'ignore';
  // `ulimit -n` is raised in a shell that then execs the program, so the pid stays the program's.
  const script = 'ulimit -n 16384 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"';
  const child = spawn('/bin/sh', ['-c', script, name, cmd, ...args], {
    env,
    cwd,
    detached: true,
    stdio: ['ignore', out, out],
  });
  if (typeof out === 'number') fs.closeSync(out);
  const rec = { name, child, pid: child.pid, exited: null };
  rec.exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      rec.exited = { code, signal };
      children.delete(rec);
      resolve(rec.exited);
    });
  });
  child.on('error', () => {});
  children.add(rec);
  return rec;
}

/** SIGTERM the process group, wait up to graceMs, then SIGKILL. Resolves to the exit status. */
export async function stop(rec, graceMs = 3000) {
  if (!rec || rec.exited) return rec?.exited;
  try { process.kill(-rec.pid, 'SIGTERM'); } catch { /* gone */ }
  let timer;
  const t = new Promise((r) => { timer = setTimeout(r, graceMs, 'timeout'); });
  const res = await Promise.race([rec.exitPromise, t]);
  clearTimeout(timer);
  if (res === 'timeout') {
    try { process.kill(-rec.pid, 'SIGKILL'); } catch { /* gone */ }
    await Promise.race([rec.exitPromise, new Promise((r) => setTimeout(r, 1000).unref())]);
    return { code: null, signal: 'SIGKILL (after SIGTERM timeout)' };
  }
  return res;
}

/** Last-resort synchronous cleanup (process 'exit', signals, crashes). */
export function killAllSync() {
  for (const rec of children) {
    try { process.kill(-rec.pid, 'SIGKILL'); } catch { /* gone */ }
  }
  children.clear();
}

let cleanupInstalled = false;
export function installCleanup() {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  process.on('exit', killAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      console.error(`\n[bench] ${sig}: killing children`);
      killAllSync();
      process.exit(130);
    });
  }
  process.on('uncaughtException', (err) => {
    console.error('[bench] uncaught:', err);
    killAllSync();
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    console.error('[bench] unhandled rejection:', err);
    killAllSync();
    process.exit(1);
  });
}

/** Run a command to completion with a hard timeout; resolves {code, stdout, stderr, timedOut, ms, lines}. */
export function run(cmd, args, { timeoutMs = 60000, env = process.env, input } = {}) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { env, detached: true, stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    const rec = { name: cmd, child, pid: child.pid, exited: null };
    children.add(rec);
    let stdout = '';
    let stderr = '';
    const lines = []; // [msSinceStart, line]
    let partial = '';
    child.stdout.on('data', (d) => {
      const s = d.toString();
      stdout += s;
      partial += s;
      let i;
      while ((i = partial.indexOf('\n')) >= 0) {
        lines.push([performance.now() - t0, partial.slice(0, i)]);
        partial = partial.slice(i + 1);
      }
    });
    child.stderr.on('data', (d) => { stderr += d.toString(); });
    if (input) child.stdin.end(input);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
    }, timeoutMs);
    child.on('error', (err) => { stderr += String(err); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(rec);
      resolve({ code, signal, stdout, stderr, timedOut, ms: performance.now() - t0, lines });
    });
  });
}

export function sh(command) {
  return run('/bin/sh', ['-c', command], { timeoutMs: 10000 }).then((r) => r.stdout.trim());
}

// ---------------------------------------------------------------- ports
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- /proc
function readStat(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // fields after ")" start at field 3 (state): utime=14, stime=15, cutime=16, cstime=17
    return { utime: +f[11], stime: +f[12], cutime: +f[13], cstime: +f[14] };
  } catch {
    return null;
  }
}

export function childPids(pid) {
  try {
    const tasks = fs.readdirSync(`/proc/${pid}/task`);
    const out = [];
    for (const t of tasks) {
      try {
        const c = fs.readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim();
        if (c) out.push(...c.split(/\s+/).map(Number));
      } catch { /* raced */ }
    }
    return out;
  } catch {
    return [];
  }
}

/**
 * CPU seconds used by pid: own utime+stime, plus reaped children (cutime+cstime) and, when
 * withChildren, the live children (socat forks one process per connection).
 */
export function cpuSeconds(pid, withChildren = false) {
  const st = readStat(pid);
  if (!st) return null;
  let ticks = st.utime + st.stime + st.cutime + st.cstime;
  if (withChildren) {
    for (const c of childPids(pid)) {
      const cs = readStat(c);
      if (cs) ticks += cs.utime + cs.stime + cs.cutime + cs.cstime;
    }
  }
  return ticks / CLK_TCK;
}

function statusKb(pid, key) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = s.match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'));
    return m ? +m[1] : null;
  } catch {
    return null;
  }
}

/** Resident set in kB; with children (socat) summed over the process tree. */
export function rssKb(pid, withChildren = false) {
  let kb = statusKb(pid, 'VmRSS');
  if (kb == null) return null;
  if (withChildren) for (const c of childPids(pid)) kb += statusKb(c, 'VmRSS') ?? 0;
  return kb;
}

export const hwmKb = (pid) => statusKb(pid, 'VmHWM');

/** Sample RSS every intervalMs until stopped; returns {stop(): {peakKb, lastKb, samples}}. */
export function rssSampler(pid, { withChildren = false, intervalMs = 50 } = {}) {
  let peakKb = 0;
  let lastKb = null;
  let samples = 0;
  const tick = () => {
    const kb = rssKb(pid, withChildren);
    if (kb != null) {
      samples++;
      lastKb = kb;
      if (kb > peakKb) peakKb = kb;
    }
  };
  tick();
  const timer = setInterval(tick, intervalMs);
  return {
    get peakKb() { return peakKb; },
    stop() {
      clearInterval(timer);
      tick();
      return { peakKb, lastKb, samples };
    },
  };
}

/** System-wide CPU seconds from /proc/stat: busy (all but idle+iowait) and steal. */
export function systemCpu() {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, idle, iowait, irq, softirq, steal = 0] = f;
    return { busyS: (user + nice + system + irq + softirq + steal) / CLK_TCK, stealS: steal / CLK_TCK };
  } catch {
    return null;
  }
}

export function loadavg() {
  try {
    return fs.readFileSync('/proc/loadavg', 'utf8').trim().split(' ').slice(0, 3).map(Number);
  } catch {
    return null;
  }
}

/**
 * Local TCP ports of the sockets pid (and, withChildren, its children) holds open: its fds'
 * socket inodes looked up in /proc/net/tcp and tcp6. Tells which of Redis's clients (CLIENT
 * LIST addr=) are connections of one process.
 */
export function tcpLocalPorts(pid, withChildren = false) {
  const inodes = new Set();
  for (const p of [pid, ...(withChildren ? childPids(pid) : [])]) {
    let fds = [];
    try { fds = fs.readdirSync(`/proc/${p}/fd`); } catch { continue; }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${p}/fd/${fd}`));
        if (m) inodes.add(m[1]);
      } catch { /* closed meanwhile */ }
    }
  }
  const ports = new Set();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try { text = fs.readFileSync(f, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const c = line.trim().split(/\s+/);
      if (c.length > 9 && inodes.has(c[9])) ports.add(parseInt(c[1].split(':').pop(), 16));
    }
  }
  return ports;
}

/** Kernel TCP counters (namespace-wide) from /proc/net/netstat. */
export function tcpExt() {
  try {
    const lines = fs.readFileSync('/proc/net/netstat', 'utf8').split('\n');
    const out = {};
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const keys = lines[i].split(' ');
      const vals = lines[i + 1].split(' ');
      const pfx = keys[0].replace(':', '');
      for (let k = 1; k < keys.length; k++) out[`${pfx}${keys[k]}`] = Number(vals[k]);
    }
    return out;
  } catch {
    return {};
  }
}

// ---------------------------------------------------------------- RESP client
/** Minimal RESP2 client for harness housekeeping (FLUSHALL, CONFIG RESETSTAT, INFO, SET big). */
export class Resp {
  static connect(port, host = '127.0.0.1', timeoutMs = 5000) {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ port, host });
      const t = setTimeout(() => { sock.destroy(); reject(new Error(`connect ${host}:${port} timed out`)); }, timeoutMs);
      sock.once('connect', () => { clearTimeout(t); sock.setNoDelay(true); resolve(new Resp(sock)); });
      sock.once('error', (e) => { clearTimeout(t); reject(e); });
    });
  }

  constructor(sock) {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.waiting = [];
    sock.on('data', (d) => { this.buf = Buffer.concat([this.buf, d]); this.drain(); });
    sock.on('error', (e) => { for (const w of this.waiting.splice(0)) w.reject(e); });
    sock.on('close', () => { for (const w of this.waiting.splice(0)) w.reject(new Error('closed')); });
  }

  static encode(args) {
    const parts = [`*${args.length}\r\n`];
    for (const a of args) {
      const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
      parts.push(`$${b.length}\r\n`, b, '\r\n');
    }
    return Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p))));
  }

  call(...args) {
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.sock.write(Resp.encode(args));
    });
  }

  parse(buf, off) {
    const nl = buf.indexOf('\r\n', off);
    if (nl < 0) return null;
    const type = String.fromCharCode(buf[off]);
    const line = buf.toString('utf8', off + 1, nl);
    const next = nl + 2;
    if (type === '+') return [line, next];
    if (type === '-') return [new Error(line), next];
    if (type === ':') return [Number(line), next];
    if (type === '$') {
      const n = Number(line);
      if (n < 0) return [null, next];
      if (buf.length < next + n + 2) return null;
      return [buf.toString('utf8', next, next + n), next + n + 2];
    }
    if (type === '*') {
      const n = Number(line);
      if (n < 0) return [null, next];
      const arr = [];
      let o = next;
      for (let i = 0; i < n; i++) {
        const r = this.parse(buf, o);
        if (!r) return null;
        arr.push(r[0]);
        o = r[1];
      }
      return [arr, o];
    }
    throw new Error(`bad RESP type ${type}`);
  }

  drain() {
    while (this.waiting.length && this.buf.length) {
      const r = this.parse(this.buf, 0);
      if (!r) return;
      this.buf = this.buf.subarray(r[1]);
      const w = this.waiting.shift();
      if (r[0] instanceof Error) w.reject(r[0]);
      else w.resolve(r[0]);
    }
  }

  close() { this.sock.destroy(); }
}

/** Wait until PING through host:port answers PONG. */
export async function waitPong(port, timeoutMs = 15000, isAlive = () => true) {
  const deadline = Date.now() + timeoutMs;
  let lastErr;
  while (Date.now() < deadline) {
    if (!isAlive()) throw new Error(`process exited before port ${port} answered`);
    try {
      const c = await Resp.connect(port, '127.0.0.1', 1000);
      try {
        const pong = await Promise.race([c.call('PING'), sleep(1000).then(() => { throw new Error('PING timeout'); })]);
        if (pong === 'PONG') return;
      } finally {
        c.close();
      }
    } catch (e) {
      lastErr = e;
    }
    await sleep(100);
  }
  throw new Error(`port ${port} did not answer PING within ${timeoutMs} ms: ${lastErr?.message}`);
}

export function parseInfo(text) {
  const out = {};
  for (const line of String(text).split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}
