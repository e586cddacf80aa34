import { type KeyObject, timingSafeEqual, type X509Certificate } from 'node:crypto';
import { parseCertificateCached, verifyPeerCertificate } from '../cert/verify.js';
import { generateKeyShare, groupId, groupName, type KeyShare } from '../crypto/key-exchange.js';
import {
  computeExtendedMasterSecret,
  computeMasterSecret,
  computeVerifyData,
  pskPremasterSecret,
} from '../crypto/prf.js';
import { systemRandom } from '../crypto/random.js';
import {
  schemeId,
  schemeName,
  schemesForKey,
  signWithScheme,
  verifyWithScheme,
} from '../crypto/signature.js';
import { type CipherSuite, suiteById, usesCertificate, usesEcdhe, usesPsk } from '../crypto/suites.js';
import type { ClientPsk, PskCredentials } from '../engine/config.js';
import type { ClientSession, SessionState } from '../engine/resumption.js';
import { HandshakeFailure } from '../errors.js';
import { decodeCertificate, encodeCertificate } from '../wire/certificate.js';
import { decodeCertificateRequest } from '../wire/certificate-request.js';
import { encodeCertificateVerify } from '../wire/certificate-verify.js';
import { type ClientHello, encodeClientHello, replaceClientHelloCookie } from '../wire/client-hello.js';
import {
  encodeEcdheClientKeyExchange,
  encodeEcdhePskClientKeyExchange,
  encodePskClientKeyExchange,
} from '../wire/client-key-exchange.js';
import { ExtensionType, HandshakeType, ProtocolVersion } from '../wire/constants.js';
import {
  decodeAlpn,
  decodeRenegotiationInfo,
  decodeUseSrtp,
  type Extension,
  encodeAlpn,
  encodeEcPointFormats,
  encodeEmptyExtension,
  encodeRenegotiationInfo,
  encodeServerNameList,
  encodeSessionTicketExtension,
  encodeSignatureAlgorithms,
  encodeSupportedGroups,
  encodeUseSrtp,
  findExtension,
  SERVER_NAME_HOST_NAME,
} from '../wire/extensions.js';
import { decodeFinished, encodeFinished } from '../wire/finished.js';
import { decodeHelloVerifyRequest } from '../wire/hello-verify-request.js';
import { decodeNewSessionTicket } from '../wire/new-session-ticket.js';
import { decodeServerHello, type ServerHello } from '../wire/server-hello.js';
import { decodeServerHelloDone } from '../wire/server-hello-done.js';
import {
  decodeEcdhePskServerKeyExchange,
  decodeEcdheServerKeyExchange,
  decodePskServerKeyExchange,
  type ServerEcdhParams,
} from '../wire/server-key-exchange.js';
import { ownedCopy } from '../wire/writer.js';
import {
  connectionInfoOf,
  decodeOrFail,
  expectMessage,
  type HandshakeHost,
  type HandshakeRole,
  type Negotiated,
} from './host.js';
import type { HandshakeMessage } from './reassembler.js';
import { srtpProfileById, srtpProfileByName } from './srtp.js';

type ClientState =
  | 'wait_server_hello'
  | 'wait_certificate'
  | 'wait_server_key_exchange'
  | 'wait_certificate_request_or_done'
  | 'wait_new_session_ticket'
  | 'wait_change_cipher_spec'
  | 'wait_finished'
  | 'done';

/** Is this an IP literal? RFC 6066 §3: "Literal IPv4 and IPv6 addresses are not permitted" in SNI. */
function isIpLiteral(name: string): boolean {
  return /^[0-9.]+$/.test(name) || name.includes(':');
}

/**
 * The client side of the full DTLS 1.2 handshake (RFC 6347 §4.2.4 flights 1, 3 and 5; RFC 5246 §7.3):
 *
 *   ClientHello                 -->                                   (flight 1)
 *                               <--  HelloVerifyRequest               (flight 2, optional)
 *   ClientHello + cookie        -->                                   (flight 3)
 *                               <--  ServerHello, Certificate*, ServerKeyExchange*,
 *                                    CertificateRequest*, ServerHelloDone (flight 4)
 *   Certificate*, ClientKeyExchange, CertificateVerify*,
 *   [ChangeCipherSpec], Finished -->                                  (flight 5)
 *                               <--  [ChangeCipherSpec], Finished     (flight 6)
 *
 * Each state accepts exactly one kind of message; anything else ends the handshake with unexpected_message.
 */
