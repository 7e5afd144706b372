// The same suite as test/e2e/quantities.test.ts, on the PostgreSQL store: each server gets a fresh
// database on the machine's PostgreSQL (the SQLite-only test of a database from before scopes is left out).

process.env.ORDERGATE_TEST_STORE = 'postgres';
await import('../quantities.test.js');
