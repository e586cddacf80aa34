/**
 * Interop harness: runs real DTLS 1.2 peers (OpenSSL 3.0 `openssl s_server`/`s_client`, GnuTLS 3.7
 * `gnutls-serv`/`gnutls-cli`) as child processes for the interop tests, with every wait bounded and every
 * process killed at the end. Peers are spawned directly (node:child_process spawn, never a shell) and talk
 * only over 127.0.0.1 or ::1.
 *
 * A missing peer binary is a test FAILURE, never a skip: `requireBinary` throws a loud error telling how to
 * install it (`.ci/run` installs them all).
 *
 * Quirks found by running the peers against each other (OpenSSL 3.0.19 and 3.0.22, GnuTLS 3.7.9, Debian 12):
 *
 * openssl s_server
 * - Prints `ACCEPT` on stdout (flushed) once the UDP socket is bound: that is the readiness signal. A port
 *   already in use makes it exit at once with a bind error on stderr.
 * - It reads stdin and sends what it reads: EOF on stdin makes it print `DONE` and exit, so stdin must stay
 *   an open pipe for the server's whole life (a background `openssl s_server </dev/null` quits at once).
 * - Stdin is also a command channel (apps/s_server.c sv_body, unless -quiet/-brief): a chunk starting with
 *   `Q` quits the server, `q` drops the connection, `P` writes clear text straight onto the socket, `S`
 *   prints stats, and `r`/`R`/`k`/`K`/`c`/`B` followed by a newline renegotiate/update keys/heartbeat. So
 *   `write()` refuses text starting with one of those letters. -brief/-quiet turn the commands off, but
 *   (reading the source) stdin EOF then no longer ends the server; we use neither.
 * - It does not echo. `-rev` (reversed echo) exists but refuses DTLS ("Can't use -rev with DTLS"). Received
 *   application data is written raw to stdout; to answer, write to its stdin after the handshake (writing
 *   before a client is connected goes nowhere useful). `respond()` does wait-then-write.
 * - Per connection it prints, on stdout: `-----BEGIN SSL SESSION PARAMETERS-----` block, `Client
 *   certificate` + PEM + `subject=...` (when one was sent), `Shared ciphers:...`, `Shared groups: ...`,
 *   `CIPHER is <openssl name>`, `SRTP Extension negotiated, profile=<openssl profile>`, `Keying material:
 *   <UPPERCASE HEX>` (with -keymatexport), `ALPN protocols selected: x`; then received data, then `DONE`
 *   when the client sends close_notify. Client-certificate verification lines (`depth=0 CN = ...`,
 *   `verify return:1`) go to stderr. After a connection it serves the next one on the same socket.
 * - DTLS cookies: s_server always sets SSL_OP_COOKIE_EXCHANGE for DTLS, so a HelloVerifyRequest is sent
 *   even WITHOUT -listen. `-listen` additionally uses DTLSv1_listen (stateless until the cookie returns)
 *   and then connect()s the socket to that one client.
 * - `-mtu N` (both s_server and s_client) alone is enough to make OpenSSL fragment: it sets
 *   SSL_OP_NO_QUERY_MTU and DTLS_set_link_mtu(N); no `-no_query_mtu` flag exists or is needed. N is the
 *   link MTU: OpenSSL subtracts the IP+UDP header (28 bytes for IPv4, 48 for IPv6), so `-mtu 500` gives
 *   UDP payloads of at most 472 bytes on 127.0.0.1 and 452 on ::1 (seen with tshark: ServerHello and a
 *   Certificate fragment in one 472-byte datagram, the rest of the Certificate in the next). Exception:
 *   the last server flight (NewSessionTicket + ChangeCipherSpec + Finished) is packed into one datagram
 *   that can exceed the limit by a few bytes (282 bytes payload with -mtu 300), so don't assert "every
 *   OpenSSL datagram <= MTU-28" for small MTUs (with -mtu 500 everything fits).
 *   Below 256 s_client refuses: "MTU too small. Must be at least 256".
 * - `-Verify 1` requires a client certificate, `-verify 1` only requests it; both need `-CAfile`. Add
 *   `-verify_return_error` so a bad chain aborts the handshake instead of being logged and ignored.
 * - PSK: `-psk HEX -psk_identity ID -psk_hint HINT -nocert -cipher PSK-AES128-CCM8`. Without a cert
 *   `-nocert` is mandatory.
 * - ECDHE-ECDSA in (D)TLS 1.2: the server's certificate curve must be in the CLIENT's supported_groups
 *   too (RFC 8422 §5.1.1 as OpenSSL applies it). A GnuTLS client pinned to `-GROUP-ALL:+GROUP-X25519`
 *   gets "no shared cipher" from s_server with a P-256 certificate; offer X25519 and P-256.
 * - ECDHE-PSK with AES-GCM/CCM (RFC 8442, 0xD001-0xD005) is NOT in OpenSSL 3.0 ("Error in cipher list"),
 *   nor in GnuTLS 3.7: no interop peer exists here for those suites. ECDHE-PSK-CHACHA20-POLY1305 exists in
 *   both.
 * - Exit: runs until killed; dies on SIGTERM.
 *
 * openssl s_client
 * - With -brief the connection summary goes to STDERR in another format; we never use -brief. Without it,
 *   once the handshake is done it prints (one flush) on stdout: `New, TLSv1.2, Cipher is <name>` (yes,
 *   `TLSv1.2` even for DTLS; `Reused, TLSv1.2, ...` for a resumed session; `New, (NONE), Cipher is (NONE)`
 *   when the handshake failed), `Server Temp Key: X25519, 253 bits`, `ALPN protocol: x` / `No ALPN
 *   negotiated`, `SRTP Extension negotiated, profile=SRTP_AEAD_AES_128_GCM`, `SSL-Session:` with
 *   `    Protocol  : DTLSv1.2`, `    Cipher    : ...`, `    PSK identity: ...`, `    Verify return code: 0
 *   (ok)`, `    Extended master secret: yes`, then `Keying material exporter:` / `    Keying material:
 *   <UPPERCASE HEX>`, then a `---` line. Received application data follows raw on stdout.
 * - The summary is printed even when the server then REJECTS the client's last flight (e.g. s_server -Verify
 *   and no client certificate): `New, TLSv1.2, Cipher is ...` appears, then stderr gets `...:sslv3 alert
 *   handshake failure:...SSL alert number 40` and the exit code is 1. So "handshake complete" = summary
 *   with a real cipher AND no OpenSSL `:error:` line on stderr (parseOpensslClientOutput does this).
 * - stdin EOF makes it send close_notify, print `DONE` and exit 0. Stdin lines starting with `Q`/`R`/`k`/`K`
 *   are commands unless `-nocommands` (always passed here).
 * - Server certificate checking needs `-verify N` AND `-verify_return_error`; otherwise a bad chain is
 *   reported but the handshake goes on. `Can't use SSL_get_servername` on stderr is harmless noise.
 * - Resumption: `-sess_out FILE` on the first run, `-sess_in FILE` on the next (ticket-based by default).
 *
 * gnutls-serv
 * - No option to choose the bind address: it listens on 0.0.0.0 AND :: (both must be free). We only ever
 *   connect to it over 127.0.0.1/::1. Readiness, on STDERR (not stdout): `UDP Echo Server listening on
 *   IPv4 0.0.0.0 port N...done` (then the same for IPv6).
 * - `--echo` in UDP mode echoes each record back and logs `*** Processing N bytes command: <text>`, also on
 *   stderr; it prints nothing about the negotiated parameters.
 * - It requires a cookie exchange by default (`--nocookie` turns it off). It requests a client certificate
 *   by default; `--disable-client-cert` stops that, `--require-client-cert` requires one,
 *   `--verify-client-cert` verifies one if sent (needs `--x509cafile`).
 * - It serves ONE DTLS association at a time on a connected socket: a client killed without close_notify
 *   leaves it stuck and the next client gets no answer at all. So clients must close cleanly (stdin EOF),
 *   and a test should use a fresh gnutls-serv per connection when in doubt.
 * - PSK: `--pskpasswd FILE` with lines `identity:HEXKEY`, `--pskhint`.
 * - SRTP profile names differ from OpenSSL's: `SRTP_AES128_CM_HMAC_SHA1_80` (GnuTLS) is OpenSSL's
 *   `SRTP_AES128_CM_SHA1_80`; `SRTP_AEAD_AES_128_GCM` is the same in both.
 *
 * gnutls-cli
 * - Prints (stdout) `- Description: (DTLS1.2-X.509)-(ECDHE-X25519)-(ECDSA-SHA256)-(AES-128-GCM)`,
 *   `- Session ID: ..`, `- SRTP profile: ..`, `- Application protocol: ..`, `- Key material: <lowercase
 *   hex>`, `- Handshake was completed`, then `- Simple Client Mode:` and a blank line; received data
 *   follows. Failures: `*** Handshake has failed` + exit 1. With `--resume` it handshakes, prints `-
 *   Disconnecting`, reconnects and prints a second (3-part, no signature) Description, `- Resume Handshake
 *   was completed` and `*** This is a resumed session`; the parser reads the last of each.
 * - Certificate check: `--x509cafile` checks the chain AND the host name given on the command line
 *   (127.0.0.1 must be an IP SAN) unless `--verify-hostname NAME`; `--insecure` skips both.
 * - Handshake is slow-ish (~0.45 s on loopback: it waits ~200 ms before some flights).
 * - stdin EOF sends close_notify at once, but against gnutls-serv the process then waits ~2 s (for a
 *   close_notify that never came in our runs) before exiting 0; against s_server it exits at once ("- Peer
 *   has closed the GnuTLS connection"). The harness closes stdin, waits `closeGraceMs`, then kills.
 * - Priority strings, each checked with `gnutls-cli --list --priority ...` (see gnutlsPriorityFor):
 *   `NORMAL:-VERS-ALL:+VERS-DTLS1.2:-KX-ALL:+ECDHE-ECDSA:-CIPHER-ALL:+AES-128-GCM:-MAC-ALL:+AEAD` selects
 *   exactly TLS_ECDHE_ECDSA_AES_128_GCM_SHA256 (0xC02B); `:-GROUP-ALL:+GROUP-X25519` pins the curve.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { accessSync, constants as fsConstants, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { ContentType } from '../../src/wire/constants.js';
import { Reader } from '../../src/wire/reader.js';

/** Every wait in this harness is bounded; this is the default bound. */
export const DEFAULT_TIMEOUT_MS = 10_000;