export class ClientHandshake implements HandshakeRole {
  private state: ClientState = 'wait_server_hello';
  private helloBody!: Buffer;
  private hello!: ClientHello;
  private helloVerifyRequests = 0;
  private suite?: CipherSuite;
  private serverHello?: ServerHello;
  private extendedMasterSecret = false;
  private serverCertificate?: X509Certificate;
  private serverEcdh?: ServerEcdhParams;
  private pskHint?: Buffer;
  private certificateRequested = false;
  private certificateRequestSchemes: number[] = [];
  private signatureScheme?: string;
  private srtpProfile?: number;
  private alpnProtocol?: string;
  private offeredSession?: ClientSession;
  private serverChain?: Buffer[];
  private ticketExpected = false;
  private resumed = false;
  private newTicket?: { ticket: Buffer; lifetime: number };
  private result?: Negotiated;

  constructor(private readonly host: HandshakeHost) {}

  get done(): boolean {
    return this.state === 'done';
  }

  get negotiated(): Negotiated | undefined {
    return this.result;
  }

  /** Flight 1. */
  start(): void {
    const cfg = this.host.config;
    const suites = cfg.suites;
    const extensions: Extension[] = [];
    if (cfg.serverName && !isIpLiteral(cfg.serverName)) {
      extensions.push({
        type: ExtensionType.server_name,
        data: encodeServerNameList([{ nameType: SERVER_NAME_HOST_NAME, name: cfg.serverName }]),
      });
    }
    if (suites.some(usesEcdhe)) {
      extensions.push({
        type: ExtensionType.supported_groups,
        data: encodeSupportedGroups(cfg.groups.map(groupId)),
      });
      // RFC 8422 §5.1.2: only the uncompressed point format exists in practice.
      extensions.push({ type: ExtensionType.ec_point_formats, data: encodeEcPointFormats([0]) });
    }
    if (suites.some(usesCertificate) || cfg.identity) {
      extensions.push({
        type: ExtensionType.signature_algorithms,
        data: encodeSignatureAlgorithms(cfg.signatureSchemes.map(schemeId)),
      });
    }
    if (cfg.srtpProfiles?.length) {
      extensions.push({
        type: ExtensionType.use_srtp,
        data: encodeUseSrtp({
          profiles: cfg.srtpProfiles.map((p) => srtpProfileByName(p).id),
          mki: cfg.srtpMki ?? Buffer.alloc(0),
        }),
      });
    }
    if (cfg.alpn?.length) {
      extensions.push({
        type: ExtensionType.application_layer_protocol_negotiation,
        data: encodeAlpn([...cfg.alpn]),
      });
    }
    const session = this.resumableSession();
    if (session?.ticket) {
      extensions.push({
        type: ExtensionType.session_ticket,
        data: encodeSessionTicketExtension(session.ticket),
      });
    } else if (cfg.requestTicket !== false) {
      // RFC 5077 §3.2: an empty session_ticket asks the server for a ticket.
      extensions.push({ type: ExtensionType.session_ticket, data: encodeSessionTicketExtension() });
    }
    extensions.push({ type: ExtensionType.extended_master_secret, data: encodeEmptyExtension() });
    // RFC 5746 §3.4: an initial ClientHello signals secure renegotiation with an empty renegotiation_info.
    extensions.push({ type: ExtensionType.renegotiation_info, data: encodeRenegotiationInfo() });
    this.hello = {
      clientVersion: ProtocolVersion.DTLS1_2,
      random: cfg.random(32),
      // RFC 5077 §3.4: with a ticket and no session ID, make one up; the server echoes it to accept.
      sessionId: session
        ? session.sessionId.length > 0
          ? session.sessionId
          : cfg.random(32)
        : Buffer.alloc(0),
      cookie: Buffer.alloc(0),
      cipherSuites: suites.map((s) => s.id),
      compressionMethods: [0],
      extensions,
    };
    this.offeredSession = session;
    this.helloBody = encodeClientHello(this.hello);
    this.host.queueMessage(HandshakeType.client_hello, this.helloBody);
    this.host.sendFlight(1, false);
  }

