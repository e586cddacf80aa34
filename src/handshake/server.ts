import { timingSafeEqual, type X509Certificate } from 'node:crypto';
import { parseCertificateCached, verifyPeerCertificate } from '../cert/verify.js';
import { type GroupName, generateKeyShare, groupId, type KeyShare } from '../crypto/key-exchange.js';
import {
  computeExtendedMasterSecret,
  computeMasterSecret,
  computeVerifyData,
  pskPremasterSecret,
} from '../crypto/prf.js';
import { systemRandom } from '../crypto/random.js';
import {
  type SignatureSchemeName,
  schemeId,
  schemeName,
  schemesForKey,
  signWithScheme,
  verifyWithScheme,
} from '../crypto/signature.js';
import { type CipherSuite, suiteById, usesCertificate, usesEcdhe, usesPsk } from '../crypto/suites.js';
import type { ServerPsk } from '../engine/config.js';
import type { SessionState } from '../engine/resumption.js';
import { HandshakeFailure } from '../errors.js';
import { decodeCertificate, encodeCertificate } from '../wire/certificate.js';
import { ClientCertificateType, encodeCertificateRequest } from '../wire/certificate-request.js';
import { decodeCertificateVerify } from '../wire/certificate-verify.js';
import { type ClientHello, decodeClientHello } from '../wire/client-hello.js';
import {
  decodeEcdheClientKeyExchange,
  decodeEcdhePskClientKeyExchange,
  decodePskClientKeyExchange,
} from '../wire/client-key-exchange.js';
import {
  ExtensionType,
  HandshakeType,
  ProtocolVersion,
  TLS_EMPTY_RENEGOTIATION_INFO_SCSV,
} from '../wire/constants.js';
import {
  decodeAlpn,
  decodeEcPointFormats,
  decodeRenegotiationInfo,
  decodeServerNameList,
  decodeSignatureAlgorithms,
  decodeSupportedGroups,
  decodeUseSrtp,
  type Extension,
  encodeAlpn,
  encodeEcPointFormats,
  encodeEmptyExtension,
  encodeRenegotiationInfo,
  encodeUseSrtp,
  findExtension,
  hostNameOf,
} from '../wire/extensions.js';
import { decodeFinished, encodeFinished } from '../wire/finished.js';
import { encodeNewSessionTicket } from '../wire/new-session-ticket.js';
import { encodeServerHello } from '../wire/server-hello.js';
import { encodeServerHelloDone } from '../wire/server-hello-done.js';
import {
  encodeEcdhePskServerKeyExchange,
  encodeEcdheServerKeyExchange,
  encodePskServerKeyExchange,
  encodeServerEcdhParams,
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
import { srtpProfileByName } from './srtp.js';

type ServerState =
  | 'wait_client_hello'
  | 'wait_client_certificate'
  | 'wait_client_key_exchange'
  | 'wait_certificate_verify'
  | 'wait_change_cipher_spec'
  | 'wait_finished'
  | 'done';

/** RFC 8422 §5.1.1: a client that sends no supported_groups is assumed to support secp256r1. */
const IMPLIED_GROUPS = [groupId('secp256r1')];

/** The longest PSK identity we accept (RFC 4279 §5.3: at least 128 bytes must be supported). */
export const MAX_PSK_IDENTITY_LENGTH = 128;

/**
 * The server side of the full DTLS 1.2 handshake (RFC 6347 §4.2.4 flights 4 and 6). The stateless
 * cookie exchange (flight 2) happens before this object exists, in the server endpoint.
 */
export class ServerHandshake implements HandshakeRole {
  private state: ServerState = 'wait_client_hello';
  private hello!: ClientHello;
  private suite!: CipherSuite;
  private serverRandom!: Buffer;
  private sessionId: Buffer = Buffer.alloc(0);
  private extendedMasterSecret = false;
  private share?: KeyShare;
  private signatureScheme?: SignatureSchemeName;
  private clientCertificate?: X509Certificate;
  private result?: Negotiated;
  private pskIdentity?: Buffer;
  private srtpProfile?: number;
  private srtpMki?: Buffer;
  private alpnProtocol?: string;
  private resumed = false;
  private issueTicket = false;
  private serverName?: string;

  constructor(private readonly host: HandshakeHost) {}

  get done(): boolean {
    return this.state === 'done';
  }

  get negotiated(): Negotiated | undefined {
    return this.result;
  }

  expectsChangeCipherSpec(): boolean {
    return this.state === 'wait_change_cipher_spec';
  }

  handleChangeCipherSpec(): void {
    this.state = 'wait_finished';
  }

  handleMessage(msg: HandshakeMessage): void {
    if (msg.msgType !== HandshakeType.finished && msg.msgType !== HandshakeType.certificate_verify) {
      this.host.transcript.add(msg.msgType, msg.messageSeq, msg.body);
    }
    switch (this.state) {
      case 'wait_client_hello':
        this.expect(msg, HandshakeType.client_hello);
        return this.onClientHello(msg);
      case 'wait_client_certificate':
        this.expect(msg, HandshakeType.certificate);
        return this.onCertificate(msg);
      case 'wait_client_key_exchange':
        this.expect(msg, HandshakeType.client_key_exchange);
        return this.onClientKeyExchange(msg);
      case 'wait_certificate_verify':
        this.expect(msg, HandshakeType.certificate_verify);
        return this.onCertificateVerify(msg);
      case 'wait_finished':
        this.expect(msg, HandshakeType.finished);
        return this.onFinished(msg);
      default:
        throw new HandshakeFailure(
          'unexpected_message',
          `unexpected handshake message ${msg.msgType} in state ${this.state}`,
        );
    }
  }

  private expect(msg: HandshakeMessage, type: number): void {
    expectMessage(msg, type, this.state, this.host.record.readEpoch);
  }

  /** Pick the suite: ours in our order, among those the client offers and we can serve. */
  private chooseSuite(clientGroups: number[], clientSchemes: number[] | undefined): CipherSuite {
    const cfg = this.host.config;
    const keyType = cfg.identity?.privateKey.asymmetricKeyType;
    const haveGroup = cfg.groups.some((g) => clientGroups.includes(groupId(g)));
    for (const s of cfg.suites) {
      if (!this.hello.cipherSuites.includes(s.id)) continue;
      if (usesEcdhe(s) && !haveGroup) continue;
      if (usesPsk(s) && !cfg.psk) continue;
      if (usesCertificate(s)) {
        if (!cfg.identity) continue;
        const rsa = keyType === 'rsa' || keyType === 'rsa-pss';
        if ((s.keyExchange === 'ECDHE_RSA') !== rsa) continue;
        if (!this.pickScheme(clientSchemes)) continue;
      }
      return s;
    }
    throw new HandshakeFailure('handshake_failure', 'no cipher suite in common');
  }

  private pickScheme(clientSchemes: number[] | undefined): SignatureSchemeName | undefined {
    const cfg = this.host.config;
    const ours = schemesForKey(cfg.identity!.privateKey).filter((s) => cfg.signatureSchemes.includes(s));
    // RFC 5246 §7.4.1.4.1: without signature_algorithms the client accepts SHA-1 only; we have no SHA-1
    // schemes, so we use our first and let the client judge.
    if (!clientSchemes) return ours[0];
    return ours.find((s) => clientSchemes.includes(schemeId(s)));
  }

  /** Flight 4. */
  private onClientHello(msg: HandshakeMessage): void {
    const ch = decodeOrFail('ClientHello', () => decodeClientHello(msg.body));
    this.hello = ch;
    const cfg = this.host.config;
    // RFC 6347 §4.2.1 / RFC 5246 §E.1: answer with the highest version we share; DTLS versions count down.
    if (ch.clientVersion > ProtocolVersion.DTLS1_2) {
      throw new HandshakeFailure(
        'protocol_version',
        `client offers only DTLS 1.0 (0x${ch.clientVersion.toString(16)})`,
      );
    }
    if (!ch.compressionMethods.includes(0)) {
      throw new HandshakeFailure('illegal_parameter', 'client does not offer null compression');
    }
    const ext = ch.extensions;
    const groupsExt = findExtension(ext, ExtensionType.supported_groups);
    const clientGroups = groupsExt
      ? decodeOrFail('supported_groups', () => decodeSupportedGroups(groupsExt))
      : IMPLIED_GROUPS;
    const schemesExt = findExtension(ext, ExtensionType.signature_algorithms);
    const clientSchemes = schemesExt
      ? decodeOrFail('signature_algorithms', () => decodeSignatureAlgorithms(schemesExt))
      : undefined;
    const pointFormatsExt = findExtension(ext, ExtensionType.ec_point_formats);
    if (pointFormatsExt) {
      const formats = decodeOrFail('ec_point_formats', () => decodeEcPointFormats(pointFormatsExt));
      // RFC 8422 §5.1.2: uncompressed must be in the list when the extension is sent.
      if (!formats.includes(0))
        throw new HandshakeFailure('illegal_parameter', 'client does not accept uncompressed points');
    }
    const renegExt = findExtension(ext, ExtensionType.renegotiation_info);
    if (
      renegExt &&
      decodeOrFail('renegotiation_info', () => decodeRenegotiationInfo(renegExt)).length !== 0
    ) {
      // RFC 5746 §3.6: an initial ClientHello must carry an empty renegotiated_connection.
      throw new HandshakeFailure(
        'handshake_failure',
        'non-empty renegotiation_info in an initial ClientHello',
      );
    }
    const secureRenegotiation =
      renegExt !== undefined || ch.cipherSuites.includes(TLS_EMPTY_RENEGOTIATION_INFO_SCSV);
    this.extendedMasterSecret = findExtension(ext, ExtensionType.extended_master_secret) !== undefined;
    if (!this.extendedMasterSecret && cfg.requireExtendedMasterSecret) {
      // RFC 7627 §5.2: a server that requires EMS aborts the handshake.
      throw new HandshakeFailure('handshake_failure', 'client did not offer extended_master_secret');
    }
    const sniExt = findExtension(ext, ExtensionType.server_name);
    this.serverName = sniExt
      ? decodeOrFail('server_name', () => hostNameOf(decodeServerNameList(sniExt)))
      : undefined;
    const ticketExt = findExtension(ext, ExtensionType.session_ticket);
    // RFC 5077 §3.2: answer a client that supports tickets with an empty session_ticket and a ticket.
    this.issueTicket = ticketExt !== undefined && cfg.ticketKeyring !== undefined;
    const resumable = this.findResumableSession(ch, ticketExt);
    this.suite = resumable
      ? suiteById(resumable.cipherSuite)!
      : this.chooseSuite(clientGroups, clientSchemes);
    const suite = this.suite;
    this.serverRandom = cfg.random(32);

    // ServerHello with only extensions the client offered (RFC 5246 §7.4.1.4).
    const extensions: Extension[] = [];
    if (secureRenegotiation)
      extensions.push({ type: ExtensionType.renegotiation_info, data: encodeRenegotiationInfo() });
    if (this.extendedMasterSecret) {
      extensions.push({ type: ExtensionType.extended_master_secret, data: encodeEmptyExtension() });
    }
    if (pointFormatsExt && usesEcdhe(suite) && !resumable) {
      extensions.push({ type: ExtensionType.ec_point_formats, data: encodeEcPointFormats([0]) });
    }
    if (this.issueTicket) extensions.push({ type: ExtensionType.session_ticket, data: Buffer.alloc(0) });
    extensions.push(...this.negotiateSrtpAndAlpn(ext));
    if (resumable) {
      this.resume(resumable, extensions);
      return;
    }
    // A fresh session gets an ID when we keep a cache (RFC 5246 §7.4.1.3).
    if (cfg.sessionCache) this.sessionId = cfg.random(32);
    const host = this.host;
    host.queueMessage(
      HandshakeType.server_hello,
      encodeServerHello({
        serverVersion: ProtocolVersion.DTLS1_2,
        random: this.serverRandom,
        sessionId: this.sessionId,
        cipherSuite: suite.id,
        compressionMethod: 0,
        extensions,
      }),
    );
    if (usesCertificate(suite)) {
      host.queueMessage(
        HandshakeType.certificate,
        encodeCertificate({ certificateList: cfg.identity!.certificateChain }),
      );
    }
    let group: GroupName | undefined;
    if (usesEcdhe(suite)) {
      group = cfg.groups.find((g) => clientGroups.includes(groupId(g)))!;
      this.share = generateKeyShare(group, cfg.random === systemRandom ? undefined : cfg.random);
    }
    const psk = cfg.psk as ServerPsk | undefined;
    const hint = psk?.hint === undefined ? undefined : Buffer.from(psk.hint);
    if (suite.keyExchange === 'ECDHE_ECDSA' || suite.keyExchange === 'ECDHE_RSA') {
      const params = { namedCurve: groupId(group!), publicKey: this.share!.publicKey };
      const scheme = this.pickScheme(clientSchemes)!;
      this.signatureScheme = scheme;
      // RFC 8422 §5.4: sign client_random + server_random + ServerECDHParams.
      const signed = Buffer.concat([ch.random, this.serverRandom, encodeServerEcdhParams(params)]);
      const signature = signWithScheme(scheme, cfg.identity!.privateKey, signed);
      host.queueMessage(
        HandshakeType.server_key_exchange,
        encodeEcdheServerKeyExchange({ params, signed: { signatureScheme: schemeId(scheme), signature } }),
      );
    } else if (suite.keyExchange === 'ECDHE_PSK') {
      const params = { namedCurve: groupId(group!), publicKey: this.share!.publicKey };
      host.queueMessage(
        HandshakeType.server_key_exchange,
        encodeEcdhePskServerKeyExchange({ identityHint: hint ?? Buffer.alloc(0), params }),
      );
    } else if (hint && hint.length > 0) {
      // RFC 4279 §2: plain PSK sends ServerKeyExchange only to carry an identity hint.
      host.queueMessage(
        HandshakeType.server_key_exchange,
        encodePskServerKeyExchange({ identityHint: hint }),
      );
    }
    const wantClientCert = usesCertificate(suite) && (cfg.clientCertificate ?? 'none') !== 'none';
    if (wantClientCert) {
      const schemes = cfg.signatureSchemes.map(schemeId);
      host.queueMessage(
        HandshakeType.certificate_request,
        encodeCertificateRequest({
          certificateTypes: [ClientCertificateType.ecdsa_sign, ClientCertificateType.rsa_sign],
          signatureAlgorithms: schemes,
          certificateAuthorities: [],
        }),
      );
    }
    host.queueMessage(HandshakeType.server_hello_done, encodeServerHelloDone());
    host.sendFlight(4, false);
    this.state = wantClientCert ? 'wait_client_certificate' : 'wait_client_key_exchange';
  }

  /** use_srtp (RFC 5764 §4.1.1) and ALPN (RFC 7301 §3.2), negotiated afresh even on resumption. */
  private negotiateSrtpAndAlpn(ext: Extension[] | undefined): Extension[] {
    const cfg = this.host.config;
    const out: Extension[] = [];
    const srtpExt = findExtension(ext, ExtensionType.use_srtp);
    if (srtpExt && cfg.srtpProfiles?.length) {
      const offer = decodeOrFail('use_srtp', () => decodeUseSrtp(srtpExt));
      // The server picks by its own preference among the client's profiles; without a common one
      // it proceeds without SRTP. The client's MKI is echoed.
      const chosen = cfg.srtpProfiles.map(srtpProfileByName).find((p) => offer.profiles.includes(p.id));
      if (chosen) {
        this.srtpProfile = chosen.id;
        this.srtpMki = offer.mki;
        out.push({
          type: ExtensionType.use_srtp,
          data: encodeUseSrtp({ profiles: [chosen.id], mki: offer.mki }),
        });
      }
    }
    const alpnExt = findExtension(ext, ExtensionType.application_layer_protocol_negotiation);
    if (alpnExt && cfg.alpn?.length) {
      const offered = decodeOrFail('application_layer_protocol_negotiation', () => decodeAlpn(alpnExt));
      const chosen = cfg.alpn.find((a) => offered.includes(a));
      // No protocol in common is fatal, with no_application_protocol.
      if (!chosen) {
        throw new HandshakeFailure(
          'no_application_protocol',
          `no ALPN protocol in common (client offers ${offered.join(', ')})`,
        );
      }
      this.alpnProtocol = chosen;
      out.push({ type: ExtensionType.application_layer_protocol_negotiation, data: encodeAlpn([chosen]) });
    }
    return out;
  }

  /**
   * A session the client may resume: from its ticket (RFC 5077 §3.1) or our cache by session ID
   * (RFC 5246 §7.4.1.2). Anything unusable (unknown, expired, tampered, retired key, suite no longer
   * offered) gives undefined: a full handshake, transparently.
   */
  private findResumableSession(ch: ClientHello, ticket: Buffer | undefined): SessionState | undefined {
    const cfg = this.host.config;
    const wall = cfg.wallClock?.() ?? 0;
    let state: SessionState | undefined;
    if (ticket && ticket.length > 0) {
      // RFC 5077 §3.4: with a ticket presented, the session ID is not used for stateful resumption.
      if (cfg.ticketKeyring) state = cfg.ticketKeyring.open(ticket, wall);
    } else if (ch.sessionId.length > 0 && cfg.sessionCache) {
      state = cfg.sessionCache.lookup(ch.sessionId, wall);
    }
    if (!state) return undefined;
    // RFC 6066 §3: a session is not resumed under another server name.
    if ((state.serverName ?? '') !== (this.serverName ?? '')) return undefined;
    if (!ch.cipherSuites.includes(state.cipherSuite) || !cfg.suites.some((s) => s.id === state.cipherSuite)) {
      return undefined;
    }
    // RFC 7627 §5.3: a session made with EMS is never resumed without it (abort), and one made without
    // it is not resumed by a client that now offers it (full handshake instead).
    if (state.extendedMasterSecret && !this.extendedMasterSecret) {
      throw new HandshakeFailure(
        'handshake_failure',
        'resumption of an extended-master-secret session without the extension',
      );
    }
    if (!state.extendedMasterSecret && this.extendedMasterSecret) return undefined;
    // A session without a client certificate does not satisfy a server that now requires one.
    if (
      cfg.clientCertificate === 'require' &&
      usesCertificate(suiteById(state.cipherSuite)!) &&
      !state.peerCertificate
    ) {
      return undefined;
    }
    return state;
  }

  /** The abbreviated handshake (RFC 5246 §7.3): ServerHello, [NewSessionTicket], ChangeCipherSpec, Finished. */
  private resume(state: SessionState, extensions: Extension[]): void {
    const host = this.host;
    const suite = this.suite;
    this.resumed = true;
    // Echo the client's session ID: for a ticket, that is how the client learns it was accepted (RFC 5077 §3.4).
    this.sessionId = ownedCopy(this.hello.sessionId);
    if (state.pskIdentity) this.pskIdentity = state.pskIdentity;
    if (state.peerCertificate) this.clientCertificate = parseCertificateCached(state.peerCertificate);
    host.queueMessage(
      HandshakeType.server_hello,
      encodeServerHello({
        serverVersion: ProtocolVersion.DTLS1_2,
        random: this.serverRandom,
        sessionId: this.sessionId,
        cipherSuite: suite.id,
        compressionMethod: 0,
        extensions,
      }),
    );
    this.result = this.negotiatedWith(state.masterSecret);
    host.installKeys(this.result);
    if (this.issueTicket) this.queueNewSessionTicket(state);
    host.queueChangeCipherSpec();
    const t = host.transcript;
    const verifyData = computeVerifyData(
      suite.prfHash,
      state.masterSecret,
      'server finished',
      t.hash(suite.prfHash),
    );
    host.queueMessage(HandshakeType.finished, encodeFinished({ verifyData }));
    host.sendFlight(4, false);
    this.state = 'wait_change_cipher_spec';
  }

  private queueNewSessionTicket(state: SessionState): void {
    const cfg = this.host.config;
    const keyring = cfg.ticketKeyring!;
    const ticket = keyring.seal(state, cfg.wallClock?.() ?? 0);
    this.host.queueMessage(
      HandshakeType.new_session_ticket,
      encodeNewSessionTicket({ ticketLifetimeHint: Math.floor(keyring.lifetimeMs / 1000), ticket }),
    );
  }

  private negotiatedWith(masterSecret: Buffer): Negotiated {
    return {
      suite: this.suite,
      clientRandom: this.hello.random,
      serverRandom: this.serverRandom,
      sessionId: this.sessionId,
      masterSecret,
      extendedMasterSecret: this.extendedMasterSecret,
      group: this.share?.group,
      signatureScheme: this.signatureScheme,
      peerCertificate: this.clientCertificate,
      pskIdentity: this.pskIdentity,
      srtpProfile: this.srtpProfile,
      srtpMki: this.srtpMki,
      alpnProtocol: this.alpnProtocol,
    };
  }

  private onCertificate(msg: HandshakeMessage): void {
    const cert = decodeOrFail('Certificate', () => decodeCertificate(msg.body));
    const cfg = this.host.config;
    if (cert.certificateList.length === 0) {
      if (cfg.clientCertificate === 'require') {
        // RFC 5246 §7.4.6: a server that insists on a certificate may answer an empty one with a fatal alert.
        throw new HandshakeFailure('handshake_failure', 'client sent no certificate but one is required');
      }
    } else {
      this.clientCertificate = verifyPeerCertificate(cert.certificateList, {
        ca: cfg.ca ? [...cfg.ca] : undefined,
        fingerprints: cfg.fingerprints ? [...cfg.fingerprints] : undefined,
        insecure: cfg.insecure,
        now: cfg.certificateTime?.(),
      });
    }
    this.state = 'wait_client_key_exchange';
  }

  private onClientKeyExchange(msg: HandshakeMessage): void {
    const suite = this.suite;
    let ecdhSecret: Buffer | undefined;
    let identity: Buffer | undefined;
    if (suite.keyExchange === 'PSK') {
      identity = decodeOrFail('ClientKeyExchange', () => decodePskClientKeyExchange(msg.body)).identity;
    } else if (suite.keyExchange === 'ECDHE_PSK') {
      const cke = decodeOrFail('ClientKeyExchange', () => decodeEcdhePskClientKeyExchange(msg.body));
      identity = cke.identity;
      ecdhSecret = this.share!.deriveSecret(cke.publicKey);
    } else {
      const cke = decodeOrFail('ClientKeyExchange', () => decodeEcdheClientKeyExchange(msg.body));
      ecdhSecret = this.share!.deriveSecret(cke.publicKey);
    }
    // The session hash is taken now: the transcript ends with ClientKeyExchange (RFC 7627 §4).
    const sessionHash = this.host.transcript.hash(suite.prfHash);
    if (identity === undefined) {
      this.finishKeyExchange(ecdhSecret!, sessionHash);
      return;
    }
    // RFC 4279 §5.3: identities are at most 128 bytes here; an empty one names nobody.
    if (identity.length === 0 || identity.length > MAX_PSK_IDENTITY_LENGTH) {
      throw new HandshakeFailure('illegal_parameter', `PSK identity of ${identity.length} bytes`);
    }
    const id = Buffer.from(identity);
    const withKey = (key: Buffer | undefined) => {
      if (!key) {
        throw new HandshakeFailure(
          'unknown_psk_identity',
          `unknown PSK identity ${JSON.stringify(id.toString('utf8'))}`,
        );
      }
      this.pskIdentity = id;
      this.finishKeyExchange(pskPremasterSecret(key, ecdhSecret), sessionHash);
    };
    const key = (this.host.config.psk as ServerPsk).lookup(id);
    if (key instanceof Promise) this.host.defer(key, withKey);
    else withKey(key);
  }

  private finishKeyExchange(preMaster: Buffer, sessionHash: Buffer): void {
    const suite = this.suite;
    const masterSecret = this.extendedMasterSecret
      ? computeExtendedMasterSecret(suite.prfHash, preMaster, sessionHash)
      : computeMasterSecret(suite.prfHash, preMaster, this.hello.random, this.serverRandom);
    this.result = this.negotiatedWith(masterSecret);
    this.host.installKeys(this.result);
    this.state = this.clientCertificate ? 'wait_certificate_verify' : 'wait_change_cipher_spec';
  }

  private onCertificateVerify(msg: HandshakeMessage): void {
    const cv = decodeOrFail('CertificateVerify', () => decodeCertificateVerify(msg.body));
    const scheme = schemeName(cv.signatureScheme);
    if (!scheme || !this.host.config.signatureSchemes.includes(scheme)) {
      throw new HandshakeFailure(
        'illegal_parameter',
        `CertificateVerify with a scheme we did not offer (0x${cv.signatureScheme.toString(16)})`,
      );
    }
    // RFC 5246 §7.4.8: the signature covers all handshake messages before CertificateVerify.
    if (
      !verifyWithScheme(scheme, this.clientCertificate!.publicKey, this.host.transcript.bytes(), cv.signature)
    ) {
      throw new HandshakeFailure('decrypt_error', 'client CertificateVerify signature does not verify');
    }
    this.host.transcript.add(msg.msgType, msg.messageSeq, msg.body);
    this.state = 'wait_change_cipher_spec';
  }

  /**
   * The client's Finished. After a full handshake we answer with flight 6, the final one: no timer,
   * resent only when the client resends flight 5. After an abbreviated one the client's flight was
   * the final one, and we are done.
   */
  private onFinished(msg: HandshakeMessage): void {
    const n = this.result!;
    const fin = decodeOrFail('Finished', () => decodeFinished(msg.body));
    const t = this.host.transcript;
    const expected = computeVerifyData(
      n.suite.prfHash,
      n.masterSecret,
      'client finished',
      t.hash(n.suite.prfHash),
    );
    if (!timingSafeEqual(expected, fin.verifyData)) {
      throw new HandshakeFailure('decrypt_error', 'client Finished verify_data does not match');
    }
    t.add(msg.msgType, msg.messageSeq, msg.body);
    if (!this.resumed) {
      const cfg = this.host.config;
      const state: SessionState = {
        cipherSuite: n.suite.id,
        masterSecret: n.masterSecret,
        extendedMasterSecret: n.extendedMasterSecret,
        createdAt: cfg.wallClock?.() ?? 0,
        peerCertificate: this.clientCertificate?.raw,
        pskIdentity: this.pskIdentity,
        serverName: this.serverName,
      };
      if (cfg.sessionCache && this.sessionId.length > 0) cfg.sessionCache.store(this.sessionId, state);
      if (this.issueTicket) this.queueNewSessionTicket(state);
      this.host.queueChangeCipherSpec();
      const verifyData = computeVerifyData(
        n.suite.prfHash,
        n.masterSecret,
        'server finished',
        t.hash(n.suite.prfHash),
      );
      this.host.queueMessage(HandshakeType.finished, encodeFinished({ verifyData }));
      this.host.sendFlight(6, true);
    }
    this.state = 'done';
    this.host.established(connectionInfoOf(n, this.resumed));
  }
}
