import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { errors } from '@nats-io/transport-node';
import { classifyConnectError } from '../../runtime/nats-connect-error.ts';

const coded = (code: string, message: string): Error => Object.assign(new Error(message), { code });

describe('runtime-nats-connect-error', () => {
  test('runtime-nats-connect-error - a server not up yet is waited for', () => {
    for (const e of [
      new errors.ConnectionError('connection refused', { cause: coded('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:4222') }),
      coded('ECONNRESET', 'read ECONNRESET'),
      coded('EPIPE', 'write EPIPE'),
      coded('ENOTFOUND', 'getaddrinfo ENOTFOUND nats'),
      new errors.TimeoutError(),
      undefined,
    ]) {
      assert.equal(classifyConnectError(e).kind, 'retry', String(e));
    }
    assert.match(classifyConnectError(new errors.ConnectionError('connection refused', { cause: coded('ECONNREFUSED', 'x') })).reason, /connection refused \(ECONNREFUSED\)/);
  });

  test('runtime-nats-connect-error - refused certificates and credentials stop at once, with the reason', () => {
    const cases: [unknown, RegExp][] = [
      [coded('UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate'), /server's TLS certificate is not accepted \(UNABLE_TO_VERIFY_LEAF_SIGNATURE/],
      [coded('DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate'), /not accepted/],
      [coded('CERT_HAS_EXPIRED', 'certificate has expired'), /not accepted/],
      [coded('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames"), /not accepted/],
      [
        new errors.ConnectionError('x', { cause: coded('ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', 'error:0A000412:SSL routines::sslv3 alert bad certificate\nmore') }),
        /TLS handshake failed .*alert bad certificate\).*client certificate/,
      ],
      [coded('ERR_SSL_WRONG_VERSION_NUMBER', 'wrong version number'), /TLS handshake failed/],
      [new errors.AuthorizationError('Authorization Violation'), /refused the credentials \(Authorization Violation\)/],
      [new errors.UserAuthenticationExpiredError('User Authentication Expired'), /refused the credentials/],
      [new errors.ConnectionError("server does not support 'tls'"), /does not offer it/],
    ];
    for (const [e, re] of cases) {
      const v = classifyConnectError(e);
      assert.equal(v.kind, 'refused', String(e));
      assert.match(v.reason, re);
    }
  });

  test('runtime-nats-connect-error - a TLS server that drops the connection after the handshake refused the client, whichever way the drop shows', () => {
    for (const e of [coded('ECONNRESET', 'write ECONNRESET'), new errors.ConnectionError('x', { cause: coded('EPIPE', 'write EPIPE') })]) {
      const v = classifyConnectError(e, { droppedAfterTls: true });
      assert.equal(v.kind, 'refused', String(e));
      assert.match(v.reason, /TLS handshake failed: the server closed the connection \((ECONNRESET|EPIPE)\).*client certificate/);
      assert.equal(classifyConnectError(e).kind, 'retry', 'without TLS a reset is a server not up yet');
    }
    assert.equal(classifyConnectError(coded('ECONNREFUSED', 'x'), { droppedAfterTls: true }).kind, 'retry');
  });
});
