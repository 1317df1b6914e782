// Tensor creation from JS data and factory functions.
import { N } from './native';
import { DType, Device, Shape, UINT8_CODE, dtypeCode, deviceCode, isFloating } from './dtype';
import { Tensor } from './tensor';
import { defaultDevice } from './runtime';

export interface CreateOptions {
  dtype?: DType;
  device?: Device;
  requiresGrad?: boolean;
}

export type NestedNumbers = ReadonlyArray<number | NestedNumbers>;
export type TensorData = NestedNumbers | Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

function finish(id: number, requiresGrad: boolean | undefined): Tensor {
  const t = new Tensor(id);
  if (requiresGrad) t.setRequiresGrad(true);
  return t;
}

function dev(d: Device | undefined): number {
  return deviceCode(d ?? defaultDevice);
}

/** Shape and flat values of a (possibly nested) number array; ragged input is an error. */
function flattenNested(data: NestedNumbers): { shape: number[]; flat: number[] } {
  const shape: number[] = [];
  let level: unknown = data;
  while (Array.isArray(level)) {
    shape.push(level.length);
    level = level[0];
  }
  const flat: number[] = [];
  const walk = (x: unknown, depth: number): void => {
    if (depth === shape.length) {
      if (typeof x !== 'number') throw new Error('tensor(): ragged or non-numeric nested array');
      flat.push(x);
      return;
    }
    if (!Array.isArray(x) || x.length !== shape[depth]) throw new Error('tensor(): ragged nested array');
    for (const v of x) walk(v, depth + 1);
  };
  walk(data, 0);
  return { shape, flat };
}

/**
 * A tensor from JS data (copied). number arrays default to float32, Int32Array to int32,
 * BigInt64Array to int64, Uint8Array to bool; `dtype` converts. Shape defaults to the data's.
 */
export function tensor(
  data: TensorData,
  shape?: Shape,
  dtype?: DType,
  opts: Omit<CreateOptions, 'dtype'> = {},
): Tensor {
  let src: ArrayBufferView;
  let srcCode: number;
  let inferred: number[];
  let dflt: DType;
  if (data instanceof Float32Array) {
    src = data;
    srcCode = 0;
    dflt = 'float32';
    inferred = [data.length];
  } else if (data instanceof Float64Array) {
    src = data;
    srcCode = 1;
    dflt = 'float64';
    inferred = [data.length];
  } else if (data instanceof Int32Array) {
    src = data;
    srcCode = 5;
    dflt = 'int32';
    inferred = [data.length];
  } else if (data instanceof BigInt64Array) {
    src = data;
    srcCode = 4;
    dflt = 'int64';
    inferred = [data.length];
  } else if (data instanceof Uint8Array) {
    src = data;
    srcCode = UINT8_CODE;
    dflt = 'bool';
    inferred = [data.length];
  } else if (Array.isArray(data)) {
    const { shape: s, flat } = flattenNested(data);
    inferred = s;
    dflt = 'float32';
    const target = dtype ?? dflt;
    // float64 keeps integers exact up to 2^53 for int64/int32 targets.
    if (target === 'float32' || (isFloating(target) && target !== 'float64')) {
      src = Float32Array.from(flat);
      srcCode = 0;
    } else {
      src = Float64Array.from(flat);
      srcCode = 1;
    }
  } else {
    throw new Error('tensor(): data must be a number array or a typed array');
  }
  const target = dtype ?? dflt;
  return finish(N.fromBytes(src, srcCode, shape ?? inferred, dtypeCode(target), dev(opts.device)), opts.requiresGrad);
}

/** Raw little-endian bytes (e.g. a safetensors slice; bf16 included), copied; any alignment. */
export function fromBuffer(
  bytes: Uint8Array,
  dtype: DType,
  shape: Shape,
  opts: Omit<CreateOptions, 'dtype'> = {},
): Tensor {
  const code = dtypeCode(dtype);
  return finish(N.fromBytes(bytes, code, shape, code, dev(opts.device)), opts.requiresGrad);
}

export function zeros(shape: Shape, opts: CreateOptions = {}): Tensor {
  return finish(N.zeros(shape, dtypeCode(opts.dtype ?? 'float32'), dev(opts.device)), opts.requiresGrad);
}
export function ones(shape: Shape, opts: CreateOptions = {}): Tensor {
  return finish(N.ones(shape, dtypeCode(opts.dtype ?? 'float32'), dev(opts.device)), opts.requiresGrad);
}
export function full(shape: Shape, value: number, opts: CreateOptions = {}): Tensor {
  return finish(N.full(shape, value, dtypeCode(opts.dtype ?? 'float32'), dev(opts.device)), opts.requiresGrad);
}
/** arange(end) or arange(start, end, step); int64 when all arguments are integers (as torch). */
export function arange(start: number, end?: number, step = 1, opts: CreateOptions = {}): Tensor {
  const [s, e] = end === undefined ? [0, start] : [start, end];
  const ints = Number.isInteger(s) && Number.isInteger(e) && Number.isInteger(step);
  const dtype = opts.dtype ?? (ints ? 'int64' : 'float32');
  return finish(N.arange(s, e, step, dtypeCode(dtype), dev(opts.device)), opts.requiresGrad);
}
/** Standard normal samples from the global (seedable) generator. */
export function randn(shape: Shape, opts: CreateOptions = {}): Tensor {
  return finish(N.randn(shape, dtypeCode(opts.dtype ?? 'float32'), dev(opts.device)), opts.requiresGrad);
}
/** Uniform [0, 1) samples from the global (seedable) generator. */
export function rand(shape: Shape, opts: CreateOptions = {}): Tensor {
  return finish(N.rand(shape, dtypeCode(opts.dtype ?? 'float32'), dev(opts.device)), opts.requiresGrad);
}
/** Uniform integers in [low, high) from the global generator; int64 unless dtype says otherwise. */
export function randint(low: number, high: number, shape: Shape, opts: CreateOptions = {}): Tensor {
  return finish(N.randint(low, high, shape, dtypeCode(opts.dtype ?? 'int64'), dev(opts.device)), opts.requiresGrad);
}
export function zerosLike(t: Tensor, opts: CreateOptions = {}): Tensor {
  return zeros(t.shape, { dtype: t.dtype, device: t.device, ...opts });
}
export function onesLike(t: Tensor, opts: CreateOptions = {}): Tensor {
  return ones(t.shape, { dtype: t.dtype, device: t.device, ...opts });
}
