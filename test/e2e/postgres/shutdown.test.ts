// The same suite as test/e2e/shutdown.test.ts, on the PostgreSQL store.

process.env.ORDERGATE_TEST_STORE = 'postgres';
await import('../shutdown.test.js');
