// The one table a benchmark run prints, and the JSON beside it: the machine, then every figure.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { ROOT } from './processes.js';

export interface Row {
  scenario: string;
  figure: string;
  value: string;
  /** Empty for figures that are context rather than goals. */
  target: string;
  /** null where there is no target. */
  met: boolean | null;
}

export interface Machine {
  date: string;
  node: string;
  nproc: number;
  cpu: string;
  commit: string | null;
}

export function machine(): Machine {
  return {
    date: new Date().toISOString(),
    node: process.version,
    nproc: nproc(),
    cpu: cpuModel(),
    commit: gitCommit(),
  };
}

function nproc(): number {
  try {
    return Number(execFileSync('nproc', { encoding: 'utf8' }).trim());
  } catch {
    return availableParallelism();
  }
}

function cpuModel(): string {
  try {
    return /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** The commit, marked +dirty when tracked files differ from it: figures of uncommitted code say so. */
function gitCommit(): string | null {
  try {
    const git = (...args: string[]) =>
      execFileSync('git', ['-C', ROOT, ...args], { encoding: 'utf8' }).trim();
    const commit = git('rev-parse', '--short=12', 'HEAD');
    return git('status', '--porcelain', '--untracked-files=no') === '' ? commit : `${commit}+dirty`;
  } catch {
    return null;
  }
}

const HEADINGS: Row = { scenario: 'scenario', figure: 'figure', value: 'value', target: 'target', met: null };

/** Aligned columns; values right-aligned so that digits line up. */
export function renderTable(rows: readonly Row[]): string {
  const verdict = (row: Row) =>
    row === HEADINGS ? 'met?' : row.met === null ? '' : row.met ? 'met' : 'NOT MET';
  const all = [HEADINGS, ...rows];
  const width = (pick: (row: Row) => string) => Math.max(...all.map((row) => pick(row).length));
  const widths = {
    scenario: width((row) => row.scenario),
    figure: width((row) => row.figure),
    value: width((row) => row.value),
    target: width((row) => row.target),
  };
  const line = (row: Row) =>
    [
      row.scenario.padEnd(widths.scenario),
      row.figure.padEnd(widths.figure),
      row === HEADINGS ? row.value.padEnd(widths.value) : row.value.padStart(widths.value),
      row.target.padEnd(widths.target),
      verdict(row),
    ]
      .join('  ')
      .trimEnd();
  const rule = [widths.scenario, widths.figure, widths.value, widths.target, 7]
    .map((n) => '─'.repeat(n))
    .join('  ');
  // A rule between scenarios makes a long table scannable.
  const body = rows.map((row, index) => {
    const previous = rows[index - 1];
    return previous !== undefined && previous.scenario !== row.scenario ? `\n${line(row)}` : line(row);
  });
  return [line(HEADINGS), rule, ...body].join('\n');
}

export const HOW_TO_READ = wrap(
  'How to read this: targets are the goals of issue #4, compared and never asserted; one run on a shared ' +
    'machine, so rerun a figure that looks odd. Latency is open loop, timed from each planned send (stalls ' +
    'count in full); fan-out sends one order at a time. The same figures: bench/results/latest.json.',
);

/** Wraps at the project's line width, so the note reads in an 80-to-120-column terminal. */
function wrap(text: string, width = 110): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  return [...lines, line].join('\n');
}

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

export const format = {
  int: (value: number) => integer.format(value),
  ms: (value: number) => `${value < 10 ? value.toFixed(2) : value.toFixed(1)} ms`,
  seconds: (ms: number) => `${(ms / 1000).toFixed(2)} s`,
  mib: (kib: number) => `${integer.format(kib / 1024)} MiB`,
};
