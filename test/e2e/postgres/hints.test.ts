// The same suite as test/e2e/hints.test.ts, on the PostgreSQL store: one store interface, two real
// implementations, one suite. Each server gets a fresh database on the machine's PostgreSQL.

process.env.ORDERGATE_TEST_STORE = 'postgres';
await import('../hints.test.js');