  /**
   * The configured session, if it can be offered: its suite must still be one we offer, it must be
   * for the same server name, and the server it authenticated must still pass today's trust settings
   * (a resumed handshake carries no certificate, so the check happens here or not at all).
   */
  private resumableSession(): ClientSession | undefined {
    const cfg = this.host.config;
    const s = cfg.session;
    if (!s) return undefined;
    if (!cfg.suites.some((x) => x.id === s.state.cipherSuite)) return undefined;
    if (s.sessionId.length === 0 && !s.ticket) return undefined;
    if ((s.serverName ?? '') !== (cfg.serverName ?? '')) return undefined;
    const leaf = s.state.peerCertificate;
    if (leaf) {
      try {
        verifyPeerCertificate(s.peerChain?.length ? s.peerChain : [leaf], {
          ca: cfg.ca ? [...cfg.ca] : undefined,
          fingerprints: cfg.fingerprints ? [...cfg.fingerprints] : undefined,
          serverName: cfg.serverName,
          insecure: cfg.insecure,
          now: cfg.certificateTime?.(),
        });
      } catch {
        return undefined;
      }
    } else if (s.state.pskIdentity) {
      const psk = cfg.psk as ClientPsk | undefined;
      if (!psk) return undefined;
      if (typeof psk !== 'function' && !Buffer.from(psk.identity).equals(s.state.pskIdentity))
        return undefined;
    } else if (usesCertificate(suiteById(s.state.cipherSuite)!)) {
      return undefined;
    }
    return s;
  }

  expectsChangeCipherSpec(): boolean {
    return this.state === 'wait_change_cipher_spec';
  }

  handleChangeCipherSpec(): void {
    this.state = 'wait_finished';
  }

  handleMessage(msg: HandshakeMessage): void {
    // Received messages join the transcript as they come, except the HelloVerifyRequest (RFC 6347
    // §4.2.1) and the Finished, which is checked against the transcript before it.
    if (msg.msgType !== HandshakeType.hello_verify_request && msg.msgType !== HandshakeType.finished) {
      this.host.transcript.add(msg.msgType, msg.messageSeq, msg.body);
    }
    switch (this.state) {
      case 'wait_server_hello':
        if (msg.msgType === HandshakeType.hello_verify_request) return this.onHelloVerifyRequest(msg);
        this.expect(msg, HandshakeType.server_hello);
        return this.onServerHello(msg);
      case 'wait_certificate':
        this.expect(msg, HandshakeType.certificate);
        return this.onCertificate(msg);
      case 'wait_server_key_exchange':
        if (this.suite!.keyExchange === 'PSK' && msg.msgType === HandshakeType.server_hello_done) {
          // RFC 4279 §2: a PSK server without an identity hint may omit ServerKeyExchange.
          return this.onServerHelloDone(msg);
        }
        this.expect(msg, HandshakeType.server_key_exchange);
        return this.onServerKeyExchange(msg);
      case 'wait_certificate_request_or_done':
        if (msg.msgType === HandshakeType.certificate_request && usesCertificate(this.suite!)) {
          return this.onCertificateRequest(msg);
        }
        this.expect(msg, HandshakeType.server_hello_done);
        return this.onServerHelloDone(msg);
      case 'wait_new_session_ticket':
        this.expect(msg, HandshakeType.new_session_ticket);
        return this.onNewSessionTicket(msg);
      case 'wait_finished':
        this.expect(msg, HandshakeType.finished);
        return this.onFinished(msg);
      default:
        throw new HandshakeFailure('unexpected_message', `unexpected ${msg.msgType} in state ${this.state}`);
    }
  }

  private expect(msg: HandshakeMessage, type: number): void {
    expectMessage(msg, type, this.state, this.host.record.readEpoch);
  }

  /** RFC 6347 §4.2.1: resend the same ClientHello, now carrying the cookie; bounded in count. */
  private onHelloVerifyRequest(msg: HandshakeMessage): void {
    const hvr = decodeOrFail('HelloVerifyRequest', () => decodeHelloVerifyRequest(msg.body));
    if (++this.helloVerifyRequests > this.host.config.maxHelloVerifyRequests) {
      throw new HandshakeFailure('handshake_failure', 'too many HelloVerifyRequests');
    }
    this.helloBody = replaceClientHelloCookie(this.helloBody, hvr.cookie);
    // The first ClientHello and the HelloVerifyRequest stay out of the transcript (RFC 6347 §4.2.1).
    this.host.transcript.reset();
    this.host.record.resetInitialReplayWindow();
    this.host.queueMessage(HandshakeType.client_hello, this.helloBody);
    this.host.sendFlight(3, false);
  }

