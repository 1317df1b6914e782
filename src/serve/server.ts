// `cyclener serve`: one NerModel behind Fastify. JSON-schema validation of every body, one dynamic-batching queue for
// all requests (src/serve/batcher.ts), clear 4xx for bad requests, 503 + Retry-After when the queue is full or the
// server is draining, deadlines for slow clients, and a graceful close that lets in-flight requests finish.

import * as http from 'node:http';
import type { Socket } from 'node:net';
import * as path from 'node:path';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type { NerEntity, NerModel } from '../api/ner-model';
import { aboveThreshold, checkThreshold, OUTPUT_FORMATS, shape, type OutputFormat } from '../api/formats';
import { firstInvalidUtf8 } from '../data/readers';
import { scoreCalibration } from '../eval/calibration';
import type { ModelSource } from '../hub';
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
  /**
   * Deadlines for slow clients (slowloris): the request headers (default 10 s), the whole request with its body
   * (default 30 s), and an idle keep-alive connection between requests (default 5 s). The model's time is not counted.
   */
  headerTimeoutMs?: number;
  requestTimeoutMs?: number;
  idleTimeoutMs?: number;
  /** Show the model's filesystem path in GET /v1/model (default: only its name, the folder's or the Hub id). */
  showModelPath?: boolean;
  /** Entities scored below it are dropped unless a request gives its own (default: the model's, info.score.threshold). */
  threshold?: number;
  /**
   * Continuous batching: > 0 decodes the batches of concurrent requests in one running batch of up to this many rows,
   * which admits new sentences as others finish (NerModel.setContinuousBatching); several batches then run at once.
   * 0: one batch at a time, each decoded to its end (default 0).
   */
  continuousRows?: number;
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
  headerTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  idleTimeoutMs: 5_000,
  showModelPath: false,
  continuousRows: 0,
};

/** A model folder's name for clients: the folder, with the run folders above a run's s2e/ or best/s2e/. */
function folderName(dir: string): string {
  const parts = path
    .resolve(dir)
    .split(path.sep)
    .filter((p) => p !== '');
  let i = parts.length - 1;
  while (i > 0 && (parts[i] === 's2e' || parts[i] === 'best')) i--;
  return parts.slice(i).join('/');
}

/** Where a model came from, as clients see it: the Hub repo/revision/commit, else the folder's name; the path on request. */
function publicSource(s: ModelSource, showPath: boolean): Record<string, string> {
  const { path: p, ...hub } = s;
  return { ...(s.repoId ? hub : { name: folderName(p) }), ...(showPath ? { path: p } : {}) };
}

export async function startServer(opts: ServeOptions): Promise<Server> {
  const o = serveSettings(opts);
  const model = o.model;
  const threshold = checkThreshold(o.threshold ?? model.info.score.threshold, 'startServer');
  // Every entity comes out of the shared batches; each request applies its own threshold and shape afterwards.
  model.setContinuousBatching(o.continuousRows);
  const batcher = new Batcher<string, NerEntity[]>(
    (texts) => model.predict(texts, { batchSize: o.maxBatch, threshold: 0 }),
    {
      // Continuous batching: no waiting for a batch to fill (the decode stream groups what arrives together and
      // admits it into the running batch), and as many batches at once as the running batch has rows.
      concurrency: o.continuousRows > 0 ? o.continuousRows : 1,
      maxBatch: o.maxBatch,
      maxWaitMs: o.continuousRows > 0 ? 0 : o.maxWaitMs,
      maxQueue: o.maxQueue,
      ...(o.onBatch ? { onBatch: o.onBatch } : {}),
    },
  );
  const app = createApp(o);
  acceptUtf8Json(app);
  const state: ServeState = { closing: false, inFlight: 0, requests: 0 };
  answerErrors(app, o);
  countRequests(app, o, state);
  infoRoutes(app, o, batcher, threshold, state);
  entitiesRoute(app, o, batcher, threshold);
  return listen(app, o, batcher, state);
}

type Settings = ReturnType<typeof serveSettings>;

/** What the routes and close() share: refusing new requests, and the requests counted (all, and not yet answered). */
interface ServeState {
  closing: boolean;
  inFlight: number;
  requests: number;
}

