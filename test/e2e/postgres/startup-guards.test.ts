// The same suite as test/e2e/startup-guards.test.ts, on the PostgreSQL store: the profile in force,
// users removed while holding positions, open mode and a port in use, each with a database of its own.

process.env.ORDERGATE_TEST_STORE = 'postgres';
await import('../startup-guards.test.js');
