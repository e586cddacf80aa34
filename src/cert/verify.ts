import { createHash, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { HandshakeFailure } from '../errors.js';
import { matchesFingerprint } from './fingerprint.js';
import { loadCertificate } from './generate.js';

export interface PeerVerificationOptions {
  /** Trust anchors: PEM bundles or DER certificates. */
  ca?: (string | Buffer)[];
  /** Pinned leaf fingerprints, 'sha-256 AB:CD:…' (RFC 8122 §5); a match skips chain validation. */
  fingerprints?: string[];
  /** Expected host name or IP address of the peer (a client checking its server). */
  serverName?: string;
  /** Time to check validity periods at; default the current time. */
  now?: Date;
  /** Accept any parsable certificate (testing only). */
  insecure?: boolean;
}

/** Longest path (leaf included) we try to build, so a hostile chain cannot make the search explode. */
const MAX_PATH_LENGTH = 10;

/**
 * Validates the peer's Certificate message (RFC 5246 §7.4.2: leaf first, then the certs that
 * certify it) before the handshake completes, and returns the parsed leaf. Failures throw
 * HandshakeFailure with the alert RFC 5246 §7.2.2 prescribes, so the engine ends the handshake.
 */
/**
 * Parsing a certificate costs ~0.25 ms, the largest single step of a handshake after the ECDH and
 * signature work; peers reconnecting with the same certificate (a client to its server, devices
 * that reconnect) hit this small cache. X509Certificate objects are immutable, so sharing is safe.
 */
const PARSED = new Map<string, X509Certificate>();
const PARSED_MAX = 256;

export function parseCertificateCached(der: Buffer): X509Certificate {
  const key = createHash('sha256').update(der).digest('base64');
  const hit = PARSED.get(key);
  if (hit) return hit;
  const cert = new X509Certificate(der);
  if (PARSED.size >= PARSED_MAX) PARSED.delete(PARSED.keys().next().value!);
  PARSED.set(key, cert);
  return cert;
}

export function verifyPeerCertificate(chainDer: Buffer[], opts: PeerVerificationOptions): X509Certificate {
  if (chainDer.length === 0) throw new HandshakeFailure('bad_certificate', 'peer sent no certificate');
  const chain = chainDer.map((der, i) => {
    try {
      return parseCertificateCached(der);
    } catch {
      throw new HandshakeFailure(
        'bad_certificate',
        i === 0
          ? 'certificate could not be parsed'
          : `certificate #${i + 1} in the chain could not be parsed`,
      );
    }
  });
  const leaf = chain[0]!;
  try {
    // node parses the certificate lazily: a key it cannot decode only shows when first used, and the
    // handshake uses it next (signature checks), so reject it here with the alert it deserves.
    void leaf.publicKey;
  } catch {
    throw new HandshakeFailure('bad_certificate', "the certificate's public key cannot be decoded");
  }

  // Explicit pins are checked even in insecure mode: a configured fingerprint is a stronger statement
  // than a blanket "don't validate". A pin match is the whole authentication in WebRTC (RFC 8827 §6.5),
  // whose certificates are self-signed, so no chain or name checks follow it.
  const fingerprints = opts.fingerprints ?? [];
  if (fingerprints.length > 0) {
    if (!matchesFingerprint(leaf.raw, fingerprints)) {
      throw new HandshakeFailure('bad_certificate', 'certificate fingerprint does not match');
    }
    return leaf;
  }
  if (opts.insecure) return leaf;

  const ca = opts.ca ?? [];
  if (ca.length === 0)
    throw new HandshakeFailure('bad_certificate', 'no trust anchor or fingerprint configured');
  const anchors = ca.flatMap((entry) => loadCertificate(entry));
  const now = opts.now ?? new Date();

  const path = buildPath(leaf, chain.slice(1), anchors);
  checkPath(path, now);

  if (opts.serverName !== undefined) checkName(leaf, opts.serverName);
  return leaf;
}

function isSameCertificate(a: X509Certificate, b: X509Certificate): boolean {
  return a.raw.equals(b.raw);
}

function signatureVerifies(child: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return child.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/**
 * Depth-first search for a path leaf → intermediates (the peer's chain, in any order, RFC 8446
 * §4.4.2 relaxes the order and real stacks send it loosely in 1.2 too) → a configured anchor.
 * A link needs the issuer's subject to equal the child's issuer name and the child's signature to
 * verify under the issuer's key; CA flags and dates are checked afterwards on the found path, so a
 * misissued chain is reported as such rather than as an unknown authority.
 */
function buildPath(leaf: X509Certificate, intermediates: X509Certificate[], anchors: X509Certificate[]) {
  const isAnchor = (c: X509Certificate) => anchors.some((a) => isSameCertificate(a, c));
  // Fixed step budget: with duplicate or cross-signed intermediates the search tree could still be
  // wide, so count every link tried, not just the depth.
  let stepsLeft = 1000;

  const extend = (path: X509Certificate[]): X509Certificate[] | undefined => {
    const last = path[path.length - 1]!;
    if (isAnchor(last)) return path;
    if (path.length >= MAX_PATH_LENGTH) return undefined;
    const inPath = (c: X509Certificate) => path.some((p) => isSameCertificate(p, c));
    // Anchors first: the shortest path to trust wins.
    for (const candidate of [...anchors, ...intermediates]) {
      if (--stepsLeft < 0) return undefined;
      if (inPath(candidate) || candidate.subject !== last.issuer) continue;
      if (!signatureVerifies(last, candidate)) continue;
      const found = extend([...path, candidate]);
      if (found) return found;
    }
    return undefined;
  };

  const path = extend([leaf]);
  if (!path) throw new HandshakeFailure('unknown_ca', 'certificate signed by an unknown authority');
  return path;
}

function describe(cert: X509Certificate, index: number): string {
  const role = index === 0 ? 'certificate' : 'issuer certificate';
  return `${role} "${cert.subject.replaceAll('\n', ', ')}"`;
}

/** RFC 5280 §6.1.3 (validity) and §6.1.4 (k): every issuer in the path must be a CA. */
function checkPath(path: X509Certificate[], now: Date): void {
  for (const [i, cert] of path.entries()) {
    const notBefore = new Date(cert.validFrom);
    const notAfter = new Date(cert.validTo);
    if (now < notBefore) {
      throw new HandshakeFailure(
        'certificate_expired',
        `${describe(cert, i)} is not yet valid: valid from ${cert.validFrom} to ${cert.validTo}`,
      );
    }
    if (now > notAfter) {
      throw new HandshakeFailure(
        'certificate_expired',
        `${describe(cert, i)} has expired: valid from ${cert.validFrom} to ${cert.validTo}`,
      );
    }
    if (i > 0 && !cert.ca) {
      throw new HandshakeFailure(
        'bad_certificate',
        `${describe(cert, i)} is not a CA but issued another certificate`,
      );
    }
  }
}

/** RFC 6125 §6 name check: DNS names against dNSName SANs (CN only without them), IPs against iPAddress SANs. */
function checkName(leaf: X509Certificate, serverName: string): void {
  const bare = serverName.startsWith('[') && serverName.endsWith(']') ? serverName.slice(1, -1) : serverName;
  const matched = isIP(bare) !== 0 ? leaf.checkIP(bare) : leaf.checkHost(bare.replace(/\.$/, ''));
  if (matched === undefined)
    throw new HandshakeFailure('bad_certificate', `certificate is not valid for ${serverName}`);
}