export type LoopbackHost = '127.0.0.1' | '::1';

// ---------------------------------------------------------------------------------------------------------
// Binaries

const PACKAGE_OF: Record<string, string> = {
  openssl: 'openssl',
  'gnutls-cli': 'gnutls-bin',
  'gnutls-serv': 'gnutls-bin',
  tshark: 'tshark',
};

export class PeerMissingError extends Error {
  constructor(readonly binary: string) {
    super(
      `interop peer '${binary}' is not installed: ` +
        `run .ci/run or apt-get install ${PACKAGE_OF[binary] ?? binary}`,
    );
    this.name = 'PeerMissingError';
  }
}

const binaryCache = new Map<string, string>();

/** Absolute path of an executable on PATH; throws PeerMissingError (the test fails, never skips). */
export function requireBinary(name: string): string {
  const cached = binaryCache.get(name);
  if (cached !== undefined) return cached;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, fsConstants.X_OK);
      binaryCache.set(name, candidate);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  throw new PeerMissingError(name);
}

// ---------------------------------------------------------------------------------------------------------
// Time and ports

export class PeerTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PeerTimeoutError';
  }
}

/** Races `promise` against a timer; the timer never keeps the process alive after settling. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new PeerTimeoutError(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A UDP port that was free on `host` a moment ago (bind to port 0, read it, close). */
export function freePort(host: LoopbackHost = '127.0.0.1'): Promise<number> {
  const socket = dgram.createSocket(host === '::1' ? 'udp6' : 'udp4');
  const bound = new Promise<number>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ port: 0, address: host, exclusive: true }, () => resolve(socket.address().port));
  });
  return withTimeout(bound, DEFAULT_TIMEOUT_MS, `binding a UDP socket on ${host}`).finally(() => {
    try {
      socket.close();
    } catch {
      // never bound
    }
  });
}

// ---------------------------------------------------------------------------------------------------------
// Temporary files (certificates, keys, PSK files), removed by cleanupPeers() and at process exit.

const tempDirs = new Set<string>();

export interface TempDir {
  readonly path: string;
  /** Writes `contents` to `name` inside the directory and returns the full path. */
  file(name: string, contents: string | Uint8Array): string;
  remove(): void;
}

export function makeTempDir(): TempDir {
  const path = mkdtempSync(join(tmpdir(), 'tsdtls-interop-'));
  tempDirs.add(path);
  return {
    path,
    file(name, contents) {
      const full = join(path, name);
      writeFileSync(full, contents, { mode: 0o600 });
      return full;
    },
    remove() {
      rmSync(path, { recursive: true, force: true });
      tempDirs.delete(path);
    },
  };
}

/** PEM text (written into `dir`) or the path of an existing file. */
export type PemSource = string;

