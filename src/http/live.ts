// Live operations: users and subscriptions changed while the gate runs, the states (halts, close-only)
// of the gate, a strategy or a user, and the square-off. Admin keys change them, read keys read them.
// Each change is a record of the log (store/changes.ts), committed before it is answered; the answer
// names its version (the record's number), and from the next order on every instance decides by it.

import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type Profile, ProfileError, parseProfile, type Subscription } from '../domain/profile.js';
import { MULTIPLIER_RULE, QUANTITY_RULE } from '../domain/sizing.js';
import { GATE_STATES, type GateState, STATE_REASON_LENGTH_MAX } from '../domain/states.js';
import {
  type Actor,
  ChangeError,
  type ChangeRequest,
  DISPOSITIONS,
  type Disposition,
} from '../store/changes.js';
import type { Services } from './app.js';
import { HttpError } from './errors.js';
import { Name, responses } from './schemas.js';

const UserParams = Type.Object({ name: Name('The user') });
const StrategyParams = Type.Object({ name: Name('The strategy') });
const SubscriptionParams = Type.Object({ name: Name('The user'), strategy: Name('The strategy') });

const Instruments = Type.Array(Type.String(), {
  description: 'The instruments of this strategy the user trades: names, at least one, each once',
});
const Multiplier = Type.Union([Type.String(), Type.Number()], {
  description: `The user's quantity per unit ordered, rounded down to whole units: ${MULTIPLIER_RULE} (default 1)`,
});
const FixedQuantity = Type.Integer({
  description: `A fixed quantity per order, whatever the order's quantity: ${QUANTITY_RULE}`,
});
const SizedFields = {
  instruments: Instruments,
  multiplier: Type.Optional(Multiplier),
  quantity: Type.Optional(FixedQuantity),
};
const UserBody = Type.Object(
  {
    // Each value is checked by the profile's own parser (checkedSubscriptions), which names the
    // strategy and the field at fault; a schema union here could only say which branch it expected.
    subscriptions: Type.Record(
      Type.String(),
      Type.Unsafe<unknown>({
        description:
          'The instruments, ["GRASIM", "EICHER"], or { "instruments": [...], "multiplier": "0.5" } or { "instruments": [...], "quantity": 40 }',
      }),
      {
        description:
          'strategy → instruments (or sized): one entry of the seed’s profile, { "STRATEGY_A": ["GRASIM", "EICHER"] }',
      },
    ),
  },
  { additionalProperties: false },
);
const SubscriptionBody = Type.Object(SizedFields, { additionalProperties: false });

const Positions = Type.Unsafe<Disposition>({
  type: 'string',
  enum: [...DISPOSITIONS],
  default: 'close-only',
  description:
    "What happens to the leaver's open positions: close-only (they stay, and only a SELL can close them), " +
    'close-now (each is closed at once by a SELL the gate sends, logged like any order), or preserve ' +
    '(they leave the gate: kept as released positions, no longer in the book)',
});
const LeaveQuery = Type.Object({ positions: Type.Optional(Positions) }, { additionalProperties: false });

const StateBody = Type.Object(
  {
    state: Type.Unsafe<GateState>({
      type: 'string',
      enum: [...GATE_STATES],
      description: 'ACTIVE: everything goes through; CLOSE_ONLY: SELLs only; HALTED: nothing',
    }),
    reason: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: STATE_REASON_LENGTH_MAX,
        description: 'Why: kept in the log and shown in GET /state; needed for CLOSE_ONLY and HALTED',
      }),
    ),
  },
  { additionalProperties: false },
);

const SquareOffBody = Type.Object(
  {
    strategy: Type.Optional(Name('Only the positions of this strategy')),
    user: Type.Optional(Name("Only this user's positions")),
  },
  { additionalProperties: false },
);

/** A change's answer: its version and what became of the positions it concerns. */
const ChangeAnswer = Type.Object(
  {
    version: Type.Integer({ description: "The change's record number in the log: the version now in force" }),
    kind: Type.String(),
    at: Type.String({ format: 'date-time' }),
    by: Type.Union([Type.String(), Type.Null()], { description: "The admin key's id (null in open mode)" }),
    closed: Type.Array(Type.Object({}, { additionalProperties: true }), {
      description: 'The SELLs the gate sent (order_id, strategy, instrument, positions closed)',
    }),
    left_close_only: Type.Array(Type.Object({}, { additionalProperties: true }), {
      description: 'Positions left open that only a SELL can close now',
    }),
    released: Type.Array(Type.Object({}, { additionalProperties: true }), {
      description: "Positions that left the gate's management (positions=preserve)",
    }),
  },
  { additionalProperties: true },
);

const StatesAnswer = Type.Object({}, { additionalProperties: true, description: 'The states in force' });

