// A model reference in the library API: a local directory, or a Hugging Face Hub id (`org/name@revision`) resolved
// into the shared cache (src/hub), as every CLI flag that takes a model accepts.

import * as fs from 'node:fs';
import { HubError, parseModelId, resolveModel } from '../hub';
import * as T from '../tensor';
import { UsageError } from '../util/errors';

export async function modelDir(ref: string, log?: (line: string) => void): Promise<string> {
  if (fs.existsSync(ref)) return ref;
  if (!parseModelId(ref)) throw new Error(`${ref}: no such model directory, and not a Hugging Face Hub id`);
  return (await resolveModel(ref, log ? { log } : {})).dir;
}

/**
 * The directory a model option names (`label`: the flag or option, for messages): a local path, or a Hub id
 * downloaded into the shared cache. A path that cannot be a Hub id is returned as it is, for the caller's own checks to
 * name what is wrong with it. The CLI's model flags (cli/model-arg.ts) and the library's run entries use it.
 */
export async function modelRefDir(value: string, label: string, log?: (line: string) => void): Promise<string> {
  if (!fs.existsSync(value) && !parseModelId(value)) return value;
  const resolve = async () => (await resolveModel(value, log ? { log } : {})).dir;
  try {
    // Workers of one job share the cache: rank 0 downloads, the others find it there afterwards (a download is not
    // safe to run twice at once).
    if (T.dist.info() === null || fs.existsSync(value)) return await resolve();
    const first = T.dist.rank() === 0 ? await resolve() : null;
    await T.dist.barrier();
    return first ?? (await resolve());
  } catch (e) {
    // Not found, refused, not cached offline: the argument is wrong (exit 2); a network failure is not (exit 1).
    if (e instanceof HubError && e.kind !== 'network') throw new UsageError(`${label} ${e.message}`);
    // A typo'd local folder name ("mdoel") looks like a Hub id too: say that no such folder exists first. (An
    // org/name id is left as it is: that is what Hub ids look like.)
    if (e instanceof HubError && !value.includes('/') && !fs.existsSync(value))
      throw new HubError(e.kind, `${label} ${value}: no such local folder, and as a Hub id: ${e.message}`);
    throw e;
  }
}