function pemPath(dir: TempDir, name: string, source: PemSource): string {
  if (source.includes('-----BEGIN ')) return dir.file(name, source);
  try {
    accessSync(source, fsConstants.R_OK);
  } catch {
    throw new Error(`interop harness: '${source}' is neither PEM text nor a readable file`);
  }
  return source;
}

// ---------------------------------------------------------------------------------------------------------
// Child processes

const livePeers = new Set<PeerProcess>();

/** The last `n` characters of a text, for error messages. */
function tail(text: string, n = 2000): string {
  return text.length <= n ? text : `…${text.slice(-n)}`;
}

export interface WaitOptions {
  /** Only match text from this offset on (an offset from a previous match's `end`). */
  from?: number;
  stream?: 'stdout' | 'stderr';
}

export interface WaitMatch {
  match: RegExpExecArray;
  /** Offset in the stream just after the match, to chain `waitFor(..., { from })`. */
  end: number;
}

/** One running peer: accumulated output, bounded waits, stdin, bounded stop. */
export class PeerProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  exitCode: number | null = null;
  signal: NodeJS.Signals | null = null;
  readonly exited: Promise<void>;
  private readonly listeners = new Set<() => void>();
  private hasExited = false;

  constructor(
    readonly label: string,
    readonly command: string,
    readonly args: readonly string[],
  ) {
    this.child = spawn(command, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      // Fixed locale: the parsers below read English output.
      env: { ...process.env, LC_ALL: 'C' },
    });
    livePeers.add(this);
    this.child.stdout!.setEncoding('utf8');
    this.child.stderr!.setEncoding('utf8');
    this.child.stdout!.on('data', (chunk: string) => {
      this.stdout += chunk;
      this.notify();
    });
    this.child.stderr!.on('data', (chunk: string) => {
      this.stderr += chunk;
      this.notify();
    });
    // Writing to a peer that just died raises EPIPE on stdin; the exit itself is what tests look at.
    this.child.stdin!.on('error', () => {});
    this.exited = new Promise((resolve) => {
      const finish = (code: number | null, signal: NodeJS.Signals | null) => {
        if (this.hasExited) return;
        this.hasExited = true;
        this.exitCode = code;
        this.signal = signal;
        livePeers.delete(this);
        this.notify();
        resolve();
      };
      // 'close' waits for stdout/stderr to drain, so the output is complete when `exited` resolves.
      this.child.once('close', finish);
      this.child.once('error', (err) => {
        this.stderr += `\n[harness] spawn error: ${err.message}\n`;
        finish(null, null);
      });
    });
  }

  get running(): boolean {
    return !this.hasExited;
  }

  /** Command line, exit status and output tails: the context every harness error message carries. */
  describe(): string {
    const status = this.hasExited ? `exited code=${this.exitCode} signal=${this.signal}` : 'still running';
    return (
      `${this.label}: ${[this.command, ...this.args].join(' ')}\n(${status})\n` +
      `--- stdout ---\n${tail(this.stdout)}\n--- stderr ---\n${tail(this.stderr)}`
    );
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /**
   * Resolves with the first match of `pattern` in the chosen stream (from `options.from`); rejects when the
   * process exits without it or after `timeoutMs`.
   */
  waitFor(pattern: RegExp, timeoutMs = DEFAULT_TIMEOUT_MS, options: WaitOptions = {}): Promise<WaitMatch> {
    const from = options.from ?? 0;
    const stream = options.stream ?? 'stdout';
    const search = (): WaitMatch | undefined => {
      const text = (stream === 'stdout' ? this.stdout : this.stderr).slice(from);
      const re = new RegExp(pattern.source, pattern.flags.replace('g', ''));
      const match = re.exec(text);
      return match === null ? undefined : { match, end: from + match.index + match[0].length };
    };
    return new Promise<WaitMatch>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      const check = () => {
        const found = search();
        if (found !== undefined) {
          done();
          resolve(found);
        } else if (this.hasExited) {
          done();
          reject(new Error(`${pattern} never appeared on ${stream}; the peer exited.\n${this.describe()}`));
        }
      };
      timer = setTimeout(() => {
        done();
        reject(
          new PeerTimeoutError(
            `timed out after ${timeoutMs} ms waiting for ${pattern} on ${stream}.\n${this.describe()}`,
          ),
        );
      }, timeoutMs);
      this.listeners.add(check);
      check();
    });
  }

  /** Writes to the peer's stdin (for s_server, s_client and gnutls-cli: data to send over DTLS). */
  write(text: string): void {
    if (!this.running || this.child.stdin!.writableEnded) {
      throw new Error(`cannot write to a peer whose stdin is closed.\n${this.describe()}`);
    }
    this.child.stdin!.write(text);
  }

  /** Closes stdin: s_client and gnutls-cli then send close_notify; s_server prints DONE and exits. */
  endInput(): void {
    if (!this.child.stdin!.writableEnded) this.child.stdin!.end();
  }

  /** Resolves true if the process exited within `timeoutMs`, false otherwise (it is left running). */
  async waitForExit(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<boolean> {
    if (!this.running) return true;
    try {
      await withTimeout(this.exited, timeoutMs, `${this.label} to exit`);
      return true;
    } catch {
      return false;
    }
  }

  /** SIGTERM, then SIGKILL if it is still there after half of `timeoutMs`; bounded either way. */
  async stop(timeoutMs = 2000): Promise<void> {
    if (!this.running) return;
    this.endInput();
    this.child.kill('SIGTERM');
    if (await this.waitForExit(timeoutMs / 2)) return;
    this.child.kill('SIGKILL');
    if (!(await this.waitForExit(timeoutMs / 2))) {
      throw new Error(`could not stop ${this.label} (pid ${this.child.pid}) even with SIGKILL`);
    }
  }
}

/**
 * Kills every peer still running and removes every temp dir. Register it once per test file:
 * `after(cleanupPeers)` (node:test), so a failing test never leaves a process behind.
 */
export async function cleanupPeers(): Promise<void> {
  await Promise.allSettled([...livePeers].map((peer) => peer.stop()));
  await Promise.allSettled([...liveRelays].map((relay) => relay.close()));
  for (const dir of [...tempDirs]) {
    rmSync(dir, { recursive: true, force: true });
    tempDirs.delete(dir);
  }
}

/** Number of peer processes still running (tests assert 0 after cleanup). */
export function livePeerCount(): number {
  return livePeers.size;
}

