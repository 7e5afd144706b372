// Where serve listens, and what it says when it cannot. While no API key exists anyone who reaches
// the port may place orders, so a server in open mode listens on loopback only unless HOST was set.
// The port is tried before the store is opened (opening writes: migrations, the profile), so a port
// in use stops the start with nothing written; a start that loses the port in the moment between the
// try and the real listen is told the same way.

import { createServer } from 'node:net';
import { type Config, OPEN_MODE_HOST } from '../config.js';
import { OPEN_MODE_WARNING } from '../http/auth.js';

/** HOST if given; else the default once a key exists, and loopback only before. */
export function listenHost(config: Config, hasKeys: boolean): string {
  return config.hostExplicit || hasKeys ? config.host : OPEN_MODE_HOST;
}

/** What a server in open mode says at start: the open-mode warning, or that it listens on loopback only. */
export function openModeWarning(config: Config): string {
  if (config.hostExplicit) return OPEN_MODE_WARNING;
  return (
    `open mode (no API key exists): listening on ${OPEN_MODE_HOST} only, so only this machine can reach it; ` +
    `to open it up, create an admin key (POST /keys {"role":"admin"} to this server) and restart (HOST's default ${config.host} applies then), ` +
    'or set HOST (e.g. HOST=0.0.0.0)'
  );
}

/** Why the server cannot listen there, found by listening and closing at once; undefined if it can. */
export function tryListening(host: string, port: number): Promise<string | undefined> {
  // Port 0 picks a free port at the real listen: there is nothing to try.
  if (port === 0) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', (error) => resolve(describeListenFailure(host, port, error)));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve(undefined)));
  });
}

/** One line saying which address failed and how to choose another; used for the try and the listen alike. */
export function describeListenFailure(host: string, port: number, error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  const at = `cannot listen on ${host}:${port}`;
  const another = 'choose another port with --port or PORT (0 picks a free one)';
  if (code === 'EADDRINUSE')
    return `${at}: the port is in use (another ordergate, or another program): stop it, or ${another}`;
  if (code === 'EACCES')
    return `${at}: this user may not listen on port ${port} (ports below 1024 need privileges): ${another}`;
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return (
      `${at}: ${host} is not an address of this machine (${code}): set HOST (--host) to one of its addresses, ` +
      '127.0.0.1 for this machine only or 0.0.0.0 for every interface'
    );
  }
  return `${at}: ${(error as Error).message}`;
}
