import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { generateCertificate, type KeyType } from '../cert/generate.js';
import { type CliIo, intArg, usageError } from './common.js';

export const CERT_USAGE =
  'tsdtls cert [--key-type ecdsa-p256|ecdsa-p384|rsa-2048|ed25519] [--cn NAME] [--days N] [--out-cert F --out-key F]';

const KEY_TYPES: KeyType[] = ['ecdsa-p256', 'ecdsa-p384', 'rsa-2048', 'ed25519'];

/** `tsdtls cert`: a fresh self-signed certificate (WebRTC style); prints its SDP fingerprint. */
export async function runCert(argv: string[], io: CliIo): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      'key-type': { type: 'string', default: 'ecdsa-p256' },
      cn: { type: 'string', default: 'tsdtls' },
      days: { type: 'string', default: '30' },
      'out-cert': { type: 'string' },
      'out-key': { type: 'string' },
    },
    strict: true,
  });
  const keyType = v['key-type'] as KeyType;
  if (!KEY_TYPES.includes(keyType)) throw usageError(`--key-type must be one of ${KEY_TYPES.join(', ')}`);
  const g = await generateCertificate({
    keyType,
    commonName: v.cn,
    validityDays: intArg(v.days, '--days', 1, 36500),
  });
  const pem = (t: string) => (t.endsWith('\n') ? t : `${t}\n`);
  if (v['out-cert']) writeFileSync(v['out-cert'], pem(g.cert));
  else io.stdout.write(pem(g.cert));
  if (v['out-key']) writeFileSync(v['out-key'], pem(g.key), { mode: 0o600 });
  else if (!v['out-cert']) io.stdout.write(pem(g.key));
  io.stderr.write(`fingerprint: ${g.fingerprint}\n`);
  if (v['out-cert']) io.stdout.write(`${g.fingerprint}\n`);
  return 0;
}
