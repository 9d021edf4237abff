#!/usr/bin/env node
// Conformance: Redis's own functional test suite (tests/ of the Debian source package of the
// installed redis-server, its own TCL client included), run against a real redis-server directly
// and, at the same time, against another one through the built ambassador; compared test by test.
//
//   npm run conformance                       build, then both runs of the external-server suite
//   npm run conformance -- --units unit/multi,unit/pubsub
//   node test/conformance/run.mjs --help
//
// Every test that passes direct must pass through the ambassador, or be listed in exceptions.json
// with the reason it cannot (it inspects the client's own connection). Exit code 1 otherwise, or
// when a listed exception now passes; 2 when the suite could not be fetched or run.
//
// The suite is downloaded at run time from the Debian source archive the machine's apt already
// uses (like `npm ci` downloads packages) into a cache directory outside the repository; nothing
// fetched is committed or kept in the work tree.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../..');
const CLI = path.join(REPO, 'dist/cli.js');

// redis-server as the suite's own CI runs it for external-server tests (.github/workflows/external.yml
// of redis 7.0: `--save "" --enable-protected-configs yes --enable-debug-command yes
// --enable-module-command yes`, default 16 databases), on a loopback port of ours.
const REDIS_ARGS = ['--save', '', '--appendonly', 'no', '--enable-protected-configs', 'yes', '--enable-debug-command', 'yes', '--enable-module-command', 'yes'];
// Tests tagged `slow` are excluded, as in that CI job; `external:skip` ones are skipped by the suite
// itself in --host mode, `large-memory` ones without --large-memory.
const DEFAULT_TAGS = '-slow';

const HELP = `usage: node test/conformance/run.mjs [options]     (npm run conformance -- [options])
  --units a,b,...     only these test units (e.g. unit/multi,unit/type/list); default: all
  --only NAME         only tests with this name (runtest --only; repeatable; /regexp allowed)
  --tags TAGS         runtest --tags (default "${DEFAULT_TAGS}")
  --mode M            both (default), direct or ambassador
  --serial            run direct, then through the ambassador (default: both at once, each on its
                      own redis-server; the suite runs one test at a time against an external
                      server, so this halves the wall time at little cost on two cores)
  --skiptest NAME     runtest --skiptest (repeatable; /regexp allowed), e.g. to see what fails
                      through the ambassador once a known failure is out of the way
  --retries N         re-run a unit through the ambassador this many times when a test that passed
                      direct failed there; failing again confirms it (default 1; tests that hung
                      are not run again)
  --stall S           a test that makes no progress for S seconds has hung: it fails, and its unit
                      runs again without it and the tests that failed before it (default 90; the
                      longest test, a HyperLogLog fuzzer, takes ~50 s)
  --exceptions FILE   the exceptions list (default test/conformance/exceptions.json)
  --tree DIR          use this redis source tree (its tests/) instead of fetching the Debian one
  --cache DIR         where the suite is downloaded (default $REDIS_AMBASSADOR_CONFORMANCE_CACHE,
                      else \${XDG_CACHE_HOME:-~/.cache}/redis-ambassador-conformance)
  --report-from FILE  no run: compare and report again from a run's saved state (last-run/state.json),
                      with the current exceptions list
  --no-write          do not rewrite test/conformance/results.{md,json} (a run with --units, --only,
                      --skiptest, --tags or --mode never does)
`;

function parseArgs(argv) {
  const o = { units: null, only: [], skiptest: [], tags: DEFAULT_TAGS, mode: 'both', parallel: true, retries: 1, stall: 90, tree: null, cache: null, write: true, partial: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new UsageError(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--units') { o.units = val().split(',').map((s) => s.trim().replace(/\.tcl$/, '').replace(/^tests\//, '')).filter(Boolean); o.partial = true; }
    else if (a === '--only') { o.only.push(val()); o.partial = true; }
    else if (a === '--tags') { o.tags = val(); o.partial = true; }
    else if (a === '--skiptest') { o.skiptest.push(val()); o.partial = true; }
    else if (a === '--mode') { o.mode = val(); o.partial = true; if (!['both', 'direct', 'ambassador'].includes(o.mode)) throw new UsageError(`--mode is both, direct or ambassador, not ${o.mode}`); }
    else if (a === '--serial') o.parallel = false;
    else if (a === '--parallel') o.parallel = true;
    else if (a === '--retries') o.retries = nonNegInt(a, val());
    else if (a === '--stall') o.stall = nonNegInt(a, val());
    else if (a === '--tree') o.tree = path.resolve(val());
    else if (a === '--exceptions') o.exceptions = path.resolve(val());
    else if (a === '--report-from') o.reportFrom = path.resolve(val());
    else if (a === '--cache') o.cache = path.resolve(val());
    else if (a === '--no-write') o.write = false;
    else if (a === '-h' || a === '--help') { process.stdout.write(HELP); process.exit(0); }
    else throw new UsageError(`unknown option ${a}`);
  }
  if (o.partial) o.write = false;
  o.cache ??= process.env.REDIS_AMBASSADOR_CONFORMANCE_CACHE
    ? path.resolve(process.env.REDIS_AMBASSADOR_CONFORMANCE_CACHE)
    : path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'redis-ambassador-conformance');
  return o;
}
class UsageError extends Error {}
function nonNegInt(name, s) {
  if (!/^\d+$/.test(s)) throw new UsageError(`${name} takes a whole number, not ${s}`);
  return Number(s);
}

const log = (msg) => process.stdout.write(`[conformance] ${msg}\n`);
class SetupError extends Error {}