/** The options over the defaults, with the deadlines checked. */
function serveSettings(opts: ServeOptions) {
  const o = { ...DEFAULTS, ...opts };
  if (!(Number.isInteger(o.continuousRows) && o.continuousRows >= 0))
    throw new Error(`startServer: continuousRows must be a non-negative integer, got ${o.continuousRows}`);
  for (const k of ['headerTimeoutMs', 'requestTimeoutMs', 'idleTimeoutMs'] as const)
    if (!(Number.isInteger(o[k]) && o[k] >= 1))
      throw new Error(`startServer: ${k} must be a positive integer, got ${o[k]}`);
  // The headers are part of the request: a header deadline after the request's would never apply.
  if (o.headerTimeoutMs > o.requestTimeoutMs)
    throw new Error(
      `startServer: the header timeout (${o.headerTimeoutMs} ms) must not exceed the request timeout (${o.requestTimeoutMs} ms)`,
    );
  return o;
}

/** Fastify with the body limit, strict schemas and the slow-client deadlines, answering malformed HTTP itself. */
function createApp(o: Settings): FastifyInstance {
  const timedOut = `request not received in time (headers within ${o.headerTimeoutMs} ms, the whole request within ${o.requestTimeoutMs} ms)`;
  // Types are checked, never coerced (a number is not a text); unknown fields are refused, not silently dropped.
  return Fastify({
    bodyLimit: o.maxBodyBytes,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    // Slow clients: Node answers 408 and closes a connection whose headers or request are late (checked every
    // connectionsCheckingInterval, 30 s by default: far too coarse for these deadlines), and closes a kept-alive one
    // idle for keepAliveTimeout. Fastify turns both requestTimeout and keepAliveTimeout off or up by default.
    requestTimeout: o.requestTimeoutMs,
    keepAliveTimeout: o.idleTimeoutMs,
    http: {
      headersTimeout: o.headerTimeoutMs,
      connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(o.headerTimeoutMs / 4))),
    },
    clientErrorHandler: (err: Error & { code?: string }, socket: Socket) => {
      if (err.code === 'ECONNRESET' || socket.destroyed) return;
      const [status, message] =
        err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, timedOut]
          : err.code === 'HPE_HEADER_OVERFLOW'
            ? [431, 'request headers too large']
            : [400, `malformed HTTP request (${err.code ?? err.message})`];
      const body = JSON.stringify({ error: message });
      // Never after an answer has started on this connection: the raw bytes would corrupt it.
      const answering = (socket as { _httpMessage?: http.ServerResponse })._httpMessage?.headersSent === true;
      if (socket.writable && !answering)
        socket.end(
          `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
            `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
      else socket.destroy();
    },
  });
}

function acceptUtf8Json(app: FastifyInstance): void {
  app.removeContentTypeParser('text/plain'); // JSON only: a text body is 415, not a string that fails the schema
  // JSON as bytes, checked to be UTF-8 before it is parsed: decoding would turn invalid bytes into U+FFFD and tag
  // text the client never sent (the CLI refuses such input files too).
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
    const buf = body as Buffer;
    const bad = firstInvalidUtf8(buf);
    if (bad >= 0) {
      const byte = (buf[bad] as number).toString(16).padStart(2, '0');
      const e = new Error(
        `request body is not valid UTF-8 (byte 0x${byte} at offset ${bad}); send JSON encoded as UTF-8`,
      ) as FastifyError;
      e.statusCode = 400;
      return done(e, undefined);
    }
    const text = buf.toString('utf8');
    parseJson(req, text, (err, value) => {
      // Fastify refuses these keys (prototype poisoning) with a generic "not valid JSON": say what it is.
      if (err && /"(__proto__|constructor)"\s*:/.test(text)) {
        const e = new Error('the keys "__proto__" and "constructor" are not allowed in the body') as FastifyError;
        e.statusCode = 400;
        return done(e, undefined);
      }
      done(err, value);
    });
  });
}

/** Every error as {"error": ...}, in words a client can act on. */
function answerErrors(app: FastifyInstance, o: Settings): void {
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
}

