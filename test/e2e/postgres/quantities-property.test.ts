// The same property as test/e2e/quantities-property.test.ts, on the PostgreSQL store: one fresh database
// per scope on the machine's PostgreSQL (the runs' users are put through the API).

process.env.ORDERGATE_TEST_STORE = 'postgres';
await import('../quantities-property.test.js');
