// The same suite as test/e2e/strangers.test.ts, on the PostgreSQL store.

process.env.ORDERGATE_TEST_STORE = 'postgres';
await import('../strangers.test.js');