// Last resort if the test process exits without running the after() hooks.
process.once('exit', () => {
  for (const peer of livePeers) peer.child.kill('SIGKILL');
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

function hostPort(host: LoopbackHost, port: number): string {
  return host === '::1' ? `[::1]:${port}` : `${host}:${port}`;
}

/**
 * Starts a server peer on `opts.port` or on a fresh free port. When the port was picked here and the peer
 * dies before it is ready (another process took the port meanwhile), retries on a new port, 3 times at most.
 */
async function startServer<T extends PeerProcess>(
  requestedPort: number | undefined,
  host: LoopbackHost,
  timeoutMs: number,
  ready: RegExp,
  readyStream: 'stdout' | 'stderr',
  launch: (port: number) => T,
): Promise<T> {
  const attempts = requestedPort === undefined ? 3 : 1;
  let lastError: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const port = requestedPort ?? (await freePort(host));
    const peer = launch(port);
    try {
      await peer.waitFor(ready, timeoutMs, { stream: readyStream });
      return peer;
    } catch (err) {
      lastError = err;
      await peer.stop();
      const portTaken = /bind|in use/i.test(peer.stderr + peer.stdout);
      if (!portTaken) break;
    }
  }
  throw lastError;
}

// ---------------------------------------------------------------------------------------------------------
// OpenSSL

export interface PskOptions {
  /** The pre-shared key, hex without 0x. */
  keyHex: string;
  identity?: string;
  /** Server only: the identity hint to send in ServerKeyExchange. */
  hint?: string;
}

export interface KeyMaterialOptions {
  /** RFC 5705 exporter label, e.g. EXTRACTOR-dtls_srtp (RFC 5764 §4.2). */
  label: string;
  length: number;
}

export interface OpensslServerOptions {
  host?: LoopbackHost;
  /** Defaults to a free port. */
  port?: number;
  cert?: PemSource;
  key?: PemSource;
  /** CA used to verify client certificates. */
  caFile?: PemSource;
  /** 'request' = -verify, 'require' = -Verify (both with -verify_return_error). Needs caFile. */
  clientAuth?: 'none' | 'request' | 'require';
  /** OpenSSL cipher list (TLS 1.2 names), e.g. ECDHE-ECDSA-AES128-GCM-SHA256. */
  cipher?: string;
  /** Colon-separated groups, e.g. X25519:P-256. */
  groups?: string;
  sigalgs?: string;
  psk?: PskOptions;
  /** Link MTU (see the quirks: payload limit is mtu - 28 on IPv4). */
  mtu?: number;
  /** Stateless cookie exchange via DTLSv1_listen. */
  listen?: boolean;
  /** Colon-separated OpenSSL SRTP profile names, e.g. SRTP_AES128_CM_SHA1_80:SRTP_AEAD_AES_128_GCM. */
  srtp?: string;
  keyMaterial?: KeyMaterialOptions;
  /** Comma-separated ALPN protocols. */
  alpn?: string;
  noTicket?: boolean;
  /** Exit after this many connections. */
  naccept?: number;
  extraArgs?: readonly string[];
  /** Bound for readiness (default 10 s). */
  timeoutMs?: number;
}

/** What s_server printed about its connections (the last connection's values). */
export interface OpensslServerReport {
  cipher?: string;
  sharedGroups?: string;
  srtpProfile?: string;
  /** Exported keying material, lowercase hex. */
  keyingMaterial?: string;
  alpn?: string;
  clientCertificateSubject?: string;
  /** Number of completed handshakes (`CIPHER is` lines). */
  handshakes: number;
}

function lastMatch(text: string, pattern: RegExp): RegExpExecArray | undefined {
  const re = new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : `${pattern.flags}g`);
  let last: RegExpExecArray | undefined;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) last = m;
  return last;
}

export function parseOpensslServerOutput(stdout: string): OpensslServerReport {
  const report: OpensslServerReport = { handshakes: (stdout.match(/^CIPHER is /gm) ?? []).length };
  report.cipher = lastMatch(stdout, /^CIPHER is (\S+)$/m)?.[1];
  report.sharedGroups = lastMatch(stdout, /^Shared groups: (.*)$/m)?.[1];
  report.srtpProfile = lastMatch(stdout, /^SRTP Extension negotiated, profile=(\S+)$/m)?.[1];
  report.keyingMaterial = lastMatch(stdout, /^\s*Keying material: ([0-9A-Fa-f]+)$/m)?.[1]?.toLowerCase();
  report.alpn = lastMatch(stdout, /^ALPN protocols selected: (.*)$/m)?.[1];
  report.clientCertificateSubject = lastMatch(
    stdout,
    /^Client certificate\n-----BEGIN CERTIFICATE-----\n[\s\S]*?-----END CERTIFICATE-----\nsubject=(.*)$/m,
  )?.[1];
  return report;
}

/** Letters that s_server treats as commands when they start a stdin chunk (apps/s_server.c sv_body). */
const S_SERVER_COMMAND_LETTERS = 'QqPSrRkKcB';

export class OpensslServer extends PeerProcess {
  constructor(
    args: readonly string[],
    readonly host: LoopbackHost,
    readonly port: number,
  ) {
    super('openssl s_server', requireBinary('openssl'), args);
  }

  report(): OpensslServerReport {
    return parseOpensslServerOutput(this.stdout);
  }

  /** Sends `text` to the connected client (refuses s_server's command letters, see the quirks). */
  override write(text: string): void {
    if (text.length > 0 && S_SERVER_COMMAND_LETTERS.includes(text[0]!)) {
      throw new Error(
        `s_server treats stdin text starting with '${text[0]}' as a command; ` +
          'start the text with another character',
      );
    }
    super.write(text);
  }

  /** Waits for `pattern` in what the server printed (from `from`), then sends `reply`. */
  async respond(
    pattern: RegExp,
    reply: string,
    timeoutMs = DEFAULT_TIMEOUT_MS,
    from = 0,
  ): Promise<WaitMatch> {
    const found = await this.waitFor(pattern, timeoutMs, { from });
    this.write(reply);
    return found;
  }
}