  private onServerHello(msg: HandshakeMessage): void {
    const sh = decodeOrFail('ServerHello', () => decodeServerHello(msg.body));
    if (sh.serverVersion !== ProtocolVersion.DTLS1_2) {
      throw new HandshakeFailure(
        'protocol_version',
        `server chose version 0x${sh.serverVersion.toString(16)}`,
      );
    }
    const suite = suiteById(sh.cipherSuite);
    if (!suite || !this.hello.cipherSuites.includes(sh.cipherSuite)) {
      throw new HandshakeFailure(
        'illegal_parameter',
        `server chose a suite we did not offer (0x${sh.cipherSuite.toString(16)})`,
      );
    }
    if (sh.compressionMethod !== 0)
      throw new HandshakeFailure('illegal_parameter', 'server chose compression');
    // RFC 5246 §7.4.1.4: a server sends only extensions the client offered.
    for (const e of sh.extensions ?? []) {
      if (!findExtension(this.hello.extensions, e.type)) {
        throw new HandshakeFailure(
          'unsupported_extension',
          `server sent extension ${e.type} we did not offer`,
        );
      }
    }
    const reneg = findExtension(sh.extensions, ExtensionType.renegotiation_info);
    if (reneg && decodeOrFail('renegotiation_info', () => decodeRenegotiationInfo(reneg)).length !== 0) {
      // RFC 5746 §3.4: on an initial handshake the server's renegotiated_connection must be empty.
      throw new HandshakeFailure('handshake_failure', 'non-empty renegotiation_info on an initial handshake');
    }
    this.extendedMasterSecret =
      findExtension(sh.extensions, ExtensionType.extended_master_secret) !== undefined;
    if (!this.extendedMasterSecret && this.host.config.requireExtendedMasterSecret) {
      // RFC 7627 §5.2: a client that requires EMS aborts when the server does not echo it.
      throw new HandshakeFailure('handshake_failure', 'server did not negotiate extended_master_secret');
    }
    const srtp = findExtension(sh.extensions, ExtensionType.use_srtp);
    if (srtp) {
      const u = decodeOrFail('use_srtp', () => decodeUseSrtp(srtp));
      // RFC 5764 §4.1.3: exactly one profile, one we offered, and our MKI echoed.
      const p = u.profiles.length === 1 ? srtpProfileById(u.profiles[0]!) : undefined;
      if (!p || !this.host.config.srtpProfiles?.includes(p.name)) {
        throw new HandshakeFailure('illegal_parameter', 'server chose an SRTP profile we did not offer');
      }
      if (u.mki.length > 0 && !u.mki.equals(this.host.config.srtpMki ?? Buffer.alloc(0))) {
        throw new HandshakeFailure('illegal_parameter', 'server returned a different SRTP MKI');
      }
      this.srtpProfile = p.id;
    }
    const alpn = findExtension(sh.extensions, ExtensionType.application_layer_protocol_negotiation);
    if (alpn) {
      const names = decodeOrFail('application_layer_protocol_negotiation', () => decodeAlpn(alpn));
      // RFC 7301 §3.1: the server names exactly one protocol, from the client's list.
      if (names.length !== 1 || !this.host.config.alpn?.includes(names[0]!)) {
        throw new HandshakeFailure('illegal_parameter', 'server selected an ALPN protocol we did not offer');
      }
      this.alpnProtocol = names[0];
    }
    this.suite = suite;
    this.serverHello = sh;
    this.ticketExpected = findExtension(sh.extensions, ExtensionType.session_ticket) !== undefined;
    const offered = this.offeredSession;
    if (offered && sh.sessionId.length > 0 && sh.sessionId.equals(this.hello.sessionId)) {
      this.resumeSession(offered);
      return;
    }
    this.state = usesCertificate(suite) ? 'wait_certificate' : 'wait_server_key_exchange';
  }

