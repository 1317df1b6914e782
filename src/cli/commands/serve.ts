// `cyclener serve`: tag text over HTTP (JSON API and a web page) with one model; see docs/serve.md.

import { NerModel } from '../../api/ner-model';
import { startServer } from '../../serve/server';
import { AT_LEAST_1, FRACTION, NON_NEGATIVE, UsageError, type ParsedArgs } from '../args';
import { modelDirArg } from '../model-arg';
import { registerCommand, type Io } from '../registry';
import { num, PRECISION_FLAG, precisionOf, str } from '../common';

registerCommand({
  name: 'serve',
  summary: 'serve an S2E model over HTTP: POST /v1/entities, GET /health, GET /v1/model, and a web page at /',
  flags: {
    model: { type: 'string', arg: 'DIR|HUB_ID', help: "S2E model directory, a run's best/, or a run", required: true },
    host: {
      type: 'string',
      arg: 'HOST',
      help: 'address to listen on (0.0.0.0 for every interface)',
      default: '127.0.0.1',
    },
    port: { type: 'int', arg: 'N', help: 'port (0 = any free port)', default: 8080, range: { min: 0, max: 65535 } },
    threads: {
      type: 'int',
      arg: 'N',
      help: 'intra-op threads (default: CYCLENER_THREADS or physical cores)',
      range: AT_LEAST_1,
    },
    'max-batch': { type: 'int', arg: 'N', help: 'texts per model batch', default: 32, range: AT_LEAST_1 },
    'max-wait-ms': {
      type: 'int',
      arg: 'MS',
      help: 'longest a text waits for its batch to fill',
      default: 10,
      range: NON_NEGATIVE,
    },
    'continuous-rows': {
      type: 'int',
      arg: 'N',
      help: "continuous batching: decode concurrent requests' batches in one running batch of up to N rows that admits new sentences as others finish (0 = off: one batch at a time)",
      default: 0,
      range: NON_NEGATIVE,
    },
    'max-queue': {
      type: 'int',
      arg: 'N',
      help: 'texts waiting for the model before requests get 503 + Retry-After',
      default: 256,
      range: AT_LEAST_1,
    },
    'max-texts': { type: 'int', arg: 'N', help: 'texts per request', default: 64, range: AT_LEAST_1 },
    'max-chars': {
      type: 'int',
      arg: 'N',
      help: 'characters per text (longer texts are split for the model, never truncated)',
      default: 100000,
      range: AT_LEAST_1,
    },
    'max-body-bytes': { type: 'int', arg: 'N', help: 'request body size', default: 1048576, range: AT_LEAST_1 },
    'cors-origin': {
      type: 'string',
      arg: 'ORIGIN',
      help: 'allow browser calls from this origin (CORS is off by default)',
    },
    'header-timeout-ms': {
      type: 'int',
      arg: 'MS',
      help: "longest a client may take to send a request's headers (then 408, connection closed)",
      default: 10000,
      range: AT_LEAST_1,
    },
    'request-timeout-ms': {
      type: 'int',
      arg: 'MS',
      help: 'longest a client may take to send a whole request, body included (then 408); not the time on the model',
      default: 30000,
      range: AT_LEAST_1,
    },
    'idle-timeout-ms': {
      type: 'int',
      arg: 'MS',
      help: 'a kept-alive connection idle this long between requests is closed',
      default: 5000,
      range: AT_LEAST_1,
    },
    'show-model-path': {
      type: 'boolean',
      help: "show the model's filesystem path in GET /v1/model (default: its folder name or Hub id only)",
    },
    'no-ground': { type: 'boolean', help: 'plain decoding: S2E may emit any text (grounded decoding is the default)' },
    'max-new-tokens': {
      type: 'int',
      arg: 'N',
      help: 'longest entity sequence of one piece, in tokens',
      default: 128,
      range: AT_LEAST_1,
    },
    beams: { type: 'int', arg: 'N', help: 'beam width (1 = greedy)', default: 1, range: AT_LEAST_1 },
    'max-source-tokens': {
      type: 'int',
      arg: 'N',
      help: "the model's input limit; longer texts are split into sentences and overlapping windows",
      default: 192,
      range: { min: 8 },
    },
    threshold: {
      type: 'number',
      arg: 'T',
      help: "drop entities scored below T unless a request sends its own threshold (default: the model's recorded threshold, else 0)",
      range: FRACTION,
    },
    ...PRECISION_FLAG,
  },
  details:
    'Runs until SIGTERM or SIGINT: then new requests get 503, requests already received finish, and the process exits 0.',
  async run(args: ParsedArgs, io: Io): Promise<number> {
    const f = args.flags;
    if ((num(f['header-timeout-ms']) as number) > (num(f['request-timeout-ms']) as number))
      throw new UsageError(
        `--header-timeout-ms ${num(f['header-timeout-ms'])} must not exceed --request-timeout-ms ${num(f['request-timeout-ms'])} (the headers are part of the request)`,
      );
    const dir = (await modelDirArg(str(f.model), '--model', io)) as string;
    let model: NerModel;
    try {
      model = await NerModel.load(dir, {
        ...(num(f.threads) !== undefined ? { threads: num(f.threads) as number } : {}),
        grounded: f['no-ground'] !== true,
        maxNewTokens: num(f['max-new-tokens']) as number,
        numBeams: num(f.beams) as number,
        precision: precisionOf(f),
        maxSourceTokens: num(f['max-source-tokens']) as number,
        ...(num(f.threshold) !== undefined ? { threshold: num(f.threshold) as number } : {}),
      });
    } catch (e) {
      throw new UsageError(`--model ${(e as Error).message}`);
    }
    try {
      const server = await startServer({
        model,
        host: str(f.host) as string,
        port: num(f.port) as number,
        maxBatch: num(f['max-batch']) as number,
        maxWaitMs: num(f['max-wait-ms']) as number,
        maxQueue: num(f['max-queue']) as number,
        continuousRows: num(f['continuous-rows']) as number,
        maxTexts: num(f['max-texts']) as number,
        maxChars: num(f['max-chars']) as number,
        maxBodyBytes: num(f['max-body-bytes']) as number,
        headerTimeoutMs: num(f['header-timeout-ms']) as number,
        requestTimeoutMs: num(f['request-timeout-ms']) as number,
        idleTimeoutMs: num(f['idle-timeout-ms']) as number,
        showModelPath: f['show-model-path'] === true,
        ...(str(f['cors-origin']) ? { corsOrigin: str(f['cors-origin']) as string } : {}),
      });
      io.out(
        `serving ${model.info.dir} on ${server.url} (types ${model.info.types.join(', ')}); SIGTERM or Ctrl-C stops it`,
      );
      await new Promise<void>((resolve) => {
        const stop = (sig: NodeJS.Signals) => {
          process.off('SIGTERM', stop);
          process.off('SIGINT', stop);
          io.err(`${sig}: finishing ${server.stats().inFlight} request(s) in flight, refusing new ones`);
          void server.close().then(resolve);
        };
        process.on('SIGTERM', stop);
        process.on('SIGINT', stop);
      });
      const s = server.stats();
      io.err(`stopped: ${s.requests} requests, ${s.items} texts in ${s.batches} batches`);
      return 0;
    } finally {
      model.dispose();
    }
  },
});
