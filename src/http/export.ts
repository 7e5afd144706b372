// The whole log or book as NDJSON (one row a line), streamed page by page: each page is a short read
// of its own (no long snapshot holds the database back), and the next is read only once the client
// has taken the last, so an export of millions of rows holds one page in memory, never the list.

import { Readable } from 'node:stream';
import { type Static, type TObject, Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply } from 'fastify';
import {
  type Cursor,
  type JsonPage,
  PAGE_LIMIT_MAX,
  parseNameCursor,
  parsePositionCursor,
} from '../store/page.js';
import type { Services } from './app.js';
import { cursor } from './book.js';
import { OrdersView } from './orders.js';
import { After, AfterCursor, BookFilters, responses } from './schemas.js';

const NDJSON = 'application/x-ndjson';

const OrdersExport = Type.Object(
  {
    after: After,
    view: Type.Optional(OrdersView),
    ...BookFilters,
    status: Type.Optional(
      Type.Unsafe<'ACCEPTED' | 'REJECTED'>({ type: 'string', enum: ['ACCEPTED', 'REJECTED'] }),
    ),
  },
  { additionalProperties: false },
);
const PositionsExport = Type.Object({ after: AfterCursor, ...BookFilters }, { additionalProperties: false });
const TradesExport = Type.Object({ after: After, ...BookFilters }, { additionalProperties: false });
const UsersExport = Type.Object({ after: AfterCursor }, { additionalProperties: false });

export function exportRoutes(app: FastifyInstance, { store }: Services): void {
  const limit = PAGE_LIMIT_MAX;
  route(
    app,
    'orders',
    OrdersExport,
    'The order log, oldest first (view=full for every user verdict)',
    (query) => {
      const { after, ...filters } = query as Static<typeof OrdersExport>;
      return {
        first: after,
        read: (next) =>
          store.orders({ ...filters, view: filters.view ?? 'compact', after: next as number, limit }),
      };
    },
  );
  route(
    app,
    'positions',
    PositionsExport,
    'Every open position, by strategy, instrument and user',
    (query) => {
      const { after, ...filters } = query as Static<typeof PositionsExport>;
      return {
        first: after ?? '',
        read: (next) =>
          store.positions({ ...filters, after: cursor(String(next), parsePositionCursor), limit }),
      };
    },
  );
  route(app, 'trades', TradesExport, 'Every closed round trip, oldest first', (query) => {
    const { after, ...filters } = query as Static<typeof TradesExport>;
    return { first: after, read: (next) => store.trades({ ...filters, after: next as number, limit }) };
  });
  route(app, 'users', UsersExport, 'Every user of the profile in force, by name', (query) => {
    const { after } = query as Static<typeof UsersExport>;
    return {
      first: after ?? '',
      read: (next) => store.users({ after: cursor(String(next), parseNameCursor), limit }),
    };
  });
}

interface Export {
  /** Where the export starts: after this cursor ('' or 0 for the beginning). */
  readonly first: Cursor;
  readonly read: (after: Cursor) => Promise<JsonPage>;
}

function route(
  app: FastifyInstance,
  list: string,
  querystring: TObject,
  summary: string,
  open: (query: unknown) => Export,
): void {
  app.get(
    `/export/${list}`,
    {
      config: { access: 'read' },
      schema: {
        summary: `${summary}, as NDJSON`,
        description:
          'One JSON object a line, the rows of the list, streamed page by page. A stream cut short by a fault ' +
          'ends without its last chunk (curl exits 18); orders and trades resume with after= the last id received.',
        tags: ['export'],
        querystring,
        response: responses(Type.String({ description: `${NDJSON}: one row a line` })),
      },
    },
    async (request, reply: FastifyReply) => {
      const { first, read } = open(request.query);
      // The first page is read before anything is sent, so a store that cannot answer gets its 503.
      const page = await read(first);
      return reply.type(NDJSON).send(Readable.from(lines(page, read), { objectMode: false }));
    },
  );
}

async function* lines(first: JsonPage, read: (after: Cursor) => Promise<JsonPage>): AsyncGenerator<string> {
  let page = first;
  for (;;) {
    if (page.rows.length > 0) yield `${page.rows.join('\n')}\n`;
    if (page.nextAfter === null) return;
    page = await read(page.nextAfter);
  }
}