  /** The server accepted our session: the abbreviated handshake (RFC 5246 §7.3). */
  private resumeSession(session: ClientSession): void {
    const st = session.state;
    const suite = this.suite!;
    if (suite.id !== st.cipherSuite) {
      throw new HandshakeFailure('illegal_parameter', 'server resumed the session with another cipher suite');
    }
    // RFC 7627 §5.3: the client aborts if EMS use differs between the session and the resumption.
    if (st.extendedMasterSecret !== this.extendedMasterSecret) {
      throw new HandshakeFailure(
        'handshake_failure',
        'extended_master_secret differs between the session and its resumption',
      );
    }
    this.resumed = true;
    // The certificate was checked when the session began (and re-checked by resumableSession()).
    this.serverCertificate = st.peerCertificate ? parseCertificateCached(st.peerCertificate) : undefined;
    this.result = {
      suite,
      clientRandom: this.hello.random,
      serverRandom: this.serverHello!.random,
      sessionId: this.serverHello!.sessionId,
      masterSecret: st.masterSecret,
      extendedMasterSecret: st.extendedMasterSecret,
      peerCertificate: this.serverCertificate,
      pskIdentity: st.pskIdentity,
      srtpProfile: this.srtpProfile,
      srtpMki: this.host.config.srtpMki,
      alpnProtocol: this.alpnProtocol,
    };
    this.host.installKeys(this.result);
    this.state = this.ticketExpected ? 'wait_new_session_ticket' : 'wait_change_cipher_spec';
  }

  private onNewSessionTicket(msg: HandshakeMessage): void {
    const nst = decodeOrFail('NewSessionTicket', () => decodeNewSessionTicket(msg.body));
    // RFC 5077 §3.3: an empty ticket means the server changed its mind; keep nothing from it.
    if (nst.ticket.length > 0)
      this.newTicket = { ticket: ownedCopy(nst.ticket), lifetime: nst.ticketLifetimeHint };
    this.state = 'wait_change_cipher_spec';
  }

  private onCertificate(msg: HandshakeMessage): void {
    const cert = decodeOrFail('Certificate', () => decodeCertificate(msg.body));
    const cfg = this.host.config;
    // The identity is checked here, inside the handshake, before anything is established.
    // Kept in the session for re-checking before a resumption: copies of their own (see ownedCopy).
    this.serverChain = cert.certificateList.map(ownedCopy);
    this.serverCertificate = verifyPeerCertificate(cert.certificateList, {
      ca: cfg.ca ? [...cfg.ca] : undefined,
      fingerprints: cfg.fingerprints ? [...cfg.fingerprints] : undefined,
      serverName: cfg.serverName,
      insecure: cfg.insecure,
      now: cfg.certificateTime?.(),
    });
    const keyType = this.serverCertificate.publicKey.asymmetricKeyType;
    const wantRsa = this.suite!.keyExchange === 'ECDHE_RSA';
    if (wantRsa !== (keyType === 'rsa' || keyType === 'rsa-pss')) {
      throw new HandshakeFailure(
        'unsupported_certificate',
        `a ${keyType} certificate cannot serve ${this.suite!.name}`,
      );
    }
    this.state = 'wait_server_key_exchange';
  }

  private onServerKeyExchange(msg: HandshakeMessage): void {
    const suite = this.suite!;
    if (suite.keyExchange === 'PSK') {
      this.pskHint = decodeOrFail('ServerKeyExchange', () =>
        decodePskServerKeyExchange(msg.body),
      ).identityHint;
    } else if (suite.keyExchange === 'ECDHE_PSK') {
      const ske = decodeOrFail('ServerKeyExchange', () => decodeEcdhePskServerKeyExchange(msg.body));
      this.pskHint = ske.identityHint;
      this.serverEcdh = ske.params;
    } else {
      const ske = decodeOrFail('ServerKeyExchange', () => decodeEcdheServerKeyExchange(msg.body));
      const scheme = schemeName(ske.signed.signatureScheme);
      if (!scheme || !this.host.config.signatureSchemes.includes(scheme)) {
        throw new HandshakeFailure(
          'illegal_parameter',
          `server signed with a scheme we did not offer (0x${ske.signed.signatureScheme.toString(16)})`,
        );
      }
      // RFC 5246 §7.4.3 / RFC 8422 §5.4: signed over client_random + server_random + ServerECDHParams.
      const signed = Buffer.concat([this.hello.random, this.serverHello!.random, ske.paramsBytes]);
      if (!verifyWithScheme(scheme, this.serverCertificate!.publicKey, signed, ske.signed.signature)) {
        throw new HandshakeFailure('decrypt_error', 'ServerKeyExchange signature does not verify');
      }
      this.signatureScheme = scheme;
      this.serverEcdh = ske.params;
    }
    if (this.serverEcdh) {
      const g = groupName(this.serverEcdh.namedCurve);
      if (!g || !this.host.config.groups.includes(g)) {
        throw new HandshakeFailure(
          'illegal_parameter',
          `server chose group ${this.serverEcdh.namedCurve} we did not offer`,
        );
      }
    }
    this.state = 'wait_certificate_request_or_done';
  }

