// A model reference in the library API: a local directory, or a Hugging Face Hub id (`org/name@revision`) resolved
// into the shared cache (src/hub), as every CLI flag that takes a model accepts.

import * as fs from 'node:fs';
import { parseModelId, resolveModel } from '../hub';

export async function modelDir(ref: string, log?: (line: string) => void): Promise<string> {
  if (fs.existsSync(ref)) return ref;
  if (!parseModelId(ref)) throw new Error(`${ref}: no such model directory, and not a Hugging Face Hub id`);
  return (await resolveModel(ref, log ? { log } : {})).dir;
}