export async function startOpensslServer(opts: OpensslServerOptions = {}): Promise<OpensslServer> {
  const host = opts.host ?? '127.0.0.1';
  const dir = makeTempDir();
  const common: string[] = [];
  if (opts.cert !== undefined) {
    common.push('-cert', pemPath(dir, 'server-cert.pem', opts.cert));
    common.push('-key', pemPath(dir, 'server-key.pem', opts.key ?? opts.cert));
  } else {
    if (opts.psk === undefined) throw new Error('startOpensslServer: give a cert/key or a psk');
    common.push('-nocert');
  }
  if (opts.caFile !== undefined) common.push('-CAfile', pemPath(dir, 'ca.pem', opts.caFile));
  if (opts.clientAuth === 'request' || opts.clientAuth === 'require') {
    if (opts.caFile === undefined) throw new Error('startOpensslServer: clientAuth needs caFile');
    common.push(opts.clientAuth === 'require' ? '-Verify' : '-verify', '4', '-verify_return_error');
  }
  if (opts.cipher !== undefined) common.push('-cipher', opts.cipher);
  if (opts.groups !== undefined) common.push('-groups', opts.groups);
  if (opts.sigalgs !== undefined) common.push('-sigalgs', opts.sigalgs);
  if (opts.psk !== undefined) {
    common.push('-psk', opts.psk.keyHex);
    if (opts.psk.identity !== undefined) common.push('-psk_identity', opts.psk.identity);
    if (opts.psk.hint !== undefined) common.push('-psk_hint', opts.psk.hint);
  }
  if (opts.mtu !== undefined) common.push('-mtu', String(opts.mtu));
  if (opts.listen) common.push('-listen');
  if (opts.srtp !== undefined) common.push('-use_srtp', opts.srtp);
  if (opts.keyMaterial !== undefined) {
    common.push('-keymatexport', opts.keyMaterial.label, '-keymatexportlen', String(opts.keyMaterial.length));
  }
  if (opts.alpn !== undefined) common.push('-alpn', opts.alpn);
  if (opts.noTicket) common.push('-no_ticket');
  if (opts.naccept !== undefined) common.push('-naccept', String(opts.naccept));
  common.push(...(opts.extraArgs ?? []));
  return startServer(
    opts.port,
    host,
    opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    /^ACCEPT$/m,
    'stdout',
    (port) =>
      new OpensslServer(['s_server', '-dtls1_2', '-accept', hostPort(host, port), ...common], host, port),
  );
}

export interface ClientRunOptions {
  host?: LoopbackHost;
  port: number;
  /** A line of application data to send once the handshake is done (a newline is appended). */
  send?: string;
  /** Waited for in the data received after the handshake; the run throws if it never comes. */
  expect?: RegExp;
  /** Bound for the whole run (default 10 s). */
  timeoutMs?: number;
  extraArgs?: readonly string[];
}

export interface OpensslClientOptions extends ClientRunOptions {
  cert?: PemSource;
  key?: PemSource;
  /** CA to verify the server with (-verify + -verify_return_error unless verify is false). */
  caFile?: PemSource;
  verify?: boolean;
  servername?: string;
  noServername?: boolean;
  cipher?: string;
  groups?: string;
  sigalgs?: string;
  psk?: PskOptions;
  mtu?: number;
  srtp?: string;
  keyMaterial?: KeyMaterialOptions;
  alpn?: string;
  noTicket?: boolean;
  /** Path to write the session to / read a session from (resumption). */
  sessOut?: string;
  sessIn?: string;
}

export interface OpensslClientReport {
  handshakeComplete: boolean;
  /** `Reused, ...` rather than `New, ...`. */
  resumed: boolean;
  /** From the `SSL-Session:` block, e.g. DTLSv1.2. */
  protocol?: string;
  /** OpenSSL suite name, undefined when the handshake failed. */
  cipher?: string;
  serverTempKey?: string;
  alpn?: string;
  srtpProfile?: string;
  /** Lowercase hex. */
  keyingMaterial?: string;
  /** e.g. 0 for ok. */
  verifyReturnCode?: number;
  verifyReturnText?: string;
  peerCertificateSubject?: string;
  pskIdentity?: string;
  pskIdentityHint?: string;
  extendedMasterSecret?: boolean;
  /** Fatal alert received from the peer, e.g. 'handshake failure', 'unknown ca' (from stderr). */
  alertReceived?: string;
  /** OpenSSL error-queue lines printed on stderr. */
  errors: string[];
}

export function parseOpensslClientOutput(stdout: string, stderr = ''): OpensslClientReport {
  const summary = /^(New|Reused), (\S+), Cipher is (\S+)$/m.exec(stdout);
  const cipher = summary?.[3];
  const errors = stderr.split('\n').filter((line) => /:error:[0-9A-F]+:/.test(line));
  // s_client prints a full summary even when the server then rejects its last flight (e.g. -Verify and no
  // client certificate): only the alert on stderr tells. Any OpenSSL error line means "not complete".
  const handshakeComplete = cipher !== undefined && cipher !== '(NONE)' && errors.length === 0;
  const verify = /^\s*Verify return code: (\d+) \((.*)\)$/m.exec(stdout);
  const ems = /^\s*Extended master secret: (yes|no)$/m.exec(stdout)?.[1];
  const report: OpensslClientReport = {
    handshakeComplete,
    resumed: summary?.[1] === 'Reused',
    protocol: /^\s*Protocol\s*: (\S+)$/m.exec(stdout)?.[1],
    cipher: handshakeComplete ? cipher : undefined,
    serverTempKey: /^Server Temp Key: (.*)$/m.exec(stdout)?.[1],
    alpn: /^ALPN protocol: (.*)$/m.exec(stdout)?.[1],
    srtpProfile: /^SRTP Extension negotiated, profile=(\S+)$/m.exec(stdout)?.[1],
    keyingMaterial: /^\s*Keying material: ([0-9A-Fa-f]+)$/m.exec(stdout)?.[1]?.toLowerCase(),
    verifyReturnCode: verify ? Number(verify[1]) : undefined,
    verifyReturnText: verify?.[2],
    peerCertificateSubject: /^subject=(.*)$/m.exec(stdout)?.[1],
    pskIdentity: /^\s*PSK identity: (.*)$/m.exec(stdout)?.[1],
    pskIdentityHint: /^\s*PSK identity hint: (.*)$/m.exec(stdout)?.[1],
    extendedMasterSecret: ems === undefined ? undefined : ems === 'yes',
    alertReceived: /:SSL routines:[^:]*:(?:sslv3|tlsv1) alert ([^:]+):/.exec(stderr)?.[1],
    errors,
  };
  return report;
}

export interface ClientRunResult<Report> {
  stdout: string;
  stderr: string;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  report: Report;
  /** Application data received after the handshake (raw text as the client printed it). */
  received: string;
}

/**
 * Shared client flow: wait for the handshake marker (or exit), send a line, wait for the expected reply,
 * close stdin (close_notify), give the client `closeGraceMs` to exit by itself, then kill it. Bounded by
 * `timeoutMs` overall (plus the bounded stop).
 */
