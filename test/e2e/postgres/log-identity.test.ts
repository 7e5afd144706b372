// The same suite as test/e2e/log-identity.test.ts, on the PostgreSQL store.

process.env.ORDERGATE_TEST_STORE = 'postgres';
await import('../log-identity.test.js');
