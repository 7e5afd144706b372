// Holds a book's orders back for a while with a real lock, on either store: on SQLite a write lock on
// the database file taken by another connection (the writer then waits for it, up to its 5 s busy
// timeout, and every order stays in flight); on PostgreSQL the book's row lock taken by another
// session (orders on that book wait for it, up to their 5 s lock timeout).

import Database from 'better-sqlite3';
import pg from 'pg';
import type { Server } from './server.js';

export interface Stall {
  release(): Promise<void>;
}

export async function stallBook(server: Server, strategy: string, instrument: string): Promise<Stall> {
  if (server.databaseUrl.startsWith('sqlite:')) {
    const db = new Database(server.dbPath);
    db.exec('BEGIN IMMEDIATE');
    return {
      async release() {
        if (!db.open) return;
        db.exec('ROLLBACK');
        db.close();
      },
    };
  }
  const client = new pg.Client({ connectionString: server.databaseUrl });
  client.on('error', () => {});
  await client.connect();
  await client.query('BEGIN');
  const locked = await client.query(
    'SELECT 1 FROM books WHERE strategy = $1 AND instrument = $2 FOR UPDATE',
    [strategy, instrument],
  );
  if (locked.rowCount !== 1) throw new Error(`no book ${strategy} ${instrument} to lock`);
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      await client.query('ROLLBACK').catch(() => {});
      await client.end().catch(() => {});
    },
  };
}

/** The orders a server says are in flight, from GET /health. */
export async function ordersInFlight(server: Server): Promise<number | undefined> {
  const response = await fetch(`${server.url}/health`);
  const body = (await response.json()) as { orders_in_flight?: number };
  return body.orders_in_flight;
}
