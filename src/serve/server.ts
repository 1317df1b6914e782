// `cyclener serve`: one NerModel behind Fastify. JSON-schema validation of every body, one dynamic-batching queue for
// all requests (src/serve/batcher.ts), clear 4xx for bad requests, 503 + Retry-After when the queue is full or the
// server is draining, and a graceful close that lets in-flight requests finish.

import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type { NerEntity, NerModel } from '../api/ner-model';
import { utf16ToCodePoint } from '../t5/normalize';
import { Batcher, ClosingError, QueueFullError, type BatcherStats } from './batcher';
import { PAGE_HTML } from './page';

export interface ServeOptions {
  model: NerModel;
  /** Default 127.0.0.1 (loopback only); port 0 picks a free one. */
  host?: string;
  port?: number;
  /** Texts per model batch (default 32) and the longest a text waits for a batch to fill (default 10 ms). */
  maxBatch?: number;
  maxWaitMs?: number;
  /** Texts waiting for the model before requests are refused with 503 (default 256). */
  maxQueue?: number;
  /** Request body bytes (default 1 MiB), texts per request (default 64), characters per text (default 100000). */
  maxBodyBytes?: number;
  maxTexts?: number;
  maxChars?: number;
  /** Retry-After seconds sent with a 503 (default 1). */
  retryAfterS?: number;
  /** An origin allowed to call the API from a browser (CORS); off by default. */
  corsOrigin?: string;
  /** Each batch's size as it starts; a returned promise holds the batch until it settles (tests). */
  onBatch?: (size: number) => void | Promise<void>;
}

export interface Server {
  url: string;
  port: number;
  /** Graceful close: new requests get 503, queued and running ones finish, then the listener closes. */
  close(): Promise<void>;
  stats(): BatcherStats & { requests: number; inFlight: number };
  app: FastifyInstance;
}

const DEFAULTS = {
  host: '127.0.0.1',
  port: 8080,
  maxBatch: 32,
  maxWaitMs: 10,
  maxQueue: 256,
  maxBodyBytes: 1 << 20,
  maxTexts: 64,
  maxChars: 100_000,
  retryAfterS: 1,
};

export async function startServer(opts: ServeOptions): Promise<Server> {
  const o = { ...DEFAULTS, ...opts };
  const model = o.model;
  const batcher = new Batcher<string, NerEntity[]>((texts) => model.predict(texts, { batchSize: o.maxBatch }), {
    maxBatch: o.maxBatch,
    maxWaitMs: o.maxWaitMs,
    maxQueue: o.maxQueue,
    ...(o.onBatch ? { onBatch: o.onBatch } : {}),
  });
  // Types are checked, never coerced (a number is not a text); unknown fields are refused, not silently dropped.
  const app = Fastify({
    bodyLimit: o.maxBodyBytes,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  });
  app.removeContentTypeParser('text/plain'); // JSON only: a text body is 415, not a string that fails the schema
  let closing = false;
  let inFlight = 0;
  let requests = 0;

  app.setErrorHandler((err: FastifyError, _req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    let message = err.message;
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') message = `request body larger than ${o.maxBodyBytes} bytes`;
    else if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') message = 'send the body as application/json';
    else if (err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') message = 'empty body: send {"texts": [...]}';
    else if (err instanceof SyntaxError || err.code === 'FST_ERR_CTP_INVALID_JSON_BODY')
      message = `invalid JSON: ${err.message}`;
    void reply.status(status).send({ error: message });
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({ error: `no route ${req.method} ${req.url}` });
  });

  app.addHook('onRequest', async (req, reply) => {
    if (closing) {
      void reply
        .status(503)
        .header('retry-after', String(o.retryAfterS))
        .header('connection', 'close')
        .send({ error: 'the server is shutting down' });
      return reply;
    }
    inFlight++;
    requests++;
    // The response's 'close' comes once, answered or not: a client that hangs up before its answer (a load tester
    // stopping) must not leave a count that a graceful close would wait on forever.
    reply.raw.once('close', () => inFlight--);
    if (o.corsOrigin) void reply.header('access-control-allow-origin', o.corsOrigin).header('vary', 'Origin');
    return undefined;
  });

  app.get('/', async (_req, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .header(
        'content-security-policy',
        "default-src 'self'; script-src 'unsafe-inline' 'self'; style-src 'unsafe-inline'",
      )
      .send(PAGE_HTML),
  );

  app.get('/health', async () => ({ status: 'ok', queue: batcher.stats().waiting }));

  const labels =
    Object.keys(model.info.labels).length > 0 ? Object.keys(model.info.labels).sort() : [...model.info.types];
  app.get('/v1/model', async () => {
    const s = model.info.source;
    return {
      model: s.repoId ? `${s.repoId}${s.commit ? `@${s.commit}` : ''}` : s.path,
      source: s,
      baseModel: model.info.baseModel,
      types: model.info.types,
      labels,
      prefix: model.info.prefix,
      decode: model.info.decode,
      maxSourceTokens: model.info.maxSourceTokens,
      overlapTokens: model.info.overlapTokens,
      limits: { maxBodyBytes: o.maxBodyBytes, maxTexts: o.maxTexts, maxChars: o.maxChars },
      batching: { maxBatch: o.maxBatch, maxWaitMs: o.maxWaitMs, maxQueue: o.maxQueue },
    };
  });

  app.get('/v1/stats', async () => ({ ...batcher.stats(), requests, inFlight }));

  if (o.corsOrigin) {
    app.options('/v1/entities', async (_req, reply) =>
      reply
        .status(204)
        .header('access-control-allow-methods', 'POST')
        .header('access-control-allow-headers', 'content-type')
        .send(),
    );
  }

  app.post<{ Body: { texts: string[]; offsets?: 'utf16' | 'codepoints' } }>(
    '/v1/entities',
    {
      schema: {
        body: {
          type: 'object',
          required: ['texts'],
          additionalProperties: false,
          properties: {
            texts: {
              type: 'array',
              minItems: 1,
              maxItems: o.maxTexts,
              items: { type: 'string', maxLength: o.maxChars },
            },
            offsets: { type: 'string', enum: ['utf16', 'codepoints'] },
          },
        },
      },
    },
    async (req, reply) => {
      const { texts, offsets } = req.body;
      const empty = texts.findIndex((t) => t.trim() === '');
      if (empty >= 0) return reply.status(400).send({ error: `texts[${empty}] is empty` });
      try {
        const results = await batcher.submit(texts);
        if (offsets !== 'codepoints') return { results };
        return {
          results: results.map((es, i) => {
            const cp = utf16ToCodePoint(texts[i] as string);
            return es.map((e) => ({ ...e, start: cp[e.start] as number, end: cp[e.end] as number }));
          }),
        };
      } catch (e) {
        if (e instanceof QueueFullError || e instanceof ClosingError)
          return reply.status(503).header('retry-after', String(o.retryAfterS)).send({ error: e.message });
        throw e;
      }
    },
  );

  await app.listen({ host: o.host, port: o.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.port;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  let closed: Promise<void> | null = null;
  return {
    url: `http://${host}:${port}`,
    port,
    app,
    stats: () => ({ ...batcher.stats(), requests, inFlight }),
    close: () => {
      closed ??= (async () => {
        closing = true;
        await batcher.drain();
        // Answers of the drained batches are still being written: wait until every counted request has responded.
        while (inFlight > 0) await new Promise((r) => setTimeout(r, 5));
        await app.close();
      })();
      return closed;
    },
  };
}
