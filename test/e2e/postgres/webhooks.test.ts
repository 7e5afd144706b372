// The same suite as test/e2e/webhooks.test.ts, on the PostgreSQL store: each server gets a fresh
// database on the machine's PostgreSQL (webhook keys, retries by id and time or by body, revocation).

process.env.ORDERGATE_TEST_STORE = 'postgres';
await import('../webhooks.test.js');
