// The ceiling of the throughput scenario: Fastify 5 with one route, POST /create_order, that parses the
// same JSON body as ordergate's and answers a small JSON without doing anything else. It runs in its own
// process, as ordergate does, so both are measured the same way. Env: PORT, HOST.

import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';

const app = Fastify({ logger: false });

app.post('/create_order', async (request) => {
  // Fastify has parsed the JSON body before the handler runs: that parse is the work being matched.
  return { RESPONSE: request.body === null ? 'REJECTED' : 'ACCEPTED' };
});

await app.listen({ port: Number(process.env.PORT ?? 0), host: process.env.HOST ?? '127.0.0.1' });
const { address, port } = app.server.address() as AddressInfo;
console.log(`bare fastify listening on http://${address}:${port}`);

const stop = () => void app.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
