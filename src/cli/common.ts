import { appendFileSync, readFileSync } from 'node:fs';
import type { ConnectionInfo } from '../engine/events.js';
import { DtlsError } from '../errors.js';

/** Streams a command writes to; tests pass their own. */
export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream;
}

/** Raised for a bad command line; printed as `error: invalid_argument: …`. */
export function usageError(message: string): DtlsError {
  return new DtlsError('invalid_argument', message);
}

/** The one-line failure format of every command: `error: <code>: <reason>`. */
export function errorLine(e: unknown): string {
  if (e instanceof DtlsError) return `error: ${e.code}: ${e.message}`;
  if (e instanceof Error && 'code' in e && typeof (e as { code: unknown }).code === 'string') {
    return `error: ${(e as { code: string }).code}: ${e.message}`;
  }
  return `error: internal_error: ${e instanceof Error ? e.message : String(e)}`;
}

export function readFileArg(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw usageError(`cannot read ${what} ${path}: ${(e as Error).message}`);
  }
}

export function intArg(v: string | undefined, what: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max)
    throw usageError(`${what} must be an integer in ${min}..${max}`);
  return n;
}

/** Where key log lines go: --keylog FILE, else SSLKEYLOGFILE (as browsers and curl honour it). */
export function keylogWriter(path: string | undefined): ((line: Buffer) => void) | undefined {
  const target = path ?? process.env.SSLKEYLOGFILE;
  if (!target) return undefined;
  return (line) => appendFileSync(target, line);
}

/** `DTLSv1.2 TLS_… (x25519, ecdsa_secp256r1_sha256, extended master secret)` */
export function describe(info: ConnectionInfo): string {
  const extra = [
    info.group,
    info.signatureScheme,
    info.pskIdentity ? `psk identity ${info.pskIdentity}` : undefined,
  ]
    .filter((x) => x !== undefined)
    .concat(info.extendedMasterSecret ? ['extended master secret'] : [])
    .concat(info.srtpProfile ? [`srtp ${info.srtpProfile}`] : [])
    .concat(info.alpnProtocol ? [`alpn ${info.alpnProtocol}`] : [])
    .concat(info.resumed ? ['resumed'] : []);
  return `${info.protocol} ${info.cipherSuite}${extra.length ? ` (${extra.join(', ')})` : ''}`;
}

/** Parse a hex PSK (`--psk`), as OpenSSL's -psk takes it. */
export function hexKey(v: string, what: string): Buffer {
  if (!/^([0-9a-fA-F]{2})+$/.test(v)) throw usageError(`${what} must be hex digits`);
  return Buffer.from(v, 'hex');
}

/** `--export LABEL:LENGTH[:CONTEXTHEX]`: an RFC 5705 exporter request. */
export interface ExportSpec {
  label: string;
  length: number;
  context?: Buffer;
}

export function parseExportSpec(v: string): ExportSpec {
  const m = /^(.+?):(\d+)(?::([0-9a-fA-F]*))?$/.exec(v);
  if (!m) throw usageError(`--export wants LABEL:LENGTH[:CONTEXTHEX], got ${JSON.stringify(v)}`);
  const length = Number(m[2]);
  if (length < 1 || length > 65535) throw usageError('--export length must be 1..65535');
  return { label: m[1]!, length, context: m[3] === undefined ? undefined : hexContext(m[3]) };
}

function hexContext(h: string): Buffer {
  if (h.length % 2 !== 0) throw usageError('--export context must be hex');
  return Buffer.from(h, 'hex');
}

export function exportSpec(
  s: { exportKeyingMaterial(label: string, length: number, context?: Uint8Array): Buffer },
  spec: ExportSpec,
): string {
  return s.exportKeyingMaterial(spec.label, spec.length, spec.context).toString('hex').toUpperCase();
}
