// What GET /users and GET /strategies say, built from the profile in force the same way by every
// store: only the open-position counts come from the database.

import type { SubscriptionIndex, UserProfile } from '../domain/profile.js';
import type { StrategySummary, UserSummary } from './store.js';

export function summariseUser(entry: UserProfile, openPositions: number): UserSummary {
  const strategies: Record<string, readonly string[]> = {};
  for (const { strategy, instruments } of entry.subscriptions) strategies[strategy] = instruments;
  return { user: entry.user, strategies, open_positions: openPositions };
}

export function summariseStrategies(subscriptions: SubscriptionIndex): StrategySummary[] {
  const summaries: StrategySummary[] = [];
  for (const [strategy, subscribers] of subscriptions) {
    const instruments: Record<string, number> = {};
    for (const set of subscribers.values())
      for (const instrument of set) instruments[instrument] = (instruments[instrument] ?? 0) + 1;
    summaries.push({ strategy, subscribers: subscribers.size, instruments });
  }
  return summaries.sort((a, b) => (a.strategy < b.strategy ? -1 : 1));
}
