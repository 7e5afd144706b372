// A TCP proxy of the test's own on 127.0.0.1, put between ordergate and PostgreSQL to inject network
// faults that need no root and touch nothing shared: forward bytes; drop every connection (both sockets
// reset) and reset new ones, as a network drop or a PostgreSQL restart does; or stall, accepting
// connections but moving no byte either way, as a partition or a hung server does. Stalled bytes are
// held (the sockets are paused), not lost, so forwarding again delivers them late, as TCP would.

import net from 'node:net';

export type ProxyMode = 'forward' | 'down' | 'stall';

export interface TcpProxy {
  /** The port on 127.0.0.1 to connect to instead of the target's. */
  readonly port: number;
  readonly mode: ProxyMode;
  /** Connections accepted so far, and how many of those were reset at once because the proxy was down. */
  readonly accepted: number;
  readonly refused: number;
  /** Connections open now. */
  readonly open: number;
  /** Moves bytes again: stalled connections resume where they were; new ones are forwarded. */
  forward(): void;
  /** Resets both sockets of every connection, and every new one until forward(). */
  drop(): void;
  /** Stops moving bytes on every connection, and on new ones, until forward() (or drop()). */
  stall(): void;
  /** Stops listening and resets every connection. */
  close(): Promise<void>;
}

interface Pair {
  readonly client: net.Socket;
  readonly upstream: net.Socket;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let mode: ProxyMode = 'forward';
  let accepted = 0;
  let refused = 0;
  const pairs = new Set<Pair>();

  const reset = (socket: net.Socket) => {
    if (socket.destroyed) return;
    // A reset needs a TCP handle; a socket still connecting gets one first.
    if (socket.connecting) socket.destroy();
    else socket.resetAndDestroy();
  };
  const flow = (pair: Pair) => {
    for (const socket of [pair.client, pair.upstream]) {
      if (mode === 'forward') socket.resume();
      else socket.pause();
    }
  };
  /** Copies one direction by hand (not pipe()) so that a stall's pause() is never undone by a 'drain'. */
  const copy = (from: net.Socket, to: net.Socket) => {
    from.on('data', (chunk: Buffer) => {
      if (!to.write(chunk)) from.pause();
    });
    to.on('drain', () => {
      if (mode === 'forward') from.resume();
    });
    from.on('end', () => to.end());
  };

  const server = net.createServer({ pauseOnConnect: true }, (client) => {
    accepted++;
    client.on('error', () => {});
    if (mode === 'down') {
      refused++;
      reset(client);
      return;
    }
    const upstream = net.connect({ host: target.host, port: target.port });
    upstream.on('error', () => {});
    const pair: Pair = { client, upstream };
    pairs.add(pair);
    copy(client, upstream);
    copy(upstream, client);
    // One side closed: after an error (a reset) the other is reset too; after a clean end the other
    // is ended once what it still holds is written. The pair is gone when both are closed.
    const closed = (other: net.Socket) => (hadError: boolean) => {
      if (hadError) reset(other);
      else other.end();
      if (client.closed && upstream.closed) pairs.delete(pair);
    };
    client.on('close', closed(upstream));
    upstream.on('close', closed(client));
    flow(pair);
  });
  server.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as net.AddressInfo).port;

  const dropAll = () => {
    for (const pair of [...pairs]) {
      pairs.delete(pair);
      reset(pair.client);
      reset(pair.upstream);
    }
  };
  return {
    port,
    get mode() {
      return mode;
    },
    get accepted() {
      return accepted;
    },
    get refused() {
      return refused;
    },
    get open() {
      return pairs.size;
    },
    forward() {
      mode = 'forward';
      for (const pair of pairs) flow(pair);
    },
    drop() {
      mode = 'down';
      dropAll();
    },
    stall() {
      mode = 'stall';
      for (const pair of pairs) flow(pair);
    },
    async close() {
      mode = 'down';
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      dropAll();
      await closed;
    },
  };
}
