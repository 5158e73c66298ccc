// An independent OpenID Provider for broker's interop tests: panva/node-oidc-provider (OpenID Certified),
// configured, not modified. ID tokens come out of its own authorization-code flow (devInteractions login and
// consent pages); broker's tests drive that flow over HTTP like a browser and never mint tokens themselves.
//
//   node server.mjs --port 50123 --jwks keys.json
//
// keys.json is a private JWK Set; the provider signs with its first RSA key and publishes the public halves
// of all of them at /jwks, so restarting with [new, old] is a key rotation. Clients:
//   broker-interop        ID tokens live 300 s
//   broker-interop-short  ID tokens live 2 s (the expiry test)
// Prints "ready <issuer>" on stdout once listening.
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    jwks: { type: 'string' },
  },
});
if (!values.port || !values.jwks) {
  process.stderr.write('usage: node server.mjs --port N --jwks FILE\n');
  process.exit(2);
}

const issuer = `http://${values.host}:${values.port}`;
const redirect = 'http://127.0.0.1/callback';
const client = (clientId) => ({
  client_id: clientId,
  client_secret: `${clientId}-secret`,
  redirect_uris: [redirect],
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_post',
});
const SHORT = 'broker-interop-short';

const provider = new Provider(issuer, {
  clients: [client('broker-interop'), client(SHORT)],
  jwks: JSON.parse(readFileSync(values.jwks, 'utf8')),
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  findAccount: (ctx, id) => ({ accountId: id, claims: () => ({ sub: id }) }),
  claims: { openid: ['sub'] },
  ttl: {
    IdToken: (ctx, token, c) => (c && c.clientId === SHORT ? 2 : 300),
    AccessToken: 300,
    AuthorizationCode: 60,
    Interaction: 600,
    Session: 600,
    Grant: 600,
  },
});
provider.on('server_error', (ctx, err) => process.stderr.write(`server_error: ${err.stack}\n`));

const server = provider.listen(Number(values.port), values.host, () => {
  process.stdout.write(`ready ${issuer}\n`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