/** Refuses requests once closing; counts the others until their response closes; adds the CORS header. */
function countRequests(app: FastifyInstance, o: Settings, state: ServeState): void {
  app.addHook('onRequest', async (req, reply) => {
    if (state.closing) {
      void reply
        .status(503)
        .header('retry-after', String(o.retryAfterS))
        .header('connection', 'close')
        .send({ error: 'the server is shutting down' });
      return reply;
    }
    state.inFlight++;
    state.requests++;
    // The response's 'close' comes once, answered or not: a client that hangs up before its answer (a load tester
    // stopping) must not leave a count that a graceful close would wait on forever.
    reply.raw.once('close', () => state.inFlight--);
    if (o.corsOrigin) void reply.header('access-control-allow-origin', o.corsOrigin).header('vary', 'Origin');
    return undefined;
  });
}

/** The page, /health, /v1/model, /v1/stats and the CORS preflight. */
function infoRoutes(
  app: FastifyInstance,
  o: Settings,
  batcher: Batcher<string, NerEntity[]>,
  threshold: number,
  state: ServeState,
): void {
  const model = o.model;
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
    const base = model.info.baseModel;
    return {
      model: s.repoId ? `${s.repoId}${s.commit ? `@${s.commit}` : ''}` : folderName(s.path),
      source: publicSource(s, o.showModelPath),
      baseModel: base ? publicSource(base, o.showModelPath) : null,
      types: model.info.types,
      labels,
      prefix: model.info.prefix,
      decode: model.info.decode,
      score: { temperature: model.info.score.temperature, threshold, calibrated: scoreCalibration(model.info.score) },
      maxSourceTokens: model.info.maxSourceTokens,
      overlapTokens: model.info.overlapTokens,
      limits: { maxBodyBytes: o.maxBodyBytes, maxTexts: o.maxTexts, maxChars: o.maxChars },
      timeouts: { headerMs: o.headerTimeoutMs, requestMs: o.requestTimeoutMs, idleMs: o.idleTimeoutMs },
      batching: {
        maxBatch: o.maxBatch,
        maxWaitMs: o.maxWaitMs,
        maxQueue: o.maxQueue,
        continuousRows: o.continuousRows,
      },
    };
  });

  app.get('/v1/stats', async () => ({ ...batcher.stats(), requests: state.requests, inFlight: state.inFlight }));

  if (o.corsOrigin) {
    app.options('/v1/entities', async (_req, reply) =>
      reply
        .status(204)
        .header('access-control-allow-methods', 'POST')
        .header('access-control-allow-headers', 'content-type')
        .send(),
    );
  }
}

/** POST /v1/entities: the texts through the shared batcher, each result thresholded and shaped for its request. */
function entitiesRoute(
  app: FastifyInstance,
  o: Settings,
  batcher: Batcher<string, NerEntity[]>,
  threshold: number,
): void {
  app.post<{
    Body: { texts: string[]; offsets?: 'utf16' | 'codepoints'; threshold?: number };
    Querystring: { format?: OutputFormat };
  }>(
    '/v1/entities',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { format: { type: 'string', enum: [...OUTPUT_FORMATS] } },
        },
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
            threshold: { type: 'number', minimum: 0, maximum: 1 },
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
        const t = req.body.threshold ?? threshold;
        const format = req.query.format ?? 'cyclener';
        return {
          results: results.map((es, i) => shape(texts[i] as string, aboveThreshold(es, t), format, offsets)),
        };
      } catch (e) {
        if (e instanceof QueueFullError || e instanceof ClosingError)
          return reply.status(503).header('retry-after', String(o.retryAfterS)).send({ error: e.message });
        throw e;
      }
    },
  );
}

/** Listens, and hands back the server with its graceful close. */
async function listen(
  app: FastifyInstance,
  o: Settings,
  batcher: Batcher<string, NerEntity[]>,
  state: ServeState,
): Promise<Server> {
  await app.listen({ host: o.host, port: o.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.port;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  let closed: Promise<void> | null = null;
  return {
    url: `http://${host}:${port}`,
    port,
    app,
    stats: () => ({ ...batcher.stats(), requests: state.requests, inFlight: state.inFlight }),
    close: () => {
      closed ??= (async () => {
        state.closing = true;
        await batcher.drain();
        // Answers of the drained batches are still being written: wait until every counted request has responded.
        while (state.inFlight > 0) await new Promise((r) => setTimeout(r, 5));
        await app.close();
      })();
      return closed;
    },
  };
}
