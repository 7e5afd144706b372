// `ordergate check`: verifies a database, offline or beside a running server.

import { type DatabaseConfig, redactUrl } from '../config.js';
import { checkPostgres } from '../store/postgres/check.js';
import { stderrPoolLogger } from '../store/postgres/connection.js';
import { type CheckReport, checkSqlite } from '../store/sqlite/check.js';
import { databaseOf, helpRequested, parseFlags, withUsage } from './args.js';

export const CHECK_HELP = `Usage: ordergate check [--database-url URL]

Verifies a database: the file's integrity, then the replay invariant: replaying the whole order
log in order_id order from an empty book, with the profile that was in force for each order,
reproduces every logged answer, exactly the open positions and the closed trades. Safe beside a
running server (it reads one consistent snapshot).

Options:
  --database-url URL  the database [DATABASE_URL, default sqlite:./data/ordergate.db]
  --json              print the report as JSON
  -h, --help          show this help

Exit codes: 0 when everything matches, 1 when anything does not, 2 for a bad option.`;

const PROGRESS_EVERY_ORDERS = 100_000;

export async function runCheck(argv: string[]): Promise<number> {
  return withUsage('check', CHECK_HELP, async () => {
    const { values } = parseFlags(argv, { 'database-url': { type: 'string' }, json: { type: 'boolean' } });
    helpRequested(values);
    return check(databaseOf(values), values.json === true);
  });
}

async function check(database: DatabaseConfig, json: boolean): Promise<number> {
  const path = database.kind === 'sqlite' ? database.path : redactUrl(database.url);
  const started = Date.now();
  let nextProgress = PROGRESS_EVERY_ORDERS;
  let report: CheckReport;
  const progress = (orders: number) => {
    if (orders < nextProgress) return;
    nextProgress += PROGRESS_EVERY_ORDERS;
    process.stderr.write(`check: ${orders} orders replayed…\n`);
  };
  try {
    report =
      database.kind === 'sqlite'
        ? checkSqlite(database.path, progress)
        : await checkPostgres(database.url, stderrPoolLogger, progress);
  } catch (error) {
    console.error(`ordergate check: cannot read ${path}: ${(error as Error).message}`);
    return 1;
  }
  if (json) console.log(JSON.stringify({ database: path, ...report }));
  else {
    for (const problem of report.problems) console.log(`MISMATCH ${problem}`);
    console.log(
      `check ${path}: integrity ${report.integrity}; schema ${report.schemaVersion}; ` +
        `${report.orders} orders replayed over ${report.profileVersions} profile versions, with ${report.changes} changes; ` +
        `${report.fills} fills and ${report.denials} denials reproduced; ${report.openPositions} open positions; ${report.trades} trades; ` +
        `mismatches: ${report.mismatches} (${((Date.now() - started) / 1000).toFixed(1)} s)`,
    );
  }
  return report.mismatches === 0 ? 0 : 1;
}
