// Dtype/device names and the integer codes the addon uses (native/src/common.h).
export type DType = 'float32' | 'float64' | 'bfloat16' | 'float16' | 'int64' | 'int32' | 'bool';
export type Device = 'cpu' | 'cuda';
export type Shape = readonly number[];

const CODES: Record<DType, number> = {
  float32: 0,
  float64: 1,
  bfloat16: 2,
  float16: 3,
  int64: 4,
  int32: 5,
  bool: 6,
};
const NAMES: readonly DType[] = ['float32', 'float64', 'bfloat16', 'float16', 'int64', 'int32', 'bool'];
/** Raw uint8 source data (Uint8Array input); not a user-facing dtype. */
export const UINT8_CODE = 7;

export function dtypeCode(d: DType): number {
  const c = CODES[d];
  if (c === undefined) throw new Error(`unknown dtype '${String(d)}'`);
  return c;
}

export function dtypeFromCode(c: number): DType {
  const d = NAMES[c];
  if (d === undefined) throw new Error(`tensor has a dtype this API does not expose (code ${c})`);
  return d;
}

export function deviceCode(d: Device): number {
  if (d === 'cpu') return 0;
  if (d === 'cuda') return 1;
  throw new Error(`unknown device '${String(d)}'`);
}

export function deviceFromCode(c: number): Device {
  return c === 1 ? 'cuda' : 'cpu';
}

export function isFloating(d: DType): boolean {
  return d === 'float32' || d === 'float64' || d === 'bfloat16' || d === 'float16';
}
