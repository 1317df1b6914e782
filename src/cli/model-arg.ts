// Every flag that takes a model directory also takes a Hugging Face Hub id (src/hub): one resolver for all of them.

import * as fs from 'node:fs';
import { HubError, parseModelId, resolveModel } from '../hub';
import * as T from '../tensor';
import { UsageError } from './args';
import type { Io } from './registry';

/** The model directory for a flag's value (a local path, or a Hub id downloaded into the shared cache). */
export async function modelDirArg(value: string | undefined, flag: string, io?: Io): Promise<string | undefined> {
  if (value === undefined) return undefined;
  // A path that cannot be a Hub id is left to the command, whose own checks name what is wrong with it.
  if (!fs.existsSync(value) && !parseModelId(value)) return value;
  const resolve = async () => (await resolveModel(value, io ? { log: (l) => io.err(l) } : {})).dir;
  try {
    // Workers of one job share the cache: rank 0 downloads, the others find it there afterwards (a download is not
    // safe to run twice at once).
    if (T.dist.info() === null || fs.existsSync(value)) return await resolve();
    const first = T.dist.rank() === 0 ? await resolve() : null;
    await T.dist.barrier();
    return first ?? (await resolve());
  } catch (e) {
    // Not found, refused, not cached offline: the argument is wrong (exit 2); a network failure is not (exit 1).
    if (e instanceof HubError && e.kind !== 'network') throw new UsageError(`${flag} ${e.message}`);
    // A typo'd local folder name ("mdoel") looks like a Hub id too: say that no such folder exists first. (An
    // org/name id is left as it is: that is what Hub ids look like.)
    if (e instanceof HubError && !value.includes('/') && !fs.existsSync(value))
      throw new HubError(e.kind, `${flag} ${value}: no such local folder, and as a Hub id: ${e.message}`);
    throw e;
  }
}
