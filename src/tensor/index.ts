// Public API of the tensor engine (see docs/engine-api.md). Model code imports only from here.
export type { DType, Device, Shape } from './dtype';
export { Tensor, isTensor } from './tensor';
export type { CreateOptions, TensorData, NestedNumbers } from './create';
export { tensor, fromBuffer, zeros, ones, full, arange, randn, rand, randint, zerosLike, onesLike } from './create';
export type { CrossEntropyOptions } from './functions';
export {
  cat,
  stack,
  where,
  triu,
  tril,
  linear,
  matmul,
  embedding,
  dropout,
  uniformDropout,
  crossEntropy,
  rmsNorm,
  softmax,
  logSoftmax,
  attention,
} from './functions';
export {
  tidy,
  dispose,
  noGrad,
  enableGrad,
  isGradEnabled,
  autocast,
  autocastDtype,
  liveTensors,
  memoryStats,
} from './scope';
export {
  setNumThreads,
  getNumThreads,
  defaultThreads,
  physicalCores,
  manualSeed,
  getRngState,
  setRngState,
  cudaAvailable,
  defaultDevice,
  setDefaultDevice,
  getDefaultDevice,
  blasLibraries,
  config,
  governThreads,
  onThreadChange,
  allocator,
  setCrashPrefix,
  setCrashContext,
  setCrashHint,
  crashHandlerInstalled,
  profileStart,
  profileStop,
  type ProfileRow,
} from './runtime';
export { waitMode, ompWaitPolicy, governThreadCount, type GovernorState, type WaitMode } from './threads';
export type { OptimizerStateDict, AdamWOptions, AdafactorOptions } from './optim';
export { AdamW, Adafactor, clipGradNorm } from './optim';
export * as schedules from './schedules';
export * as dist from './dist';

import type { Tensor } from './tensor';
/** Same as t.keep(): t survives every enclosing tidy(). */
export function keep<T extends Tensor>(t: T): T {
  return t.keep();
}