async function runClient<Report extends { handshakeComplete: boolean }>(
  peer: PeerProcess,
  opts: ClientRunOptions,
  handshakeDone: RegExp,
  parse: (stdout: string, stderr: string) => Report,
  closeGraceMs: number,
): Promise<ClientRunResult<Report>> {
  const deadline = Date.now() + (opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const left = () => Math.max(1, deadline - Date.now());
  let dataStart = -1;
  try {
    try {
      dataStart = (await peer.waitFor(handshakeDone, left())).end;
    } catch (err) {
      // Still running means a timeout: a harness failure. Exited means the handshake failed: a result.
      if (peer.running) throw err;
    }
    // s_client prints its summary block even after a failed handshake (`Cipher is (NONE)`).
    if (dataStart >= 0 && !parse(peer.stdout, peer.stderr).handshakeComplete) dataStart = -1;
    if (dataStart >= 0) {
      if (opts.send !== undefined && peer.running) peer.write(`${opts.send}\n`);
      if (opts.expect !== undefined) await peer.waitFor(opts.expect, left(), { from: dataStart });
    } else if (opts.expect !== undefined) {
      throw new Error(`the handshake failed, so ${opts.expect} cannot arrive.\n${peer.describe()}`);
    }
    if (peer.running) {
      peer.endInput();
      await peer.waitForExit(Math.min(closeGraceMs, left()));
    }
  } finally {
    await peer.stop();
  }
  return {
    stdout: peer.stdout,
    stderr: peer.stderr,
    exitCode: peer.exitCode,
    signal: peer.signal,
    report: parse(peer.stdout, peer.stderr),
    received: dataStart >= 0 ? peer.stdout.slice(dataStart) : '',
  };
}

/** Marker after s_client's connection summary: the `---` line that closes it (after Keying material). */
const OPENSSL_CLIENT_HANDSHAKE_DONE = /^SSL-Session:\n[\s\S]*?^---\n/m;

/** Runs `openssl s_client -dtls1_2` once against `opts.port`; always killed at the end. */
export async function runOpensslClient(
  opts: OpensslClientOptions,
): Promise<ClientRunResult<OpensslClientReport>> {
  const host = opts.host ?? '127.0.0.1';
  const dir = makeTempDir();
  const args = ['s_client', '-dtls1_2', '-connect', hostPort(host, opts.port), '-nocommands'];
  if (opts.cert !== undefined) {
    args.push('-cert', pemPath(dir, 'client-cert.pem', opts.cert));
    args.push('-key', pemPath(dir, 'client-key.pem', opts.key ?? opts.cert));
  }
  if (opts.caFile !== undefined) {
    args.push('-CAfile', pemPath(dir, 'ca.pem', opts.caFile));
    if (opts.verify !== false) args.push('-verify', '4', '-verify_return_error');
  }
  if (opts.servername !== undefined) args.push('-servername', opts.servername);
  if (opts.noServername) args.push('-noservername');
  if (opts.cipher !== undefined) args.push('-cipher', opts.cipher);
  if (opts.groups !== undefined) args.push('-groups', opts.groups);
  if (opts.sigalgs !== undefined) args.push('-sigalgs', opts.sigalgs);
  if (opts.psk !== undefined) {
    args.push('-psk', opts.psk.keyHex);
    if (opts.psk.identity !== undefined) args.push('-psk_identity', opts.psk.identity);
  }
  if (opts.mtu !== undefined) args.push('-mtu', String(opts.mtu));
  if (opts.srtp !== undefined) args.push('-use_srtp', opts.srtp);
  if (opts.keyMaterial !== undefined) {
    args.push('-keymatexport', opts.keyMaterial.label, '-keymatexportlen', String(opts.keyMaterial.length));
  }
  if (opts.alpn !== undefined) args.push('-alpn', opts.alpn);
  if (opts.noTicket) args.push('-no_ticket');
  if (opts.sessOut !== undefined) args.push('-sess_out', opts.sessOut);
  if (opts.sessIn !== undefined) args.push('-sess_in', opts.sessIn);
  args.push(...(opts.extraArgs ?? []));
  try {
    const peer = new PeerProcess('openssl s_client', requireBinary('openssl'), args);
    // s_client exits by itself right after stdin EOF (close_notify, DONE, exit 0).
    return await runClient(peer, opts, OPENSSL_CLIENT_HANDSHAKE_DONE, parseOpensslClientOutput, 2000);
  } finally {
    dir.remove();
  }
}

// ---------------------------------------------------------------------------------------------------------
// GnuTLS

/** GnuTLS priority names for each of our suites (by OpenSSL name); every one checked with --list. */
const GNUTLS_SUITE_PARTS: Record<string, { kx: string; cipher: string }> = {
  'ECDHE-ECDSA-AES128-GCM-SHA256': { kx: 'ECDHE-ECDSA', cipher: 'AES-128-GCM' },
  'ECDHE-ECDSA-AES256-GCM-SHA384': { kx: 'ECDHE-ECDSA', cipher: 'AES-256-GCM' },
  'ECDHE-ECDSA-CHACHA20-POLY1305': { kx: 'ECDHE-ECDSA', cipher: 'CHACHA20-POLY1305' },
  'ECDHE-RSA-AES128-GCM-SHA256': { kx: 'ECDHE-RSA', cipher: 'AES-128-GCM' },
  'ECDHE-RSA-AES256-GCM-SHA384': { kx: 'ECDHE-RSA', cipher: 'AES-256-GCM' },
  'ECDHE-RSA-CHACHA20-POLY1305': { kx: 'ECDHE-RSA', cipher: 'CHACHA20-POLY1305' },
  'ECDHE-ECDSA-AES128-CCM': { kx: 'ECDHE-ECDSA', cipher: 'AES-128-CCM' },
  'ECDHE-ECDSA-AES256-CCM': { kx: 'ECDHE-ECDSA', cipher: 'AES-256-CCM' },
  'ECDHE-ECDSA-AES128-CCM8': { kx: 'ECDHE-ECDSA', cipher: 'AES-128-CCM-8' },
  'ECDHE-ECDSA-AES256-CCM8': { kx: 'ECDHE-ECDSA', cipher: 'AES-256-CCM-8' },
  'ECDHE-PSK-CHACHA20-POLY1305': { kx: 'ECDHE-PSK', cipher: 'CHACHA20-POLY1305' },
  'PSK-AES128-CCM8': { kx: 'PSK', cipher: 'AES-128-CCM-8' },
  'PSK-AES256-CCM8': { kx: 'PSK', cipher: 'AES-256-CCM-8' },
  'PSK-AES128-CCM': { kx: 'PSK', cipher: 'AES-128-CCM' },
  'PSK-AES256-CCM': { kx: 'PSK', cipher: 'AES-256-CCM' },
  'PSK-AES128-GCM-SHA256': { kx: 'PSK', cipher: 'AES-128-GCM' },
  'PSK-AES256-GCM-SHA384': { kx: 'PSK', cipher: 'AES-256-GCM' },
  'PSK-CHACHA20-POLY1305': { kx: 'PSK', cipher: 'CHACHA20-POLY1305' },
};

/** GnuTLS group names for OpenSSL/IANA group names. */
const GNUTLS_GROUP: Record<string, string> = {
  X25519: 'GROUP-X25519',
  x25519: 'GROUP-X25519',
  'P-256': 'GROUP-SECP256R1',
  prime256v1: 'GROUP-SECP256R1',
  secp256r1: 'GROUP-SECP256R1',
  'P-384': 'GROUP-SECP384R1',
  secp384r1: 'GROUP-SECP384R1',
  X448: 'GROUP-X448',
};

/**
 * The GnuTLS priority string that allows DTLS 1.2 with exactly the suite named (OpenSSL name) and, if
 * given, exactly the groups named. Throws for suites GnuTLS 3.7 lacks (RFC 8442 ECDHE-PSK AES-GCM/CCM).
 */
export function gnutlsPriorityFor(opensslSuite: string, groups?: readonly string[]): string {
  const parts = GNUTLS_SUITE_PARTS[opensslSuite];
  if (parts === undefined)
    throw new Error(`no GnuTLS priority known for ${opensslSuite} (GnuTLS 3.7 lacks it?)`);
  const kx = `-KX-ALL:+${parts.kx}`;
  let priority = `NORMAL:-VERS-ALL:+VERS-DTLS1.2:${kx}:-CIPHER-ALL:+${parts.cipher}:-MAC-ALL:+AEAD`;
  if (groups !== undefined) {
    priority += ':-GROUP-ALL';
    for (const group of groups) {
      const name = GNUTLS_GROUP[group];
      if (name === undefined) throw new Error(`no GnuTLS name known for group ${group}`);
      priority += `:+${name}`;
    }
  }
  return priority;
}

export interface GnutlsServerOptions {
  /** gnutls-serv binds 0.0.0.0 and :: whatever this says; it only picks the free-port family. */
  host?: LoopbackHost;
  port?: number;
  cert?: PemSource;
  key?: PemSource;
  caFile?: PemSource;
  /**
   * 'none' = --disable-client-cert; 'request' (GnuTLS's default) asks and, with caFile, verifies one if
   * sent; 'require' = --require-client-cert.
   */
  clientAuth?: 'none' | 'request' | 'require';
  priority?: string;
  /** PSK identities and keys, written to a --pskpasswd file. */
  psk?: { identity: string; keyHex: string; hint?: string };
  mtu?: number;
  /** Colon-separated GnuTLS SRTP profile names, e.g. SRTP_AES128_CM_HMAC_SHA1_80. */
  srtp?: string;
  keyMaterial?: KeyMaterialOptions;
  alpn?: string;
  noCookie?: boolean;
  /** Default true: act as an echo server. */
  echo?: boolean;
  extraArgs?: readonly string[];
  timeoutMs?: number;
}

export class GnutlsServer extends PeerProcess {
  constructor(
    args: readonly string[],
    readonly host: LoopbackHost,
    readonly port: number,
  ) {
    super('gnutls-serv', requireBinary('gnutls-serv'), args);
  }

  /** Texts gnutls-serv --echo logged (on stderr) as received: `*** Processing N bytes command: <text>`. */
  received(): string[] {
    return [...this.stderr.matchAll(/^\*\*\* Processing \d+ bytes command: (.*)$/gm)].map((m) => m[1]!);
  }
}

export async function startGnutlsServer(opts: GnutlsServerOptions = {}): Promise<GnutlsServer> {
  const host = opts.host ?? '127.0.0.1';
  const dir = makeTempDir();
  const common: string[] = [];
  if (opts.echo !== false) common.push('--echo');
  if (opts.cert !== undefined) {
    common.push('--x509certfile', pemPath(dir, 'server-cert.pem', opts.cert));
    common.push('--x509keyfile', pemPath(dir, 'server-key.pem', opts.key ?? opts.cert));
  } else if (opts.psk === undefined) {
    throw new Error('startGnutlsServer: give a cert/key or a psk');
  }
  if (opts.caFile !== undefined) common.push('--x509cafile', pemPath(dir, 'ca.pem', opts.caFile));
  if (opts.clientAuth === 'none') common.push('--disable-client-cert');
  else if (opts.clientAuth === 'require') common.push('--require-client-cert', '--verify-client-cert');
  else if (opts.clientAuth === 'request' && opts.caFile !== undefined) common.push('--verify-client-cert');
  if (opts.priority !== undefined) common.push('--priority', opts.priority);
  if (opts.psk !== undefined) {
    common.push('--pskpasswd', dir.file('psk.passwd', `${opts.psk.identity}:${opts.psk.keyHex}\n`));
    if (opts.psk.hint !== undefined) common.push('--pskhint', opts.psk.hint);
  }
  if (opts.mtu !== undefined) common.push('--mtu', String(opts.mtu));
  if (opts.srtp !== undefined) common.push('--srtp-profiles', opts.srtp);
  if (opts.keyMaterial !== undefined) {
    common.push(
      '--keymatexport',
      opts.keyMaterial.label,
      '--keymatexportsize',
      String(opts.keyMaterial.length),
    );
  }
  if (opts.alpn !== undefined) common.push('--alpn', opts.alpn);
  if (opts.noCookie) common.push('--nocookie');
  common.push(...(opts.extraArgs ?? []));
  return startServer(
    opts.port,
    host,
    opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    /^UDP .*Server listening on IPv4 .* port \d+\.\.\.done$/m,
    'stderr',
    (port) => new GnutlsServer(['--udp', '--port', String(port), ...common], host, port),
  );
}

export interface GnutlsClientOptions extends ClientRunOptions {
  priority?: string;
  /** CA to verify the server; without it the client runs --insecure. */
  caFile?: PemSource;
  /** Name checked against the server certificate instead of the host (127.0.0.1 needs an IP SAN). */
  verifyHostname?: string;
  /** SNI to send. */
  sniHostname?: string;
  cert?: PemSource;
  key?: PemSource;
  psk?: { identity: string; keyHex: string };
  mtu?: number;
  srtp?: string;
  keyMaterial?: KeyMaterialOptions;
  alpn?: string;
  /** Connect, then reconnect resuming the session (--resume). */
  resume?: boolean;
  /** How long to let gnutls-cli exit by itself after stdin EOF before killing it (default 500 ms). */
  closeGraceMs?: number;
}

export interface GnutlsClientReport {
  handshakeComplete: boolean;
  resumed: boolean;
  /** The raw description, e.g. (DTLS1.2-X.509)-(ECDHE-X25519)-(ECDSA-SHA256)-(AES-128-GCM). */
  description?: string;
  /** e.g. DTLS1.2 */
  protocol?: string;
  /** e.g. ECDHE-X25519, PSK */
  keyExchange?: string;
  /** GnuTLS cipher name, e.g. AES-128-GCM. */
  cipher?: string;
  srtpProfile?: string;
  alpn?: string;
  /** Lowercase hex. */
  keyingMaterial?: string;
  certificateTrusted?: boolean;
}

export function parseGnutlsClientOutput(stdout: string, _stderr = ''): GnutlsClientReport {
  // With --resume there are two handshakes; the last one describes the session in use.
  const description = lastMatch(stdout, /^- Description: (.*)$/m)?.[1];
  const groups = description === undefined ? [] : [...description.matchAll(/\(([^)]*)\)/g)].map((m) => m[1]!);
  const status = /^- Status: The certificate is (NOT )?trusted/m.exec(stdout);
  return {
    handshakeComplete: /^- (Resume )?Handshake was completed$/m.test(stdout),
    resumed: /^\*\*\* This is a resumed session$/m.test(stdout),
    description,
    protocol: groups[0]?.split('-')[0],
    keyExchange: groups[1],
    cipher: groups.length >= 3 ? groups[groups.length - 1] : undefined,
    srtpProfile: lastMatch(stdout, /^- SRTP profile: (\S+)$/m)?.[1],
    alpn: lastMatch(stdout, /^- Application protocol: (.*)$/m)?.[1],
    keyingMaterial: lastMatch(stdout, /^- Key material: ([0-9A-Fa-f]+)$/m)?.[1]?.toLowerCase(),
    certificateTrusted: status === null ? undefined : status[1] === undefined,
  };
}