export function liveRoutes(app: FastifyInstance, services: Services): void {
  const { store, logger } = services;
  const change = async (request: FastifyRequest, wanted: ChangeRequest) => {
    const actor: Actor = { keyId: request.apiKey?.id ?? null, atMs: Date.now() };
    let result: Awaited<ReturnType<typeof store.change>>;
    try {
      result = await store.change(wanted, actor);
    } catch (error) {
      if (error instanceof ChangeError) throw new HttpError(error.code, error.message);
      throw error;
    }
    logger.info({ version: result.seq, kind: wanted.kind, by: actor.keyId ?? 'open mode' }, 'change applied');
    return result.json;
  };

  app.put<{ Params: Static<typeof UserParams>; Body: Static<typeof UserBody> }>(
    '/users/:name',
    {
      schema: {
        summary: 'Create or replace a user and their subscriptions (admin): from the next order on',
        description:
          'The body is one entry of the profile. Positions the new subscriptions no longer give stay open, close-only.',
        tags: ['live'],
        params: UserParams,
        body: UserBody,
        response: responses(ChangeAnswer, 413, 415),
      },
    },
    async (request, reply) => {
      const subscriptions = checkedSubscriptions(request.params.name, request.body.subscriptions);
      const json = await change(request, { kind: 'user-put', user: request.params.name, subscriptions });
      return reply.type('application/json').send(json);
    },
  );

  app.delete<{ Params: Static<typeof UserParams>; Querystring: Static<typeof LeaveQuery> }>(
    '/users/:name',
    {
      schema: {
        summary: 'Remove a user (admin); ?positions= says what happens to their open positions',
        tags: ['live'],
        params: UserParams,
        querystring: LeaveQuery,
        response: responses(ChangeAnswer, 404),
      },
    },
    async (request, reply) => {
      const positions = request.query.positions ?? 'close-only';
      const json = await change(request, { kind: 'user-delete', user: request.params.name, positions });
      return reply.type('application/json').send(json);
    },
  );

  app.put<{ Params: Static<typeof SubscriptionParams>; Body: Static<typeof SubscriptionBody> }>(
    '/users/:name/subscriptions/:strategy',
    {
      schema: {
        summary: "Set the instruments of one of a user's strategies (admin); creates the user if new",
        tags: ['live'],
        params: SubscriptionParams,
        body: SubscriptionBody,
        response: responses(ChangeAnswer, 413, 415),
      },
    },
    async (request, reply) => {
      const { name, strategy } = request.params;
      const { instruments, multiplier, quantity } = request.body;
      const unsized = multiplier === undefined && quantity === undefined;
      const [subscription] = checkedSubscriptions(name, {
        [strategy]: unsized ? instruments : { instruments, multiplier, quantity },
      });
      const json = await change(request, {
        kind: 'subscription-put',
        user: name,
        strategy,
        instruments: subscription!.instruments,
        sizing: subscription!.sizing,
      });
      return reply.type('application/json').send(json);
    },
  );

  app.delete<{ Params: Static<typeof SubscriptionParams>; Querystring: Static<typeof LeaveQuery> }>(
    '/users/:name/subscriptions/:strategy',
    {
      schema: {
        summary: 'Unsubscribe a user from a strategy (admin); ?positions= says what happens to its positions',
        description: 'A user left with no subscription is no longer a user in force, as if removed.',
        tags: ['live'],
        params: SubscriptionParams,
        querystring: LeaveQuery,
        response: responses(ChangeAnswer, 404),
      },
    },
    async (request, reply) => {
      const { name, strategy } = request.params;
      const positions = request.query.positions ?? 'close-only';
      const json = await change(request, { kind: 'subscription-delete', user: name, strategy, positions });
      return reply.type('application/json').send(json);
    },
  );

  app.get(
    '/profile',
    {
      config: { access: 'read' },
      schema: {
        summary: "The users in force and their subscriptions, in the seed's profile format",
        description: 'What `ordergate export` writes; an export imports back to the same users.',
        tags: ['live'],
        response: responses(
          Type.Record(Type.String(), Type.Record(Type.String(), Type.Array(Type.String()))),
        ),
      },
    },
    async (_request, reply) => reply.type('application/json').send(await store.exportProfile()),
  );

  // The profile is parsed by its own rules (a user listed twice is refused, which JSON.parse would
  // hide), so in this route's own scope the body arrives as text.
  void app.register(async (scope) => {
    scope.removeContentTypeParser('application/json');
    scope.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) =>
      done(null, body),
    );
    importRoute(scope);
  });

  function importRoute(scope: FastifyInstance): void {
    scope.put(
      '/profile',
      {
        bodyLimit: PROFILE_BODY_BYTES_MAX,
        schema: {
          summary: 'Import a profile (admin): it becomes the users in force, as one record of the log',
          description:
            "The body is a profile in the seed's format. Users it no longer lists leave, their positions close-only; the answer counts who was added, removed and changed.",
          tags: ['live'],
          response: responses(ChangeAnswer, 413, 415),
        },
      },
      async (request, reply) => {
        const text = request.body as string;
        let profile: Profile;
        try {
          profile = parseProfile(text, 'body');
        } catch (error) {
          if (!(error instanceof ProfileError)) throw error;
          throw new HttpError('INVALID_REQUEST', error.message);
        }
        const difference = await store.differenceFrom(profile);
        const json = await change(request, { kind: 'import', profile, text });
        const counts = {
          users_added: difference.added.length,
          users_removed: difference.removed.length,
          users_changed: difference.changed.length,
        };
        return reply.type('application/json').send(`${json.slice(0, -1)},${JSON.stringify(counts).slice(1)}`);
      },
    );
  }

  app.get(
    '/state',
    {
      config: { access: 'read' },
      schema: {
        summary: 'The states in force: the gate, each strategy and each user that is not ACTIVE',
        tags: ['live'],
        response: responses(StatesAnswer),
      },
    },
    async (_request, reply) => reply.type('application/json').send(await store.states()),
  );

  const stateRoute = (url: string, scope: 'gate' | 'strategy' | 'user', summary: string) =>
    app.put<{ Params: { name?: string }; Body: Static<typeof StateBody> }>(
      url,
      {
        schema: {
          summary,
          description:
            'The most restrictive state in force wins for each user (gate, strategy, user). A rejected user carries GATE_HALTED, STRATEGY_HALTED, USER_HALTED or CLOSE_ONLY.',
          tags: ['live'],
          ...(scope !== 'gate' && { params: scope === 'user' ? UserParams : StrategyParams }),
          body: StateBody,
          response: responses(ChangeAnswer, 404, 413, 415),
        },
      },
      async (request, reply) => {
        const { state, reason } = request.body;
        if (state !== 'ACTIVE' && reason === undefined)
          throw new HttpError(
            'INVALID_REQUEST',
            `body.reason is needed to make it ${state}: say why`,
            'reason',
          );
        const json = await change(request, {
          kind: 'state',
          scope,
          name: request.params.name ?? null,
          state,
          reason: reason ?? '',
        });
        return reply.type('application/json').send(json);
      },
    );
  stateRoute('/state', 'gate', 'Set the state of the whole gate (admin): the kill switch');
  stateRoute('/strategies/:name/state', 'strategy', 'Set the state of a strategy (admin)');
  stateRoute('/users/:name/state', 'user', 'Set the state of a user (admin)');

  app.post<{ Body: Static<typeof SquareOffBody> | undefined }>(
    '/square-off',
    {
      // No body, or an empty one, squares off everything.
      preValidation: (request, _reply, done) => {
        request.body ??= {};
        done();
      },
      schema: {
        summary: 'Close every open position now (admin), or those of one strategy or one user',
        description:
          'Each (strategy, instrument) with open positions gets one SELL from the gate, logged like any order with its trades. Squaring off everything (no strategy, no user) also makes the gate CLOSE_ONLY until the next trading day (AFTER_SQUARE_OFF), as the scheduled square-off does.',
        tags: ['live'],
        body: SquareOffBody,
        response: responses(ChangeAnswer, 404, 413, 415),
      },
    },
    async (request, reply) => {
      const strategy = request.body?.strategy ?? null;
      const user = request.body?.user ?? null;
      // Squaring off everything ends the day as the schedule does: close-only until the next trading day.
      const whole = strategy === null && user === null;
      const json = await change(request, {
        kind: 'square-off',
        strategy,
        user,
        day: null,
        closeOnlyUntilMs: whole ? (services.closeOnlyUntilAfterSquareOff?.(Date.now()) ?? null) : null,
      });
      return reply.type('application/json').send(json);
    },
  );
}

/** An imported profile may be as large as a generated 100,000-user one (≈ 30 MB). */
export const PROFILE_BODY_BYTES_MAX = 256 * 1024 * 1024;

/** The profile's own rules (names, empty or repeated lists, limits), with the same messages. */
function checkedSubscriptions(user: string, subscriptions: Record<string, unknown>): readonly Subscription[] {
  try {
    const [entry] = parseProfile(JSON.stringify({ [user]: subscriptions }), 'body');
    return entry!.subscriptions;
  } catch (error) {
    if (!(error instanceof ProfileError)) throw error;
    const message = error.message.replace(/^body: user "(?:[^"\\]|\\.)*"/, 'body.subscriptions');
    throw new HttpError('INVALID_REQUEST', message, 'subscriptions');
  }
}
