// Process-wide engine settings: threads, RNG, default device, configuration report.
import { N, defaultThreads, physicalCores } from './native';
import { Device } from './dtype';

export { defaultThreads, physicalCores };

export function setNumThreads(n: number): void { N.setNumThreads(n); }
export function getNumThreads(): number { return N.getNumThreads(); }

/** Seeds the global CPU generator (and every CUDA generator when present). */
export function manualSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`manualSeed: expected a non-negative integer, got ${seed}`);
  N.manualSeed(seed);
}

/** Opaque snapshot of the global generators, for exact resume. */
export function getRngState(): Uint8Array { return new Uint8Array(N.getRngState()); }
export function setRngState(s: Uint8Array): void { N.setRngState(s); }

export function cudaAvailable(): boolean { return N.cudaAvailable(); }

/** Device that creation functions use when none is given. */
export let defaultDevice: Device = 'cpu';
export function setDefaultDevice(d: Device): void {
  if (d === 'cuda' && !N.cudaAvailable()) throw new Error('setDefaultDevice: CUDA is not available in this libtorch build');
  if (d !== 'cpu' && d !== 'cuda') throw new Error(`setDefaultDevice: unknown device '${String(d)}'`);
  defaultDevice = d;
}
export function getDefaultDevice(): Device { return defaultDevice; }

/** Shared libraries mapped into this process whose name says BLAS/LAPACK/MKL. */
export function blasLibraries(): string[] { return N.blasLibraries(); }

/** at::show_config(), plus the BLAS libraries actually loaded and the thread count. */
export function config(): string {
  return [
    N.showConfig().trimEnd(),
    `BLAS libraries loaded: ${N.blasLibraries().join(', ') || '(none)'}`,
    `intra-op threads: ${N.getNumThreads()}`,
    `CUDA available: ${N.cudaAvailable()}`,
  ].join('\n');
}