/** Runs `gnutls-cli --udp` once against `opts.port`; always killed at the end. */
export async function runGnutlsClient(
  opts: GnutlsClientOptions,
): Promise<ClientRunResult<GnutlsClientReport>> {
  const host = opts.host ?? '127.0.0.1';
  const dir = makeTempDir();
  const args = ['--udp', '--port', String(opts.port)];
  if (opts.priority !== undefined) args.push('--priority', opts.priority);
  if (opts.caFile !== undefined) args.push('--x509cafile', pemPath(dir, 'ca.pem', opts.caFile));
  else args.push('--insecure');
  if (opts.verifyHostname !== undefined) args.push('--verify-hostname', opts.verifyHostname);
  if (opts.sniHostname !== undefined) args.push('--sni-hostname', opts.sniHostname);
  if (opts.cert !== undefined) {
    args.push('--x509certfile', pemPath(dir, 'client-cert.pem', opts.cert));
    args.push('--x509keyfile', pemPath(dir, 'client-key.pem', opts.key ?? opts.cert));
  }
  if (opts.psk !== undefined) args.push('--pskusername', opts.psk.identity, '--pskkey', opts.psk.keyHex);
  if (opts.mtu !== undefined) args.push('--mtu', String(opts.mtu));
  if (opts.srtp !== undefined) args.push('--srtp-profiles', opts.srtp);
  if (opts.keyMaterial !== undefined) {
    args.push(
      '--keymatexport',
      opts.keyMaterial.label,
      '--keymatexportsize',
      String(opts.keyMaterial.length),
    );
  }
  if (opts.alpn !== undefined) args.push('--alpn', opts.alpn);
  if (opts.resume) args.push('--resume');
  args.push(...(opts.extraArgs ?? []), host);
  try {
    const peer = new PeerProcess('gnutls-cli', requireBinary('gnutls-cli'), args);
    return await runClient(
      peer,
      opts,
      /^- Simple Client Mode:\n\n/m,
      parseGnutlsClientOutput,
      opts.closeGraceMs ?? 500,
    );
  } finally {
    dir.remove();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Observing the wire: a UDP relay between a client and a server records every datagram, so tests can check
// sizes (MTU), cookies (HelloVerifyRequest) and fragmentation without tshark.

export interface RelayedDatagram {
  direction: 'to-server' | 'to-client';
  data: Buffer;
}

export interface UdpRelay {
  /** Point the client here. */
  readonly port: number;
  readonly datagrams: RelayedDatagram[];
  close(): Promise<void>;
}

const liveRelays = new Set<UdpRelay>();

/**
 * Listens on `host`:free port and forwards to `host`:`serverPort`; the first non-server sender is the
 * client. The server sees the relay's address as the client's.
 */
export async function startUdpRelay(serverPort: number, host: LoopbackHost = '127.0.0.1'): Promise<UdpRelay> {
  const socket = dgram.createSocket(host === '::1' ? 'udp6' : 'udp4');
  const datagrams: RelayedDatagram[] = [];
  let client: { port: number } | undefined;
  socket.on('message', (data, rinfo) => {
    if (rinfo.port === serverPort) {
      datagrams.push({ direction: 'to-client', data });
      if (client !== undefined) socket.send(data, client.port, host);
    } else {
      client = { port: rinfo.port };
      datagrams.push({ direction: 'to-server', data });
      socket.send(data, serverPort, host);
    }
  });
  const port = await withTimeout(
    new Promise<number>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ port: 0, address: host }, () => resolve(socket.address().port));
    }),
    DEFAULT_TIMEOUT_MS,
    'binding the UDP relay',
  );
  socket.on('error', () => {});
  let closed = false;
  const relay: UdpRelay = {
    port,
    datagrams,
    close: () => {
      liveRelays.delete(relay);
      if (closed) return Promise.resolve();
      closed = true;
      return withTimeout(
        new Promise<void>((resolve) => socket.close(() => resolve())),
        2000,
        'closing the relay',
      );
    },
  };
  liveRelays.add(relay);
  return relay;
}

