// The same suite as test/e2e/keys-api.test.ts, on the PostgreSQL store: one store interface, two real
// implementations, one suite. Each server gets a fresh database on the machine's PostgreSQL.

process.env.ORDERGATE_TEST_STORE = 'postgres';
await import('../keys-api.test.js');
