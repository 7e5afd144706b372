// The same suite as test/e2e/paging.test.ts, on the PostgreSQL store.

process.env.ORDERGATE_TEST_STORE = 'postgres';
await import('../paging.test.js');