/** One DTLS record of a datagram; for plaintext (epoch 0) handshake records, its message header. */
export interface RecordSummary {
  contentType: number;
  epoch: number;
  length: number;
  handshake?: {
    msgType: number;
    length: number;
    messageSeq: number;
    fragmentOffset: number;
    fragmentLength: number;
  };
}

/** Splits a datagram into DTLS records (RFC 6347 §4.1) and reads epoch-0 handshake headers (§4.2.2). */
export function summarizeDatagram(datagram: Uint8Array): RecordSummary[] {
  const records: RecordSummary[] = [];
  const reader = new Reader(datagram);
  while (!reader.atEnd()) {
    const contentType = reader.u8('record type');
    reader.u16('record version');
    const epoch = reader.u16('epoch');
    reader.u48('sequence number');
    const body = reader.sub(reader.u16('record length'), 'record body');
    const record: RecordSummary = { contentType, epoch, length: body.remaining };
    if (contentType === ContentType.handshake && epoch === 0) {
      record.handshake = {
        msgType: body.u8('msg_type'),
        length: body.u24('length'),
        messageSeq: body.u16('message_seq'),
        fragmentOffset: body.u24('fragment_offset'),
        fragmentLength: body.u24('fragment_length'),
      };
    }
    records.push(record);
  }
  return records;
}