// ------------------------------------------------------------------ processes
const children = new Set();
function startProcess(name, cmd, args, { cwd, logFile, env = process.env } = {}) {
  const fd = fs.openSync(logFile, 'a');
  const child = spawn(cmd, args, { cwd, env, detached: true, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const rec = { name, child, pid: child.pid, exit: null };
  rec.exited = new Promise((resolve) => child.on('exit', (code, signal) => { rec.exit = { code, signal }; children.delete(rec); resolve(rec.exit); }));
  child.on('error', (e) => { rec.exit ??= { code: null, signal: null, error: String(e) }; });
  children.add(rec);
  return rec;
}
/** SIGTERM this child's process group (it is its own group leader), SIGKILL after graceMs. */
async function stopProcess(rec, graceMs = 5000) {
  if (!rec || rec.exit) return rec?.exit;
  try { process.kill(-rec.pid, 'SIGTERM'); } catch { /* gone */ }
  const t = setTimeout(() => { try { process.kill(-rec.pid, 'SIGKILL'); } catch { /* gone */ } }, graceMs);
  const res = await rec.exited;
  clearTimeout(t);
  return res;
}
function killAllSync() {
  for (const rec of children) { try { process.kill(-rec.pid, 'SIGKILL'); } catch { /* gone */ } }
  children.clear();
}
process.on('exit', killAllSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => { killAllSync(); process.exit(130); });

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** PING over a fresh connection; resolves true on +PONG. */
function ping(port, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = '';
    const done = (v) => { sock.destroy(); resolve(v); };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => { buf += d; if (buf.includes('\r\n')) done(buf.startsWith('+PONG')); });
  });
}
async function waitPong(port, rec, timeoutMs = 15000) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (rec.exit) throw new SetupError(`${rec.name} exited (${JSON.stringify(rec.exit)}) before answering PING on ${port}`);
    if (await ping(port)) return;
    await sleep(100);
  }
  throw new SetupError(`${rec.name} did not answer PING on ${port} within ${timeoutMs} ms`);
}

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  return { code: r.status, out: (r.stdout ?? '') + (r.stderr ?? ''), stdout: r.stdout ?? '', error: r.error };
}
const have = (cmd) => sh('sh', ['-c', `command -v ${cmd}`]).code === 0;
const isRoot = () => process.getuid?.() === 0;

