// Every flag that takes a model directory also takes a Hugging Face Hub id (src/hub): one resolver for all of them,
// shared with the library (api/model-ref.ts:modelRefDir).

import { modelRefDir } from '../api/model-ref';
import type { Io } from './registry';

/** The model directory for a flag's value (a local path, or a Hub id downloaded into the shared cache). */
export async function modelDirArg(value: string | undefined, flag: string, io?: Io): Promise<string | undefined> {
  if (value === undefined) return undefined;
  return modelRefDir(value, flag, io ? (l) => io.err(l) : undefined);
}
