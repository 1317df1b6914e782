// Scoped disposal. Native tensors are freed deterministically by tidy()/dispose(); the GC finalizer
// (see tensor.ts) is only a safety net, because V8 does not see native memory and will not collect
// fast enough in a synchronous training loop.
import { N } from './native';
import { dtypeCode } from './dtype';

/** Marks objects that tidy() should look for in a result. */
export const TRACKED = Symbol('cyclener.tensor');

export interface Tracked {
  readonly [TRACKED]: true;
  readonly isDisposed: boolean;
  /** true once keep() was called: no scope disposes it. */
  readonly isKept: boolean;
  dispose(): void;
  /** Called when the tensor leaves scope management (returned from the outermost tidy): arm the GC safety net. */
  untracked(): void;
}

const scopes: Tracked[][] = [];

/** Called by the Tensor constructor: registers the tensor with the innermost tidy() scope; false if none. */
export function track(t: Tracked): boolean {
  const n = scopes.length;
  if (n === 0) return false;
  scopes[n - 1]!.push(t);
  return true;
}

function isTracked(x: unknown): x is Tracked {
  return typeof x === 'object' && x !== null && (x as { [TRACKED]?: unknown })[TRACKED] === true;
}

/** Tensors reachable from a tidy() result (tensor, arrays, plain objects, nested). */
function collect(x: unknown, out: Set<Tracked>, depth: number): void {
  if (depth > 16 || typeof x !== 'object' || x === null) return;
  if (isTracked(x)) {
    out.add(x);
    return;
  }
  if (Array.isArray(x)) {
    for (const v of x) collect(v, out, depth + 1);
    return;
  }
  const proto = Object.getPrototypeOf(x) as unknown;
  if (proto === Object.prototype || proto === null) {
    for (const v of Object.values(x as Record<string, unknown>)) collect(v, out, depth + 1);
  } else if (x instanceof Map) {
    for (const v of x.values()) collect(v, out, depth + 1);
  }
}

/**
 * Runs fn; every tensor created inside is disposed at the end except those reachable from the result
 * (they move to the enclosing scope) and those kept. If fn throws, everything created inside is disposed.
 * fn must be synchronous: a Promise result is rejected because its tensors would outlive the scope.
 */
export function tidy<R>(fn: () => R): R {
  const scope: Tracked[] = [];
  scopes.push(scope);
  let result: R;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    for (const t of scope) if (!t.isKept) t.dispose();
    throw e;
  }
  scopes.pop();
  if (result instanceof Promise) {
    for (const t of scope) if (!t.isKept) t.dispose();
    throw new Error('tidy(): fn must be synchronous (it returned a Promise)');
  }
  const returned = new Set<Tracked>();
  collect(result, returned, 0);
  const parent = scopes.length > 0 ? scopes[scopes.length - 1]! : null;
  for (const t of scope) {
    if (t.isKept || t.isDisposed) continue;
    if (returned.has(t)) {
      if (parent) parent.push(t);
      else t.untracked();
      continue;
    }
    t.dispose();
  }
  return result;
}

/** Disposes a tensor, or every tensor in an array / record (nested). Disposed ones are skipped. */
export function dispose(x: unknown): void {
  const all = new Set<Tracked>();
  collect(x, all, 0);
  for (const t of all) t.dispose();
}

/** Runs fn with autograd recording off (torch.no_grad()). */
export function noGrad<R>(fn: () => R): R {
  const prev = N.setGradEnabled(false);
  try {
    return fn();
  } finally {
    N.setGradEnabled(prev);
  }
}

/** Runs fn with autograd recording on, e.g. inside a noGrad() scope. */
export function enableGrad<R>(fn: () => R): R {
  const prev = N.setGradEnabled(true);
  try {
    return fn();
  } finally {
    N.setGradEnabled(prev);
  }
}

export function isGradEnabled(): boolean {
  return N.isGradEnabled();
}

/**
 * Mixed-precision scope: matmul/linear/bmm run in bf16 (CPU autocast; CUDA autocast too when libtorch
 * has CUDA), reductions/softmax/losses in fp32, exactly as torch.autocast. The bf16 weight-cast cache
 * is cleared when the outermost scope exits.
 */
export function autocast<R>(fn: () => R, dtype: 'bfloat16' = 'bfloat16'): R {
  N.autocastEnter(dtypeCode(dtype));
  autocastStack.push(dtype);
  try {
    return fn();
  } finally {
    autocastStack.pop();
    N.autocastExit();
  }
}

const autocastStack: 'bfloat16'[] = [];

/** The dtype of the innermost autocast() scope, or null outside one. */
export function autocastDtype(): 'bfloat16' | null {
  return autocastStack.length > 0 ? autocastStack[autocastStack.length - 1]! : null;
}

export function liveTensors(): number {
  return N.liveTensors();
}

export function memoryStats(): { liveTensors: number; rssBytes: number } {
  return { liveTensors: N.liveTensors(), rssBytes: process.memoryUsage.rss() };
}