  private onCertificateRequest(msg: HandshakeMessage): void {
    const cr = decodeOrFail('CertificateRequest', () => decodeCertificateRequest(msg.body));
    this.certificateRequested = true;
    this.certificateRequestSchemes = cr.signatureAlgorithms;
    this.state = 'wait_certificate_request_or_done';
  }

  private resolvePsk(): PskCredentials {
    const psk = this.host.config.psk as ClientPsk | undefined;
    if (!psk)
      throw new HandshakeFailure('internal_error', 'a PSK suite was negotiated but no PSK is configured');
    const creds = typeof psk === 'function' ? psk(this.pskHint) : psk;
    const identity = Buffer.isBuffer(creds.identity) ? creds.identity : Buffer.from(creds.identity, 'utf8');
    if (identity.length === 0 || identity.length > 0xffff) {
      throw new HandshakeFailure(
        'internal_error',
        `PSK identity must be 1..65535 bytes, got ${identity.length}`,
      );
    }
    return { identity, key: creds.key };
  }

  /** Flight 5. */
  private onServerHelloDone(msg: HandshakeMessage): void {
    decodeOrFail('ServerHelloDone', () => decodeServerHelloDone(msg.body));
    if (this.suite!.keyExchange !== 'PSK' && msg.msgType === HandshakeType.server_hello_done) {
      if (!this.serverEcdh)
        throw new HandshakeFailure('unexpected_message', 'ServerHelloDone before ServerKeyExchange');
    }
    const host = this.host;
    const cfg = host.config;
    const suite = this.suite!;
    const identity = cfg.identity;
    let signingKey: KeyObject | undefined;
    if (this.certificateRequested) {
      // RFC 5246 §7.4.6: answer a CertificateRequest with our chain, or an empty list if we have none.
      host.queueMessage(
        HandshakeType.certificate,
        encodeCertificate({ certificateList: identity?.certificateChain ?? [] }),
      );
      if (identity && identity.certificateChain.length > 0) signingKey = identity.privateKey;
    }
    let share: KeyShare | undefined;
    let ecdhSecret: Buffer | undefined;
    if (this.serverEcdh) {
      share = generateKeyShare(
        groupName(this.serverEcdh.namedCurve)!,
        cfg.random === systemRandom ? undefined : cfg.random,
      );
      ecdhSecret = share.deriveSecret(this.serverEcdh.publicKey);
    }
    let preMaster: Buffer;
    let pskIdentity: Buffer | undefined;
    if (usesPsk(suite)) {
      const creds = this.resolvePsk();
      pskIdentity = creds.identity as Buffer;
      preMaster = pskPremasterSecret(creds.key, ecdhSecret);
      host.queueMessage(
        HandshakeType.client_key_exchange,
        suite.keyExchange === 'PSK'
          ? encodePskClientKeyExchange({ identity: pskIdentity })
          : encodeEcdhePskClientKeyExchange({ identity: pskIdentity, publicKey: share!.publicKey }),
      );
    } else {
      preMaster = ecdhSecret!;
      host.queueMessage(
        HandshakeType.client_key_exchange,
        encodeEcdheClientKeyExchange({ publicKey: share!.publicKey }),
      );
    }
    const sh = this.serverHello!;
    // RFC 7627 §4: the session hash covers the transcript up to and including ClientKeyExchange.
    const masterSecret = this.extendedMasterSecret
      ? computeExtendedMasterSecret(suite.prfHash, preMaster, host.transcript.hash(suite.prfHash))
      : computeMasterSecret(suite.prfHash, preMaster, this.hello.random, sh.random);
    if (signingKey) {
      const ours = schemesForKey(signingKey).filter((s) => cfg.signatureSchemes.includes(s));
      const scheme = ours.find((s) => this.certificateRequestSchemes.includes(schemeId(s)));
      if (!scheme)
        throw new HandshakeFailure(
          'handshake_failure',
          'no signature scheme in common for CertificateVerify',
        );
      // RFC 5246 §7.4.8: the signature covers every handshake message so far.
      const signature = signWithScheme(scheme, signingKey, host.transcript.bytes());
      host.queueMessage(
        HandshakeType.certificate_verify,
        encodeCertificateVerify({ signatureScheme: schemeId(scheme), signature }),
      );
    }
    this.result = {
      suite,
      clientRandom: this.hello.random,
      serverRandom: sh.random,
      sessionId: sh.sessionId,
      masterSecret,
      extendedMasterSecret: this.extendedMasterSecret,
      group: share?.group,
      signatureScheme: this.signatureScheme,
      peerCertificate: this.serverCertificate,
      pskIdentity,
      srtpProfile: this.srtpProfile,
      srtpMki: this.host.config.srtpMki,
      alpnProtocol: this.alpnProtocol,
    };
    host.installKeys(this.result);
    host.queueChangeCipherSpec();
    const verifyData = computeVerifyData(
      suite.prfHash,
      masterSecret,
      'client finished',
      host.transcript.hash(suite.prfHash),
    );
    host.queueMessage(HandshakeType.finished, encodeFinished({ verifyData }));
    host.sendFlight(5, false);
    this.state = this.ticketExpected ? 'wait_new_session_ticket' : 'wait_change_cipher_spec';
  }

