// The same suite as test/e2e/backpressure.test.ts, on the PostgreSQL store.

process.env.ORDERGATE_TEST_STORE = 'postgres';
await import('../backpressure.test.js');