// ------------------------------------------------------------------ tools
let aptUpdated = false;
function aptInstall(pkgs, why) {
  if (!isRoot()) throw new SetupError(`${why}: install ${pkgs.join(' ')} (apt-get install ${pkgs.join(' ')}) or run as root`);
  log(`installing ${pkgs.join(' ')} (${why})`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!aptUpdated) { sh('apt-get', ['update', '-qq'], { env }); aptUpdated = true; }
  const r = sh('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], { env });
  if (r.code !== 0) throw new SetupError(`apt-get install ${pkgs.join(' ')} failed:\n${r.out.slice(-2000)}`);
}

/** runtest needs tclsh8.5, 8.6 or 8.7 by that name. */
function tclsh() {
  const find = () => ['tclsh8.7', 'tclsh8.6', 'tclsh8.5'].find(have);
  if (!find()) aptInstall(['tcl'], 'the suite runs in tclsh');
  const t = find();
  if (!t) throw new SetupError('tcl installed but no tclsh8.5/8.6/8.7 on PATH');
  return sh('sh', ['-c', `command -v ${t}`]).stdout.trim();
}

function ensureRedis() {
  const missing = [];
  if (!have('redis-server')) missing.push('redis-server');
  if (!have('redis-cli')) missing.push('redis-tools');
  if (missing.length) aptInstall(missing, 'the suite runs against a real redis-server');
}

/** The installed redis-server: its own version, and (when dpkg knows it) its Debian source package. */
function redisVersions() {
  const v = /v=(\d+\.\d+\.\d+)/.exec(sh('redis-server', ['--version']).out)?.[1];
  if (!v) throw new SetupError('cannot read the version of redis-server --version');
  const bin = sh('sh', ['-c', 'command -v redis-server']).stdout.trim();
  let deb = null;
  let owner = sh('dpkg-query', ['-S', bin]);
  if (owner.code !== 0) owner = sh('dpkg-query', ['-S', fs.realpathSync(bin)]);
  if (owner.code === 0) {
    const pkg = owner.stdout.split(':')[0].trim();
    const q = sh('dpkg-query', ['-W', '-f=${Version}\t${source:Package}\t${source:Version}', pkg]);
    if (q.code === 0) {
      const [binVersion, srcPkg, srcVersion] = q.stdout.trim().split('\t');
      deb = { pkg, binVersion, srcPkg, srcVersion };
    }
  }
  return { redis: v, bin, deb };
}

// ------------------------------------------------------------------ fetching the suite
/** Upstream part of a Debian version: 5:7.0.15-1~deb12u10 → 7.0.15. */
const upstreamOf = (debVersion) => debVersion.replace(/^\d+:/, '').replace(/-[^-]*$/, '');

/**
 * deb-src lines mirroring the machine's own `deb` entries for its release (same URIs, suites,
 * components and keys), so the suite comes from the archive this machine already trusts.
 */
function debSrcLines() {
  const codename = /^VERSION_CODENAME=(.*)$/m.exec(fs.readFileSync('/etc/os-release', 'utf8'))?.[1]?.replace(/"/g, '');
  const entries = [];
  const files = [];
  if (fs.existsSync('/etc/apt/sources.list')) files.push('/etc/apt/sources.list');
  const dir = '/etc/apt/sources.list.d';
  if (fs.existsSync(dir)) for (const f of fs.readdirSync(dir).sort()) if (/\.(list|sources)$/.test(f)) files.push(path.join(dir, f));
  for (const f of files) {
    const text = fs.readFileSync(f, 'utf8');
    if (f.endsWith('.sources')) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const fields = {};
        let last = null;
        for (const line of stanza.split('\n')) {
          if (/^\s*#/.test(line) || !line.trim()) continue;
          const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
          if (m) { last = m[1].toLowerCase(); fields[last] = m[2].trim(); } else if (last) fields[last] += ` ${line.trim()}`;
        }
        if (!fields.types?.split(/\s+/).includes('deb') || /^(no|false)$/i.test(fields.enabled ?? '')) continue;
        for (const uri of (fields.uris ?? '').split(/\s+/).filter(Boolean))
          for (const suite of (fields.suites ?? '').split(/\s+/).filter(Boolean))
            entries.push({ uri, suite, comps: fields.components ?? 'main', signedBy: fields['signed-by'] });
      }
    } else {
      for (const line of text.split('\n')) {
        const m = /^\s*deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$/.exec(line);
        if (!m) continue;
        const signedBy = /signed-by=(\S+)/.exec(m[1] ?? '')?.[1];
        entries.push({ uri: m[2], suite: m[3], comps: m[4] || 'main', signedBy });
      }
    }
  }
  const mine = entries.filter((e) => !codename || e.suite === codename || e.suite.startsWith(`${codename}-`) || e.suite.startsWith(`${codename}/`));
  if (!mine.length) throw new SetupError(`no apt "deb" entry for ${codename ?? 'this release'} in /etc/apt to derive a deb-src entry from`);
  return mine.map((e) => `deb-src ${e.signedBy && !e.signedBy.includes('\n') ? `[signed-by=${e.signedBy}] ` : ''}${e.uri} ${e.suite} ${e.comps}`);
}

/**
 * The redis source package's tree, unpacked with Debian's patches (the installed binary is built
 * with them), cached by version. apt runs on a sources list, lists and cache of its own: /etc/apt
 * and the system's package lists are not touched.
 */
function fetchSuite(cacheDir, versions) {
  if (!versions.deb) throw new SetupError(`${versions.bin} is not from a Debian package: pass --tree DIR with the redis ${versions.redis} source`);
  const { srcPkg, srcVersion } = versions.deb;
  const safe = srcVersion.replace(/[^A-Za-z0-9.+~-]/g, '_');
  const tree = path.join(cacheDir, `${srcPkg}_${safe}`);
  const marker = path.join(tree, '.conformance-fetched.json');
  if (fs.existsSync(marker)) return { tree, ...JSON.parse(fs.readFileSync(marker, 'utf8')) };

  if (!have('dpkg-source')) aptInstall(['dpkg-dev'], 'dpkg-source unpacks the source package');
  const apt = path.join(cacheDir, 'apt');
  for (const d of ['lists/partial', 'cache/archives/partial', 'download']) fs.mkdirSync(path.join(apt, d), { recursive: true });
  fs.writeFileSync(path.join(apt, 'sources.list'), `${debSrcLines().join('\n')}\n`);
  const aptOpts = [
    '-o', `Dir::Etc::SourceList=${path.join(apt, 'sources.list')}`,
    '-o', 'Dir::Etc::SourceParts=/dev/null',
    '-o', `Dir::State::Lists=${path.join(apt, 'lists')}`,
    '-o', `Dir::Cache=${path.join(apt, 'cache')}`,
    '-o', 'Debug::NoLocking=1',
  ];
  const aptLog = path.join(apt, 'apt.log');
  const runApt = (cmd, args, cwd) => {
    const r = sh(cmd, [...aptOpts, ...args], { cwd });
    fs.appendFileSync(aptLog, `$ ${cmd} ${args.join(' ')}\n${r.out}\n`);
    return r;
  };
  log(`fetching the ${srcPkg} ${srcVersion} source package (apt log: ${aptLog})`);
  const up = runApt('apt-get', ['update', '-q']);
  if (up.code !== 0) throw new SetupError(`apt-get update on the deb-src list failed:\n${up.out.slice(-2000)}`);

  const dl = path.join(apt, 'download');
  for (const f of fs.readdirSync(dl)) fs.rmSync(path.join(dl, f), { recursive: true, force: true });
  let version = srcVersion;
  let got = runApt('apt-get', ['source', '--download-only', '-q', `${srcPkg}=${version}`], dl);
  let note = null;
  if (got.code !== 0) {
    // The archive may have moved on to a newer revision of the same upstream release.
    const avail = [...runApt('apt-cache', ['showsrc', srcPkg]).stdout.matchAll(/^Version: (\S+)$/gm)].map((m) => m[1]).filter((v) => upstreamOf(v) === upstreamOf(srcVersion));
    const best = avail.sort((a, b) => (sh('dpkg', ['--compare-versions', a, 'gt', b]).code === 0 ? -1 : 1))[0];
    if (!best) throw new SetupError(`${srcPkg}=${srcVersion} is not in the archive, nor any ${upstreamOf(srcVersion)} revision:\n${got.out.slice(-2000)}`);
    note = `the archive no longer has ${srcVersion}; used ${best}, the same upstream release`;
    log(note);
    version = best;
    got = runApt('apt-get', ['source', '--download-only', '-q', `${srcPkg}=${version}`], dl);
    if (got.code !== 0) throw new SetupError(`apt-get source ${srcPkg}=${version} failed:\n${got.out.slice(-2000)}`);
  }
  const dsc = fs.readdirSync(dl).find((f) => f.endsWith('.dsc'));
  if (!dsc) throw new SetupError(`apt-get source left no .dsc in ${dl}`);
  const tmp = `${tree}.partial`;
  fs.rmSync(tmp, { recursive: true, force: true });
  const x = sh('dpkg-source', ['--no-copy', '-x', path.join(dl, dsc), tmp]);
  fs.appendFileSync(aptLog, `$ dpkg-source -x ${dsc}\n${x.out}\n`);
  if (x.code !== 0) throw new SetupError(`dpkg-source -x ${dsc} failed:\n${x.out.slice(-2000)}`);
  const files = fs.readdirSync(dl);
  fs.rmSync(tree, { recursive: true, force: true });
  fs.renameSync(tmp, tree);
  for (const f of files) fs.rmSync(path.join(dl, f), { force: true });
  const info = { srcPkg, srcVersion: version, dsc, files, note, fetched: new Date().toISOString() };
  fs.writeFileSync(marker, JSON.stringify(info, null, 2));
  return { tree, ...info };
}

/** The suite runs src/redis-server, src/redis-cli… in a few tests: point them at the installed ones. */
function linkBinaries(tree) {
  for (const b of ['redis-server', 'redis-cli', 'redis-benchmark', 'redis-check-aof', 'redis-check-rdb', 'redis-sentinel']) {
    const p = sh('sh', ['-c', `command -v ${b}`]).stdout.trim();
    const link = path.join(tree, 'src', b);
    if (!p) continue;
    try { if (fs.lstatSync(link).isSymbolicLink()) fs.unlinkSync(link); else continue; } catch { /* absent */ }
    fs.symlinkSync(p, link);
  }
}

// ------------------------------------------------------------------ the suite's output
const ANSI = /\x1b\[[0-9;]*m/g;

/**
 * Turns runtest's output into per-test outcomes. With one test client (as in --host mode) units run
 * one after the other, each announced by "Testing <unit>"; tests are keyed "<unit> :: <name>", the
 * nth repeat of a name within a unit gets " #n".
 */
class OutcomeParser {
  constructor() {
    this.tests = new Map(); // key → {unit, name, outcome, ms, detail}
    this.units = new Map(); // unit → {seconds, aborted}
    this.unit = null;
    this.seen = new Map(); // unit → name → occurrences
    this.pending = null; // the err/exception whose detail lines follow
    this.ended = false;
    this.keep = new Set(); // units run again after a hang: outcomes already known are kept
    this.lastName = null; // the last test reported in the current unit
  }
  key(unit, name) {
    if (!this.seen.has(unit)) this.seen.set(unit, new Map());
    const seen = this.seen.get(unit);
    const n = (seen.get(name) ?? 0) + 1;
    seen.set(name, n);
    return n === 1 ? `${unit} :: ${name}` : `${unit} :: ${name} #${n}`;
  }
  /** Forgets a unit's outcomes (it is about to run again from its start). */
  dropUnit(unit) {
    for (const [k, t] of this.tests) if (t.unit === unit) this.tests.delete(k);
    this.seen.delete(unit);
  }
  add(outcome, name, extra = {}) {
    const unit = this.unit ?? '(no unit)';
    const rec = { unit, name, outcome, ...extra };
    const key = this.key(unit, name);
    if (!(this.keep.has(unit) && this.tests.has(key))) this.tests.set(key, rec);
    if ((outcome === 'ok' || outcome === 'err') && !name.startsWith('(')) this.lastName = name;
    return rec;
  }
  failedNames(unit) {
    return [...new Set([...this.tests.values()].filter((t) => t.unit === unit && (t.outcome === 'err' || t.outcome === 'exception')).map((t) => t.name))];
  }
  line(raw) {
    const l = raw.replace(ANSI, '').replace(/\r$/, '');
    let m;
    if ((m = /^Testing (\S+)$/.exec(l))) {
      this.pending = null;
      this.unit = m[1];
      this.lastName = null;
      this.seen.delete(m[1]);
      // ignoredBlocks: [ignore] lines for a whole tags or start_server block, not one test.
      this.units.set(m[1], { ...this.units.get(m[1]), seconds: null, ignoredBlocks: 0 });
      return { unitStart: m[1] };
    }
    if ((m = /^\[\d+\/\d+ done\]: (\S+) \((\d+) seconds\)$/.exec(l))) { this.pending = null; const u = this.units.get(m[1]) ?? {}; u.seconds = Number(m[2]); this.units.set(m[1], u); return { unitDone: m[1], seconds: u.seconds }; }
    if ((m = /^\[ok\]: (.*) \((\d+) ms\)$/.exec(l))) { this.pending = null; this.add('ok', m[1], { ms: Number(m[2]) }); return { test: 'ok' }; }
    if ((m = /^\[err\]: (.*)$/.exec(l))) {
      const t = /^(.*) in (tests\/\S+\.tcl)$/.exec(m[1]);
      // An error raised outside a test (in a start_server block, or a nested one inside a test,
      // whose enclosing test may still report ok) is named after where it happened.
      this.pending = this.add('err', t ? t[1] : `(error outside any test, after "${this.lastName ?? 'the start of the unit'}")`, { detail: t ? [] : [m[1]] });
      return { test: 'err', name: this.pending.name };
    }
    if ((m = /^\[exception\]: (.*)$/.exec(l))) { this.pending = this.add('exception', `(exception that stopped the unit, after "${this.lastName ?? 'the start of the unit'}")`, { detail: [m[1]] }); return { test: 'exception' }; }
    if ((m = /^\[skip\]: (.*)$/.exec(l))) { this.pending = null; this.add('skip', m[1]); return {}; }
    if ((m = /^\[ignore\]: (.*)$/.exec(l))) {
      this.pending = null;
      const t = /^(.*): ((?:Tag: .*)|Not supported .*|large memory flag not provided)$/.exec(m[1]);
      if (t && !t[1].startsWith('Tag')) this.add('ignore', t[1], { reason: t[2] });
      else if (this.units.has(this.unit)) this.units.get(this.unit).ignoredBlocks++;
      return {};
    }
    if (/^\[TIMEOUT\]/.test(l)) { this.pending = null; return { timeout: true }; }
    if ((m = /^\S+ => \(IN PROGRESS\) (.*)$/.exec(l))) return { inProgress: m[1] };
    if (/^\s*The End\s*$/.test(l)) { this.pending = null; this.ended = true; return {}; }
    if (this.pending && /^\[[a-z]+\]: /.test(l)) this.pending = null;
    if (this.pending && this.pending.detail.length < 60) this.pending.detail.push(l);
    return {};
  }
}

// ------------------------------------------------------------------ one run of the suite
async function listUnits(tcl, tree) {
  const r = sh(tcl, ['tests/test_helper.tcl', '--list-tests'], { cwd: tree });
  if (r.code !== 0) throw new SetupError(`runtest --list-tests failed:\n${r.out}`);
  return r.stdout.split('\n').map((s) => s.trim()).filter(Boolean);
}

/**
 * Starts redis-server (and, for the ambassador run, the ambassador in front of it) and runs the
 * suite on `units`, in one runtest process while all goes well. A unit in which a test failed is
 * followed by a fresh server pair, so what a failure leaves behind (a server turned replica, a
 * client left in another database…) cannot fail the next unit: runtest is stopped as it announces
 * the next unit and started again from it. An abort (an exception, no progress for `stall` seconds,
 * a crash) ends the unit it happened in; the run goes on after it, on a fresh pair too.
 */
async function runSuite({ mode, tcl, tree, units, opts, dir, baseport, label = mode, skiptests = [] }) {
  fs.mkdirSync(dir, { recursive: true });
  const parser = new OutcomeParser();
  const outLog = path.join(dir, 'runtest.log');
  const events = [];
  const t0 = Date.now();
  const queue = [{ units: [...units], skip: [] }];
  const resumes = new Map();
  let pairs = 0;
  while (queue.length) {
    const job = queue.shift();
    const pair = await startPair(mode, dir, ++pairs);
    const args = ['tests/test_helper.tcl', '--host', '127.0.0.1', '--port', String(pair.port), '--durable', '--timeout', String(opts.stall || 1e6),
      '--baseport', String(baseport), '--portcount', '4000', '--tags', opts.tags];
    for (const o of opts.only) args.push('--only', o);
    for (const t of [...opts.skiptest, ...skiptests, ...job.skip]) args.push('--skiptest', t);
    for (const u of job.units) args.push('--single', u);
    fs.appendFileSync(outLog, `\n### ${label} (server pair ${pairs}): ${tcl} ${args.join(' ')}\n`);
    const started = [];
    let timedOut = false;
    let inProgress = null;
    let restartAt = null;
    let dirty = false;
    parser.ended = false;
    const code = await new Promise((resolve) => {
      const child = spawn(tcl, args, { cwd: tree, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      const rec = { name: 'runtest', child, pid: child.pid };
      children.add(rec);
      const out = fs.createWriteStream(outLog, { flags: 'a' });
      let partial = '';
      const onData = (d) => {
        out.write(d);
        partial += d.toString('latin1');
        let i;
        while (restartAt === null && (i = partial.indexOf('\n')) >= 0) {
          const line = partial.slice(0, i);
          partial = partial.slice(i + 1);
          const ev = parser.line(line);
          if (ev.unitStart) {
            if (dirty && started.length) {
              // The previous unit failed something: start this one again on a fresh pair.
              restartAt = ev.unitStart;
              parser.dropUnit(ev.unitStart);
              try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
              break;
            }
            started.push(ev.unitStart);
            dirty = false;
          }
          if (ev.test === 'err' || ev.test === 'exception') dirty = true;
          if (ev.timeout) timedOut = true;
          if (ev.inProgress) inProgress = ev.inProgress;
          if (ev.unitDone) {
            const c = countUnit(parser, ev.unitDone);
            log(`${label.padEnd(10)} ${ev.unitDone.padEnd(36)} ${String(ev.seconds).padStart(3)} s  ok ${c.ok}${c.err ? `  failed ${c.err}` : ''}`);
          }
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.on('close', (c, sig) => {
        children.delete(rec);
        if (partial && restartAt === null) parser.line(partial);
        out.end();
        resolve(c ?? sig);
      });
    });
    const pairExit = pair.amb?.exit ? ['the ambassador', pair.amb.exit] : pair.redis.exit ? ['redis-server', pair.redis.exit] : null;
    await stopPair(pair, dir);
    if (pairExit) events.push(`${parser.unit}: ${pairExit[0]} exited ${JSON.stringify(pairExit[1])} during the unit`);
    if (restartAt !== null) {
      queue.unshift({ units: job.units.slice(job.units.indexOf(restartAt)), skip: job.skip });
      continue;
    }
    if (parser.ended && !timedOut) continue;
    // The run stopped early, in unit `cur`: go on after it.
    const cur = started.at(-1) ?? null;
    if (!cur) { events.push('runtest stopped before any unit started; giving up'); break; }
    const rest = job.units.slice(job.units.indexOf(cur) + 1);
    if (rest.length) queue.unshift({ units: rest, skip: [] });
    const why = timedOut ? `no progress for ${opts.stall} s` : pairExit ? `${pairExit[0]} exited` : `runtest exited ${code} before the end`;
    if (timedOut && inProgress && (resumes.get(cur) ?? 0) < 3) {
      // A test hung: it fails; the unit runs again from its start, without it and without the
      // tests that failed before it (their outcomes are kept), so the tests after it run too.
      resumes.set(cur, (resumes.get(cur) ?? 0) + 1);
      parser.unit = cur;
      parser.add('err', inProgress, { detail: [`hung: ${why}`] });
      const skip = [...new Set([...job.skip, ...parser.failedNames(cur)])];
      parser.keep.add(cur);
      queue.unshift({ units: [cur], skip });
      events.push(`${cur}: "${inProgress}" hung (${why}); the unit ran again from its start with it and the ${skip.length - 1} tests that had failed skipped, to reach the tests after it`);
      log(`${label.padEnd(10)} ${cur}: "${inProgress}" HUNG; running the unit again without it and the tests that failed`);
      continue;
    }
    parser.units.get(cur).aborted = why;
    events.push(`${cur}: aborted, ${why}; the rest of this unit did not run`);
    log(`${label.padEnd(10)} ${cur}: ABORTED (${why}); going on after it on a fresh server`);
  }
  return { mode, parser, events, seconds: Math.round((Date.now() - t0) / 1000), dir, pairs };
}

function countUnit(parser, unit) {
  const c = { ok: 0, err: 0 };
  for (const t of parser.tests.values()) if (t.unit === unit) { if (t.outcome === 'ok') c.ok++; else if (t.outcome === 'err' || t.outcome === 'exception') c.err++; }
  return c;
}

async function startPair(mode, dir, n) {
  const redisPort = await freePort();
  const data = path.join(dir, `redis-data-${n}`);
  fs.mkdirSync(data, { recursive: true });
  const redis = startProcess(`redis-server :${redisPort}`, 'redis-server',
    ['--port', String(redisPort), '--bind', '127.0.0.1', '--dir', data, '--daemonize', 'no', ...REDIS_ARGS], { cwd: data, logFile: path.join(dir, `redis-${n}.log`) });
  await waitPong(redisPort, redis);
  if (mode === 'direct') return { redis, redisPort, port: redisPort };
  const port = await freePort();
  const amb = startProcess(`ambassador :${port}`, process.execPath,
    [CLI, '--listen', String(port), '--bind', '127.0.0.1', '--upstream', `tcp://127.0.0.1:${redisPort}`, '--admin', 'off'],
    { cwd: REPO, logFile: path.join(dir, `ambassador-${n}.log`), env: { PATH: process.env.PATH ?? '' } });
  await waitPong(port, amb);
  return { redis, redisPort, amb, port };
}
async function stopPair(pair, dir) {
  if (pair.amb) {
    const e = pair.amb.exit ?? (await stopProcess(pair.amb));
    fs.appendFileSync(path.join(dir, 'exits.log'), `ambassador ${JSON.stringify(e)}\n`);
  }
  await stopProcess(pair.redis);
}

// ------------------------------------------------------------------ comparison
function loadExceptions(file) {
  const list = JSON.parse(fs.readFileSync(file, 'utf8')).exceptions;
  for (const e of list) if (!e.unit || !e.test || !e.reason) throw new SetupError(`exceptions.json: every entry needs unit, test and reason: ${JSON.stringify(e)}`);
  return list;
}
const listedFor = (exceptions, t) => exceptions.find((e) => e.unit === t.unit && e.test === t.name);
const passed = (t) => t?.outcome === 'ok';
/** The error's first line; the suite cuts 10 characters ("assertion:") off errors that are not
 * assertions, whose whole text is then the next line of the detail. */
function firstLine(t) {
  const [a = '', b] = (t?.detail ?? []).filter((l) => l.trim());
  return b && b.length > a.length && b.endsWith(a) ? b : a;
}

function compare(direct, amb, exceptions, retried) {
  const rows = { both: [], regressions: [], flaky: [], excused: [], staleExceptions: [], ambOnly: [], failedDirect: [] };
  // How many tests of the same unit failed before this one through the ambassador: a failure after
  // others may only follow from them (what a failed test leaves behind stays for the next one).
  const before = new Map();
  const perUnit = new Map();
  for (const [key, t] of amb.parser.tests) {
    before.set(key, perUnit.get(t.unit) ?? 0);
    if (t.outcome === 'err' || t.outcome === 'exception') perUnit.set(t.unit, (perUnit.get(t.unit) ?? 0) + 1);
  }
  for (const [key, d] of direct.parser.tests) {
    const a = amb.parser.tests.get(key);
    const ex = listedFor(exceptions, d);
    if (passed(d) && passed(a)) {
      rows.both.push(key);
      if (ex) rows.staleExceptions.push({ key, ...d, exception: ex });
    } else if (passed(d)) {
      const row = { key, unit: d.unit, name: d.name, outcome: a?.outcome ?? 'not run', error: a ? firstLine(a) : notRunWhy(amb, d.unit), failedBefore: before.get(key) ?? null };
      if (ex) rows.excused.push({ ...row, reason: ex.reason });
      else if (retried.has(key) && retried.get(key).every(passed)) rows.flaky.push({ ...row, retry: 'passed on retry' });
      else rows.regressions.push({ ...row, retry: retried.has(key) ? retried.get(key).map((r) => r?.outcome ?? 'not run').join(', ') : null, detail: a?.detail ?? [] });
    } else if (d.outcome === 'err' || d.outcome === 'exception') {
      rows.failedDirect.push({ key, unit: d.unit, name: d.name, error: firstLine(d), amb: a?.outcome ?? 'not run' });
    }
  }
  for (const [key, a] of amb.parser.tests) {
    const d = direct.parser.tests.get(key);
    if (passed(a) && !passed(d)) rows.ambOnly.push({ key, direct: d?.outcome ?? 'not run' });
    // An error outside any test, or an exception, that the direct run did not have.
    if (!d && (a.outcome === 'err' || a.outcome === 'exception')) {
      const ex = listedFor(exceptions, a);
      const row = { key, unit: a.unit, name: a.name, outcome: a.outcome, error: firstLine(a), failedBefore: before.get(key) ?? null };
      if (ex) rows.excused.push({ ...row, reason: ex.reason });
      else if (retried.has(key) && retried.get(key).every((r) => !r || (r.outcome !== 'err' && r.outcome !== 'exception'))) rows.flaky.push({ ...row, retry: 'did not happen on retry' });
      else rows.regressions.push({ ...row, retry: retried.has(key) ? retried.get(key).map((r) => r?.outcome ?? 'did not happen').join(', ') : null, detail: a.detail ?? [] });
    }
  }
  return rows;
}
function notRunWhy(run, unit) {
  const u = run.parser.units.get(unit);
  return u?.aborted ? `unit aborted earlier: ${u.aborted}` : u ? 'not reached in its unit' : 'unit not run';
}
function counts(run) {
  const c = { ok: 0, err: 0, exception: 0, skip: 0, ignore: 0, ignoredBlocks: 0 };
  for (const t of run.parser.tests.values()) c[t.outcome] = (c[t.outcome] ?? 0) + 1;
  for (const u of run.parser.units.values()) c.ignoredBlocks += u.ignoredBlocks ?? 0;
  return c;
}

// ------------------------------------------------------------------ report
function gitInfo() {
  const g = (args) => { try { return execFileSync('git', ['-C', REPO, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(); } catch { return ''; } };
  const commit = g(['rev-parse', '--short', 'HEAD']);
  const src = g(['log', '-1', '--format=%h', '--', 'src']);
  const dirty = g(['status', '--porcelain', '--', 'src']) !== '';
  return commit ? `commit ${commit} (src/ last changed in ${src})${dirty ? ' + uncommitted changes in src/' : ''}` : 'unknown';
}
const mdCell = (s) => String(s ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ').slice(0, 240);

function writeReports({ outDir, meta, runs, rows, exceptions, command }) {
  const json = {
    command, date: meta.date, ambassador: meta.ambassador, versions: meta.versions, suite: meta.suite, tags: meta.tags, parallel: meta.parallel,
    runs: Object.fromEntries(runs.map((r) => [r.mode, { seconds: r.seconds, counts: counts(r), aborted: r.events }])),
    comparison: rows && {
      passedBoth: rows.both.length,
      passedDirectOnly: rows.regressions.length + rows.flaky.length + rows.excused.length,
      regressions: rows.regressions.map(({ detail, ...r }) => ({ ...r, detail: detail.slice(0, 12) })),
      excused: rows.excused, flaky: rows.flaky,
      staleExceptions: rows.staleExceptions.map((r) => ({ unit: r.unit, test: r.name })),
      passedAmbassadorOnly: rows.ambOnly, failedDirect: rows.failedDirect,
    },
  };
  fs.writeFileSync(path.join(outDir, 'results.json'), `${JSON.stringify(json, null, 2)}\n`);

  const L = [];
  L.push('# Conformance: Redis\'s own test suite, direct and through the ambassador', '');
  L.push('Generated by `' + command + '` (test/conformance/run.mjs); do not edit by hand.', '');
  L.push('| | |', '|---|---|');
  L.push(`| date | ${meta.date} |`);
  L.push(`| ambassador | ${meta.ambassador} (dist/cli.js, \`--listen P --bind 127.0.0.1 --upstream tcp://127.0.0.1:R --admin off\`, other settings default) |`);
  L.push(`| redis-server | ${meta.versions.redis}${meta.versions.deb ? ` (Debian ${meta.versions.deb.pkg} ${meta.versions.deb.binVersion})` : ''}, \`${['redis-server', ...REDIS_ARGS.map((a) => (a === '' ? '""' : a))].join(' ')}\` on a loopback port, a fresh one per run |`);
  L.push(`| suite | ${meta.suite} |`);
  L.push(`| selection | \`--host 127.0.0.1 --port P --tags "${meta.tags}" --durable\`: every unit of test_helper.tcl; the suite skips \`external:skip\` tests itself |`);
  L.push(`| tcl | ${meta.versions.tcl} |`, `| node | ${process.version} |`, `| runs | ${meta.parallel ? 'direct and ambassador at the same time' : 'direct, then ambassador'}, on a 2-core shared machine |`, '');
  L.push('| run | passed | failed | exceptions | skipped (`--only`, `--skiptest`) | tests ignored by tag | blocks of tests ignored by tag | wall time |', '|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of runs) { const c = counts(r); L.push(`| ${r.mode} | ${c.ok} | ${c.err} | ${c.exception} | ${c.skip} | ${c.ignore} | ${c.ignoredBlocks} | ${r.seconds} s |`); }
  L.push('');
  for (const r of runs) for (const e of r.events) L.push(`- ${r.mode}: ${e}`);
  if (runs.some((r) => r.events.length)) L.push('');
  if (rows) {
    L.push(`Passed in both: **${rows.both.length}**. Passed direct but not through the ambassador: **${rows.regressions.length + rows.flaky.length + rows.excused.length}** ` +
      `(${rows.excused.length} listed in exceptions.json, ${rows.regressions.length} not listed, ${rows.flaky.length} failed once and passed on retry). ` +
      `Passed through the ambassador only: ${rows.ambOnly.length}. Listed exceptions that now pass: ${rows.staleExceptions.length}.`, '');
    L.push('## Passed direct, not through the ambassador, not listed', '');
    if (!rows.regressions.length) L.push('None.', '');
    else {
      L.push('"earlier" counts the tests of the same unit that failed before it through the ambassador: a failure after others may only follow from what they left behind.', '');
      L.push('| unit | test | through the ambassador | retry | earlier | first line of the error |', '|---|---|---|---|---:|---|');
      for (const r of rows.regressions) L.push(`| ${r.unit} | ${mdCell(r.key.slice(r.unit.length + 4))} | ${r.outcome} | ${r.retry ?? '—'} | ${r.failedBefore ?? '—'} | ${mdCell(r.error)} |`);
      L.push('');
    }
    L.push('## Listed exceptions (exceptions.json)', '');
    if (!exceptions.length) L.push('None.', '');
    else L.push('| unit | test | this run | reason |', '|---|---|---|---|');
    for (const e of exceptions) {
      const k = `${e.unit} :: ${e.test}`;
      const d = direct(runs)?.parser.tests.get(k);
      const a = ambassador(runs)?.parser.tests.get(k);
      const state = !d ? 'not run' : !passed(d) ? `direct ${d.outcome}` : passed(a) ? '**passes: remove it**' : `direct ok, ambassador ${a?.outcome ?? 'not run'}`;
      L.push(`| ${e.unit} | ${mdCell(e.test)} | ${state} | ${mdCell(e.reason)} |`);
    }
    L.push('');
    if (rows.flaky.length) {
      L.push('## Failed through the ambassador once, passed on retry', '', '| unit | test | first failure |', '|---|---|---|');
      for (const r of rows.flaky) L.push(`| ${r.unit} | ${mdCell(r.name)} | ${mdCell(r.error)} |`);
      L.push('');
    }
    L.push('## Failed direct (not compared)', '');
    if (!rows.failedDirect.length) L.push('None.', '');
    else {
      L.push('| unit | test | through the ambassador | first line of the direct error |', '|---|---|---|---|');
      for (const r of rows.failedDirect) L.push(`| ${r.unit} | ${mdCell(r.name)} | ${r.amb} | ${mdCell(r.error)} |`);
      L.push('');
    }
  }
  fs.writeFileSync(path.join(outDir, 'results.md'), `${L.join('\n')}\n`);
}
const direct = (runs) => runs.find((r) => r.mode === 'direct');
const ambassador = (runs) => runs.find((r) => r.mode === 'ambassador');

// ------------------------------------------------------------------ main
async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const exceptionsFile = opts.exceptions ?? path.join(HERE, 'exceptions.json');
  if (opts.reportFrom) return report(JSON.parse(fs.readFileSync(opts.reportFrom, 'utf8')), loadExceptions(exceptionsFile), opts);
  if (opts.mode !== 'direct' && !fs.existsSync(CLI)) throw new SetupError(`${path.relative(REPO, CLI)} is missing: run npm run build (npm run conformance does)`);
  const tcl = tclsh();
  ensureRedis();
  const versions = redisVersions();
  versions.tcl = sh(tcl, [], { input: 'puts [info patchlevel]' }).stdout.trim();
  fs.mkdirSync(opts.cache, { recursive: true });
  let suite;
  let tree;
  if (opts.tree) {
    tree = opts.tree;
    suite = `tests/ of ${tree} (--tree)`;
  } else {
    const f = fetchSuite(opts.cache, versions);
    tree = f.tree;
    suite = `tests/ of the Debian source package ${f.srcPkg} ${f.srcVersion} (upstream tarball + Debian patches, fetched by \`apt-get source\`)${f.note ? `; ${f.note}` : ''}`;
  }
  if (!fs.existsSync(path.join(tree, 'tests/test_helper.tcl'))) throw new SetupError(`${tree} has no tests/test_helper.tcl`);
  linkBinaries(tree);
  const all = await listUnits(tcl, tree);
  const units = opts.units ?? all;
  for (const u of units) if (!all.includes(u)) throw new UsageError(`unknown unit ${u}; the suite has: ${all.join(' ')}`);
  const runDir = path.join(opts.cache, 'last-run');
  fs.rmSync(runDir, { recursive: true, force: true });
  fs.mkdirSync(runDir, { recursive: true });
  log(`suite: ${tree}`);
  log(`redis-server ${versions.redis}, tcl ${versions.tcl}; ${units.length} units, tags "${opts.tags}"; logs in ${runDir}`);

  const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const modes = opts.mode === 'both' ? ['direct', 'ambassador'] : [opts.mode];
  const baseports = { direct: 21111, ambassador: 25111 };
  const go = (mode) => runSuite({ mode, tcl, tree, units, opts, dir: path.join(runDir, mode), baseport: baseports[mode] });
  const runs = opts.parallel ? await Promise.all(modes.map(go)) : await modes.reduce(async (acc, m) => [...(await acc), await go(m)], Promise.resolve([]));

  const exceptions = loadExceptions(exceptionsFile);
  let rows = null;
  const retried = new Map();
  if (runs.length === 2) {
    rows = compare(runs[0], runs[1], exceptions, retried);
    // Re-run the units with unlisted failures, to tell a failure from an accident of timing.
    for (let i = 0; i < opts.retries && rows.regressions.length; i++) {
      const again = [...new Set(rows.regressions.filter((r) => !runs[1].parser.units.get(r.unit)?.aborted).map((r) => r.unit))];
      if (!again.length) break;
      log(`retry ${i + 1}: ${again.join(' ')} through the ambassador`);
      const hung = [...new Set(rows.regressions.filter((r) => again.includes(r.unit) && /^hung: /.test(r.error)).map((r) => r.name))];
      const r = await runSuite({ mode: 'ambassador', tcl, tree, units: again, opts, dir: path.join(runDir, `retry-${i + 1}`), baseport: baseports.ambassador, label: `retry-${i + 1}`, skiptests: hung });
      for (const row of rows.regressions) if (again.includes(row.unit)) retried.set(row.key, [...(retried.get(row.key) ?? []), r.parser.tests.get(row.key)]);
      rows = compare(runs[0], runs[1], exceptions, retried);
    }
  }

  const command = `npm run conformance${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const meta = { date, ambassador: gitInfo(), versions, suite, tags: opts.tags, parallel: opts.parallel };
  const state = {
    command, meta, write: opts.write, runDir,
    runs: runs.map((r) => ({ mode: r.mode, seconds: r.seconds, events: r.events, tests: [...r.parser.tests], units: [...r.parser.units] })),
    retried: [...retried],
  };
  fs.writeFileSync(path.join(runDir, 'state.json'), JSON.stringify(state));
  return report(state, exceptions, opts);
}

/** Compares the runs of a saved state (state.json of a run), writes the reports, prints the summary. */
function report(state, exceptions, opts) {
  const runs = state.runs.map((r) => ({ ...r, parser: { tests: new Map(r.tests), units: new Map(r.units) } }));
  const retried = new Map(state.retried);
  const rows = runs.length === 2 ? compare(runs[0], runs[1], exceptions, retried) : null;
  const outDir = state.write && opts.write ? HERE : state.runDir;
  writeReports({ outDir, meta: state.meta, runs, rows, exceptions, command: state.command });

  console.log('');
  for (const r of runs) { const c = counts(r); console.log(`${r.mode.padEnd(10)} ${c.ok} passed, ${c.err + c.exception} failed, ${c.skip} skipped; ignored by tag: ${c.ignore} tests and ${c.ignoredBlocks} blocks  (${r.seconds} s)`); for (const e of r.events) console.log(`           ${e}`); }
  if (!rows) { console.log(`\nreport: ${path.join(outDir, 'results.md')}`); return runs.every((r) => !r.events.length) ? 0 : 1; }
  console.log(`\npassed in both: ${rows.both.length}; passed direct only: ${rows.regressions.length + rows.flaky.length + rows.excused.length} (${rows.excused.length} listed exceptions, ${rows.flaky.length} passed on retry, ${rows.regressions.length} NOT LISTED)`);
  if (rows.regressions.length) {
    console.log('\nPassed direct, not through the ambassador, and not in exceptions.json:');
    for (const r of rows.regressions) console.log(`  ${r.key}\n      ${r.outcome}${r.retry ? ` (retry: ${r.retry})` : ''}: ${r.error}`);
  }
  if (rows.flaky.length) {
    console.log('\nFailed through the ambassador, then passed on retry (timing?):');
    for (const r of rows.flaky) console.log(`  ${r.unit} :: ${r.name}: ${r.error}`);
  }
  if (rows.staleExceptions.length) {
    console.log('\nListed in exceptions.json but passed through the ambassador (remove them):');
    for (const r of rows.staleExceptions) console.log(`  ${r.unit} :: ${r.name}`);
  }
  console.log(`\nreport: ${path.join(outDir, 'results.md')}; logs: ${state.runDir}`);
  console.log(`conformance: ${rows.both.length + rows.excused.length} passed, ${rows.regressions.length + rows.staleExceptions.length} failed`);
  return rows.regressions.length || rows.staleExceptions.length ? 1 : 0;
}

main().then(
  (code) => { killAllSync(); process.exit(code); },
  (err) => {
    killAllSync();
    if (err instanceof UsageError) { process.stderr.write(`conformance: ${err.message}\n\n${HELP}`); process.exit(2); }
    process.stderr.write(`conformance: ${err instanceof SetupError ? err.message : err.stack}\n`);
    process.exit(2);
  },
);
