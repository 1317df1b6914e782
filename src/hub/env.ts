// Hub settings from the environment, read the way huggingface_hub (Python) reads them, so that both share one cache
// and one token: HF_HUB_CACHE > HF_HOME/hub > $XDG_CACHE_HOME/huggingface/hub > ~/.cache/huggingface/hub.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HubError, type HubTimeouts } from './http';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';
export const DEFAULT_TIMEOUTS: HubTimeouts = { connectS: 10, readS: 30 };

export interface HubSettings {
  cacheDir: string;
  endpoint: string;
  token: string | null;
  offline: boolean;
  /** CYCLENER_HUB_CONNECT_TIMEOUT and CYCLENER_HUB_TIMEOUT, in seconds. */
  timeouts: HubTimeouts;
}

type Env = Record<string, string | undefined>;

function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p;
}

/** huggingface_hub's truthy values for boolean variables. */
export function envFlag(v: string | undefined): boolean {
  return v !== undefined && ['1', 'ON', 'YES', 'TRUE'].includes(v.trim().toUpperCase());
}

/** A positive number of seconds from `name`, or `dflt` when it is unset or empty. */
function seconds(env: Env, name: string, dflt: number): number {
  const v = env[name];
  if (v === undefined || v.trim() === '') return dflt;
  const n = Number(v);
  if (!(Number.isFinite(n) && n > 0))
    throw new HubError('settings', `${name} must be a number of seconds > 0, got "${v}"`);
  return n;
}

export function hfHome(env: Env = process.env): string {
  return expandHome(env.HF_HOME || path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'huggingface'));
}

export function hubSettings(env: Env = process.env): HubSettings {
  const home = hfHome(env);
  // HUGGINGFACE_HUB_CACHE / HUGGING_FACE_HUB_TOKEN: the older names, still honoured by huggingface_hub.
  const cacheDir = expandHome(env.HF_HUB_CACHE || env.HUGGINGFACE_HUB_CACHE || path.join(home, 'hub'));
  let token = (env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || '').trim() || null;
  if (!token) {
    const file = expandHome(env.HF_TOKEN_PATH || path.join(home, 'token'));
    try {
      token = fs.readFileSync(file, 'utf8').trim() || null;
    } catch {
      token = null;
    }
  }
  const endpoint = (env.HF_ENDPOINT || DEFAULT_ENDPOINT).replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]/i.test(endpoint))
    throw new HubError('settings', `HF_ENDPOINT must be an http:// or https:// URL, got "${env.HF_ENDPOINT}"`);
  const timeouts = {
    connectS: seconds(env, 'CYCLENER_HUB_CONNECT_TIMEOUT', DEFAULT_TIMEOUTS.connectS),
    readS: seconds(env, 'CYCLENER_HUB_TIMEOUT', DEFAULT_TIMEOUTS.readS),
  };
  return { cacheDir, endpoint, token, offline: envFlag(env.HF_HUB_OFFLINE), timeouts };
}