  private onFinished(msg: HandshakeMessage): void {
    const n = this.result!;
    const host = this.host;
    const fin = decodeOrFail('Finished', () => decodeFinished(msg.body));
    const expected = computeVerifyData(
      n.suite.prfHash,
      n.masterSecret,
      'server finished',
      host.transcript.hash(n.suite.prfHash),
    );
    if (!timingSafeEqual(expected, fin.verifyData)) {
      throw new HandshakeFailure('decrypt_error', 'server Finished verify_data does not match');
    }
    host.transcript.add(msg.msgType, msg.messageSeq, msg.body);
    if (this.resumed) {
      // Abbreviated handshake: the server finished first; our ChangeCipherSpec and Finished are the
      // final flight (no timer; resent if the server resends its Finished).
      host.queueChangeCipherSpec();
      const verifyData = computeVerifyData(
        n.suite.prfHash,
        n.masterSecret,
        'client finished',
        host.transcript.hash(n.suite.prfHash),
      );
      host.queueMessage(HandshakeType.finished, encodeFinished({ verifyData }));
      host.sendFlight(5, true);
    }
    this.state = 'done';
    host.established(connectionInfoOf(n, this.resumed));
    const session = this.sessionToKeep(n);
    if (session) host.emit({ type: 'session', session });
  }

  /** The session a later connection can resume: by session ID, by ticket, or both. */
  private sessionToKeep(n: Negotiated): ClientSession | undefined {
    const cfg = this.host.config;
    const state: SessionState =
      this.resumed && this.offeredSession
        ? this.offeredSession.state
        : {
            cipherSuite: n.suite.id,
            // A session lives as long as its caller keeps it: copies of their own, not pool slices.
            masterSecret: ownedCopy(n.masterSecret),
            extendedMasterSecret: n.extendedMasterSecret,
            createdAt: cfg.wallClock?.() ?? 0,
            peerCertificate: n.peerCertificate?.raw,
            pskIdentity: n.pskIdentity && ownedCopy(n.pskIdentity),
            serverName: cfg.serverName,
          };
    const ticket = this.newTicket?.ticket ?? (this.resumed ? this.offeredSession?.ticket : undefined);
    if (n.sessionId.length === 0 && !ticket) return undefined;
    return {
      sessionId: ownedCopy(n.sessionId),
      ticket,
      ticketLifetimeSeconds: this.newTicket?.lifetime ?? this.offeredSession?.ticketLifetimeSeconds,
      state,
      serverName: cfg.serverName,
      peerChain: this.resumed ? this.offeredSession?.peerChain : this.serverChain,
    };
  }
}
